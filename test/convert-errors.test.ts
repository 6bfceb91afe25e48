// Bad inputs give a ConversionError naming the file (and the tensor), in this very process, and
// leave nothing in the output directory.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { convert } from '../src/convert/index';
import { AbortError, ConversionError, InvalidInputError } from '../src/errors';
import { tempDir, tinyDir } from './helpers/golden';
import { OTHER_SIZES, type TestTensor, randomTensor, rng, torchPickle, writeTorchCheckpoint, writeUpstreamModel, writeZip } from './helpers/upstream';

const work = tempDir('ggpt-convert-err-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const tinyModel = path.join(tinyDir, 'groundinggpt');
const tinyClip = path.join(tinyDir, 'clip');

function copyDir(src: string, dst: string, skip: string[] = []): string {
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) if (!skip.includes(f)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  return dst;
}

let n = 0;
/** Runs convert into a fresh output dir that must not exist afterwards; returns the error. */
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

t.test('missing files', async (t) => {
  const noTok = copyDir(tinyModel, path.join(work, 'no-tokenizer'), ['tokenizer.model']);
  let e = await fails(t, noTok, tinyClip);
  t.equal(e.file, path.join(noTok, 'tokenizer.model'));
  t.match(e.message, /tokenizer\.model/);

  const noShard = copyDir(tinyModel, path.join(work, 'no-shard'), ['pytorch_model-00002-of-00002.bin']);
  e = await fails(t, noShard, tinyClip);
  t.equal(e.file, path.join(noShard, 'pytorch_model-00002-of-00002.bin'));

  const noClip = copyDir(tinyClip, path.join(work, 'no-clip-weights'), ['pytorch_model.bin', 'model.safetensors']);
  e = await fails(t, tinyModel, noClip);
  t.match(e.message, /no weights found/);

  e = await fails(t, path.join(work, 'does-not-exist'), tinyClip);
  t.equal(e.file, path.join(work, 'does-not-exist'));
});

t.test('truncated safetensors and truncated zip', async (t) => {
  const st = copyDir(tinyClip, path.join(work, 'trunc-st'), ['pytorch_model.bin']);
  const stFile = path.join(st, 'model.safetensors');
  const size = fs.statSync(stFile).size;
  fs.truncateSync(stFile, size - 1000);
  let e = await fails(t, tinyModel, st);
  t.equal(e.file, stFile);
  t.match(e.message, /truncated/);
  t.ok(e.tensor, `names the tensor that is cut (${e.tensor})`);
  fs.truncateSync(stFile, 6);
  e = await fails(t, tinyModel, st);
  t.match(e.message, /truncated/);

  const pt = copyDir(tinyClip, path.join(work, 'trunc-pt'), ['model.safetensors']);
  const ptFile = path.join(pt, 'pytorch_model.bin');
  fs.truncateSync(ptFile, Math.floor(fs.statSync(ptFile).size / 2));
  e = await fails(t, tinyModel, pt);
  t.equal(e.file, ptFile);
  t.match(e.message, /truncated|not a ZIP/);

  const shard = copyDir(tinyModel, path.join(work, 'trunc-shard'));
  const shardFile = path.join(shard, 'pytorch_model-00001-of-00002.bin');
  fs.truncateSync(shardFile, fs.statSync(shardFile).size - 100);
  e = await fails(t, shard, tinyClip);
  t.equal(e.file, shardFile);
});

t.test('unknown pickle opcode and unknown global', async (t) => {
  const rand = rng(3);
  const tensors = new Map<string, TestTensor>([['a', randomTensor([2, 2], rand)]]);
  const dir = copyDir(tinyClip, path.join(work, 'bad-pickle'), ['model.safetensors', 'pytorch_model.bin']);
  const file = path.join(dir, 'pytorch_model.bin');
  writeTorchCheckpoint(file, tensors, { extraOps: [0xd0] });
  let e = await fails(t, tinyModel, dir);
  t.equal(e.file, file);
  t.match(e.message, /unknown or unsupported pickle opcode 0xd0/);

  const pkl = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\n', 'latin1'), Buffer.from([0x2e])]);
  writeZip(file, [['archive/data.pkl', pkl]]);
  e = await fails(t, tinyModel, dir);
  t.match(e.message, /unsupported global os\.system/);

  const views = new Map([['x', { storage: '0', dtype: 'F32' as const, offset: 3, shape: [2, 2], stride: [2, 1] }]]);
  writeZip(file, [
    ['archive/data.pkl', torchPickle(views, new Map([['0', 4]]))],
    ['archive/data/0', Buffer.alloc(16)],
  ]);
  e = await fails(t, tinyModel, dir);
  t.match(e.message, /views past the end of its storage/);
  t.equal(e.tensor, 'x');
});

t.test('wrong shape, missing tensor, unexpected tensor, bad config', async (t) => {
  const rand = rng(5);
  let m = writeUpstreamModel(path.join(work, 'wrong-shape'), OTHER_SIZES, {
    edit: (x) => x.model.set('model.layers.1.mlp.up_proj.weight', randomTensor([200, 95], rand)),
  });
  let e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'model.layers.1.mlp.up_proj.weight');
  t.equal(e.file, path.join(m.model, 'model.safetensors'));
  t.match(e.message, /shape \[200, 95\], expected \[200, 96\]/);

  m = writeUpstreamModel(path.join(work, 'wrong-shape-eva'), OTHER_SIZES, {
    edit: (x) => x.model.set('model.visual_encoder.blocks.2.attn.proj.weight', randomTensor([88, 44], rand)),
  });
  e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'model.visual_encoder.blocks.2.attn.proj.weight');

  m = writeUpstreamModel(path.join(work, 'missing'), OTHER_SIZES, {
    edit: (x) => x.model.delete('model.audio_Qformer.bert.encoder.layer.1.output_query.LayerNorm.bias'),
  });
  e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'model.audio_Qformer.bert.encoder.layer.1.output_query.LayerNorm.bias');
  t.match(e.message, /missing tensor/);

  m = writeUpstreamModel(path.join(work, 'missing-clip'), OTHER_SIZES, {
    edit: (x) => x.clip.delete('vision_model.encoder.layers.0.self_attn.k_proj.bias'),
  });
  e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'vision_model.encoder.layers.0.self_attn.k_proj.bias');

  m = writeUpstreamModel(path.join(work, 'unexpected'), OTHER_SIZES, {
    edit: (x) => x.model.set('model.visual_encoder.norm.weight', randomTensor([88], rand)),
  });
  e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'model.visual_encoder.norm.weight');
  t.match(e.message, /unexpected tensor/);

  m = writeUpstreamModel(path.join(work, 'unexpected-clip'), OTHER_SIZES, {
    edit: (x) => x.clip.set('vision_model.encoder.layers.9.mlp.fc1.weight', randomTensor([4, 4], rand)),
  });
  e = await fails(t, m.model, m.clip);
  t.equal(e.tensor, 'vision_model.encoder.layers.9.mlp.fc1.weight');

  m = writeUpstreamModel(path.join(work, 'bad-heads'), OTHER_SIZES);
  e = await fails(t, m.model, m.clip, { overrides: { heads: { qformer: 3 } } });
  t.match(e.message, /overrides\.heads\.qformer/);

  const cfgFile = path.join(m.model, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, num_hidden_layers: 'three' }));
  e = await fails(t, m.model, m.clip);
  t.equal(e.file, cfgFile);
  fs.writeFileSync(cfgFile, '{ not json');
  e = await fails(t, m.model, m.clip);
  t.match(e.message, /not valid JSON/);
});

