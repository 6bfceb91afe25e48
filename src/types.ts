/**
 * The public types of the model API: options, results, info. Types only (and the list of tower
 * matmul modes), so every layer can import them without importing the code that uses them.
 */
import type { AudioInput } from './media/audio';
import type { ImageInput } from './media/image';
import type { VideoInput } from './media/video';
import type { GroundedBox } from './parse/boxes';
import type { MalformedLiteral } from './parse/literals';
import type { GroundedSpan } from './parse/spans';
import type { ChatTurn, MediaKind } from './prompt';

/** Severity of a log line of the native core, ggml or libllama. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Receives log lines (without trailing newline); see setLogger(). */
export type Logger = (level: LogLevel, message: string) => void;

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
  /**
   * Towers whose weights are read now: 'none' (default), 'all', or a list such as `['image']`.
   * The others are read by the first call that needs them (a `'load'` stage of its
   * {@link GroundProgress}; about a second per GB from the page cache) and stay resident until
   * {@link Model.releaseTowers}. Default 'none' because most processes use one or two of the three
   * towers and the video tower alone is ~2 GB at f16; 'all' suits a server that must answer its
   * first call of every kind without that delay. docs/ARCHITECTURE.md, "Towers on demand".
   */
  towers?: 'all' | 'none' | MediaKind[];
  /** CPU threads for generation and prompt processing. Default: the physical cores (about half the hardware threads). 1-512. */
  threads?: number;
  /** LLM layers offloaded to the GPU (-1 = all). Default: all when the build has a GPU backend or `rpc` is given, else 0. */
  gpuLayers?: number;
  /**
   * Remote devices: llama.cpp's `ggml-rpc-server` hosts as `'host:port'` (README "Several
   * machines (RPC)"; `npm run build:rpc-server` builds the server from the same source). Their
   * devices come first in the device list, then the local GPUs; `gpuLayers` of the LLM's layers
   * are spread over that list and the rest stays on the local CPU. Each server is reached before
   * anything loads (unreachable: ModelLoadError naming it). If a connection fails later, the call
   * rejects with a NativeError of status 'remote' and the model is unusable from then on
   * (`info.usable` false; dispose it and load again): docs/RELIABILITY.md "RPC devices".
   * rpc-server has no authentication: trusted networks or an SSH tunnel only.
   */
  rpc?: string[];
  /** Share of the offloaded layers per device of the list (RPC devices in order, then local GPUs). Default: by free memory. */
  tensorSplit?: number[];
  /** Where the towers run: 'local' (default: the first GPU, else the CPU) or `'rpc:N'`, the N-th RPC device (servers in order). */
  towerDevice?: 'local' | `rpc:${number}`;
  /**
   * Bound of each send or receive on an RPC connection in milliseconds, which includes the longest
   * graph a server computes (a long prompt on a slow server). Default 120000. A dead host is
   * noticed sooner (TCP keepalive, ~25 s); a killed server at once. Process-wide: the last load sets it.
   */
  rpcTimeoutMs?: number;
  /**
   * Context size of one conversation in tokens: prompt (media rows included) plus answer. Default 2048 (upstream's
   * context; an image prompt takes ~730) capped at the model's training context; 8 to the training context (4096 for
   * GroundingGPT-7B). The KV cache grows with it: 0.5 MiB per position for the 7B at f16 (1 GiB at 2048).
   * libllama may round it up (to a multiple of 256); `info.contextSize` is the size in use.
   */
  contextSize?: number;
  /** Prompt positions per native batch (1-8192, default 512, capped at contextSize). Also how often a prompt checks its AbortSignal. */
  batchSize?: number;
  /**
   * Conversations that run at once (1-64, default 1). Concurrent calls (`generate`, `ground*`,
   * chats) then decode together: each step of the model takes the next token of every running
   * call in one batch, a new call joins at the next step and a finished one leaves (continuous
   * batching); calls beyond `parallel` wait. Each conversation has its own `contextSize`
   * positions: the KV cache takes `parallel` times the memory. Tower encodes run one at a time.
   * docs/ARCHITECTURE.md, "Parallel sequences".
   */
  parallel?: number;
  /**
   * A folder for the KV cache on disk (default: none, nothing written). After a call with an
   * image or a video, the KV state of its media prefix (system text, the media rows and the tokens
   * around them) is saved there, keyed by the model files and the prefix's content; a later call
   * (in this process or another) with the same prefix restores it and skips both the tower and
   * that prefill. Files are checked (SHA-256) before use and rewritten when they do not check out;
   * one image prompt of the 7B at f16 takes ~360 MB. Sounds are not cached this way.
   * docs/ARCHITECTURE.md, "KV cache on disk".
   */
  kvCacheDir?: string;
  /** Bound of `kvCacheDir` in bytes (default 4 GiB): least recently used files go first. */
  kvCacheBytes?: number;
  /** KV-cache type: 'f16' (default), 'f32' (exact, for comparisons; turns flash attention off unless asked), 'q8_0' (half the memory; needs flash attention). */
  kvType?: KvType;
  /** Flash attention: 'auto' (default), 'on', 'off'. */
  flashAttn?: 'auto' | 'on' | 'off';
  /**
   * How the towers' Linear layers multiply on the CPU (f16 encoders; f32 weights always stay f32):
   * - 'auto' (default): bf16 kernels on the tile unit (AMX-BF16) on CPUs that have it, else on
   *   AVX512-BF16 dot products (AMD Zen 4/5 and other AVX-512 CPUs without AMX), at bf16 rounding
   *   of weights and activations (~5e-3 relative error), else ggml's kernels;
   * - 'ggml': ggml's f16 kernels only (~1e-3 relative error);
   * - 'int8' (experimental): the int8 path of the tile unit (AMX-INT8), else of AVX512-VNNI (int8
   *   weights per output row and int8 activation rows), at about 4x the error of 'auto' (1e-2 to
   *   3e-2 relative on random weights; not measured on the released ones); 'auto' on CPUs with
   *   neither.
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

/**
 * Memory a loaded model holds, in bytes, at the time `info` is read (docs/ARCHITECTURE.md,
 * "Towers on demand"). `total` is what the model adds to the process: bench/memory.mjs checks it
 * against the measured growth of the resident set.
 */
