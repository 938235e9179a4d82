/**
 * Directories whose files are not the service at run time: tests, and the data and doubles they
 * use. `fixtures/` (and Jest's `__fixtures__/`) hold test inputs, whatever they look like: a
 * sample app with an open route, a config with an example password, a manifest with a literal
 * key. None of it runs in production, so reading it as the service's own code turns a test's
 * input into a finding. The cost, accepted: a production module that happens to be called
 * `fixtures` (a sports schedule) is not analysed.
 */
const TEST_DIRECTORY =
  /(^|\/)(test|tests|__tests__|__mocks__|spec|specs|e2e|mocks?|fixtures?|__fixtures__)(\/|$)/i;

/** Test files by name: `*.test.ts`, `*.spec.js`, `*.e2e.mts`; pytest's `test_*.py`, `*_test.py`, `conftest.py`. */
const TEST_FILE = /(\.(test|spec|e2e)\.[cm]?[jt]sx?|(^|\/)(test_[^/]*|[^/]*_test|conftest)\.py)$/i;

/**
 * Is this project path (relative, `/`-separated) test code or test data? Such files are never
 * a service's routes, clients, secrets or configuration: example credentials and open test
 * servers are expected there.
 *
 * @example
 * ```ts
 * isTestPath('src/__tests__/auth.ts'); // true
 * isTestPath('test/fixtures/app/config.yaml'); // true
 * isTestPath('src/routes/testimonials.ts'); // false
 * ```
 */
export function isTestPath(path: string): boolean {
  return TEST_DIRECTORY.test(path) || TEST_FILE.test(path);
}
