// Access to ../shared/golden: the manifest, .npy arrays, and tolerance checks.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

export const goldenDir = path.resolve(__dirname, '..', '..', '..', 'shared', 'golden');
export const expectedDir = path.join(goldenDir, 'expected');
export const mediaDir = path.join(goldenDir, 'media');
export const tinyDir = path.join(goldenDir, 'tiny');

export interface GoldenOutput {
  file: string;
  shape: number[];
  dtype: string;
  description: string;
  atol?: number;
  rtol?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: the golden JSON files are read as they are
export type Manifest = any;

let manifestCache: Manifest | undefined;
export function manifest(): Manifest {
  manifestCache ??= JSON.parse(fs.readFileSync(path.join(expectedDir, 'manifest.json'), 'utf8'));
  return manifestCache;
}

// biome-ignore lint/suspicious/noExplicitAny: the golden JSON files are read as they are
export function goldenCase(id: string): any {
  // biome-ignore lint/suspicious/noExplicitAny: the golden JSON files are read as they are
  const c = manifest().cases.find((x: any) => x.id === id);
  if (!c) throw new Error(`no golden case ${id}`);
  return c;
}

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array | Int16Array;
}

/** Reads a little-endian .npy (v1/v2/v3) with C order. */
export function readNpy(file: string): NpyArray {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || fortran !== 'False' || shapeText === undefined) throw new Error(`${file}: unsupported header ${header}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const off = headerStart + headerLen;
  const bytes = buf.subarray(off);
  const copy = (n: number) => {
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    return ab.slice(0, n);
  };
  const count = shape.reduce((a, b) => a * b, 1);
  switch (descr) {
    case '<f4':
      return { dtype: 'float32', shape, data: new Float32Array(copy(count * 4)) };
    case '<f8':
      return { dtype: 'float64', shape, data: new Float64Array(copy(count * 8)) };
    case '|u1':
      return { dtype: 'uint8', shape, data: new Uint8Array(copy(count)) };
    case '<i4':
      return { dtype: 'int32', shape, data: new Int32Array(copy(count * 4)) };
    case '<i8':
      return { dtype: 'int64', shape, data: new BigInt64Array(copy(count * 8)) };
    case '<i2':
      return { dtype: 'int16', shape, data: new Int16Array(copy(count * 2)) };
    default:
      throw new Error(`${file}: unsupported dtype ${descr}`);
  }
}

export function readExpected(file: string): NpyArray {
  return readNpy(path.join(expectedDir, file));
}

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  maxExcess: number; // max(|a-b| - (atol + rtol*|b|)); <= 0 when ok
  worstIndex: number;
  count: number;
}

/** numpy.allclose semantics: |a - b| <= atol + rtol * |b| for every element. */
export function allclose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): CloseReport {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxAbs = 0;
  let maxExcess = -Infinity;
  let worst = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const excess = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(expected[i]));
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (excess > maxExcess) {
      maxExcess = excess;
      worst = i;
    }
  }
  return { ok: maxExcess <= 0, maxAbs, maxExcess, worstIndex: worst, count: actual.length };
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * A fresh temporary directory under the OS temp dir (golden/ is read-only in CI), removed when
 * the test process exits.
 */
export function tempDir(prefix = 'ggpt-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}
