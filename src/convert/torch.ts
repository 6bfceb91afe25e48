/**
 * PyTorch checkpoint reader (`torch.save` zip format, PyTorch >= 1.6): `<archive>/data.pkl` holds
 * the pickled state dict whose tensors are `torch._utils._rebuild_tensor_v2(storage, offset,
 * size, stride, ...)` over persistent storages `('storage', torch.<Type>Storage, key, location,
 * numel)`; storage `key` is the raw little-endian data in entry `<archive>/data/<key>`.
 * Tensors are views: a storage offset and arbitrary strides (non-contiguous views are gathered).
 */
import { ConversionError } from '../errors';
import { PyCallable, PyDict, type PyOpaque, PyTuple, type PyValue, unpickle } from './pickle';
import { DTYPE_SIZE, type DType, EARLY_HEADER_BYTES, type FilePool, SourceChangedError, type TensorEntry, numel } from './tensor';
import { ZipArchive } from './zip';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

class StorageType implements PyOpaque {
  readonly pyType = 'storage-type';
  constructor(readonly dtype: DType) {}
}

class Storage implements PyOpaque {
  readonly pyType = 'storage';
  constructor(
    readonly dtype: DType,
    readonly key: string,
    readonly numel: number,
  ) {}
}

class TensorRef implements PyOpaque {
  readonly pyType = 'tensor';
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** Marker for classes passed as a type argument (Parameter, Tensor). */
class PyClassRef implements PyOpaque {
  readonly pyType = 'class';
  constructor(readonly qualname: string) {}
}

function intList(v: PyValue, what: string, file: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new ConversionError(`${file}: ${what} is not a tuple of non-negative integers`, { file });
  }
  return items as number[];
}

function makeGlobals(file: string): (module: string, name: string) => PyValue {
  const rebuildTensor = (args: PyValue[]): PyValue => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof Storage)) throw new ConversionError(`${file}: _rebuild_tensor without a storage`, { file });
    if (typeof offset !== 'number') throw new ConversionError(`${file}: bad storage offset`, { file });
    return new TensorRef(storage, offset, intList(size, 'tensor size', file), intList(stride, 'tensor stride', file));
  };
  const passFirst = (args: PyValue[]): PyValue => args[0];
  const table: Record<string, PyValue> = {
    'collections.OrderedDict': new PyCallable('collections.OrderedDict', (args) => {
      const d = new PyDict();
      const init = args[0];
      if (Array.isArray(init)) {
        for (const kv of init) if (kv instanceof PyTuple && kv.items.length === 2) d.map.set(kv.items[0] as string, kv.items[1]);
      }
      return d;
    }),
    'torch._utils._rebuild_tensor_v2': new PyCallable('torch._utils._rebuild_tensor_v2', rebuildTensor),
    'torch._utils._rebuild_tensor': new PyCallable('torch._utils._rebuild_tensor', rebuildTensor),
    'torch._utils._rebuild_parameter': new PyCallable('torch._utils._rebuild_parameter', passFirst),
    'torch._utils._rebuild_parameter_with_state': new PyCallable('torch._utils._rebuild_parameter_with_state', passFirst),
    // _rebuild_from_type_v2(func, new_type, args, state) = func(*args) viewed as new_type
    'torch._tensor._rebuild_from_type_v2': new PyCallable('torch._tensor._rebuild_from_type_v2', (args) => {
      const [func, , fargs] = args;
      if (!(func instanceof PyCallable) || !(fargs instanceof PyTuple)) {
        throw new ConversionError(`${file}: bad _rebuild_from_type_v2 call`, { file });
      }
      return func.call(fargs.items);
    }),
    'torch.nn.parameter.Parameter': new PyClassRef('torch.nn.parameter.Parameter'),
    'torch.Tensor': new PyClassRef('torch.Tensor'),
    'torch.Size': new PyCallable('torch.Size', (args) => new PyTuple(Array.isArray(args[0]) ? args[0] : args[0] instanceof PyTuple ? args[0].items : [])),
    '_codecs.encode': new PyCallable('_codecs.encode', (args) => Uint8Array.from(Buffer.from(String(args[0]), 'latin1'))),
  };
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) table[`torch.${name}`] = new StorageType(dtype);
  return (module, name) => {
    const v = table[`${module}.${name}`];
    if (v === undefined) throw new ConversionError(`${file}: unsupported global ${module}.${name} in data.pkl (not a plain tensor state dict?)`, { file });
    return v;
  };
}

/** Tensors of a state dict nested under one of these keys are unwrapped. */
const WRAPPER_KEYS = ['state_dict', 'model', 'module'];

