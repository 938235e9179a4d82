import { fileURLToPath } from 'node:url';

/**
 * Node arguments that run the `tessera` binary from source: the same `bin/tessera.js` a user's
 * install runs, with the workspace packages resolved to their TypeScript sources (the
 * `tessera-source` export condition) and compiled on load by tsx, so the tests need no build.
 * tsx is named by its resolved URL because the commands run with a temporary directory as cwd.
 */
export const TESSERA_FROM_SOURCE: readonly string[] = [
  '--conditions=tessera-source',
  '--import',
  import.meta.resolve('tsx'),
  fileURLToPath(new URL('../../bin/tessera.js', import.meta.url)),
];
