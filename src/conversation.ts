/**
 * A conversation (internal): system text, earlier turns and media, and how one turn runs:
 * decode the media (once per conversation), then in one queued task of the engine encode them
 * (feature cache first), evaluate the prompt and generate, then map the answer's boxes and spans
 * to the media. Model's one-shot calls run a turn of a conversation made for the call (its
 * history from the options); a Chat keeps one and appends each successful turn.
 */
import { DisposedError } from './errors';
import { now, type Engine, type PreparedMedia } from './engine';
import { MEDIA_KINDS, parseGenerate, parseMediaOptions, type ParsedGenerate } from './options';
import { parseBoxes, type GroundedBox } from './parse/boxes';
import type { MalformedLiteral } from './parse/literals';
import { parseSpans, type GroundedSpan } from './parse/spans';
import type { ChatTurn } from './prompt';
import type { NativeCancel } from './native';
import type { ChatMedia, GenerateResult, GroundProgress, GroundResult, MediaOptions } from './types';
import { optionalFunction, optionsObject } from './util/validate';

export class Conversation {
  readonly #engine: Engine;
  readonly #media: ChatMedia;
  readonly #mediaOptions: MediaOptions;
  readonly #history: ChatTurn[];
  readonly #system: string | undefined;
  // decoded media, shared by every turn (decoding is retried after a failure)
  #prepared: Promise<PreparedMedia> | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** `media` must be validated and their towers present (Model.createChat, Model.ground*). */
  constructor(engine: Engine, media: ChatMedia, mediaOptions: MediaOptions, history: readonly ChatTurn[], system: string | undefined) {
    this.#engine = engine;
    this.#media = media;
    this.#mediaOptions = mediaOptions;
    this.#history = history.map((t) => ({ ...t }));
    this.#system = system;
  }

  /** The turns so far, oldest first (copies). */
  get history(): ChatTurn[] {
    return this.#history.map((t) => ({ ...t }));
  }

  /**
   * Runs the next user turn after the ones sent before it and returns the answer; the turn joins
   * the history only when it succeeds. `options.history` and `options.system` are the
   * conversation's, not the call's.
   */
  send(text: unknown, options: unknown): Promise<GroundResult> {
    const run = async (): Promise<GroundResult> => {
      if (this.#engine.disposed) throw new DisposedError();
      const o = optionsObject(options);
      const result = await this.#ground(text, { ...o, history: this.#history, ...(this.#system !== undefined ? { system: this.#system } : {}) });
      this.#history.push({ user: text as string, assistant: result.text });
      return result;
    };
    const p = this.#tail.then(run, run);
    this.#tail = p.catch(() => undefined);
    return p;
  }

  /** Decoded media, once for the conversation (retried when decoding failed). */
  #prepare(signal: AbortSignal | undefined, onProgress: ((p: GroundProgress) => void) | undefined, parsed: ParsedGenerate): Promise<PreparedMedia> {
    if (!this.#prepared) {
      const guard = parsed.guard;
      this.#prepared = this.#engine.prepareGuarded(this.#media, this.#mediaOptions, signal, onProgress, guard);
      this.#prepared.catch(() => {
        this.#prepared = undefined;
      });
    }
    return this.#prepared;
  }

  /** One turn with this conversation's media; the history and system text come from `options`. */
  async #ground(text: unknown, options: Record<string, unknown>): Promise<GroundResult> {
    const engine = this.#engine;
    const t0 = now();
    engine.alive();
    const parsed = parseGenerate(text, options, engine.info.nVocab);
    const onProgress = parsed.guard.wrap(optionalFunction<(p: GroundProgress) => unknown>(options.onProgress, 'options.onProgress'));
    parseMediaOptions(options); // validated in every call; a conversation decodes with its own
    for (const k of MEDIA_KINDS) if (this.#media[k] !== undefined) engine.requireTower(k);
    const { signal } = parsed;
    const prep = await this.#prepare(signal, onProgress, parsed);
    if (onProgress) {
      const user = parsed.onPromptProgress;
      parsed.onPromptProgress = (fraction) => {
        user?.(fraction);
        onProgress({ stage: 'prompt', fraction });
      };
    }
    const { result, raw, encodeMs, preprocessMs, cached } = await engine.task(
      signal,
      async (cancel) => {
        const enc = await engine.encodeAll(prep, cancel, onProgress);
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
        const r = await engine.evaluate(parsed, cancel, onToken, enc.features);
        onProgress?.({ stage: 'generate', fraction: 1 });
        return { ...r, encodeMs: enc.encodeMs, preprocessMs: enc.preprocessMs, cached: enc.cached };
      },
      undefined,
      parsed.guard,
    );
    return groundResult(prep, result, raw, { encodeMs, preprocessMs, cached, totalMs: now() - t0 });
  }

  /**
   * A one-shot grounding call (Model.groundImage & co.): a turn of a conversation made for the
   * call, whose history and system text are the call's options.
   */
  static groundOnce(engine: Engine, media: ChatMedia, text: unknown, options: unknown): Promise<GroundResult> {
    const o = optionsObject(options);
    engine.alive();
    return new Conversation(engine, media, parseMediaOptions(o), [], undefined).#ground(text, o);
  }
}


/** A text-only turn: prompt + generate as one queued task (Model.generate, Model.generateStream). */
export function generateOnce(
  engine: Engine,
  parsed: ParsedGenerate,
  onToken: ((piece: string, token: number) => void) | undefined,
  onStart?: (cancel: NativeCancel) => void,
): Promise<GenerateResult> {
  return engine.task(parsed.signal, async (cancel) => (await engine.evaluate(parsed, cancel, onToken)).result, onStart, parsed.guard);
}

/** The result of a grounding turn: boxes mapped to the image, spans to the video, timings, warnings. */
function groundResult(
  prep: PreparedMedia,
  result: GenerateResult,
  raw: string,
  spent: { encodeMs: number; preprocessMs: number; cached: number; totalMs: number },
): GroundResult {
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
      preprocessMs: prep.preprocessMs + spent.preprocessMs,
      encodeMs: spent.encodeMs,
      cachedMedia: spent.cached,
      totalMs: spent.totalMs,
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
