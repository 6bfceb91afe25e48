// convert(): the golden tiny checkpoint (sharded torch .bin + CLIP as .bin or .safetensors), a
// model with other sizes (GQA, BF16 weights), tensor values, head counts, types, determinism.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { convert } from '../src/convert/index';
import { openCheckpoint } from '../src/convert/checkpoint';
import { toFloat32 } from '../src/convert/tensor';
import { GGMLType } from '../src/gguf/types';
import { tempDir, tinyDir, readExpected, allclose } from './helpers/golden';
import { info, kv, readGGUF, tensorF32 } from './helpers/gguf';
import { OTHER_SIZES, storedValues, writeUpstreamModel } from './helpers/upstream';

const root = path.resolve(__dirname, '..');
const tinyModel = path.join(tinyDir, 'groundinggpt');
const tinyClip = path.join(tinyDir, 'clip');
let hasAddon = false;
try {
  hasAddon = typeof (require('../src/native') as typeof import('../src/native')).native().quantizeRows === 'function';
} catch {
  hasAddon = false;
}

const work = tempDir('ggpt-convert-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

/** A copy of the CLIP dir holding only one of its weight files. */
function clipWith(file: 'pytorch_model.bin' | 'model.safetensors'): string {
  const dir = path.join(work, `clip-${file}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json', file]) fs.copyFileSync(path.join(tinyClip, f), path.join(dir, f));
  return dir;
}

const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

/** numpy's reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(rows, cols), written as a 4-D transpose. */
function ropePermuteReference(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead;
  const dims = [nHead, 2, hd / 2, cols];
  const strides = [2 * (hd / 2) * cols, (hd / 2) * cols, cols, 1];
  const outDims = [dims[0], dims[2], dims[1], dims[3]];
  const out = new Float32Array(w.length);
  let o = 0;
  for (let a = 0; a < outDims[0]; a++)
    for (let b = 0; b < outDims[1]; b++)
      for (let c = 0; c < outDims[2]; c++) for (let d = 0; d < outDims[3]; d++) out[o++] = w[a * strides[0] + c * strides[1] + b * strides[2] + d * strides[3]];
  return out;
}

function equalF32(t: Test, actual: Float32Array, expected: Float32Array, what: string) {
  t.equal(actual.length, expected.length, `${what}: length`);
  let bad = -1;
  for (let i = 0; i < actual.length; i++)
    if (actual[i] !== expected[i]) {
      bad = i;
      break;
    }
  t.equal(bad, -1, `${what}: values equal${bad >= 0 ? ` (first difference at ${bad}: ${actual[bad]} vs ${expected[bad]})` : ''}`);
}

t.test('golden tiny: sharded .bin model, CLIP as .bin alone or .safetensors alone', async (t) => {
  const outBin = path.join(work, 'out-bin');
  const outSt = path.join(work, 'out-st');
  const outSt2 = path.join(work, 'out-st2');
  const stages = new Set<string>();
  let last = -1;
  let monotonic = true;
  const r = await convert({
    model: tinyModel,
    clip: clipWith('pytorch_model.bin'),
    out: outBin,
    type: 'f32',
    onProgress: (p) => {
      stages.add(p.stage);
      if (p.fraction < last) monotonic = false;
      last = p.fraction;
    },
  });
  t.same([...stages], ['open', 'llm', 'encoders', 'done'], 'progress stages');
  t.ok(monotonic, 'progress fractions never go back');
  t.equal(last, 1);
  t.equal(r.llm, path.join(outBin, 'llm.gguf'));
  t.same(fs.readdirSync(outBin).sort(), ['encoders.gguf', 'llm.gguf', 'manifest.json'], 'exactly the three files, no temporaries');

  await convert({ model: tinyModel, clip: clipWith('model.safetensors'), out: outSt, type: 'f32' });
  await convert({ model: tinyModel, clip: clipWith('model.safetensors'), out: outSt2, type: 'f32' });
  t.ok(same(path.join(outBin, 'encoders.gguf'), path.join(outSt, 'encoders.gguf')), 'encoders.gguf identical from .bin and .safetensors CLIP');
  t.ok(same(path.join(outBin, 'llm.gguf'), path.join(outSt, 'llm.gguf')), 'llm.gguf identical');
  for (const f of ['llm.gguf', 'encoders.gguf', 'manifest.json']) t.ok(same(path.join(outSt, f), path.join(outSt2, f)), `${f} byte-identical on a second run`);

  const manifest = JSON.parse(fs.readFileSync(path.join(outSt, 'manifest.json'), 'utf8'));
  t.equal(manifest.type, 'f32');
  t.same(manifest.files.llm, { file: 'llm.gguf', bytes: fs.statSync(path.join(outSt, 'llm.gguf')).size });
  t.ok(
    manifest.sources.model.some((f: { name: string }) => f.name === 'pytorch_model-00002-of-00002.bin'),
    'manifest lists the shards',
  );
  t.ok(manifest.sources.clip.some((f: { name: string }) => f.name === 'model.safetensors'));
  t.notMatch(JSON.stringify(manifest), /20\d\d-\d\d-\d\dT/, 'no timestamps');

  // ---- LLM values ----
  const llm = await readGGUF(path.join(outSt, 'llm.gguf'));
  const ck = await openCheckpoint(tinyModel);
  t.teardown(() => ck.close());
  const up = async (name: string) => toFloat32(await (ck.tensors.get(name) as NonNullable<ReturnType<typeof ck.tensors.get>>).read());
  t.equal(kv(llm, 'general.architecture'), 'llama');
  t.equal(kv(llm, 'llama.attention.head_count'), 4);
  t.equal(kv(llm, 'llama.rope.dimension_count'), 16);
  t.equal(kv(llm, 'tokenizer.ggml.model'), 'llama');
  t.equal((kv(llm, 'tokenizer.ggml.tokens') as string[]).length, 1009);
  t.equal((kv(llm, 'tokenizer.ggml.tokens') as string[])[1000], '<im_patch>');
  t.equal((kv(llm, 'tokenizer.ggml.token_type') as number[])[1000], 3, 'media tokens are CONTROL tokens');
  t.equal(kv(llm, 'tokenizer.ggml.bos_token_id'), 1);
  t.equal(kv(llm, 'tokenizer.ggml.eos_token_id'), 2);
  t.equal(kv(llm, 'tokenizer.ggml.add_bos_token'), true);
  t.equal(kv(llm, 'tokenizer.ggml.add_eos_token'), false);
  const ids = ['im_patch', 'im_start', 'im_end', 'vi_patch', 'vi_start', 'vi_end', 'so_patch', 'so_start', 'so_end'].map((k) => kv(llm, `ggpt.token.${k}`));
  t.same(ids, [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008]);
  t.same(info(llm, 'token_embd.weight').ne, [64, 1009]);
  equalF32(t, await tensorF32(llm, 'token_embd.weight'), await up('model.embed_tokens.weight'), 'token_embd');
  equalF32(t, await tensorF32(llm, 'output.weight'), await up('lm_head.weight'), 'output');
  equalF32(
    t,
    await tensorF32(llm, 'blk.1.attn_q.weight'),
    ropePermuteReference(await up('model.layers.1.self_attn.q_proj.weight'), 64, 64, 4),
    'attn_q permuted',
  );
  equalF32(
    t,
    await tensorF32(llm, 'blk.0.attn_k.weight'),
    ropePermuteReference(await up('model.layers.0.self_attn.k_proj.weight'), 64, 64, 4),
    'attn_k permuted',
  );
  equalF32(t, await tensorF32(llm, 'blk.0.attn_v.weight'), await up('model.layers.0.self_attn.v_proj.weight'), 'attn_v unchanged');
  equalF32(t, await tensorF32(llm, 'blk.1.ffn_down.weight'), await up('model.layers.1.mlp.down_proj.weight'), 'ffn_down');

  // ---- encoders values and hparams ----
  const enc = await readGGUF(path.join(outSt, 'encoders.gguf'));
  t.equal(kv(enc, 'general.architecture'), 'groundinggpt-encoders');
  t.equal(kv(enc, 'ggpt.llm_embedding_length'), 64);
  t.equal(kv(enc, 'ggpt.clip.head_count'), 2, 'CLIP heads from its config');
  t.equal(kv(enc, 'ggpt.clip.block_count'), 2, 'CLIP blocks up to hidden_states[-2] of 3 layers');
  t.notOk(
    enc.tensors.some((x) => x.name.startsWith('clip.blk.2.')),
    'unused CLIP layer dropped',
  );
  t.equal(kv(enc, 'ggpt.eva.head_count'), 2, 'EVA: 176 / 88');
  t.equal(kv(enc, 'ggpt.eva.embedding_length'), 176);
  t.equal(kv(enc, 'ggpt.eva.image_size'), 224);
  t.equal(kv(enc, 'ggpt.qformer.head_count'), 2, 'Q-Former: 128 / 64');
  t.equal(kv(enc, 'ggpt.qformer.cross_attention_freq'), 2);
  t.equal(kv(enc, 'ggpt.vqformer.cross_attention_freq'), 1);
  t.equal(kv(enc, 'ggpt.aqformer.cross_attention_freq'), 1);
  t.equal(kv(enc, 'ggpt.qformer.encoder_width'), 176);
  t.equal(kv(enc, 'ggpt.vqformer.encoder_width'), 128);
  t.equal(kv(enc, 'ggpt.aqformer.encoder_width'), 64);
  t.equal(kv(enc, 'ggpt.vqformer.query_count'), 64);
  t.equal(kv(enc, 'ggpt.aqformer.query_count'), 8);
  t.equal(kv(enc, 'ggpt.imagebind.head_count'), 2, 'ImageBind: 128 / 64');
  t.equal(kv(enc, 'ggpt.imagebind.stride'), 10);
  t.equal(kv(enc, 'ggpt.imagebind.logit_scale'), 20);
  t.equal(kv(enc, 'ggpt.video.max_frames'), 64);
  t.ok(enc.tensors.some((x) => x.name === 'qformer.blk.0.xattn_k.weight'));
  t.notOk(
    enc.tensors.some((x) => x.name === 'qformer.blk.1.xattn_k.weight'),
    'no cross-attention in block 1',
  );
  t.same(info(enc, 'qformer.query_tokens').shape, [32, 128], 'query tokens squeezed to [n_query, n_embd]');
  t.same(info(enc, 'eva.class_embd').shape, [176]);
  t.same(info(enc, 'imagebind.patch_embd.weight').shape, [128, 1, 16, 16]);
  const q = await up('model.visual_encoder.blocks.1.attn.q_bias');
  const v = await up('model.visual_encoder.blocks.1.attn.v_bias');
  const qkvb = new Float32Array(3 * 176);
  qkvb.set(q, 0);
  qkvb.set(v, 352);
  equalF32(t, await tensorF32(enc, 'eva.blk.1.attn_qkv.bias'), qkvb, 'EVA qkv bias = cat(q_bias, 0, v_bias)');
  equalF32(t, await tensorF32(enc, 'vqformer.query_tokens'), await up('model.video_query_tokens'), 'video query tokens');
  equalF32(t, await tensorF32(enc, 'imagebind.blk.1.attn_bias_v'), await up('model.audio_encoder.modality_trunks.audio.blocks.1.attn.bias_v'), 'bias_v');
  const clipCk = await openCheckpoint(tinyClip);
  t.teardown(() => clipCk.close());
  equalF32(
    t,
    await tensorF32(enc, 'clip.blk.1.ffn_up.weight'),
    toFloat32(await (clipCk.tensors.get('vision_model.encoder.layers.1.mlp.fc1.weight') as NonNullable<ReturnType<typeof clipCk.tensors.get>>).read()),
    'CLIP fc1',
  );
  t.equal(kv(enc, 'ggpt.clip.activation'), 'quick_gelu');
  t.same(
    (kv(enc, 'ggpt.clip.image_mean') as number[]).map((x) => Math.round(x * 1e6)),
    [481455, 457828, 408211],
  );
});

const loadExe = path.join(root, 'build', 'cmake', 'llm_gguf_load');
const loadSkip = fs.existsSync(loadExe) ? false : 'native/tests binary not built (node scripts/build.mjs --tests)';
t.test('stock libllama loads llm.gguf and reproduces the golden text_only logits', { skip: loadSkip }, async (t) => {
  const exe = loadExe;
  const out = path.join(work, 'out-st', 'llm.gguf');
  const ids = readExpected('full_text_only_prompt_ids.npy').data as BigInt64Array;
  const idsFile = path.join(work, 'ids.txt');
  fs.writeFileSync(idsFile, Array.from(ids, String).join(' '));
  const logitsFile = path.join(work, 'logits.f32');
  const r = spawnSync(exe, [out, '1009', idsFile, logitsFile], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const b = fs.readFileSync(logitsFile);
  const logits = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const rep = allclose(logits, readExpected('full_text_only_logits_last.npy').data as Float32Array, 1e-3, 1e-3);
  t.ok(rep.ok, `logits within 1e-3 (max abs ${rep.maxAbs})`);
});

t.test('f16: matrices and conv kernels f16, norms/embeddings/biases f32', async (t) => {
  const out = path.join(work, 'out-f16');
  await convert({ model: tinyModel, clip: tinyClip, out });
  const llm = await readGGUF(path.join(out, 'llm.gguf'));
  t.equal(info(llm, 'blk.0.attn_q.weight').type, GGMLType.F16);
  t.equal(info(llm, 'token_embd.weight').type, GGMLType.F16);
  t.equal(info(llm, 'blk.0.attn_norm.weight').type, GGMLType.F32);
  t.equal(kv(llm, 'general.file_type'), 1);
  const enc = await readGGUF(path.join(out, 'encoders.gguf'));
  t.equal(info(enc, 'clip.patch_embd.weight').type, GGMLType.F16);
  t.equal(info(enc, 'eva.blk.0.ffn_up.weight').type, GGMLType.F16);
  for (const n of [
    'eva.pos_embd',
    'qformer.query_tokens',
    'eva.blk.0.ln1.weight',
    'clip.blk.0.attn_q.bias',
    'video.frame_pos_embd',
    'imagebind.blk.0.attn_bias_k',
  ]) {
    t.equal(info(enc, n).type, GGMLType.F32, `${n} stays f32`);
  }
  const f32 = await readGGUF(path.join(work, 'out-st', 'encoders.gguf'));
  const a = await tensorF32(enc, 'eva.blk.0.ffn_up.weight');
  const b = await tensorF32(f32, 'eva.blk.0.ffn_up.weight');
  const rep = allclose(a, b, 2 ** -25, 2 ** -11);
  t.ok(rep.ok, `f16 values are the f32 values rounded (max abs ${rep.maxAbs})`);
});

t.test('q8_0 and q4_k_m through the addon', { skip: hasAddon ? false : 'native addon not built' }, async (t) => {
  const out8 = path.join(work, 'out-q8');
  await convert({ model: tinyModel, clip: tinyClip, out: out8, type: 'q8_0', threads: 2 });
  const llm8 = await readGGUF(path.join(out8, 'llm.gguf'));
  t.equal(info(llm8, 'blk.0.attn_q.weight').type, GGMLType.Q8_0);
  t.equal(info(llm8, 'blk.0.attn_norm.weight').type, GGMLType.F32);
  t.equal(kv(llm8, 'ggpt.token.so_end'), 1008, 'our keys survive libllama quantisation');
  const enc8 = await readGGUF(path.join(out8, 'encoders.gguf'));
  t.equal(info(enc8, 'qformer.blk.0.attn_q.weight').type, GGMLType.Q8_0, 'rows of 128: q8_0');
  t.equal(info(enc8, 'eva.blk.0.attn_qkv.weight').type, GGMLType.F16, 'rows of 176 (not a multiple of 32): f16');
  t.equal(info(enc8, 'clip.patch_embd.weight').type, GGMLType.F16, 'conv kernel f16');
  t.equal(info(enc8, 'eva.blk.0.ln1.weight').type, GGMLType.F32);

  const out4 = path.join(work, 'out-q4');
  await convert({ model: tinyModel, clip: tinyClip, out: out4, type: 'q4_k_m', threads: 2 });
  const llm4 = await readGGUF(path.join(out4, 'llm.gguf'));
  t.equal(kv(llm4, 'general.file_type'), 15, 'LLAMA_FTYPE_MOSTLY_Q4_K_M');
  const enc4 = await readGGUF(path.join(out4, 'encoders.gguf'));
  t.equal(info(enc4, 'qformer.blk.0.attn_q.weight').type, GGMLType.F16, 'q4_k_m: towers in f16');
  const out4b = path.join(work, 'out-q4b');
  await convert({ model: tinyModel, clip: tinyClip, out: out4b, type: 'q4_k_m', threads: 1 });
  t.ok(same(path.join(out4, 'llm.gguf'), path.join(out4b, 'llm.gguf')), 'quantised LLM byte-identical (other thread count)');
  t.same(fs.readdirSync(out4).sort(), ['encoders.gguf', 'llm.gguf', 'manifest.json'], 'no temporaries left');
});

t.test('a model with other sizes (GQA, BF16 LLM, deeper Q-Former), safetensors and torch .bin', async (t) => {
  const st = writeUpstreamModel(path.join(work, 'other-st'), OTHER_SIZES, { seed: 7, format: 'safetensors' });
  const pt = writeUpstreamModel(path.join(work, 'other-pt'), OTHER_SIZES, { seed: 7, format: 'pytorch' });
  const outA = path.join(work, 'other-out-st');
  const outB = path.join(work, 'other-out-pt');
  await convert({ model: st.model, clip: st.clip, out: outA, type: 'f32' });
  await convert({ model: pt.model, clip: pt.clip, out: outB, type: 'f32' });
  for (const f of ['llm.gguf', 'encoders.gguf']) t.ok(same(path.join(outA, f), path.join(outB, f)), `${f}: same from safetensors and torch zip`);
  const llm = await readGGUF(path.join(outA, 'llm.gguf'));
  t.equal(kv(llm, 'llama.embedding_length'), 96);
  t.equal(kv(llm, 'llama.attention.head_count'), 6);
  t.equal(kv(llm, 'llama.attention.head_count_kv'), 2);
  t.equal(kv(llm, 'llama.block_count'), 3);
  t.same(info(llm, 'blk.2.attn_k.weight').shape, [32, 96]);
  const m = st.tensors.model;
  equalF32(
    t,
    await tensorF32(llm, 'blk.2.attn_q.weight'),
    ropePermuteReference(storedValues(m.get('model.layers.2.self_attn.q_proj.weight')!), 96, 96, 6),
    'q permuted with 6 heads',
  );
  equalF32(
    t,
    await tensorF32(llm, 'blk.2.attn_k.weight'),
    ropePermuteReference(storedValues(m.get('model.layers.2.self_attn.k_proj.weight')!), 32, 96, 2),
    'k permuted with 2 kv heads',
  );
  const enc = await readGGUF(path.join(outA, 'encoders.gguf'));
  const expectKeys: [string, number][] = [
    ['ggpt.clip.embedding_length', 48],
    ['ggpt.clip.head_count', 3],
    ['ggpt.clip.block_count', 3],
    ['ggpt.eva.embedding_length', 88],
    ['ggpt.eva.head_count', 1],
    ['ggpt.eva.block_count', 3],
    ['ggpt.eva.feed_forward_length', 160],
    ['ggpt.qformer.head_count', 1],
    ['ggpt.qformer.block_count', 3],
    ['ggpt.qformer.cross_attention_freq', 2],
    ['ggpt.qformer.encoder_width', 88],
    ['ggpt.vqformer.block_count', 1],
    ['ggpt.vqformer.query_count', 16],
    ['ggpt.aqformer.query_count', 4],
    ['ggpt.aqformer.encoder_width', 40],
    ['ggpt.imagebind.embedding_length', 64],
    ['ggpt.imagebind.head_count', 1],
    ['ggpt.imagebind.out_dim', 40],
    ['ggpt.imagebind.block_count', 1],
    ['ggpt.video.max_frames', 8],
    ['ggpt.llm_embedding_length', 96],
  ];
  for (const [k, v] of expectKeys) t.equal(kv(enc, k), v, k);
  t.ok(
    enc.tensors.some((x) => x.name === 'qformer.blk.2.xattn_q.weight') && !enc.tensors.some((x) => x.name === 'qformer.blk.1.xattn_q.weight'),
    'cross-attention in blocks 0 and 2',
  );
  t.same(info(enc, 'audio.pos_embd').shape, [4, 40]);

  const outQ = path.join(work, 'other-out-q8');
  if (hasAddon) {
    await convert({ model: st.model, clip: st.clip, out: outQ, type: 'q8_0', threads: 2 });
    const q8 = await readGGUF(path.join(outQ, 'llm.gguf'));
    t.equal(info(q8, 'blk.0.ffn_gate.weight').type, GGMLType.Q8_0, 'BF16 source quantised to q8_0');
  }

  const outH = path.join(work, 'other-out-heads');
  await convert({ model: st.model, clip: st.clip, out: outH, type: 'f32', overrides: { heads: { eva: 2, qformer: 4, clip: 1 } } });
  const encH = await readGGUF(path.join(outH, 'encoders.gguf'));
  t.equal(kv(encH, 'ggpt.eva.head_count'), 2, 'head count override');
  t.equal(kv(encH, 'ggpt.qformer.head_count'), 4);
  t.equal(kv(encH, 'ggpt.vqformer.head_count'), 1, 'other Q-Formers keep the rule');
  t.equal(kv(encH, 'ggpt.clip.head_count'), 1);
});
