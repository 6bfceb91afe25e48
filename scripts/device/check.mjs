// GPU check of the built addon against the golden outputs, for a machine without tap, ffmpeg or
// network (the workplace's device machine; see scripts/device/run.sh). It loads the tiny f32 model
// with every LLM layer and the towers on the GPU and checks, per golden full case, what
// test/full.test.ts checks on the CPU: prompt ids, tower outputs, spliced input embeddings,
// last-position logits, greedy ids and teacher-forced step logits within the manifest's
// tolerances. Then the public API on the GPU: groundImage / groundAudio / groundVideo give the
// same greedy ids, streaming, AbortSignal, a bad input leaves the model usable, dispose.
//
//   node scripts/device/check.mjs <golden dir> <carry dir> [--cpu] [--tol-scale N]
// (--cpu: the same checks on the CPU backend, to check the script itself where there is no GPU.)
// Exit code 1 when any check fails.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const api = require('../../lib/index.js');
const { native } = require('../../lib/native.js');
const { planSpans, promptText } = require('../../lib/prompt.js');

const [golden, carry] = process.argv.slice(2);
const cpu = process.argv.includes('--cpu');
// --tol-scale N: the manifest's tolerances times N (ggml's CUDA backend runs f32 matmuls as TF32)
const tolIdx = process.argv.indexOf('--tol-scale');
const tolScale = tolIdx > 0 ? Number(process.argv[tolIdx + 1]) : 1;
const expected = path.join(golden, 'expected');
const media = path.join(golden, 'media');
const manifest = JSON.parse(fs.readFileSync(path.join(expected, 'manifest.json'), 'utf8'));
const files = { llm: path.join(carry, 'tiny', 'llm.gguf'), encoders: path.join(carry, 'tiny', 'encoders.gguf') };

let failures = 0;
const check = (ok, what) => {
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

/** Little-endian C-order .npy: f4, i8 (as numbers), u1. */
function npy(file) {
  const buf = fs.readFileSync(path.join(expected, file));
  const major = buf[6];
  const hl = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hs = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hs, hs + hl);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const bytes = Uint8Array.prototype.slice.call(buf.subarray(hs + hl));
  const data =
    descr === '<f4' ? new Float32Array(bytes.buffer) : descr === '|u1' ? bytes : descr === '<i8' ? Array.from(new BigInt64Array(bytes.buffer), Number) : null;
  if (!data) throw new Error(`${file}: dtype ${descr}`);
  return { shape, data };
}

/** max |a - b| and whether every |a - b| <= atol + rtol |b| (numpy.allclose). */
function close(a, b, spec0) {
  const spec = { atol: spec0.atol * tolScale, rtol: (spec0.rtol ?? 0) * tolScale };
  let maxAbs = 0;
  let ok = a.length === b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= spec.atol + (spec.rtol ?? 0) * Math.abs(b[i]))) ok = false;
    if (!(d <= maxAbs)) maxAbs = d;
  }
  return { ok, maxAbs };
}
const goldenCase = (id) => manifest.cases.find((c) => c.id === id);
const cmp = (label, got, c, name) => {
  const spec = c.outputs[name];
  const r = close(got, npy(spec.file).data, spec);
  check(r.ok, `${label}: max |diff| ${r.maxAbs.toExponential(3)} (atol ${spec.atol * tolScale}, rtol ${(spec.rtol ?? 0) * tolScale})`);
};

/** The 64 golden frames ([3, 64, 224, 224] u8, channel-major) as raw RGB frames. */
function goldenFrames() {
  const f = npy(goldenCase('video/test3_mp4').outputs.frames_u8.file);
  const [, n, h, w] = f.shape;
  const frames = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(h * w * 3);
    for (let c = 0; c < 3; c++) {
      const plane = f.data.subarray((c * n + i) * h * w, (c * n + i + 1) * h * w);
      for (let p = 0; p < h * w; p++) data[p * 3 + c] = plane[p];
    }
    frames.push({ data, width: w, height: h, channels: 3 });
  }
  return frames;
}

