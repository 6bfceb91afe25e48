// Property-based fuzzing (fast-check) of the TypeScript readers and parsers: the pickle VM, the
// ZIP, safetensors and GGUF readers, and the box/span parsers. The same properties run briefly in
// the tap suite (test/fuzz-*.test.ts) and for as long as asked by `scripts/fuzz-ts.mjs --time S`.
// (Over 500 lines: every property in one registry, which the tap tests and the long runs share.)
//
// Readers get arbitrary bytes and mutations (bit flips, overwrites with boundary values, inserted
// and deleted runs, truncations) of valid files made by our own writers; each must give a result
// or its typed error (ConversionError / ModelLoadError), never another exception, and what it
// returns must be consistent (tensor reads of the announced size). Parsers get arbitrary strings
// and must never throw; formatted boxes and spans must parse back.
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConversionError, InvalidInputError, ModelLoadError } from '../../src/errors';
import { PyCallable, PyDict, PyTuple, unpickle, type PyValue, type UnpickleHooks } from '../../src/convert/pickle';
import { openSafetensors } from '../../src/convert/safetensors';
import { DTYPE_SIZE, FilePool, numel } from '../../src/convert/tensor';
import { openTorchCheckpoint } from '../../src/convert/torch';
import { ZipArchive } from '../../src/convert/zip';
import { readGGUF, readGGUFTensor } from '../../src/gguf/reader';
import { GGMLType, GGUFValueType } from '../../src/gguf/types';
import { tensorNBytes, writeGGUF, type GGUFTensorPlan, type GGUFValue } from '../../src/gguf/writer';
import { parseBoxes } from '../../src/parse/boxes';
import { parseSpans } from '../../src/parse/spans';
import { writeSafetensors, writeTorchCheckpoint, writeZip, type TestTensor } from '../helpers/upstream';

// ---- helpers ----------------------------------------------------------------------------------

let scratch: string | undefined;
let fileNo = 0;
/** A fresh file path in a private temporary folder (removed when the process exits). */
export function scratchFile(ext: string): string {
  if (!scratch) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-fuzz-'));
    scratch = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return path.join(scratch, `f${process.pid}-${fileNo++}${ext}`);
}

/** Rethrows anything that is not `cls`: the property fails with that error as counterexample. */
function onlyTyped(err: unknown, cls: typeof ConversionError | typeof ModelLoadError): void {
  if (!(err instanceof cls)) throw err;
}

/** Byte-level edits of a valid file. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; bytes: number[] }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'truncate'; at: number };

const INTERESTING: number[][] = [
  [0],
  [0xff],
  [0x7f],
  [0x80],
  [0, 0, 0, 0],
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0x7f],
  [0, 0, 0, 0x80],
  [1, 0, 0, 0],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0, 0, 0, 0, 0, 0, 0, 0x80],
  [0, 0, 0, 0, 1, 0, 0, 0],
  [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
  [0x00, 0x00, 0xc0, 0x7f],
  [0x2e],
  [0x28],
  [0x0a],
];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      bytes: fc.oneof(fc.constantFrom(...INTERESTING), fc.array(fc.nat(255), { minLength: 1, maxLength: 8 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

export function mutate(base: Buffer, muts: readonly Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] ^= 1 << m.bit;
        break;
      case 'set':
        for (let i = 0; i < m.bytes.length && at + i < b.length; i++) b[at + i] = m.bytes[i];
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** Mutations biased to the header (the first `headerBytes`), where a flip changes a field. */
function mutationsArb(headerBytes: number): fc.Arbitrary<Mutation[]> {
  const inHeader = mutationArb.map((m) => ({ ...m, at: m.at % Math.max(1, headerBytes) }));
  return fc.array(fc.oneof({ weight: 3, arbitrary: inHeader }, { weight: 1, arbitrary: mutationArb }), { minLength: 1, maxLength: 4 });
}

// ---- pickle -----------------------------------------------------------------------------------

const ALLOWED = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch.FloatStorage']);

/** Hooks that allow three globals (recording every call) and refuse the rest with a ConversionError. */
function recordingHooks(): UnpickleHooks & { requested: string[]; called: string[] } {
  const requested: string[] = [];
  const called: string[] = [];
  return {
    file: 'fuzz.pkl',
    requested,
    called,
    findClass(module, name) {
      const q = `${module}.${name}`;
      requested.push(q);
      if (!ALLOWED.has(q)) throw new ConversionError(`fuzz.pkl: unsupported global ${q}`, { file: 'fuzz.pkl' });
      return new PyCallable(q, (args) => {
        called.push(q);
        const d = new PyDict();
        d.state = new PyTuple(args);
        return d;
      });
    },
    persistentLoad(pid) {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw new ConversionError('fuzz.pkl: bad persistent id', { file: 'fuzz.pkl' });
      return { pyType: 'storage' } as unknown as PyValue;
    },
  };
}

