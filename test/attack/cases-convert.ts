// Attack cases (c): checkpoints for the converter. Each case makes a copy of the tiny golden
// checkpoint directories (links to the unchanged files, real files for the changed ones), runs
// convert() into a fresh folder, and requires a ConversionError (or InvalidInputError for bad
// options) with nothing left in the output folder; when the conversion succeeds, the model it
// wrote is loaded and used.
// (Over 500 lines: one table of cases per part of a checkpoint, next to the copy helpers they share.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convert } from '../../src/convert/index';
import { writeZip } from '../helpers/upstream';
import type { AttackCase, AttackEnv, CaseContext } from './case';
import { u32, u64 } from './gguf-map';

const CODES = ['CONVERSION', 'INVALID_INPUT'];

/** An Error whose name is not one of src/errors.ts: the harness fails the case with its message. */
export class CheckFailed extends Error {
  override name = 'CheckFailed';
}

type Files = Record<string, Buffer | null>;

/** A copy of `src` in a new folder: links to its files, except those in `files` (null: absent). */
function copyDir(ctx: CaseContext, src: string, name: string, files: Files = {}): string {
  const dir = ctx.file(name);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(src)) {
    if (f in files) continue;
    fs.symlinkSync(path.join(src, f), path.join(dir, f));
  }
  for (const [f, data] of Object.entries(files)) if (data) fs.writeFileSync(path.join(dir, f), data);
  return dir;
}

async function runConvert(ctx: CaseContext, model: Files, clip: Files, extra: Record<string, unknown> = {}): Promise<void> {
  const m = copyDir(ctx, ctx.upstreamModel, 'model', model);
  const c = copyDir(ctx, ctx.upstreamClip, 'clip', clip);
  const out = ctx.file('out');
  try {
    await convert({ model: m, clip: c, out, type: 'f32', ...extra } as never);
  } catch (err) {
    if (fs.existsSync(out)) throw new CheckFailed(`convert failed (${(err as Error).message}) but left ${out}`);
    throw err;
  }
  await ctx.loadAndUse(out);
}

// ---- safetensors ------------------------------------------------------------------------------

interface St {
  header: Record<string, Record<string, unknown>>;
  data: Buffer;
}

function readSt(file: string): St {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.toString('utf8', 8, 8 + n)), data: b.subarray(8 + n) };
}

function writeSt(header: unknown, data: Buffer, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  return Buffer.concat([u64(BigInt(json.length)), json, data]);
}

