/**
 * GGUF v2/v3 reader: metadata and tensor infos, tensor data read on demand. Used by tests and to
 * validate converter outputs; every size is checked against the file so a truncated or corrupt
 * file gives a ModelLoadError naming it, never an out-of-range read. Like ggml's gguf.cpp, keys
 * and tensor names must be unique and tensor data aligned (test/fuzz-gguf.test.ts feeds it
 * arbitrary and mutated files).
 */
import fs from 'node:fs';
import { ModelLoadError } from '../errors';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUFValueType, alignUp, ggmlNBytes, ggmlTypeName } from './types';

export type GGUFScalar = number | bigint | boolean | string;

export interface GGUFKV {
  type: GGUFValueType;
  /** For arrays: the item type. */
  itemType?: GGUFValueType;
  value: GGUFScalar | GGUFScalar[];
}

export interface GGUFTensorInfo {
  name: string;
  /** ggml order: ne[0] first (the innermost, contiguous dimension). */
  ne: number[];
  /** PyTorch order (outermost first) = ne reversed. */
  shape: number[];
  type: number;
  /** Absolute file offset of the data. */
  offset: number;
  nbytes: number;
}

export interface GGUFFile {
  path: string;
  version: number;
  alignment: number;
  kv: Map<string, GGUFKV>;
  tensors: GGUFTensorInfo[];
  dataOffset: number;
  fileSize: number;
}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly file: string,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ModelLoadError(`${this.file}: truncated GGUF header`, { file: this.file });
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  u64n(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelLoadError(`${this.file}: ${what} out of range (${v})`, { file: this.file });
    return Number(v);
  }
  str(): string {
    const n = this.u64n('string length');
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  scalar(type: GGUFValueType): GGUFScalar {
    const b = this.buf;
    const take = (n: number) => {
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return p;
    };
    switch (type) {
      case GGUFValueType.UINT8:
        return b.readUInt8(take(1));
      case GGUFValueType.INT8:
        return b.readInt8(take(1));
      case GGUFValueType.UINT16:
        return b.readUInt16LE(take(2));
      case GGUFValueType.INT16:
        return b.readInt16LE(take(2));
      case GGUFValueType.UINT32:
        return b.readUInt32LE(take(4));
      case GGUFValueType.INT32:
        return b.readInt32LE(take(4));
      case GGUFValueType.FLOAT32:
        return b.readFloatLE(take(4));
      case GGUFValueType.FLOAT64:
        return b.readDoubleLE(take(8));
      case GGUFValueType.UINT64:
        return b.readBigUInt64LE(take(8));
      case GGUFValueType.INT64:
        return b.readBigInt64LE(take(8));
      case GGUFValueType.BOOL:
        return b.readUInt8(take(1)) !== 0;
      case GGUFValueType.STRING:
        return this.str();
      default:
        throw new ModelLoadError(`${this.file}: unknown GGUF value type ${type}`, { file: this.file });
    }
  }
}

/** Reads the header of a GGUF file (the whole header is loaded; tensor data is not). */
export async function readGGUF(file: string): Promise<GGUFFile> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (err) {
    throw new ModelLoadError(`${file}: cannot open (${(err as Error).message})`, { file, cause: err });
  }
  try {
    const fileSize = (await fh.stat()).size;
    // Headers are small except for vocabularies; grow the window until the header parses.
    let window = Math.min(fileSize, 1 << 20);
    for (;;) {
      const buf = Buffer.alloc(window);
      await fh.read(buf, 0, window, 0);
      try {
        return parseHeader(buf, file, fileSize);
      } catch (err) {
        if (err instanceof ModelLoadError && /truncated GGUF header/.test(err.message) && window < fileSize) {
          window = Math.min(fileSize, window * 4);
          continue;
        }
        throw err;
      }
    }
  } finally {
    await fh.close();
  }
}