/**
 * data.pkl of an archive still being downloaded: torch.save writes it as the first entry, stored,
 * so it can be read from the file's first bytes before the central directory (at the end) has
 * arrived. torch writes the sizes after the data (a data descriptor): then the pickle is parsed
 * from the first EARLY_HEADER_BYTES, up to its STOP opcode. Undefined when those bytes are not
 * there or the archive is laid out otherwise (the caller then waits for the whole, verified file).
 */
async function earlyPickle(file: string, pool: FilePool): Promise<{ name: string; pkl: Buffer } | undefined> {
  try {
    const loc = await pool.readMeta(file, 0, 30);
    if (loc.readUInt32LE(0) !== 0x04034b50 || loc.readUInt16LE(8) !== 0) return undefined;
    const nameLen = loc.readUInt16LE(26);
    const extraLen = loc.readUInt16LE(28);
    const ne = await pool.readMeta(file, 30, nameLen + extraLen);
    const name = ne.toString('utf8', 0, nameLen);
    if (name !== 'data.pkl' && !name.endsWith('/data.pkl')) return undefined;
    const dataStart = 30 + nameLen + extraLen;
    let size = loc.readUInt32LE(22);
    if (loc.readUInt16LE(6) & 8 && size === 0) {
      // sizes in a data descriptor after the data: take what the header fetch brought
      size = Math.min(await pool.size(file), EARLY_HEADER_BYTES) - dataStart;
    } else if (size === 0xffffffff) {
      // ZIP64 extra field: uncompressed size first
      let e = nameLen;
      size = -1;
      while (e + 4 <= ne.length) {
        const id = ne.readUInt16LE(e);
        const len = ne.readUInt16LE(e + 2);
        if (id === 0x0001 && len >= 8 && e + 12 <= ne.length) size = Number(ne.readBigUInt64LE(e + 4));
        e += 4 + len;
      }
    }
    if (size <= 0 || size > 256 * 1024 * 1024) return undefined;
    return { name, pkl: await pool.readMeta(file, dataStart, size) };
  } catch (err) {
    if (err instanceof ConversionError) return undefined;
    throw err;
  }
}

/** Opens a torch.save zip checkpoint and returns its tensors (data not loaded). */
export async function openTorchCheckpoint(file: string, pool: FilePool): Promise<TensorEntry[]> {
  if (pool.pending(file)) {
    const early = await earlyPickle(file, pool);
    if (early) {
      // the storages are located once the file is verified (its central directory, at the end)
      let zipP: Promise<ZipArchive> | undefined;
      const getZip = () => {
        zipP ??= (async () => {
          await pool.ready(file);
          const zip = await ZipArchive.open(file, pool);
          const e = zip.entries.get(early.name);
          const real = e?.localHeaderOffset === 0 && e.method === 0 && e.size <= early.pkl.length ? await zip.readEntry(e) : undefined;
          if (!real || !real.equals(early.pkl.subarray(0, real.length))) {
            throw new SourceChangedError(`${file}: data.pkl is not the archive's first entry as read while downloading`, { file });
          }
          // the verified entry alone must hold the state dict (not bytes after it)
          stateDictEntries(file, pool, real, early.name.slice(0, -'data.pkl'.length), getZip);
          await checkByteorder(file, zip, early.name.slice(0, -'data.pkl'.length));
          return zip;
        })();
        return zipP;
      };
      try {
        return stateDictEntries(file, pool, early.pkl, early.name.slice(0, -'data.pkl'.length), getZip);
      } catch (err) {
        // a pickle longer than the header fetch (or bytes not verified yet that do not parse):
        // read it from the verified file below
        if (!(err instanceof ConversionError)) throw err;
      }
    }
  }
  const head = await pool.read(file, 0, 4).catch((err: unknown) => {
    if (err instanceof ConversionError && /truncated/.test(err.message)) {
      throw new ConversionError(`${file}: truncated or not a PyTorch checkpoint`, { file });
    }
    throw err;
  });
  if (head.readUInt32LE(0) !== 0x04034b50) {
    throw new ConversionError(`${file}: not a zip-format PyTorch checkpoint (legacy torch.save files from PyTorch < 1.6 are not supported)`, { file });
  }
  const zip = await ZipArchive.open(file, pool);
  const pkl = [...zip.entries.values()].filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  if (pkl.length !== 1) throw new ConversionError(`${file}: expected one data.pkl in the archive, found ${pkl.length}`, { file });
  const prefix = pkl[0].name.slice(0, -'data.pkl'.length);
  await checkByteorder(file, zip, prefix);
  return stateDictEntries(file, pool, await zip.readEntry(pkl[0]), prefix, async () => zip, zip);
}

