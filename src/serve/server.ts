/**
 * createServer(): an OpenAI-compatible HTTP server over one loaded model (docs/SERVE.md).
 *
 * Built on node:http, without a framework: five routes need no router, the package gains no
 * dependency, and the parts that matter here stay in our hands: when the status line of a stream
 * is sent, how a closed connection aborts its model call (the response's 'close' event raises
 * the call's AbortSignal), how a slow reader is buffered, and how a shutdown drains.
 *
 * Concurrency: the server issues up to `parallel` calls on the model at once; a model loaded
 * with the same `parallel` decodes them together, one loaded without it runs them one after
 * another (its own queue). Requests beyond `parallel + maxQueue` are refused with 429.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidInputError } from '../errors';
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../media/image';
import type { Model } from '../model';
import type { ChatOptions, GenerateOptions, GenerateResult, GroundResult } from '../types';
import { HttpError, toHttpError } from './errors';
import { ROUTE_METHOD, bearerMatches, chatParam, libraryParam, readJson, routeOf, sendBody } from './http';
import { resolveMedia, type MediaSettings, type ResolvedMedia } from './media';
import { ServerMetrics } from './metrics';
import { chunk, completion, finishReason, groundingOf, parseChatRequest, parseGroundRequest, usageOf, type CompletionHead, type ModelJob } from './openai';
import { Slots } from './slots';
import { sendPlaygroundFile } from './static';
import { SseStream, TrimmedPieces } from './sse';

/** Options of {@link createServer}. Every limit has a default; docs/SERVE.md lists them. */
export interface ServerOptions {
  /** The model id of `GET /v1/models` and of the responses (default `'groundinggpt'`). Requests may name any model. */
  modelId?: string;
  /** When set, every route but `/health` needs `Authorization: Bearer <apiKey>` (else 401). */
  apiKey?: string;
  /**
   * Model calls run at once (1-256). Default: the model's `info.parallel` (loadModel's
   * `parallel`), which is what it decodes together; more only queues calls inside the model,
   * fewer leaves sequences idle.
   */
  parallel?: number;
  /** Requests that may wait for a slot beyond `parallel` (0-100000, default 32); one more gets 429 with Retry-After. */
  maxQueue?: number;
  /** Largest request body in bytes (default 32 MiB); larger: 413. */
  maxBodyBytes?: number;
  /** Longest a model request may take, from arrival to last byte, queue included (ms; default 600000; 0: no limit). Beyond: 504, or an error event. */
  requestTimeoutMs?: number;
  /** Fetch `http(s)` media URLs (default false: only `data:` URLs and base64). The server then makes requests to any address a client names. */
  allowRemoteMedia?: boolean;
  /** Largest remote media file in bytes (default 20 MiB). */
  remoteMediaMaxBytes?: number;
  /** Longest wait for a remote media file, connect to last byte (ms; default 10000). */
  remoteMediaTimeoutMs?: number;
  /** Largest image or video frame in pixels, the library's `limitInputPixels` (default 50,000,000). */
  limitInputPixels?: number;
  /** Longest sound in seconds (default 600). */
  maxAudioSeconds?: number;
  /** Longest video in seconds (default 3600). */
  maxVideoSeconds?: number;
  /** Milliseconds between keep-alive comments of an idle event stream (default 15000; 0: none). */
  keepAliveMs?: number;
  /** ffmpeg and ffprobe for sounds and videos (default: the library's search). */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** Called once per answered request (access log). */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** One line of the access log. */
export interface RequestLogEntry {
  method: string;
  path: string;
  /** HTTP status sent; 499 when the client closed the connection first. */
  status: number;
  ms: number;
  /** The error code of a failed request. */
  code?: string;
}

/** Where a server listens. */
export interface ServerAddress {
  host: string;
  port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
}

/** What {@link createServer} returns. */
export interface GroundingServer {
  /** The underlying node:http server. */
  readonly server: http.Server;
  /** The request handler, to mount in a server of your own (`http.createServer(s.handle)`). */
  readonly handle: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Starts listening (default port 8080 on 127.0.0.1; port 0 picks a free port). */
  listen(port?: number, host?: string): Promise<ServerAddress>;
  /**
   * Stops accepting requests (new ones get 503), lets those in flight finish for at most
   * `timeoutMs` (default 30000), then aborts the rest and closes every connection. The model
   * is not disposed. Calling it again returns the same promise.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** True once close() was called. */
  readonly draining: boolean;
  /** Requests being handled. */
  readonly inFlight: number;
  /** The Prometheus text of `GET /metrics`. */
  metrics(): string;
}

const DEFAULTS = {
  modelId: 'groundinggpt',
  maxQueue: 32,
  maxBodyBytes: 32 << 20,
  requestTimeoutMs: 600_000,
  remoteMediaMaxBytes: 20 << 20,
  remoteMediaTimeoutMs: 10_000,
  limitInputPixels: 50_000_000,
  maxAudioSeconds: 600,
  maxVideoSeconds: 3600,
  keepAliveMs: 15_000,
};

function checkInt(v: unknown, name: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidInputError(`Expected an integer between ${min} and ${max} for options.${name}`);
  return v;
}

function checkStr(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new InvalidInputError(`Expected a non-empty string for options.${name}`);
  return v;
}

/** One request in progress: its abort signal (client gone, timeout, shutdown). */
interface Ctx {
  readonly ac: AbortController;
  readonly t0: number;
  readonly res: http.ServerResponse;
}

/**
 * An OpenAI-compatible HTTP server over `model` (docs/SERVE.md). `model` may be a promise: the
 * server answers `/health` with 503 and model routes with 503 until it resolves (or for good
 * when it rejects). Call `listen()` to start it.
 *
 * @throws InvalidInputError for bad options
 */
export function createServer(model: Model | Promise<Model>, options: ServerOptions = {}): GroundingServer {
  if (typeof options !== 'object' || options === null) throw new InvalidInputError('Expected an options object for options');
  const o = options as Record<string, unknown>;
  const modelId = checkStr(o.modelId, 'modelId') ?? DEFAULTS.modelId;
  const apiKey = checkStr(o.apiKey, 'apiKey');
  const parallelOption = o.parallel === undefined ? undefined : checkInt(o.parallel, 'parallel', 1, 256, 1);
  const maxQueue = checkInt(o.maxQueue, 'maxQueue', 0, 100_000, DEFAULTS.maxQueue);
  const maxBodyBytes = checkInt(o.maxBodyBytes, 'maxBodyBytes', 1, 2 ** 31 - 1, DEFAULTS.maxBodyBytes);
  const requestTimeoutMs = checkInt(o.requestTimeoutMs, 'requestTimeoutMs', 0, 2 ** 31 - 1, DEFAULTS.requestTimeoutMs);
  const keepAliveMs = checkInt(o.keepAliveMs, 'keepAliveMs', 0, 2 ** 31 - 1, DEFAULTS.keepAliveMs);
  if (o.allowRemoteMedia !== undefined && typeof o.allowRemoteMedia !== 'boolean')
    throw new InvalidInputError('Expected a boolean for options.allowRemoteMedia');
  if (o.onRequest !== undefined && typeof o.onRequest !== 'function') throw new InvalidInputError('Expected a function for options.onRequest');
  const ffmpegPath = checkStr(o.ffmpegPath, 'ffmpegPath');
  const ffprobePath = checkStr(o.ffprobePath, 'ffprobePath');
  const media: MediaSettings = {
    allowRemoteMedia: o.allowRemoteMedia === true,
    remoteMediaMaxBytes: checkInt(o.remoteMediaMaxBytes, 'remoteMediaMaxBytes', 1, 2 ** 31 - 1, DEFAULTS.remoteMediaMaxBytes),
    remoteMediaTimeoutMs: checkInt(o.remoteMediaTimeoutMs, 'remoteMediaTimeoutMs', 1, 2 ** 31 - 1, DEFAULTS.remoteMediaTimeoutMs),
    limitInputPixels: checkInt(o.limitInputPixels, 'limitInputPixels', 1, DEFAULT_LIMIT_INPUT_PIXELS, DEFAULTS.limitInputPixels),
    maxAudioSeconds: checkInt(o.maxAudioSeconds, 'maxAudioSeconds', 1, 86_400, DEFAULTS.maxAudioSeconds),
    maxVideoSeconds: checkInt(o.maxVideoSeconds, 'maxVideoSeconds', 1, 86_400, DEFAULTS.maxVideoSeconds),
    ...(ffmpegPath ? { ffmpegPath } : {}),
    ...(ffprobePath ? { ffprobePath } : {}),
  };
  const onRequest = options.onRequest;
  const keyHash = apiKey === undefined ? undefined : createHash('sha256').update(apiKey).digest();

  const slots = new Slots(parallelOption ?? 1, maxQueue);
  // the model, once loaded (requests are refused before: no slot is taken until then)
  let loaded: Model | undefined;
  let loadError: unknown;
  const onLoaded = (m: Model) => {
    loaded = m;
    if (parallelOption === undefined && !m.disposed) slots.parallel = m.info.parallel;
  };
  if (model !== null && typeof model === 'object' && typeof (model as Promise<Model>).then === 'function') {
    (model as Promise<Model>).then(onLoaded, (err: unknown) => {
      loadError = err;
    });
  } else onLoaded(model as Model);

  const metrics = new ServerMetrics({
    queueDepth: () => slots.queued,
    active: () => slots.active,
    slots: () => slots.parallel,
    loaded: () => (loaded && !loaded.disposed ? 1 : 0),
  });
  const inFlight = new Set<Ctx>();
  let draining = false;
  let closing: Promise<void> | undefined;
  let idle: (() => void) | undefined;
  // a moving average of model request durations, for Retry-After
  let meanSeconds = 1;

  const retryAfter = () => String(Math.max(1, Math.ceil(meanSeconds)));

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    sendBody(res, status, body, draining, headers);
  const sendError = (res: http.ServerResponse, e: HttpError) => send(res, e.status, e.body(), e.headers);

  function requireModel(): Model {
    if (loaded && !loaded.disposed) return loaded;
    if (loaded) throw new HttpError(503, 'The model has been disposed', { code: 'model_disposed' });
    if (loadError !== undefined) throw toHttpError(loadError);
    throw new HttpError(503, 'The model is loading', { code: 'model_loading', headers: { 'Retry-After': '1' } });
  }

  /** One library call for a validated request: admission, media, a slot, the call, metrics. */
  async function run(
    ctx: Ctx,
    job: ModelJob,
    optionParam: (name: string) => string,
    onToken?: (piece: string) => void,
  ): Promise<GenerateResult | GroundResult> {
    const m = requireModel();
    const ticket = slots.admit();
    if (!ticket) {
      throw new HttpError(429, `The server is busy: ${slots.active} requests running and ${slots.queued} waiting (the limit); retry later`, {
        type: 'rate_limit_error',
        code: 'queue_full',
        headers: { 'Retry-After': retryAfter() },
      });
    }
    const signal = ctx.ac.signal;
    let resolved: ResolvedMedia | undefined;
    let firstToken = true;
    const tokens = (piece: string) => {
      if (firstToken) {
        firstToken = false;
        metrics.firstToken.observe((performance.now() - ctx.t0) / 1000);
      }
      onToken?.(piece);
    };
    try {
      resolved = await resolveMedia(job.media, media, signal);
      await ticket.acquire(signal);
      const gen: GenerateOptions = { ...job.gen, signal, onToken: tokens };
      let result: GenerateResult | GroundResult;
      if (job.media.length === 0) {
        result = await m.generate(job.user, { ...gen, history: job.history, ...(job.system !== undefined ? { system: job.system } : {}) });
      } else {
        const chatOptions: ChatOptions = {
          history: job.history,
          ...(job.system !== undefined ? { system: job.system } : {}),
          ...(resolved.image ? { image: resolved.image } : {}),
          ...(resolved.video ? { video: resolved.video } : {}),
          ...(resolved.audio ? { audio: resolved.audio } : {}),
          limitInputPixels: media.limitInputPixels,
          ...(job.maxFrames !== undefined ? { maxFrames: job.maxFrames } : {}),
          ...(ffmpegPath ? { ffmpegPath } : {}),
          ...(ffprobePath ? { ffprobePath } : {}),
        };
        result = await m.createChat(chatOptions).send(job.user, gen);
      }
      const t = result.timings;
      metrics.promptTokens.inc({}, t.promptTokens);
      metrics.reusedTokens.inc({}, t.reusedTokens);
      metrics.generatedTokens.inc({}, t.generatedTokens);
      metrics.prefill.observe(t.promptMs / 1000);
      metrics.decode.observe(t.generateMs / 1000);
      if ('decodeMs' in t) {
        metrics.mediaDecode.observe((t as GroundResult['timings']).decodeMs / 1000);
        const enc = (t as GroundResult['timings']).encodeMs;
        if (enc > 0) metrics.encode.observe(enc / 1000);
      }
      return result;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw toHttpError(err, err instanceof InvalidInputError ? libraryParam(err.message, job, optionParam) : null);
    } finally {
      ticket.release();
      await resolved?.cleanup();
    }
  }

  async function chatCompletions(req: http.IncomingMessage, ctx: Ctx): Promise<void> {
    const job = parseChatRequest(await readJson(req, maxBodyBytes, ctx.ac.signal));
    const head: CompletionHead = { id: `chatcmpl-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model: modelId };
    if (!job.stream) {
      const result = await run(ctx, job, chatParam);
      send(ctx.res, 200, completion(head, result));
      return;
    }
    const sse = new SseStream(ctx.res, keepAliveMs);
    const trim = new TrimmedPieces();
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      sse.send(chunk(head, { role: 'assistant', content: '' }, null));
    };
    let result: GenerateResult | GroundResult;
    try {
      result = await run(ctx, job, chatParam, (piece) => {
        start();
        const text = trim.push(piece);
        if (text !== '') sse.send(chunk(head, { content: text }, null));
      });
    } catch (err) {
      sse.stop();
      if (!sse.opened) throw err;
      sse.send(toHttpError(err).body());
      sse.end(false);
      return;
    }
    start();
    sse.send(chunk(head, { grounding: groundingOf(result) }, finishReason(result.stopReason)));
    if (job.includeUsage) sse.send(chunk(head, undefined, null, usageOf(result.timings)));
    sse.end(true);
  }

  async function ground(req: http.IncomingMessage, ctx: Ctx): Promise<void> {
    const job = parseGroundRequest(await readJson(req, maxBodyBytes, ctx.ac.signal));
    send(ctx.res, 200, await run(ctx, job, (name) => name));
  }

  function health(res: http.ServerResponse): void {
    if (draining) send(res, 503, { status: 'draining' }, { 'Retry-After': '1' });
    else if (loaded && !loaded.disposed) send(res, 200, { status: 'ok', model: modelId, parallel: slots.parallel, active: slots.active, queued: slots.queued });
    else if (loaded) send(res, 503, { status: 'error', error: 'The model has been disposed' });
    else if (loadError !== undefined) send(res, 503, { status: 'error', error: toHttpError(loadError).message });
    else send(res, 503, { status: 'loading' }, { 'Retry-After': '1' });
  }

  const modelObject = () => ({ id: modelId, object: 'model', created: 0, owned_by: 'groundinggpt' });

  async function dispatch(req: http.IncomingMessage, ctx: Ctx, route: string, path: string): Promise<void> {
    const res = ctx.res;
    const method = ROUTE_METHOD[route];
    if (method === undefined) throw new HttpError(404, `Unknown route ${req.method} ${path}`, { code: 'not_found' });
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      throw new HttpError(405, `${path} takes ${method}, not ${req.method}`, { code: 'method_not_allowed', headers: { Allow: method } });
    }
    if (route === '/health') return health(res);
    // the page and its files need no key (the page asks for one): src/serve/static.ts
    if (route === 'playground') return sendPlaygroundFile(req, res, path, draining);
    if (!bearerMatches(req.headers.authorization, keyHash)) {
      throw new HttpError(401, 'Incorrect or missing API key: send Authorization: Bearer <key>', {
        code: 'invalid_api_key',
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    if (route === '/metrics') return send(res, 200, metrics.render());
    if (route === '/v1/models') return send(res, 200, { object: 'list', data: [modelObject()] });
    if (route === '/v1/models/{id}') {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (id !== modelId)
        throw new HttpError(404, `The model '${id}' does not exist; this server serves '${modelId}'`, { param: 'model', code: 'model_not_found' });
      return send(res, 200, modelObject());
    }
    if (draining) throw new HttpError(503, 'The server is shutting down', { code: 'shutting_down', headers: { 'Retry-After': '1' } });
    if (requestTimeoutMs > 0) {
      const timer = setTimeout(
        () => ctx.ac.abort(new HttpError(504, `The request took longer than the server's limit of ${requestTimeoutMs} ms`, { code: 'timeout' })),
        requestTimeoutMs,
      );
      ctx.ac.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      res.once('close', () => clearTimeout(timer));
    }
    if (route === '/v1/chat/completions') return chatCompletions(req, ctx);
    return ground(req, ctx);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ctx: Ctx = { ac: new AbortController(), t0: performance.now(), res };
    let path = '/';
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      // an unparsable target: 404 below
      path = req.url ?? '/';
    }
    const route = routeOf(path);
    inFlight.add(ctx);
    // a connection reset is seen through the response's 'close'; these must not become uncaught errors
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    // the client went away before the whole answer: abort its call (its slot frees when the call returns)
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      if (!ctx.ac.signal.aborted) ctx.ac.abort(new HttpError(499, 'The client closed the connection', { code: 'client_closed' }));
    });
    let code: string | undefined;
    dispatch(req, ctx, route, path)
      .catch((err: unknown) => {
        const e = toHttpError(ctx.ac.signal.aborted ? ctx.ac.signal.reason : err);
        code = e.code ?? undefined;
        sendError(res, e);
      })
      .finally(() => {
        const reason = ctx.ac.signal.aborted ? (ctx.ac.signal.reason as HttpError) : undefined;
        if (reason) metrics.aborted.inc({ reason: reason.code === 'client_closed' ? 'disconnect' : reason.code === 'timeout' ? 'timeout' : 'shutdown' });
        // a response cut short by the client is logged as 499
        const status = clientGone ? 499 : res.statusCode;
        const ms = performance.now() - ctx.t0;
        if (route === '/v1/chat/completions' || route === '/v1/ground') {
          metrics.duration.observe(ms / 1000);
          if (status === 200) meanSeconds = 0.8 * meanSeconds + 0.2 * (ms / 1000);
        }
        metrics.requests.inc({ route, status: String(status) });
        inFlight.delete(ctx);
        if (inFlight.size === 0) idle?.();
        try {
          onRequest?.({ method: req.method ?? '', path, status, ms, ...(code ? { code } : {}) });
        } catch {
          // a throwing access logger must not break the server
        }
      });
  }

  const server = http.createServer(handle);
  // a connection that sends its request slowly is cut after a minute (node's requestTimeout)
  server.requestTimeout = 60_000;

  function listen(port = 8080, host = '127.0.0.1'): Promise<ServerAddress> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        const a = server.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}` });
      });
    });
  }

  function close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (closing) return closing;
    const timeoutMs = checkInt(opts.timeoutMs, 'timeoutMs', 0, 2 ** 31 - 1, 30_000);
    draining = true;
    closing = (async () => {
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      server.closeIdleConnections();
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          idle = resolve;
          timer = setTimeout(() => {
            for (const c of inFlight) if (!c.ac.signal.aborted) c.ac.abort(new HttpError(503, 'The server is shutting down', { code: 'shutting_down' }));
          }, timeoutMs);
        });
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
    })();
    return closing;
  }

  return {
    server,
    handle,
    listen,
    close,
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight.size;
    },
    metrics: () => metrics.render(),
  };
}