/** One opcode with plausible arguments (pickletools' argument kinds). */
const opArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .constantFrom(
      0x28,
      0x7d,
      0x5d,
      0x29,
      0x8f,
      0x4e,
      0x88,
      0x89,
      0x74,
      0x85,
      0x86,
      0x87,
      0x6c,
      0x64,
      0x94,
      0x93,
      0x51,
      0x52,
      0x81,
      0x62,
      0x73,
      0x75,
      0x61,
      0x65,
      0x90,
      0x91,
      0x30,
      0x31,
      0x32,
      0x2e,
    )
    .map((op) => Buffer.from([op])),
  fc.tuple(fc.constantFrom(0x4b, 0x71, 0x68, 0x55, 0x43, 0x8c, 0x8a), fc.nat(255)).map(([op, n]) => Buffer.from([op, n])),
  fc.tuple(fc.constantFrom(0x4d), fc.nat(0xffff)).map(([op, n]) => Buffer.from([op, n & 0xff, n >> 8])),
  fc.tuple(fc.constantFrom(0x4a, 0x72, 0x6a, 0x58, 0x42, 0x54, 0x8b), fc.integer({ min: -2, max: 40 })).map(([op, n]) => {
    const b = Buffer.alloc(5);
    b[0] = op;
    b.writeInt32LE(n, 1);
    return b;
  }),
  fc.tuple(fc.constantFrom(0x8d, 0x8e, 0x96, 0x95), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([op, n]) => {
    const b = Buffer.alloc(9);
    b[0] = op;
    b.writeBigUInt64LE(n, 1);
    return b;
  }),
  fc
    .tuple(
      fc.constantFrom('I', 'L', 'F', 'P', 'p', 'g'),
      fc.oneof(fc.constantFrom('00', '01', '12', '-3', '1L', 'inf', 'nan', '1e5', '', 'x', '9'.repeat(30)), fc.string({ maxLength: 6 })),
    )
    .map(([op, s]) => Buffer.from(`${op}${s.replace(/\n/g, '')}\n`, 'latin1')),
  fc
    .tuple(
      fc.constantFrom('collections', 'torch', 'torch._utils', 'os', 'builtins', 'posix', '__builtin__'),
      fc.constantFrom('OrderedDict', '_rebuild_tensor_v2', 'FloatStorage', 'system', 'eval', 'getattr'),
    )
    .map(([m, n]) => Buffer.from(`c${m}\n${n}\n`, 'latin1')),
  fc.string({ maxLength: 8 }).map((s) => {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.length, 1);
    return Buffer.concat([h, b]);
  }),
  fc.tuple(fc.constantFrom(0x47), fc.double()).map(([op, x]) => {
    const b = Buffer.alloc(9);
    b[0] = op;
    b.writeDoubleBE(x, 1);
    return b;
  }),
  fc.nat(255).map((op) => Buffer.from([op])),
);

/** Unpickles `data`: a value or a ConversionError, and nothing outside the allow list is called. */
function checkUnpickle(data: Buffer): void {
  const hooks = recordingHooks();
  try {
    unpickle(data, hooks);
  } catch (err) {
    onlyTyped(err, ConversionError);
  }
  for (const q of hooks.called) if (!ALLOWED.has(q)) throw new Error(`called ${q}, which is not allowed`);
}

// ---- files ------------------------------------------------------------------------------------

async function checkZip(data: Buffer): Promise<void> {
  const file = scratchFile('.zip');
  fs.writeFileSync(file, data);
  const pool = new FilePool();
  try {
    const zip = await ZipArchive.open(file, pool);
    for (const e of zip.entries.values()) {
      try {
        const b = await zip.readEntry(e);
        if (b.length !== e.size) throw new Error(`entry ${e.name}: read ${b.length} bytes, ${e.size} declared`);
      } catch (err) {
        onlyTyped(err, ConversionError);
      }
    }
  } catch (err) {
    onlyTyped(err, ConversionError);
  } finally {
    await pool.close();
    fs.rmSync(file, { force: true });
  }
}

async function checkTorch(data: Buffer): Promise<void> {
  const file = scratchFile('.bin');
  fs.writeFileSync(file, data);
  const pool = new FilePool();
  try {
    const entries = await openTorchCheckpoint(file, pool);
    for (const e of entries) {
      try {
        const t = await e.read();
        if (t.bytes.length !== numel(t.shape) * DTYPE_SIZE[t.dtype])
          throw new Error(`tensor ${e.name}: ${t.bytes.length} bytes for shape [${t.shape}] ${t.dtype}`);
      } catch (err) {
        onlyTyped(err, ConversionError);
      }
    }
  } catch (err) {
    onlyTyped(err, ConversionError);
  } finally {
    await pool.close();
    fs.rmSync(file, { force: true });
  }
}