t.test('an error keeps the earlier files of an existing output directory', async (t) => {
  const out = path.join(work, 'existing');
  await convert({ model: tinyModel, clip: tinyClip, out, type: 'f32' });
  const before = fs
    .readdirSync(out)
    .sort()
    .map((f) => [f, fs.readFileSync(path.join(out, f))] as const);
  const bad = copyDir(tinyModel, path.join(work, 'bad2'), ['tokenizer.model']);
  await t.rejects(convert({ model: bad, clip: tinyClip, out, type: 'f32' }), ConversionError);
  const after = fs.readdirSync(out).sort();
  t.same(
    after,
    before.map(([f]) => f),
    'same files, no temporaries',
  );
  for (const [f, data] of before) t.ok(fs.readFileSync(path.join(out, f)).equals(data), `${f} untouched`);
});

t.test('abort and bad options', async (t) => {
  const out = path.join(work, 'aborted');
  const ac = new AbortController();
  let seen = 0;
  await t.rejects(
    convert({
      model: tinyModel,
      clip: tinyClip,
      out,
      type: 'f32',
      signal: ac.signal,
      onProgress: (p) => {
        if (p.stage === 'encoders' && ++seen === 3) ac.abort();
      },
    }),
    AbortError,
  );
  t.notOk(fs.existsSync(out), 'nothing left after an abort');
  await t.rejects(convert({ model: tinyModel, clip: tinyClip, out, type: 'q3' as 'f32' }), InvalidInputError);
  await t.rejects(convert({ model: '', clip: tinyClip, out }), InvalidInputError);
  await t.rejects(convert(undefined as unknown as Parameters<typeof convert>[0]), InvalidInputError);
});
