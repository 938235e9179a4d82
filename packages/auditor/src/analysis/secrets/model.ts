import type { Evidence } from '../../model.ts';
import { isSecretName } from '../names.ts';
import { HASH_NAME } from './literals.ts';

/**
 * How code obtains one secret, whatever its language: every language reader (TypeScript here,
 * Python elsewhere) reports what it finds as these, and the secret-management checks read only
 * the `SecretSourceModel` built from them and from the deployment.
 *
 * - `env`: an environment variable (`process.env.X`, `os.environ["X"]`, a settings field);
 * - `file`: a mounted file (`/run/secrets/x`, a `X_FILE` variable naming the file);
 * - `manager`: a secrets-manager client fetches it at run time (Vault, AWS Secrets Manager,
 *   Google Secret Manager, Azure Key Vault …).
 */
export type SecretChannel = 'env' | 'file' | 'manager';

/** One place in the code where a secret is read. */
export interface SecretRead {
  readonly via: SecretChannel;
  /** The variable or secret name when it is static (`JWT_SECRET`, `prod/db-password`). */
  readonly name: string | undefined;
  readonly evidence: Evidence;
  /** Read only in a development branch (`if (NODE_ENV !== 'production')`). */
  readonly developmentOnly: boolean;
  /**
   * A literal the code falls back to when the variable is unset (`process.env.X || 'dev-secret'`):
   * the value production runs with if the deployment forgets it.
   */
  readonly fallback:
    | {
        /** The literal, when the reader knows it (a settings default may only be known to exist). */
        readonly value: string | undefined;
        readonly evidence: Evidence;
      }
    | undefined;
  /** The reader also accepts `<NAME>_FILE` (a mounted file) before the variable itself. */
  readonly fileAlternative: boolean;
}

/** Where the service's secrets come from, code and deployment together. */
export interface SecretSourceModel {
  /** Every secret read found in the code, in every language the auditor reads. */
  readonly reads: readonly SecretRead[];
  /** Secrets-manager clients: imports, fetches, and operators that inject from a manager. */
  readonly managed: readonly Evidence[];
  /**
   * Secrets that reach the running service as environment variables in production: code reads
   * (not development-only, not switched to a file by the deployment) and secret-like variables
   * the deployment sets. One entry per name, the code's line first.
   */
  readonly environment: readonly EnvironmentSecret[];
  /** Secret environment variables read only in development branches. */
  readonly developmentEnvironment: readonly SecretRead[];
  /** Secrets read from mounted files (code paths, `_FILE` variables, secret mounts). */
  readonly files: readonly Evidence[];
  /** Literal fallbacks for secrets read from the environment (not development-only). */
  readonly fallbacks: readonly { readonly name: string; readonly evidence: Evidence }[];
  /** Every piece of evidence that the service handles secrets at all. */
  readonly inUse: readonly Evidence[];
}

/** A secret that the running service gets from an environment variable. */
export interface EnvironmentSecret {
  readonly name: string;
  readonly evidence: readonly Evidence[];
  /** Filled from a Kubernetes Secret (`secretKeyRef`): a platform store, still an env var. */
  readonly kubernetesSecret: boolean;
  /**
   * Read in a workspace package that several of the repository's packages depend on (a shared
   * auth library): every service using it reads the same variable. Their names; empty otherwise.
   */
  readonly sharedBy: readonly string[];
}

/** Variables that configure how a secret is handled, not the secret (`SECRETS_REFRESH_SECONDS`). */
const SETTING_SUFFIX =
  /_(SECONDS|SECS|MS|MILLIS|MINUTES|HOURS|DAYS|TTL|INTERVAL|TIMEOUT|COUNT|SIZE|LENGTH|LIMIT|ENABLED|DISABLED|MODE|LEVEL|PREFIX|SUFFIX|PATH|FILE|DIR|URL|URI|ENDPOINT|HOST|PORT|REGION|ID|ARN|NAME|TYPE|VERSION|ALGORITHM|ALG|ISSUER|AUDIENCE|HEADER)$/i;

/**
 * Does an environment variable's name say it holds a secret? The identifier vocabulary
 * (`JWT_SECRET`, `DB_PASSWORD`, `API_KEY`) plus `*_TOKEN`, which in an environment almost
 * always holds a credential (`GITHUB_TOKEN`, `SLACK_BOT_TOKEN`, `GATEWAY_JWT_TOKEN`).
 */
export function isSecretVariable(name: string): boolean {
  if (HASH_NAME.test(name) || SETTING_SUFFIX.test(name)) return false;
  return isSecretName(name) || /(^|_)TOKEN$/i.test(name);
}
