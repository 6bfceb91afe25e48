/**
 * A conversation (internal): system text, earlier turns and media, and how one turn runs:
 * decode the media (once per conversation), then in one queued task of the engine encode them
 * (feature cache first), evaluate the prompt and generate, then map the answer's boxes and spans
 * to the media. Model's one-shot calls run a turn of a conversation made for the call (its
 * history from the options); a Chat keeps one and appends each successful turn.
 */
import { DisposedError } from './errors';
import { now, type Engine, type PreparedMedia, type TurnEvents } from './engine';
import { MEDIA_KINDS, parseGenerate, parseMediaOptions, type ParsedGenerate } from './options';
import { parseBoxes, type GroundedBox } from './parse/boxes';
import type { MalformedLiteral } from './parse/literals';
import { parseSpans, type GroundedSpan } from './parse/spans';
import type { ChatTurn, MediaKind } from './prompt';
import type { NativeAudioInfo, NativeCancel } from './native';
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
      parseMediaOptions(o); // checked, though a conversation decodes with its own (one-shot calls parse them in groundOnce)
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
    for (const k of MEDIA_KINDS) if (this.#media[k] !== undefined) engine.requireTower(k);
    const { signal } = parsed;
    const prep = await this.#prepare(signal, onProgress, parsed);
    // stages in order: the towers' progress, then 'prompt' (0 first, even when the whole prompt
    // is reused from the KV cache), then 'generate' at the first token and at the end
    let promptStarted = false;
    const startPrompt = () => {
      if (promptStarted) return;
      promptStarted = true;
      onProgress?.({ stage: 'prompt', fraction: 0 });
    };
    const userPrompt = parsed.onPromptProgress;
    const userOnToken = parsed.onToken;
    let n = 0;
    const events: TurnEvents = {
      ...(onProgress ? { onEncodeProgress: (media: MediaKind, fraction: number) => onProgress({ stage: 'encode', media, fraction }) } : {}),
      ...(onProgress ? { onTowerLoadProgress: (media: MediaKind, fraction: number) => onProgress({ stage: 'load', media, fraction }) } : {}),
      ...(onProgress || userPrompt
        ? {
            onPromptProgress: (fraction: number) => {
              startPrompt();
              userPrompt?.(fraction);
              onProgress?.({ stage: 'prompt', fraction });
            },
          }
        : {}),
      ...(onProgress || userOnToken
        ? {
            onToken: (piece: string, token: number) => {
              startPrompt();
              userOnToken?.(piece, token);
              if (onProgress && n++ === 0) onProgress({ stage: 'generate', fraction: 0 });
            },
          }
        : {}),
    };
    const turn = await engine.task(
      signal,
      async (cancel) => {
        const out = await engine.turn(cancel, prep, parsed, events);
        for (const f of out.transient) f.features.release();
        startPrompt();
        onProgress?.({ stage: 'generate', fraction: 1 });
        return out;
      },
      undefined,
      parsed.guard,
    );
    const { encodeMs, preprocessMs, cached, audio } = turn;
    const result = turn.result as GenerateResult;
    const raw = turn.raw as string;
    return groundResult(prep, result, raw, { encodeMs, preprocessMs, cached, totalMs: now() - t0 }, audio);
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
  const events: TurnEvents = {
    ...(onToken ? { onToken } : {}),
    ...(parsed.onPromptProgress ? { onPromptProgress: parsed.onPromptProgress } : {}),
  };
  return engine.task(parsed.signal, async (cancel) => (await engine.turn(cancel, undefined, parsed, events)).result as GenerateResult, onStart, parsed.guard);
}

/** The result of a grounding turn: boxes mapped to the image, spans to the video, timings, warnings. */
function groundResult(
  prep: PreparedMedia,
  result: GenerateResult,
  raw: string,
  spent: { encodeMs: number; preprocessMs: number; cached: number; totalMs: number },
  audio: NativeAudioInfo | undefined,
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
      preprocessMs: spent.preprocessMs,
      encodeMs: spent.encodeMs,
      cachedMedia: spent.cached,
      totalMs: spent.totalMs,
    },
    raw: { text: raw, malformed },
    warnings: audio?.padded ? ['The sound is shorter than one fbank window (25 ms at 16 kHz): its clips were padded with zeros'] : [],
  };
  if (prep.image) out.image = { ...prep.image.geometry };
  if (prep.video) {
    const v = prep.video;
    out.video = { duration: v.duration, frameCount: v.frameCount, fps: v.fps, sampledFrames: [...v.indices], times: [...v.times] };
  }
  if (prep.audio && audio) {
    const d = prep.audio.decoded;
    out.audio = {
      duration: d.duration,
      sampleRate: d.sampleRate,
      channels: d.channels.length,
      // the window each clip covers, cut at the end of the sound (a 1 s sound: three clips of 0-1 s)
      clips: audio.clips.map((c) => ({ start: c.start, end: Math.min(c.end, d.duration) })),
      padded: audio.padded,
    };
  }
  return out;
}
