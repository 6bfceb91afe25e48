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
import { Chat } from './chat';
import { kChatTurn, kPrepare } from './internal';
import { DEFAULT_FEATURE_CACHE_BYTES, FeatureCache, contentHash, idFromHash, type MediaFeatures } from './features';
import { decodeAudio, type AudioInput, type DecodeAudioOptions, type DecodedAudio } from './media/audio';
import { TOWER_DECODE_MAX_SIDE, decodeImage, paddedSquare, type DecodedImage, type ImageInput } from './media/image';
import { decodeVideo, type DecodedVideo, type VideoInput } from './media/video';
import { parseBoxes, type GroundedBox } from './parse/boxes';
import type { MalformedLiteral } from './parse/literals';
import { parseSpans, type GroundedSpan } from './parse/spans';
import { SEPARATOR, checkUserText, planSpans, promptText, type ChatTurn, type MediaKind, type PlannedSpan } from './prompt';
import { SerialQueue } from './util/queue';
import { namedModelDir } from './pull/index';
import {
  CallbackGuard,
  anySignal,
  integer,
  isThenable,
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
 * Lines arrive asynchronously on the main thread and never keep the process alive. A logger that
 * throws, or returns a promise that rejects, loses that line and nothing else.
 *
 * @param logger - the sink, or null
 * @param options.level - lowest level passed on (default `'warn'`)
 */
export function setLogger(logger: Logger | null, options?: { level?: LogLevel }): void {
  if (logger !== null) optionalFunction(logger, 'logger');
  const o = optionsObject(options);
  const level = oneOf(o.level, 'options.level', LEVELS, 'warn');
  if (logger === null) native().setLogger(null, 0);
  else {
    native().setLogger((lvl, text) => {
      // a logger that throws loses its line (the addon clears the exception); one whose promise
      // rejects does the same here, instead of an unhandled rejection that ends the process
      const r: unknown = (logger as (level: LogLevel, message: string) => unknown)(LEVELS[lvl] ?? 'error', text);
      if (isThenable(r)) Promise.resolve(r).catch(() => undefined);
    }, LEVELS.indexOf(level));
  }
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

/** The values of {@link LoadModelOptions.towerMatmul}. */
export const TOWER_MATMULS = ['auto', 'ggml', 'int8'] as const;
/** How the towers' Linear layers multiply on the CPU: see {@link LoadModelOptions.towerMatmul}. */
export type TowerMatmul = (typeof TOWER_MATMULS)[number];

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * A directory written by `groundinggpt convert` / `synth` (holding `llm.gguf` and, when
   * present, `encoders.gguf`), the files themselves, or a model name (`'groundinggpt-7b'`,
   * `'groundinggpt-7b:q8_0'`) in the model cache filled by `pull()`.
   */
  model: string | ModelFiles;
  /** With a model name (`model: 'groundinggpt-7b'`) not in the model cache: pull it first (default false: ModelLoadError). */
  pull?: boolean;
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
  /**
   * How the towers' Linear layers multiply on the CPU (f16 encoders; f32 weights always stay f32):
   * - 'auto' (default): the tile unit's bf16 path (AMX-BF16) on CPUs that have it, at bf16
   *   rounding of weights and activations (~5e-3 relative error), else ggml's kernels;
   * - 'ggml': ggml's f16 kernels only (~1e-3 relative error);
   * - 'int8' (experimental): the tile unit's int8 path (AMX-INT8; int8 weights per output row and
   *   int8 activation rows), at about 4x the error of 'auto' (1e-2 to 3e-2 relative on random
   *   weights; not measured on the released ones); 'auto' on CPUs without AMX-INT8.
   * How fast each is on which CPU: docs/BENCHMARKS.md.
   */
  towerMatmul?: TowerMatmul;
  /** Load progress in [0, 1] (LLM file, then encoders). */
  onProgress?: (fraction: number) => void;
  /** Aborts the load (rejects with AbortError). */
  signal?: AbortSignal;
  /** Installs a process-wide log sink first (see {@link setLogger}; level 'warn'). */
  logger?: Logger;
  /**
   * Bytes of projected features kept per model so that questions about the same image, video
   * or sound encode it once (least recently used first out). Default 128 MiB; 0 disables it.
   */
  featureCacheBytes?: number;
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
   * Throwing stops the generation and rejects with that error; so does returning a promise that
   * rejects (an async callback: not awaited between tokens, but the call settles only after
   * every promise it returned has). The same holds for every callback option of this library.
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
    if (!stat.isDirectory()) return { llm: regularFile(value) };
    const llm = path.join(value, 'llm.gguf');
    if (!fs.existsSync(llm)) throw new ModelLoadError(`The model directory ${value} has no llm.gguf`, { file: llm });
    const encoders = path.join(value, 'encoders.gguf');
    return fs.existsSync(encoders) ? { llm: regularFile(llm), encoders: regularFile(encoders) } : { llm: regularFile(llm) };
  }
  if (!isPlainObject(value)) throw invalid('a model directory or { llm, encoders? }', 'model', value);
  const llm = string(value.llm, 'model.llm');
  const encoders = value.encoders === undefined ? undefined : string(value.encoders, 'model.encoders');
  for (const f of [llm, encoders]) {
    if (f !== undefined && !fs.existsSync(f)) throw new ModelLoadError(`Cannot find the model file ${f}`, { file: f });
  }
  return encoders === undefined ? { llm: regularFile(llm) } : { llm: regularFile(llm), encoders: regularFile(encoders) };
}

