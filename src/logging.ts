/** The process-wide sink of the native log (the core, ggml and libllama). */
import { native } from './native';
import type { LogLevel, Logger } from './types';
import { isThenable, oneOf, optionalFunction, optionsObject } from './util/validate';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Installs the process-wide sink for the native log (the core, ggml and libllama log through one
 * sink: the last logger set receives the lines of every model). `null` silences it (the default).
 * Lines arrive asynchronously on the main thread and never keep the process alive. A logger that
 * throws, or returns a promise that rejects, loses that line and nothing else.
 *
 * @param logger - the sink, or null
 * @param options.level - lowest level passed on (default `'warn'`)
 */
export function setLogger(logger: Logger | null, options?: { level?: LogLevel }): void {
  if (logger !== null) optionalFunction(logger, 'logger');
  const o = optionsObject(options);
  const level = oneOf(o.level, 'options.level', LEVELS, 'warn');
  if (logger === null) native().setLogger(null, 0);
  else {
    native().setLogger((lvl, text) => {
      // a logger that throws loses its line (the addon clears the exception); one whose promise
      // rejects does the same here, instead of an unhandled rejection that ends the process
      const r: unknown = (logger as (level: LogLevel, message: string) => unknown)(LEVELS[lvl] ?? 'error', text);
      if (isThenable(r)) Promise.resolve(r).catch(() => undefined);
    }, LEVELS.indexOf(level));
  }
}
