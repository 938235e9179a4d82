import type { FastifyInstance } from 'fastify';

/** RFC 6749 §3.2 / RFC 7009 / RFC 7662: endpoints take `application/x-www-form-urlencoded` bodies. */
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** RFC 6749 §3.2: request and response parameters must not be included more than once. */
export class RepeatedParameterError extends Error {
  constructor(readonly parameter: string) {
    super('repeated parameter');
  }
}

/** A parsed form: each parameter exactly once. */
export type FormParameters = ReadonlyMap<string, string>;

/** Parses a URL-encoded form, refusing repeated parameters instead of picking one. */
export function parseForm(body: string): FormParameters {
  const parameters = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (parameters.has(name)) throw new RepeatedParameterError(name);
    parameters.set(name, value);
  }
  return parameters;
}

/**
 * Registers the form parser: the body arrives as a string (bounded by the server's bodyLimit)
 * and is parsed by the route, which can then answer a repeated parameter with `invalid_request`.
 */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string' }, (_request, body, done) => {
    done(null, body);
  });
}
