/**
 * `groundinggpt serve`: loads a model and serves it over HTTP (docs/SERVE.md). It listens at
 * once (`/health` answers 503 while the model loads), logs one line per request on stderr, and
 * on SIGTERM or SIGINT stops accepting, lets the requests in flight finish (at most
 * --drain-timeout seconds), disposes the model and exits 0; a second signal exits 1 at once.
 * The table entry is in src/cli.ts, which hands over its argument parser and model loader.
 */
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { LOAD_OPTION_NAMES, MODEL_LOAD_OPTIONS, optionsHelp } from '../cli-options';
import type { Model } from '../model';
import { createServer, type ServerOptions } from './server';

/** What src/cli.ts lends the command (the serve module does not import the CLI: no cycle). */
export interface ServeDeps {
  parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): { values: Record<string, string | boolean | undefined> };
  /** Loads the model named by --model with the CLI's common options (threads, context size...). */
  loadModel(values: Record<string, string | boolean | undefined>, signal: AbortSignal, extra: { parallel: number }): Promise<Model>;
  /** The CLI's usage error (exit code 2). */
  usageError(message: string): Error;
  /** The default model name. */
  defaultModel: string;
}

export const SERVE_USAGE = `groundinggpt serve [options]

  An OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/ground, GET /v1/models,
  GET /health, GET /metrics (docs/SERVE.md), and a web playground at / to try it in a browser.

  --model <dir|name>        model directory or name (default: $GROUNDINGGPT_MODEL, else the default
                            model, pulled on first use)
  --no-pull                 never download: fail when the named model is not in the model cache
  --host <addr>             address to listen on (default 127.0.0.1: this machine only)
  --port <n>                port (default 8080; 0: any free port, printed at start)
  --parallel <n>            requests decoded together: the model's sequences (1-64, default 1;
                            each has --context-size positions of KV cache)
  --max-queue <n>           requests waiting beyond --parallel (default 32); more get 429
  --api-key <key>           require Authorization: Bearer <key> (default: $GROUNDINGGPT_API_KEY)
  --allow-remote-media      fetch http(s) media URLs (default: data: URLs and base64 only)
  --model-id <id>           the model id of /v1/models and responses (default: --model's last part)
  --max-body <bytes>        largest request body (default 33554432)
  --timeout <s>             longest request, queue included (default 600; 0: no limit)
  --drain-timeout <s>       on SIGTERM, longest wait for requests in flight (default 30)
  --max-image-pixels <n>    largest image or video frame (default 50000000)
  --max-audio-seconds <s>   longest sound (default 600)
  --max-video-seconds <s>   longest video (default 3600)
  --quiet                   no access log on stderr
${optionsHelp(LOAD_OPTION_NAMES, {}, 28)}`;

const OPTIONS = {
  model: { type: 'string' },
  'no-pull': { type: 'boolean' },
  host: { type: 'string' },
  port: { type: 'string' },
  parallel: { type: 'string' },
  'max-queue': { type: 'string' },
  'api-key': { type: 'string' },
  'allow-remote-media': { type: 'boolean' },
  'model-id': { type: 'string' },
  'max-body': { type: 'string' },
  timeout: { type: 'string' },
  'drain-timeout': { type: 'string' },
  'max-image-pixels': { type: 'string' },
  'max-audio-seconds': { type: 'string' },
  'max-video-seconds': { type: 'string' },
  quiet: { type: 'boolean' },
  ...MODEL_LOAD_OPTIONS,
} as const;

/** Runs `groundinggpt serve`; resolves after a signal once the server has drained. */
export async function serveCommand(argv: string[], deps: ServeDeps): Promise<void> {
  const { values } = deps.parse(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return;
  }
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const v = values[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
      throw deps.usageError(`--${name} expects an integer from ${min} to ${max}, got "${v}"`);
    return Number(v);
  };
  const port = int('port', 0, 65535, 8080);
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  // the model's sequences (loadModel's `parallel`) and the server's slots are one number
  const parallel = int('parallel', 1, 64, 1);
  const drainSeconds = int('drain-timeout', 0, 86_400, 30);
  const modelName = (values.model as string | undefined) || process.env.GROUNDINGGPT_MODEL || deps.defaultModel;
  const apiKey = (values['api-key'] as string | undefined) || process.env.GROUNDINGGPT_API_KEY || undefined;
  const quiet = values.quiet === true;
  const log = (line: string) => process.stderr.write(`groundinggpt serve: ${line}\n`);
  const options: ServerOptions = {
    modelId: (values['model-id'] as string | undefined) || path.basename(path.resolve(modelName)) || modelName,
    parallel,
    maxQueue: int('max-queue', 0, 100_000, 32),
    maxBodyBytes: int('max-body', 1, 2 ** 31 - 1, 32 << 20),
    requestTimeoutMs: int('timeout', 0, 2_000_000, 600) * 1000,
    limitInputPixels: int('max-image-pixels', 1, 0x3fff * 0x3fff, 50_000_000),
    maxAudioSeconds: int('max-audio-seconds', 1, 86_400, 600),
    maxVideoSeconds: int('max-video-seconds', 1, 86_400, 3600),
    allowRemoteMedia: values['allow-remote-media'] === true,
    ...(apiKey ? { apiKey } : {}),
    ...(values.ffmpeg ? { ffmpegPath: values.ffmpeg as string } : {}),
    ...(values.ffprobe ? { ffprobePath: values.ffprobe as string } : {}),
    ...(quiet ? {} : { onRequest: (e) => log(`${e.method} ${e.path} ${e.status} ${Math.round(e.ms)} ms${e.code ? ` ${e.code}` : ''}`) }),
  };

  const loading = new AbortController();
  const t0 = Date.now();
  const modelPromise = deps.loadModel({ ...values, model: modelName }, loading.signal, { parallel });
  // the outcome is handled below; this keeps a failed load from being an unhandled rejection meanwhile
  modelPromise.catch(() => undefined);
  const server = createServer(modelPromise, options);
  try {
    const addr = await server.listen(port, host);
    log(`listening on ${addr.url} (model ${options.modelId} loading${apiKey ? ', API key required' : ''})`);
    if (!apiKey && !['127.0.0.1', '::1', 'localhost'].includes(host)) log(`warning: ${host} is reachable from other machines and no --api-key is set`);
  } catch (err) {
    loading.abort();
    await modelPromise.then((m) => m.dispose()).catch(() => undefined);
    throw err;
  }

  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log(`${sig} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`${sig}: not accepting requests; waiting up to ${drainSeconds} s for ${server.inFlight} in flight`);
      loading.abort();
      server
        .close({ timeoutMs: drainSeconds * 1000 })
        .then(() => modelPromise.then((m) => m.dispose()).catch(() => undefined))
        .then(() => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          log('stopped');
          resolve();
        }, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    modelPromise.then(
      () => log(`model loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s; parallel ${parallel}`),
      (err: unknown) => {
        if (stopping) return;
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        server.close({ timeoutMs: 0 }).then(() => reject(err), reject);
      },
    );
  });
}
