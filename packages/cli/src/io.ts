/** Where a command writes; tests pass buffers, the binary passes the process streams. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** A command failed in a way the user can act on: printed without a stack, exit code 1. */
export class CliError extends Error {}