function stCases(env: AttackEnv): AttackCase[] {
  const file = path.join(env.upstreamClip, 'model.safetensors');
  const st = readSt(file);
  const raw = fs.readFileSync(file);
  const names = Object.keys(st.header).filter((k) => k !== '__metadata__');
  const big = names.reduce((a, n) => {
    const o = st.header[n].data_offsets as number[];
    const ob = st.header[a].data_offsets as number[];
    return o[1] - o[0] > ob[1] - ob[0] ? n : a;
  }, names[0]);
  const second = names.find((n) => n !== big) as string;
  const cases: [string, 'error' | 'any', () => Buffer, string?][] = [];
  const headerLen = Number(raw.readBigUInt64LE(0));
  for (const v of [0n, 1n, 7n, BigInt(headerLen - 1), BigInt(headerLen + 1), BigInt(raw.length), 100n * 1024n * 1024n + 1n, 1n << 63n, (1n << 64n) - 1n]) {
    cases.push([`st/header-length-${v}`, 'error', () => Buffer.concat([u64(v), raw.subarray(8)])]);
  }
  for (const text of [
    'not json',
    '[]',
    'null',
    '1',
    '"x"',
    '{',
    '{"a":1}',
    '{"a":null}',
    '{"a":[]}',
    `${'['.repeat(200000)}${']'.repeat(200000)}`,
    `{"a":${'{"b":'.repeat(50000)}1${'}'.repeat(50000)}}`,
    '\u0000'.repeat(16),
  ]) {
    cases.push([`st/header-text-${text.slice(0, 12).replace(/[^a-z0-9]/gi, '_')}-${text.length}`, 'error', () => writeSt(undefined, st.data, text)]);
  }
  cases.push(['st/header-empty-object', 'error', () => writeSt({}, st.data)]);
  const edit = (_name: string, fn: (h: Record<string, Record<string, unknown>>) => void) => () => {
    const h = structuredClone(st.header);
    fn(h);
    return writeSt(h, st.data);
  };
  for (const dtype of ['F8_E4M3', 'I4', 5, null, 'f32', 'I64', 'BOOL', 'U8', 'F64', '__proto__', 'toString']) {
    cases.push([
      `st/dtype-${String(dtype)}`,
      'error',
      edit(big, (h) => {
        h[big].dtype = dtype;
      }),
    ]);
  }
  for (const [label, shape] of [
    ['1e9x1e9', [1e9, 1e9]],
    ['2^53', [2 ** 53]],
    ['negative', [-1, 4]],
    ['fraction', [1.5]],
    ['string', 'abc'],
    ['empty', []],
    ['zero', [0]],
    ['nested', [[1]]],
    ['huge-rank', new Array(1000).fill(1)],
    ['null', null],
  ] as const) {
    cases.push([
      `st/shape-${label}`,
      'error',
      edit(big, (h) => {
        h[big].shape = shape as unknown;
      }),
    ]);
  }
  const [b0, b1] = st.header[big].data_offsets as number[];
  const [s0, s1] = st.header[second].data_offsets as number[];
  for (const [label, offs] of [
    ['end-1e18', [b0, 1e18]],
    ['negative', [-8, b1 - b0 - 8]],
    ['reversed', [b1, b0]],
    ['one', [b0]],
    ['null', null],
    ['strings', ['0', '4']],
    ['past-end', [st.data.length, st.data.length + (b1 - b0)]],
    ['fraction', [b0 + 0.5, b1 + 0.5]],
    ['2^64', [2 ** 64, 2 ** 64 + (b1 - b0)]],
  ] as const) {
    cases.push([
      `st/offsets-${label}`,
      'error',
      edit(big, (h) => {
        h[big].data_offsets = offs as unknown;
      }),
    ]);
  }
  // two tensors on the same bytes (same size: a shape-preserving overlap)
  cases.push([
    `st/offsets-overlap`,
    'any',
    edit(second, (h) => {
      const len = s1 - s0;
      h[second].data_offsets = [b0, b0 + len];
    }),
  ]);
  cases.push([
    'st/metadata-array',
    'any',
    edit(big, (h) => {
      h.__metadata__ = [] as never;
    }),
  ]);
  cases.push([
    'st/metadata-number',
    'any',
    edit(big, (h) => {
      h.__metadata__ = 5 as never;
    }),
  ]);
  cases.push([
    'st/tensor-info-string',
    'error',
    edit(big, (h) => {
      h[big] = 'x' as never;
    }),
  ]);
  cases.push(['st/tensor-named-__proto__', 'error', () => writeSt(undefined, st.data, JSON.stringify(st.header).replace(`"${big}"`, '"__proto__"'))]);
  cases.push([
    'st/nan-weights',
    'any',
    () => {
      const d = Buffer.from(st.data);
      for (let i = b0; i + 4 <= b1; i += 4) d.writeUInt32LE(0x7fc00000, i);
      return writeSt(st.header, d);
    },
    'converter NaN weights',
  ]);
  cases.push([
    'st/inf-weights',
    'any',
    () => {
      const d = Buffer.from(st.data);
      for (let i = b0; i + 4 <= b1; i += 4) d.writeFloatLE(i % 8 ? Infinity : -Infinity, i);
      return writeSt(st.header, d);
    },
    'converter NaN weights',
  ]);
  for (const frac of [0.001, 0.3, 0.6, 0.9, 0.999]) {
    const at = Math.floor(raw.length * frac);
    cases.push([`st/truncated-${at}`, 'error', () => raw.subarray(0, at)]);
  }
  return cases.map(([name, expect, make, known]) => ({
    id: `convert/${name}`,
    category: 'convert' as const,
    expect,
    codes: CODES,
    ...(known ? { known } : {}),
    run: (ctx: CaseContext) => runConvert(ctx, {}, { 'model.safetensors': make(), 'pytorch_model.bin': null }),
  }));
}