async function checkSafetensors(data: Buffer): Promise<void> {
  const file = scratchFile('.safetensors');
  fs.writeFileSync(file, data);
  const pool = new FilePool();
  try {
    const entries = await openSafetensors(file, pool);
    for (const e of entries) {
      try {
        const t = await e.read();
        if (t.bytes.length !== numel(t.shape) * DTYPE_SIZE[t.dtype])
          throw new Error(`tensor ${e.name}: ${t.bytes.length} bytes for shape [${t.shape}] ${t.dtype}`);
      } catch (err) {
        onlyTyped(err, ConversionError);
      }
    }
  } catch (err) {
    onlyTyped(err, ConversionError);
  } finally {
    await pool.close();
    fs.rmSync(file, { force: true });
  }
}

async function checkGGUF(data: Buffer): Promise<void> {
  const file = scratchFile('.gguf');
  fs.writeFileSync(file, data);
  try {
    const g = await readGGUF(file);
    for (const t of g.tensors) {
      if (t.offset + t.nbytes > g.fileSize || t.offset % g.alignment !== 0) throw new Error(`tensor ${t.name}: offset ${t.offset} + ${t.nbytes} bytes`);
      const b = await readGGUFTensor(g, t.name);
      if (b.length !== t.nbytes) throw new Error(`tensor ${t.name}: read ${b.length} of ${t.nbytes} bytes`);
    }
  } catch (err) {
    onlyTyped(err, ModelLoadError);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

// ---- valid files made by our writers ----------------------------------------------------------

const dtypeArb = fc.constantFrom('F32' as const, 'F16' as const, 'BF16' as const);
const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 3 });
const tensorsArb: fc.Arbitrary<Map<string, TestTensor>> = fc
  .uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/), dtypeArb, shapeArb), { minLength: 1, maxLength: 4, selector: (x) => x[0] })
  .map(
    (items) => new Map(items.map(([name, dtype, shape]) => [name, { dtype, shape, data: Float32Array.from({ length: numel(shape) }, (_, i) => (i % 7) / 8) }])),
  );

function safetensorsBytes(tensors: Map<string, TestTensor>): Buffer {
  const f = scratchFile('.st');
  writeSafetensors(f, tensors);
  const b = fs.readFileSync(f);
  fs.rmSync(f);
  return b;
}

function torchBytes(tensors: Map<string, TestTensor>, zip64: boolean): Buffer {
  const f = scratchFile('.bin');
  writeTorchCheckpoint(f, tensors, { zip64 });
  const b = fs.readFileSync(f);
  fs.rmSync(f);
  return b;
}

function zipBytes(entries: [string, Buffer][], zip64: boolean): Buffer {
  const f = scratchFile('.zip');
  writeZip(f, entries, zip64);
  const b = fs.readFileSync(f);
  fs.rmSync(f);
  return b;
}

const ggufValueArb: fc.Arbitrary<GGUFValue> = fc.oneof(
  fc.nat(0xffffffff).map((value) => ({ type: GGUFValueType.UINT32, value }) as GGUFValue),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ type: GGUFValueType.INT32, value }) as GGUFValue),
  fc.float({ noNaN: true }).map((value) => ({ type: GGUFValueType.FLOAT32, value }) as GGUFValue),
  fc.double({ noNaN: true }).map((value) => ({ type: GGUFValueType.FLOAT64, value }) as GGUFValue),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((value) => ({ type: GGUFValueType.UINT64, value }) as GGUFValue),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value) => ({ type: GGUFValueType.INT64, value }) as GGUFValue),
  fc.nat(255).map((value) => ({ type: GGUFValueType.UINT8, value }) as GGUFValue),
  fc.integer({ min: -32768, max: 32767 }).map((value) => ({ type: GGUFValueType.INT16, value }) as GGUFValue),
  fc.boolean().map((value) => ({ type: GGUFValueType.BOOL, value }) as GGUFValue),
  fc.string({ maxLength: 12 }).map((value) => ({ type: GGUFValueType.STRING, value }) as GGUFValue),
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }).map((value) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value }) as GGUFValue),
  fc.array(fc.float({ noNaN: true }), { maxLength: 5 }).map((value) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value }) as GGUFValue),
  fc
    .array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 5 })
    .map((value) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value }) as GGUFValue),
);

