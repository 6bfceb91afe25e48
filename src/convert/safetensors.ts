/**
 * safetensors reader: 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`, then the data.
 * Only the header is read up front; each tensor is read from its offsets on demand.
 *
 * Any file gives its tensors or a ConversionError naming it (test/fuzz-safetensors.test.ts): the
 * header must be a JSON object of { dtype, shape, data_offsets } entries whose byte ranges match
 * their shapes, lie inside the file and do not overlap (as the reference implementation requires).
 */
import { ConversionError } from '../errors';
import { DTYPE_SIZE, type DType, type FilePool, type TensorEntry, numel } from './tensor';

const DTYPES: Record<string, DType> = {
  F64: 'F64',
  F32: 'F32',
  F16: 'F16',
  BF16: 'BF16',
  I64: 'I64',
  I32: 'I32',
  I16: 'I16',
  I8: 'I8',
  U8: 'U8',
  BOOL: 'BOOL',
};

const MAX_HEADER = 100 * 1024 * 1024;

/** Reads the header of a safetensors file and returns its tensors (data not loaded). */
export async function openSafetensors(file: string, pool: FilePool): Promise<TensorEntry[]> {
  // the header may be read while the file is still downloading (FilePool.readMeta); tensor data never is
  const size = await pool.size(file);
  const fail = (msg: string, tensor?: string) => new ConversionError(`${file}: ${msg}`, { file, tensor });
  if (size < 8) throw fail(`truncated safetensors file (${size} bytes)`);
  const lenBuf = await pool.readMeta(file, 0, 8);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER) throw fail(`safetensors header length ${headerLen} is implausible (corrupt file?)`);
  if (8 + headerLen > size) throw fail(`truncated safetensors file (header of ${headerLen} bytes, file has ${size})`);
  const headerText = (await pool.readMeta(file, 8, headerLen)).toString('utf8');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerText) as Record<string, unknown>;
  } catch (err) {
    throw new ConversionError(`${file}: safetensors header is not valid JSON`, { file, cause: err });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('safetensors header is not an object');
  const dataStart = 8 + headerLen;
  const entries: TensorEntry[] = [];
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const i = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof i?.dtype === 'string' && Object.hasOwn(DTYPES, i.dtype) ? DTYPES[i.dtype] : undefined;
    if (!dtype) throw fail(`tensor ${name} has unsupported dtype ${JSON.stringify(i?.dtype)}`, name);
    const shape = i.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw fail(`tensor ${name} has a bad shape`, name);
    const offs = i.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0)) {
      throw fail(`tensor ${name} has bad data_offsets`, name);
    }
    const [begin, end] = offs as [number, number];
    const nbytes = numel(shape as number[]) * DTYPE_SIZE[dtype];
    if (end - begin !== nbytes) throw fail(`tensor ${name}: data_offsets span ${end - begin} bytes, shape and dtype need ${nbytes}`, name);
    if (dataStart + end > size) {
      throw fail(`truncated safetensors file (tensor ${name} ends at byte ${dataStart + end}, file has ${size})`, name);
    }
    if (nbytes > 0) ranges.push({ name, begin, end });
    const pos = dataStart + begin;
    const shp = [...(shape as number[])];
    entries.push({
      name,
      dtype,
      shape: shp,
      file,
      read: async () => ({ dtype, shape: [...shp], bytes: await pool.read(file, pos, nbytes, name) }),
    });
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let k = 1; k < ranges.length; k++) {
    if (ranges[k].begin < ranges[k - 1].end) {
      throw fail(`tensors ${ranges[k - 1].name} and ${ranges[k].name} share bytes (data_offsets overlap)`, ranges[k].name);
    }
  }
  return entries;
}
