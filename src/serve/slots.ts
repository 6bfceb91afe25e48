/**
 * Admission and sequence slots of the server (docs/SERVE.md "Limits"): at most `parallel` model
 * calls run at once (one per sequence of a model loaded with `parallel`), at most `maxQueue`
 * more requests wait (fetching and decoding their media, then waiting for a slot). A request
 * beyond that is refused at once (429), never queued without bound.
 */

/** One admitted request: wait for a slot, run, release (always, exactly once). */
export interface Ticket {
  /** Resolves when a slot is free; rejects with `signal.reason` when the signal aborts first. */
  acquire(signal: AbortSignal): Promise<void>;
  /** Frees the slot (or the place in the queue). Idempotent. */
  release(): void;
}

export class Slots {
  #admitted = 0;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    /** Slots; may be set before any request is admitted (to the loaded model's `info.parallel`). */
    public parallel: number,
    readonly maxQueue: number,
  ) {}

  /** Model calls running. */
  get active(): number {
    return this.#active;
  }

  /** Admitted requests not holding a slot. */
  get queued(): number {
    return this.#admitted - this.#active;
  }

  /** Requests admitted and not yet released. */
  get admitted(): number {
    return this.#admitted;
  }

  /** A ticket, or undefined when `parallel + maxQueue` requests are already admitted. */
  admit(): Ticket | undefined {
    if (this.#admitted >= this.parallel + this.maxQueue) return undefined;
    this.#admitted++;
    let holding = false;
    let released = false;
    let wake: (() => void) | undefined;
    return {
      acquire: (signal) => {
        if (released) return Promise.reject(new Error('ticket released'));
        if (signal.aborted) return Promise.reject(signal.reason);
        if (this.#active < this.parallel && this.#waiting.length === 0) {
          this.#active++;
          holding = true;
          return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            const i = wake ? this.#waiting.indexOf(wake) : -1;
            if (i >= 0) this.#waiting.splice(i, 1);
            wake = undefined;
            reject(signal.reason);
          };
          wake = () => {
            signal.removeEventListener('abort', onAbort);
            wake = undefined;
            this.#active++;
            holding = true;
            resolve();
          };
          this.#waiting.push(wake);
          signal.addEventListener('abort', onAbort, { once: true });
        });
      },
      release: () => {
        if (released) return;
        released = true;
        this.#admitted--;
        if (wake) {
          const i = this.#waiting.indexOf(wake);
          if (i >= 0) this.#waiting.splice(i, 1);
          wake = undefined;
        }
        if (holding) {
          holding = false;
          this.#active--;
          this.#waiting.shift()?.();
        }
      },
    };
  }
}
