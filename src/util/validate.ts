/**
 * Synchronous argument validation with one message shape:
 * `Expected <what> for <name> but received <value> of type <type>`.
 */
import { InvalidInputError } from '../errors';

function describe(value: unknown): string {
  if (value === null) return 'null of type null';
  if (value === undefined) return 'undefined of type undefined';
  const type = Array.isArray(value) ? 'array' : typeof value;
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') shown = String(value);
  else if (typeof value === 'function') shown = 'a function';
  else if (ArrayBuffer.isView(value)) shown = `${value.constructor.name}(${(value as ArrayBufferView).byteLength} bytes)`;
  else if (Array.isArray(value)) shown = `an array of ${value.length}`;
  else shown = `an ${(value as object).constructor?.name ?? 'object'}`;
  return `${shown} of type ${type}`;
}

/** The error for a bad argument. */
export function invalid(what: string, name: string, value: unknown): InvalidInputError {
  return new InvalidInputError(`Expected ${what} for ${name} but received ${describe(value)}`);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** An optional options object. */
export function optionsObject(value: unknown, name = 'options'): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalid('an object', name, value);
  return value;
}

export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`an integer between ${min} and ${max}`, name, value);
  }
  return value;
}

export function optionalInteger(value: unknown, name: string, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : integer(value, name, min, max);
}

export function number(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(`a number between ${min} and ${max}`, name, value);
  }
  return value;
}

export function optionalNumber(value: unknown, name: string, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : number(value, name, min, max);
}

export function string(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid('a non-empty string', name, value);
  return value;
}

export function optionalBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid('a boolean', name, value);
  return value;
}

export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, name, value);
  }
  return value as T;
}

export function optionalFunction<F extends (...args: never[]) => unknown>(value: unknown, name: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid('a function', name, value);
  return value as F;
}

export function optionalSignal(value: unknown, name = 'signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as AbortSignal).aborted !== 'boolean' ||
    typeof (value as AbortSignal).addEventListener !== 'function'
  ) {
    throw invalid('an AbortSignal', name, value);
  }
  return value as AbortSignal;
}

/** Whether `v` is a promise or another thenable (what an async callback returns). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

/**
 * The user callbacks of one call (onToken, onProgress...): a callback that returns a promise which
 * rejects is treated like one that throws. The first such error is kept, `onFailure` runs (it
 * raises the call's cancel flag) and {@link CallbackGuard.check} throws that error, so the call
 * rejects with it instead of the rejection going unhandled (which ends the process). Promises are
 * not awaited between calls; {@link CallbackGuard.settle} waits for those still pending.
 */
export class CallbackGuard {
  #pending = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  /** Runs once, when a callback's promise first rejects. */
  onFailure: (() => void) | undefined;

  /** `fn` wrapped; undefined stays undefined. A synchronous throw still propagates. */
  wrap<A extends unknown[]>(fn: ((...args: A) => unknown) | undefined): ((...args: A) => void) | undefined {
    if (fn === undefined) return undefined;
    return (...args: A) => {
      const r = fn(...args);
      if (isThenable(r)) this.track(r);
    };
  }

  /** Watches a callback's promise. */
  track(r: PromiseLike<unknown>): void {
    const p = Promise.resolve(r).then(
      () => undefined,
      (error: unknown) => {
        if (this.#failure) return;
        this.#failure = { error };
        this.onFailure?.();
      },
    );
    this.#pending.add(p);
    void p.then(() => this.#pending.delete(p));
  }

  /** Whether a callback's promise has rejected. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Throws the first rejection of a callback's promise, if any. */
  check(): void {
    if (this.#failure) throw this.#failure.error;
  }

  /** Waits until every callback promise seen so far has settled, then {@link check}s. */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    this.check();
  }
}

/** One signal that aborts (with the same reason) when either does; `unlink` removes the listeners. */
export function anySignal(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; unlink: () => void } {
  if (!a) return { signal: b, unlink: () => undefined };
  const ac = new AbortController();
  const abortA = () => ac.abort(a.reason);
  const abortB = () => ac.abort(b.reason);
  if (a.aborted) abortA();
  else if (b.aborted) abortB();
  else {
    a.addEventListener('abort', abortA, { once: true });
    b.addEventListener('abort', abortB, { once: true });
  }
  return {
    signal: ac.signal,
    unlink: () => {
      a.removeEventListener('abort', abortA);
      b.removeEventListener('abort', abortB);
    },
  };
}
