/**
 * Loads the native addon (build/Release or prebuilds/<platform>-<arch>, through node-gyp-build)
 * and describes its raw interface. Only src/ talks to the addon; users see the typed API.
 *
 * Conventions of the raw interface (native/addon/):
 * - Blocking work returns a Promise; it runs on the model's own native thread and is settled
 *   back on the JS thread (the event loop keeps turning). Ending the environment (a Worker's
 *   terminate() or end, process.exit()) cancels a running operation and frees the models; the
 *   Promise then never settles (docs/RELIABILITY.md, "Environment teardown").
 * - Long operations take a `NativeCancel` (from `createCancel()`) polled between batches,
 *   tokens and graph nodes; a cancelled operation rejects with an error whose `code` is
 *   'ABORTED'.
 * - Native failures reject/throw an Error with `code` = the core's status name upper-cased
 *   ('INVALID_ARGUMENT', 'IO', 'FORMAT', 'UNSUPPORTED', 'ABORTED', 'CONTEXT_FULL',
 *   'OUT_OF_MEMORY', 'BACKEND', 'INTERNAL', 'REMOTE') and the core's message.
 * - Callbacks (progress, tokens, logs) arrive through thread-safe functions that never keep the
 *   process alive.
 * - One operation at a time per NativeModel: src/ queues calls; the addon rejects overlaps with
 *   code 'BUSY' as a safety net.
 */
import path from 'node:path';
import { AddonLoadError } from './errors';
import type { TowerMatmul } from './types';

/** Status codes of the core (ggpt_status), as error `code`s. */
export type NativeStatus =
  | 'INVALID_ARGUMENT'
  | 'IO'
  | 'FORMAT'
  | 'UNSUPPORTED'
  | 'ABORTED'
  | 'CONTEXT_FULL'
  | 'OUT_OF_MEMORY'
  | 'BACKEND'
  | 'INTERNAL'
  | 'REMOTE'
  | 'BUSY'
  | 'DISPOSED';