// ---- torch zip + pickle -----------------------------------------------------------------------

interface ZipMap {
  eocd: number;
  cdOffset: number;
  entries: { name: string; cen: number; local: number; dataAt: number; size: number }[];
}

function mapZip(b: Buffer): ZipMap {
  let eocd = b.length - 22;
  while (b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const count = b.readUInt16LE(eocd + 10);
  const cdOffset = b.readUInt32LE(eocd + 16);
  const entries: ZipMap['entries'] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const nameLen = b.readUInt16LE(p + 28);
    const extra = b.readUInt16LE(p + 30);
    const comment = b.readUInt16LE(p + 32);
    const local = b.readUInt32LE(p + 42);
    const name = b.toString('utf8', p + 46, p + 46 + nameLen);
    const dataAt = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
    entries.push({ name, cen: p, local, dataAt, size: b.readUInt32LE(p + 24) });
    p += 46 + nameLen + extra + comment;
  }
  return { eocd, cdOffset, entries };
}

/** A stored zip of `entries` (test/helpers/upstream.ts's writer), as bytes. */
function zipOf(entries: [string, Buffer][]): Buffer {
  const tmp = path.join(os.tmpdir(), `ggpt-attack-zip-${process.pid}-${Math.random().toString(36).slice(2)}.bin`);
  writeZip(tmp, entries);
  const out = fs.readFileSync(tmp);
  fs.rmSync(tmp);
  return out;
}

const put = (b: Buffer, at: number, bytes: Buffer) => {
  const o = Buffer.from(b);
  bytes.copy(o, at);
  return o;
};
const u16 = (v: number) => {
  const x = Buffer.alloc(2);
  x.writeUInt16LE(v);
  return x;
};

/** Pickle program pieces. */
const P = {
  proto: Buffer.from([0x80, 2]),
  global: (m: string, n: string) => Buffer.from(`c${m}\n${n}\n`, 'latin1'),
  str: (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([0x58]), u32(b.length), b]);
  },
  stop: Buffer.from([0x2e]),
};

