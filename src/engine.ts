/**
 * The engine of one loaded model (internal): the native model and its context, the queue its
 * native operations run through (one at a time: the context holds one sequence), the feature
 * cache, and the steps every call is made of: decode the media (outside the queue), encode them
 * with the towers (cache first), evaluate a prompt of token spans and feature rows, generate.
 * {@link Conversation} (src/conversation.ts) strings these steps into calls; Model and Chat are
 * the public façades over both. docs/ARCHITECTURE.md draws the layers.
 */
import { AbortError, DisposedError, InvalidInputError, NativeError } from './errors';
import { FeatureCache, contentHash, idFromHash, type MediaFeatures } from './features';
import { decodeAudio, type DecodeAudioOptions, type DecodedAudio } from './media/audio';
import { TOWER_DECODE_MAX_SIDE, decodeImage, paddedSquare, type DecodedImage } from './media/image';
import { decodeVideo, type DecodedVideo } from './media/video';
import { native, type NativeCancel, type NativeModel, type NativeModelInfo, type NativeSpan, type NativeStopReason } from './native';
import { MEDIA_KINDS, parseMediaOptions, type ParsedGenerate } from './options';
import { planSpans, promptText, type MediaKind, type PlannedSpan } from './prompt';
import { abortError, errorCode, linkCancel, mapNativeError } from './task';
import type { ChatMedia, Embedding, GenerateResult, GroundProgress, GroundResult, ImageGeometry, MediaOptions, ModelFiles } from './types';
import { SerialQueue } from './util/queue';
import { CallbackGuard, anySignal, optionalSignal, optionsObject } from './util/validate';

/** Media decoded once and ready for the towers. */
export interface PreparedMedia {
  image?: { decoded: DecodedImage; geometry: ImageGeometry };
  video?: DecodedVideo;
  audio?: { decoded: DecodedAudio; fbank: Float32Array; info: GroundResult['audio'] & object; hash: string };
  decodeMs: number;
  preprocessMs: number;
}

/** Features of a call's media and what getting them cost. */
export interface EncodedMedia {
  features: MediaFeatures[];
  encodeMs: number;
  preprocessMs: number;
  cached: number;
}

export const now = () => performance.now();

export class Engine {
  readonly native: NativeModel;
  readonly info: NativeModelInfo;
  readonly files: Readonly<ModelFiles>;
  readonly #queue = new SerialQueue();
  readonly #cache: FeatureCache;
  /** Aborted by dispose(): stops the media decoding (ffmpeg children) of calls in flight. */
  readonly #disposeAc = new AbortController();
  #disposed = false;
  #disposing: Promise<void> | undefined;
  #running: NativeCancel | undefined;