function parseHeader(buf: Buffer, file: string, fileSize: number): GGUFFile {
  const c = new Cursor(buf, file);
  if (buf.length < 4 || c.u32() !== GGUF_MAGIC) throw new ModelLoadError(`${file}: not a GGUF file (bad magic)`, { file });
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new ModelLoadError(`${file}: unsupported GGUF version ${version}`, { file });
  const nTensors = c.u64n('tensor count');
  const nKv = c.u64n('metadata count');
  const kv = new Map<string, GGUFKV>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    if (kv.has(key)) throw new ModelLoadError(`${file}: duplicate key ${key}`, { file });
    const type = c.u32() as GGUFValueType;
    if (type === GGUFValueType.ARRAY) {
      const itemType = c.u32() as GGUFValueType;
      const n = c.u64n('array length');
      if (n > buf.length) c.need(n); // at least one byte per item
      const arr: GGUFScalar[] = new Array(n);
      for (let j = 0; j < n; j++) arr[j] = c.scalar(itemType);
      kv.set(key, { type, itemType, value: arr });
    } else {
      kv.set(key, { type, value: c.scalar(type) });
    }
  }
  const alignKv = kv.get('general.alignment');
  const alignment = alignKv ? (alignKv.type === GGUFValueType.ARRAY ? NaN : Number(alignKv.value)) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new ModelLoadError(`${file}: bad general.alignment ${String(alignKv?.value)}`, { file });
  }
  const infos: { name: string; ne: number[]; type: number; rel: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.str();
    if (names.has(name)) throw new ModelLoadError(`${file}: duplicate tensor ${name}`, { file });
    names.add(name);
    const nd = c.u32();
    if (nd > 4) throw new ModelLoadError(`${file}: tensor ${name} has ${nd} dimensions`, { file });
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(c.u64n(`tensor ${name} dimension`));
    const type = c.u32();
    const rel = c.u64n(`tensor ${name} offset`);
    if (rel % alignment !== 0) throw new ModelLoadError(`${file}: tensor ${name} data offset ${rel} is not a multiple of the alignment ${alignment}`, { file });
    infos.push({ name, ne, type, rel });
  }
  const dataOffset = alignUp(c.pos, alignment);
  const tensors: GGUFTensorInfo[] = infos.map(({ name, ne, type, rel }) => {
    const rows = ne.slice(1).reduce((a, b) => a * b, 1);
    const nbytes = ggmlNBytes(type, ne[0] ?? 1, rows);
    if (nbytes < 0) throw new ModelLoadError(`${file}: tensor ${name} has unknown type ${ggmlTypeName(type)} or a row length not fitting it`, { file });
    const offset = dataOffset + rel;
    if (offset + nbytes > fileSize) {
      throw new ModelLoadError(`${file}: truncated (tensor ${name} ends at ${offset + nbytes}, file has ${fileSize} bytes)`, { file });
    }
    return { name, ne, shape: [...ne].reverse(), type, offset, nbytes };
  });
  return { path: file, version, alignment, kv, tensors, dataOffset, fileSize };
}

/** The raw bytes of one tensor. */
export async function readGGUFTensor(gguf: GGUFFile, name: string): Promise<Buffer> {
  const t = gguf.tensors.find((x) => x.name === name);
  if (!t) throw new ModelLoadError(`${gguf.path}: no tensor ${name}`, { file: gguf.path });
  const fh = await fs.promises.open(gguf.path, 'r');
  try {
    const buf = Buffer.alloc(t.nbytes);
    const { bytesRead } = await fh.read(buf, 0, t.nbytes, t.offset);
    if (bytesRead !== t.nbytes) throw new ModelLoadError(`${gguf.path}: truncated in tensor ${name}`, { file: gguf.path });
    return buf;
  } finally {
    await fh.close();
  }
}

/** A metadata value, checked for type; throws a ModelLoadError naming the key otherwise. */
export function ggufGet(gguf: GGUFFile, key: string, type: GGUFValueType): GGUFScalar | GGUFScalar[] {
  const kv = gguf.kv.get(key);
  if (!kv) throw new ModelLoadError(`${gguf.path}: missing key ${key}`, { file: gguf.path });
  if (kv.type !== type) throw new ModelLoadError(`${gguf.path}: key ${key} has type ${kv.type}, expected ${type}`, { file: gguf.path });
  return kv.value;
}
