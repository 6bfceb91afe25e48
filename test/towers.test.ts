// Towers on demand (docs/ARCHITECTURE.md "Towers on demand"): a tower's weights are read by the
// first call that needs it (a 'load' progress stage) or when asked (loadModel towers,
// loadTowers), freed by releaseTowers, and info.memory says what is resident. On the tiny golden
// model: answers do not depend on when a tower was read; an abort or a file cut short after the
// load leaves the tower unloaded and the model usable; the file-backed resident set grows and
// shrinks by what memory.towers says (the 5 % check against the whole process's RSS growth is
// bench/memory.mjs on the 7B model: the tiny model's few MB drown in the V8 heap's noise).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { mediaDir, tempDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { AbortError, InvalidInputError, NativeError, loadModel, type GroundProgress, type Model } from '../src/index';
import { decodeImage } from '../src/media/image';
import { native, type NativeModel } from '../src/native';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const dogAudio = path.join(mediaDir, 'dog_audio.wav');
const opts = { contextSize: 1024, threads: 2, featureCacheBytes: 0 } as const;

/** Resident file-backed pages of this process (the towers' weights live in a mapping of encoders.gguf). */
function rssFile(): number {
  const m = /^RssFile:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function ask(model: Model, stages: GroundProgress[] = []): Promise<string> {
  const r = await model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 6, onProgress: (p) => stages.push(p) });
  return r.text;
}

t.test('the default reads no tower at load; the first call reads its own, as a load stage', async (t) => {
  const files = await tinyConverted('f16');
  const model = await loadModel({ model: files, ...opts });
  t.teardown(() => model.dispose());
  const m0 = model.info.memory;
  t.same(m0.towers, { image: 0, video: 0, audio: 0 }, 'no tower resident after load');
  t.equal(m0.compute.towers, 0, 'no tower compute buffers yet');
  t.ok(m0.kvCache > 0 && m0.compute.llm > 0, 'KV cache and compute buffers counted');
  t.equal(m0.total, m0.llm + m0.kvCache + m0.compute.llm, 'total is the sum of the parts');

  const stages: GroundProgress[] = [];
  const first = await ask(model, stages);
  const loads = stages.filter((s) => s.stage === 'load');
  t.ok(loads.length > 0, 'the first image call reports a load stage');
  t.ok(
    loads.every((s) => s.media === 'image'),
    'for the image tower',
  );
  t.equal(loads[loads.length - 1].fraction, 1, 'the load stage ends at 1');
  const firstEncode = stages.findIndex((s) => s.stage === 'encode');
  t.ok(firstEncode > stages.indexOf(loads[loads.length - 1]), 'before the encode stage');
  const m1 = model.info.memory;
  t.ok(m1.llm > m0.llm, `the prompt read the LLM's weights (${m1.llm} bytes resident)`);
  t.ok(m1.towers.image > 0, `image tower resident (${m1.towers.image} bytes)`);
  t.equal(m1.towers.video + m1.towers.audio, 0, 'the other towers are not');
  t.ok(m1.compute.towers > 0, 'the tower compute buffers are counted');
  t.equal(m1.total, m1.llm + m1.towers.image + m1.kvCache + m1.compute.llm + m1.compute.towers, 'total is the sum of the parts');

  const again: GroundProgress[] = [];
  t.equal(await ask(model, again), first, 'same answer the second time');
  t.notOk(
    again.some((s) => s.stage === 'load'),
    'no load stage once resident',
  );

  // released: freed, and read again by the next call, with the same answer
  await model.releaseTowers(['image']);
  const m2 = model.info.memory;
  t.equal(m2.towers.image, 0, 'released');
  t.equal(m2.compute.towers, 0, 'the tower compute buffers are freed too');
  const third: GroundProgress[] = [];
  t.equal(await ask(model, third), first, 'same answer after a release and a new read');
  t.ok(
    third.some((s) => s.stage === 'load'),
    'read again with a load stage',
  );

  // an eagerly loaded model gives the same answer
  const eager = await loadModel({ model: files, ...opts, towers: 'all' });
  t.teardown(() => eager.dispose());
  const me = eager.info.memory;
  t.ok(me.towers.image > 0 && me.towers.video > 0 && me.towers.audio > 0, "towers: 'all' reads every tower at load");
  // f16 weights repacked for the bf16 kernels (AMX or AVX512-BF16 CPUs) count as their copies
  // (a little padding) instead of the f16 pages, which are released
  const sum = me.towers.image + me.towers.video + me.towers.audio;
  t.ok(sum >= 0.95 * me.encoders && sum <= 1.15 * me.encoders, `all three hold about what the file holds (${sum} / ${me.encoders})`);
  const eagerStages: GroundProgress[] = [];
  t.equal(await ask(eager, eagerStages), first, 'same answer as on demand');
  t.notOk(
    eagerStages.some((s) => s.stage === 'load'),
    'no load stage',
  );
});

