/**
 * HTTP plumbing of the server (src/serve/server.ts): routes, bodies read under a size limit,
 * JSON and text answers, the bearer check, and which request field a library error names.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { MediaKind } from '../prompt';
import { HttpError } from './errors';
import type { ModelJob } from './openai';
import { isPlaygroundPath } from './static';

/** The route label of a path (metrics use a closed set of labels). */
export function routeOf(path: string): string {
  if (path === '/v1/chat/completions' || path === '/v1/ground' || path === '/v1/models' || path === '/health' || path === '/metrics') return path;
  if (path.startsWith('/v1/models/')) return '/v1/models/{id}';
  if (isPlaygroundPath(path)) return 'playground';
  return 'other';
}

/** The method of each route. */
export const ROUTE_METHOD: Record<string, string> = {
  '/v1/chat/completions': 'POST',
  '/v1/ground': 'POST',
  '/v1/models': 'GET',
  '/v1/models/{id}': 'GET',
  '/health': 'GET',
  '/metrics': 'GET',
  playground: 'GET',
};

/** The chat completion field of a library option (the library's messages name `options.<name>`). */
const CHAT_PARAM: Record<string, string> = { maxTokens: 'max_tokens', topP: 'top_p', topK: 'top_k', minP: 'min_p', repeatPenalty: 'repeat_penalty' };
export const chatParam = (name: string) => CHAT_PARAM[name] ?? name;

/** Which media kind an error message of the library is about. */
const KIND_WORDS: Record<MediaKind, RegExp> = { image: /\bimage/i, video: /\bvideo|\bframe/i, audio: /\baudio|\bsound/i };

/**
 * The request field an InvalidInputError of the library is about: the option its message names
 * (`options.maxTokens`), else the media part of the kind it speaks of, else null.
 */
export function libraryParam(message: string, job: ModelJob, optionParam: (name: string) => string): string | null {
  const m = /\boptions\.([A-Za-z]+)/.exec(message);
  if (m) return optionParam(m[1]);
  for (const ref of job.media) if (KIND_WORDS[ref.kind].test(message)) return ref.param;
  return null;
}

/** Sends a whole answer: JSON, or text (the metrics). Nothing when the response is gone or started. */
export function sendBody(res: http.ServerResponse, status: number, body: unknown, close: boolean, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...(close ? { Connection: 'close' } : {}),
    ...headers,
  });
  res.end(text);
}

/** Whether `Authorization: Bearer <key>` holds the key whose sha256 is `keyHash` (always true without a key). */
export function bearerMatches(authorization: string | undefined, keyHash: Buffer | undefined): boolean {
  if (!keyHash) return true;
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  if (!m) return false;
  // digests of equal length: the comparison takes the same time whatever key was sent
  return timingSafeEqual(createHash('sha256').update(m[1].trim()).digest(), keyHash);
}

/** The request body, at most `maxBodyBytes` (else 413: from Content-Length at once, or while reading). */
export function readBody(req: http.IncomingMessage, maxBodyBytes: number, signal: AbortSignal): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, `The request body is larger than the limit of ${maxBodyBytes} bytes`, { code: 'request_too_large', headers: { Connection: 'close' } });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (err?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      total += c.length;
      if (total > maxBodyBytes) {
        req.pause();
        done(tooLarge());
      } else chunks.push(c);
    };
    const onEnd = () => done();
    const onAbort = () => done(signal.reason);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The request body parsed as JSON (400 `invalid_json` when it is not). */
export async function readJson(req: http.IncomingMessage, maxBodyBytes: number, signal: AbortSignal): Promise<unknown> {
  const body = await readBody(req, maxBodyBytes, signal);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `We could not parse the JSON body of your request: ${(err as Error).message}`, { code: 'invalid_json' });
  }
}
