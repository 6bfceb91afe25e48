/** Small helpers shared by the converter: JSON configs, typed fields, tensor checks. */
import fs from 'node:fs';
import { ConversionError } from '../errors';
import { GGMLType } from '../gguf/types';
import { f32ToF16 } from '../gguf/float';
import type { Checkpoint } from './checkpoint';
import { DTYPE_SIZE, type TensorData, type TensorEntry, numel, toFloat32 } from './tensor';

export type Json = Record<string, unknown>;

/** Reads a JSON object; `required: false` returns undefined when the file does not exist. */
export function readJson(file: string, required: true): Json;
export function readJson(file: string, required: false): Json | undefined;
export function readJson(file: string, required: boolean): Json | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConversionError(`${file}: missing or unreadable (${(err as Error).message})`, { file, cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ConversionError(`${file}: not valid JSON`, { file, cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConversionError(`${file}: not a JSON object`, { file });
  return v as Json;
}

/** The widest range accepted for an integer config value when the caller gives none (int32). */
const INT32: readonly [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/**
 * An integer field of a config within `range` (inclusive), or `fallback` when absent (no
 * fallback: required). Checked before anything is sized from it.
 */
export function intField(cfg: Json, key: string, file: string, fallback?: number, range: readonly [number, number] = INT32): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConversionError(`${file}: missing "${key}"`, { file });
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConversionError(`${file}: "${key}" is not an integer (${JSON.stringify(v)})`, { file });
  if (v < range[0] || v > range[1]) {
    throw new ConversionError(`${file}: "${key}" = ${v} is outside the accepted range [${range[0]}, ${range[1]}]`, { file });
  }
  return v;
}

/**
 * A finite number field of a config, or `fallback` when absent. `range` bounds it (exclusive
 * bounds: epsilons and rope bases must be strictly positive).
 */
export function numField(cfg: Json, key: string, file: string, fallback?: number, range?: { above: number; below: number }): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConversionError(`${file}: missing "${key}"`, { file });
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConversionError(`${file}: "${key}" is not a finite number (${JSON.stringify(v)})`, { file });
  if (range && !(v > range.above && v < range.below)) {
    throw new ConversionError(`${file}: "${key}" = ${v} is outside the accepted range (${range.above}, ${range.below})`, { file });
  }
  return v;
}

/**
 * A config value that a tensor's shape also gives: throws (naming the config file, the key and
 * the tensor with its file) when they differ. Run before anything is allocated from the config.
 */
export function configMatchesTensor(file: string, key: string, value: number, t: TensorEntry, actual: number, what: string): void {
  if (value !== actual) {
    throw new ConversionError(`${file}: "${key}" = ${value} but tensor ${t.name} (in ${t.file}) has ${actual} ${what}`, { file, tensor: t.name });
  }
}

/** Drops leading 1-dims (e.g. (1, 1, D) -> (D), (1, N, D) -> (N, D)). */
export function squeezeLeading(shape: readonly number[]): number[] {
  let i = 0;
  while (i < shape.length - 1 && shape[i] === 1) i++;
  return shape.slice(i);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A tensor that must exist. */
export function need(ck: Checkpoint, name: string): TensorEntry {
  const t = ck.tensors.get(name);
  if (!t) {
    const where = ck.files.length ? ck.files.map((f) => f.name).join(', ') : ck.dir;
    throw new ConversionError(`${ck.dir}: missing tensor ${name} (in ${where})`, { file: ck.dir, tensor: name });
  }
  return t;
}

/** Checks a tensor's shape (leading 1-dims ignored) against the expected GGUF shape. */
export function checkShape(t: TensorEntry, expected: readonly number[]): void {
  if (!sameShape(squeezeLeading(t.shape), squeezeLeading(expected))) {
    throw new ConversionError(`${t.file}: tensor ${t.name} has shape [${t.shape.join(', ')}], expected [${expected.join(', ')}]`, {
      file: t.file,
      tensor: t.name,
    });
  }
}

/** Checks a floating-point dtype. */
export function checkFloat(t: TensorEntry): void {
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
    throw new ConversionError(`${t.file}: tensor ${t.name} has dtype ${t.dtype}, expected a floating-point type`, { file: t.file, tensor: t.name });
  }
}

/** Converts float32 values into the bytes of a float GGUF type (F32, F16). */
export function encodeFloat(values: Float32Array, type: GGMLType): Uint8Array {
  if (type === GGMLType.F32) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === GGMLType.F16) return f32ToF16(values);
  throw new Error(`encodeFloat: unsupported type ${type}`);
}

/**
 * Throws when the bytes of a float tensor hold a NaN or an infinity (exponent bits all ones), with
 * the tensor, its file and the first such element. One pass over each tensor's data as it streams
 * through the converter (README, "Getting a model": memory follows the largest tensor).
 */
export function checkFiniteData(t: TensorEntry, d: TensorData): void {
  const b = d.bytes;
  const view = (size: number) => (b.byteOffset % size === 0 ? b : b.slice());
  let at = -1;
  switch (d.dtype) {
    case 'F32': {
      const v = view(4);
      const u = new Uint32Array(v.buffer, v.byteOffset, v.byteLength >>> 2);
      for (let i = 0; i < u.length; i++) {
        if ((u[i] & 0x7f800000) === 0x7f800000) {
          at = i;
          break;
        }
      }
      break;
    }
    case 'F16':
    case 'BF16': {
      const v = view(2);
      const u = new Uint16Array(v.buffer, v.byteOffset, v.byteLength >>> 1);
      const mask = d.dtype === 'F16' ? 0x7c00 : 0x7f80;
      for (let i = 0; i < u.length; i++) {
        if ((u[i] & mask) === mask) {
          at = i;
          break;
        }
      }
      break;
    }
    case 'F64': {
      const v = view(4);
      const u = new Uint32Array(v.buffer, v.byteOffset, v.byteLength >>> 2);
      for (let i = 1; i < u.length; i += 2) {
        if ((u[i] & 0x7ff00000) === 0x7ff00000) {
          at = i >>> 1;
          break;
        }
      }
      break;
    }
    default:
      return;
  }
  if (at >= 0) {
    const value = toFloat32({ dtype: d.dtype, shape: [1], bytes: b.subarray(at * DTYPE_SIZE[d.dtype], (at + 1) * DTYPE_SIZE[d.dtype]) })[0];
    throw new ConversionError(`${t.file}: tensor ${t.name} holds a non-finite value (${value}) at element ${at}`, { file: t.file, tensor: t.name });
  }
}

/**
 * Throws when f16 bytes converted from finite values hold an infinity: a weight beyond f16's
 * range (|x| > 65504). Such a tensor needs `type: 'f32'`.
 */
export function checkF16Range(t: TensorEntry, f16: Uint8Array, source?: Float32Array): void {
  const u = new Uint16Array(f16.buffer, f16.byteOffset, f16.byteLength >>> 1);
  for (let i = 0; i < u.length; i++) {
    if ((u[i] & 0x7c00) === 0x7c00) {
      const shown = source ? ` (${source[i]})` : '';
      throw new ConversionError(`${t.file}: tensor ${t.name} has a value${shown} at element ${i} beyond the f16 range (65504); convert with type 'f32'`, {
        file: t.file,
        tensor: t.name,
      });
    }
  }
}

/** Reads a tensor as float32, checks its element count and that every value is finite. */
export async function readF32(t: TensorEntry, expected: readonly number[]): Promise<Float32Array> {
  const data = await t.read();
  checkFiniteData(t, data);
  const v = toFloat32(data);
  if (v.length !== numel(expected))
    throw new ConversionError(`${t.file}: tensor ${t.name} has ${v.length} values, expected ${numel(expected)}`, { file: t.file, tensor: t.name });
  return v;
}
