// The shape of an attack case and what a case gets to run with (test/attack/harness.ts runs them
// in child processes, test/attack/child.ts inside one).
import type { Model } from '../../src/model';

/** Paths made once by the test process (test/attack/fixtures.ts) and handed to every child. */
export interface AttackEnv {
  /** The tiny golden model converted to f32 by our converter. */
  modelDir: string;
  llm: string;
  encoders: string;
  /** The tiny golden checkpoints in the upstream layout (read-only). */
  upstreamModel: string;
  upstreamClip: string;
  /** Valid small media files to corrupt. */
  media: {
    jpeg: string;
    png: string;
    webp: string;
    gif: string;
    mp4: string;
    mkv: string;
    wav: string;
    wavFloat: string;
    mp3: string;
    silentMp4: string;
  };
  ffmpeg: string;
  /** A folder for the children's files (each child makes its own subfolder). */
  work: string;
}

export interface CaseContext extends AttackEnv {
  /** The child's shared tiny model (loaded once, text + towers; threads 1). */
  model(): Promise<Model>;
  /** A fresh path in this child's folder (nothing there yet). */
  file(name: string): string;
  /** Loads a model from `files`, runs a short generate (and the towers when it has them), disposes it. */
  loadAndUse(files: { llm: string; encoders?: string } | string): Promise<void>;
}

export type Category = 'llm' | 'encoders' | 'convert' | 'media' | 'api';

export interface AttackCase {
  /** Unique and stable: `<category>/<what>`. */
  id: string;
  category: Category;
  /** 'error': must reject with a typed error (accepting it would be a missing check); 'any': a
   * typed error or success. */
  expect: 'error' | 'any';
  /** Error codes accepted (default: any code of src/errors.ts). */
  codes?: readonly string[];
  /** A known crash class being fixed elsewhere (the report lists these separately). */
  known?: string;
  run(ctx: CaseContext): Promise<unknown>;
}

/** The error classes of src/errors.ts by name, with their codes. */
export const ERROR_CODES: Record<string, string> = {
  InvalidInputError: 'INVALID_INPUT',
  ModelLoadError: 'MODEL_LOAD',
  ConversionError: 'CONVERSION',
  AbortError: 'ABORTED',
  DisposedError: 'DISPOSED',
  FFmpegNotFoundError: 'FFMPEG_NOT_FOUND',
  NativeError: 'NATIVE',
};

/** What a child reports per case (one JSON line). */
export interface CaseReport {
  id: string;
  ok: boolean;
  ms: number;
  /** For errors: class name, code, whether it was `instanceof GroundingGPTError`, message. */
  name?: string;
  code?: string;
  typed?: boolean;
  message?: string;
  /** ffmpeg children still running after the case settled. */
  leakedChildren?: number;
  /** An error raised outside the case's promise (unhandled rejection) while it ran. */
  unhandled?: string;
}

/** The usability check: a short greedy generation on the tiny model, before and after each batch. */
export const CHECK_PROMPT = 'Describe the picture in one sentence.';
export const CHECK_OPTIONS = { maxTokens: 8, stop: [] as string[] };
