/**
 * Request/reply over the IPC channel of a node child process, both sides, with the child
 * optionally pinned to one CPU with `taskset` so a server and its load generator do not share a
 * core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

interface Envelope {
  readonly id: number;
  readonly body: unknown;
}

type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

// The child's first message answers this id: "started, and here is what you need to know".
const READY_ID = 0;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * True when `taskset` can pin a process to each of `cpus`: Linux, enough cores, and all of them
 * in this process's allowed set (a container may hide some).
 */
export function canPin(cpus: readonly number[]): boolean {
  if (process.platform !== 'linux' || availableParallelism() < new Set(cpus).size) return false;
  return cpus.every(
    (cpu) => spawnSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' }).status === 0,
  );
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

/** The runner's side: a started child that answers requests of type `Request`. */
export class BenchChild<Request> {
  private nextId = READY_ID + 1;
  private readonly pending = new Map<number, Pending>();
  private readonly exited: Promise<void>;
  private exitReason: string | undefined;

  constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (message: Reply) => {
      const entry = this.pending.get(message.id);
      if (entry === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.ok) entry.resolve(message.value);
      else entry.reject(new Error(`${name}: ${message.error}`));
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitReason = `${name} exited (${signal ?? `code ${code}`})`;
        for (const entry of this.pending.values()) {
          clearTimeout(entry.timer);
          entry.reject(new Error(this.exitReason));
        }
        this.pending.clear();
        resolve();
      });
    });
  }

  /** Registers a reply to wait for; the child is killed if it does not come in time. */
  expect<T>(id: number, timeoutMs: number): Promise<T> {
    if (this.exitReason !== undefined) return Promise.reject(new Error(this.exitReason));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer within ${timeoutMs} ms`));
        this.kill();
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
    });
  }

  /** Sends a request and waits at most `timeoutMs` for its answer. */
  request<T>(body: Request, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    const reply = this.expect<T>(id, timeoutMs);
    const envelope: Envelope = { id, body };
    this.child.send(envelope);
    return reply;
  }

  /**
   * Sends `closeRequest` (the child cleans up, answers and exits), then waits for the exit;
   * kills the child if either takes longer than `timeoutMs`. Returns the child's answer, or
   * undefined when it had already exited.
   */
  async stop<T>(closeRequest: Request, timeoutMs: number): Promise<T | undefined> {
    if (this.exitReason !== undefined) return undefined;
    try {
      return await this.request<T>(closeRequest, timeoutMs);
    } finally {
      const timer = setTimeout(() => {
        this.kill();
      }, timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private kill(): void {
    // Only ever this child, by its own pid (taskset execs node, so the pid is node's).
    if (this.exitReason === undefined) this.child.kill('SIGKILL');
  }
}

/**
 * Starts `node --conditions=tessera-source --import tsx <script>` (under `taskset -c <cpu>` when `cpu` is given) and waits
 * for the ready message the script sends with {@link serveParent}. The child's stdout goes to
 * this process's stderr so `--json` output stays clean.
 */
export async function spawnBenchChild<Request>(
  script: URL,
  options: {
    readonly name: string;
    readonly cpu: number | undefined;
    readonly nodeArgs?: readonly string[];
    readonly readyTimeoutMs: number;
  },
): Promise<{ child: BenchChild<Request>; ready: unknown }> {
  const nodeArgs = [
    ...(options.nodeArgs ?? []),
    '--conditions=tessera-source',
    '--import',
    'tsx',
    fileURLToPath(script),
  ];
  const [command, args] =
    options.cpu === undefined
      ? [process.execPath, nodeArgs]
      : ['taskset', ['-c', String(options.cpu), process.execPath, ...nodeArgs]];
  const child = new BenchChild<Request>(
    spawn(command, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 2, 2, 'ipc'],
      serialization: 'advanced',
    }),
    options.name,
  );
  // A child that does not get ready in time is killed by expect().
  return { child, ready: await child.expect<unknown>(READY_ID, options.readyTimeoutMs) };
}

/**
 * The child's side: announces `ready`, then answers each request with `handle`'s result (or its
 * error). After `isLast(request)` has been answered the child disconnects, and it exits when its
 * parent goes away, so a crashed runner leaves nothing behind.
 */
export function serveParent<Request>(
  ready: unknown,
  handle: (request: Request) => Promise<unknown>,
  isLast: (request: Request) => boolean,
): void {
  const send = (reply: Reply, then?: () => void): void => {
    process.send?.(reply, undefined, {}, () => then?.());
  };
  process.on('message', (message: Envelope) => {
    const request = message.body as Request;
    const after = isLast(request)
      ? () => {
          process.disconnect();
        }
      : undefined;
    handle(request).then(
      (value) => {
        send({ id: message.id, ok: true, value }, after);
      },
      (error: unknown) => {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        send({ id: message.id, ok: false, error: text }, after);
      },
    );
  });
  process.once('disconnect', () => {
    // Timers and sockets left open must not keep an orphan alive; exit() also writes --cpu-prof.
    setTimeout(() => process.exit(0), 1000).unref();
  });
  send({ id: READY_ID, ok: true, value: ready });
}
