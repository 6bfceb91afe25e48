/**
 * GGUF constants: value types of metadata, ggml tensor types and their block layouts.
 * Numbers are the on-disk enum values of GGUF v3 / ggml (ggml/include/ggml.h, gguf.h).
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types (ggml_type) this project reads or writes. */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
}

/** Elements per block and bytes per block of each type (ggml's type_traits). */
const BLOCKS: Partial<Record<GGMLType, [number, number]>> = {
  [GGMLType.F32]: [1, 4],
  [GGMLType.F16]: [1, 2],
  [GGMLType.BF16]: [1, 2],
  [GGMLType.F64]: [1, 8],
  [GGMLType.I8]: [1, 1],
  [GGMLType.I16]: [1, 2],
  [GGMLType.I32]: [1, 4],
  [GGMLType.I64]: [1, 8],
  [GGMLType.Q4_0]: [32, 18],
  [GGMLType.Q4_1]: [32, 20],
  [GGMLType.Q5_0]: [32, 22],
  [GGMLType.Q5_1]: [32, 24],
  [GGMLType.Q8_0]: [32, 34],
  [GGMLType.Q8_1]: [32, 36],
  [GGMLType.Q2_K]: [256, 84],
  [GGMLType.Q3_K]: [256, 110],
  [GGMLType.Q4_K]: [256, 144],
  [GGMLType.Q5_K]: [256, 176],
  [GGMLType.Q6_K]: [256, 210],
  [GGMLType.Q8_K]: [256, 292],
};

export function ggmlTypeName(type: number): string {
  return GGMLType[type] ?? `type${type}`;
}

/** [block size, bytes per block], or undefined for a type this project does not know. */
export function ggmlBlock(type: number): [number, number] | undefined {
  return BLOCKS[type as GGMLType];
}

/**
 * Bytes of a tensor of `ne0` elements per row and `nrows` rows, or -1 when the row length is not a
 * multiple of the block size (or the type is unknown).
 */
export function ggmlNBytes(type: number, ne0: number, nrows: number): number {
  const b = ggmlBlock(type);
  if (!b || ne0 % b[0] !== 0) return -1;
  return (ne0 / b[0]) * b[1] * nrows;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
