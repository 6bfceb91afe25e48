/**
 * Model: the public face of a loaded GroundingGPT model (tokens, info, text generation,
 * grounding calls, embeddings, chats, lifetime). It validates arguments and hands the work to the
 * model's engine (src/engine.ts: queue, feature cache, native steps) through conversations
 * (src/conversation.ts). loadModel() is in src/load.ts, the public types in src/types.ts.
 */
import { Chat } from './chat';
import { Conversation, generateOnce } from './conversation';
import { registerEngine, type Engine } from './engine';
import { InvalidInputError } from './errors';
import type { AudioInput } from './media/audio';
import type { ImageInput } from './media/image';
import type { VideoInput } from './media/video';
import { native } from './native';
import {
  AUDIO_ARG,
  IMAGE_ARG,
  MEDIA_ARG,
  MEDIA_KINDS,
  VIDEO_ARG,
  checkTokens,
  parseConversation,
  parseGenerate,
  parseMediaOptions,
  requiredMedia,
} from './options';
import { checkUserText, promptText, type MediaKind } from './prompt';
import { generationStream } from './stream';
import type {
  ChatMedia,
  ChatOptions,
  Embedding,
  GenerateOptions,
  GenerateResult,
  GenerationStream,
  GroundOptions,
  ImageGroundResult,
  VideoGroundResult,
  AudioGroundResult,
  MediaOptions,
  ModelFiles,
  ModelInfo,
  ModelMemory,
} from './types';
import { CallbackGuard, invalid, optionalFunction, optionalSignal, optionsObject } from './util/validate';

// Node < 18.18 has no Symbol.asyncDispose (used by `await using`); define it as Node's own
// polyfill does, so Model[Symbol.asyncDispose] is the same symbol newer runtimes use.
if (typeof Symbol.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') });
}

/**
 * The towers named by LoadModelOptions.towers / Model.loadTowers / releaseTowers as the addon's
 * mask (bit 1 << index in MEDIA_KINDS): 'all', 'none' or a list of media kinds.
 */
export function towerMask(value: unknown, name: string, dflt: 'all' | 'none'): number {
  const v = value === undefined ? dflt : value;
  if (v === 'all') return 7;
  if (v === 'none') return 0;
  if (Array.isArray(v)) {
    let mask = 0;
    for (const k of v) {
      const i = MEDIA_KINDS.indexOf(k as MediaKind);
      if (i < 0) throw new InvalidInputError(`${name} must be 'all', 'none' or an array of 'image', 'video', 'audio'; got ${JSON.stringify(k)} in it`);
      mask |= 1 << i;
    }
    return mask;
  }
  throw new InvalidInputError(`${name} must be 'all', 'none' or an array of 'image', 'video', 'audio'`);
}

/** A loaded GroundingGPT model with its context (KV cache). Create with {@link loadModel}. */
export class Model {
  readonly #engine: Engine;

  /** The files the model was loaded from. */
  readonly files: Readonly<ModelFiles>;

  /** @internal use {@link loadModel} */
  constructor(engine: Engine) {
    this.#engine = engine;
    this.files = engine.files;
    registerEngine(this, engine);
  }

