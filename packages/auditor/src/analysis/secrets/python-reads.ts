import type { AuditContext } from '../context.ts';
import { pythonModel } from '../../python/model.ts';
import { hasPython } from '../../python/project.ts';
import type { SecretSource } from '../../python/secrets.ts';
import { descendants, stringValue } from '../../python/syntax.ts';
import type { SecretRead } from './model.ts';

/** Settings classes pydantic fills from the environment. */
const SETTINGS_BASE = /(^|\.)(BaseSettings|Settings|BaseConfig)$/;

/**
 * The Python model's secret sources as secret reads (environment variables and settings fields,
 * with or without a literal default; secrets-manager fetches; mounted files), plus every
 * settings field whose default is a URL, so the configured backend addresses are known too.
 */
export function pythonSecretReads(ctx: AuditContext): SecretRead[] {
  if (!hasPython(ctx.project)) return [];
  const model = pythonModel(ctx);
  const reads: SecretRead[] = [];
  for (const source of model.secrets.sources) {
    const read = fromSource(ctx, source);
    if (read !== undefined) reads.push(read);
  }
  for (const cls of model.py.classes) {
    if (!cls.bases.some((b) => SETTINGS_BASE.test(b))) continue;
    for (const assignment of descendants(cls.node, 'assignment')) {
      const name = assignment.fields.left?.text ?? '';
      const value = stringValue(assignment.fields.right);
      if (value === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) continue;
      const evidence = model.py.evidence(cls.file, assignment.line);
      reads.push({
        via: 'env',
        name: name.toUpperCase(),
        evidence,
        developmentOnly: false,
        fallback: { value, evidence },
        fileAlternative: false,
      });
    }
  }
  return reads;
}

function fromSource(ctx: AuditContext, source: SecretSource): SecretRead | undefined {
  const evidence = pythonModel(ctx).py.evidence(source.site.file, source.site.line);
  const name = source.envName ?? source.name.toUpperCase();
  const base = { evidence, developmentOnly: false, fileAlternative: false };
  switch (source.kind) {
    case 'env':
    case 'settings':
      return { ...base, via: 'env', name, fallback: undefined };
    case 'env-default':
    case 'settings-default':
      return { ...base, via: 'env', name, fallback: { value: undefined, evidence } };
    case 'manager':
      return { ...base, via: 'manager', name: undefined, fallback: undefined };
    case 'file':
      return { ...base, via: 'file', name: undefined, fallback: undefined };
    case 'literal':
    case 'url-password':
    case 'generated':
      return undefined;
  }
}
