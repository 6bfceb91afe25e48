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
 * Files opened once and shared by the tensors that live in them; reads check that every byte
 * asked for exists (a truncated file is a ConversionError naming it).
 */
export class FilePool {
  private readonly handles = new Map<string, Promise<fs.promises.FileHandle>>();

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

  /** Reads exactly `length` bytes at `position`. */
  async read(file: string, position: number, length: number, tensor?: string): Promise<Buffer> {
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