function zipCases(env: AttackEnv): AttackCase[] {
  const file = path.join(env.upstreamClip, 'pytorch_model.bin');
  const raw = fs.readFileSync(file);
  const zm = mapZip(raw);
  const pklEntry = zm.entries.find((e) => e.name.endsWith('/data.pkl')) as ZipMap['entries'][number];
  const prefix = pklEntry.name.slice(0, -'data.pkl'.length);
  const pkl = raw.subarray(pklEntry.dataAt, pklEntry.dataAt + pklEntry.size);
  const entries = zm.entries.map((e) => [e.name, raw.subarray(e.dataAt, e.dataAt + e.size)] as [string, Buffer]);
  /** The same archive with data.pkl replaced. */
  const withPickle = (p: Buffer) => zipOf(entries.map(([n, d]) => [n, n === pklEntry.name ? p : d]));
  const cases: [string, 'error' | 'any', () => Buffer][] = [];
  for (const at of [
    0,
    3,
    4,
    29,
    pklEntry.dataAt + 10,
    pklEntry.dataAt + pklEntry.size - 1,
    Math.floor(raw.length / 2),
    zm.cdOffset,
    zm.cdOffset + 30,
    zm.eocd,
    zm.eocd + 21,
  ]) {
    cases.push([`zip/truncated-${at}`, 'error', () => raw.subarray(0, at)]);
  }
  // torch writes ZIP64 end records: the classic record's fields are then not used...
  cases.push(['zip/eocd-count-0', 'any', () => put(raw, zm.eocd + 10, u16(0))]);
  cases.push(['zip/eocd-count-ffff', 'any', () => put(raw, zm.eocd + 10, u16(0xffff))]);
  cases.push(['zip/eocd-cd-size-huge', 'any', () => put(raw, zm.eocd + 12, u32(0xfffffff0))]);
  cases.push(['zip/eocd-cd-offset-huge', 'any', () => put(raw, zm.eocd + 16, u32(0xfffffff0))]);
  cases.push(['zip/eocd-cd-offset-0', 'any', () => put(raw, zm.eocd + 16, u32(0))]);
  // ... and the ZIP64 record's are
  if (raw.readUInt32LE(zm.eocd - 20) === 0x07064b50) {
    const rec = Number(raw.readBigUInt64LE(zm.eocd - 12));
    cases.push(['zip/zip64-count-0', 'error', () => put(raw, rec + 32, u64(0n))]);
    cases.push(['zip/zip64-count-huge', 'error', () => put(raw, rec + 32, u64(1n << 62n))]);
    cases.push(['zip/zip64-count-plus-1', 'error', () => put(raw, rec + 32, u64(BigInt(zm.entries.length + 1)))]);
    cases.push(['zip/zip64-cd-size-huge', 'error', () => put(raw, rec + 40, u64(1n << 50n))]);
    cases.push(['zip/zip64-cd-size-0', 'error', () => put(raw, rec + 40, u64(0n))]);
    cases.push(['zip/zip64-cd-offset-huge', 'error', () => put(raw, rec + 48, u64((1n << 64n) - 1n))]);
    cases.push(['zip/zip64-cd-offset-0', 'error', () => put(raw, rec + 48, u64(0n))]);
    cases.push(['zip/zip64-signature', 'error', () => put(raw, rec, u32(0))]);
    cases.push(['zip/zip64-locator-past-end', 'error', () => put(raw, zm.eocd - 12, u64(BigInt(raw.length)))]);
  }
  cases.push(['zip/eocd-comment-past-end', 'error', () => put(raw, zm.eocd + 20, u16(0xffff))]);
  cases.push(['zip/eocd-gone', 'error', () => put(raw, zm.eocd, u32(0))]);
  const c0 = zm.entries[0];
  cases.push(['zip/cen-signature', 'error', () => put(raw, c0.cen, u32(0x12345678))]);
  cases.push(['zip/cen-name-length-huge', 'error', () => put(raw, c0.cen + 28, u16(0xffff))]);
  cases.push(['zip/cen-extra-length-huge', 'error', () => put(raw, c0.cen + 30, u16(0xffff))]);
  cases.push(['zip/cen-local-offset-past-end', 'error', () => put(raw, c0.cen + 42, u32(raw.length + 10))]);
  cases.push(['zip/cen-local-offset-ffffffff', 'error', () => put(raw, c0.cen + 42, u32(0xffffffff))]);
  cases.push(['zip/cen-compressed-size-huge', 'error', () => put(raw, c0.cen + 20, u32(0x7fffffff))]);
  cases.push(['zip/cen-method-deflate', 'error', () => put(raw, c0.cen + 10, u16(8))]);
  cases.push(['zip/cen-method-99', 'error', () => put(raw, c0.cen + 10, u16(99))]);
  cases.push(['zip/cen-renamed-data-pkl', 'error', () => put(raw, c0.cen + 46 + prefix.length, Buffer.from('data.pkx'))]);
  cases.push([
    'zip/zip64-extra-short',
    'error',
    () => {
      // a ZIP64 extra field (id 1, length 0) where the sizes say 0xffffffff
      let b = put(raw, c0.cen + 20, u32(0xffffffff));
      b = put(b, c0.cen + 24, u32(0xffffffff));
      const nameLen = b.readUInt16LE(c0.cen + 28);
      // use the 4 bytes of the next record's start as the extra field: id 1, length 0
      return put(put(b, c0.cen + 30, u16(4)), c0.cen + 46 + nameLen, Buffer.from([1, 0, 0, 0]));
    },
  ]);
  cases.push(['zip/local-signature', 'error', () => put(raw, c0.local, u32(0))]);
  cases.push(['zip/local-extra-huge', 'error', () => put(raw, c0.local + 28, u16(0xffff))]);
  cases.push([
    'zip/zip64-locator-bogus',
    'error',
    () => {
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeBigUInt64LE(1n << 60n, 8);
      return Buffer.concat([raw.subarray(0, zm.eocd), loc, raw.subarray(zm.eocd)]);
    },
  ]);
  cases.push([
    'zip/zip64-record-bad',
    'error',
    () => {
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeBigUInt64LE(0n, 8);
      return Buffer.concat([raw.subarray(0, zm.eocd), loc, raw.subarray(zm.eocd)]);
    },
  ]);
  cases.push(['zip/legacy-torch-magic', 'error', () => Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), raw.subarray(4)])]);
  cases.push(['zip/byteorder-big', 'error', () => zipOf([...entries.filter(([n]) => !n.endsWith('/byteorder')), [`${prefix}byteorder`, Buffer.from('big')]])]);
  cases.push(['zip/storage-missing', 'error', () => zipOf(entries.filter(([n]) => n !== `${prefix}data/1`))]);
  cases.push(['zip/storage-short', 'error', () => zipOf(entries.map(([n, d]) => [n, n === `${prefix}data/1` ? d.subarray(0, 7) : d]))]);
  cases.push(['zip/two-data-pkl', 'error', () => zipOf([...entries, [`other/data.pkl`, pkl]])]);

  // pickles
  const pickles: [string, Buffer][] = [];
  for (const [m, n] of [
    ['os', 'system'],
    ['posix', 'system'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['__builtin__', 'getattr'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['torch._utils', '_rebuild_qtensor'],
    ['collections', 'OrderedDict.__init__'],
  ]) {
    pickles.push([`global-${m}.${n}`, Buffer.concat([P.proto, P.global(m, n), P.str('echo pwned'), Buffer.from([0x85, 0x52]), P.stop])]);
  }
  pickles.push([
    'stack-global-os-system',
    Buffer.concat([P.proto, P.str('os'), P.str('system'), Buffer.from([0x93]), P.str('id'), Buffer.from([0x85, 0x52]), P.stop]),
  ]);
  pickles.push(['reduce-on-int', Buffer.concat([P.proto, Buffer.from([0x4b, 1, 0x29, 0x52]), P.stop])]);
  pickles.push(['reduce-args-not-tuple', Buffer.concat([P.proto, P.global('collections', 'OrderedDict'), Buffer.from([0x4b, 1, 0x52]), P.stop])]);
  for (const op of [0x00, 0x69, 0x6f, 0x82, 0x83, 0x84, 0x92, 0x97, 0x98, 0xd0, 0xff, 0x53, 0x56]) {
    pickles.push([`opcode-${op.toString(16)}`, Buffer.concat([P.proto, Buffer.from([op]), Buffer.from('a\nb\n'), P.stop])]);
  }
  const deep = (n: number) => {
    const parts = [P.proto, Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61), P.stop];
    return Buffer.concat(parts);
  };
  pickles.push(['nested-lists-1e6', deep(1_000_000)]);
  pickles.push(['marks-1e6', Buffer.concat([P.proto, Buffer.alloc(1_000_000, 0x28), P.stop])]);
  pickles.push([
    'appends-300k',
    Buffer.concat([P.proto, Buffer.from([0x5d, 0x28]), Buffer.alloc(600_000).fill(Buffer.from([0x4b, 7])), Buffer.from([0x65]), P.stop]),
  ]);
  pickles.push(['tuple-300k', Buffer.concat([P.proto, Buffer.from([0x28]), Buffer.alloc(600_000).fill(Buffer.from([0x4b, 7])), Buffer.from([0x74]), P.stop])]);
  pickles.push(['long4-negative-length', Buffer.concat([P.proto, Buffer.from([0x8b]), Buffer.from([0xfb, 0xff, 0xff, 0xff]), P.stop])]);
  pickles.push(['binstring-negative-length', Buffer.concat([P.proto, Buffer.from([0x54]), Buffer.from([0xf0, 0xff, 0xff, 0xff]), P.stop])]);
  pickles.push(['text-long-garbage', Buffer.concat([P.proto, Buffer.from('Lxyz\n', 'latin1'), P.stop])]);
  pickles.push(['text-int-garbage', Buffer.concat([P.proto, Buffer.from('Ixyz\n', 'latin1'), P.stop])]);
  pickles.push(['binunicode-huge', Buffer.concat([P.proto, Buffer.from([0x58]), u32(0xfffffff0), P.stop])]);
  pickles.push(['binunicode8-huge', Buffer.concat([P.proto, Buffer.from([0x8d]), u64(1n << 63n), P.stop])]);
  pickles.push(['frame-huge', Buffer.concat([Buffer.from([0x80, 4, 0x95]), u64((1n << 64n) - 1n), P.stop])]);
  pickles.push(['memo-get-missing', Buffer.concat([P.proto, Buffer.from([0x68, 9]), P.stop])]);
  pickles.push(['stop-empty-stack', Buffer.concat([P.proto, P.stop])]);
  pickles.push(['no-stop', Buffer.concat([P.proto, Buffer.from([0x7d])])]);
  pickles.push(['empty', Buffer.alloc(0)]);
  pickles.push(['self-containing-list', Buffer.concat([P.proto, Buffer.from([0x5d, 0x71, 0, 0x68, 0, 0x61]), P.stop])]);
  pickles.push(['dict-list-key', Buffer.concat([P.proto, Buffer.from([0x7d, 0x5d, 0x4b, 1, 0x73]), P.stop])]);
  pickles.push(['not-a-dict', Buffer.concat([P.proto, Buffer.from([0x4b, 1]), P.stop])]);
  pickles.push(['persid-text', Buffer.concat([P.proto, Buffer.from('Pstorage\n', 'latin1'), P.stop])]);
  pickles.push(['persid-bad-tuple', Buffer.concat([P.proto, P.str('storage'), Buffer.from([0x85, 0x51]), P.stop])]);
  pickles.push(['build-on-int', Buffer.concat([P.proto, Buffer.from([0x4b, 1, 0x4b, 2, 0x62]), P.stop])]);
  // tensor-level: rebuild with a bad storage offset / huge view / stride 0 broadcast
  const tensorPickle = (offset: Buffer, size: number[], stride: number[]) => {
    const tuple = (xs: number[]) => Buffer.concat([Buffer.from([0x28]), ...xs.map((x) => Buffer.concat([Buffer.from([0x4a]), u32(x)])), Buffer.from([0x74])]);
    return Buffer.concat([
      P.proto,
      Buffer.from([0x7d]),
      P.str('w'),
      P.global('torch._utils', '_rebuild_tensor_v2'),
      Buffer.from([0x28]),
      Buffer.from([0x28]),
      P.str('storage'),
      P.global('torch', 'FloatStorage'),
      P.str('1'),
      P.str('cpu'),
      Buffer.from([0x4b, 4]),
      Buffer.from([0x74, 0x51]),
      offset,
      tuple(size),
      tuple(stride),
      Buffer.from([0x89]),
      P.global('collections', 'OrderedDict'),
      Buffer.from([0x29, 0x52, 0x74, 0x52]),
      Buffer.from([0x73]),
      P.stop,
    ]);
  };
  pickles.push(['tensor-negative-offset', tensorPickle(Buffer.concat([Buffer.from([0x4a]), u32(0xffffffff)]), [2], [1])]);
  pickles.push(['tensor-float-offset', tensorPickle(Buffer.concat([Buffer.from([0x47]), Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0])]), [2], [1])]);
  pickles.push(['tensor-huge-view', tensorPickle(Buffer.from([0x4b, 0]), [0x7fffffff, 0x7fffffff], [1, 1])]);
  pickles.push(['tensor-stride-0-huge', tensorPickle(Buffer.from([0x4b, 0]), [0x7fffffff, 0x7fffffff], [0, 0])]);
  pickles.push(['tensor-rank-mismatch', tensorPickle(Buffer.from([0x4b, 0]), [2, 2], [1])]);
  for (const [name, p] of pickles) cases.push([`pickle/${name}`, 'error', () => withPickle(p)]);
  cases.push(['pickle/original-plus-junk-after-stop', 'any', () => withPickle(Buffer.concat([pkl, Buffer.from('junk')]))]);

  return cases.map(([name, expect, make]) => ({
    id: `convert/${name}`,
    category: 'convert' as const,
    expect,
    codes: CODES,
    run: (ctx: CaseContext) => runConvert(ctx, {}, { 'pytorch_model.bin': make(), 'model.safetensors': null }),
  }));
}