const audioMeta = JSON.parse(fs.readFileSync(path.join(carry, 'dog_audio.json'), 'utf8'));
const pcm = new Float32Array(Uint8Array.prototype.slice.call(fs.readFileSync(path.join(carry, 'dog_audio.f32'))).buffer);
const dogAudio = () => ({
  samples: Array.from({ length: audioMeta.channels }, (_, i) => pcm.slice(i * audioMeta.samples, (i + 1) * audioMeta.samples)),
  sampleRate: audioMeta.sampleRate,
});
const dogImage = path.join(media, 'dog_image.jpg');

const addon = native();
const cancel = () => addon.createCancel();
console.log(addon.systemInfo());
const t0 = Date.now();
const nm = await addon.loadModel(
  {
    ...files,
    gpuLayers: cpu ? 0 : -1,
    encodersOnGpu: !cpu,
    useMmap: true,
    contextSize: 2048,
    batchSize: 256,
    threads: 4,
    threadsBatch: 4,
    kvType: 'f32',
    flashAttn: 'auto',
  },
  cancel(),
);
const info = nm.info();
console.log(`loaded in ${Date.now() - t0} ms: backend ${info.backend}`);
if (!cpu) check(/CUDA/i.test(info.backend), `model reports a CUDA backend (${info.backend})`);

const image = await api.decodeImage(dogImage);
const audio = async () => {
  const a = dogAudio();
  const pre = await addon.audioPreprocess(a.samples, a.sampleRate, false);
  return nm.encodeAudio(pre.fbank, pre.info.clips.length, cancel());
};
const feats = {
  image: await nm.encodeImage(image.data, image.width, image.height, image.width * 3, cancel()),
  video: await nm.encodeVideo(
    goldenFrames().map((f) => f.data),
    cancel(),
  ),
  audio: await audio(),
};
cmp('tower image/dog_image projected', feats.image, goldenCase('image/dog_image'), 'projected');
cmp('tower video/test3_mp4 video_embeds', feats.video, goldenCase('video/test3_mp4'), 'video_embeds');
cmp('tower audio/dog_audio audio_embeds', feats.audio, goldenCase('audio/dog_audio'), 'audio_embeds');

const cases = [
  ['full/text_only', []],
  ['full/image_dog', ['image']],
  ['full/video_test3', ['video']],
  ['full/audio_dog', ['audio']],
  ['full/sound_image_dog', ['audio', 'image']],
];
const patch = { image: info.mediaTokens[0][0], video: info.mediaTokens[1][0], audio: info.mediaTokens[2][0] };
const rows = { image: info.mediaRows[0], video: info.mediaRows[1], audio: info.mediaRows[2] };
const greedy = new Map();
for (const [id, kinds] of cases) {
  const g = goldenCase(id);
  const text = promptText({ user: g.user_text, media: kinds, mediaRows: rows });
  const ids = Array.from(nm.tokenize(text, true, true));
  check(JSON.stringify(ids) === JSON.stringify(g.prompt_token_ids), `${id}: prompt ids`);
  const spans = planSpans(ids, patch).map((s, i) => ('tokens' in s ? { tokens: s.tokens } : { embd: feats[s.media], rows: s.rows, id: BigInt(i + 1) }));
  const embeds = new Float32Array(ids.length * info.nEmbd);
  let pos = 0;
  for (const s of spans) {
    embeds.set('tokens' in s ? nm.tokenEmbeddings(s.tokens) : s.embd, pos * info.nEmbd);
    pos += 'tokens' in s ? s.tokens.length : s.rows;
  }
  cmp(`${id}: inputs_embeds`, embeds, g, 'inputs_embeds');
  nm.clear();
  await nm.prompt(spans, cancel());
  const logits = nm.logits();
  cmp(`${id}: logits_last`, logits, g, 'logits_last');
  const err = close(logits, npy(g.outputs.logits_last.file).data, g.outputs.logits_last).maxAbs;
  let n = g.greedy_top1_top2_margins.findIndex((m) => m <= 2 * err);
  if (n < 0) n = g.greedy_top1_top2_margins.length;
  const gen = await nm.generate(
    { maxTokens: 16, temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false },
    cancel(),
  );
  check(JSON.stringify(Array.from(gen.tokens).slice(0, n)) === JSON.stringify(g.greedy_token_ids.slice(0, n)), `${id}: greedy ids (first ${n} of 16)`);
  greedy.set(id, { n, ids: g.greedy_token_ids });
  const steps = npy(g.outputs.greedy_step_logits.file).data;
  let worst = 0;
  let stepsOk = true;
  for (let k = 1; k < g.greedy_token_ids.length; k++) {
    await nm.prompt([...spans, { tokens: Int32Array.from(g.greedy_token_ids.slice(0, k)) }], cancel());
    const r = close(nm.logits(), steps.subarray(k * info.nVocab, (k + 1) * info.nVocab), g.outputs.greedy_step_logits);
    worst = Math.max(worst, r.maxAbs);
    stepsOk &&= r.ok;
  }
  check(stepsOk, `${id}: teacher-forced step logits, worst max |diff| ${worst.toExponential(3)}`);
}
await nm.dispose();

