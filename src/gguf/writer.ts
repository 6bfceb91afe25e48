/**
 * Streaming GGUF v3 writer. The header (metadata and tensor infos with their data offsets) is
 * computed up front from the declared shapes and types; tensor data is then produced and written
 * one tensor at a time, so memory holds at most one tensor. Output bytes depend only on the
 * inputs: metadata and tensors are written in the order they were added, nothing time-dependent.
 */
import fs from 'node:fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GGUFValueType, alignUp, ggmlNBytes, ggmlTypeName } from './types';

/** A typed metadata value. */
export type GGUFValue =
  | { type: GGUFValueType.UINT8 | GGUFValueType.INT8 | GGUFValueType.UINT16 | GGUFValueType.INT16; value: number }
  | { type: GGUFValueType.UINT32 | GGUFValueType.INT32 | GGUFValueType.FLOAT32 | GGUFValueType.FLOAT64; value: number }
  | { type: GGUFValueType.UINT64 | GGUFValueType.INT64; value: bigint }
  | { type: GGUFValueType.BOOL; value: boolean }
  | { type: GGUFValueType.STRING; value: string }
  | { type: GGUFValueType.ARRAY; itemType: GGUFValueType; value: readonly (number | bigint | boolean | string)[] };

/** Shorthand constructors for metadata values. */
export const gv = {
  u8: (value: number): GGUFValue => ({ type: GGUFValueType.UINT8, value }),
  u32: (value: number): GGUFValue => ({ type: GGUFValueType.UINT32, value }),
  i32: (value: number): GGUFValue => ({ type: GGUFValueType.INT32, value }),
  u64: (value: bigint | number): GGUFValue => ({ type: GGUFValueType.UINT64, value: BigInt(value) }),
  f32: (value: number): GGUFValue => ({ type: GGUFValueType.FLOAT32, value }),
  bool: (value: boolean): GGUFValue => ({ type: GGUFValueType.BOOL, value }),
  str: (value: string): GGUFValue => ({ type: GGUFValueType.STRING, value }),
  arrStr: (value: readonly string[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value }),
  arrF32: (value: readonly number[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value }),
  arrI32: (value: readonly number[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value }),
};

/** A tensor to write: name, shape in PyTorch order (outermost first), ggml type, data producer. */
export interface GGUFTensorPlan {
  name: string;
  /** PyTorch order; the file stores it reversed (ne[0] = last dim). */
  shape: readonly number[];
  type: number;
  /** Produces exactly the tensor's bytes (row-major, in `type`), whole or as consecutive chunks
   * (so a large tensor never has to be held at once). Called once, in order. */
  data: () => Promise<Uint8Array> | Uint8Array | AsyncIterable<Uint8Array>;
}

export interface GGUFWriteOptions {
  alignment?: number;
  /** Called after each tensor is written. */
  onTensor?: (index: number, count: number, name: string, bytesWritten: number, bytesTotal: number) => void;
  /** Checked before each tensor; throw to stop (e.g. an AbortError). */
  checkAbort?: () => void;
}

