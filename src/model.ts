/**
 * loadModel() and Model: the LLM side of GroundingGPT (text generation in upstream's chat
 * template, tokens, info, lifetime). Every native call of one model goes through one queue, so
 * calls never interleave; every long call takes an AbortSignal.
 */
import fs from 'node:fs';
import path from 'node:path';

import { AbortError, DisposedError, GroundingGPTError, InvalidInputError, ModelLoadError, NativeError } from './errors';
import {
  native,
  type NativeCancel,
  type NativeGenerateResult,
  type NativeModel,
  type NativeModelInfo,
  type NativeSpan,
  type NativeStopReason,
} from './native';
import { SEPARATOR, checkUserText, planSpans, promptText, type ChatTurn, type MediaKind, type PlannedSpan } from './prompt';
import { SerialQueue } from './util/queue';
import {
  integer,
  invalid,
  isPlainObject,
  number,
  oneOf,
  optionalBoolean,
  optionalFunction,
  optionalInteger,
  optionalSignal,
  optionsObject,
  string,
} from './util/validate';

// Node < 18.18 has no Symbol.asyncDispose (used by `await using`); define it as Node's own
// polyfill does, so Model[Symbol.asyncDispose] is the same symbol newer runtimes use.
if (typeof Symbol.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') });
}

// ---- logging ---------------------------------------------------------------------------------------

/** Severity of a log line of the native core, ggml or libllama. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Receives log lines (without trailing newline). */
export type Logger = (level: LogLevel, message: string) => void;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Installs the process-wide sink for the native log (the core, ggml and libllama log through one
 * sink: the last logger set receives the lines of every model). `null` silences it (the default).
 * Lines arrive asynchronously on the main thread and never keep the process alive.
 *
 * @param logger - the sink, or null
 * @param options.level - lowest level passed on (default `'warn'`)
 */
export function setLogger(logger: Logger | null, options?: { level?: LogLevel }): void {
  if (logger !== null) optionalFunction(logger, 'logger');
  const o = optionsObject(options);
  const level = oneOf(o.level, 'options.level', LEVELS, 'warn');
  if (logger === null) native().setLogger(null, 0);
  else native().setLogger((lvl, text) => logger(LEVELS[lvl] ?? 'error', text), LEVELS.indexOf(level));
}

// ---- errors ----------------------------------------------------------------------------------------

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** Maps an addon error (code = core status) to the typed errors of the API. */
function mapNativeError(err: unknown, signal?: AbortSignal): unknown {
  if (err instanceof GroundingGPTError) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case undefined:
      return err;
    case 'ABORTED':
      return new AbortError(undefined, { cause: signal?.reason });
    case 'DISPOSED':
      return new DisposedError();
    case 'INVALID_ARGUMENT':
    case 'CONTEXT_FULL':
      return new InvalidInputError(message, { cause: err });
    default:
      return new NativeError(code.toLowerCase(), message);
  }
}

function abortError(signal?: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal?.reason });
}

/** A native cancel flag raised by `signal` while an operation runs. */
function linkCancel(signal: AbortSignal | undefined): { cancel: NativeCancel; unlink: () => void } {
  const cancel = native().createCancel();
  if (!signal) return { cancel, unlink: () => undefined };
  const onAbort = () => cancel.cancel();
  if (signal.aborted) cancel.cancel();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { cancel, unlink: () => signal.removeEventListener('abort', onAbort) };
}

// ---- options ---------------------------------------------------------------------------------------

/** Paths of a converted model. */
export interface ModelFiles {
  /** The LLM GGUF (`llm.gguf` of a converted model directory). */
  llm: string;
  /** The encoders GGUF (`encoders.gguf`), for image/video/audio input. Optional: text-only without it. */
  encoders?: string;
}

