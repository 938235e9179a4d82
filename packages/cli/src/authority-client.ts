import { readFile } from 'node:fs/promises';
import { CliError } from './io.ts';

export const DEFAULT_AUTHORITY_URL = 'http://127.0.0.1:7700';
export const DEFAULT_ADMIN_TOKEN_FILE = '.tessera/admin.token';

/** Calls the authority's HTTP API. Tokens and secrets never appear in the errors it raises. */
export class AuthorityClient {
  constructor(
    readonly baseUrl: string,
    private readonly adminToken?: string,
  ) {}

  static async forAdmin(baseUrl: string, adminTokenFile: string): Promise<AuthorityClient> {
    let token: string;
    try {
      token = (await readFile(adminTokenFile, 'utf8')).trim();
    } catch {
      throw new CliError(
        `cannot read the admin token file ${adminTokenFile} (see --admin-token-file)`,
      );
    }
    return new AuthorityClient(baseUrl, token);
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    form?: Record<string, string>,
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.adminToken !== undefined) headers.authorization = `Bearer ${this.adminToken}`;
    let payload: string | undefined;
    if (form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(form).toString();
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      throw new CliError(
        `cannot reach the authority at ${this.baseUrl} (is it running? see --authority)`,
      );
    }
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const record = (json ?? {}) as Record<string, unknown>;
      const what =
        typeof record.error === 'string'
          ? record.error
          : typeof record.code === 'string'
            ? record.code
            : 'error';
      throw new CliError(`authority answered ${response.status} (${what}) to ${method} ${path}`);
    }
    return json;
  }
}
