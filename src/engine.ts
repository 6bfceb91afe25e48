/**
 * The engine of one loaded model (internal): the native model and its context, the queue its
 * turns run through (as many at once as the context has sequences: `parallel`), the feature
 * cache, and the steps every call is made of: decode the media (outside the queue), encode them
 * with the towers (cache first), evaluate a prompt of token spans and feature rows, generate.
 * {@link Conversation} (src/conversation.ts) strings these steps into calls; Model and Chat are
 * the public façades over both. docs/ARCHITECTURE.md draws the layers.
 */
import { AbortError, DisposedError, InvalidInputError, NativeError } from './errors';
import { FeatureCache, contentHash, idFromHash, type MediaFeatures } from './features';
import type { KvDiskCache, KvSnapshot } from './kvcache';
import { decodeAudio, type DecodeAudioOptions, type DecodedAudio } from './media/audio';
import { TOWER_DECODE_MAX_SIDE, decodeImage, paddedSquare, type DecodedImage } from './media/image';
import { decodeVideo, type DecodedVideo } from './media/video';
import {
  TURN_PROMPT,
  TURN_TOKEN,
  TURN_TOWER_LOAD,
  type NativeAudioInfo,
  type NativeCancel,
  type NativeMediaInput,
  type NativeModel,
  type NativeModelInfo,
  type NativeStopReason,
  type NativeTurnPlan,
  type NativeTurnResult,
  type NativeTurnSpan,
} from './native';
import { MEDIA_KINDS, parseMediaOptions, type ParsedGenerate } from './options';
import { planSpans, promptText, type MediaKind, type PlannedSpan } from './prompt';
import { abortError, errorCode, linkCancel, mapNativeError } from './task';
import type { ChatMedia, Embedding, GenerateResult, GroundProgress, ImageGeometry, MediaOptions, ModelFiles } from './types';
import { TaskQueue } from './util/queue';
import { type CallbackGuard, anySignal, optionalSignal, optionsObject } from './util/validate';

/** Media decoded once and ready for the towers. */
export interface PreparedMedia {
  image?: { decoded: DecodedImage; geometry: ImageGeometry };
  video?: DecodedVideo;
  /** The sound as PCM: preprocessed with the tower, in the turn's native operation. */
  audio?: { decoded: DecodedAudio; hash: string };
  decodeMs: number;
}

/** The media of a turn as the native operation takes them, in MEDIA_KINDS order. */
interface MediaPlan {
  kinds: MediaKind[];
  hashes: string[];
  items: NativeMediaInput[];
  /** The cached features of each item, if any. */
  hits: (MediaFeatures | undefined)[];
}

/** Progress and tokens of a turn, in order. */
export interface TurnEvents {
  /** Reading a tower's weights (the first call that needs the tower). */
  onTowerLoadProgress?: (kind: MediaKind, fraction: number) => void;
  onEncodeProgress?: (kind: MediaKind, fraction: number) => void;
  onPromptProgress?: (fraction: number) => void;
  onToken?: (piece: string, token: number) => void;
}

/** What a turn made and what it cost. */
export interface TurnOutcome {
  /** Per media item, in MEDIA_KINDS order. */
  features: MediaFeatures[];
  /** Features the cache could not keep: release them after use. */
  transient: MediaFeatures[];
  encodeMs: number;
  preprocessMs: number;
  /** Items whose features came from the cache. */
  cached: number;
  /** The sound's preprocessing, when the turn has one. */
  audio?: NativeAudioInfo;
  /** With a prompt: the answer. */
  result?: GenerateResult;
  raw?: string;
}

export const now = () => performance.now();

const engines = new WeakMap<object, Engine>();
/** @internal the engine behind a Model (tests and benches read its native counters). */
export function engineOf(model: object): Engine | undefined {
  return engines.get(model);
}
/** @internal Model's constructor registers its engine. */
export function registerEngine(model: object, engine: Engine): void {
  engines.set(model, engine);
}