// ---- config.json, tokenizer, index ------------------------------------------------------------

function configCases(env: AttackEnv): AttackCase[] {
  const cfg = JSON.parse(fs.readFileSync(path.join(env.upstreamModel, 'config.json'), 'utf8')) as Record<string, unknown>;
  const clipCfg = JSON.parse(fs.readFileSync(path.join(env.upstreamClip, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const cases: AttackCase[] = [];
  const add = (name: string, expect: 'error' | 'any', files: () => { model?: Files; clip?: Files }, known?: string) =>
    cases.push({
      id: `convert/${name}`,
      category: 'convert',
      expect,
      codes: CODES,
      ...(known ? { known } : {}),
      run: (ctx) => {
        const f = files();
        return runConvert(ctx, f.model ?? {}, f.clip ?? {});
      },
    });
  const modelValues: [string, unknown[]][] = [
    ['vocab_size', [1e9, 0, -1, 1.5, '1009', null, 2 ** 53, 1010, 1008]],
    ['hidden_size', [0, 63, 1e6, -64, 65]],
    ['num_attention_heads', [0, 3, 1e6, -4]],
    ['num_key_value_heads', [0, 3, 8]],
    ['num_hidden_layers', [0, 1, 3, 1e6]],
    ['intermediate_size', [0, 1e9]],
    ['rms_norm_eps', [-1, 0, 1e300, 'x']],
    ['rope_theta', [0, -1, 1e308]],
    ['max_position_embeddings', [0, 1, 1e12]],
    ['rope_scaling', [{ type: 'linear', factor: 0 }, { type: 'linear', factor: -1 }, { type: 'yarn', factor: 2 }, 'x']],
    ['sound_patch_token', [5000, -1, 1.5, 1]],
    ['image_token_len', [0, 1e9, -1]],
    ['video_token_len', [0, 1e6]],
    ['sound_token_len', [1e6, 0]],
    ['num_query_token', [0, 1e6]],
    ['mm_vision_select_layer', [100, -100, 0]],
    ['mm_vision_hidden_size', [0, 31]],
    ['max_frame', [0, 1e6]],
    ['bos_token_id', [5000, -1]],
  ];
  for (const [key, values] of modelValues) {
    for (const v of values) {
      const known = key === 'vocab_size' && v === 1e9 ? 'converter vocab_size 1e9' : undefined;
      add(`config/${key}=${JSON.stringify(v)}`, 'any', () => ({ model: { 'config.json': Buffer.from(JSON.stringify({ ...cfg, [key]: v })) } }), known);
    }
  }
  for (const text of ['[]', 'null', '"x"', '42', '{', ''])
    add(`config/text-${text || 'empty'}`, 'error', () => ({ model: { 'config.json': Buffer.from(text) } }));
  add('config/missing', 'error', () => ({ model: { 'config.json': null } }));
  const vision = clipCfg.vision_config;
  for (const [key, values] of [
    ['hidden_size', [0, 31, 1e6]],
    ['num_hidden_layers', [0, 100]],
    ['patch_size', [0, 1000, 13]],
    ['image_size', [0, 1, 14]],
    ['num_attention_heads', [0, 3]],
    ['layer_norm_eps', ['NaN', -1]],
    ['intermediate_size', [0, 1e9]],
  ] as [string, unknown[]][]) {
    for (const v of values) {
      add(`clip-config/${key}=${JSON.stringify(v)}`, 'any', () => ({
        clip: { 'config.json': Buffer.from(JSON.stringify({ ...clipCfg, vision_config: { ...vision, [key]: v } })) },
      }));
    }
  }
  add('clip-config/no-vision-config', 'error', () => ({ clip: { 'config.json': Buffer.from(JSON.stringify({ ...clipCfg, vision_config: undefined })) } }));
  add('clip-config/vision-config-array', 'error', () => ({ clip: { 'config.json': Buffer.from(JSON.stringify({ ...clipCfg, vision_config: [] })) } }));
  // tokenizer.model
  const tok = fs.readFileSync(path.join(env.upstreamModel, 'tokenizer.model'));
  for (const frac of [0, 0.01, 0.5, 0.99])
    add(`tokenizer/truncated-${frac}`, 'error', () => ({ model: { 'tokenizer.model': tok.subarray(0, Math.floor(tok.length * frac)) } }));
  add('tokenizer/random-bytes', 'error', () => ({
    model: { 'tokenizer.model': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)) },
  }));
  add('tokenizer/varint-overlong', 'error', () => ({ model: { 'tokenizer.model': Buffer.concat([Buffer.from([0x0a]), Buffer.alloc(20, 0xff)]) } }));
  add('tokenizer/length-huge', 'error', () => ({
    model: { 'tokenizer.model': Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), tok.subarray(0, 100)]) },
  }));
  // index.json
  const index = JSON.parse(fs.readFileSync(path.join(env.upstreamModel, 'pytorch_model.bin.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const firstTensor = Object.keys(index.weight_map)[0];
  const idx = (v: unknown) => ({ model: { 'pytorch_model.bin.index.json': Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)) } });
  add('index/not-json', 'error', () => idx('{ nope'));
  add('index/no-weight-map', 'error', () => idx({ metadata: {} }));
  add('index/weight-map-array', 'error', () => idx({ weight_map: [] }));
  add('index/shard-escapes', 'error', () => idx({ weight_map: { ...index.weight_map, [firstTensor]: '../../etc/passwd' } }));
  add('index/shard-missing', 'error', () => idx({ weight_map: { ...index.weight_map, [firstTensor]: 'nope.bin' } }));
  add('index/shard-number', 'error', () => idx({ weight_map: { ...index.weight_map, [firstTensor]: 5 } }));
  add('index/tensor-not-in-shard', 'error', () => idx({ weight_map: { ...index.weight_map, 'model.not.there': Object.values(index.weight_map)[0] } }));
  return cases;
}

