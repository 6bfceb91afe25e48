// The full model on the golden media cases at f32: prompt ids, spliced input embeddings, logits
// at the last prompt position, greedy ids (up to the first step whose golden top-1/top-2 margin
// is within our logit error) and teacher-forced step logits; then the same turns through the
// public API (groundImage / groundVideo / groundAudio).
import t from 'tap';
import path from 'node:path';
import { allclose, goldenCase, mediaDir, readExpected } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { loadModel, type GroundResult, type Model } from '../src/index';
import { native, type NativeModel, type NativeSpan } from '../src/native';
import { planSpans, promptText, type MediaKind } from '../src/prompt';
import { decodeImage } from '../src/media/image';
import { decodeAudio } from '../src/media/audio';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const dogAudio = path.join(mediaDir, 'dog_audio.wav');

/** The 64 golden frames ([3, 64, 224, 224] u8, channel-major) as raw RGB frames. */
function goldenFrames(): { data: Uint8Array; width: number; height: number; channels: 3 }[] {
  const f = readExpected(goldenCase('video/test3_mp4').outputs.frames_u8.file);
  const [, n, h, w] = f.shape;
  const src = f.data as Uint8Array;
  const frames = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(h * w * 3);
    for (let c = 0; c < 3; c++) {
      const plane = src.subarray((c * n + i) * h * w, (c * n + i + 1) * h * w);
      for (let p = 0; p < h * w; p++) data[p * 3 + c] = plane[p];
    }
    frames.push({ data, width: w, height: h, channels: 3 as const });
  }
  return frames;
}

interface Case {
  id: string;
  media: MediaKind[];
  features(nm: NativeModel): Promise<Partial<Record<MediaKind, Float32Array>>>;
  ground(model: Model, prompt: string, opts: object): Promise<GroundResult>;
}

const cancel = () => native().createCancel();

async function imageFeatures(nm: NativeModel): Promise<Float32Array> {
  const img = await decodeImage(dogImage);
  return nm.encodeImage(img.data, img.width, img.height, img.width * 3, cancel());
}

async function audioFeatures(nm: NativeModel): Promise<Float32Array> {
  const a = await decodeAudio(dogAudio);
  const pre = await native().audioPreprocess(a.channels, a.sampleRate, false);
  return nm.encodeAudio(pre.fbank, pre.info.clips.length, cancel());
}

const cases: Case[] = [
  {
    id: 'full/image_dog',
    media: ['image'],
    features: async (nm) => ({ image: await imageFeatures(nm) }),
    ground: (m, p, o) => m.groundImage(dogImage, p, o),
  },
  {
    id: 'full/video_test3',
    media: ['video'],
    features: async (nm) => ({
      video: await nm.encodeVideo(
        goldenFrames().map((f) => f.data),
        cancel(),
      ),
    }),
    ground: (m, p, o) => m.groundVideo({ frames: goldenFrames(), fps: 24, duration: 10 }, p, o),
  },
  {
    id: 'full/audio_dog',
    media: ['audio'],
    features: async (nm) => ({ audio: await audioFeatures(nm) }),
    ground: (m, p, o) => m.groundAudio(dogAudio, p, o),
  },
  {
    id: 'full/sound_image_dog',
    media: ['audio', 'image'],
    features: async (nm) => ({ audio: await audioFeatures(nm), image: await imageFeatures(nm) }),
    ground: (m, p, o) => m.groundAudio(dogAudio, p, { ...o, image: dogImage }),
  },
];

