/**
 * Error classes thrown by groundinggpt. Every error the library raises on purpose is one of these,
 * so callers can branch on `instanceof` (or on `code`, which survives structured cloning).
 */

/** Base class of all groundinggpt errors. */
export class GroundingGPTError extends Error {
  /** Stable machine-readable code, e.g. `'INVALID_INPUT'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An argument or a media input is wrong: bad type, out of range, corrupt or unsupported file. */
export class InvalidInputError extends GroundingGPTError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, options);
  }
}

/** A model file cannot be loaded: missing, truncated, wrong keys or shapes. */
export class ModelLoadError extends GroundingGPTError {
  /** The file the problem was found in, when known. */
  readonly file?: string;
  constructor(message: string, options?: { cause?: unknown; file?: string }) {
    super('MODEL_LOAD', message, options);
    this.file = options?.file;
  }
}

/** A checkpoint cannot be converted: missing file, unknown pickle opcode, unexpected tensor... */
export class ConversionError extends GroundingGPTError {
  /** The file the problem was found in, when known. */
  readonly file?: string;
  /** The tensor concerned, when known. */
  readonly tensor?: string;
  constructor(message: string, options?: { cause?: unknown; file?: string; tensor?: string }) {
    super('CONVERSION', message, options);
    this.file = options?.file;
    this.tensor = options?.tensor;
  }
}

/** The operation was cancelled through an `AbortSignal`. */
export class AbortError extends GroundingGPTError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
  }
}

/** The object was used after `dispose()`. */
export class DisposedError extends GroundingGPTError {
  constructor(what = 'model') {
    super('DISPOSED', `This ${what} has been disposed`);
  }
}

/** ffmpeg is needed for this input and none was found (the message lists what was tried; ffprobe is optional). */
export class FFmpegNotFoundError extends GroundingGPTError {
  constructor(message: string) {
    super('FFMPEG_NOT_FOUND', message);
  }
}

/**
 * The native addon could not be loaded. `reason`: 'missing' (no build or prebuild for this
 * platform, e.g. after `npm install --ignore-scripts` or an install-script policy that refused
 * the build) or 'incompatible' (a file was found but the system cannot load it: another
 * platform, a newer glibc, a broken file). The message says what was tried and what to run.
 */
export class AddonLoadError extends GroundingGPTError {
  readonly reason: 'missing' | 'incompatible';
  constructor(reason: 'missing' | 'incompatible', message: string, options?: { cause?: unknown }) {
    super('ADDON_LOAD', message, options);
    this.reason = reason;
  }
}

/** The native core failed in a way that is not the caller's fault (backend error, out of memory). */
export class NativeError extends GroundingGPTError {
  /** The core's status name, e.g. `'backend'`, `'out_of_memory'`. */
  readonly status: string;
  constructor(status: string, message: string) {
    super('NATIVE', message);
    this.status = status;
  }
}

/** Why a pull failed: see {@link PullError}. */
export type PullErrorReason = 'unauthorized' | 'not_found' | 'offline' | 'network' | 'corrupt' | 'server' | 'locked';

/**
 * `pull()` could not get the model's files from the Hugging Face Hub. The message says what to do:
 * 'unauthorized' (401/403, gated or private repo: accept its terms on the Hub and set HF_TOKEN),
 * 'not_found' (404: check the model name and revision), 'offline' (HF_HUB_OFFLINE=1 and no cached
 * copy), 'network' / 'server' (retried with backoff, still failing: try again later; the partial
 * download is kept and resumed), 'corrupt' (size or sha256 differs from the Hub's metadata after
 * a fresh download, or the files of an `hf:` pre-converted repo are refused by our loaders).
 */
export class PullError extends GroundingGPTError {
  readonly reason: PullErrorReason;
  /** HTTP status of the last answer, when there was one. */
  readonly status?: number;
  /** The URL or file concerned, when known. */
  readonly url?: string;
  constructor(reason: PullErrorReason, message: string, options?: { cause?: unknown; status?: number; url?: string }) {
    super('PULL', message, options);
    this.reason = reason;
    this.status = options?.status;
    this.url = options?.url;
  }
}
