/** Small helpers shared by the converter: JSON configs, typed fields, tensor checks. */
import fs from 'node:fs';
import { ConversionError } from '../errors';
import { GGMLType } from '../gguf/types';
import { f32ToF16 } from '../gguf/float';
import { Checkpoint } from './checkpoint';
import { TensorEntry, numel, toFloat32 } from './tensor';

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

/** A positive integer field of a config, or `fallback` when absent (no fallback: required). */
export function intField(cfg: Json, key: string, file: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConversionError(`${file}: missing "${key}"`, { file });
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConversionError(`${file}: "${key}" is not an integer (${JSON.stringify(v)})`, { file });
  return v;
}

export function numField(cfg: Json, key: string, file: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConversionError(`${file}: missing "${key}"`, { file });
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConversionError(`${file}: "${key}" is not a number (${JSON.stringify(v)})`, { file });
  return v;
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

/** Reads a tensor as float32 and checks its element count. */
export async function readF32(t: TensorEntry, expected: readonly number[]): Promise<Float32Array> {
  const data = await t.read();
  const v = toFloat32(data);
  if (v.length !== numel(expected)) throw new ConversionError(`${t.file}: tensor ${t.name} has ${v.length} values, expected ${numel(expected)}`, { file: t.file, tensor: t.name });
  return v;
}