export interface ModelMemory {
  /** LLM weights (a mapping of llm.gguf counts in full: its pages are read by the first prompt). */
  llm: number;
  /** All towers' weights in encoders.gguf (what `towers` would hold with every tower loaded). */
  encoders: number;
  /** Resident tower weights per kind: 0 until a call needs the tower, and after releaseTowers. */
  towers: Record<MediaKind, number>;
  /** The KV cache: `parallel` x `contextSize` positions. */
  kvCache: number;
  /** Compute buffers: libllama's (sized for a batch of `batchSize` positions) and the towers' (kept after an encode, freed by releaseTowers). */
  compute: { llm: number; towers: number };
  /** llm + towers + kvCache + compute. */
  total: number;
  /** Of total, the bytes on a GPU or RPC device (not in this process's resident set). */
  device: number;
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
  /** Context size of one conversation, in tokens. */
  contextSize: number;
  /** Conversations that run at once ({@link LoadModelOptions.parallel}). */
  parallel: number;
  /** Positions the LLM was trained with. */
  trainContextSize: number;
  /** Where the LLM weights live ("CPU", "CUDA0"). */
  backend: string;
  /**
   * Where the LLM's layers run, per device in the device list (the local CPU included): layers
   * [layers[0], layers[1]) and, when `output`, the output layer. `description` is the server's
   * 'host:port' for RPC devices.
   */
  devices: { name: string; description: string; layers: [number, number]; output: boolean }[];
  /** Where the towers run ("CPU", "CUDA0", "RPC1 10.0.0.5:50052"); "" without encoders. */
  towerDevice: string;
  /** False once a connection to one of the model's RPC servers failed: every call then rejects; dispose and load again. */
  usable: boolean;
  /** Why the model is unusable (the server and the failure), when it is. */
  unusableReason?: string;
  /** Compiled backends and CPU features. */
  systemInfo: string;
  /** Parameter counts of the LLM and of the towers (0 without encoders). */
  parameters: { llm: number; encoders: number };
  /** Memory the model holds now, in bytes: {@link ModelMemory}. */
  memory: ModelMemory;
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

/** Progress of a grounding call, by stage. `fraction` is the stage's own progress in [0, 1]. */
export interface GroundProgress {
  /** 'load': reading a tower's weights, in the first call that needs that tower ({@link LoadModelOptions.towers}). */
  stage: 'decode' | 'load' | 'encode' | 'prompt' | 'generate';
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

/** What {@link Model.groundImage} returns: the image the boxes refer to is always there. */
export interface ImageGroundResult extends GroundResult {
  image: ImageGeometry;
}

/** What {@link Model.groundVideo} returns: the video the segments refer to is always there. */
export interface VideoGroundResult extends GroundResult {
  video: NonNullable<GroundResult['video']>;
}

/** What {@link Model.groundAudio} returns: the sound is always described (and the image, with `options.image`). */
export interface AudioGroundResult extends GroundResult {
  audio: NonNullable<GroundResult['audio']>;
}

/** Features of one media item as {@link Model.embedImage} & co. return them. */
export interface Embedding {
  /** rows x embeddingSize floats, row-major: the LLM input embeddings that replace the patch tokens. */
  data: Float32Array;
  /** `[rows, embeddingSize]`: `[576, 4096]` image, `[64, 4096]` video, `[8, 4096]` audio for GroundingGPT-7B. */
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
