import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { parsePolicy } from '@tessera/core';
import { CATALOG } from '../src/catalog/checks.ts';
import { CATEGORIES, SEVERITIES, type CheckDefinition, type DecidedBy } from '../src/model.ts';

/**
 * The checklist rows the catalog must reproduce, in order: the research document's audit
 * checklists (service client, endpoint, identity verification, message queues, secrets,
 * network), then the seed audits' token management, proxy header and fail-secure rows. Kept
 * here as data because CI clones only this repository, not the seed documents.
 */
const CHECKLIST: readonly (readonly [string, string])[] = [
  ['SC1', 'Service uses mTLS OR signed tokens (JWT/HMAC) for all outbound calls'],
  ['SC2', 'Service credentials are NOT hardcoded in source code'],
  ['SC3', 'Service credentials are retrieved from secrets manager at runtime'],
  ['SC4', 'Each service has its own unique credentials (not shared)'],
  ['SC5', 'Short-lived credentials or tokens used (< 1 hour preferred)'],
  ['SC6', 'Credential rotation is automated'],
  ['SC7', 'Failed authentication attempts are logged'],
  ['SC8', 'All internal HTTP calls use HTTPS/TLS'],
  ['SC9', 'Service identity included in every request (header or cert)'],
  ['SC10', 'Correlation ID propagated to downstream services'],
  ['SC11', 'Request timeout configured to prevent hanging'],
  ['SC12', 'Circuit breaker implemented for downstream failures'],
  ['SC13', 'HTTP client configured with TLS certificate validation'],
  ['SC14', 'undici or got used (not deprecated request)'],
  ['SC15', 'No NODE_TLS_REJECT_UNAUTHORIZED=0 in production'],
  ['SC16', 'Client includes service identity header'],
  ['SE1', 'ALL endpoints require authentication (no exceptions for "internal" routes)'],
  ['SE2', 'Authentication middleware applied globally (not per-route)'],
  ['SE3', 'Token/certificate verification uses cryptographic validation'],
  ['SE4', 'Tokens verified with signature check (not just decoded)'],
  ['SE5', 'Token expiration (exp) checked'],
  ['SE6', 'Token issuer (iss) validated against allowlist'],
  ['SE7', 'Token audience (aud) validated'],
  ['SE8', 'Service identity extracted and verified from request'],
  ['SE9', 'Per-endpoint authorization rules defined'],
  ['SE10', 'Allowlist of services that can call each endpoint'],
  ['SE11', 'Unauthorized access attempts logged'],
  ['SE12', 'No default-allow authorization policy'],
  ['SE13', 'Caller service identity logged for every request'],
  ['SE14', 'Correlation ID logged for tracing'],
  ['SE15', 'Request success/failure status logged'],
  ['SE16', 'Sensitive operations logged with additional context'],
  ['SE17', 'Logs sent to centralized logging system'],
  ['SE18', '@fastify/jwt or similar used for JWT validation'],
  ['SE19', 'JWT secret loaded from secrets manager, not env var'],
  ['SE20', 'preHandler hook used for consistent authentication'],
  ['SE21', 'Request logging includes caller identification'],
  ['SE22', 'Fastify onError hook logs authentication failures'],
  // Appended: seed 000's IA7, not a row of the research checklist.
  ['SE23', 'Rate limiting per calling service'],
  ['SV1', 'Mutual TLS enabled (client cert required)'],
  ['SV2', 'CA bundle limited to internal CA only'],
  ['SV3', 'Client certificate CN or SAN validated'],
  ['SV4', 'Certificate revocation list (CRL) or OCSP checked'],
  ['SV5', 'Certificate expiration handled gracefully'],
  ['SV6', 'Certificate rotation automated'],
  ['SV7', 'Token signature algorithm is RS256 or ES256 (asymmetric)'],
  ['SV8', 'Public key for verification retrieved securely'],
  ['SV9', 'sub claim contains service identity'],
  ['SV10', 'iss claim validated against known issuers'],
  ['SV11', 'aud claim includes this service'],
  ['SV12', 'exp claim checked (short expiration preferred)'],
  ['SV13', 'Token not accepted if expired'],
  ['SV14', 'Signature algorithm is SHA-256 or stronger'],
  ['SV15', 'Timestamp included and validated (prevent replay)'],
  ['SV16', 'Clock skew tolerance is reasonable (< 30 seconds)'],
  ['SV17', 'Request body included in signature'],
  ['SV18', 'Signature comparison uses constant-time function'],
  ['SV19', 'Per-service secrets used (not shared)'],
  ['MQ1', 'TLS/SSL enabled for connections'],
  ['MQ2', 'Each service has unique credentials'],
  ['MQ3', 'Permissions restricted per service (configure/write/read)'],
  ['MQ4', 'Virtual hosts used to isolate environments'],
  ['MQ5', 'Default guest user disabled'],
  ['MQ6', 'Management plugin access restricted'],
  ['MQ7', 'SASL authentication enabled'],
  ['MQ8', 'SSL/TLS encryption for inter-broker and client traffic'],
  ['MQ9', 'ACLs configured per topic and consumer group'],
  ['MQ10', 'Each service has unique principal'],
  ['MQ11', 'ZooKeeper authentication enabled'],
  ['MQ12', 'Network segmentation for Kafka cluster'],
  ['SM1', 'Secrets manager in use (Vault, AWS Secrets Manager, etc.)'],
  ['SM2', 'No secrets in source code'],
  ['SM3', 'No secrets in environment variables for production'],
  ['SM4', 'No secrets in CI/CD configuration files'],
  ['SM5', 'Secrets not logged anywhere'],
  ['SM6', 'Each service has unique secrets'],
  ['SM7', 'Automatic secret rotation configured'],
  ['SM8', 'Secret access is audited'],
  ['SM9', 'Least privilege access to secrets'],
  ['SM10', 'Emergency rotation procedure documented'],
  ['NW1', 'All internal traffic encrypted (TLS/mTLS)'],
  ['NW2', 'Network policies restrict service-to-service communication'],
  ['NW3', 'Services cannot reach arbitrary external endpoints'],
  ['NW4', 'Egress filtering configured'],
  ['NW5', 'Internal DNS used (not public DNS for internal services)'],
  ['NW6', 'No services exposed directly to internet without gateway'],
  ['NW7', 'Service mesh or network policies enforce allowlists'],
  ['TM1', 'Service tokens have expiration'],
  ['TM2', 'Token refresh mechanism'],
  ['TM3', 'Short-lived tokens'],
  ['TM4', 'Tokens not in logs'],
  ['TM5', 'Tokens not in URLs'],
  ['TM6', 'Token scope validation'],
  ['TM7', 'Token binding to service'],
  ['TM8', 'Compromised token revocation'],
  ['PH1', 'Internal headers blocked'],
  ['PH2', 'Gateway marker added'],
  ['PH3', 'Original IP forwarded'],
  ['PH4', 'Tenant ID from JWT only'],
  ['PH5', 'Response headers filtered'],
  ['FS1', 'Access check fails secure'],
  ['FS2', 'Token validation fails secure'],
  ['FS3', 'Health check errors handled'],
];

