/** Which files of a project are the Python service's own code and dependency lists. */

/** Directories of third-party, generated or test Python code. */
const SKIPPED_PYTHON_DIRECTORY =
  /(^|\/)(venv|\.venv|env|\.env|site-packages|__pycache__|\.tox|\.nox|\.mypy_cache|\.pytest_cache|tests?|testing)(\/|$)/;

/** Test modules by pytest's naming (`test_x.py`, `x_test.py`, `conftest.py`). */
const PYTHON_TEST_FILE = /(^|\/)(test_[^/]*|[^/]*_test|conftest)\.py$/;

/** Dependency lists: `requirements.txt`, `requirements-dev.txt`, `requirements/base.txt`. */
const REQUIREMENTS_FILE = /(^|\/)requirements[^/]*\.(txt|in)$|(^|\/)requirements\/[^/]+\.(txt|in)$/;

/** True for a file the Python model reads: the service's own `.py` code or a requirements list. */
export function isPythonProjectFile(relPath: string): boolean {
  if (SKIPPED_PYTHON_DIRECTORY.test(relPath.slice(0, relPath.lastIndexOf('/') + 1))) return false;
  if (relPath.endsWith('.py')) return !PYTHON_TEST_FILE.test(relPath);
  return REQUIREMENTS_FILE.test(relPath);
}

/** True for Python source (as opposed to a requirements list). */
export const isPythonSource = (relPath: string): boolean => relPath.endsWith('.py');