interface GGUFSpec {
  kv: [string, GGUFValue][];
  tensors: { name: string; shape: number[]; type: number; data: Uint8Array }[];
}

const ggufSpecArb: fc.Arbitrary<GGUFSpec> = fc
  .record({
    kv: fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_.]{0,16}$/), ggufValueArb), { maxLength: 6, selector: (x) => x[0] }),
    tensors: fc.uniqueArray(
      fc.tuple(
        fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/),
        fc.constantFrom(GGMLType.F32, GGMLType.F16, GGMLType.Q8_0, GGMLType.I8),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 }),
        fc.nat(255),
      ),
      { maxLength: 4, selector: (x) => x[0] },
    ),
  })
  .map(({ kv, tensors }) => ({
    kv: kv.filter(([k]) => k !== 'general.alignment'),
    tensors: tensors.map(([name, type, dims, fill]) => {
      const shape = type === GGMLType.Q8_0 ? [...dims, 32] : dims; // a Q8_0 row is a multiple of 32
      const n = tensorNBytes(shape, type);
      return { name, shape, type, data: new Uint8Array(n).map((_, i) => (fill + i) & 0xff) };
    }),
  }));

async function ggufBytes(spec: GGUFSpec): Promise<Buffer> {
  const f = scratchFile('.gguf');
  const plans: GGUFTensorPlan[] = spec.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => t.data }));
  await writeGGUF(f, spec.kv, plans);
  const b = fs.readFileSync(f);
  fs.rmSync(f);
  return b;
}

// ---- parsers ----------------------------------------------------------------------------------

/** Text with a bias towards what the parsers look at: brackets, numbers, separators, phrases. */
const answerArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '[',
        ']',
        '{',
        '}',
        ',',
        ', ',
        ' ',
        '  ',
        '\t',
        '\n',
        '.',
        '. ',
        '!',
        '?',
        ';',
        ':',
        '-',
        '(',
        ')',
        '"',
        "'",
        '*',
        'e',
        'E',
        '+',
        '-0.1',
        '1e-2',
        '.5',
        '0.25',
        '1',
        '0',
        '1.5',
        '10',
        'the dog',
        'and ',
        'or ',
        'but ',
        ' at',
        ' in',
        ' to',
        ' of',
        ' during',
        'The cat',
        'x',
        '[sic]',
        '{name}',
        '[]',
      ),
      fc.constantFrom(
        '[0.1, 0.2, 0.3, 0.4]',
        '[0.5,0.5,0.6,0.7]',
        '{0.1, 0.2}',
        '{0.3,0.9}',
        '[1, 2, 3]',
        '{1}',
        '[0.1,,0.2,0.3]',
        '[-0.2, 1.3, 0.5, 0.1]',
        '{0.8, 0.2}',
      ),
      fc.string({ maxLength: 4 }),
      fc.string({ unit: 'binary', maxLength: 3 }),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

const sizeArb = fc.record({ width: fc.integer({ min: 1, max: 5000 }), height: fc.integer({ min: 1, max: 5000 }) });

