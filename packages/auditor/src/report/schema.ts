import { Type, type Static } from '@sinclair/typebox';
import { CATEGORIES, SEVERITIES, STATUSES } from '../model.ts';

/** The JSON report's schema identifier; bump the version when a field changes meaning. */
export const REPORT_SCHEMA_ID = 'urn:tessera:audit-report:v1';

/** The several-service envelope's identifier (`tessera audit` on a monorepo, JSON format). */
export const REPOSITORY_SCHEMA_ID = 'urn:tessera:audit-repository:v1';

const evidenceSchema = Type.Object(
  {
    file: Type.String({ minLength: 1, description: 'Relative to the audited root, `/`-separated' }),
    line: Type.Integer({ minimum: 1, description: '1-based' }),
    snippet: Type.String({ description: 'The source line, trimmed' }),
  },
  { additionalProperties: false },
);

const checkSchema = Type.Object(
  {
    id: Type.String({ pattern: `^(${CATEGORIES.join('|')})[1-9][0-9]*$` }),
    title: Type.String({ minLength: 1 }),
    category: Type.Union(CATEGORIES.map((category) => Type.Literal(category))),
    status: Type.Union(STATUSES.map((status) => Type.Literal(status))),
    severity: Type.Union(SEVERITIES.map((severity) => Type.Literal(severity))),
    evidence: Type.Array(evidenceSchema),
    why: Type.String({ description: 'Why this status; for N/A, why it cannot be decided' }),
    waiver: Type.Optional(
      Type.Object(
        { justification: Type.String({ minLength: 1 }) },
        {
          additionalProperties: false,
          description: 'Present when the audit config waived the check',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

/**
 * The JSON report (`tessera audit --format json`), as JSON Schema draft 2020-12. The committed
 * `schema/report.schema.json` is this value serialized; a test keeps the two identical.
 */
export const reportSchema = Type.Object(
  {
    service: Type.String(),
    date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'YYYY-MM-DD' }),
    passRate: Type.Object(
      {
        percent: Type.Integer({ minimum: 0, maximum: 100, description: 'Rounded down' }),
        passed: Type.Integer({ minimum: 0 }),
        applicable: Type.Integer({
          minimum: 0,
          description: 'Checks that are neither N/A nor waived',
        }),
      },
      { additionalProperties: false },
    ),
    checks: Type.Array(checkSchema),
    notes: Type.Array(Type.String(), {
      description: 'Input that was skipped or only partly understood',
    }),
    stats: Type.Object(
      {
        files: Type.Integer({ minimum: 0 }),
        lines: Type.Integer({ minimum: 0 }),
        durationMs: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
  },
  {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: REPORT_SCHEMA_ID,
    title: 'tessera audit report',
    additionalProperties: false,
  },
);

/** A JSON report as `renderJson` writes it. */
export type JsonReport = Static<typeof reportSchema>;

const passRateSchema = Type.Object(
  {
    percent: Type.Integer({ minimum: 0, maximum: 100, description: 'Rounded down' }),
    passed: Type.Integer({ minimum: 0 }),
    applicable: Type.Integer({ minimum: 0, description: 'Checks that are neither N/A nor waived' }),
  },
  { additionalProperties: false },
);

/**
 * The JSON output for a repository of several services: one entry per service, each with the
 * service's report in the single-report shape (`reportSchema`). One service (a one-service repository, or `--service`) gets
 * the single report itself, not this envelope. Committed as `schema/repository.schema.json`.
 */
export const repositoryReportSchema = Type.Object(
  {
    schema: Type.Literal(REPOSITORY_SCHEMA_ID),
    repository: Type.String(),
    date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'YYYY-MM-DD' }),
    services: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          path: Type.String({
            minLength: 1,
            description: 'The service directory, relative to the audited root',
          }),
          passRate: passRateSchema,
          open: Type.Object(
            {
              critical: Type.Integer({ minimum: 0 }),
              high: Type.Integer({ minimum: 0 }),
            },
            {
              additionalProperties: false,
              description: 'FAIL or PARTIAL checks, not waived, by severity',
            },
          ),
          report: reportSchema,
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: REPOSITORY_SCHEMA_ID,
    title: 'tessera audit report, several services',
    additionalProperties: false,
  },
);

/** The several-service JSON envelope as `renderRepositoryJson` writes it. */
export type JsonRepositoryReport = Static<typeof repositoryReportSchema>;
