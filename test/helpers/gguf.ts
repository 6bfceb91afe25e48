// Reading GGUF outputs back in tests: metadata values and tensors as float32.
import { type GGUFFile, readGGUF, readGGUFTensor } from '../../src/gguf/reader';
import { GGMLType } from '../../src/gguf/types';
import { f16ToF32 } from '../../src/gguf/float';

export { readGGUF };

export function kv(g: GGUFFile, key: string): unknown {
  const v = g.kv.get(key);
  if (!v) throw new Error(`${g.path}: no key ${key}`);
  return v.value;
}

export function info(g: GGUFFile, name: string) {
  const t = g.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`${g.path}: no tensor ${name}`);
  return t;
}

/** A float tensor (F32 or F16) as float32 values. */
export async function tensorF32(g: GGUFFile, name: string): Promise<Float32Array> {
  const t = info(g, name);
  const b = await readGGUFTensor(g, name);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  if (t.type === GGMLType.F32) return new Float32Array(ab);
  if (t.type === GGMLType.F16) return f16ToF32(new Uint16Array(ab));
  throw new Error(`${name}: type ${t.type} is not a float type`);
}