/** Cancellation flag shared with a running native operation. */
export interface NativeCancel {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeLoadOptions {
  llm: string;
  encoders?: string;
  /** Default: all layers when the build has a GPU backend, else 0. */
  gpuLayers?: number;
  encodersOnGpu: boolean;
  useMmap: boolean;
  /** The towers' CPU Linear layers (see LoadModelOptions.towerMatmul). Default 'auto'. */
  towerMatmul?: TowerMatmul;
  /** RPC servers 'host:port' (README "Several machines (RPC)"). */
  rpc?: string[];
  tensorSplit?: number[];
  /** Index of the RPC device the towers run on; -1 (default): local. */
  towerRpcDevice?: number;
  rpcTimeoutMs?: number;
  contextSize: number;
  batchSize: number;
  parallel?: number;
  threads: number;
  threadsBatch: number;
  kvType: 'f16' | 'f32' | 'q8_0';
  flashAttn: 'auto' | 'on' | 'off';
  /** Towers read at load: bit 1 << media kind (image 0, video 1, audio 2); default 0 (on demand). */
  towers?: number;
}

/** Memory a model and its context hold, in bytes (docs/ARCHITECTURE.md "Towers on demand"). */
export interface NativeMemory {
  llmWeights: number;
  /** [image, video, audio]: resident weights (0 when not loaded), AMX copies included. */
  towers: [number, number, number];
  kvCache: number;
  llmCompute: number;
  towerCompute: number;
  /** Of these, the bytes on a non-host device (GPU, RPC). */
  device: number;
}

export interface NativeModelInfo {
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nCtxTrain: number;
  nCtx: number;
  /** Sequences the context holds (parallel). */
  nSeq: number;
  /** Bytes of the context's KV cache. */
  kvBytes: number;
  tokenBos: number;
  tokenEos: number;
  /** [image, video, audio] x [patch, start, end] token ids */
  mediaTokens: [number, number, number][];
  /** feature rows per item: [image, video, audio] */
  mediaRows: [number, number, number];
  hasMedia: [boolean, boolean, boolean];
  llmParams: number;
  llmBytes: number;
  encodersParams: number;
  encodersBytes: number;
  llmDescription: string;
  backend: string;
  imageSize: number;
  videoFrameSize: number;
  videoMaxFrames: number;
  audioSampleRate: number;
  audioClips: number;
  audioClipSeconds: number;
  devices: { name: string; description: string; layerBegin: number; layerEnd: number; output: boolean }[];
  towerDevice: string;
}

/** A prompt span: tokens, or rows of LLM input embeddings (a copy, or native features) with an identity for cache reuse. */
export type NativeSpan = { tokens: Int32Array } | { embd: Float32Array; rows: number; id: bigint } | { features: NativeFeatures; id?: bigint };

/**
 * A tower's output kept in native memory (native/addon/features.h). Freed by release() or when
 * the handle is garbage-collected; an operation that uses it keeps it until it ends.
 */
export interface NativeFeatures {
  /** undefined once released */
  readonly kind: 'image' | 'video' | 'audio' | undefined;
  readonly rows: number;
  readonly width: number;
  /** rows x width x 4 (0 once released) */
  readonly bytes: number;
  readonly released: boolean;
  /** A copy of the rows (throws INVALID_ARGUMENT once released). */
  data(): Float32Array;
  release(): void;
}

/** One media item of a turn: an input for its tower, or features encoded before. */
export type NativeMediaInput =
  | { kind: 'image'; rgb: Uint8Array; width: number; height: number; stride: number }
  | { kind: 'video'; frames: Uint8Array[] }
  | { kind: 'audio'; fbank: Float32Array; clips: number }
  /** PCM: preprocessed (resampling, clips, fbank) in the same operation, before the tower */
  | { kind: 'audio'; channels: Float32Array[]; sampleRate: number }
  | { features: NativeFeatures }
  /** Rows of media kind `held` (0 image, 1 video, 2 audio) that the snapshot in plan.restore holds. */
  | { held: number };

/** A span of a turn's prompt: tokens, or the rows of `media[i]` (id: their KV-cache identity). */
export type NativeTurnSpan = { tokens: Int32Array } | { media: number; id?: bigint };

/** One request as one native operation (native/addon/turn.cpp): towers, prompt, generation. */
export interface NativeTurnPlan {
  media?: NativeMediaInput[];
  /** Empty or absent: no prompt (towers only). */
  spans?: NativeTurnSpan[];
  /** Absent: no generation. */
  generate?: NativeGenerateOptions;
  /** A snapshot (ggpt_seq_snapshot bytes) to restore into the sequence first, and the positions it keeps. */
  restore?: Uint8Array;
  restoreKeep?: number;
  /** After a successful answer, a snapshot of the sequence's first `snapshot` positions comes back as `state`. */
  snapshot?: number;
}

export interface NativeTurnResult {
  /** Per media item: the features when this turn encoded them, and the time spent, ms. */
  media: { features?: NativeFeatures; preprocessMs: number; towerMs: number; audio?: NativeAudioInfo }[];
  prompt?: NativeEvalResult;
  generate?: NativeGenerateResult;
  /** plan.restore was restored (false: the sequence held it already, or there was none). */
  restored: boolean;
  /** The snapshot plan.snapshot asked for. */
  state?: Uint8Array;
}

/** Event tags of a turn's onEvent after the media indexes (0-15: a media item's tower progress). */
export const TURN_PROMPT = 16;
export const TURN_TOKEN = 17;
/** TURN_TOWER_LOAD + i: reading the weights of the tower media[i] needs (its first use). */
export const TURN_TOWER_LOAD = 32;

export interface NativeEvalResult {
  nPrompt: number;
  nReused: number;
  nEvaluated: number;
  ms: number;
}

/** Generation parameters; an absent field takes the core's default (ggpt_generate_default_params). */
export interface NativeGenerateOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  seed?: number;
  stop?: string[];
  stopAtEos?: boolean;
}

export type NativeStopReason = 'eos' | 'stop' | 'max_tokens' | 'aborted' | 'context_full';

export interface NativeGenerateResult {
  tokens: Int32Array;
  text: string;
  stopReason: NativeStopReason;
  ms: number;
}

export interface NativeImageGeometry {
  width: number;
  height: number;
  side: number;
  offsetX: number;
  offsetY: number;
}

export interface NativeAudioInfo {
  /** Samples per channel after resampling to 16 kHz. */
  samples16k: number;
  /** samples16k / 16000, seconds. */
  duration: number;
  /** The clips in order: [sampleStart, sampleEnd) at 16 kHz (cut at the end), start/end in seconds. */
  clips: { sampleStart: number; sampleEnd: number; start: number; end: number }[];
  /** A clip was shorter than one 400-sample fbank window and was zero-padded (warn the user). */
  padded: boolean;
}