t.test('towers named at load, loadTowers, releaseTowers and the resident set', async (t) => {
  const files = await tinyConverted('f32');
  const model = await loadModel({ model: files, ...opts, towers: ['audio'] });
  t.teardown(() => model.dispose());
  const m0 = model.info.memory;
  t.ok(m0.towers.audio > 0, 'audio resident');
  t.equal(m0.towers.image + m0.towers.video, 0, 'image and video not');
  const r = await model.groundAudio(dogAudio, 'What is this sound?', { maxTokens: 4 });
  t.ok(r.text.length >= 0, 'the audio call runs');

  const before = rssFile();
  const fractions: number[] = [];
  await model.loadTowers(['image', 'video'], { onProgress: (f) => fractions.push(f) });
  const grown = rssFile() - before;
  const m1 = model.info.memory;
  const added = m1.towers.image + m1.towers.video;
  t.ok(m1.towers.image > 0 && m1.towers.video > 0, 'image and video resident');
  t.ok(fractions.length > 0 && fractions[fractions.length - 1] === 1, 'loadTowers reports progress up to 1');
  // the weights are pages of the encoders file's mapping: the file-backed resident set grows by
  // their size (a page or two more at each end of a tensor run)
  t.ok(Math.abs(grown - added) <= 0.1 * added + 256 * 1024, `file-backed RSS grew ${grown} bytes for ${added} bytes of weights`);
  const before2 = rssFile();
  await model.releaseTowers();
  const shrunk = before2 - rssFile();
  const m2 = model.info.memory;
  t.same(m2.towers, { image: 0, video: 0, audio: 0 }, 'releaseTowers() frees all');
  const freed = m1.towers.image + m1.towers.video + m1.towers.audio;
  t.ok(Math.abs(shrunk - freed) <= 0.1 * freed + 256 * 1024, `file-backed RSS shrank ${shrunk} bytes for ${freed} bytes freed`);
  await model.loadTowers(); // all again: nothing stale in the way
  t.ok(model.info.memory.towers.video > 0, 'read again');

  await t.rejects(loadModel({ model: files, ...opts, towers: 'some' as never }), InvalidInputError, 'bad towers option');
  await t.rejects(loadModel({ model: files, ...opts, towers: ['image', 'smell'] as never }), InvalidInputError, 'unknown tower kind');
  await t.rejects(model.releaseTowers(['smell'] as never), InvalidInputError, 'releaseTowers checks its argument');
});

t.test('an aborted tower read leaves it unloaded and the model usable', async (t) => {
  // (an abort part-way through the read, deterministically: native/tests/test_towers.cpp)
  const files = await tinyConverted('f32');
  const model = await loadModel({ model: files, ...opts });
  t.teardown(() => model.dispose());
  const ac = new AbortController();
  ac.abort();
  await t.rejects(model.loadTowers(['video'], { signal: ac.signal }), AbortError, 'loadTowers with an aborted signal');
  t.equal(model.info.memory.towers.video, 0, 'not resident after the abort');
  // a call aborted when its tower is about to be read
  const ac2 = new AbortController();
  await t.rejects(
    model.groundImage(dogImage, 'Where?', {
      signal: ac2.signal,
      onProgress: (p) => {
        if (p.stage === 'decode' && p.fraction === 1) ac2.abort();
      },
    }),
    AbortError,
  );
  t.equal(model.info.memory.towers.image, 0, 'the image tower is not resident either');
  const r = await model.groundImage(dogImage, 'Where?', { maxTokens: 4 });
  t.ok(typeof r.text === 'string', 'a later call reads it and answers');
  t.ok(model.info.memory.towers.image > 0, 'resident now');
});

