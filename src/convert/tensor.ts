/**
 * The common view of a checkpoint tensor, whatever file it comes from: a lazy entry (name, dtype,
 * shape) whose data is read from its file only when asked, and helpers over raw tensor bytes.
 */
import fs from 'node:fs';
import { ConversionError } from '../errors';
import { bf16ToF32, f16ToF32 } from '../gguf/float';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Tensor bytes in C order, little-endian. */
export interface TensorData {
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

/** A tensor of a checkpoint; `read()` loads only this tensor. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** The file it lives in (absolute path). */
  file: string;
  read(): Promise<TensorData>;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A copy of the data as float32 (floats converted exactly; integers converted to float). */
export function toFloat32(t: TensorData): Float32Array {
  const n = numel(t.shape);
  const aligned = (size: number) => {
    // typed-array views need aligned offsets; copy when the bytes are not aligned
    const b = t.bytes.byteOffset % size === 0 ? t.bytes : t.bytes.slice();
    return { buffer: b.buffer, offset: b.byteOffset };
  };
  switch (t.dtype) {
    case 'F32': {
      const { buffer, offset } = aligned(4);
      return new Float32Array(buffer, offset, n).slice();
    }
    case 'F16': {
      const { buffer, offset } = aligned(2);
      return f16ToF32(new Uint16Array(buffer, offset, n));
    }
    case 'BF16': {
      const { buffer, offset } = aligned(2);
      return bf16ToF32(new Uint16Array(buffer, offset, n));
    }
    case 'F64': {
      const { buffer, offset } = aligned(8);
      return Float32Array.from(new Float64Array(buffer, offset, n));
    }
    case 'I64': {
      const { buffer, offset } = aligned(8);
      const src = new BigInt64Array(buffer, offset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'I32': {
      const { buffer, offset } = aligned(4);
      return Float32Array.from(new Int32Array(buffer, offset, n));
    }
    case 'I16': {
      const { buffer, offset } = aligned(2);
      return Float32Array.from(new Int16Array(buffer, offset, n));
    }
    case 'I8':
      return Float32Array.from(new Int8Array(t.bytes.buffer, t.bytes.byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(t.bytes.subarray(0, n));
  }
}

/**
 * What convert() needs to read files that are still being downloaded (pull(), docs/PULL.md
 * "Convert while downloading"). Tensor data is only ever read from a file once `ready` says it is
 * complete and verified; before that only its header may be read (`peek`), to plan the
 * conversion, and those header bytes are compared with the verified file before any of its
 * tensor data is read and again before the output is published (a mismatch is a
 * SourceChangedError, and pull converts again from the verified files).
 */
export interface SourceGate {
  /** Resolves once `file` is complete and verified (rejects when it never will be). */
  ready(file: string): Promise<void>;
  /** Whether `file` is complete and verified now (files the gate does not manage are). */
  isReady(file: string): boolean;
  /** Bytes [position, position + length) of `file` before it is verified, when they have arrived; else undefined. */
  peek(file: string, position: number, length: number): Promise<Buffer | undefined>;
  /** The size `file` will have (from the Hub's metadata), for a file not complete yet. */
  size(file: string): number | undefined;
  /** convert() will read nothing more from `file` (pull may delete it once it is complete). */
  release?(file: string): void;
}

/** How many first bytes of a file still downloading pull() fetches before the rest (headers, data.pkl). */
export const EARLY_HEADER_BYTES = 1 << 20;

/** A file's header read before verification differs from the verified file (pull converts again). */
export class SourceChangedError extends ConversionError {}

/**
 * Files opened once and shared by the tensors that live in them; reads check that every byte
 * asked for exists (a truncated file is a ConversionError naming it). With a SourceGate, data
 * reads wait for the file to be verified; header reads (`readMeta`) may come earlier.
 */
export class FilePool {
  private readonly handles = new Map<string, Promise<fs.promises.FileHandle>>();
  /** Header bytes read before verification, per file, to compare with the verified file. */
  private readonly peeked = new Map<string, { position: number; bytes: Buffer }[]>();

  constructor(readonly gate?: SourceGate) {}

  /** Whether `file` is still being downloaded. */
  pending(file: string): boolean {
    return !!this.gate && !this.gate.isReady(file);
  }

  /** Whether `file` exists (or will: the gate knows it). */
  exists(file: string): boolean {
    if (this.pending(file) && this.gate?.size(file) !== undefined) return true;
    try {
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  }

  /** The size of `file` (the announced size while it is downloaded). */
  async size(file: string): Promise<number> {
    const announced = this.pending(file) ? this.gate?.size(file) : undefined;
    if (announced !== undefined) return announced;
    try {
      return (await fs.promises.stat(file)).size;
    } catch (err) {
      throw new ConversionError(`${file}: cannot open (${(err as Error).message})`, { file, cause: err });
    }
  }

  /** Waits until `file` is verified, then checks the header bytes read before against it. */
  async ready(file: string): Promise<void> {
    if (!this.gate) return;
    if (!this.gate.isReady(file)) await this.gate.ready(file);
    const early = this.peeked.get(file);
    if (!early) return;
    this.peeked.delete(file);
    for (const { position, bytes } of early) {
      const now = await this.readNow(file, position, bytes.length);
      if (!now.equals(bytes)) {
        throw new SourceChangedError(`${file}: the header read while downloading differs from the verified file`, { file });
      }
    }
  }

  /** Every file whose header was read early, verified and compared (before publishing the output). */
  async confirmAll(): Promise<void> {
    for (const file of [...this.peeked.keys()]) await this.ready(file);
  }

  /** Header bytes: from the partial download when they have arrived, else from the verified file. */
  async readMeta(file: string, position: number, length: number): Promise<Buffer> {
    if (this.pending(file)) {
      const b = await this.gate?.peek(file, position, length);
      if (b && b.length === length) {
        const list = this.peeked.get(file) ?? [];
        list.push({ position, bytes: b });
        this.peeked.set(file, list);
        return b;
      }
    }
    return this.read(file, position, length);
  }

  private handle(file: string): Promise<fs.promises.FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = fs.promises.open(file, 'r').catch((err: Error) => {
        this.handles.delete(file);
        throw new ConversionError(`${file}: cannot open (${err.message})`, { file, cause: err });
      });
      this.handles.set(file, h);
    }
    return h;
  }

  /** Reads exactly `length` bytes at `position` (of a verified file: waits for it with a gate). */
  async read(file: string, position: number, length: number, tensor?: string): Promise<Buffer> {
    if (this.gate && (this.pending(file) || this.peeked.has(file))) await this.ready(file);
    return this.readNow(file, position, length, tensor);
  }

  private async readNow(file: string, position: number, length: number, tensor?: string): Promise<Buffer> {
    const fh = await this.handle(file);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) {
        throw new ConversionError(`${file}: truncated (needed ${length} bytes at offset ${position}${tensor ? ` for tensor ${tensor}` : ''})`, {
          file,
          tensor,
        });
      }
      done += bytesRead;
    }
    return buf;
  }

  /** Closes `file`'s handle (it is not read again). */
  async closeFile(file: string): Promise<void> {
    const h = this.handles.get(file);
    this.handles.delete(file);
    if (h) await (await h.catch(() => undefined))?.close();
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) {
      try {
        await (await h).close();
      } catch {
        // opening failed: nothing to close
      }
    }
  }
}