t.test('full model cases at f32', async (t) => {
  const files = await tinyConverted('f32');
  const addon = native();
  const nm = await addon.loadModel(
    { ...files, encodersOnGpu: false, useMmap: true, contextSize: 2048, batchSize: 256, threads: 2, threadsBatch: 2, kvType: 'f32', flashAttn: 'auto' },
    cancel(),
  );
  t.teardown(() => nm.dispose());
  const info = nm.info();
  const nVocab = info.nVocab;
  const nEmbd = info.nEmbd;
  const patch = { image: info.mediaTokens[0][0], video: info.mediaTokens[1][0], audio: info.mediaTokens[2][0] };
  const rows = { image: info.mediaRows[0], video: info.mediaRows[1], audio: info.mediaRows[2] };

  const greedyByCase = new Map<string, { n: number; ids: number[] }>();

  for (const c of cases) {
    await t.test(c.id, async (t) => {
      const g = goldenCase(c.id);
      const out = g.outputs;
      const text = promptText({ user: g.user_text, media: c.media, mediaRows: rows });
      t.equal(text, g.prompt, 'prompt text as upstream builds it');
      const ids = Array.from(nm.tokenize(text, true, true));
      t.same(ids, g.prompt_token_ids, 'prompt ids');

      const feats = await c.features(nm);
      const spans: NativeSpan[] = planSpans(ids, patch).map((s, i) => {
        if ('tokens' in s) return { tokens: s.tokens };
        const f = feats[s.media] as Float32Array;
        t.equal(f.length, s.rows * nEmbd, `${s.media} rows`);
        return { embd: f, rows: s.rows, id: BigInt(i + 1) };
      });

      // spliced input embeddings: token rows where tokens are, feature rows where patches are
      const embeds = new Float32Array(ids.length * nEmbd);
      let pos = 0;
      for (const s of spans) {
        if ('tokens' in s) {
          embeds.set(nm.tokenEmbeddings(s.tokens), pos * nEmbd);
          pos += s.tokens.length;
        } else if ('embd' in s) {
          embeds.set(s.embd, pos * nEmbd);
          pos += s.rows;
        }
      }
      const er = allclose(embeds, readExpected(out.inputs_embeds.file).data as Float32Array, out.inputs_embeds.atol, out.inputs_embeds.rtol);
      t.ok(er.ok, `inputs_embeds max |diff| ${er.maxAbs.toExponential(3)}`);

      nm.clear();
      await nm.prompt(spans, cancel());
      const lr = allclose(nm.logits(), readExpected(out.logits_last.file).data as Float32Array, out.logits_last.atol, out.logits_last.rtol);
      t.ok(lr.ok, `logits_last max |diff| ${lr.maxAbs.toExponential(3)} (atol ${out.logits_last.atol})`);

      const margins: number[] = g.greedy_top1_top2_margins;
      let n = margins.findIndex((m) => m <= 2 * lr.maxAbs);
      if (n < 0) n = margins.length;
      const gen = await nm.generate(
        { maxTokens: 16, temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false },
        cancel(),
      );
      t.same(Array.from(gen.tokens).slice(0, n), g.greedy_token_ids.slice(0, n), `greedy ids (first ${n} of 16)`);
      greedyByCase.set(c.id, { n, ids: g.greedy_token_ids });

      // teacher forcing on the golden ids: every step's logits
      const stepExp = readExpected(out.greedy_step_logits.file).data as Float32Array;
      let worst = 0;
      for (let k = 1; k < g.greedy_token_ids.length; k++) {
        await nm.prompt([...spans, { tokens: Int32Array.from(g.greedy_token_ids.slice(0, k)) }], cancel());
        const r = allclose(nm.logits(), stepExp.subarray(k * nVocab, (k + 1) * nVocab), out.greedy_step_logits.atol, out.greedy_step_logits.rtol);
        worst = Math.max(worst, r.maxAbs);
        if (!r.ok) t.fail(`step ${k}: max |diff| ${r.maxAbs}`);
      }
      t.pass(`teacher-forced step logits worst max |diff| ${worst.toExponential(3)}`);
    });
  }

  await t.test('the same turns through the public API', async (t) => {
    const model = await loadModel({ model: files, kvType: 'f32', threads: 2, contextSize: 2048 });
    t.teardown(() => model.dispose());
    const read = new Set<MediaKind>(); // towers read so far: the first call that needs one reads it (a 'load' stage)
    for (const c of cases) {
      const g = goldenCase(c.id);
      const stages = new Set<string>();
      const r = await c.ground(model, g.user_text, { maxTokens: 16, stop: [], onProgress: (p: { stage: string }) => stages.add(p.stage) });
      const want = greedyByCase.get(c.id);
      if (want) t.same(r.tokens.slice(0, want.n), want.ids.slice(0, want.n), `${c.id}: greedy ids through the API`);
      // sound_image_dog finds both features in the cache (the cases before encoded them)
      const allCached = r.timings.cachedMedia === c.media.length;
      const loads = !allCached && c.media.some((k) => !read.has(k));
      for (const k of c.media) if (!allCached) read.add(k);
      const wantStages = allCached ? ['decode', 'generate', 'prompt'] : ['decode', 'encode', 'generate', ...(loads ? ['load'] : []), 'prompt'];
      t.same([...stages].sort(), wantStages, `${c.id}: progress stages`);
      t.ok((allCached ? r.timings.encodeMs === 0 : r.timings.encodeMs > 0) && r.timings.totalMs >= r.timings.encodeMs, `${c.id}: timings`);
      if (c.media.includes('image')) t.same(r.image, { width: 640, height: 848, side: 848, offsetX: 104, offsetY: 0 });
      if (c.media.includes('image') && !allCached) t.ok(r.timings.preprocessMs > 0, `${c.id}: image preprocessing timed apart from the tower`);
      if (c.media.includes('audio')) t.equal(r.audio?.clips.length, 3);
    }
    // asking again about the same image: features from the cache, the prefix from the KV cache
    await model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 4 });
    const again = await model.groundImage(dogImage, 'Describe it.', { maxTokens: 4 });
    t.equal(again.timings.cachedMedia, 1, 'image features came from the cache');
    t.equal(again.timings.encodeMs, 0);
    t.ok(again.timings.reusedTokens > 576, `KV prefix reused (${again.timings.reusedTokens} positions)`);
  });

  await t.test('embedImage / embedVideo / embedAudio: the features the turns use, with timings', async (t) => {
    const model = await loadModel({ model: files, kvType: 'f32', threads: 2, contextSize: 2048 });
    t.teardown(() => model.dispose());
    const want = {
      image: await imageFeatures(nm),
      video: await nm.encodeVideo(
        goldenFrames().map((f) => f.data),
        cancel(),
      ),
      audio: await audioFeatures(nm),
    };
    const got = {
      image: await model.embedImage(dogImage),
      video: await model.embedVideo({ frames: goldenFrames(), fps: 24, duration: 10 }),
      audio: await model.embedAudio(dogAudio),
    };
    for (const k of ['image', 'video', 'audio'] as const) {
      t.same(got[k].shape, [rows[k], nEmbd], `${k}: shape`);
      const r = allclose(got[k].data, want[k], 1e-6);
      t.ok(r.ok, `${k}: the native encode's features (max |diff| ${r.maxAbs.toExponential(2)})`);
      t.ok(got[k].timings.encodeMs > 0 && got[k].timings.prepareMs > 0, `${k}: timings ${JSON.stringify(got[k].timings)}`);
    }
    const again = await model.embedImage(dogImage);
    t.equal(again.timings.encodeMs, 0, 'a second embedImage comes from the feature cache');
    t.same(again.data, got.image.data);
  });
});