/**
 * A model file must be a regular file (symbolic links to one are followed): the core opens and
 * memory-maps it on the model's thread, and a FIFO or a character device would block that open or
 * read forever, out of reach of an AbortSignal.
 */
function regularFile(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ModelLoadError(`Cannot find the model file ${file}`, { file });
  }
  if (!stat.isFile()) throw new ModelLoadError(`The model file ${file} is not a regular file`, { file });
  return file;
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
  const onProgress = optionalFunction<(fraction: number) => unknown>(o.onProgress, 'options.onProgress');
  const logger = optionalFunction<Logger>(o.logger, 'options.logger');
  const threads = optionalInteger(o.threads, 'options.threads', 1, 512, 0);
  const gpuLayers = o.gpuLayers === undefined ? undefined : integer(o.gpuLayers, 'options.gpuLayers', -1, 100000);
  const contextSize = optionalInteger(o.contextSize, 'options.contextSize', 8, 1 << 20, 0);
  const batchSize = optionalInteger(o.batchSize, 'options.batchSize', 1, 8192, 512);
  const kvType = oneOf<KvType>(o.kvType, 'options.kvType', ['f16', 'f32', 'q8_0'], 'f16');
  const flashAttn = oneOf(o.flashAttn, 'options.flashAttn', ['auto', 'on', 'off'] as const, 'auto');
  const towerMatmul = oneOf<TowerMatmul>(o.towerMatmul, 'options.towerMatmul', TOWER_MATMULS, 'auto');
  if (signal?.aborted) throw abortError(signal);
  const loadEncoders = optionalBoolean(o.loadEncoders, 'options.loadEncoders', true);
  const featureCacheBytes = optionalInteger(o.featureCacheBytes, 'options.featureCacheBytes', 0, Number.MAX_SAFE_INTEGER, DEFAULT_FEATURE_CACHE_BYTES);
  // a model name ('groundinggpt-7b[:type]') that is not a path: the model cache (src/pull/index.ts)
  const named = typeof o.model === 'string' && o.model !== '' && !fs.existsSync(o.model) ? await namedModelDir(o.model, { pullIfMissing: o.pull === true, signal }) : undefined;
  const resolved = resolveFiles(named ?? o.model);
  const files: ModelFiles = loadEncoders ? resolved : { llm: resolved.llm };
  if (logger) setLogger(logger);

  const addon = native();
  const { cancel, unlink } = linkCancel(signal);
  // an onProgress whose promise rejects stops the load like one that throws
  const guard = new CallbackGuard();
  guard.onFailure = () => cancel.cancel();
  let nm: NativeModel;
  try {
    nm = await addon.loadModel(
      {
        llm: files.llm,
        ...(files.encoders !== undefined ? { encoders: files.encoders } : {}),
        ...(gpuLayers !== undefined ? { gpuLayers } : {}),
        encodersOnGpu: true,
        useMmap: true,
        towerMatmul,
        contextSize,
        batchSize,
        threads,
        threadsBatch: threads,
        kvType,
        flashAttn,
      },
      cancel,
      guard.wrap(onProgress),
    );
  } catch (err) {
    await guard.settle();
    const code = errorCode(err);
    if (code === 'IO' || code === 'FORMAT' || code === 'UNSUPPORTED') {
      const message = err instanceof Error ? err.message : String(err);
      // the addon names the failing file (the core's ggpt_load_error.file) as `file`
      const named = (err as { file?: unknown }).file;
      const file = typeof named === 'string' && named !== '' ? named : files.llm;
      throw new ModelLoadError(message, { cause: err, file });
    }
    throw mapNativeError(err, signal);
  } finally {
    unlink();
  }
  try {
    await guard.settle();
  } catch (err) {
    await nm.dispose();
    throw err;
  }
  if (signal?.aborted) {
    await nm.dispose();
    throw abortError(signal);
  }
  return new Model(nm, files, featureCacheBytes);
}


// ---- grounding -------------------------------------------------------------------------------------

/** Progress of a grounding call, by stage. `fraction` is the stage's own progress in [0, 1]. */
export interface GroundProgress {
  stage: 'decode' | 'encode' | 'prompt' | 'generate';
  fraction: number;
  /** The media item being decoded or encoded. */
  media?: MediaKind;
}