/** A loaded model with its context (KV cache). */
export interface NativeModel {
  info(): NativeModelInfo;
  /** null while usable; why not, once a connection to one of its RPC servers failed. */
  unusable(): string | null;
  tokenize(text: string, addBos: boolean, parseMedia: boolean): Int32Array;
  detokenize(tokens: Int32Array, stripLeadingSpace: boolean): string;
  tokenToPiece(token: number): Buffer;
  /** Makes the context hold exactly these spans (prefix reuse) and computes the last logits. */
  prompt(spans: NativeSpan[], cancel: NativeCancel, onProgress?: (fraction: number) => void): Promise<NativeEvalResult>;
  /** Logits of the last evaluated position (copy). */
  logits(): Float32Array;
  /** Input embeddings (token_embd rows) of tokens: tokens.length * nEmbd floats. */
  tokenEmbeddings(tokens: Int32Array): Float32Array;
  /**
   * Samples after the current sequence. A cancel resolves (not rejects) with stopReason
   * 'aborted' and the partial result; a throwing onToken rejects with its error.
   */
  generate(options: NativeGenerateOptions, cancel: NativeCancel, onToken?: (token: number, text: string) => void): Promise<NativeGenerateResult>;
  nPast(): number;
  clear(): void;
  /** RGB8 image of any size -> projected features (rows x nEmbd). */
  encodeImage(rgb: Uint8Array, width: number, height: number, stride: number, cancel: NativeCancel, onProgress?: (f: number) => void): Promise<Float32Array>;
  /** Sampled frames, each side x side RGB8 -> projected features. */
  encodeVideo(frames: Uint8Array[], cancel: NativeCancel, onProgress?: (f: number) => void): Promise<Float32Array>;
  /** fbank (clips x mels x frames) -> projected features. */
  encodeAudio(fbank: Float32Array, clips: number, cancel: NativeCancel, onProgress?: (f: number) => void): Promise<Float32Array>;
  /**
   * One request as one operation: encodes the media items that are inputs, evaluates the spans,
   * generates. Up to nSeq turns run at once (decoded together); one more rejects with BUSY. onEvent gets every progress and token in order: (i, fraction) for media[i] in its
   * tower, (TURN_TOWER_LOAD + i, fraction) while that tower's weights are read (first use),
   * (TURN_PROMPT, fraction), (TURN_TOKEN, token, piece). A cancel during the towers or the
   * prompt rejects with ABORTED; during generation it resolves with stopReason 'aborted'.
   */
  turn(plan: NativeTurnPlan, cancel: NativeCancel, onEvent?: (tag: number, value: number, piece?: string) => void): Promise<NativeTurnResult>;
  /**
   * What the model did (tests, measurements): operations started, feature sets made by the towers
   * and their bytes; decode steps, steps shared by two or more turns, the most turns in one step.
   */
  counters(): { operations: number; features: number; featureBytes: number; steps: number; sharedSteps: number; maxRunning: number };
  /** A named intermediate of a tower (tests, research). Input as for encode*. */
  probe(
    media: 'image' | 'video' | 'audio',
    input: { rgb: Uint8Array; width: number; height: number; stride: number } | { frames: Uint8Array[] } | { fbank: Float32Array; clips: number },
    name: string,
    cancel: NativeCancel,
  ): Promise<{ data: Float32Array; shape: number[] }>;
  /** Reads the towers of `mask` (bit 1 << media kind) now; a turn without a prompt (one sequence while it runs). */
  loadTowers(mask: number, cancel: NativeCancel, onProgress?: (fraction: number) => void): Promise<void>;
  /** Frees the towers of `mask` and the towers' compute buffers; they are read again when next needed. */
  releaseTowers(mask: number): Promise<void>;
  /** The towers whose weights are resident: bit 1 << media kind. */
  towersResident(): number;
  memory(): NativeMemory;
  /** Frees the model; resolves once any running operation has finished (cancel it first). */
  dispose(): Promise<void>;
}

/** Raw functions of the addon. */
export interface NativeAddon {
  systemInfo(): string;
  /** Log sink for core/ggml/libllama lines (null: silent). level 0 debug .. 3 error. */
  setLogger(fn: ((level: number, text: string) => void) | null, minLevel: number): void;
  createCancel(): NativeCancel;
  loadModel(options: NativeLoadOptions, cancel: NativeCancel, onProgress?: (fraction: number) => void): Promise<NativeModel>;

