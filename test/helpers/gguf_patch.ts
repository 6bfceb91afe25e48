// Minimal GGUF surgery for bad-input tests: change the declared type of one key in a copy.
import fs from 'node:fs';

/** GGUF value type ids (gguf.h). */
export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/**
 * Copies `src` to `dest` with the type field of key `key` replaced by `newType`. The value bytes
 * stay as they are, so pick a type of the same size (u32 <-> i32 <-> f32) to keep the file
 * parseable: the loader then sees a well-formed file whose key has the wrong type.
 */
export function retypeKey(src: string, dest: string, key: string, newType: number): void {
  const buf = fs.readFileSync(src);
  const name = Buffer.from(key, 'utf8');
  const needle = Buffer.alloc(8 + name.length);
  needle.writeBigUInt64LE(BigInt(name.length), 0);
  name.copy(needle, 8);
  const at = buf.indexOf(needle);
  if (at < 0) throw new Error(`${src}: no key ${key}`);
  buf.writeUInt32LE(newType, at + needle.length);
  fs.writeFileSync(dest, buf);
}

function findKey(buf: Buffer, src: string, key: string): number {
  const name = Buffer.from(key, 'utf8');
  const needle = Buffer.alloc(8 + name.length);
  needle.writeBigUInt64LE(BigInt(name.length), 0);
  name.copy(needle, 8);
  const at = buf.indexOf(needle);
  if (at < 0) throw new Error(`${src}: no key ${key}`);
  return at + 8; // the key's bytes
}

/** Copies `src` to `dest` with key `key` renamed to `newName` (same length), i.e. `key` missing. */
export function renameKey(src: string, dest: string, key: string, newName: string): void {
  if (Buffer.byteLength(newName) !== Buffer.byteLength(key)) throw new Error('renameKey needs a name of the same length');
  const buf = fs.readFileSync(src);
  Buffer.from(newName, 'utf8').copy(buf, findKey(buf, src, key));
  fs.writeFileSync(dest, buf);
}

/** Copies `src` to `dest` with the value of the u32 key `key` replaced by `value`. */
export function setU32(src: string, dest: string, key: string, value: number): void {
  const buf = fs.readFileSync(src);
  const at = findKey(buf, src, key) + Buffer.byteLength(key);
  if (buf.readUInt32LE(at) !== GGUF_TYPE.UINT32) throw new Error(`${key} is not a u32`);
  buf.writeUInt32LE(value, at + 4);
  fs.writeFileSync(dest, buf);
}

/** Copies the first `bytes` bytes of `src` to `dest`. */
export function truncateCopy(src: string, dest: string, bytes: number): void {
  fs.writeFileSync(dest, fs.readFileSync(src).subarray(0, bytes));
}