async function checkByteorder(file: string, zip: ZipArchive, prefix: string): Promise<void> {
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const bo = (await zip.readEntry(byteorder)).toString('latin1').trim();
    if (bo !== 'little') throw new ConversionError(`${file}: byte order ${bo} is not supported`, { file });
  }
}

/**
 * The tensors of a data.pkl. `zipNow` (a complete archive) checks every storage entry at once;
 * without it (an archive still downloading) each storage is located and checked on its first read.
 */
function stateDictEntries(
  file: string,
  pool: FilePool,
  pklBytes: Buffer,
  prefix: string,
  getZip: () => Promise<ZipArchive>,
  zipNow?: ZipArchive,
): TensorEntry[] {
  const root = unpickle(pklBytes, {
    file,
    findClass: makeGlobals(file),
    persistentLoad: (pid) => {
      const t = pid instanceof PyTuple ? pid.items : undefined;
      if (!t || t[0] !== 'storage' || t.length < 5) throw new ConversionError(`${file}: unsupported persistent id in data.pkl`, { file });
      const [, type, key, , n] = t;
      if (!(type instanceof StorageType)) throw new ConversionError(`${file}: unsupported storage type in data.pkl`, { file });
      if (typeof key !== 'string' || typeof n !== 'number') throw new ConversionError(`${file}: bad storage record in data.pkl`, { file });
      return new Storage(type.dtype, key, n);
    },
  });
  let dict = root;
  if (dict instanceof PyDict) {
    for (const k of WRAPPER_KEYS) {
      const inner = dict.map.get(k);
      if (inner instanceof PyDict && ![...dict.map.values()].some((v) => v instanceof TensorRef)) {
        dict = inner;
        break;
      }
    }
  }
  if (!(dict instanceof PyDict)) throw new ConversionError(`${file}: data.pkl does not hold a state dict`, { file });

  const entries: TensorEntry[] = [];
  for (const [key, value] of dict.map) {
    if (!(value instanceof TensorRef)) continue; // non-tensor values (e.g. counters) are not weights
    const name = String(key);
    const st = value.storage;
    const el = DTYPE_SIZE[st.dtype];
    const storageEntry = (zip: ZipArchive) => {
      const zipEntry = zip.entries.get(`${prefix}data/${st.key}`);
      if (!zipEntry) throw new ConversionError(`${file}: storage ${st.key} of tensor ${name} missing from the archive`, { file, tensor: name });
      if (zipEntry.method !== 0) throw new ConversionError(`${file}: storage of tensor ${name} is compressed`, { file, tensor: name });
      if (zipEntry.size < st.numel * el) {
        throw new ConversionError(`${file}: storage ${st.key} of tensor ${name} holds ${zipEntry.size} bytes, needs ${st.numel * el}`, {
          file,
          tensor: name,
        });
      }
      return zipEntry;
    };
    if (zipNow) storageEntry(zipNow);
    const { shape, stride, offset } = value;
    if (shape.length !== stride.length) throw new ConversionError(`${file}: tensor ${name}: size and stride differ in length`, { file, tensor: name });
    const n = numel(shape);
    let maxIndex = 0;
    for (let d = 0; d < shape.length; d++) if (shape[d] > 0) maxIndex += (shape[d] - 1) * stride[d];
    if (n > 0 && offset + maxIndex >= st.numel) {
      throw new ConversionError(`${file}: tensor ${name} views past the end of its storage`, { file, tensor: name });
    }
    const dtype = st.dtype;
    entries.push({
      name,
      dtype,
      shape: [...shape],
      file,
      read: async () => {
        const zip = await getZip();
        const base = await zip.dataOffset(storageEntry(zip));
        if (n === 0) return { dtype, shape: [...shape], bytes: new Uint8Array(0) };
        if (isContiguous(shape, stride)) {
          return { dtype, shape: [...shape], bytes: await pool.read(file, base + offset * el, n * el, name) };
        }
        const span = await pool.read(file, base + offset * el, (maxIndex + 1) * el, name);
        return { dtype, shape: [...shape], bytes: gather(span, shape, stride, el) };
      },
    });
  }
  return entries;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d];
  }
  return true;
}

/** Copies a strided view (element size `el`) into C order. */
function gather(src: Uint8Array, shape: number[], stride: number[], el: number): Uint8Array {
  const n = numel(shape);
  const out = new Uint8Array(n * el);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  // innermost dimension in a tight loop
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1] * el;
  let o = 0;
  for (let outer = 0; outer < n / inner; outer++) {
    let s = 0;
    for (let d = 0; d < nd - 1; d++) s += idx[d] * stride[d];
    s *= el;
    for (let i = 0; i < inner; i++, s += innerStride) {
      for (let b = 0; b < el; b++) out[o++] = src[s + b];
    }
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