/** KV-cache element type. */
export type KvType = 'f16' | 'f32' | 'q8_0';

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * A directory written by `groundinggpt convert` / `synth` (holding `llm.gguf` and, when
   * present, `encoders.gguf`), or the files themselves.
   */
  model: string | ModelFiles;
  /** Load the towers of `encoders.gguf` (default true). false: text only, without their memory. */
  loadEncoders?: boolean;
  /** CPU threads for generation and prompt processing. Default: the physical cores (about half the hardware threads). 1-512. */
  threads?: number;
  /** LLM layers offloaded to the GPU (-1 = all). Default: all when the build has a GPU backend, else 0. */
  gpuLayers?: number;
  /**
   * Context size in tokens: prompt (media rows included) plus answer. Default 4096 capped at the
   * model's training context; 8 to the training context (4096 for GroundingGPT-7B). libllama
   * may round it up (to a multiple of 256); `info.contextSize` is the size in use.
   */
  contextSize?: number;
  /** Prompt positions per native batch (1-8192, default 512, capped at contextSize). Also how often a prompt checks its AbortSignal. */
  batchSize?: number;
  /** KV-cache type: 'f16' (default), 'f32' (exact, for comparisons; turns flash attention off unless asked), 'q8_0' (half the memory; needs flash attention). */
  kvType?: KvType;
  /** Flash attention: 'auto' (default), 'on', 'off'. */
  flashAttn?: 'auto' | 'on' | 'off';
  /** Load progress in [0, 1] (LLM file, then encoders). */
  onProgress?: (fraction: number) => void;
  /** Aborts the load (rejects with AbortError). */
  signal?: AbortSignal;
  /** Installs a process-wide log sink first (see {@link setLogger}; level 'warn'). */
  logger?: Logger;
}

/** Options of {@link Model.generate}. */
export interface GenerateOptions {
  /** Most tokens to generate (0-1,000,000; default 512, upstream's max_new_tokens). */
  maxTokens?: number;
  /** Sampling temperature (0-100). 0 = greedy, the default (reproducible). Upstream samples at 0.2. */
  temperature?: number;
  /** Top-k when sampling (0 = off; default 40). */
  topK?: number;
  /** Top-p (nucleus) when sampling, in [0, 1] (1 = off; default 0.95). */
  topP?: number;
  /** Min-p when sampling, in [0, 1] (0 = off, the default). */
  minP?: number;
  /** Repetition penalty as HF's repetition_penalty (1 = off, the default; > 0, at most 10); applies when greedy too. */
  repeatPenalty?: number;
  /** Tokens the repetition penalty looks back over (-1 = the whole context; default 64). */
  repeatLastN?: number;
  /** Sampling seed (0 to 4294967294). Default: random. */
  seed?: number;
  /** Stop strings: generation stops when the text contains one; the text is cut before it. Default `['###']`, upstream's separator. */
  stop?: readonly string[];
  /** System text of the template (default: upstream's). */
  system?: string;
  /** Earlier turns of the conversation; their KV cache is reused when they are unchanged. */
  history?: readonly ChatTurn[];
  /**
   * Streaming: called for each piece of text as soon as it can no longer become part of a stop
   * string (pieces never split a UTF-8 character; together they equal the untrimmed text).
   * Throwing stops the generation and rejects with that error.
   */
  onToken?: (piece: string, token: number) => void;
  /** Prompt-evaluation progress in [0, 1] (of the positions not reused from the KV cache), once per batch. */
  onPromptProgress?: (fraction: number) => void;
  /** Aborts the call (rejects with AbortError; the model stays usable). */
  signal?: AbortSignal;
}

/** Why generation stopped. */
export type StopReason = 'eos' | 'stop' | 'max_tokens' | 'context_full' | 'aborted';

/** Time spent, in milliseconds, and throughput. */
export interface Timings {
  /** Prompt positions evaluated now (the rest were reused from the KV cache). */
  promptTokens: number;
  /** Prompt positions reused from the KV cache (common prefix with the previous call). */
  reusedTokens: number;
  /** Wall time of prompt evaluation, ms. */
  promptMs: number;
  /** promptTokens per second (0 when nothing was evaluated). */
  promptTokensPerSecond: number;
  /** Tokens generated. */
  generatedTokens: number;
  /** Wall time of generation, ms. */
  generateMs: number;
  /** Generated tokens per second. */
  generateTokensPerSecond: number;
}

