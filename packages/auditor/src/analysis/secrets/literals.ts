/**
 * Deciding whether a literal is a real secret. Low false positives first: a name that says
 * "secret" is not enough, the value must also look like one (length, entropy, character mix),
 * and placeholders, references (paths, env-var names, ARNs) and messages never count.
 */

/** Shannon entropy in bits per character. */
export function entropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** How many of lower case, upper case, digits and symbols a value uses. */
function characterClasses(value: string): number {
  return (
    Number(/[a-z]/.test(value)) +
    Number(/[A-Z]/.test(value)) +
    Number(/\d/.test(value)) +
    Number(/[^A-Za-z0-9]/.test(value))
  );
}

const PLACEHOLDER_WORDS =
  /^(x+|\*+|\.+|-+|_+|0+|#+|changeme|change[-_ ]?(me|it|this)|replace[-_ ]?me|todo|tbd|fixme|none|null|nil|undefined|empty|unset|secret|secrets|password|passwd|token|key|apikey|api[-_]key|test|testing|demo|example|sample|dummy|fake|mock|placeholder|default|dev|development|local|admin|root|guest|user|username|pass|string|value|required)$/i;
const PLACEHOLDER_PARTS =
  /(^your[-_ ]|[-_ ]here$|^<.*>$|^\[.*\]$|^\{\{.*\}\}$|\$\{|\$\(|^\$[A-Z_]+$|^%[A-Za-z_]+%$|example|changeme|change[-_]me|placeholder|dummy|replace[-_]?(me|this|with)|insert[-_]|enter[-_]|put[-_]your|xxxx|\*\*\*|redacted|not[-_]?set|to[-_]?be[-_]?replaced|not[-_]?a[-_]?(real[-_]?)?(secret|password|key|token)|test[-_]?only|only[-_]?for[-_]?tests?|^my[-_]?(secret|password|pass|token|key)$)/i;
const WEAK_DEFAULT =
  /^(password|passw0rd|p@ssw0rd|secret|admin|root|guest|test|qwerty|letmein|welcome|changeme|postgres|mysql|rabbitmq|redis|mongo)[-_!@#.]?\d{0,6}!?$/i;
const ENV_NAME = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/;
const REFERENCE =
  /^(arn:|urn:|projects\/|vault:|secret:|ssm:|sm:|file:|env:|ref:|op:\/\/|azure:|gcp:|kv:|aws:|\/)/i;
const LOWERCASE_PATH = /^[a-z0-9_.-]+(\/[a-z0-9_.{}$-]+)+\/?$/;
const DOTTED_KEY = /^[a-z][A-Za-z0-9]*(\.[A-Za-z0-9_]+)+$/;
const FILE_NAME = /\.(pem|key|crt|cer|cert|p12|pfx|jks|json|txt|env|ya?ml|conf)$/i;
const HASH_FORMAT = /^\$(2[abxy]?|argon2(id|i|d)?|scrypt|pbkdf2)[$-]/;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
const WORDS_ONLY = /^[a-z]{2,}([-_:./][a-z]{2,})*$/;

/** Is this obviously not a real value (a placeholder, a reference, a template)? */
export function isPlaceholder(value: string): boolean {
  const trimmed = value.trim();
  return (
    trimmed === '' ||
    PLACEHOLDER_WORDS.test(trimmed) ||
    PLACEHOLDER_PARTS.test(trimmed) ||
    WEAK_DEFAULT.test(trimmed)
  );
}

/** Does the value name a secret rather than being one (a path, an env name, an ARN)? */
function isReference(value: string): boolean {
  return (
    ENV_NAME.test(value) ||
    REFERENCE.test(value) ||
    LOWERCASE_PATH.test(value) ||
    DOTTED_KEY.test(value) ||
    FILE_NAME.test(value) ||
    URL_LIKE.test(value) ||
    HASH_FORMAT.test(value)
  );
}

/**
 * How strongly the context says "this is a secret":
 * - `named`: assigned to a secret-like name (`password`, `apiKey`, `JWT_SECRET`);
 * - `token-named`: assigned to a token-like name (`token`, `jwt`), which more often holds
 *   non-secret words, so the value must look random;
 * - `positional`: the key argument of `jwt.sign`/`createHmac`: any real value is a key.
 */
export type SecretContext = 'named' | 'token-named' | 'positional';

/** Is a literal in this context a hard-coded secret? */
export function looksLikeSecret(value: string, context: SecretContext): boolean {
  const trimmed = value.trim();
  if (isPlaceholder(trimmed) || /\s/.test(trimmed)) return false;
  if (context === 'positional') return trimmed.length >= 4 && !ENV_NAME.test(trimmed);
  if (isReference(trimmed)) return false;
  if (JWT_FORMAT.test(trimmed)) return true;
  const bits = entropy(trimmed);
  if (context === 'token-named') {
    return (
      trimmed.length >= 20 &&
      bits >= 3.5 &&
      characterClasses(trimmed) >= 2 &&
      !WORDS_ONLY.test(trimmed)
    );
  }
  // Identifier-like words (`client_credentials`, `jwt-bearer`) are protocol constants, not keys.
  return (
    trimmed.length >= 8 &&
    bits >= 3.0 &&
    characterClasses(trimmed) >= 2 &&
    !WORDS_ONLY.test(trimmed)
  );
}

const JWT_FORMAT = /^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$/;

/** Well-known credential formats, recognisable without any name. */
const KNOWN_SECRET_PATTERNS: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  {
    what: 'a private key (PEM)',
    pattern:
      /-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----(\\n|\s)*[A-Za-z0-9+/=\\\s]{40,}/,
  },
  {
    what: 'an AWS access key id',
    pattern: /(?<![A-Za-z0-9/+=])(AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9/+=])/,
  },
  { what: 'a Stripe live secret key', pattern: /(?<![A-Za-z0-9])(sk|rk)_live_[0-9a-zA-Z]{16,}/ },
  {
    what: 'a GitHub token',
    pattern:
      /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})(?![A-Za-z0-9])/,
  },
  { what: 'a Slack token', pattern: /(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}/ },
  { what: 'a Google API key', pattern: /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/ },
  { what: 'an npm token', pattern: /(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/ },
  { what: 'a SendGrid API key', pattern: /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/ },
];

/** The first well-known credential in a text, unless it is an obvious documentation example. */
export function knownSecretIn(text: string): { what: string; index: number } | undefined {
  for (const { what, pattern } of KNOWN_SECRET_PATTERNS) {
    const match = pattern.exec(text);
    if (match === null) continue;
    if (/EXAMPLE|XXXXXXXX|0000000000000000/i.test(match[0])) continue;
    return { what, index: match.index };
  }
  return undefined;
}

/** `scheme://user:password@host`: the password, when the URL carries one. */
export function urlPassword(text: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@/\s]+)@/i.exec(text);
  return match?.[1];
}

/** Names that hold a hash, digest or fingerprint of a secret, not the secret. */
export const HASH_NAME =
  /(hash|hashed|digest|checksum|fingerprint|thumbprint|sha\d*|md5|salt[-_]?rounds|rounds)$/i;
