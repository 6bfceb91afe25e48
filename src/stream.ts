/** A generation as an async iterable of text pieces (Model.generateStream). */
import type { NativeCancel } from './native';
import type { GenerateResult, GenerationStream } from './types';

/**
 * Runs `start` with a token callback that queues the pieces for the iterator, and a start hook
 * that hands over the operation's cancel flag: leaving the `for await` loop early raises it.
 * `start` may throw synchronously (bad options): the stream then fails with that error.
 */
export function generationStream(
  start: (onToken: (piece: string, token: number) => void, onStart: (cancel: NativeCancel) => void) => Promise<GenerateResult>,
): GenerationStream {
  const pieces: string[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let stopCancel: NativeCancel | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let result: Promise<GenerateResult>;
  try {
    result = start(
      (piece) => {
        if (piece.length > 0) pieces.push(piece);
        notify();
      },
      (cancel) => {
        stopCancel = cancel;
        if (stopped) cancel.cancel();
      },
    );
  } catch (err) {
    result = Promise.reject(err);
  }
  result.then(
    () => {
      finished = true;
      notify();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      notify();
    },
  );
  const iterator: AsyncIterator<string> = {
    next: async (): Promise<IteratorResult<string>> => {
      for (;;) {
        if (pieces.length > 0) return { value: pieces.shift() as string, done: false };
        if (failure) throw failure.error;
        if (finished || stopped) return { value: undefined, done: true };
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    return: async (): Promise<IteratorResult<string>> => {
      if (!finished) {
        stopped = true;
        stopCancel?.cancel();
      }
      return { value: undefined, done: true };
    },
  };
  return { result, [Symbol.asyncIterator]: () => iterator };
}
