// Converter hardening: every config value the converter uses is checked for type, range and
// agreement with the checkpoint's tensor shapes before anything is sized from it, and NaN/Inf
// weights (or values beyond f16) are reported with the tensor and its file while streaming.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { convert, synth } from '../src/convert/index';
import { ConversionError, InvalidInputError } from '../src/errors';
import { tempDir } from './helpers/golden';
import { OTHER_SIZES, writeUpstreamModel } from './helpers/upstream';

const work = tempDir('ggpt-hard-convert-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

let n = 0;
async function fails(t: Test, model: string, clip: string, extra: Record<string, unknown> = {}): Promise<ConversionError> {
  const out = path.join(work, `out-${n++}`);
  let err: unknown;
  try {
    await convert({ model, clip, out, type: 'f32', ...extra });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConversionError, `ConversionError (got ${String(err)})`);
  t.notOk(fs.existsSync(out), 'no output directory left behind');
  return err as ConversionError;
}

const readCfg = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;

/** A TypeScript snippet run in a child node (tap's TypeScript loader) with a small heap and a time limit. */
function runChild(
  code: string,
  heapMb: number,
  timeoutMs: number,
): { status: number | null; signal: string | null; stdout: string; stderr: string; ms: number } {
  const file = path.join(work, `child-${n++}.ts`);
  fs.writeFileSync(file, code);
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...loader, `--max-old-space-size=${heapMb}`, file], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

const m = writeUpstreamModel(path.join(work, 'base'), OTHER_SIZES, { seed: 11 });
const cfgFile = path.join(m.model, 'config.json');
const clipCfgFile = path.join(m.clip, 'config.json');
const ppFile = path.join(m.clip, 'preprocessor_config.json');
const baseCfg = readCfg(cfgFile);
const baseClip = readCfg(clipCfgFile);
const basePp = readCfg(ppFile);

t.test('the unchanged fixture converts', async (t) => {
  const out = path.join(work, 'ok');
  const r = await convert({ model: m.model, clip: m.clip, out, type: 'f32' });
  t.ok(fs.existsSync(r.llm) && fs.existsSync(r.encoders));
});

t.test('huge config values fail fast, before any allocation (child process, 384 MB heap)', async (t) => {
  const src = path.resolve(__dirname, '../src/convert/index.ts');
  for (const [key, value] of [
    ['vocab_size', 1e9],
    ['num_hidden_layers', 1e9],
    ['intermediate_size', 2 ** 40],
  ] as const) {
    fs.writeFileSync(cfgFile, JSON.stringify({ ...baseCfg, [key]: value }));
    const out = path.join(work, `huge-${key}`);
    const r = runChild(
      `import { convert } from ${JSON.stringify(src)};
convert({ model: ${JSON.stringify(m.model)}, clip: ${JSON.stringify(m.clip)}, out: ${JSON.stringify(out)}, type: 'f32' }).then(
  () => console.log(JSON.stringify({ ok: true })),
  (e) => console.log(JSON.stringify({ name: e.name, message: e.message, file: e.file })),
);`,
      384,
      60_000,
    );
    t.equal(r.signal, null, `${key} = ${value}: not killed (${r.stderr.slice(-300)})`);
    t.equal(r.status, 0, `${key}: child exited normally`);
    const last = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { name?: string; message?: string; file?: string };
    t.equal(last.name, 'ConversionError', `${key}: ${last.message}`);
    t.equal(last.file, cfgFile, `${key}: names config.json`);
    t.match(last.message ?? '', key, `${key}: names the key`);
    t.ok(r.ms < 30_000, `${key}: answered in ${r.ms} ms`);
    t.notOk(fs.existsSync(out), 'nothing written');
  }
  fs.writeFileSync(cfgFile, JSON.stringify(baseCfg));
});

t.test('every LLM config value: type, range and agreement with the tensors', async (t) => {
  const L = OTHER_SIZES.llm;
  const cases: [string, unknown, RegExp][] = [
    ['vocab_size', 1008, /"vocab_size" = 1008 but tensor model\.embed_tokens\.weight .* has 1009 rows/],
    ['vocab_size', 0, /"vocab_size" = 0 is outside/],
    ['vocab_size', '1009', /"vocab_size" is not an integer/],
    ['hidden_size', L.n_embd * 2, /"hidden_size" = 192 but tensor model\.embed_tokens\.weight .* has 96 columns/],
    ['hidden_size', -96, /"hidden_size" = -96 is outside/],
    ['hidden_size', 96.5, /"hidden_size" is not an integer/],
    ['intermediate_size', L.n_ff + 1, /"intermediate_size" = 201 but tensor model\.layers\.0\.mlp\.gate_proj\.weight .* has 200 rows/],
    ['intermediate_size', 0, /"intermediate_size" = 0 is outside/],
    ['num_hidden_layers', 2, /"num_hidden_layers" = 2 but the checkpoint .* has blocks model\.layers\.0 to model\.layers\.2/],
    ['num_hidden_layers', 4, /"num_hidden_layers" = 4/],
    ['num_hidden_layers', 0, /"num_hidden_layers" = 0 is outside/],
    ['num_attention_heads', 0, /"num_attention_heads" = 0 is outside/],
    ['num_attention_heads', 1000, /"num_attention_heads" = 1000 is outside/],
    ['num_attention_heads', 5, /not a multiple of 2 \* num_attention_heads/],
    ['num_key_value_heads', 4, /num_attention_heads is not a multiple of num_key_value_heads/],
    ['num_key_value_heads', 6, /"num_key_value_heads" = 6 .* needs 96 rows but tensor model\.layers\.0\.self_attn\.k_proj\.weight .* has 32/],
    ['num_key_value_heads', 7, /"num_key_value_heads" = 7 is outside/],
    ['max_position_embeddings', -1, /"max_position_embeddings" = -1 is outside/],
    ['max_position_embeddings', 1e12, /"max_position_embeddings" = 1000000000000 is outside/],
    ['rms_norm_eps', 0, /"rms_norm_eps" = 0 is outside/],
    ['rms_norm_eps', 'tiny', /"rms_norm_eps" is not a finite number/],
    ['rope_theta', -10000, /"rope_theta" = -10000 is outside/],
    ['rope_scaling', { type: 'linear', factor: -2 }, /rope_scaling .* is not supported/],
    ['image_token_len', 0, /"image_token_len" = 0 is outside/],
    ['image_token_len', 575, /"image_token_len" = 575 but the image tower \(CLIP patches\) produces 576 rows/],
    ['video_token_len', 64, /"video_token_len" = 64 but the video tower .* produces 16 rows/],
    ['sound_token_len', 1e6, /"sound_token_len" = 1000000 is outside/],
    ['sound_token_len', 8, /"sound_token_len" = 8 but the audio tower .* produces 4 rows/],
    ['video_patch_token', 1e9, /"video_patch_token" = 1000000000 is outside the accepted range \[0, 1008\]/],
    ['sound_end_token', -1, /"sound_end_token" = -1 is outside/],
    ['mm_vision_select_layer', 1e9, /"mm_vision_select_layer" = 1000000000 is outside/],
    ['mm_vision_select_layer', 0, /mm_vision_select_layer 0 is outside the 4 CLIP layers/],
  ];
  for (const [key, value, re] of cases) {
    fs.writeFileSync(cfgFile, JSON.stringify({ ...baseCfg, [key]: value }));
    const e = await fails(t, m.model, m.clip);
    t.equal(e.file, cfgFile, `${key} = ${JSON.stringify(value)}: names config.json`);
    t.match(e.message, re, `${key} = ${JSON.stringify(value)}: ${e.message}`);
  }
  fs.writeFileSync(cfgFile, JSON.stringify(baseCfg));
});

t.test('every CLIP config value: type, range and agreement with the CLIP tensors', async (t) => {
  const C = OTHER_SIZES.clip;
  const vc = baseClip.vision_config as Record<string, unknown>;
  const cases: [string, unknown, RegExp][] = [
    ['hidden_size', 1e9, /"hidden_size" = 1000000000 is outside/],
    ['hidden_size', C.n_embd * 2, /"hidden_size" = 96 but tensor vision_model\.embeddings\.class_embedding .* has 48 values/],
    ['num_attention_heads', 0, /"num_attention_heads" = 0 is outside/],
    ['num_attention_heads', 5, /hidden_size 48 is not a multiple of 5 heads/],
    ['num_hidden_layers', 1e9, /"num_hidden_layers" = 1000000000 is outside/],
    ['num_hidden_layers', 'many', /"num_hidden_layers" is not an integer/],
    ['intermediate_size', C.n_ff + 2, /"intermediate_size" = 98 but tensor vision_model\.encoder\.layers\.0\.mlp\.fc1\.weight .* has 96 rows/],
    ['image_size', -336, /"image_size" = -336 is outside/],
    ['image_size', 350, /"image_size" = 350 .* needs 626 positions but tensor vision_model\.embeddings\.position_embedding\.weight .* has 577/],
    ['image_size', 337, /image_size is not a multiple of patch_size/],
    ['patch_size', 0, /"patch_size" = 0 is outside/],
    ['patch_size', 7, /"patch_size" = 7 but tensor vision_model\.embeddings\.patch_embedding\.weight .* has 14 columns/],
    ['layer_norm_eps', 0, /"layer_norm_eps" = 0 is outside/],
    ['hidden_act', 'relu', /hidden_act relu is not supported/],
  ];
  for (const [key, value, re] of cases) {
    fs.writeFileSync(clipCfgFile, JSON.stringify({ ...baseClip, vision_config: { ...vc, [key]: value } }));
    const e = await fails(t, m.model, m.clip);
    t.equal(e.file, clipCfgFile, `${key} = ${JSON.stringify(value)}: names the CLIP config.json`);
    t.match(e.message, re, `${key} = ${JSON.stringify(value)}: ${e.message}`);
  }
  fs.writeFileSync(clipCfgFile, JSON.stringify(baseClip));

  for (const [key, value] of [
    ['image_std', [0.3, 0, 0.3]],
    ['image_mean', [0.5, 'x', 0.5]],
    ['image_std', [1, 2]],
  ] as const) {
    fs.writeFileSync(ppFile, JSON.stringify({ ...basePp, [key]: value }));
    const e = await fails(t, m.model, m.clip);
    t.equal(e.file, ppFile);
    t.match(e.message, key);
  }
  // JSON's 1e999 parses as Infinity
  fs.writeFileSync(ppFile, JSON.stringify(basePp).replace(/"image_mean":\[[^\]]*\]/, '"image_mean":[1e999,0.5,0.5]'));
  t.match((await fails(t, m.model, m.clip)).message, /image_mean.*finite/);
  fs.writeFileSync(ppFile, JSON.stringify(basePp));
});