/** Options of the media decoders, shared by the grounding calls. */
export interface MediaOptions {
  /** Largest accepted image (or video frame) in pixels, width x height. Default 268,402,689 (0x3FFF²); false: no limit. */
  limitInputPixels?: number | false;
  /** ffmpeg to use for video and audio files (default: `FFMPEG_PATH`, then ffmpeg-static, then `ffmpeg` on PATH). */
  ffmpegPath?: string;
  /** ffprobe to use (default: `FFPROBE_PATH`, then next to ffmpeg, then `ffprobe` on PATH); optional: without one, files are probed with ffmpeg alone. */
  ffprobePath?: string;
  /** Frames sampled from a video at most (1-64, default 64 as upstream; the model's tower takes up to 64). */
  maxFrames?: number;
}

/** Options of {@link Model.groundImage}, {@link Model.groundVideo}, {@link Model.groundAudio} and {@link Chat.send}. */
export interface GroundOptions extends GenerateOptions, MediaOptions {
  /** Stage progress (decode, encode, prompt, generate). */
  onProgress?: (progress: GroundProgress) => void;
}

/** Time per stage in milliseconds, and throughput. */
export interface GroundTimings extends Timings {
  /** Decoding the media files (sharp, ffmpeg). */
  decodeMs: number;
  /** Preprocessing in the core before the towers (image pad+resize, audio resampling+fbank). */
  preprocessMs: number;
  /** Running the towers (0 when every item came from the feature cache). */
  encodeMs: number;
  /** Media items whose features came from the cache. */
  cachedMedia: number;
  /** Whole call. */
  totalMs: number;
}

/** Geometry of the image the boxes refer to (docs/COMPUTATION.md §2: the padded square). */
export interface ImageGeometry {
  /** Size of the image as displayed (EXIF orientation applied). */
  width: number;
  height: number;
  /** Side of the padded square, max(width, height). */
  side: number;
  /** Where the image sits in the square: ((side - width) // 2, (side - height) // 2). */
  offsetX: number;
  offsetY: number;
}

/** What a grounding call returns. */
export interface GroundResult {
  /** The model's answer as written (box and span literals included), trimmed. */
  text: string;
  /** The answer with box/span literals removed. */
  answer: string;
  /** Boxes mapped to the image (image and sound-localisation calls; else empty). */
  boxes: GroundedBox[];
  /** Time spans (video calls; else empty). */
  segments: GroundedSpan[];
  /** Generated token ids (stop/EOS token included). */
  tokens: number[];
  stopReason: StopReason;
  timings: GroundTimings;
  /** The untrimmed generated text and the literals that could not be parsed (kept out of boxes/segments). */
  raw: { text: string; malformed: MalformedLiteral[] };
  /**
   * Things done differently from upstream on purpose, e.g. a sound shorter than one fbank window
   * (400 samples at 16 kHz) is padded with zeros where upstream fails (docs/COMPUTATION.md §4.3).
   */
  warnings: string[];
  /** The image the boxes refer to. */
  image?: ImageGeometry;
  /** The video the segments refer to. */
  video?: { duration: number; frameCount: number; fps: number; sampledFrames: number[]; times: number[] };
  /** The sound: duration, rate, channels, and the three clip windows the tower saw. */
  audio?: { duration: number; sampleRate: number; channels: number; clips: { start: number; end: number }[]; padded: boolean };
}

/** Features of one media item as {@link Model.embedImage} & co. return them. */
export interface Embedding {
  /** rows x embeddingSize floats, row-major: the LLM input embeddings that replace the patch tokens. */
  data: Float32Array;
  /** [rows, embeddingSize]: [576, 4096] image, [64, 4096] video, [8, 4096] audio for GroundingGPT-7B. */
  shape: [number, number];
  /** Wall times, ms: decoding and preprocessing the input (`prepareMs`), running the tower (`encodeMs`: 0 when the features came from the feature cache). */
  timings: { prepareMs: number; encodeMs: number };
}

/** Media of a conversation: at most one of each kind, all in the first user turn (docs/COMPUTATION.md §5). */
export interface ChatMedia {
  image?: ImageInput;
  video?: VideoInput;
  audio?: AudioInput;
}

/** Options of {@link Model.createChat}. */
export interface ChatOptions extends ChatMedia, MediaOptions {
  /** Earlier turns to resume a conversation. */
  history?: readonly ChatTurn[];
  /** System text of the template (default: upstream's). */
  system?: string;
}

/** Media decoded once and ready for the towers. */
interface PreparedMedia {
  image?: { decoded: DecodedImage; geometry: ImageGeometry };
  video?: DecodedVideo;
  audio?: { decoded: DecodedAudio; fbank: Float32Array; info: GroundResult['audio'] & object; hash: string };
  decodeMs: number;
  preprocessMs: number;
}