function checkBoxes(text: string, size: { width: number; height: number }): void {
  const r = parseBoxes(text, size);
  if (typeof r.answer !== 'string') throw new Error('answer is not a string');
  let group = -1;
  r.boxes.forEach((b, i) => {
    if (b.index !== i) throw new Error(`box ${i} has index ${b.index}`);
    if (b.group < group || b.group > group + 1) throw new Error(`box ${i}: group ${b.group} after ${group}`);
    group = b.group;
    const { x1, y1, x2, y2 } = b.square;
    for (const v of [x1, y1, x2, y2]) if (!(v >= 0 && v <= 1)) throw new Error(`box ${i}: square value ${v} outside [0, 1]`);
    if (x1 > x2 || y1 > y2) throw new Error(`box ${i}: square corners not ordered`);
    const bx = b.box;
    if (!(bx.x1 >= 0 && bx.x1 <= bx.x2 && bx.x2 <= size.width && bx.y1 >= 0 && bx.y1 <= bx.y2 && bx.y2 <= size.height))
      throw new Error(`box ${i}: pixels ${JSON.stringify(bx)} outside the image`);
    const n = b.normalized;
    if (Math.abs(n.x1 * size.width - bx.x1) > 1e-6 * size.width || Math.abs(n.y2 * size.height - bx.y2) > 1e-6 * size.height)
      throw new Error(`box ${i}: normalized does not match the pixels`);
    // flags: clamped iff a written value is outside [0, 1]; swapped iff the clamped corners were reversed
    const m = /^\[\s*([^,\s]+)(?:\s*,\s*|\s+)([^,\s]+)(?:\s*,\s*|\s+)([^,\s]+)(?:\s*,\s*|\s+)([^,\s\]]+)\s*\]$/.exec(b.literal);
    if (!m) throw new Error(`box ${i}: literal ${b.literal} is not four numbers`);
    const vals = m.slice(1, 5).map(Number);
    const flags = b.flags ?? [];
    const outside = vals.some((v) => v < 0 || v > 1);
    if (outside !== flags.includes('clamped')) throw new Error(`box ${i}: 'clamped' flag ${flags.includes('clamped')} for ${b.literal}`);
    const c = vals.map((v) => Math.min(1, Math.max(0, v)));
    const reversed = c[0] > c[2] || c[1] > c[3];
    if (reversed !== flags.includes('swapped')) throw new Error(`box ${i}: 'swapped' flag ${flags.includes('swapped')} for ${b.literal}`);
    const expected = { x1: Math.min(c[0], c[2]), y1: Math.min(c[1], c[3]), x2: Math.max(c[0], c[2]), y2: Math.max(c[1], c[3]) };
    if (JSON.stringify(expected) !== JSON.stringify(b.square)) throw new Error(`box ${i}: square ${JSON.stringify(b.square)} for ${b.literal}`);
    if (b.phraseRange && r.answer.slice(...b.phraseRange) !== b.phrase) throw new Error(`box ${i}: phraseRange does not hold the phrase`);
    if (b.phrase !== '' && !b.phraseRange) throw new Error(`box ${i}: phrase ${JSON.stringify(b.phrase)} without a range in the answer`);
    if (!text.includes(b.literal)) throw new Error(`box ${i}: literal not in the text`);
  });
}

function checkSpans(text: string, duration: number): void {
  const r = parseSpans(text, duration);
  r.segments.forEach((s, i) => {
    if (s.index !== i) throw new Error(`span ${i} has index ${s.index}`);
    const { start, end } = s.normalized;
    if (!(start >= 0 && start <= end && end <= 1)) throw new Error(`span ${i}: normalized ${start}..${end}`);
    if (Math.abs(s.start - start * duration) > 1e-9 * duration || Math.abs(s.end - end * duration) > 1e-9 * duration)
      throw new Error(`span ${i}: seconds do not match`);
    const flags = s.flags ?? [];
    if ((start === end) !== flags.includes('empty')) throw new Error(`span ${i}: 'empty' flag`);
    if (s.phraseRange && r.answer.slice(...s.phraseRange) !== s.phrase) throw new Error(`span ${i}: phraseRange does not hold the phrase`);
  });
}

const WORDS = ['dog', 'cat', 'red car', 'the man', 'a small bird', 'tree', 'person on the left', 'Ball', 'sky', 'x2'];
const fraction = fc.integer({ min: 0, max: 100 }).map((n) => n / 100);
const anyValue = fc.oneof({ weight: 4, arbitrary: fraction }, { weight: 1, arbitrary: fc.integer({ min: -50, max: 150 }).map((n) => n / 100) });
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0$/, ''));

/** Boxes written as the model writes them parse back: values (clamped, ordered), phrases, answer. */
function boxesRoundTrip(items: { phrase: string; boxes: number[][] }[], sep: string, size: { width: number; height: number }): void {
  const text = items.map((it) => `${it.phrase} ${it.boxes.map((b) => `[${b.map(fmt).join(sep)}]`).join('')}`).join('. ');
  const r = parseBoxes(text, size);
  const flat = items.flatMap((it, g) => it.boxes.map((b) => ({ phrase: it.phrase, b, g })));
  if (r.boxes.length !== flat.length) throw new Error(`${text}: ${r.boxes.length} boxes, expected ${flat.length}`);
  if (r.malformed.length > 0) throw new Error(`${text}: malformed ${JSON.stringify(r.malformed)}`);
  flat.forEach(({ phrase, b, g }, i) => {
    const got = r.boxes[i];
    const c = b.map((v) => Math.min(1, Math.max(0, Number(fmt(v)))));
    const want = { x1: Math.min(c[0], c[2]), y1: Math.min(c[1], c[3]), x2: Math.max(c[0], c[2]), y2: Math.max(c[1], c[3]) };
    if (JSON.stringify(got.square) !== JSON.stringify(want))
      throw new Error(`${text}: box ${i} ${JSON.stringify(got.square)}, expected ${JSON.stringify(want)}`);
    if (got.phrase !== phrase) throw new Error(`${text}: box ${i} phrase ${JSON.stringify(got.phrase)}, expected ${JSON.stringify(phrase)}`);
    if (got.group !== g) throw new Error(`${text}: box ${i} group ${got.group}, expected ${g}`);
  });
  const answer = items.map((it) => it.phrase).join('. ');
  if (r.answer !== answer) throw new Error(`${text}: answer ${JSON.stringify(r.answer)}, expected ${JSON.stringify(answer)}`);
}

