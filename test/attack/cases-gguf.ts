// Attack cases (a) and (b): byte-level mutations of the converted tiny model's llm.gguf and
// encoders.gguf. Every case writes its mutated copy, loads it (the LLM alone, or the good LLM with
// the bad encoders file) and, when the load succeeds, generates and runs the towers, so that a
// value that only bites at graph time is reached too (docs/ARCHITECTURE.md, "Rules that keep the
// host process alive").
import fs from 'node:fs';
import { GGUFValueType } from '../../src/gguf/types';
import type { AttackCase, AttackEnv, CaseContext, Category } from './case';
import { f32, mapGGUF, patched, u32, u64, type GGUFMap } from './gguf-map';

const sources = new Map<string, Buffer>();
function source(file: string): Buffer {
  let b = sources.get(file);
  if (!b) {
    b = fs.readFileSync(file);
    sources.set(file, b);
  }
  return b;
}

type Mutation = (buf: Buffer, map: GGUFMap) => Buffer;

interface GGUFCaseSpec {
  name: string;
  expect: 'error' | 'any';
  known?: string;
  mutate: Mutation;
}

/** Known crash classes (being fixed elsewhere) by the LLM key they concern. */
const KNOWN_LLM: Record<string, (value: string) => string | undefined> = {
  'llama.block_count': (v) => (v === '0' || Number(v) > 1000 ? 'llm block_count 0/huge reaches a libllama assert' : undefined),
  'llama.attention.layer_norm_rms_epsilon': (v) => (v === 'NaN' || v.startsWith('-') ? 'llm eps NaN/negative reaches a libllama assert' : undefined),
  'llama.rope.freq_base': (v) => (v === 'NaN' || Number(v) <= 0 ? 'llm rope base <= 0 reaches a libllama assert' : undefined),
  'general.alignment': (v) => (v === '1' ? 'llm general.alignment=1 reaches a libllama assert' : undefined),
};

const U32_VALUES = [0, 1, 3, 0x7fffffff, 0xffffffff];
const F32_VALUES = [NaN, -1, 0, Infinity, -Infinity, 3.4e38, 1e-45];
const SAME_SIZE_TYPES: Partial<Record<GGUFValueType, GGUFValueType[]>> = {
  [GGUFValueType.UINT32]: [GGUFValueType.FLOAT32, GGUFValueType.INT32],
  [GGUFValueType.INT32]: [GGUFValueType.FLOAT32],
  [GGUFValueType.FLOAT32]: [GGUFValueType.UINT32, GGUFValueType.INT32],
  [GGUFValueType.BOOL]: [GGUFValueType.UINT8, GGUFValueType.INT8],
  [GGUFValueType.STRING]: [GGUFValueType.UINT64, GGUFValueType.ARRAY],
};

/**
 * The mutations of one file. `thorough`: every extreme value and wrong type per key (the LLM's
 * ~30 keys); otherwise three values and one wrong type per key (the encoders' ~60 keys).
 */