  /**
   * docs/COMPUTATION.md §2 steps 2-4, synchronous: pads `rgb` (RGB8, `stride` bytes per row) to the square with the
   * CLIP-mean colour, resizes it like Pillow's bicubic, normalises. `resized` is HWC bytes
   * (size x size x 3), `pixels` CHW floats. `params` default to the released model's (336, CLIP
   * mean/std). Throws code 'INVALID_ARGUMENT' on bad arguments.
   */
  imagePreprocess(
    rgb: Uint8Array,
    width: number,
    height: number,
    stride: number,
    params?: { size: number; mean: number[]; std: number[] },
  ): { resized: Uint8Array; pixels: Float32Array; geometry: NativeImageGeometry };
  /**
   * docs/COMPUTATION.md §4 steps 1-4 on the worker pool: `channels` (1-8, equal lengths, finite samples) at
   * `sampleRate` (1000-768000 Hz) -> `fbank` [clips=3][mels=128][frames=204] and, when `wantWave`,
   * the 16 kHz signal per channel before the clip mean subtraction. Argument errors throw
   * synchronously, bad samples (NaN/Inf) reject; both with code 'INVALID_ARGUMENT'. The input
   * arrays must not be transferred or detached while the promise is pending.
   */
  audioPreprocess(
    channels: Float32Array[],
    sampleRate: number,
    wantWave: boolean,
  ): Promise<{ fbank: Float32Array; wave16k?: Float32Array[]; info: NativeAudioInfo }>;

  /** libllama's quantiser over a GGUF file (the caller renames the output into place). */
  quantizeLlm(inPath: string, outPath: string, ftype: 'f32' | 'f16' | 'q8_0' | 'q4_k_m', threads: number): Promise<void>;
  /** Bytes of one row of n values in a ggml type (-1 when the type cannot hold it). */
  rowSize(ggmlType: number, nPerRow: number): number;
  /** Rows of floats -> ggml type bytes. */
  quantizeRows(ggmlType: number, data: Float32Array, nRows: number, nPerRow: number): Buffer;

  /** The C++ GGUF name table (native/src/names.h), for the converter's consistency test. */
  ggufNames(): Record<string, string | number>;
}

let cached: NativeAddon | undefined;

/** Package root (the folder that holds package.json), from lib/ or src/. */
export const packageRoot = path.resolve(__dirname, '..');

let explicitPath: string | undefined;

/**
 * Uses the addon at `file` (a `.node` file built by this package) instead of looking for one in
 * build/Release and prebuilds/ (bundlers, Electron's asar-unpacked folder, a custom build). Must
 * be called before the first model is loaded; the `GROUNDINGGPT_ADDON` environment variable does
 * the same.
 */
export function setAddonPath(file: string): void {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError('setAddonPath: expected the path of a .node file');
  if (cached) throw new Error('setAddonPath: the addon is already loaded');
  explicitPath = path.resolve(file);
}

const HOW_TO_BUILD =
  'Run `npm rebuild groundinggpt` (or `npx groundinggpt build`) in your project (it needs cmake, a C++17 compiler and git), or reinstall ' +
  'without --ignore-scripts; setAddonPath() or GROUNDINGGPT_ADDON can point at a built groundinggpt.node.';

/** The addon, loaded once: setAddonPath(), else `GROUNDINGGPT_ADDON`, else build/Release or prebuilds/. */
export function native(): NativeAddon {
  if (cached) return cached;
  const where = `${process.platform}-${process.arch}, Node ${process.versions.node} (ABI ${process.versions.modules})`;
  const file = explicitPath ?? (process.env.GROUNDINGGPT_ADDON ? path.resolve(process.env.GROUNDINGGPT_ADDON) : undefined);
  if (file) {
    try {
      cached = require(file) as NativeAddon;
    } catch (err) {
      const missing = (err as { code?: string }).code === 'MODULE_NOT_FOUND';
      throw new AddonLoadError(
        missing ? 'missing' : 'incompatible',
        `The groundinggpt addon ${file} ${missing ? 'does not exist' : `cannot be loaded on ${where}: ${(err as Error).message}`}`,
        { cause: err },
      );
    }
    return cached;
  }
  const load = require('node-gyp-build') as (dir: string) => NativeAddon;
  try {
    cached = load(packageRoot);
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    // node-gyp-build: "No native build was found for platform=..." when nothing fits
    const missing = /No native build was found/.test(message);
    throw new AddonLoadError(
      missing ? 'missing' : 'incompatible',
      missing
        ? `No groundinggpt addon for ${where} in ${path.join(packageRoot, 'build', 'Release')} or ${path.join(packageRoot, 'prebuilds')}. ${HOW_TO_BUILD}`
        : `The groundinggpt addon for ${where} cannot be loaded: ${message}. ${HOW_TO_BUILD}`,
      { cause: err },
    );
  }
  return cached;
}