/** Result of {@link Model.generate}. */
export interface GenerateResult {
  /** The answer: stop string removed, surrounding whitespace trimmed (as upstream's `.strip()`). */
  text: string;
  /** Generated token ids, the token that ended generation (stop/EOS) included. */
  tokens: number[];
  /** Why generation stopped ('aborted' only when a stream was left early). */
  stopReason: StopReason;
  timings: Timings;
}

/** Information about a loaded model. */
export interface ModelInfo {
  /** libllama's description of the LLM, e.g. "llama 7B Q4_K - Medium". */
  description: string;
  /** Tokens in the vocabulary (32009 for GroundingGPT-7B: LLaMA's 32000 + the 9 media tokens). */
  vocabSize: number;
  /** LLM width: also the width of every media feature row. */
  embeddingSize: number;
  /** Transformer blocks of the LLM. */
  layers: number;
  /** Attention heads per block. */
  heads: number;
  /** Context size of this model's context, in tokens. */
  contextSize: number;
  /** Positions the LLM was trained with. */
  trainContextSize: number;
  /** Where the LLM weights live ("CPU", "CUDA0"). */
  backend: string;
  /** Compiled backends and CPU features. */
  systemInfo: string;
  /** Parameter counts of the LLM and of the towers (0 without encoders). */
  parameters: { llm: number; encoders: number };
  /** Bytes of the weights and of the KV cache. */
  memory: { llm: number; encoders: number; kvCache: number };
  /** Per media kind: whether the encoders file has its tower, its token ids and feature rows per item. */
  media: Record<MediaKind, { available: boolean; rows: number; tokens: { start: number; patch: number; end: number } }>;
  /** Beginning- and end-of-sequence token ids. */
  tokens: { bos: number; eos: number };
}

/** A generation that can be consumed piece by piece: `for await (const piece of stream)`. */
export interface GenerationStream extends AsyncIterable<string> {
  /**
   * Settles when generation ends. Leaving the `for await` loop early stops the generation; the
   * result then has `stopReason: 'aborted'`. Errors reject it and are also thrown by the loop.
   */
  readonly result: Promise<GenerateResult>;
}

// ---- loadModel -------------------------------------------------------------------------------------

function resolveFiles(value: unknown): { llm: string; encoders?: string } {
  if (typeof value === 'string') {
    if (value.length === 0) throw invalid('a model directory or { llm, encoders? }', 'model', value);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(value);
    } catch {
      throw new ModelLoadError(`Cannot find the model at ${value}`, { file: value });
    }
    if (!stat.isDirectory()) return { llm: value };
    const llm = path.join(value, 'llm.gguf');
    if (!fs.existsSync(llm)) throw new ModelLoadError(`The model directory ${value} has no llm.gguf`, { file: llm });
    const encoders = path.join(value, 'encoders.gguf');
    return fs.existsSync(encoders) ? { llm, encoders } : { llm };
  }
  if (!isPlainObject(value)) throw invalid('a model directory or { llm, encoders? }', 'model', value);
  const llm = string(value.llm, 'model.llm');
  const encoders = value.encoders === undefined ? undefined : string(value.encoders, 'model.encoders');
  for (const f of [llm, encoders]) {
    if (f !== undefined && !fs.existsSync(f)) throw new ModelLoadError(`Cannot find the model file ${f}`, { file: f });
  }
  return encoders === undefined ? { llm } : { llm, encoders };
}

/**
 * Loads a converted GroundingGPT model and creates its context.
 *
 * @throws InvalidInputError for bad options, ModelLoadError for a missing or corrupt file (naming
 *   it), AbortError when `signal` aborts.
 */