export class Engine {
  readonly native: NativeModel;
  readonly info: NativeModelInfo;
  readonly files: Readonly<ModelFiles>;
  readonly #queue: TaskQueue;
  readonly #cache: FeatureCache;
  readonly #kvDisk: KvDiskCache | undefined;
  /** Aborted by dispose(): stops the media decoding (ffmpeg children) of calls in flight. */
  readonly #disposeAc = new AbortController();
  #disposed = false;
  #disposing: Promise<void> | undefined;
  readonly #running = new Set<NativeCancel>();

  constructor(nativeModel: NativeModel, files: ModelFiles, featureCacheBytes: number, kvDisk?: KvDiskCache) {
    this.native = nativeModel;
    this.info = nativeModel.info();
    this.files = Object.freeze({ ...files });
    // one native turn per sequence at a time
    this.#queue = new TaskQueue(Math.max(1, this.info.nSeq));
    this.#cache = new FeatureCache(featureCacheBytes);
    this.#kvDisk = kvDisk;
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
        this.#running.add(cancel);
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
          this.#running.delete(cancel);
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
    const out: PreparedMedia = { decodeMs: 0 };
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
      // the identity of the PCM: a sound asked about again skips preprocessing and the tower
      const dims = [decoded.channels.length, decoded.sampleRate, decoded.channels[0]?.length ?? 0];
      out.audio = { decoded, hash: contentHash('audio', dims, decoded.channels) };
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
    out.decodeMs = now() - t0;
    return out;
  }

