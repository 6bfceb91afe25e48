/**
 * A FIFO of async tasks that run at most `concurrency` at a time (1: the calls on a model are
 * never interleaved; N: a model with N parallel sequences). A task whose AbortSignal fires while
 * it waits leaves the queue at once; `close()` rejects every task that has not started.
 */

interface Entry {
  start: () => void;
  reject: (err: unknown) => void;
  started: boolean;
  done: boolean;
}

export class TaskQueue {
  readonly #concurrency: number;
  #waiting: Entry[] = [];
  #running = 0;
  #closedWith: (() => Error) | undefined;

  constructor(concurrency = 1) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    this.#concurrency = concurrency;
  }

  /** Number of tasks waiting or running. */
  get size(): number {
    return this.#waiting.length + this.#running;
  }

  /** Number of tasks running. */
  get running(): number {
    return this.#running;
  }

  /** Number of tasks waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `task` once fewer than `concurrency` tasks run and every task queued before it has
   * started. Rejects without running it when `signal` is (or becomes, while waiting) aborted —
   * with `abortError()` — or when the queue is closed.
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal, abortError?: () => Error): Promise<T> {
    if (this.#closedWith) return Promise.reject(this.#closedWith());
    if (signal?.aborted) return Promise.reject(abortError ? abortError() : new Error('aborted'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (entry.started || entry.done) return;
        entry.done = true;
        this.#waiting.splice(this.#waiting.indexOf(entry), 1);
        reject(abortError ? abortError() : new Error('aborted'));
      };
      const entry: Entry = {
        started: false,
        done: false,
        reject: (err) => {
          if (entry.done) return;
          entry.done = true;
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
        start: () => {
          entry.started = true;
          signal?.removeEventListener('abort', onAbort);
          this.#running++;
          let p: Promise<T>;
          try {
            p = task();
          } catch (err) {
            p = Promise.reject(err);
          }
          p.then(resolve, reject).finally(() => {
            entry.done = true;
            this.#running--;
            this.#next();
          });
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
      this.#next();
    });
  }

  /** Rejects every task that has not started with `error()`, and every later `run`. */
  close(error: () => Error): void {
    this.#closedWith = error;
    const waiting = this.#waiting.splice(0);
    for (const e of waiting) e.reject(error());
  }

  #next(): void {
    while (this.#running < this.#concurrency) {
      const entry = this.#waiting.shift();
      if (!entry) return;
      entry.start();
    }
  }
}