function optionCases(): AttackCase[] {
  const bad: [string, Record<string, unknown>][] = [
    ['type-q3', { type: 'q3' }],
    ['type-number', { type: 5 }],
    ['threads-0', { threads: 0 }],
    ['threads-NaN', { threads: NaN }],
    ['threads-string', { threads: '2' }],
    ['onProgress-number', { onProgress: 5 }],
    ['signal-object', { signal: {} }],
    ['overrides-heads-string', { overrides: { heads: 'x' } }],
    ['overrides-heads-0', { overrides: { heads: { qformer: 0 } } }],
    ['overrides-heads-NaN', { overrides: { heads: { eva: NaN } } }],
    ['model-empty', { model: '' }],
    ['out-number', { out: 5 }],
  ];
  return bad.map(([name, extra]) => ({
    id: `convert/options/${name}`,
    category: 'convert' as const,
    expect: 'error' as const,
    codes: CODES,
    run: async (ctx: CaseContext) => {
      const out = ctx.file('out');
      try {
        await convert({ model: ctx.upstreamModel, clip: ctx.upstreamClip, out, type: 'f32', ...extra } as never);
      } catch (err) {
        if (fs.existsSync(out) && typeof extra.out !== 'number') throw new CheckFailed(`convert failed but left ${out}`);
        throw err;
      }
    },
  }));
}

export function convertCases(env: AttackEnv): AttackCase[] {
  return [...stCases(env), ...zipCases(env), ...configCases(env), ...optionCases()];
}