function specsFor(buf: Buffer, map: GGUFMap, knownFor: (key: string, value: string) => string | undefined, thorough: boolean): GGUFCaseSpec[] {
  const specs: GGUFCaseSpec[] = [];
  const size = buf.length;
  // truncation: 24 cuts through the header (every field boundary region), 12 through the data
  const dataStart = map.headerEnd;
  for (let i = 0; i < 24; i++) {
    const at = Math.floor((dataStart * i) / 24) + (i % 3);
    specs.push({ name: `truncate/header-${at}`, expect: 'error', mutate: (b) => b.subarray(0, at) });
  }
  for (let i = 0; i < 12; i++) {
    const at = dataStart + Math.floor(((size - dataStart) * (i + 0.5)) / 12);
    specs.push({ name: `truncate/data-${at}`, expect: 'error', mutate: (b) => b.subarray(0, at) });
  }
  specs.push({ name: 'truncate/last-byte', expect: 'error', mutate: (b) => b.subarray(0, size - 1) });
  specs.push({ name: 'empty-file', expect: 'error', mutate: () => Buffer.alloc(0) });
  // magic and version
  specs.push({ name: 'magic/GGML', expect: 'error', mutate: (b) => patched(b, 0, Buffer.from('GGML')) });
  specs.push({ name: 'magic/zero', expect: 'error', mutate: (b) => patched(b, 0, Buffer.alloc(4)) });
  specs.push({ name: 'magic/big-endian', expect: 'error', mutate: (b) => patched(b, 0, Buffer.from('FUGG')) });
  for (const v of [0, 1, 4, 0xffffffff]) specs.push({ name: `version/${v}`, expect: 'error', mutate: (b) => patched(b, 4, u32(v)) });
  // counts
  for (const [what, at] of [
    ['tensors', map.nTensorsAt],
    ['kv', map.nKvAt],
  ] as const) {
    const real = BigInt(what === 'tensors' ? map.tensors.length : map.kvs.length);
    for (const v of [0n, real + 1n, 1n << 32n, 1n << 62n, (1n << 64n) - 1n]) {
      specs.push({ name: `count/${what}-${v}`, expect: 'error', mutate: (b) => patched(b, at, u64(v)) });
    }
    // one fewer: the last key or tensor info is read as padding and data (may still load)
    specs.push({ name: `count/${what}-minus-1`, expect: 'any', mutate: (b) => patched(b, at, u64(real - 1n)) });
  }
  // string and array lengths
  const first = map.kvs[0];
  for (const v of [(1n << 64n) - 1n, 1n << 40n, BigInt(size)]) {
    specs.push({ name: `length/first-key-${v}`, expect: 'error', mutate: (b) => patched(b, first.at, u64(v)) });
  }
  for (const kv of map.kvs.filter((k) => k.type === GGUFValueType.ARRAY)) {
    for (const v of [(1n << 64n) - 1n, 1n << 33n, BigInt(kv.count as number) + 1n, 0n]) {
      specs.push({ name: `length/${kv.key}-${v}`, expect: 'any', mutate: (b) => patched(b, kv.countAt as number, u64(v)) });
    }
    if (kv.itemType === GGUFValueType.STRING) {
      specs.push({ name: `length/${kv.key}-item0-huge`, expect: 'error', mutate: (b) => patched(b, kv.itemsAt as number, u64((1n << 63n) + 5n)) });
    }
    for (const t of [GGUFValueType.ARRAY, 13, 0xffffffff]) {
      specs.push({ name: `item-type/${kv.key}-${t}`, expect: 'error', mutate: (b) => patched(b, kv.valueAt, u32(t)) });
    }
  }
  specs.push({ name: 'kv-type/first-13', expect: 'error', mutate: (b) => patched(b, first.typeAt, u32(13)) });
  specs.push({ name: 'kv-type/first-ffffffff', expect: 'error', mutate: (b) => patched(b, first.typeAt, u32(0xffffffff)) });
  // wrong types and extreme values of every scalar key
  for (const kv of map.kvs) {
    for (const t of (SAME_SIZE_TYPES[kv.type] ?? []).slice(0, thorough ? undefined : 1)) {
      specs.push({ name: `retype/${kv.key}-as-${GGUFValueType[t]}`, expect: 'any', mutate: (b) => patched(b, kv.typeAt, u32(t)) });
    }
    if (kv.type === GGUFValueType.UINT32 || kv.type === GGUFValueType.INT32) {
      for (const v of thorough ? U32_VALUES : [0, 3, 0xffffffff]) {
        specs.push({ name: `value/${kv.key}=${v}`, expect: 'any', known: knownFor(kv.key, String(v)), mutate: (b) => patched(b, kv.valueAt, u32(v)) });
      }
    } else if (kv.type === GGUFValueType.FLOAT32) {
      for (const v of thorough ? F32_VALUES : [NaN, -1, Infinity]) {
        specs.push({ name: `value/${kv.key}=${v}`, expect: 'any', known: knownFor(kv.key, String(v)), mutate: (b) => patched(b, kv.valueAt, f32(v)) });
      }
    } else if (kv.type === GGUFValueType.BOOL) {
      specs.push({ name: `value/${kv.key}=byte-7`, expect: 'any', mutate: (b) => patched(b, kv.valueAt, Buffer.from([7])) });
    }
  }
  // tensor infos: first, a middle and the last tensor
  const picks = [...new Set([0, Math.floor(map.tensors.length / 2), map.tensors.length - 1])].map((i) => map.tensors[i]);
  for (const t of picks) {
    const n = `tensor/${t.name}`;
    specs.push({ name: `${n}/offset-huge`, expect: 'error', mutate: (b) => patched(b, t.offsetAt, u64(1n << 62n)) });
    specs.push({ name: `${n}/offset-past-end`, expect: 'error', mutate: (b) => patched(b, t.offsetAt, u64(BigInt(size))) });
    specs.push({ name: `${n}/offset-misaligned`, expect: 'error', mutate: (b) => patched(b, t.offsetAt, u64(t.offset + 1n)) });
    specs.push({ name: `${n}/offset-overlap-0`, expect: t.offset === 0n ? 'any' : 'error', mutate: (b) => patched(b, t.offsetAt, u64(0n)) });
    // other valid ggml types (a smaller one can still fit the file), removed ones, unknown ones
    for (const type of [1, 8, 12, 4, 39, 255, 0xffffffff]) {
      if (type === t.type) continue;
      const valid = type === 1 || type === 8 || type === 12;
      specs.push({ name: `${n}/type-${type}`, expect: valid ? 'any' : 'error', mutate: (b) => patched(b, t.typeAt, u32(type)) });
    }
    for (const nd of [0, 5, 0xffffffff]) specs.push({ name: `${n}/n-dims-${nd}`, expect: 'error', mutate: (b) => patched(b, t.nDimsAt, u32(nd)) });
    for (const [label, v] of [
      ['0', 0n],
      ['huge', 1n << 40n],
      ['2^63', 1n << 63n],
      ['plus-1', -1n],
    ] as const) {
      specs.push({
        name: `${n}/dim0-${label}`,
        expect: 'error',
        mutate: (b) => patched(b, t.dimsAt, u64(v === -1n ? b.readBigUInt64LE(t.dimsAt) + 1n : v)),
      });
    }
  }
  // two tensors with the same name
  if (map.tensors.length >= 2) {
    const [a, b2] = map.tensors;
    if (a.name.length === b2.name.length) {
      specs.push({ name: 'tensor/duplicate-name', expect: 'error', mutate: (b) => patched(b, b2.at + 8, Buffer.from(a.name)) });
    }
  }
  return specs;
}

