// Where each field of a GGUF header lies in the file, for byte-level surgery in the attack corpus
// (docs/ARCHITECTURE.md, "Rules that keep the host process alive": no file content may reach a
// GGML_ASSERT). Walks a well-formed file written by our own writer; knows nothing of validation.
import { GGUFValueType } from '../../src/gguf/types';

export interface KvField {
  key: string;
  /** Offset of the key's u64 length. */
  at: number;
  /** Offset of the u32 value type. */
  typeAt: number;
  type: GGUFValueType;
  /** Offset of the value (for arrays: of the u32 item type). */
  valueAt: number;
  /** Arrays: item type, offset of the u64 count, count, offset of the first item. */
  itemType?: GGUFValueType;
  countAt?: number;
  count?: number;
  itemsAt?: number;
  /** Offset just past the value. */
  end: number;
}

export interface TensorField {
  name: string;
  at: number;
  nDimsAt: number;
  nDims: number;
  dimsAt: number;
  typeAt: number;
  type: number;
  offsetAt: number;
  offset: bigint;
  end: number;
}

export interface GGUFMap {
  nTensorsAt: number;
  nKvAt: number;
  kvs: KvField[];
  tensors: TensorField[];
  /** End of the tensor infos (before padding). */
  headerEnd: number;
  kv(key: string): KvField;
  tensor(name: string): TensorField;
}

const SCALAR_SIZE: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
};

export function mapGGUF(buf: Buffer): GGUFMap {
  let p = 8;
  const nTensorsAt = p;
  const nTensors = Number(buf.readBigUInt64LE(p));
  p += 8;
  const nKvAt = p;
  const nKv = Number(buf.readBigUInt64LE(p));
  p += 8;
  const str = () => {
    const n = Number(buf.readBigUInt64LE(p));
    const s = buf.toString('utf8', p + 8, p + 8 + n);
    p += 8 + n;
    return s;
  };
  const skipScalar = (type: GGUFValueType) => {
    if (type === GGUFValueType.STRING) str();
    else p += SCALAR_SIZE[type] as number;
  };
  const kvs: KvField[] = [];
  for (let i = 0; i < nKv; i++) {
    const at = p;
    const key = str();
    const typeAt = p;
    const type = buf.readUInt32LE(p) as GGUFValueType;
    p += 4;
    const valueAt = p;
    if (type === GGUFValueType.ARRAY) {
      const itemType = buf.readUInt32LE(p) as GGUFValueType;
      const countAt = p + 4;
      const count = Number(buf.readBigUInt64LE(countAt));
      p += 12;
      const itemsAt = p;
      for (let j = 0; j < count; j++) skipScalar(itemType);
      kvs.push({ key, at, typeAt, type, valueAt, itemType, countAt, count, itemsAt, end: p });
    } else {
      skipScalar(type);
      kvs.push({ key, at, typeAt, type, valueAt, end: p });
    }
  }
  const tensors: TensorField[] = [];
  for (let i = 0; i < nTensors; i++) {
    const at = p;
    const name = str();
    const nDimsAt = p;
    const nDims = buf.readUInt32LE(p);
    p += 4;
    const dimsAt = p;
    p += 8 * nDims;
    const typeAt = p;
    const type = buf.readUInt32LE(p);
    p += 4;
    const offsetAt = p;
    const offset = buf.readBigUInt64LE(p);
    p += 8;
    tensors.push({ name, at, nDimsAt, nDims, dimsAt, typeAt, type, offsetAt, offset, end: p });
  }
  return {
    nTensorsAt,
    nKvAt,
    kvs,
    tensors,
    headerEnd: p,
    kv(key) {
      const f = kvs.find((k) => k.key === key);
      if (!f) throw new Error(`no key ${key}`);
      return f;
    },
    tensor(name) {
      const f = tensors.find((x) => x.name === name);
      if (!f) throw new Error(`no tensor ${name}`);
      return f;
    },
  };
}

/** A copy of `buf` with `bytes` written at `at`. */
export function patched(buf: Buffer, at: number, bytes: Buffer): Buffer {
  const out = Buffer.from(buf);
  bytes.copy(out, at);
  return out;
}

export const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
export const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
export const f32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return b;
};
export const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
};
