// Minimal GGUF surgery for bad-input tests: change the declared type of one key in a copy.
import fs from 'node:fs';

/** GGUF value type ids (gguf.h). */
export const GGUF_TYPE = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

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

/** Copies the first `bytes` bytes of `src` to `dest`. */
export function truncateCopy(src: string, dest: string, bytes: number): void {
  fs.writeFileSync(dest, fs.readFileSync(src).subarray(0, bytes));
}