  /** The media items of a turn in MEDIA_KINDS order: features from the cache, or inputs for the towers. */
  #planMedia(prep: PreparedMedia | undefined): MediaPlan {
    const plan: MediaPlan = { kinds: [], hashes: [], items: [], hits: [] };
    if (!prep) return plan;
    const add = (kind: MediaKind, hash: string, input: NativeMediaInput) => {
      const hit = this.#cache.get(hash);
      plan.kinds.push(kind);
      plan.hashes.push(hash);
      plan.hits.push(hit);
      plan.items.push(hit ? { features: hit.features } : input);
    };
    if (prep.image) {
      const d = prep.image.decoded;
      add('image', contentHash('image', [d.width, d.height], [d.data]), { kind: 'image', rgb: d.data, width: d.width, height: d.height, stride: d.width * 3 });
    }
    if (prep.video) {
      const v = prep.video;
      add('video', contentHash('video', [v.frames.length, v.size], v.frames), { kind: 'video', frames: v.frames });
    }
    if (prep.audio) {
      const a = prep.audio;
      add('audio', a.hash, { kind: 'audio', channels: a.decoded.channels, sampleRate: a.decoded.sampleRate });
    }
    return plan;
  }

  /** The spans of a prompt: token runs, and each media placeholder block as the rows of a plan item. */
  #spansFor(text: string, plan: MediaPlan): NativeTurnSpan[] {
    const ids = this.native.tokenize(text, true, true);
    const t = this.info.mediaTokens;
    const planned: PlannedSpan[] = planSpans(ids, { image: t[0][0], video: t[1][0], audio: t[2][0] });
    return planned.map((s) => {
      if (!('media' in s)) return { tokens: s.tokens };
      const i = plan.kinds.indexOf(s.media);
      if (i < 0) throw new InvalidInputError(`This prompt needs ${s.media} features, which this call does not have`);
      const rows = this.mediaRows()[s.media];
      if (rows !== s.rows) throw new InvalidInputError(`The ${s.media} block has ${s.rows} placeholders but the tower gives ${rows} rows`);
      return { media: i, id: idFromHash(plan.hashes[i]) };
    });
  }

  /**
   * One turn as one native operation, in the queue (run it inside {@link task}): the towers for
   * the media not in the feature cache, then, with `parsed`, the prompt of the turn (features
   * passed as native handles, never copied through JS) and the answer. New features go to the
   * cache; those it cannot keep are in `transient` (release them after use).
   */
  async turn(cancel: NativeCancel, prep: PreparedMedia | undefined, parsed: ParsedGenerate | undefined, events: TurnEvents = {}): Promise<TurnOutcome> {
    const plan = this.#planMedia(prep);
    const spans = parsed
      ? this.#spansFor(promptText({ system: parsed.system, history: parsed.history, user: parsed.user, media: plan.kinds, mediaRows: this.mediaRows() }), plan)
      : undefined;
    const { onTowerLoadProgress, onEncodeProgress, onPromptProgress, onToken } = events;
    const onEvent =
      onTowerLoadProgress || onEncodeProgress || onPromptProgress || onToken
        ? (tag: number, value: number, piece?: string) => {
            if (tag < TURN_PROMPT) onEncodeProgress?.(plan.kinds[tag], value);
            else if (tag === TURN_PROMPT) onPromptProgress?.(value);
            else if (tag === TURN_TOKEN) onToken?.(piece ?? '', value);
            else if (tag >= TURN_TOWER_LOAD) onTowerLoadProgress?.(plan.kinds[tag - TURN_TOWER_LOAD], value);
          }
        : undefined;
    const base: NativeTurnPlan = { media: plan.items, ...(spans ? { spans } : {}), ...(parsed ? { generate: parsed.native } : {}) };
    const disk = spans && parsed ? await this.#kvPlan(plan, spans) : undefined;
    let r: NativeTurnResult;
    if (disk?.snap) {
      try {
        r = await this.native.turn({ ...base, media: disk.media, restore: disk.snap.data, restoreKeep: disk.snap.keep }, cancel, onEvent);
      } catch (err) {
        // a snapshot that does not restore (another build of libllama, a damaged file that
        // passed its checksum): forgotten, and the turn runs as if there were none
        if (errorCode(err) !== 'INVALID_ARGUMENT' || cancel.cancelled) throw err;
        await this.#kvDisk?.remove(disk.key);
        r = await this.native.turn({ ...base, snapshot: disk.keep }, cancel, onEvent);
      }
    } else {
      r = await this.native.turn({ ...base, ...(disk ? { snapshot: disk.keep } : {}) }, cancel, onEvent);
    }
    if (disk && r.state) this.#kvDisk?.put(disk.key, { keep: disk.keep, data: r.state });
    if (this.#disposed) {
      // disposed while the operation ran to its end: nothing goes into the cleared cache
      for (const m of r.media) m.features?.release();
      throw new DisposedError();
    }
    const out: TurnOutcome = { features: [], transient: [], encodeMs: 0, preprocessMs: 0, cached: 0 };
    plan.kinds.forEach((kind, i) => {
      const hit = plan.hits[i];
      if (hit) {
        out.cached++;
        out.features.push(hit);
        return;
      }
      if (disk?.snap && disk.held.has(i)) {
        out.cached++; // its rows were in the KV cache (restored from disk): no tower, no features
        return;
      }
      const made = r.media[i]?.features;
      const rows = this.mediaRows()[kind];
      if (!made || made.rows !== rows || made.width !== this.info.nEmbd) {
        made?.release();
        throw new NativeError(
          'internal',
          `the ${kind} tower returned ${made?.rows ?? 0} x ${made?.width ?? 0} features, expected ${rows} x ${this.info.nEmbd}`,
        );
      }
      out.encodeMs += r.media[i].towerMs;
      out.preprocessMs += r.media[i].preprocessMs;
      const f: MediaFeatures = { kind, features: made, rows, width: made.width, hash: plan.hashes[i], id: idFromHash(plan.hashes[i]) };
      const audio = r.media[i].audio;
      if (audio) f.audio = audio;
      if (!this.#cache.set(f)) out.transient.push(f);
      out.features.push(f);
    });
    out.audio = out.features.find((f) => f.kind === 'audio')?.audio;
    if (parsed && r.generate && r.prompt) {
      const gen = r.generate;
      if (gen.stopReason === 'aborted') {
        for (const f of out.transient) f.features.release();
        if (this.#disposed) throw new DisposedError();
        if (parsed.signal?.aborted) throw abortError(parsed.signal);
      }
      const promptTokens = r.prompt.nEvaluated;
      const generated = gen.tokens.length;
      out.raw = gen.text;
      out.result = {
        text: gen.text.trim(),
        tokens: Array.from(gen.tokens),
        stopReason: gen.stopReason as NativeStopReason,
        timings: {
          promptTokens,
          reusedTokens: r.prompt.nReused,
          promptMs: r.prompt.ms,
          promptTokensPerSecond: r.prompt.ms > 0 ? (promptTokens * 1000) / r.prompt.ms : 0,
          generatedTokens: generated,
          generateMs: gen.ms,
          generateTokensPerSecond: gen.ms > 0 ? (generated * 1000) / gen.ms : 0,
        },
      };
    }
    return out;
  }

  /**
   * The KV cache on disk for a turn's prompt: the key of its media prefix (spans up to the end of
   * the last media block), its length, and the snapshot when the disk has one (with the media
   * items not in the feature cache replaced by `held` rows). Undefined without a cache folder, or
   * for prompts without media or with a sound (whose preprocessing results the answer reports).
   */
  async #kvPlan(
    plan: MediaPlan,
    spans: NativeTurnSpan[],
  ): Promise<{ key: string; keep: number; snap?: KvSnapshot; media: NativeMediaInput[]; held: Set<number> } | undefined> {
    const disk = this.#kvDisk;
    if (!disk || plan.kinds.length === 0 || plan.kinds.includes('audio')) return undefined;
    let last = -1;
    spans.forEach((s, i) => {
      if ('media' in s) last = i;
    });
    if (last < 0) return undefined;
    const prefix = spans.slice(0, last + 1);
    const rows = this.mediaRows();
    const keep = prefix.reduce((n, s) => n + ('tokens' in s ? s.tokens.length : rows[plan.kinds[s.media]]), 0);
    const key = disk.key(prefix.map((s) => ('tokens' in s ? { tokens: s.tokens } : { id: s.id ?? 0n })));
    const snap = await disk.get(key);
    const held = new Set<number>();
    const media = plan.items.map((item, i) => {
      if (!snap || plan.hits[i]) return item;
      held.add(i);
      return { held: MEDIA_KINDS.indexOf(plan.kinds[i]) };
    });
    return { key, keep, media, held, ...(snap ? { snap } : {}) };
  }

  /** Resolves when the KV snapshots being written to disk are written (dispose waits too). */
  async kvCacheIdle(): Promise<void> {
    await this.#kvDisk?.idle();
  }

  /** Reads the towers of `mask` now (Model.loadTowers): one queued task. */
  loadTowers(mask: number, signal: AbortSignal | undefined, onProgress?: (fraction: number) => void, guard?: CallbackGuard): Promise<void> {
    return this.task(signal, (cancel) => this.native.loadTowers(mask, cancel, onProgress), undefined, guard);
  }

  /** Frees the towers of `mask` and the towers' compute buffers (Model.releaseTowers): one queued task. */
  releaseTowers(mask: number): Promise<void> {
    return this.task(undefined, () => this.native.releaseTowers(mask));
  }

  /** embedImage / embedVideo / embedAudio: the towers only, the features copied out. */
  async embed(kind: MediaKind, media: ChatMedia, options: unknown): Promise<Embedding> {
    this.alive();
    this.requireTower(kind);
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const t0 = now();
    const prep = await this.prepare(media, parseMediaOptions(o), signal);
    const t1 = now();
    const { features, encodeMs, preprocessMs, transient } = await this.task(signal, (cancel) => this.turn(cancel, prep, undefined));
    const f = features[0];
    try {
      return { data: f.features.data(), shape: [f.rows, f.width], timings: { prepareMs: t1 - t0 + preprocessMs, encodeMs } };
    } finally {
      for (const x of transient) x.features.release();
    }
  }

  /**
   * Frees the model: a running operation is cancelled, queued ones reject with DisposedError,
   * media decoding in flight is aborted. Resolves once the native memory is released.
   */
  dispose(): Promise<void> {
    if (this.#disposing) return this.#disposing;
    this.#disposed = true;
    this.#queue.close(() => new DisposedError());
    for (const c of this.#running) c.cancel();
    // media decoding runs outside the queue: its ffmpeg children are killed now
    this.#disposeAc.abort();
    this.#cache.clear();
    this.#disposing = Promise.all([this.native.dispose(), this.#kvDisk?.idle()]).then(() => undefined);
    return this.#disposing;
  }
}
