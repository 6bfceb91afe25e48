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
  if (typeof value !== 'object' || value === null || typeof (value as AbortSignal).aborted !== 'boolean' || typeof (value as AbortSignal).addEventListener !== 'function') {
    throw invalid('an AbortSignal', name, value);
  }
  return value as AbortSignal;
}
