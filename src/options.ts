/**
 * Validation of the options of generation, grounding and chat calls into what the native layer
 * takes. Generation defaults are the core's (ggpt_generate_default_params in
 * native/src/core/generate.cpp): an option the caller leaves out is not sent, so the core's
 * default applies; the only default owned here is the stop string, upstream's separator, which is
 * prompt-template knowledge (src/prompt.ts).
 */
import type { NativeGenerateOptions } from './native';
import { SEPARATOR, checkUserText, type ChatTurn, type MediaKind } from './prompt';
import type { MediaOptions } from './types';
import { CallbackGuard, integer, invalid, isPlainObject, number, optionalFunction, optionalSignal, optionsObject, string } from './util/validate';

/** The media kinds in the order the towers run and the native tables list them. */
export const MEDIA_KINDS: readonly MediaKind[] = ['image', 'video', 'audio'];

const MAX_STOP = 16;
/** Most token ids detokenize() takes in one call. */
const MAX_TOKENS = 1 << 24;

export const IMAGE_ARG = 'a file path, Buffer/Uint8Array, sharp instance or raw { data, width, height, channels }';
export const VIDEO_ARG = 'a video file path or { frames, fps?, duration? }';
export const AUDIO_ARG = 'a file path, Buffer/Uint8Array or { samples, sampleRate }';
export const MEDIA_ARG: Record<MediaKind, string> = { image: IMAGE_ARG, video: VIDEO_ARG, audio: AUDIO_ARG };

/** A media argument a call cannot do without: undefined or null is an InvalidInputError (not a text-only call). */
export function requiredMedia<T>(value: T, what: string, name: string): T {
  if (value === undefined || value === null) throw invalid(what, name, value);
  return value;
}

/** A generation call's options, validated. */
export interface ParsedGenerate {
  user: string;
  native: NativeGenerateOptions;
  system?: string;
  history: ChatTurn[];
  onToken?: (piece: string, token: number) => void;
  onPromptProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** The call's user callbacks: a promise one returns that rejects fails the call like a throw. */
  guard: CallbackGuard;
}

/** Validates the media-decoding options. */
export function parseMediaOptions(o: Record<string, unknown>): MediaOptions {
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

/** `system` and `history` of a call or chat. */
export function parseConversation(o: Record<string, unknown>): { system?: string; history: ChatTurn[] } {
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

/** Validates the text and options of a generation call; `nVocab` bounds topK. */
export function parseGenerate(text: unknown, options: unknown, nVocab: number): ParsedGenerate {
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
  const gen: NativeGenerateOptions = { stop, stopAtEos: true };
  if (o.maxTokens !== undefined) gen.maxTokens = integer(o.maxTokens, 'options.maxTokens', 0, 1_000_000);
  if (o.temperature !== undefined) gen.temperature = number(o.temperature, 'options.temperature', 0, 100);
  if (o.topK !== undefined) gen.topK = integer(o.topK, 'options.topK', 0, nVocab);
  if (o.topP !== undefined) gen.topP = number(o.topP, 'options.topP', 0, 1);
  if (o.minP !== undefined) gen.minP = number(o.minP, 'options.minP', 0, 1);
  if (o.repeatPenalty !== undefined) {
    gen.repeatPenalty = number(o.repeatPenalty, 'options.repeatPenalty', 0, 10);
    if (gen.repeatPenalty === 0) throw invalid('a number greater than 0 and at most 10', 'options.repeatPenalty', o.repeatPenalty);
  }
  if (o.repeatLastN !== undefined) gen.repeatLastN = integer(o.repeatLastN, 'options.repeatLastN', -1, 1_000_000);
  if (o.seed !== undefined) gen.seed = integer(o.seed, 'options.seed', 0, 0xfffffffe);
  const conv = parseConversation(o);
  return {
    user,
    native: gen,
    ...conv,
    guard,
    ...(onToken ? { onToken } : {}),
    ...(onPromptProgress ? { onPromptProgress } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** Token ids as the addon takes them; each in [0, nVocab). */
export function checkTokens(tokens: unknown, name: string, nVocab: number): Int32Array {
  if (!(Array.isArray(tokens) || ArrayBuffer.isView(tokens)) || (ArrayBuffer.isView(tokens) && !('length' in tokens))) {
    throw invalid('an array of token ids', name, tokens);
  }
  const list = tokens as ArrayLike<number>;
  if (list.length > MAX_TOKENS) throw invalid(`an array of at most ${MAX_TOKENS} token ids`, name, tokens);
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= nVocab) {
      throw invalid(`an integer between 0 and ${nVocab - 1}`, `${name}[${i}]`, t);
    }
    out[i] = t;
  }
  return out;
}