function spansRoundTrip(items: { phrase: string; spans: number[][] }[], duration: number): void {
  const text = items.map((it) => `${it.phrase} ${it.spans.map((s) => `{${s.map(fmt).join(', ')}}`).join(' ')}`).join('. ');
  const r = parseSpans(text, duration);
  const flat = items.flatMap((it) => it.spans.map((s) => ({ phrase: it.phrase, s })));
  if (r.segments.length !== flat.length) throw new Error(`${text}: ${r.segments.length} spans, expected ${flat.length}`);
  flat.forEach(({ phrase, s }, i) => {
    const got = r.segments[i];
    const c = s.map((v) => Math.min(1, Math.max(0, Number(fmt(v)))));
    if (got.normalized.start !== Math.min(c[0], c[1]) || got.normalized.end !== Math.max(c[0], c[1]))
      throw new Error(`${text}: span ${i} ${JSON.stringify(got.normalized)}`);
    if (got.phrase !== phrase) throw new Error(`${text}: span ${i} phrase ${JSON.stringify(got.phrase)}`);
    if ((got.flags ?? []).includes('swapped') !== c[0] > c[1]) throw new Error(`${text}: span ${i} swapped flag`);
  });
}

// ---- targets ----------------------------------------------------------------------------------

type AnyProperty = fc.IRawProperty<unknown, boolean>;

export interface FuzzTarget {
  /** What it feeds to what. */
  about: string;
  /** The property (a fresh one per call). */
  property: () => AnyProperty;
  /** Runs in the tap suite (a few seconds on 2 cores). */
  ciRuns: number;
}

const asProp = <T>(p: T) => p as unknown as AnyProperty;

