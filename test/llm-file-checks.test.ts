// The LLM file checks (native/src/core/llm_check.cpp, docs/LLM-FILE-CHECKS.md): every value of
// llm.gguf that can reach a libllama/ggml assert (which would end the process), or that would
// load and break every later call, is refused with a ModelLoadError naming the file and the key
// or tensor. Each patched file is loaded in a child process, so an abort shows up as a failed
// case instead of a dead test runner; after each case the child loads the unpatched model and
// must give the same answer as before. Load errors name the failing file through the addon's
// `file` property: a broken encoders.gguf is reported as the encoders file.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { readGGUF, readGGUFTensor, type GGUFFile } from '../src/gguf/reader';
import { GGMLType, GGUFValueType } from '../src/gguf/types';
import { f32ToF16 } from '../src/gguf/float';
import { ggufHeader, writeGGUF, gv, type GGUFTensorPlan, type GGUFValue } from '../src/gguf/writer';
import { ModelLoadError, loadModel } from '../src/index';

const work = tempDir('ggpt-llm-checks-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

type Kv = Map<string, GGUFValue>;
interface Edit {
  kv?: (kv: Kv) => void;
  tensors?: (plans: GGUFTensorPlan[], g: GGUFFile) => GGUFTensorPlan[];
  alignment?: number;
}

function asValue(v: { type: GGUFValueType; itemType?: GGUFValueType; value: unknown }): GGUFValue {
  return v.type === GGUFValueType.ARRAY
    ? { type: v.type, itemType: v.itemType as GGUFValueType, value: v.value as string[] }
    : ({ type: v.type, value: v.value } as GGUFValue);
}

/**
 * Rewrites `src` into `dest` through the project's GGUF reader and writer, with edits. Returns
 * the absolute file offset of each tensor's data.
 */
async function rewrite(src: string, dest: string, edit: Edit): Promise<number[]> {
  const g = await readGGUF(src);
  const kv: Kv = new Map();
  for (const [key, v] of g.kv) if (key !== 'general.alignment') kv.set(key, asValue(v));
  edit.kv?.(kv);
  let plans: GGUFTensorPlan[] = g.tensors.map((ti) => ({
    name: ti.name,
    shape: ti.shape,
    type: ti.type,
    data: async () => new Uint8Array(await readGGUFTensor(g, ti.name)),
  }));
  if (edit.tensors) plans = edit.tensors(plans, g);
  await writeGGUF(dest, [...kv.entries()], plans, { alignment: edit.alignment });
  const alignment = edit.alignment ?? 32;
  const allKv = alignment === 32 ? [...kv.entries()] : [...kv.entries(), ['general.alignment', gv.u32(alignment)] as const];
  const { header, offsets } = ggufHeader(allKv, plans, alignment);
  return offsets.map((o) => header.length + o);
}

const arr = (kv: Kv, key: string) => [...(kv.get(key) as unknown as { value: unknown[] }).value];

// ---- the cases -----------------------------------------------------------------------------------

interface Case {
  name: string;
  edit: Edit;
  /** Which file is patched (default llm). */
  target?: 'llm' | 'encoders';
  /** Expected message part (the key or tensor), or 'loads' for files that must load and answer. */
  expect: RegExp | 'loads';
}

const u32 = (key: string, v: number): Edit => ({ kv: (kv) => kv.set(key, gv.u32(v)) });
const f32 = (key: string, v: number): Edit => ({ kv: (kv) => kv.set(key, gv.f32(v)) });
const q = (s: string) => s.replace(/[.[\]()]/g, '\\$&');
const names = (key: string) => new RegExp(`'${q(key)}'`);

const cases: Case[] = [
  // libllama: GGML_ASSERT(n_layer_all > 0 && n_layer_all <= LLAMA_MAX_LAYERS)
  { name: 'block_count 0', edit: u32('llama.block_count', 0), expect: /'llama\.block_count' = 0 is outside \[1, 512\]/ },
  { name: 'block_count 513', edit: u32('llama.block_count', 513), expect: /'llama\.block_count' = 513 is outside/ },
  { name: 'block_count 2^32-1', edit: u32('llama.block_count', 0xffffffff), expect: /'llama\.block_count' = 4294967295/ },
  // ggml: GGML_ASSERT(eps >= 0.0f) in rms_norm at the first decode; Inf zeroes every activation
  {
    name: 'rms eps negative',
    edit: f32('llama.attention.layer_norm_rms_epsilon', -1e-5),
    expect: /'llama\.attention\.layer_norm_rms_epsilon' = -1e-05 must be/,
  },
  { name: 'rms eps NaN', edit: f32('llama.attention.layer_norm_rms_epsilon', NaN), expect: names('llama.attention.layer_norm_rms_epsilon') },
  { name: 'rms eps Inf', edit: f32('llama.attention.layer_norm_rms_epsilon', Infinity), expect: names('llama.attention.layer_norm_rms_epsilon') },
  { name: 'rms eps 0', edit: f32('llama.attention.layer_norm_rms_epsilon', 0), expect: names('llama.attention.layer_norm_rms_epsilon') },
  // libllama casts general.file_type into its llama_ftype enum (UBSan: invalid enum load)
  { name: 'file_type 2^31-1', edit: u32('general.file_type', 0x7fffffff), expect: /'general\.file_type' = 2147483647 is outside/ },
  { name: 'file_type removed (5)', edit: u32('general.file_type', 5), expect: /'general\.file_type' = 5 names a file type/ },
  // NaN/negative/zero RoPE base: NaN positions in every call
  { name: 'rope base 0', edit: f32('llama.rope.freq_base', 0), expect: /'llama\.rope\.freq_base' = 0 must be/ },
  { name: 'rope base -1', edit: f32('llama.rope.freq_base', -1), expect: names('llama.rope.freq_base') },
  { name: 'rope base NaN', edit: f32('llama.rope.freq_base', NaN), expect: names('llama.rope.freq_base') },
  // libllama: GGML_ASSERT(rope_scaling_type_train != LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED)
  {
    name: 'unknown rope scaling type',
    edit: { kv: (kv) => kv.set('llama.rope.scaling.type', gv.str('bogus')) },
    expect: /'llama\.rope\.scaling\.type' is 'bogus'/,
  },
  { name: 'rope scaling factor NaN', edit: f32('llama.rope.scaling.factor', NaN), expect: names('llama.rope.scaling.factor') },
  // media tokens
  { name: 'media token = BOS', edit: u32('ggpt.token.im_patch', 1), expect: /'ggpt\.token\.im_patch' = 1 is the BOS token/ },
  { name: 'media token = EOS', edit: u32('ggpt.token.so_end', 2), expect: /'ggpt\.token\.so_end' = 2 is the EOS token/ },
  { name: 'media token out of range', edit: u32('ggpt.token.vi_patch', 1009), expect: /'ggpt\.token\.vi_patch' = 1009 is not a token id \(n_vocab 1009\)/ },
  { name: 'media token twice', edit: u32('ggpt.token.so_patch', 1000), expect: /'ggpt\.token\.im_patch' and 'ggpt\.token\.so_patch' name the same token 1000/ },
  { name: 'BOS id out of range', edit: u32('tokenizer.ggml.bos_token_id', 5000), expect: /'tokenizer\.ggml\.bos_token_id' = 5000 is outside \[0, 1008\]/ },
  // identity
  { name: 'unknown format version', edit: u32('ggpt.format_version', 2), expect: /'ggpt\.format_version' = 2 is not a format version this build reads/ },
  {
    name: 'architecture gpt2',
    edit: { kv: (kv) => kv.set('general.architecture', gv.str('gpt2')) },
    expect: /general\.architecture is 'gpt2', expected 'llama'/,
  },
  { name: 'split file', edit: { kv: (kv) => kv.set('split.count', { type: GGUFValueType.UINT16, value: 2 }) }, expect: names('split.count') },
  // heads: n_embd 64, 4 heads of 16
  { name: 'head_count 0', edit: u32('llama.attention.head_count', 0), expect: /'llama\.attention\.head_count' = 0 is outside/ },
  {
    name: 'head_count not dividing the width',
    edit: u32('llama.attention.head_count', 3),
    expect: /'llama\.attention\.head_count' = 3 does not divide 'llama\.embedding_length' = 64/,
  },
  {
    name: 'odd head size',
    edit: u32('llama.attention.head_count', 64),
    expect: /head size 'llama\.embedding_length' \/ 'llama\.attention\.head_count' = 1 is odd/,
  },
  {
    name: 'head_count_kv not dividing head_count',
    edit: u32('llama.attention.head_count_kv', 3),
    expect: /'llama\.attention\.head_count_kv' = 3 does not divide 'llama\.attention\.head_count' = 4/,
  },
  {
    name: 'head_count per layer, differing',
    edit: { kv: (kv) => kv.set('llama.attention.head_count', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.UINT32, value: [4, 2] }) },
    expect: /'llama\.attention\.head_count' differs between layers/,
  },
  {
    name: 'rope dimension count',
    edit: u32('llama.rope.dimension_count', 8),
    expect: /'llama\.rope\.dimension_count' = 8 differs from embedding_length \/ head_count = 16/,
  },
  { name: 'key length', edit: u32('llama.attention.key_length', 32), expect: names('llama.attention.key_length') },
  { name: 'feed_forward_length 0', edit: u32('llama.feed_forward_length', 0), expect: names('llama.feed_forward_length') },
  { name: 'context_length 0', edit: u32('llama.context_length', 0), expect: names('llama.context_length') },
  // other graph paths: non-causal (assert n_ubatch >= n_tokens), experts (expert-count asserts)
  { name: 'non-causal attention', edit: { kv: (kv) => kv.set('llama.attention.causal', gv.bool(false)) }, expect: names('llama.attention.causal') },
  { name: 'expert_used_count without experts', edit: u32('llama.expert_used_count', 2), expect: names('llama.expert_used_count') },
  // vocabulary arrays
  {
    name: 'scores shorter than tokens',
    edit: { kv: (kv) => kv.set('tokenizer.ggml.scores', gv.arrF32(arr(kv, 'tokenizer.ggml.scores').slice(1) as number[])) },
    expect: /tokenizer\.ggml\.scores has 1008 entries but tokenizer\.ggml\.tokens has 1009/,
  },
  {
    name: 'token_type longer than tokens',
    edit: { kv: (kv) => kv.set('tokenizer.ggml.token_type', gv.arrI32([...(arr(kv, 'tokenizer.ggml.token_type') as number[]), 1])) },
    expect: /tokenizer\.ggml\.token_type has 1010 entries/,
  },
  {
    name: 'NaN score',
    edit: {
      kv: (kv) => {
        const s = arr(kv, 'tokenizer.ggml.scores') as number[];
        s[7] = NaN;
        kv.set('tokenizer.ggml.scores', gv.arrF32(s));
      },
    },
    expect: /tokenizer\.ggml\.scores\[7\] is NaN/,
  },
  {
    // libllama names an empty piece "[EMPTY_<id>]" and asserts that the pieces are unique
    name: 'empty piece colliding with [EMPTY_5]',
    edit: {
      kv: (kv) => {
        const s = arr(kv, 'tokenizer.ggml.tokens') as string[];
        s[5] = '';
        s[600] = '[EMPTY_5]';
        kv.set('tokenizer.ggml.tokens', gv.arrStr(s));
      },
    },
    expect: /tokenizer\.ggml\.tokens repeats the piece '\[EMPTY_5\]' \(token 600\)/,
  },
  // tensors
  {
    // ggml's MUL takes f32 weights
    name: 'norm weight stored as f16',
    edit: {
      tensors: (plans, g) =>
        plans.map((p) =>
          p.name !== 'blk.0.attn_norm.weight'
            ? p
            : {
                ...p,
                type: GGMLType.F16,
                data: async () => {
                  const b = await readGGUFTensor(g, p.name);
                  return f32ToF16(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
                },
              },
        ),
    },
    expect: /tensor 'blk\.0\.attn_norm\.weight' has type f16/,
  },
  {
    name: 'a stray tensor',
    edit: { tensors: (plans) => [...plans, { name: 'blk.0.attn_rot_embd', shape: [8], type: GGMLType.F32, data: () => new Uint8Array(32) }] },
    expect: /unexpected tensor 'blk\.0\.attn_rot_embd'/,
  },
  // general.alignment below 32: libllama's mmap path asserts ptr % 32 == 0; the core loads such
  // a file without mmap (docs/LLM-FILE-CHECKS.md)
  { name: 'alignment 1', edit: { alignment: 1 }, expect: 'loads' },
  { name: 'alignment 8', edit: { alignment: 8 }, expect: 'loads' },
  { name: 'alignment 16', edit: { alignment: 16 }, expect: 'loads' },
  { name: 'alignment 64', edit: { alignment: 64 }, expect: 'loads' },
  // the encoders file: errors name it
  {
    name: 'encoders: audio sample rate the front end refuses',
    target: 'encoders',
    edit: u32('ggpt.audio.sample_rate', 1000),
    expect: /ggpt\.audio.*sample_rate 1000/,
  },
  { name: 'encoders: unknown format version', target: 'encoders', edit: u32('ggpt.format_version', 7), expect: /format version 7 is not supported/ },
];

// ---- the child: loads each case, then the unpatched model ---------------------------------------------

const CHILD = `
import fs from 'node:fs';
import { loadModel } from ${JSON.stringify(path.resolve(__dirname, '../src/index.ts'))};
const [goodLlm, goodEnc, listFile] = process.argv.slice(-3);
const list = JSON.parse(fs.readFileSync(listFile, 'utf8'));
const say = (o) => process.stdout.write('@@' + JSON.stringify(o) + '\\n');
async function answer(model) {
  const m = await loadModel({ model, contextSize: 256, threads: 1 });
  try {
    const r = await m.generate('tell me about the picture', { maxTokens: 6 });
    return JSON.stringify([r.text, r.tokens]);
  } finally {
    await m.dispose();
  }
}
(async () => {
  for (const c of list) {
    say({ id: c.id, start: true });
    let res;
    try {
      res = { loaded: true, answer: await answer(c.model) };
    } catch (e) {
      res = { loaded: false, name: e && e.name, file: e && e.file, message: e && e.message };
    }
    const after = await answer({ llm: goodLlm, encoders: goodEnc });
    say({ id: c.id, res, after });
  }
})().catch((e) => { say({ fatal: String(e && e.stack) }); process.exit(3); });
`;

interface Outcome {
  res?: { loaded: boolean; answer?: string; name?: string; file?: string; message?: string };
  after?: string;
  crash?: string;
}

/** Runs the cases in children (a new child after one dies) and returns each case's outcome. */
async function runAll(jobs: { id: number; model: { llm: string; encoders?: string } }[], goodLlm: string, goodEnc: string): Promise<Map<number, Outcome>> {
  const childFile = path.join(work, 'child.ts');
  fs.writeFileSync(childFile, CHILD);
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const out = new Map<number, Outcome>();
  let todo = jobs;
  while (todo.length > 0) {
    const listFile = path.join(work, `list-${todo[0].id}.json`);
    fs.writeFileSync(listFile, JSON.stringify(todo));
    const child = spawn(process.execPath, [...loader, childFile, goodLlm, goodEnc, listFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    let inFlight: number | undefined;
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('@@')) continue;
      const m = JSON.parse(line.slice(2)) as { id?: number; start?: boolean; fatal?: string } & Outcome;
      if (m.fatal) throw new Error(`child failed: ${m.fatal}`);
      if (m.start) inFlight = m.id;
      else if (m.id !== undefined) {
        out.set(m.id, { res: m.res, after: m.after });
        inFlight = undefined;
      }
    }
    if (inFlight === undefined) {
      if (code !== 0) throw new Error(`child exited with ${code ?? signal} outside a case: ${stderr}`);
      break;
    }
    out.set(inFlight, { crash: `child died (${code ?? signal}): ${stderr.slice(-1500)}` });
    todo = todo.filter((j) => !out.has(j.id));
  }
  return out;
}

t.test('bad LLM and encoders files are refused with the file and key named, in a child process', async (t) => {
  const good = await tinyConverted('f32');
  const files: string[] = [];
  for (const [i, c] of cases.entries()) {
    const src = c.target === 'encoders' ? good.encoders : good.llm;
    const f = path.join(work, `case-${i}-${c.target ?? 'llm'}.gguf`);
    const offsets = await rewrite(src, f, c.edit);
    files.push(f);
    // the small alignments must really move tensor data off 32-byte boundaries (else they test nothing)
    if (c.edit.alignment !== undefined && c.edit.alignment < 32) {
      t.ok(
        offsets.some((o) => o % 32 !== 0),
        `${c.name}: some tensor data is not 32-byte aligned`,
      );
    }
  }
  const jobs = cases.map((c, i) => ({
    id: i,
    model: c.target === 'encoders' ? { llm: good.llm, encoders: files[i] } : { llm: files[i], encoders: good.encoders },
  }));
  const baseline = await runAll([{ id: -1, model: { llm: good.llm, encoders: good.encoders } }], good.llm, good.encoders);
  const base = baseline.get(-1)?.res?.answer;
  t.ok(base, `the unpatched model answers (${base})`);
  const outcomes = await runAll(jobs, good.llm, good.encoders);
  for (const [i, c] of cases.entries()) {
    const o = outcomes.get(i);
    t.notOk(o?.crash, `${c.name}: the process lives${o?.crash ? `: ${o.crash}` : ''}`);
    if (!o?.res) continue;
    if (c.expect === 'loads') {
      t.ok(o.res.loaded, `${c.name}: loads (${o.res.message ?? ''})`);
      t.equal(o.res.answer, base, `${c.name}: answers as the unpatched model`);
    } else {
      const file = files[i];
      t.equal(o.res.name, 'ModelLoadError', `${c.name}: ModelLoadError (${o.res.name}: ${o.res.message ?? 'loaded'})`);
      t.equal(o.res.file, file, `${c.name}: names the ${c.target ?? 'llm'} file`);
      t.ok(o.res.message?.startsWith(c.target === 'encoders' ? `encoders file ${file}: ` : `${file}: `), `${c.name}: the message starts with the file`);
      t.match(o.res.message ?? '', c.expect, `${c.name}: ${o.res.message}`);
    }
    t.equal(o.after, base, `${c.name}: the unpatched model still loads and answers the same`);
  }
});

t.test('a broken LLM next to a good encoders file names the LLM; truncated encoders names the encoders', async (t) => {
  const good = await tinyConverted('f32');
  const cut = path.join(work, 'cut-encoders.gguf');
  fs.writeFileSync(cut, fs.readFileSync(good.encoders).subarray(0, 4096));
  const e1 = await loadModel({ model: { llm: good.llm, encoders: cut }, contextSize: 64 }).catch((e: unknown) => e);
  t.type(e1, ModelLoadError);
  t.equal((e1 as ModelLoadError).file, cut);
  const cutLlm = path.join(work, 'cut-llm.gguf');
  fs.writeFileSync(cutLlm, fs.readFileSync(good.llm).subarray(0, 4096));
  const e2 = await loadModel({ model: { llm: cutLlm, encoders: good.encoders }, contextSize: 64 }).catch((e: unknown) => e);
  t.type(e2, ModelLoadError);
  t.equal((e2 as ModelLoadError).file, cutLlm);
  // a missing encoders file is named too (the core's IO error, through the same property)
  const gone = path.join(work, 'gone', 'encoders.gguf');
  const e3 = await loadModel({ model: { llm: good.llm, encoders: gone } }).catch((e: unknown) => e);
  t.type(e3, ModelLoadError);
  t.equal((e3 as ModelLoadError).file, gone);
});

const checkExe = path.resolve(__dirname, '..', 'build', 'cmake', 'llm_gguf_load');
t.test(
  'the C++ check alone (llm_gguf_load --check)',
  { skip: fs.existsSync(checkExe) ? false : 'native/tests binary not built (GROUNDINGGPT_TESTS=1)' },
  async (t) => {
    const good = await tinyConverted('f32');
    const ok = spawnSync(checkExe, ['--check', good.llm], { encoding: 'utf8' });
    t.equal(ok.status, 0, ok.stdout + ok.stderr);
    t.match(ok.stdout, /n_vocab=1009 n_embd=64 n_layer=2 bos=1 eos=2 mmap_aligned=1/);
    const a1 = path.join(work, 'c-align1.gguf');
    await rewrite(good.llm, a1, { alignment: 1 });
    const r1 = spawnSync(checkExe, ['--check', a1], { encoding: 'utf8' });
    t.equal(r1.status, 0, r1.stdout + r1.stderr);
    t.match(r1.stdout, /mmap_aligned=0/, 'alignment 1: no mmap');
    for (const [edit, expect] of [
      [f32('llama.attention.layer_norm_rms_epsilon', NaN), "'llama.attention.layer_norm_rms_epsilon'"],
      [u32('llama.block_count', 0), "'llama.block_count' = 0"],
      [{ kv: (kv: Kv) => kv.set('general.architecture', gv.str('bert')) }, "general.architecture is 'bert'"],
    ] as [Edit, string][]) {
      const f = path.join(work, `c-${expect.replace(/\W/g, '')}.gguf`);
      await rewrite(good.llm, f, edit);
      const r = spawnSync(checkExe, ['--check', f, expect], { encoding: 'utf8' });
      t.equal(r.status, 0, `${expect}: ${r.stdout}${r.stderr}`);
    }
    const enc = spawnSync(checkExe, ['--check', good.encoders, "general.architecture is 'groundinggpt"], { encoding: 'utf8' });
    t.equal(enc.status, 0, `the encoders file is not an LLM: ${enc.stdout}${enc.stderr}`);
  },
);