export async function loadModel(options: LoadModelOptions): Promise<Model> {
  if (!isPlainObject(options)) throw invalid('an options object', 'options', options);
  const o = options as unknown as Record<string, unknown>;
  const signal = optionalSignal(o.signal, 'options.signal');
  const onProgress = optionalFunction<(fraction: number) => void>(o.onProgress, 'options.onProgress');
  const logger = optionalFunction<Logger>(o.logger, 'options.logger');
  const threads = optionalInteger(o.threads, 'options.threads', 1, 512, 0);
  const gpuLayers = o.gpuLayers === undefined ? undefined : integer(o.gpuLayers, 'options.gpuLayers', -1, 100000);
  const contextSize = optionalInteger(o.contextSize, 'options.contextSize', 8, 1 << 20, 0);
  const batchSize = optionalInteger(o.batchSize, 'options.batchSize', 1, 8192, 512);
  const kvType = oneOf<KvType>(o.kvType, 'options.kvType', ['f16', 'f32', 'q8_0'], 'f16');
  const flashAttn = oneOf(o.flashAttn, 'options.flashAttn', ['auto', 'on', 'off'] as const, 'auto');
  if (signal?.aborted) throw abortError(signal);
  const loadEncoders = optionalBoolean(o.loadEncoders, 'options.loadEncoders', true);
  const resolved = resolveFiles(o.model);
  const files: ModelFiles = loadEncoders ? resolved : { llm: resolved.llm };
  if (logger) setLogger(logger);

  const addon = native();
  const { cancel, unlink } = linkCancel(signal);
  let nm: NativeModel;
  try {
    nm = await addon.loadModel(
      {
        llm: files.llm,
        ...(files.encoders !== undefined ? { encoders: files.encoders } : {}),
        ...(gpuLayers !== undefined ? { gpuLayers } : {}),
        encodersOnGpu: true,
        useMmap: true,
        contextSize,
        batchSize,
        threads,
        threadsBatch: threads,
        kvType,
        flashAttn,
      },
      cancel,
      onProgress,
    );
  } catch (err) {
    const code = errorCode(err);
    if (code === 'IO' || code === 'FORMAT' || code === 'UNSUPPORTED') {
      const message = err instanceof Error ? err.message : String(err);
      const file = files.encoders !== undefined && message.startsWith(files.encoders) ? files.encoders : files.llm;
      throw new ModelLoadError(message, { cause: err, file });
    }
    throw mapNativeError(err, signal);
  } finally {
    unlink();
  }
  if (signal?.aborted) {
    await nm.dispose();
    throw abortError(signal);
  }
  return new Model(nm, files);
}

// ---- Model -----------------------------------------------------------------------------------------

const MAX_STOP = 16;

interface ParsedGenerate {
  user: string;
  native: Parameters<NativeModel['generate']>[0];
  system?: string;
  history: ChatTurn[];
  onToken?: (piece: string, token: number) => void;
  onPromptProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/** A loaded GroundingGPT model with its context (KV cache). Create with {@link loadModel}. */
export class Model {
  readonly #native: NativeModel;
  readonly #queue = new SerialQueue();
  readonly #info: NativeModelInfo;
  #disposed = false;
  #disposing: Promise<void> | undefined;
  #running: NativeCancel | undefined;

  /** The files the model was loaded from. */
  readonly files: Readonly<ModelFiles>;

  /** @internal use {@link loadModel} */
  constructor(nativeModel: NativeModel, files: ModelFiles) {
    this.#native = nativeModel;
    this.#info = nativeModel.info() as NativeModelInfo;
    this.files = Object.freeze({ ...files });
  }

  /** Sizes, backends, memory. */
  get info(): ModelInfo {
    this.#alive();
    const i = this.#info;
    const kinds: MediaKind[] = ['image', 'video', 'audio'];
    const media = {} as ModelInfo['media'];
    kinds.forEach((k, m) => {
      const [patch, start, end] = i.mediaTokens[m];
      media[k] = { available: i.hasMedia[m], rows: i.mediaRows[m], tokens: { start, patch, end } };
    });
    return {
      description: i.llmDescription,
      vocabSize: i.nVocab,
      embeddingSize: i.nEmbd,
      layers: i.nLayer,
      heads: i.nHead,
      contextSize: i.nCtx,
      trainContextSize: i.nCtxTrain,
      backend: i.backend,
      systemInfo: native().systemInfo(),
      parameters: { llm: i.llmParams, encoders: i.encodersParams },
      memory: { llm: i.llmBytes, encoders: i.encodersBytes, kvCache: i.kvBytes },
      media,
      tokens: { bos: i.tokenBos, eos: i.tokenEos },
    };
  }