const GROUND_KINDS: readonly MediaKind[] = ['image', 'video', 'audio'];


/** Validates the media-decoding options. */
function parseMediaOptions(o: Record<string, unknown>): MediaOptions {
  const out: MediaOptions = {};
  if (o.limitInputPixels !== undefined) {
    if (o.limitInputPixels !== false) integer(o.limitInputPixels, 'options.limitInputPixels', 1, Number.MAX_SAFE_INTEGER);
    out.limitInputPixels = o.limitInputPixels as number | false;
  }
  if (o.ffmpegPath !== undefined) out.ffmpegPath = string(o.ffmpegPath, 'options.ffmpegPath');
  if (o.ffprobePath !== undefined) out.ffprobePath = string(o.ffprobePath, 'options.ffprobePath');
  if (o.maxFrames !== undefined) out.maxFrames = integer(o.maxFrames, 'options.maxFrames', 1, 64);
  return out;
}

const now = () => performance.now();

// ---- Model -----------------------------------------------------------------------------------------

const MAX_STOP = 16;
/** Most token ids detokenize() takes in one call. */
const MAX_TOKENS = 1 << 24;

interface ParsedGenerate {
  user: string;
  native: Parameters<NativeModel['generate']>[0];
  system?: string;
  history: ChatTurn[];
  onToken?: (piece: string, token: number) => void;
  onPromptProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** The call's user callbacks: a promise one returns that rejects fails the call like a throw. */
  guard: CallbackGuard;
}

const IMAGE_ARG = 'a file path, Buffer/Uint8Array, sharp instance or raw { data, width, height, channels }';
const VIDEO_ARG = 'a video file path or { frames, fps?, duration? }';
const AUDIO_ARG = 'a file path, Buffer/Uint8Array or { samples, sampleRate }';

/** A media argument a call cannot do without: undefined or null is an InvalidInputError (not a text-only call). */
function requiredMedia<T>(value: T, what: string, name: string): T {
  if (value === undefined || value === null) throw invalid(what, name, value);
  return value;
}

/** A loaded GroundingGPT model with its context (KV cache). Create with {@link loadModel}. */
export class Model {
  readonly #native: NativeModel;
  readonly #queue = new SerialQueue();
  readonly #info: NativeModelInfo;
  #disposed = false;
  #disposing: Promise<void> | undefined;
  #running: NativeCancel | undefined;
  readonly #cache: FeatureCache;
  /** Aborted by dispose(): stops the media decoding (ffmpeg children) of calls in flight. */
  readonly #disposeAc = new AbortController();

  /** The files the model was loaded from. */
  readonly files: Readonly<ModelFiles>;