/** Classifications the lead decided; the rest are the catalog author's call. */
const DECIDED_BY: readonly (readonly [string, DecidedBy])[] = [
  ['NW2', 'infrastructure'],
  ['MQ4', 'infrastructure'],
  ['MQ5', 'infrastructure'],
  ['MQ11', 'infrastructure'],
  ['SM4', 'source+infrastructure'],
];

/** The seed audits' own critical findings: spoofable headers, unverified tokens, open routes. */
const CRITICAL = ['SC13', 'SC15', 'SE1', 'SE3', 'SE4', 'SE8', 'SM2', 'PH1', 'PH4', 'FS2'];

const byId = new Map<string, CheckDefinition>(CATALOG.map((check) => [check.id, check]));

describe('check catalog', () => {
  it('lists every checklist row once, in checklist order', () => {
    const ids = CATALOG.map((check) => check.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      ids,
      CHECKLIST.map(([id]) => id),
    );
  });

  it('has 16, 23, 19, 12, 10, 7, 8, 5 and 3 checks in the nine categories, 103 in all', () => {
    const counts = CATEGORIES.map(
      (category) => CATALOG.filter((check) => check.category === category).length,
    );
    assert.deepEqual(counts, [16, 23, 19, 12, 10, 7, 8, 5, 3]);
    assert.equal(CATALOG.length, 103);
  });

  it('numbers each category from 1 without gaps, and files each check under its prefix', () => {
    for (const category of CATEGORIES) {
      const numbers = CATALOG.filter((check) => check.category === category).map((check) =>
        Number(check.id.slice(category.length)),
      );
      assert.deepEqual(
        numbers,
        numbers.map((_, index) => index + 1),
        category,
      );
    }
    for (const check of CATALOG) {
      assert.equal(check.id.replace(/\d+$/, ''), check.category, check.id);
    }
  });

  it("uses each checklist row's wording as the title", () => {
    for (const [id, title] of CHECKLIST) assert.equal(byId.get(id)?.title, title, id);
  });

  it('gives every check a valid severity and decidedBy, evidence and a remediation', () => {
    const decidedBy = new Set(['source', 'infrastructure', 'source+infrastructure']);
    for (const check of CATALOG) {
      assert.ok((SEVERITIES as readonly string[]).includes(check.severity), check.id);
      assert.ok(decidedBy.has(check.decidedBy), check.id);
      assert.match(check.evidence, /^[A-Z].*\.$/, `${check.id} evidence is one sentence`);
      assert.doesNotMatch(check.evidence, /[.;]\s+[A-Z]/, `${check.id} evidence is one sentence`);
      assert.match(check.remediation, /^\S.*\.$/s, `${check.id} remediation`);
      assert.ok(
        check.remediation.split(/[.;:]\s+(?=[A-Z])/).length <= 2,
        `${check.id} remediation is at most two sentences`,
      );
    }
  });

  it('decides the infrastructure-only checks from infrastructure', () => {
    for (const [id, expected] of DECIDED_BY) assert.equal(byId.get(id)?.decidedBy, expected, id);
  });

  it('rates the seed audits’ critical findings CRITICAL', () => {
    for (const id of CRITICAL) assert.equal(byId.get(id)?.severity, 'CRITICAL', id);
  });
});

