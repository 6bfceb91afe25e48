/**
 * Chat: a multi-turn conversation with one model about optional media (docs/COMPUTATION.md §5: the media
 * blocks sit in the first user turn; later turns append `{answer}###Human: {question}###Assistant:`).
 * The media are decoded once, their features come from the model's feature cache, and the KV
 * cache keeps the conversation so each turn only evaluates what is new. The work is the
 * conversation's (src/conversation.ts); this class is its public face.
 */
import type { Conversation } from './conversation';
import type { ChatTurn } from './prompt';
import type { GroundOptions, GroundResult } from './types';

/** Created by {@link Model.createChat}. Turns are sent one after another (calls queue up). */
export class Chat {
  readonly #conversation: Conversation;

  /** @internal use {@link Model.createChat} */
  constructor(conversation: Conversation) {
    this.#conversation = conversation;
  }

  /** The turns so far, oldest first (copies). */
  get history(): ChatTurn[] {
    return this.#conversation.history;
  }

  /**
   * Sends the next user turn and returns the answer (boxes when the chat has an image,
   * segments when it has a video). The turn joins the history only when it succeeds.
   *
   * @throws InvalidInputError, AbortError, DisposedError — the chat stays usable after any of them
   */
  send(text: string, options?: GroundOptions): Promise<GroundResult> {
    return this.#conversation.send(text, options);
  }
}