function ggufCases(
  category: Category,
  file: string,
  load: (ctx: CaseContext, f: string) => Promise<void>,
  knownFor: (key: string, value: string) => string | undefined,
  thorough: boolean,
): AttackCase[] {
  const buf = source(file);
  const map = mapGGUF(buf);
  const seen = new Set<string>();
  return specsFor(buf, map, knownFor, thorough)
    .filter((s) => !seen.has(s.name) && (seen.add(s.name), true))
    .map((s) => ({
      id: `${category}/${s.name}`,
      category,
      expect: s.expect,
      codes: ['MODEL_LOAD', 'INVALID_INPUT'],
      ...(s.known ? { known: s.known } : {}),
      run: async (ctx: CaseContext) => {
        const b = source(file);
        const f = ctx.file('bad.gguf');
        fs.writeFileSync(f, s.mutate(b, mapGGUF(b)));
        await load(ctx, f);
      },
    }));
}

export function llmCases(env: AttackEnv): AttackCase[] {
  return ggufCases(
    'llm',
    env.llm,
    (ctx, f) => ctx.loadAndUse({ llm: f }),
    (key, value) => KNOWN_LLM[key]?.(value),
    true,
  );
}

export function encodersCases(env: AttackEnv): AttackCase[] {
  return ggufCases(
    'encoders',
    env.encoders,
    (ctx, f) => ctx.loadAndUse({ llm: ctx.llm, encoders: f }),
    () => undefined,
    false,
  );
}
