/**
 * Errors of the HTTP server (docs/SERVE.md "Errors"): every failure a client can see is an
 * {@link HttpError} with an HTTP status and an OpenAI-style body
 * `{ error: { message, type, param, code } }`; the library's typed errors (src/errors.ts) are
 * mapped onto them by {@link toHttpError}.
 */
import { AbortError, DisposedError, FFmpegNotFoundError, GroundingGPTError, InvalidInputError, ModelLoadError, NativeError } from '../errors';

/** The `error` object of an error response, as OpenAI's API writes it. */
export interface OpenAIErrorBody {
  message: string;
  /** `invalid_request_error` (the request's fault), `rate_limit_error`, `server_error`. */
  type: string;
  /** The request field at fault (`messages[0].content[1].image_url.url`), or null. */
  param: string | null;
  /** A stable machine-readable code (`invalid_json`, `unknown_field`, `queue_full`...), or null. */
  code: string | null;
}

/** A failure with its HTTP status, error body and extra response headers (Retry-After). */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    message: string,
    options: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'HttpError';
    this.status = status;
    this.type = options.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  /** The JSON body of the response. */
  body(): { error: OpenAIErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 about one field of the request. */
export function badRequest(message: string, param: string | null, code = 'invalid_value'): HttpError {
  return new HttpError(400, message, { param, code });
}

/**
 * Maps any error of a request to the HTTP error the client gets. `param` names the request
 * field the library's InvalidInputError is about when the caller knows it (a media part).
 */
export function toHttpError(err: unknown, param: string | null = null): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof InvalidInputError) return new HttpError(400, err.message, { param, code: 'invalid_input', cause: err });
  if (err instanceof FFmpegNotFoundError) return new HttpError(500, err.message, { code: 'ffmpeg_not_found', cause: err });
  if (err instanceof DisposedError) return new HttpError(503, 'The model has been disposed', { code: 'model_disposed', cause: err });
  if (err instanceof ModelLoadError) return new HttpError(503, `The model could not be loaded: ${err.message}`, { code: 'model_load_failed', cause: err });
  if (err instanceof AbortError) return new HttpError(503, 'The request was cancelled', { code: 'cancelled', cause: err });
  if (err instanceof NativeError) return new HttpError(500, err.message, { code: `native_${err.status}`, cause: err });
  if (err instanceof GroundingGPTError) return new HttpError(500, err.message, { code: err.code.toLowerCase(), cause: err });
  return new HttpError(500, 'Internal server error', { code: 'internal_error', cause: err });
}