t.test('bad head overrides are InvalidInputError', async (t) => {
  const out = path.join(work, 'bad-overrides');
  for (const overrides of [{ heads: { eva: 0 } }, { heads: { qformer: 2.5 } }, { heads: { llm: 2 } }, { heads: 'x' }, 'x']) {
    await t.rejects(convert({ model: m.model, clip: m.clip, out, overrides: overrides as never }), InvalidInputError, JSON.stringify(overrides));
  }
  await t.rejects(convert({ model: m.model, clip: m.clip, out, threads: 1e9 }), InvalidInputError);
  t.notOk(fs.existsSync(out));
});

t.test('NaN and infinite weights name the tensor and its file', async (t) => {
  const poison =
    (name: string, value: number, at = 3) =>
    (x: { model: Map<string, { data: Float32Array | BigInt64Array }> }) => {
      (x.model.get(name)!.data as Float32Array)[at] = value;
    };
  // LLM weight (BF16 in OTHER_SIZES), safetensors; f32 output and the lossless source of q4_k_m
  let w = writeUpstreamModel(path.join(work, 'nan-llm'), OTHER_SIZES, { seed: 12, edit: poison('model.layers.1.mlp.up_proj.weight', NaN, 17) });
  for (const type of ['f32', 'f16', 'q4_k_m']) {
    const e = await fails(t, w.model, w.clip, { type });
    t.equal(e.tensor, 'model.layers.1.mlp.up_proj.weight', type);
    t.equal(e.file, path.join(w.model, 'model.safetensors'));
    t.match(e.message, /non-finite value \(NaN\) at element 17/);
  }
  // a tower weight (F32), torch zip
  w = writeUpstreamModel(path.join(work, 'inf-eva'), OTHER_SIZES, {
    seed: 13,
    format: 'pytorch',
    edit: poison('model.visual_encoder.blocks.0.mlp.fc1.bias', -Infinity, 5),
  });
  let e = await fails(t, w.model, w.clip, { type: 'f16' });
  t.equal(e.tensor, 'model.visual_encoder.blocks.0.mlp.fc1.bias');
  t.equal(e.file, path.join(w.model, 'pytorch_model.bin'));
  t.match(e.message, /non-finite value \(-Infinity\) at element 5/);
  // a CLIP weight
  w = writeUpstreamModel(path.join(work, 'inf-clip'), OTHER_SIZES, {
    seed: 14,
    edit: (x) => {
      (x.clip.get('vision_model.encoder.layers.1.self_attn.q_proj.weight')!.data as Float32Array)[0] = Infinity;
    },
  });
  e = await fails(t, w.model, w.clip);
  t.equal(e.tensor, 'vision_model.encoder.layers.1.self_attn.q_proj.weight');
  t.equal(e.file, path.join(w.clip, 'model.safetensors'));

  // finite but beyond f16: an error for f16 output, fine for f32
  w = writeUpstreamModel(path.join(work, 'big'), OTHER_SIZES, { seed: 15, edit: poison('model.visual_encoder.blocks.1.mlp.fc2.weight', 1e6, 9) });
  e = await fails(t, w.model, w.clip, { type: 'f16' });
  t.equal(e.tensor, 'model.visual_encoder.blocks.1.mlp.fc2.weight');
  t.match(e.message, /value \(1000000\) at element 9 beyond the f16 range/);
  const r = await convert({ model: w.model, clip: w.clip, out: path.join(work, 'big-f32'), type: 'f32' });
  t.ok(fs.existsSync(r.encoders), 'the same weights convert to f32');
});

t.test('an async onProgress that rejects fails convert() and synth() like a throw, leaving nothing', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const boom = new Error('progress sink failed');
  const out = path.join(work, 'progress-reject');
  await t.rejects(
    convert({
      model: m.model,
      clip: m.clip,
      out,
      type: 'f32',
      onProgress: async (p) => {
        if (p.stage === 'encoders') throw boom;
      },
    }),
    boom,
  );
  t.notOk(fs.existsSync(out), 'no output directory left behind');
  const sOut = path.join(work, 'synth-reject');
  await t.rejects(synth({ preset: 'tiny', out: sOut, onProgress: () => Promise.reject(boom) }), boom);
  t.notOk(fs.existsSync(sOut));
  await new Promise((r) => setTimeout(r, 50));
  t.same(unhandled, [], 'no unhandled rejection');
});
