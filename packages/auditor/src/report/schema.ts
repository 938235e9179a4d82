import { Type, type Static } from '@sinclair/typebox';
import { CATEGORIES, CONFIDENCES, SEVERITIES, STATUSES, type Status } from '../model.ts';

/** The JSON report's schema identifier; bump the version when a field changes meaning. */
export const REPORT_SCHEMA_ID = 'urn:tessera:audit-report:v1';

/** The several-service envelope's identifier (`tessera audit` on a monorepo, JSON format). */
export const REPOSITORY_SCHEMA_ID = 'urn:tessera:audit-repository:v1';

const CHECK_ID_PATTERN = `^(${CATEGORIES.join('|')})[1-9][0-9]*$`;

/** The statuses that decide a check, so carry a confidence. */
const DECIDED = STATUSES.filter((status): status is Exclude<Status, 'N/A'> => status !== 'N/A');

const evidenceSchema = Type.Object(
  {
    file: Type.String({ minLength: 1, description: 'Relative to the audited root, `/`-separated' }),
    line: Type.Integer({ minimum: 1, description: '1-based' }),
    snippet: Type.String({ description: 'The source line, trimmed' }),
  },
  { additionalProperties: false },
);

const checkFields = {
  id: Type.String({ pattern: CHECK_ID_PATTERN }),
  title: Type.String({ minLength: 1 }),
  category: Type.Union(CATEGORIES.map((category) => Type.Literal(category))),
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
};

const confidenceSchema = Type.Union(
  CONFIDENCES.map((level) => Type.Literal(level)),
  {
    description:
      'high: the evidence lines show it; medium: decided from the absence of something, or from lines that only show where it was looked for; low: a partial or name-based match that needs review',
  },
);

/**
 * A decided check (PASS, PARTIAL, FAIL) always says how sure the auditor is; an N/A check never
 * does. Two shapes rather than one with optional fields, so the schema itself enforces it.
 */
const checkSchema = Type.Union([
  Type.Object(
    {
      ...checkFields,
      status: Type.Union(DECIDED.map((status) => Type.Literal(status))),
      confidence: confidenceSchema,
      confidenceReason: Type.String({ minLength: 1, description: 'Why that confidence' }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ ...checkFields, status: Type.Literal('N/A') }, { additionalProperties: false }),
]);

const hiddenSchema = Type.Object(
  {
    minConfidence: confidenceSchema,
    checks: Type.Array(Type.String({ pattern: CHECK_ID_PATTERN }), {
      description: 'The findings below minConfidence, left out of checks, passRate and the gate',
    }),
  },
  {
    additionalProperties: false,
    description: 'Present when the audit was run with a minimum confidence above low',
  },
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
    hidden: Type.Optional(hiddenSchema),
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