t.test('concurrent calls read a tower once', async (t) => {
  const files = await tinyConverted('f32');
  const model = await loadModel({ model: files, ...opts, parallel: 2 });
  t.teardown(() => model.dispose());
  const a: GroundProgress[] = [];
  const b: GroundProgress[] = [];
  const [ra, rb] = await Promise.all([
    model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 6, onProgress: (p) => a.push(p) }),
    model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 6, onProgress: (p) => b.push(p) }),
  ]);
  t.equal(ra.text, rb.text, 'same answers');
  const loaded = [a, b].filter((s) => s.some((p) => p.stage === 'load')).length;
  t.equal(loaded, 1, 'one of the two calls read the tower');
  // a release queued behind running calls waits for them
  const [rc] = await Promise.all([model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 6 }), model.releaseTowers(['image'])]);
  t.equal(rc.text, ra.text, 'a call racing a release still answers the same');
});

t.test('a file cut short after the load: a typed error for that tower, the model stays usable', async (t) => {
  const files = await tinyConverted('f32');
  const dir = tempDir('ggpt-towers-cut-');
  const enc = path.join(dir, 'encoders.gguf');
  fs.copyFileSync(files.encoders, enc);
  const model = await loadModel({ model: { llm: files.llm, encoders: enc }, ...opts, towers: ['image'] });
  t.teardown(() => model.dispose());
  const size = fs.statSync(enc).size;
  fs.truncateSync(enc, Math.floor(size / 2)); // in place: the mapping sees it
  const err = await model.loadTowers(['video', 'audio']).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, NativeError, 'a NativeError');
  t.equal((err as NativeError).status, 'format', 'status format');
  t.match((err as Error).message, /truncated since the model was loaded: the (video|audio) tower's tensor '[^']+' ends at byte \d+/, (err as Error).message);
  t.ok((err as Error).message.includes(enc), 'names the file');
  const m = model.info.memory;
  t.ok(m.towers.video === 0 || m.towers.audio === 0, 'the cut tower is not resident');
  const audioErr = await model.groundAudio(dogAudio, 'What is it?', { maxTokens: 4 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (m.towers.audio === 0) t.type(audioErr, NativeError, 'a call that needs the cut tower fails typed');
  const r = await model.generate('Hello', { maxTokens: 4 });
  t.ok(r.tokens.length > 0, 'text generation still works');
  const img = await model.groundImage(dogImage, 'Where?', { maxTokens: 4 });
  t.ok(typeof img.text === 'string', 'the image tower read before the cut still answers');
});

t.test('without the mapping (its own buffer per tower, as on a GPU): the same features, freed on release', async (t) => {
  const files = await tinyConverted('f32');
  const addon = native();
  const cancel = () => addon.createCancel();
  const load = (useMmap: boolean) =>
    addon.loadModel(
      { ...files, encodersOnGpu: false, useMmap, contextSize: 256, batchSize: 64, threads: 2, threadsBatch: 2, kvType: 'f32', flashAttn: 'auto' },
      cancel(),
    );
  const img = await decodeImage(dogImage);
  const encode = (nm: NativeModel) => nm.encodeImage(img.data, img.width, img.height, img.width * 3, cancel());
  const mapped = await load(true);
  t.teardown(() => mapped.dispose());
  const own = await load(false);
  t.teardown(() => own.dispose());
  t.equal(own.towersResident(), 0, 'nothing resident after load');
  const ref = await encode(mapped);
  const a = await encode(own);
  t.equal(own.towersResident(), 1, 'the encode read the image tower');
  t.ok(own.memory().towers[0] > 0, 'its bytes are counted');
  t.same(Buffer.from(a.buffer), Buffer.from(ref.buffer), 'the same features as from the mapping');
  await own.releaseTowers(7);
  t.same(own.memory().towers, [0, 0, 0], 'freed');
  const b = await encode(own);
  t.same(Buffer.from(b.buffer), Buffer.from(ref.buffer), 'read again: the same features');
});
