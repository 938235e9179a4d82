/**
 * The model of a Python service the Python rules read, built once per audit in named steps:
 * parse the files, read the HTTP surface, what protects each route, outbound calls, secrets.
 */
import type { AuditContext } from '../analysis/context.ts';
import { isTestPath } from '../project/paths.ts';
import { analyseInbound, type Inbound } from './inbound.ts';
import { analyseOutbound, type Outbound } from './outbound.ts';
import { hasPython, loadPythonProject, type PyProject } from './project.ts';
import { httpSurface, type HttpSurface } from './routes.ts';
import { analyseSecrets, type Secrets } from './secrets.ts';

export interface PythonModel {
  readonly py: PyProject;
  readonly surface: HttpSurface;
  readonly inbound: Inbound;
  readonly outbound: Outbound;
  readonly secrets: Secrets;
}

/** The Python model of the audited project (memoised per audit). */
export function pythonModel(ctx: AuditContext): PythonModel {
  return ctx.memo('python', () => {
    const py = loadPythonProject(ctx.project);
    const surface = httpSurface(py);
    return {
      py,
      surface,
      inbound: analyseInbound(py, surface),
      outbound: analyseOutbound(py),
      secrets: analyseSecrets(py),
    };
  });
}

/**
 * True when the audit should read the project as a Python service: it has Python code and no
 * JavaScript beyond tests (a Python example tested from TypeScript is still a Python service).
 */
export const isPythonService = (ctx: AuditContext): boolean =>
  hasPython(ctx.project) && ctx.project.units.every((u) => isTestPath(u.path));
