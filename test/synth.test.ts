// synth(): random-weight model directories with the expected shapes, types and determinism; the
// Q4_K_M type choices agree with libllama's quantiser.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { convert } from '../src/convert/index';
import { SIZES_7B, SIZES_TINY, llmTensorType, synth, synthVocab } from '../src/convert/synth';
import { GGMLType } from '../src/gguf/types';
import { InvalidInputError } from '../src/errors';
import { tempDir } from './helpers/golden';
import { info, kv, readGGUF, tensorF32 } from './helpers/gguf';
import { OTHER_SIZES, writeUpstreamModel } from './helpers/upstream';

const root = path.resolve(__dirname, '..');
const work = tempDir('ggpt-synth-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

t.test('tiny f32: shapes, keys, EOS row, determinism', async (t) => {
  const a = await synth({ preset: 'tiny', out: path.join(work, 'a'), type: 'f32', seed: 1 });
  const b = await synth({ preset: 'tiny', out: path.join(work, 'b'), type: 'f32', seed: 1 });
  const c = await synth({ preset: 'tiny', out: path.join(work, 'c'), type: 'f32', seed: 2 });
  for (const f of ['llm.gguf', 'encoders.gguf', 'manifest.json']) t.ok(same(path.join(a.out, f), path.join(b.out, f)), `${f}: same seed, same bytes`);
  t.notOk(same(a.llm, c.llm), 'another seed, other weights');

  const llm = await readGGUF(a.llm);
  t.equal(kv(llm, 'general.architecture'), 'llama');
  t.equal(kv(llm, 'llama.block_count'), 2);
  t.same(info(llm, 'token_embd.weight').shape, [1009, 64]);
  t.same(info(llm, 'blk.1.ffn_down.weight').shape, [64, 160]);
  t.equal(llm.tensors.length, 2 + 2 * 9 + 1);
  const tokens = kv(llm, 'tokenizer.ggml.tokens') as string[];
  t.equal(tokens.length, 1009);
  t.equal(new Set(tokens).size, 1009, 'tokens are unique');
  t.same(tokens.slice(1000), ['<im_patch>', '<im_start>', '<im_end>', '<vi_patch>', '<vi_start>', '<vi_end>', '<so_patch>', '<so_start>', '<so_end>']);
  t.equal(tokens[3 + 10], '<0x0A>');
  t.equal(kv(llm, 'ggpt.token.so_end'), 1008);
  const out = await tensorF32(llm, 'output.weight');
  t.ok(
    out.subarray(2 * 64, 3 * 64).every((x) => x === 0),
    'EOS row of output is zero',
  );
  t.ok(
    out.subarray(3 * 64, 4 * 64).some((x) => x !== 0),
    'other rows are not',
  );
  const norm = await tensorF32(llm, 'blk.0.attn_norm.weight');
  t.ok(
    norm.every((x) => Math.abs(x - 1) < 0.011),
    'norm weights near 1',
  );

  const enc = await readGGUF(a.encoders);
  const expect: [string, number][] = [
    ['ggpt.clip.embedding_length', SIZES_TINY.clip.n_embd],
    ['ggpt.clip.block_count', 2],
    ['ggpt.eva.head_count', 2],
    ['ggpt.qformer.encoder_width', 176],
    ['ggpt.vqformer.encoder_width', 128],
    ['ggpt.aqformer.encoder_width', 64],
    ['ggpt.imagebind.out_dim', 64],
    ['ggpt.video.max_frames', 64],
    ['ggpt.llm_embedding_length', 64],
  ];
  for (const [k, v] of expect) t.equal(kv(enc, k), v, k);
  t.same(info(enc, 'clip.pos_embd').shape, [577, 32]);
  t.same(info(enc, 'eva.pos_embd').shape, [257, 176]);
  t.same(info(enc, 'imagebind.pos_embd').shape, [229, 128]);
  t.same(info(enc, 'qformer.blk.0.xattn_k.weight').shape, [128, 176]);
  t.same(info(enc, 'aqformer.blk.1.xattn_v.weight').shape, [128, 64]);
  t.same(info(enc, 'audio.pos_embd').shape, [8, 64]);
  const manifest = JSON.parse(fs.readFileSync(a.manifest, 'utf8'));
  t.same(manifest.synthetic, { preset: 'tiny', seed: 1, sizes: SIZES_TINY });

  // the golden converter output of the same sizes has the same tensor names, shapes and keys
  const conv = path.join(work, 'conv');
  await convert({
    model: path.join(__dirname, '..', '..', 'shared', 'golden', 'tiny', 'groundinggpt'),
    clip: path.join(__dirname, '..', '..', 'shared', 'golden', 'tiny', 'clip'),
    out: conv,
    type: 'f32',
  });
  const cenc = await readGGUF(path.join(conv, 'encoders.gguf'));
  t.same(
    enc.tensors.map((x) => [x.name, x.shape.join('x')]),
    cenc.tensors.map((x) => [x.name, x.shape.join('x')]),
    'same tensors as a converted model of these sizes',
  );
  t.same(
    [...enc.kv.keys()].filter((k) => k !== 'general.name'),
    [...cenc.kv.keys()].filter((k) => k !== 'general.name'),
    'same keys',
  );
  const cllm = await readGGUF(path.join(conv, 'llm.gguf'));
  t.same(
    llm.tensors.map((x) => [x.name, x.shape.join('x')]),
    cllm.tensors.map((x) => [x.name, x.shape.join('x')]),
  );
});

t.test('types: f16 / q8_0 / q4_k_m, towers never in k-quants', async (t) => {
  const f16 = await readGGUF((await synth({ preset: 'tiny', out: path.join(work, 'f16'), type: 'f16' })).llm);
  t.equal(info(f16, 'blk.0.attn_q.weight').type, GGMLType.F16);
  t.equal(info(f16, 'output_norm.weight').type, GGMLType.F32);
  const q8 = await synth({ preset: 'tiny', out: path.join(work, 'q8'), type: 'q8_0' });
  const q8l = await readGGUF(q8.llm);
  t.equal(info(q8l, 'blk.1.ffn_up.weight').type, GGMLType.Q8_0);
  const q8e = await readGGUF(q8.encoders);
  t.equal(info(q8e, 'qformer.blk.0.attn_q.weight').type, GGMLType.Q8_0);
  t.equal(info(q8e, 'eva.blk.0.attn_qkv.weight').type, GGMLType.F16, 'EVA rows of 176: f16');
  // sizes whose rows fit k-quants (multiples of 256)
  const sizes = { llm: { n_embd: 256, n_ff: 512, n_layer: 8, n_head: 2, n_head_kv: 2 } };
  const q4 = await synth({ preset: 'tiny', out: path.join(work, 'q4'), type: 'q4_k_m', sizes });
  const q4l = await readGGUF(q4.llm);
  t.equal(kv(q4l, 'general.file_type'), 15);
  t.equal(info(q4l, 'output.weight').type, GGMLType.Q6_K);
  t.equal(info(q4l, 'token_embd.weight').type, GGMLType.Q4_K);
  t.equal(info(q4l, 'blk.0.attn_v.weight').type, GGMLType.Q6_K, 'first layer attn_v: q6_k');
  t.equal(info(q4l, 'blk.1.attn_v.weight').type, GGMLType.Q4_K);
  t.equal(info(q4l, 'blk.3.ffn_down.weight').type, GGMLType.Q6_K, '(3 - 1) % 3 == 2: q6_k');
  t.equal(info(q4l, 'blk.7.ffn_down.weight').type, GGMLType.Q6_K, 'last layer: q6_k');
  t.equal(info(q4l, 'blk.4.attn_q.weight').type, GGMLType.Q4_K);
  const q4e = await readGGUF(q4.encoders);
  t.ok(
    q4e.tensors.every((x) => x.type === GGMLType.F32 || x.type === GGMLType.F16),
    'q4_k_m towers: f16/f32',
  );
  t.equal(info(q4e, 'qformer.blk.0.attn_q.weight').type, GGMLType.F16);
});

t.test("q4_k_m choices are libllama's", async (t) => {
  // the same sizes converted through libllama's quantiser
  const m = writeUpstreamModel(path.join(work, 'up256'), {
    ...OTHER_SIZES,
    llm: { n_embd: 256, n_ff: 512, n_layer: 8, n_head: 2, n_head_kv: 2 },
    llmDtype: 'F32',
  });
  const out = path.join(work, 'up256-q4');
  await convert({ model: m.model, clip: m.clip, out, type: 'q4_k_m', threads: 2 });
  const g = await readGGUF(path.join(out, 'llm.gguf'));
  const diffs = g.tensors.filter((x) => llmTensorType(x.name, x.shape, 'q4_k_m', 8) !== x.type).map((x) => `${x.name}: libllama ${x.type}`);
  t.same(diffs, [], 'every tensor type as libllama chooses');
  const q8out = path.join(work, 'up256-q8');
  await convert({ model: m.model, clip: m.clip, out: q8out, type: 'q8_0', threads: 2 });
  const g8 = await readGGUF(path.join(q8out, 'llm.gguf'));
  t.same(
    g8.tensors.filter((x) => llmTensorType(x.name, x.shape, 'q8_0', 8) !== x.type).map((x) => x.name),
    [],
  );
});

const loadExe = path.join(root, 'build', 'cmake', 'llm_gguf_load');
t.test('stock libllama loads a synthetic LLM', { skip: fs.existsSync(loadExe) ? false : 'native/tests binary not built' }, async (t) => {
  for (const type of ['f16', 'q4_k_m'] as const) {
    const r = await synth({
      preset: 'tiny',
      out: path.join(work, `load-${type}`),
      type,
      sizes: { llm: { n_embd: 256, n_ff: 512, n_layer: 2, n_head: 4, n_head_kv: 4 } },
    });
    const p = spawnSync(loadExe, [r.llm, '1009'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(p.status, 0, `${type}: ${p.stdout}${p.stderr}`);
  }
});

t.test('7b shapes and vocabulary; bad options', async (t) => {
  t.equal(SIZES_7B.llm.n_vocab, 32009);
  const v = synthVocab(32009, 0);
  t.equal(v.tokens.length, 32009);
  t.equal(new Set(v.tokens).size, 32009);
  t.same(v.media, [32000, 32001, 32002, 32003, 32004, 32005, 32006, 32007, 32008]);
  t.equal(llmTensorType('output.weight', [32009, 4096], 'q4_k_m', 32), GGMLType.Q6_K);
  t.equal(llmTensorType('blk.0.attn_v.weight', [4096, 4096], 'q4_k_m', 32), GGMLType.Q6_K);
  t.equal(llmTensorType('blk.4.attn_v.weight', [4096, 4096], 'q4_k_m', 32), GGMLType.Q4_K);
  t.equal(llmTensorType('blk.6.ffn_down.weight', [4096, 11008], 'q4_k_m', 32), GGMLType.Q6_K);
  t.equal(llmTensorType('blk.0.attn_norm.weight', [4096], 'q4_k_m', 32), GGMLType.F32);
  await t.rejects(synth({ preset: 'huge' as '7b', out: path.join(work, 'x') }), InvalidInputError);
  await t.rejects(synth({ preset: 'tiny', out: path.join(work, 'x'), sizes: { llm: { n_head: 5 } } }), InvalidInputError);
  await t.rejects(synth({ preset: 'tiny', out: path.join(work, 'x'), sizes: { nope: 1 } as never }), InvalidInputError);
  await t.rejects(synth({ preset: 'tiny', out: path.join(work, 'x'), seed: -1 }), InvalidInputError);
  t.notOk(fs.existsSync(path.join(work, 'x')));
});