  /** @internal use {@link loadModel} */
  constructor(nativeModel: NativeModel, files: ModelFiles, featureCacheBytes = DEFAULT_FEATURE_CACHE_BYTES) {
    this.#native = nativeModel;
    this.#info = nativeModel.info() as NativeModelInfo;
    this.files = Object.freeze({ ...files });
    this.#cache = new FeatureCache(featureCacheBytes);
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
   * Asks about an image: boxes `[x1, y1, x2, y2]` in the answer are mapped to pixels of the
   * original image (as displayed: EXIF orientation applied).
   *
   * ```ts
   * const r = await model.groundImage('photo.jpg', 'Where is the dog? Answer with [x1, y1, x2, y2].');
   * for (const b of r.boxes) console.log(b.phrase, b.box);
   * ```
   *
   * @param image - a path, the bytes of an encoded file, a sharp instance, or raw pixels
   *   `{ data, width, height, channels }`
   * @param prompt - the user's turn, verbatim
   * @throws InvalidInputError for a bad image or options, AbortError, DisposedError
   */
  async groundImage(image: ImageInput, prompt: string, options?: GroundOptions): Promise<GroundResult> {
    return this.#ground({ image: requiredMedia(image, IMAGE_ARG, 'image') }, prompt, options);
  }

  /**
   * Asks about a video (64 frames sampled as upstream): `{s, e}` spans in the answer become
   * segments in seconds.
   *
   * @param video - a path, or raw frames `{ frames: [{ data, width, height, channels }], fps?, duration? }`
   * @throws InvalidInputError, FFmpegNotFoundError (a file and no ffmpeg), AbortError, DisposedError
   */
  async groundVideo(video: VideoInput, prompt: string, options?: GroundOptions): Promise<GroundResult> {
    return this.#ground({ video: requiredMedia(video, VIDEO_ARG, 'video') }, prompt, options);
  }

  /**
   * Asks about a sound. With `options.image` it localises the source: the prompt holds the sound
   * block then the image block (docs/COMPUTATION.md §5) and the result carries boxes mapped to that image
   * exactly like {@link groundImage}.
   *
   * @param audio - a path, the bytes of an encoded file, or raw PCM `{ samples, sampleRate }`
   * @throws InvalidInputError, FFmpegNotFoundError, AbortError, DisposedError
   */
  async groundAudio(audio: AudioInput, prompt: string, options?: GroundOptions & { image?: ImageInput }): Promise<GroundResult> {
    requiredMedia(audio, AUDIO_ARG, 'audio');
    const o = optionsObject(options);
    const media: ChatMedia = o.image === undefined ? { audio } : { audio, image: requiredMedia(o.image, IMAGE_ARG, 'options.image') as ImageInput };
    return this.#ground(media, prompt, options);
  }

  /** Projected image features ([576, embeddingSize] for GroundingGPT-7B): what replaces the `<im_patch>` tokens. */
  async embedImage(image: ImageInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#embed('image', { image: requiredMedia(image, IMAGE_ARG, 'image') }, options);
  }

  /** Projected video features ([64, embeddingSize]). */
  async embedVideo(video: VideoInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#embed('video', { video: requiredMedia(video, VIDEO_ARG, 'video') }, options);
  }

  /** Projected sound features ([8, embeddingSize]). */
  async embedAudio(audio: AudioInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#embed('audio', { audio: requiredMedia(audio, AUDIO_ARG, 'audio') }, options);
  }

  /**
   * A multi-turn conversation about optional media (decoded once, encoded once; the KV cache
   * keeps earlier turns). `history` resumes a conversation.
   *
   * ```ts
   * const chat = model.createChat({ image: 'street.jpg' });
   * const a = await chat.send('What is in this picture?');
   * const b = await chat.send('Where is the red car? Answer with [x1, y1, x2, y2].');
   * ```
   */
  createChat(options?: ChatOptions): Chat {
    this.#alive();
    const o = optionsObject(options);
    const media: ChatMedia = {};
    const args = { image: IMAGE_ARG, video: VIDEO_ARG, audio: AUDIO_ARG };
    // an option given as undefined is absent; null is not a medium
    for (const k of GROUND_KINDS) if (o[k] !== undefined) (media as Record<string, unknown>)[k] = requiredMedia(o[k], args[k], `options.${k}`);
    const conv = this.#parseConversation(o);
    const mediaOptions = parseMediaOptions(o);
    for (const k of GROUND_KINDS) if (media[k] !== undefined) this.#requireTower(k);
    return new Chat(this, media, mediaOptions, conv.history, conv.system);
  }

  /** @internal one turn of a {@link Chat}: media decoded once (prepared), history given. */
  [kChatTurn](
    media: ChatMedia,
    prepared: () => Promise<PreparedMedia>,
    text: string,
    options: GroundOptions | undefined,
    history: readonly ChatTurn[],
    system: string | undefined,
  ): Promise<GroundResult> {
    const o = { ...optionsObject(options), history, ...(system !== undefined ? { system } : {}) };
    return this.#ground(media, text, o, prepared);
  }

  /** @internal decodes chat media once. */
  async [kPrepare](media: ChatMedia, options: MediaOptions, signal?: AbortSignal, onProgress?: (p: GroundProgress) => void): Promise<PreparedMedia> {
    const guard = new CallbackGuard();
    const prep = await this.#prepareGuarded(media, options, signal, guard.wrap(onProgress), guard);
    await guard.settle();
    return prep;
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
    // media decoding runs outside the queue: its ffmpeg children are killed now
    this.#disposeAc.abort();
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
    if (list.length > MAX_TOKENS) throw invalid(`an array of at most ${MAX_TOKENS} token ids`, name, tokens);
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
      // index loops here and for options.stop: a sparse array's holes are reported, not skipped
      for (let i = 0; i < o.history.length; i++) {
        const turn: unknown = o.history[i];
        if (!isPlainObject(turn)) throw invalid('an object { user, assistant }', `options.history[${i}]`, turn);
        history.push({
          user: checkUserText(turn.user, `options.history[${i}].user`),
          assistant: checkUserText(turn.assistant, `options.history[${i}].assistant`),
        });
      }
    }
    return system === undefined ? { history } : { system, history };
  }

  #parseGenerate(text: unknown, options: unknown): ParsedGenerate {
    this.#alive();
    const user = checkUserText(text, 'text');
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const guard = new CallbackGuard();
    const onToken = guard.wrap(optionalFunction<(piece: string, token: number) => unknown>(o.onToken, 'options.onToken'));
    const onPromptProgress = guard.wrap(optionalFunction<(fraction: number) => unknown>(o.onPromptProgress, 'options.onPromptProgress'));
    let stop: string[] = [SEPARATOR];
    if (o.stop !== undefined) {
      if (!Array.isArray(o.stop) || o.stop.length > MAX_STOP) throw invalid(`an array of at most ${MAX_STOP} strings`, 'options.stop', o.stop);
      const stops: unknown[] = o.stop;
      stop = [];
      for (let i = 0; i < stops.length; i++) stop.push(string(stops[i], `options.stop[${i}]`));
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
      guard,
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
    return this.#task(parsed.signal, async (cancel) => (await this.#evaluate(parsed, cancel, onToken)).result, onStart, parsed.guard);
  }