/** Byte size of a tensor of this shape and type, or -1 if the row length does not fit the type's blocks. */
export function tensorNBytes(shape: readonly number[], type: number): number {
  if (shape.length === 0) return ggmlNBytes(type, 1, 1);
  const ne0 = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return ggmlNBytes(type, ne0, rows);
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  u64(v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GGUFValueType, v: number | bigint | boolean | string): void {
    let b: Buffer;
    switch (type) {
      case GGUFValueType.UINT8:
        b = Buffer.alloc(1);
        b.writeUInt8(v as number);
        break;
      case GGUFValueType.INT8:
        b = Buffer.alloc(1);
        b.writeInt8(v as number);
        break;
      case GGUFValueType.UINT16:
        b = Buffer.alloc(2);
        b.writeUInt16LE(v as number);
        break;
      case GGUFValueType.INT16:
        b = Buffer.alloc(2);
        b.writeInt16LE(v as number);
        break;
      case GGUFValueType.UINT32:
        b = Buffer.alloc(4);
        b.writeUInt32LE(v as number);
        break;
      case GGUFValueType.INT32:
        b = Buffer.alloc(4);
        b.writeInt32LE(v as number);
        break;
      case GGUFValueType.FLOAT32:
        b = Buffer.alloc(4);
        b.writeFloatLE(v as number);
        break;
      case GGUFValueType.FLOAT64:
        b = Buffer.alloc(8);
        b.writeDoubleLE(v as number);
        break;
      case GGUFValueType.UINT64:
        b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(v as bigint));
        break;
      case GGUFValueType.INT64:
        b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(v as bigint));
        break;
      case GGUFValueType.BOOL:
        b = Buffer.from([v ? 1 : 0]);
        break;
      case GGUFValueType.STRING:
        this.str(v as string);
        return;
      default:
        throw new Error(`GGUF writer: unsupported scalar type ${type}`);
    }
    this.push(b);
  }
  value(v: GGUFValue): void {
    this.u32(v.type);
    if (v.type === GGUFValueType.ARRAY) {
      this.u32(v.itemType);
      this.u64(v.value.length);
      for (const item of v.value) this.scalar(v.itemType, item);
    } else {
      this.scalar(v.type, v.value);
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** Serialises the header (up to and including the padding before the data section). */
export function ggufHeader(
  kv: ReadonlyArray<readonly [string, GGUFValue]>,
  tensors: readonly Pick<GGUFTensorPlan, 'name' | 'shape' | 'type'>[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): { header: Buffer; offsets: number[]; sizes: number[]; dataBytes: number } {
  const seen = new Set<string>();
  for (const [k] of kv) {
    if (seen.has(k)) throw new Error(`GGUF writer: duplicate key ${k}`);
    seen.add(k);
  }
  seen.clear();
  const s = new ByteSink();
  s.u32(GGUF_MAGIC);
  s.u32(GGUF_VERSION);
  s.u64(tensors.length);
  s.u64(kv.length);
  for (const [k, v] of kv) {
    s.str(k);
    s.value(v);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let off = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`GGUF writer: duplicate tensor ${t.name}`);
    seen.add(t.name);
    const n = tensorNBytes(t.shape, t.type);
    if (n < 0) throw new Error(`GGUF writer: tensor ${t.name} [${t.shape.join(', ')}] does not fit type ${ggmlTypeName(t.type)}`);
    s.str(t.name);
    const dims = t.shape.length === 0 ? [1] : [...t.shape].reverse();
    s.u32(dims.length);
    for (const d of dims) s.u64(d);
    s.u32(t.type);
    s.u64(off);
    offsets.push(off);
    sizes.push(n);
    off = alignUp(off + n, alignment);
  }
  const pad = alignUp(s.length, alignment) - s.length;
  if (pad) s.push(Buffer.alloc(pad));
  return { header: s.concat(), offsets, sizes, dataBytes: off };
}

/**
 * Writes a GGUF file at `file` (the caller makes it atomic). Returns the file size.
 * A producer returning the wrong number of bytes is a programming error and throws.
 */
export async function writeGGUF(
  file: string,
  kv: ReadonlyArray<readonly [string, GGUFValue]>,
  tensors: readonly GGUFTensorPlan[],
  options: GGUFWriteOptions = {},
): Promise<number> {
  const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const allKv = alignment === GGUF_DEFAULT_ALIGNMENT ? kv : [...kv, ['general.alignment', gv.u32(alignment)] as const];
  const { header, offsets, sizes, dataBytes } = ggufHeader(allKv, tensors, alignment);
  const fh = await fs.promises.open(file, 'w');
  try {
    let pos = 0;
    const write = async (b: Uint8Array) => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    };
    await write(header);
    const base = header.length;
    for (let i = 0; i < tensors.length; i++) {
      options.checkAbort?.();
      const t = tensors[i];
      if (pos !== base + offsets[i]) throw new Error('GGUF writer: offset mismatch');
      const data = await t.data();
      let produced = 0;
      const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = data instanceof Uint8Array ? [data] : data;
      for await (const chunk of chunks) {
        produced += chunk.length;
        if (produced > sizes[i]) break;
        await write(chunk);
        options.checkAbort?.();
      }
      if (produced !== sizes[i]) {
        throw new Error(`GGUF writer: tensor ${t.name} produced ${produced > sizes[i] ? 'more than ' : ''}${produced} bytes, expected ${sizes[i]}`);
      }
      const end = i + 1 < tensors.length ? base + offsets[i + 1] : base + dataBytes;
      if (end > pos) await write(Buffer.alloc(end - pos));
      options.onTensor?.(i, tensors.length, t.name, pos, base + dataBytes);
    }
    await fh.sync();
    return pos;
  } finally {
    await fh.close();
  }
}