  /** Sizes, backends, memory. */
  get info(): ModelInfo {
    this.#engine.alive();
    const i = this.#engine.info;
    // asked now: whether an RPC connection failed since the load
    const unusable = this.#engine.native.unusable();
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
      parallel: i.nSeq,
      trainContextSize: i.nCtxTrain,
      backend: i.backend,
      devices: i.devices.map((d) => ({ name: d.name, description: d.description, layers: [d.layerBegin, d.layerEnd], output: d.output })),
      towerDevice: i.towerDevice,
      usable: unusable === null,
      ...(unusable !== null ? { unusableReason: unusable } : {}),
      systemInfo: native().systemInfo(),
      parameters: { llm: i.llmParams, encoders: i.encodersParams },
      memory: this.#memory(),
      media,
      tokens: { bos: i.tokenBos, eos: i.tokenEos },
    };
  }

  #memory(): ModelMemory {
    const m = this.#engine.native.memory();
    const towers = { image: m.towers[0], video: m.towers[1], audio: m.towers[2] };
    const total = m.llmWeights + towers.image + towers.video + towers.audio + m.kvCache + m.llmCompute + m.towerCompute;
    return {
      llm: m.llmWeights,
      encoders: this.#engine.info.encodersBytes,
      towers,
      kvCache: m.kvCache,
      compute: { llm: m.llmCompute, towers: m.towerCompute },
      total,
      device: m.device,
    };
  }

  /**
   * Reads the weights of these towers now (default: every tower of the model) instead of in the
   * first call that needs them. Towers already resident cost nothing. Rejects with AbortError
   * when `signal` aborts (the tower stays unloaded); a file that was cut short since the load
   * rejects with NativeError and leaves the model usable. docs/ARCHITECTURE.md, "Towers on demand".
   */
  async loadTowers(kinds?: 'all' | MediaKind[], options?: { signal?: AbortSignal; onProgress?: (fraction: number) => void }): Promise<void> {
    this.#engine.alive();
    const mask = towerMask(kinds, 'kinds', 'all');
    const o = optionsObject(options);
    const signal = optionalSignal(o.signal, 'options.signal');
    const guard = new CallbackGuard();
    const onProgress = guard.wrap(optionalFunction<(fraction: number) => unknown>(o.onProgress, 'options.onProgress'));
    await this.#engine.loadTowers(mask, signal, onProgress, guard);
  }

  /**
   * Frees the weights of these towers (default: all) and the towers' compute buffers; the next
   * call that needs a tower reads it again. Waits for running calls' tower work to end.
   */
  async releaseTowers(kinds?: 'all' | MediaKind[]): Promise<void> {
    this.#engine.alive();
    await this.#engine.releaseTowers(towerMask(kinds, 'kinds', 'all'));
  }

  /** True after {@link dispose}. */
  get disposed(): boolean {
    return this.#engine.disposed;
  }

  /**
   * Token ids of a text as upstream's tokenizer gives them.
   *
   * @param options.bos - prepend BOS (default true)
   * @param options.special - split at the media tokens and `<s>`, `</s>`, `<unk>` as upstream's
   *   added tokens (default true); false encodes the whole text with SentencePiece
   */
  tokenize(text: string, options?: { bos?: boolean; special?: boolean }): number[] {
    this.#engine.alive();
    if (typeof text !== 'string') throw invalid('a string', 'text', text);
    const o = optionsObject(options);
    const bos = o.bos === undefined ? true : o.bos;
    const special = o.special === undefined ? true : o.special;
    if (typeof bos !== 'boolean') throw invalid('a boolean', 'options.bos', bos);
    if (typeof special !== 'boolean') throw invalid('a boolean', 'options.special', special);
    return Array.from(this.#engine.native.tokenize(text, bos, special));
  }

  /**
   * Text of token ids as upstream decodes them (`skip_special_tokens=True`: control and media
   * tokens give nothing).
   *
   * @param options.stripLeadingSpace - drop SentencePiece's dummy-prefix space of the first piece (default true)
   */
  detokenize(tokens: ArrayLike<number>, options?: { stripLeadingSpace?: boolean }): string {
    this.#engine.alive();
    const ids = checkTokens(tokens, 'tokens', this.#engine.info.nVocab);
    const o = optionsObject(options);
    const strip = o.stripLeadingSpace === undefined ? true : o.stripLeadingSpace;
    if (typeof strip !== 'boolean') throw invalid('a boolean', 'options.stripLeadingSpace', strip);
    return this.#engine.native.detokenize(ids, strip);
  }

  /** The prompt text {@link generate} evaluates for `text` and these options (upstream's template). */
  promptText(text: string, options?: Pick<GenerateOptions, 'system' | 'history'>): string {
    this.#engine.alive();
    const o = optionsObject(options);
    checkUserText(text, 'text');
    const { system, history } = parseConversation(o);
    return promptText({ system, history, user: text, mediaRows: this.#engine.mediaRows() });
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
    this.#engine.alive();
    const parsed = parseGenerate(text, options, this.#engine.info.nVocab);
    return generateOnce(this.#engine, parsed, parsed.onToken);
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
    return generationStream((queuePiece, onStart) => {
      this.#engine.alive();
      const parsed = parseGenerate(text, options, this.#engine.info.nVocab);
      const userOnToken = parsed.onToken;
      const onToken = (piece: string, token: number) => {
        userOnToken?.(piece, token);
        queuePiece(piece, token);
      };
      return generateOnce(this.#engine, parsed, onToken, onStart);
    });
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
  async groundImage(image: ImageInput, prompt: string, options?: GroundOptions): Promise<ImageGroundResult> {
    // a turn with an image always reports its geometry (src/conversation.ts groundResult)
    return Conversation.groundOnce(this.#engine, { image: requiredMedia(image, IMAGE_ARG, 'image') }, prompt, options) as Promise<ImageGroundResult>;
  }

  /**
   * Asks about a video (64 frames sampled as upstream): `{s, e}` spans in the answer become
   * segments in seconds.
   *
   * @param video - a path, or raw frames `{ frames: [{ data, width, height, channels }], fps?, duration? }`
   * @throws InvalidInputError, FFmpegNotFoundError (a file and no ffmpeg), AbortError, DisposedError
   */
  async groundVideo(video: VideoInput, prompt: string, options?: GroundOptions): Promise<VideoGroundResult> {
    return Conversation.groundOnce(this.#engine, { video: requiredMedia(video, VIDEO_ARG, 'video') }, prompt, options) as Promise<VideoGroundResult>;
  }

  /**
   * Asks about a sound. With `options.image` it localises the source: the prompt holds the sound
   * block then the image block (docs/COMPUTATION.md §5) and the result carries boxes mapped to that image
   * exactly like {@link groundImage}.
   *
   * @param audio - a path, the bytes of an encoded file, or raw PCM `{ samples, sampleRate }`
   * @throws InvalidInputError, FFmpegNotFoundError, AbortError, DisposedError
   */
  async groundAudio(audio: AudioInput, prompt: string, options?: GroundOptions & { image?: ImageInput }): Promise<AudioGroundResult> {
    requiredMedia(audio, AUDIO_ARG, 'audio');
    const o = optionsObject(options);
    const media: ChatMedia = o.image === undefined ? { audio } : { audio, image: requiredMedia(o.image, IMAGE_ARG, 'options.image') as ImageInput };
    return Conversation.groundOnce(this.#engine, media, prompt, options) as Promise<AudioGroundResult>;
  }

  /** Projected image features ([576, embeddingSize] for GroundingGPT-7B): what replaces the `<im_patch>` tokens. */
  async embedImage(image: ImageInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#engine.embed('image', { image: requiredMedia(image, IMAGE_ARG, 'image') }, options);
  }

  /** Projected video features ([64, embeddingSize]). */
  async embedVideo(video: VideoInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#engine.embed('video', { video: requiredMedia(video, VIDEO_ARG, 'video') }, options);
  }

  /** Projected sound features ([8, embeddingSize]). */
  async embedAudio(audio: AudioInput, options?: MediaOptions & { signal?: AbortSignal }): Promise<Embedding> {
    return this.#engine.embed('audio', { audio: requiredMedia(audio, AUDIO_ARG, 'audio') }, options);
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
    this.#engine.alive();
    const o = optionsObject(options);
    const media: ChatMedia = {};
    // an option given as undefined is absent; null is not a medium
    for (const k of MEDIA_KINDS) if (o[k] !== undefined) (media as Record<string, unknown>)[k] = requiredMedia(o[k], MEDIA_ARG[k], `options.${k}`);
    const conv = parseConversation(o);
    const mediaOptions = parseMediaOptions(o);
    for (const k of MEDIA_KINDS) if (media[k] !== undefined) this.#engine.requireTower(k);
    return new Chat(new Conversation(this.#engine, media, mediaOptions, conv.history, conv.system));
  }

  /**
   * Frees the model. Safe at any time: a running call is cancelled and rejects with
   * DisposedError, queued calls reject with DisposedError; resolves once the native memory is
   * released. A second call is a no-op.
   */
  dispose(): Promise<void> {
    return this.#engine.dispose();
  }

  /** `await using model = await loadModel(...)` disposes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