export const targets: Record<string, FuzzTarget> = {
  'pickle-bytes': {
    about: 'arbitrary bytes -> unpickle',
    ciRuns: 3000,
    property: () => asProp(fc.property(fc.uint8Array({ maxLength: 256 }), (b) => checkUnpickle(Buffer.from(b)))),
  },
  'pickle-ops': {
    about: 'sequences of opcodes with plausible arguments (after PROTO 2) -> unpickle',
    ciRuns: 3000,
    property: () => asProp(fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => checkUnpickle(Buffer.concat([Buffer.from([0x80, 2]), ...ops])))),
  },
  'pickle-mutate': {
    about: "mutations of data.pkl of torch checkpoints made by the tests' writer -> unpickle",
    ciRuns: 1500,
    property: () =>
      asProp(
        fc.property(tensorsArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (tensors, muts) => {
          const zip = torchBytes(tensors, false);
          // data.pkl is the first entry: stored, right after its local header
          const nameLen = zip.readUInt16LE(26);
          const size = zip.readUInt32LE(18);
          const pkl = zip.subarray(30 + nameLen + zip.readUInt16LE(28), 30 + nameLen + zip.readUInt16LE(28) + size);
          checkUnpickle(mutate(pkl, muts));
        }),
      ),
  },
  'torch-mutate': {
    about: 'mutations of whole torch.save zip checkpoints (plain and ZIP64) -> openTorchCheckpoint + reads',
    ciRuns: 600,
    property: () =>
      asProp(
        fc.asyncProperty(tensorsArb, fc.boolean(), mutationsArb(400), async (tensors, zip64, muts) => {
          const base = torchBytes(tensors, zip64);
          // half the edits at the end, where the central directory and its end records are
          const shifted = muts.map((m, i) => (i % 2 ? { ...m, at: base.length - 1 - (m.at % Math.min(base.length, 300)) } : m));
          await checkTorch(mutate(base, shifted));
        }),
      ),
  },
  'zip-bytes': {
    about: 'arbitrary bytes, and bytes behind a ZIP end record -> ZipArchive.open + readEntry',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.option(fc.uint8Array({ minLength: 18, maxLength: 18 })), async (b, end) => {
          // with `end`: an end-of-central-directory record with arbitrary fields after the bytes
          const sig = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
          await checkZip(end ? Buffer.concat([Buffer.from(b), sig, Buffer.from(end)]) : Buffer.from(b));
        }),
      ),
  },
  'zip-mutate': {
    about: 'mutations of zips (stored and deflated entries, plain and ZIP64) -> ZipArchive.open + readEntry',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(
          fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z]{1,6}(\/[a-z]{1,6})?$/), fc.uint8Array({ maxLength: 40 })), {
            minLength: 1,
            maxLength: 4,
            selector: (x) => x[0],
          }),
          fc.boolean(),
          fc.boolean(),
          fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
          async (entries, zip64, deflate, muts) => {
            let base = zipBytes(
              entries.map(([n, d]) => [n, Buffer.from(d)]),
              zip64,
            );
            if (deflate) base = deflateFirst(base);
            const shifted = muts.map((m, i) => (i % 2 ? { ...m, at: base.length - 1 - (m.at % Math.min(base.length, 120)) } : m));
            await checkZip(mutate(base, shifted));
          },
        ),
      ),
  },
  'safetensors-mutate': {
    about: 'byte mutations of safetensors files -> openSafetensors + reads',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(tensorsArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), async (tensors, muts) => {
          const base = safetensorsBytes(tensors);
          const headerLen = Number(base.readBigUInt64LE(0)) + 8;
          await checkSafetensors(
            mutate(
              base,
              muts.map((m) => ({ ...m, at: m.at % headerLen })),
            ),
          );
        }),
      ),
  },
  'safetensors-json': {
    about: 'arbitrary JSON headers (and JSON-level edits of real ones) -> openSafetensors + reads',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue(),
            fc.dictionary(
              fc.string({ maxLength: 6 }),
              fc.record(
                {
                  dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8'), fc.jsonValue()),
                  shape: fc.oneof(fc.array(fc.oneof(fc.nat(6), fc.integer(), fc.double())), fc.jsonValue()),
                  data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.array(fc.oneof(fc.integer(), fc.double())), fc.jsonValue()),
                },
                { requiredKeys: [] },
              ),
              { maxKeys: 4 },
            ),
          ),
          fc.uint8Array({ maxLength: 64 }),
          async (header, data) => {
            const json = Buffer.from(JSON.stringify(header) ?? 'null');
            const len = Buffer.alloc(8);
            len.writeBigUInt64LE(BigInt(json.length));
            await checkSafetensors(Buffer.concat([len, json, Buffer.from(data)]));
          },
        ),
      ),
  },
  'gguf-bytes': {
    about: 'arbitrary bytes after a GGUF magic and version -> readGGUF + tensor reads',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(fc.constantFrom(2, 3, 4), fc.uint8Array({ maxLength: 256 }), async (version, b) => {
          const head = Buffer.alloc(8);
          head.write('GGUF');
          head.writeUInt32LE(version, 4);
          await checkGGUF(Buffer.concat([head, Buffer.from(b)]));
        }),
      ),
  },
  'gguf-mutate': {
    about: 'mutations of GGUF files written by src/gguf/writer.ts -> readGGUF + tensor reads',
    ciRuns: 800,
    property: () =>
      asProp(
        fc.asyncProperty(ggufSpecArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (spec, muts, headerOnly) => {
          const base = await ggufBytes(spec);
          await checkGGUF(mutate(base, headerOnly ? muts.map((m) => ({ ...m, at: m.at % Math.min(base.length, 400) })) : muts));
        }),
      ),
  },
  'gguf-roundtrip': {
    about: 'writeGGUF then readGGUF gives the same metadata and tensor bytes',
    ciRuns: 300,
    property: () =>
      asProp(
        fc.asyncProperty(ggufSpecArb, async (spec) => {
          const f = scratchFile('.gguf');
          await writeGGUF(
            f,
            spec.kv,
            spec.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => t.data })),
          );
          try {
            const g = await readGGUF(f);
            for (const [k, v] of spec.kv) {
              const got = g.kv.get(k);
              if (!got || got.type !== v.type) throw new Error(`key ${k}: ${JSON.stringify(got)}`);
              const want = v.type === GGUFValueType.FLOAT32 ? Math.fround(v.value as number) : v.value;
              const norm = (x: unknown): unknown => (Array.isArray(x) ? x.map(norm) : typeof x === 'bigint' ? `${x}n` : Object.is(x, -0) ? '-0' : x);
              const wantArr = v.type === GGUFValueType.ARRAY && v.itemType === GGUFValueType.FLOAT32 ? (v.value as number[]).map(Math.fround) : want;
              if (JSON.stringify(norm(got.value)) !== JSON.stringify(norm(wantArr)))
                throw new Error(`key ${k}: ${JSON.stringify(norm(got.value))} != ${JSON.stringify(norm(wantArr))}`);
            }
            for (const t of spec.tensors) {
              const b = await readGGUFTensor(g, t.name);
              if (!b.equals(Buffer.from(t.data))) throw new Error(`tensor ${t.name} differs`);
              const info = g.tensors.find((x) => x.name === t.name);
              if (JSON.stringify(info?.shape) !== JSON.stringify(t.shape.length ? t.shape : [1]))
                throw new Error(`tensor ${t.name}: shape ${JSON.stringify(info?.shape)}`);
            }
          } finally {
            fs.rmSync(f, { force: true });
          }
        }),
      ),
  },
  'parse-any': {
    about: 'arbitrary (bracket-heavy) strings -> parseBoxes / parseSpans: no exception, consistent boxes, spans and flags',
    ciRuns: 4000,
    property: () =>
      asProp(
        fc.property(answerArb, sizeArb, fc.double({ min: 1e-3, max: 1e5, noNaN: true }), (text, size, duration) => {
          checkBoxes(text, size);
          checkSpans(text, duration);
        }),
      ),
  },
  'parse-unicode': {
    about: 'arbitrary Unicode strings (any code points, lone surrogates) -> parseBoxes / parseSpans',
    ciRuns: 2000,
    property: () =>
      asProp(
        fc.property(fc.string({ unit: 'binary', maxLength: 80 }), sizeArb, (text, size) => {
          checkBoxes(text, size);
          checkSpans(text, 10);
        }),
      ),
  },
  'parse-roundtrip': {
    about: 'boxes and spans formatted as the model writes them parse back (values clamped/ordered, phrases, answer)',
    ciRuns: 2000,
    property: () =>
      asProp(
        fc.property(
          fc.array(
            fc.record({
              phrase: fc.constantFrom(...WORDS),
              boxes: fc.array(fc.array(anyValue, { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
            }),
            { minLength: 1, maxLength: 4 },
          ),
          fc.constantFrom(', ', ',', ' ', ' , '),
          sizeArb,
          fc.array(
            fc.record({
              phrase: fc.constantFrom(...WORDS),
              spans: fc.array(fc.array(anyValue, { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
            }),
            { minLength: 1, maxLength: 3 },
          ),
          fc.double({ min: 0.1, max: 1e4, noNaN: true }),
          (items, sep, size, spanItems, duration) => {
            boxesRoundTrip(items, sep, size);
            spansRoundTrip(spanItems, duration);
          },
        ),
      ),
  },
  'parse-bad-args': {
    about: 'wrong argument types for parseBoxes / parseSpans -> InvalidInputError only',
    ciRuns: 500,
    property: () =>
      asProp(
        fc.property(fc.anything(), fc.anything(), (a, b) => {
          for (const call of [() => parseBoxes(a as string, b as never), () => parseSpans(a as string, b as number)]) {
            try {
              call();
            } catch (err) {
              if (!(err instanceof InvalidInputError)) throw err;
            }
          }
        }),
      ),
  },
};

/** A zip whose first entry is re-written deflated (method 8), sizes and offsets fixed up. */
function deflateFirst(zip: Buffer): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const nameLen = zip.readUInt16LE(26);
  const extraLen = zip.readUInt16LE(28);
  const size = zip.readUInt32LE(22);
  if (size === 0xffffffff) return zip; // ZIP64 sizes: keep it stored
  const dataAt = 30 + nameLen + extraLen;
  const data = zip.subarray(dataAt, dataAt + size);
  const comp = zlib.deflateRawSync(data);
  const delta = comp.length - size;
  const head = Buffer.from(zip.subarray(0, dataAt));
  head.writeUInt16LE(8, 8);
  head.writeUInt32LE(comp.length, 18);
  const rest = Buffer.from(zip.subarray(dataAt + size));
  const out = Buffer.concat([head, comp, rest]);
  // fix the central directory: every local offset after the first entry moves by delta
  let eocd = out.length - 22;
  while (eocd > 0 && out.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const count = out.readUInt16LE(eocd + 10);
  const cdOffset = out.readUInt32LE(eocd + 16) + delta;
  out.writeUInt32LE(cdOffset, eocd + 16);
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (i === 0) {
      out.writeUInt16LE(8, p + 10);
      out.writeUInt32LE(comp.length, p + 20);
    } else out.writeUInt32LE(out.readUInt32LE(p + 42) + delta, p + 42);
    p += 46 + out.readUInt16LE(p + 28) + out.readUInt16LE(p + 30) + out.readUInt16LE(p + 32);
  }
  return out;
}

/** Runs one target: `numRuns` runs from `seed`; returns fast-check's details. */
export async function runTarget(name: string, numRuns: number, seed?: number): Promise<fc.RunDetails<unknown>> {
  const t = targets[name];
  if (!t) throw new Error(`no fuzz target ${name} (have: ${Object.keys(targets).join(', ')})`);
  return (await fc.check(t.property(), { numRuns, ...(seed !== undefined ? { seed } : {}) })) as fc.RunDetails<unknown>;
}