  constructor(nativeModel: NativeModel, files: ModelFiles, featureCacheBytes: number) {
    this.native = nativeModel;
    this.info = nativeModel.info();
    this.files = Object.freeze({ ...files });
    this.#cache = new FeatureCache(featureCacheBytes);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  alive(): void {
    if (this.#disposed) throw new DisposedError();
  }

  mediaRows(): Record<MediaKind, number> {
    const r = this.info.mediaRows;
    return { image: r[0], video: r[1], audio: r[2] };
  }

  requireTower(kind: MediaKind): void {
    if (!this.info.hasMedia[MEDIA_KINDS.indexOf(kind)]) {
      throw new InvalidInputError(
        this.files.encoders === undefined
          ? `This model was loaded without encoders.gguf, so it cannot take ${kind} input`
          : `${this.files.encoders} has no ${kind} tower`,
      );
    }
  }

  /**
   * Runs `body` as one queued task with a native cancel flag linked to `signal`; maps native
   * errors to the typed ones. A callback in `guard` whose promise rejects stops the work like one
   * that throws.
   */
  task<T>(
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

  /**
   * Decodes (and, for sound, preprocesses) the media of a call; no native model work, so it runs
   * outside the queue. dispose() aborts it (ffmpeg children killed) and it rejects with
   * DisposedError.
   */
  async prepare(media: ChatMedia, options: MediaOptions, userSignal?: AbortSignal, onProgress?: (p: GroundProgress) => void): Promise<PreparedMedia> {
    this.alive();
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

  /** {@link prepare} where a callback's rejection (in `guard`) stops the decoding and is the error. */
  async prepareGuarded(
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
      return await this.prepare(media, options, linked.signal, onProgress);
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
      this.alive();
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
        size: this.info.videoFrameSize,
        maxFrames: Math.min(options.maxFrames ?? this.info.videoMaxFrames, this.info.videoMaxFrames),
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
  async encodeAll(
    prep: PreparedMedia,
    cancel: NativeCancel,
    onProgress?: (p: GroundProgress) => void,
  ): Promise<EncodedMedia> {
    const features: MediaFeatures[] = [];
    let encodeMs = 0;
    let preprocessMs = 0;
    let cached = 0;
    const width = this.info.nEmbd;
    const rowsOf = (kind: MediaKind) => this.info.mediaRows[MEDIA_KINDS.indexOf(kind)];
    for (const kind of MEDIA_KINDS) {
      let hash: string;
      let run: () => Promise<Float32Array>;
      const progress = onProgress ? (fraction: number) => onProgress({ stage: 'encode', media: kind, fraction }) : undefined;
      if (kind === 'image' && prep.image) {
        const d = prep.image.decoded;
        hash = contentHash('image', [d.width, d.height], [d.data]);
        run = () => this.native.encodeImage(d.data, d.width, d.height, d.width * 3, cancel, progress);
      } else if (kind === 'video' && prep.video) {
        const v = prep.video;
        hash = contentHash('video', [v.frames.length, v.size], v.frames);
        run = () => this.native.encodeVideo(v.frames, cancel, progress);
      } else if (kind === 'audio' && prep.audio) {
        const a = prep.audio;
        hash = a.hash;
        run = () => this.native.encodeAudio(a.fbank, a.info.clips.length, cancel, progress);
      } else {
        continue;
      }
      let f = this.#cache.get(hash);
      if (f) {
        cached++;
      } else {
        const data = await run();
        const spent = this.native.lastEncodeTimings();
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

  /** Evaluates the prompt of a turn (token spans and feature rows) and generates the answer, in the queue. */
  async evaluate(
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
      mediaRows: this.mediaRows(),
    });
    const spans = this.#spansFor(text, features);
    const evalResult = await this.native.prompt(spans, cancel, parsed.onPromptProgress);
    const gen = await this.native.generate(
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
    const ids = this.native.tokenize(text, true, true);
    const t = this.info.mediaTokens;
    const planned: PlannedSpan[] = planSpans(ids, { image: t[0][0], video: t[1][0], audio: t[2][0] });
    return planned.map((s) => {
      if (!('media' in s)) return { tokens: s.tokens };
      const f = features.find((x) => x.kind === s.media);
      if (!f) throw new InvalidInputError(`This prompt needs ${s.media} features, which this call does not have`);
      if (f.rows !== s.rows) throw new InvalidInputError(`The ${s.media} block has ${s.rows} placeholders but the tower gave ${f.rows} rows`);
      return { embd: f.data, rows: f.rows, id: f.id };
    });
  }

  /** embedImage / embedVideo / embedAudio. */
  async embed(kind: MediaKind, media: ChatMedia, options: unknown): Promise<Embedding> {
    this.alive();
    this.requireTower(kind);
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const t0 = now();
    const prep = await this.prepare(media, parseMediaOptions(o), signal);
    const t1 = now();
    const { features, encodeMs, preprocessMs } = await this.task(signal, (cancel) => this.encodeAll(prep, cancel));
    const f = features[0];
    // a copy: the cache keeps its own
    return { data: f.data.slice(), shape: [f.rows, f.width], timings: { prepareMs: t1 - t0 + preprocessMs, encodeMs } };
  }


  /**
   * Frees the model: a running operation is cancelled, queued ones reject with DisposedError,
   * media decoding in flight is aborted. Resolves once the native memory is released.
   */
  dispose(): Promise<void> {
    if (this.#disposing) return this.#disposing;
    this.#disposed = true;
    this.#queue.close(() => new DisposedError());
    this.#running?.cancel();
    // media decoding runs outside the queue: its ffmpeg children are killed now
    this.#disposeAc.abort();
    this.#disposing = this.native.dispose();
    return this.#disposing;
  }
}
