/**
 * API errors: a stable `code`, the `field` at fault when there is one, and a message that says how to fix it. Every
 * error the API returns has this shape: `{ "error": { "code", "message", "field"? } }`.
 */

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

/** Fastify's own 4xx errors (body parsing, size limits), in the API's shape. */
export function fromFastifyError(err: { statusCode?: number; code?: string; message: string }, bodyLimit: number): ApiError | undefined {
  const status = err.statusCode ?? 500;
  if (status < 400 || status >= 500) return undefined;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'body_too_large', `request body is larger than ${bodyLimit} bytes; send less, or raise api.bodyLimit in the config`, 'body');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json', 'body');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_body', 'Content-Type is application/json but the body is empty; send a JSON object or drop the header', 'body');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    default:
      if (err instanceof SyntaxError || /JSON/i.test(err.message)) return new ApiError(400, 'invalid_json', `body is not valid JSON: ${err.message}`, 'body');
      return new ApiError(status, (err.code ?? 'bad_request').toLowerCase(), err.message);
  }
}