// The public API on the same backend.
const model = await api.loadModel({ model: files, kvType: 'f32', threads: 4, contextSize: 2048, ...(cpu ? { gpuLayers: 0 } : {}) });
const opts = { maxTokens: 16, stop: [] };
const same = (id, r) => {
  const w = greedy.get(id);
  check(JSON.stringify(r.tokens.slice(0, w.n)) === JSON.stringify(w.ids.slice(0, w.n)), `API ${id}: greedy ids`);
};
same('full/image_dog', await model.groundImage(dogImage, goldenCase('full/image_dog').user_text, opts));
same('full/video_test3', await model.groundVideo({ frames: goldenFrames(), fps: 24, duration: 10 }, goldenCase('full/video_test3').user_text, opts));
same('full/audio_dog', await model.groundAudio(dogAudio(), goldenCase('full/audio_dog').user_text, opts));
same('full/sound_image_dog', await model.groundAudio(dogAudio(), goldenCase('full/sound_image_dog').user_text, { ...opts, image: dogImage }));

let streamed = '';
const r = await model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 8, onToken: (piece) => (streamed += piece) });
check(r.tokens.length > 0 && streamed.length > 0, `streaming: ${r.tokens.length} tokens, ${streamed.length} characters streamed`);

const ac = new AbortController();
let seen = 0;
const aborted = await model
  .groundImage(dogImage, 'Describe the picture.', { maxTokens: 64, signal: ac.signal, onToken: () => ++seen === 2 && ac.abort() })
  .then(
    () => 'resolved',
    (e) => e.name,
  );
check(aborted === 'AbortError', `AbortSignal mid-generation rejects with AbortError (${aborted})`);

const bad = await model.groundAudio({ samples: new Float32Array(16000).fill(NaN), sampleRate: 16000 }, 'What sound?', opts).then(
  () => 'resolved',
  (e) => e.name,
);
check(bad === 'InvalidInputError', `NaN samples reject with InvalidInputError (${bad})`);
same('full/audio_dog', await model.groundAudio(dogAudio(), goldenCase('full/audio_dog').user_text, opts));

await model.dispose();
const after = await model.groundImage(dogImage, 'x', opts).then(
  () => 'resolved',
  (e) => e.name,
);
check(after === 'DisposedError', `after dispose() calls reject with DisposedError (${after})`);

console.log(failures ? `FAILED (${failures} failures)` : 'PASSED');
process.exit(failures ? 1 : 0);
