/**
 * Chat: a multi-turn conversation with one model about optional media (docs/COMPUTATION.md §5: the media
 * blocks sit in the first user turn; later turns append `{answer}###Human: {question}###Assistant:`).
 * The media are decoded once, their features come from the model's feature cache, and the KV
 * cache keeps the conversation so each turn only evaluates what is new.
 */
import { kChatTurn, kPrepare } from './internal';
import type { ChatMedia, GroundOptions, GroundResult, MediaOptions, Model } from './model';
import type { ChatTurn } from './prompt';
import { DisposedError } from './errors';

/** Created by {@link Model.createChat}. Turns are sent one after another (calls queue up). */
export class Chat {
  readonly #model: Model;
  readonly #media: ChatMedia;
  readonly #mediaOptions: MediaOptions;
  readonly #history: ChatTurn[];
  readonly #system: string | undefined;
  // decoded media, shared by every turn (decoding is retried after a failure)
  #prepared: ReturnType<Model[typeof kPrepare]> | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal use {@link Model.createChat} */
  constructor(model: Model, media: ChatMedia, mediaOptions: MediaOptions, history: ChatTurn[], system: string | undefined) {
    this.#model = model;
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
   * Sends the next user turn and returns the answer (boxes when the chat has an image,
   * segments when it has a video). The turn joins the history only when it succeeds.
   *
   * @throws InvalidInputError, AbortError, DisposedError — the chat stays usable after any of them
   */
  send(text: string, options?: GroundOptions): Promise<GroundResult> {
    const run = async (): Promise<GroundResult> => {
      if (this.#model.disposed) throw new DisposedError();
      const signal = options?.signal;
      const onProgress = options?.onProgress;
      const prepared = () => {
        this.#prepared ??= this.#model[kPrepare](this.#media, this.#mediaOptions, signal, onProgress);
        this.#prepared.catch(() => {
          this.#prepared = undefined;
        });
        return this.#prepared;
      };
      const result = await this.#model[kChatTurn](this.#media, prepared, text, options, this.#history, this.#system);
      this.#history.push({ user: text, assistant: result.text });
      return result;
    };
    const p = this.#tail.then(run, run);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}