  /** True after {@link dispose}. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Token ids of a text as upstream's tokenizer gives them.
   *
   * @param options.bos - prepend BOS (default true)
   * @param options.special - split at the media tokens and `<s>`, `</s>`, `<unk>` as upstream's
   *   added tokens (default true); false encodes the whole text with SentencePiece
   */
  tokenize(text: string, options?: { bos?: boolean; special?: boolean }): number[] {
    this.#alive();
    if (typeof text !== 'string') throw invalid('a string', 'text', text);
    const o = optionsObject(options);
    const bos = o.bos === undefined ? true : o.bos;
    const special = o.special === undefined ? true : o.special;
    if (typeof bos !== 'boolean') throw invalid('a boolean', 'options.bos', bos);
    if (typeof special !== 'boolean') throw invalid('a boolean', 'options.special', special);
    return Array.from(this.#native.tokenize(text, bos, special));
  }

  /**
   * Text of token ids as upstream decodes them (`skip_special_tokens=True`: control and media
   * tokens give nothing).
   *
   * @param options.stripLeadingSpace - drop SentencePiece's dummy-prefix space of the first piece (default true)
   */
  detokenize(tokens: ArrayLike<number>, options?: { stripLeadingSpace?: boolean }): string {
    this.#alive();
    const ids = this.#checkTokens(tokens, 'tokens');
    const o = optionsObject(options);
    const strip = o.stripLeadingSpace === undefined ? true : o.stripLeadingSpace;
    if (typeof strip !== 'boolean') throw invalid('a boolean', 'options.stripLeadingSpace', strip);
    return this.#native.detokenize(ids, strip);
  }

  /** The prompt text {@link generate} evaluates for `text` and these options (upstream's template). */
  promptText(text: string, options?: Pick<GenerateOptions, 'system' | 'history'>): string {
    this.#alive();
    const o = optionsObject(options);
    checkUserText(text, 'text');
    const { system, history } = this.#parseConversation(o);
    return promptText({ system, history, user: text, mediaRows: this.#mediaRows() });
  }

  /**
   * Answers `text` in a text-only turn of GroundingGPT's chat template and returns the answer.
   * Greedy by default. The KV cache keeps the conversation, so a later call whose `history`
   * repeats this turn only evaluates what is new.
   *
   * @throws InvalidInputError for bad options or a prompt longer than the context,
   *   AbortError when `signal` aborts, DisposedError after dispose().
   */
  async generate(text: string, options?: GenerateOptions): Promise<GenerateResult> {
    const parsed = this.#parseGenerate(text, options);
    return this.#run(parsed, parsed.onToken);
  }

  /**
   * Like {@link generate}, as an async iterable of text pieces (see {@link GenerateOptions.onToken})
   * with the final result in `.result`.
   *
   * ```ts
   * const stream = model.generateStream('Hello!');
   * for await (const piece of stream) process.stdout.write(piece);
   * const { text, timings } = await stream.result;
   * ```
   */
  generateStream(text: string, options?: GenerateOptions): GenerationStream {
    const pieces: string[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: { error: unknown } | undefined;
    let stopped = false;
    let stopCancel: NativeCancel | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let result: Promise<GenerateResult>;
    try {
      const parsed = this.#parseGenerate(text, options);
      const userOnToken = parsed.onToken;
      result = this.#run(
        parsed,
        (piece, token) => {
          userOnToken?.(piece, token);
          if (piece.length > 0) pieces.push(piece);
          notify();
        },
        (cancel) => {
          stopCancel = cancel;
          if (stopped) cancel.cancel();
        },
      );
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => {
        finished = true;
        notify();
      },
      (error: unknown) => {
        failure = { error };
        finished = true;
        notify();
      },
    );
    const iterator: AsyncIterator<string> = {
      next: async (): Promise<IteratorResult<string>> => {
        for (;;) {
          if (pieces.length > 0) return { value: pieces.shift() as string, done: false };
          if (failure) throw failure.error;
          if (finished || stopped) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      return: async (): Promise<IteratorResult<string>> => {
        if (!finished) {
          stopped = true;
          stopCancel?.cancel();
        }
        return { value: undefined, done: true };
      },
    };
    return { result, [Symbol.asyncIterator]: () => iterator };
  }

  /**
   * Frees the model. Safe at any time: a running call is cancelled and rejects with
   * DisposedError, queued calls reject with DisposedError; resolves once the native memory is
   * released. A second call is a no-op.
   */
  dispose(): Promise<void> {
    if (this.#disposing) return this.#disposing;
    this.#disposed = true;
    this.#queue.close(() => new DisposedError());
    this.#running?.cancel();
    this.#disposing = this.#native.dispose();
    return this.#disposing;
  }

  /** `await using model = await loadModel(...)` disposes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  // ---- internals ----

  #alive(): void {
    if (this.#disposed) throw new DisposedError();
  }

  #mediaRows(): Record<MediaKind, number> {
    const r = this.#info.mediaRows;
    return { image: r[0], video: r[1], audio: r[2] };
  }

  #checkTokens(tokens: unknown, name: string): Int32Array {
    if (!(Array.isArray(tokens) || ArrayBuffer.isView(tokens)) || (ArrayBuffer.isView(tokens) && !('length' in tokens))) {
      throw invalid('an array of token ids', name, tokens);
    }
    const list = tokens as ArrayLike<number>;
    const out = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const t = list[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= this.#info.nVocab) {
        throw invalid(`an integer between 0 and ${this.#info.nVocab - 1}`, `${name}[${i}]`, t);
      }
      out[i] = t;
    }
    return out;
  }

  #parseConversation(o: Record<string, unknown>): { system?: string; history: ChatTurn[] } {
    let system: string | undefined;
    if (o.system !== undefined) system = checkUserText(o.system, 'options.system');
    const history: ChatTurn[] = [];
    if (o.history !== undefined) {
      if (!Array.isArray(o.history)) throw invalid('an array of { user, assistant }', 'options.history', o.history);
      o.history.forEach((turn: unknown, i: number) => {
        if (!isPlainObject(turn)) throw invalid('an object { user, assistant }', `options.history[${i}]`, turn);
        history.push({
          user: checkUserText(turn.user, `options.history[${i}].user`),
          assistant: checkUserText(turn.assistant, `options.history[${i}].assistant`),
        });
      });
    }
    return system === undefined ? { history } : { system, history };
  }

  #parseGenerate(text: unknown, options: unknown): ParsedGenerate {
    this.#alive();
    const user = checkUserText(text, 'text');
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const onToken = optionalFunction<(piece: string, token: number) => void>(o.onToken, 'options.onToken');
    const onPromptProgress = optionalFunction<(fraction: number) => void>(o.onPromptProgress, 'options.onPromptProgress');
    let stop: string[] = [SEPARATOR];
    if (o.stop !== undefined) {
      if (!Array.isArray(o.stop) || o.stop.length > MAX_STOP) throw invalid(`an array of at most ${MAX_STOP} strings`, 'options.stop', o.stop);
      stop = o.stop.map((s: unknown, i: number) => string(s, `options.stop[${i}]`));
    }
    let repeatPenalty = 1;
    if (o.repeatPenalty !== undefined) {
      repeatPenalty = number(o.repeatPenalty, 'options.repeatPenalty', 0, 10);
      if (repeatPenalty === 0) throw invalid('a number greater than 0 and at most 10', 'options.repeatPenalty', o.repeatPenalty);
    }
    const conv = this.#parseConversation(o);
    return {
      user,
      native: {
        maxTokens: optionalInteger(o.maxTokens, 'options.maxTokens', 0, 1_000_000, 512),
        temperature: o.temperature === undefined ? 0 : number(o.temperature, 'options.temperature', 0, 100),
        topK: optionalInteger(o.topK, 'options.topK', 0, this.#info.nVocab, 40),
        topP: o.topP === undefined ? 0.95 : number(o.topP, 'options.topP', 0, 1),
        minP: o.minP === undefined ? 0 : number(o.minP, 'options.minP', 0, 1),
        repeatPenalty,
        repeatLastN: optionalInteger(o.repeatLastN, 'options.repeatLastN', -1, 1_000_000, 64),
        seed: optionalInteger(o.seed, 'options.seed', 0, 0xfffffffe, 0xffffffff),
        stop,
        stopAtEos: true,
      },
      ...conv,
      ...(onToken ? { onToken } : {}),
      ...(onPromptProgress ? { onPromptProgress } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** Prompt + generate as one queued task. */
  #run(
    parsed: ParsedGenerate,
    onToken: ((piece: string, token: number) => void) | undefined,
    onStart?: (cancel: NativeCancel) => void,
  ): Promise<GenerateResult> {
    const { signal } = parsed;
    return this.#queue.run(
      async () => {
        if (this.#disposed) throw new DisposedError();
        const { cancel, unlink } = linkCancel(signal);
        this.#running = cancel;
        onStart?.(cancel);
        try {
          return await this.#evaluate(parsed, cancel, onToken);
        } catch (err) {
          if (this.#disposed) throw new DisposedError();
          if (signal?.aborted && errorCode(err) === 'ABORTED') throw abortError(signal);
          throw mapNativeError(err, signal);
        } finally {
          unlink();
          this.#running = undefined;
        }
      },
      signal,
      () => abortError(signal),
    );
  }

  async #evaluate(
    parsed: ParsedGenerate,
    cancel: NativeCancel,
    onToken: ((piece: string, token: number) => void) | undefined,
  ): Promise<GenerateResult> {
    const { signal } = parsed;
    const text = promptText({ system: parsed.system, history: parsed.history, user: parsed.user, mediaRows: this.#mediaRows() });
    const spans = this.#spansFor(text);
    const evalResult = await this.#native.prompt(spans, cancel, parsed.onPromptProgress);
    const gen: NativeGenerateResult = await this.#native.generate(
      parsed.native,
      cancel,
      onToken ? (token: number, piece: string) => onToken(piece, token) : undefined,
    );
    if (gen.stopReason === 'aborted') {
      if (this.#disposed) throw new DisposedError();
      if (signal?.aborted) throw abortError(signal);
    }
    const promptTokens = evalResult.nEvaluated;
    const generated = gen.tokens.length;
    return {
      text: gen.text.trim(),
      tokens: Array.from(gen.tokens),
      stopReason: gen.stopReason as NativeStopReason,
      timings: {
        promptTokens,
        reusedTokens: evalResult.nReused,
        promptMs: evalResult.ms,
        promptTokensPerSecond: evalResult.ms > 0 ? (promptTokens * 1000) / evalResult.ms : 0,
        generatedTokens: generated,
        generateMs: gen.ms,
        generateTokensPerSecond: gen.ms > 0 ? (generated * 1000) / gen.ms : 0,
      },
    };
  }

  /** Token spans of a text-only prompt (media placeholders are rejected: no features here). */
  #spansFor(text: string): NativeSpan[] {
    const ids = this.#native.tokenize(text, true, true);
    const t = this.#info.mediaTokens;
    const planned: PlannedSpan[] = planSpans(ids, { image: t[0][0], video: t[1][0], audio: t[2][0] });
    return planned.map((s) => {
      if ('media' in s) throw new InvalidInputError(`This prompt needs ${s.media} features, which generate() does not take`);
      return { tokens: s.tokens };
    });
  }
}