describe('catalog snippets', () => {
  const snippets = CATALOG.flatMap((check) =>
    check.snippet === undefined ? [] : [{ id: check.id, snippet: check.snippet }],
  );
  const commands = snippets.filter(({ snippet }) => snippet.startsWith('tessera '));
  const policies = snippets.filter(({ snippet }) => snippet.startsWith('version: 1'));
  const code = snippets.filter(
    ({ snippet }) => !commands.concat(policies).some((s) => s.snippet === snippet),
  );

  // The command lines are run against the CLI in packages/cli/test/catalog-commands.test.ts.
  it('are TypeScript, policy documents or tessera command lines', () => {
    assert.ok(snippets.length >= 40, `only ${String(snippets.length)} snippets`);
    assert.ok(commands.length > 0 && policies.length > 0 && code.length > 0);
  });

  it('import only names their modules export, and call nothing they did not import', async () => {
    for (const { id, snippet } of code) {
      const file = ts.createSourceFile(`${id}.ts`, snippet, ts.ScriptTarget.Latest, true);
      const diagnostics = (file as unknown as { parseDiagnostics: readonly ts.Diagnostic[] })
        .parseDiagnostics;
      assert.deepEqual(
        diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')),
        [],
        `${id} snippet parses`,
      );
      const imported = new Set<string>();
      const called = new Set<string>();
      const visit = (node: ts.Node): void => {
        if (
          (ts.isCallExpression(node) || ts.isNewExpression(node)) &&
          ts.isIdentifier(node.expression)
        ) {
          called.add(node.expression.text);
        }
        ts.forEachChild(node, visit);
      };
      for (const statement of file.statements) {
        if (!ts.isImportDeclaration(statement)) continue;
        const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
        const module = (await import(specifier)) as Record<string, unknown>;
        const bindings = statement.importClause?.namedBindings;
        assert.ok(bindings !== undefined && ts.isNamedImports(bindings), `${id}: named imports`);
        for (const element of bindings.elements) {
          const name = (element.propertyName ?? element.name).text;
          assert.ok(name in module, `${id}: ${specifier} exports no ${name}`);
          imported.add(element.name.text);
        }
      }
      visit(file);
      for (const name of called)
        assert.ok(imported.has(name), `${id} calls ${name} without importing it`);
      if (snippet.includes('@tessera/')) assert.ok(imported.size > 0, id);
    }
  });

  it('that are policies load with parsePolicy', () => {
    for (const { id, snippet } of policies) {
      assert.doesNotThrow(() => parsePolicy(snippet), id);
    }
  });
});