  /**
   * Runs `body` as one queued task with a native cancel flag linked to `signal`; maps native
   * errors to the typed ones.
   */
  #task<T>(
    signal: AbortSignal | undefined,
    body: (cancel: NativeCancel) => Promise<T>,
    onStart?: (cancel: NativeCancel) => void,
    guard?: CallbackGuard,
  ): Promise<T> {
    return this.#queue.run(
      async () => {
        if (this.#disposed) throw new DisposedError();
        const { cancel, unlink } = linkCancel(signal);
        this.#running = cancel;
        // a callback whose promise rejects stops the work like one that throws
        if (guard) guard.onFailure = () => cancel.cancel();
        onStart?.(cancel);
        try {
          guard?.check();
          const out = await body(cancel);
          await guard?.settle();
          return out;
        } catch (err) {
          if (this.#disposed) throw new DisposedError();
          await guard?.settle();
          if (signal?.aborted && (errorCode(err) === 'ABORTED' || err instanceof AbortError)) throw abortError(signal);
          throw mapNativeError(err, signal);
        } finally {
          if (guard) guard.onFailure = undefined;
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
    features: readonly MediaFeatures[] = [],
  ): Promise<{ result: GenerateResult; raw: string }> {
    const { signal } = parsed;
    const text = promptText({
      system: parsed.system,
      history: parsed.history,
      user: parsed.user,
      media: features.map((f) => f.kind),
      mediaRows: this.#mediaRows(),
    });
    const spans = this.#spansFor(text, features);
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
    const result: GenerateResult = {
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
    return { result, raw: gen.text };
  }

  /** Native spans of a prompt: token runs, and the feature rows of each media placeholder. */
  #spansFor(text: string, features: readonly MediaFeatures[] = []): NativeSpan[] {
    const ids = this.#native.tokenize(text, true, true);
    const t = this.#info.mediaTokens;
    const planned: PlannedSpan[] = planSpans(ids, { image: t[0][0], video: t[1][0], audio: t[2][0] });
    return planned.map((s) => {
      if (!('media' in s)) return { tokens: s.tokens };
      const f = features.find((x) => x.kind === s.media);
      if (!f) throw new InvalidInputError(`This prompt needs ${s.media} features, which this call does not have`);
      if (f.rows !== s.rows) throw new InvalidInputError(`The ${s.media} block has ${s.rows} placeholders but the tower gave ${f.rows} rows`);
      return { embd: f.data, rows: f.rows, id: f.id };
    });
  }

  #requireTower(kind: MediaKind): void {
    const m = GROUND_KINDS.indexOf(kind);
    if (!this.#info.hasMedia[m]) {
      throw new InvalidInputError(
        this.files.encoders === undefined
          ? `This model was loaded without encoders.gguf, so it cannot take ${kind} input`
          : `${this.files.encoders} has no ${kind} tower`,
      );
    }
  }

  /**
   * Decodes (and, for sound, preprocesses) the media of a call; no native model work. dispose()
   * aborts it (ffmpeg children killed) and it rejects with DisposedError.
   */
  async #prepare(media: ChatMedia, options: MediaOptions, userSignal?: AbortSignal, onProgress?: (p: GroundProgress) => void): Promise<PreparedMedia> {
    this.#alive();
    const linked = anySignal(userSignal, this.#disposeAc.signal);
    try {
      return await this.#decodeMedia(media, options, linked.signal, userSignal, onProgress);
    } catch (err) {
      if (this.#disposed) throw new DisposedError();
      throw err;
    } finally {
      linked.unlink();
    }
  }

  /** {@link #prepare} where a callback's rejection (in `guard`) stops the decoding and is the error. */
  async #prepareGuarded(
    media: ChatMedia,
    options: MediaOptions,
    signal: AbortSignal | undefined,
    onProgress: ((p: GroundProgress) => void) | undefined,
    guard: CallbackGuard,
  ): Promise<PreparedMedia> {
    const stop = new AbortController();
    guard.onFailure = () => stop.abort();
    const linked = anySignal(signal, stop.signal);
    try {
      return await this.#prepare(media, options, linked.signal, onProgress);
    } catch (err) {
      await guard.settle();
      throw err;
    } finally {
      guard.onFailure = undefined;
      linked.unlink();
    }
  }

  async #decodeMedia(
    media: ChatMedia,
    options: MediaOptions,
    signal: AbortSignal,
    userSignal: AbortSignal | undefined,
    onProgress?: (p: GroundProgress) => void,
  ): Promise<PreparedMedia> {
    const t0 = now();
    const out: PreparedMedia = { decodeMs: 0, preprocessMs: 0 };
    const check = () => {
      this.#alive();
      if (signal.aborted) throw abortError(userSignal);
    };
    check();
    if (media.audio !== undefined) {
      onProgress?.({ stage: 'decode', fraction: 0, media: 'audio' });
      const decodeOptions: DecodeAudioOptions = { signal };
      if (options.ffmpegPath) decodeOptions.ffmpegPath = options.ffmpegPath;
      if (options.ffprobePath) decodeOptions.ffprobePath = options.ffprobePath;
      const decoded = await decodeAudio(media.audio, decodeOptions);
      check();
      const tp = now();
      const pre = await native().audioPreprocess(decoded.channels, decoded.sampleRate, false);
      out.preprocessMs += now() - tp;
      const info = {
        duration: decoded.duration,
        sampleRate: decoded.sampleRate,
        channels: decoded.channels.length,
        // the window each clip covers, cut at the end of the sound (a 1 s sound: three clips of 0-1 s)
        clips: pre.info.clips.map((c) => ({ start: c.start, end: Math.min(c.end, decoded.duration) })),
        padded: pre.info.padded,
      };
      out.audio = { decoded, fbank: pre.fbank, info, hash: contentHash('audio', [pre.info.clips.length], [pre.fbank]) };
      onProgress?.({ stage: 'decode', fraction: 1, media: 'audio' });
    }
    if (media.video !== undefined) {
      onProgress?.({ stage: 'decode', fraction: 0, media: 'video' });
      out.video = await decodeVideo(media.video, {
        size: this.#info.videoFrameSize,
        maxFrames: Math.min(options.maxFrames ?? this.#info.videoMaxFrames, this.#info.videoMaxFrames),
        ...(options.limitInputPixels !== undefined ? { limitInputPixels: options.limitInputPixels } : {}),
        ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
        ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
        signal,
        ...(onProgress ? { onProgress: (p) => onProgress({ stage: 'decode', media: 'video', fraction: p.total > 0 ? p.done / p.total : 1 }) } : {}),
      });
      check();
    }
    if (media.image !== undefined) {
      onProgress?.({ stage: 'decode', fraction: 0, media: 'image' });
      // files larger than the tower needs are reduced while decoding (docs/MEDIA.md, "Images")
      const decoded = await decodeImage(media.image, {
        maxSide: TOWER_DECODE_MAX_SIDE,
        ...(options.limitInputPixels !== undefined ? { limitInputPixels: options.limitInputPixels } : {}),
      });
      check();
      // boxes refer to the image as displayed, whatever size of it the tower gets
      const width = decoded.reducedFrom?.width ?? decoded.width;
      const height = decoded.reducedFrom?.height ?? decoded.height;
      const sq = paddedSquare(width, height);
      out.image = { decoded, geometry: { width, height, side: sq.side, offsetX: sq.offsetX, offsetY: sq.offsetY } };
      onProgress?.({ stage: 'decode', fraction: 1, media: 'image' });
    }
    out.decodeMs = now() - t0 - out.preprocessMs;
    return out;
  }

  /** Features of every prepared item (cache first, then the towers), in the queue. */
  async #encodeAll(
    prep: PreparedMedia,
    cancel: NativeCancel,
    onProgress?: (p: GroundProgress) => void,
  ): Promise<{ features: MediaFeatures[]; encodeMs: number; preprocessMs: number; cached: number }> {
    const features: MediaFeatures[] = [];
    let encodeMs = 0;
    let preprocessMs = 0;
    let cached = 0;
    const width = this.#info.nEmbd;
    const rowsOf = (kind: MediaKind) => this.#info.mediaRows[GROUND_KINDS.indexOf(kind)];
    for (const kind of GROUND_KINDS) {
      let hash: string;
      let run: () => Promise<Float32Array>;
      const progress = onProgress ? (fraction: number) => onProgress({ stage: 'encode', media: kind, fraction }) : undefined;
      if (kind === 'image' && prep.image) {
        const d = prep.image.decoded;
        hash = contentHash('image', [d.width, d.height], [d.data]);
        run = () => this.#native.encodeImage(d.data, d.width, d.height, d.width * 3, cancel, progress);
      } else if (kind === 'video' && prep.video) {
        const v = prep.video;
        hash = contentHash('video', [v.frames.length, v.size], v.frames);
        run = () => this.#native.encodeVideo(v.frames, cancel, progress);
      } else if (kind === 'audio' && prep.audio) {
        const a = prep.audio;
        hash = a.hash;
        run = () => this.#native.encodeAudio(a.fbank, a.info.clips.length, cancel, progress);
      } else {
        continue;
      }
      let f = this.#cache.get(hash);
      if (f) {
        cached++;
      } else {
        const data = await run();
        const spent = this.#native.lastEncodeTimings();
        encodeMs += spent.towerMs;
        preprocessMs += spent.preprocessMs;
        f = { kind, data, rows: rowsOf(kind), width, hash, id: idFromHash(hash) };
        if (data.length !== f.rows * width) throw new NativeError('internal', `${kind} tower returned ${data.length} floats, expected ${f.rows * width}`);
        this.#cache.set(f);
      }
      features.push(f);
    }
    return { features, encodeMs, preprocessMs, cached };
  }

  /** groundImage / groundVideo / groundAudio / chat turns. */
  async #ground(media: ChatMedia, text: unknown, options: unknown, prepared?: () => Promise<PreparedMedia>): Promise<GroundResult> {
    const t0 = now();
    const parsed = this.#parseGenerate(text, options);
    const o = optionsObject(options);
    const mediaOptions = parseMediaOptions(o);
    const onProgress = parsed.guard.wrap(optionalFunction<(p: GroundProgress) => unknown>(o.onProgress, 'options.onProgress'));
    for (const k of GROUND_KINDS) if (media[k] !== undefined) this.#requireTower(k);
    const { signal } = parsed;
    const prep = prepared ? await prepared() : await this.#prepareGuarded(media, mediaOptions, signal, onProgress, parsed.guard);
    if (onProgress) {
      const user = parsed.onPromptProgress;
      parsed.onPromptProgress = (fraction) => {
        user?.(fraction);
        onProgress({ stage: 'prompt', fraction });
      };
    }
    const { result, raw, encodeMs, preprocessMs, cached } = await this.#task(signal, async (cancel) => {
      const enc = await this.#encodeAll(prep, cancel, onProgress);
      onProgress?.({ stage: 'prompt', fraction: 0 });
      const userOnToken = parsed.onToken;
      let n = 0;
      const onToken =
        onProgress || userOnToken
          ? (piece: string, token: number) => {
              userOnToken?.(piece, token);
              if (onProgress && n++ === 0) onProgress({ stage: 'generate', fraction: 0 });
            }
          : undefined;
      const r = await this.#evaluate(parsed, cancel, onToken, enc.features);
      onProgress?.({ stage: 'generate', fraction: 1 });
      return { ...r, encodeMs: enc.encodeMs, preprocessMs: enc.preprocessMs, cached: enc.cached };
    }, undefined, parsed.guard);

    let answer = result.text;
    const malformed: MalformedLiteral[] = [];
    let boxes: GroundedBox[] = [];
    let segments: GroundedSpan[] = [];
    if (prep.image) {
      const b = parseBoxes(answer, { width: prep.image.geometry.width, height: prep.image.geometry.height });
      answer = b.answer;
      boxes = b.boxes;
      malformed.push(...b.malformed);
    }
    if (prep.video) {
      const sp = parseSpans(answer, prep.video.duration);
      answer = sp.answer;
      segments = sp.segments;
      malformed.push(...sp.malformed);
    }
    const out: GroundResult = {
      text: result.text,
      answer,
      boxes,
      segments,
      tokens: result.tokens,
      stopReason: result.stopReason,
      timings: {
        ...result.timings,
        decodeMs: prep.decodeMs,
        preprocessMs: prep.preprocessMs + preprocessMs,
        encodeMs,
        cachedMedia: cached,
        totalMs: now() - t0,
      },
      raw: { text: raw, malformed },
      warnings: prep.audio?.info.padded
        ? ['The sound is shorter than one fbank window (25 ms at 16 kHz): its clips were padded with zeros']
        : [],
    };
    if (prep.image) out.image = { ...prep.image.geometry };
    if (prep.video) {
      const v = prep.video;
      out.video = { duration: v.duration, frameCount: v.frameCount, fps: v.fps, sampledFrames: [...v.indices], times: [...v.times] };
    }
    if (prep.audio) out.audio = { ...prep.audio.info, clips: prep.audio.info.clips.map((c) => ({ ...c })) };
    return out;
  }

  /** embedImage / embedVideo / embedAudio. */
  async #embed(kind: MediaKind, media: ChatMedia, options: unknown): Promise<Embedding> {
    this.#alive();
    this.#requireTower(kind);
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const t0 = now();
    const prep = await this.#prepare(media, parseMediaOptions(o), signal);
    const t1 = now();
    const { features, encodeMs, preprocessMs } = await this.#task(signal, (cancel) => this.#encodeAll(prep, cancel));
    const f = features[0];
    // a copy: the cache keeps its own
    return { data: f.data.slice(), shape: [f.rows, f.width], timings: { prepareMs: t1 - t0 + preprocessMs, encodeMs } };
  }

}
