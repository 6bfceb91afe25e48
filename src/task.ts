/**
 * How a call meets a native operation: a cancel flag linked to the caller's AbortSignal, and the
 * addon's error codes (native/addon, src/native.ts) mapped to the typed errors of src/errors.ts.
 */
import { AbortError, DisposedError, GroundingGPTError, InvalidInputError, NativeError } from './errors';
import { native, type NativeCancel } from './native';

/** The `code` of an addon error (the core's status name), if any. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
}

/** Maps an addon error (code = core status) to the typed errors of the API. */
export function mapNativeError(err: unknown, signal?: AbortSignal): unknown {
  if (err instanceof GroundingGPTError) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case undefined:
      return err;
    case 'ABORTED':
      return new AbortError(undefined, { cause: signal?.reason });
    case 'DISPOSED':
      return new DisposedError();
    case 'INVALID_ARGUMENT':
    case 'CONTEXT_FULL':
      return new InvalidInputError(message, { cause: err });
    default:
      return new NativeError(code.toLowerCase(), message);
  }
}

/** The AbortError of a call whose signal aborted (its reason as the cause). */
export function abortError(signal?: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal?.reason });
}

/** A native cancel flag raised by `signal` while an operation runs. */
export function linkCancel(signal: AbortSignal | undefined): { cancel: NativeCancel; unlink: () => void } {
  const cancel = native().createCancel();
  if (!signal) return { cancel, unlink: () => undefined };
  const onAbort = () => cancel.cancel();
  if (signal.aborted) cancel.cancel();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { cancel, unlink: () => signal.removeEventListener('abort', onAbort) };
}
