// One request, one native operation (docs/ARCHITECTURE.md "The path of one request"): a grounding
// call, a text generation, a chat turn and an embedding each start exactly one operation on the
// model's compute thread, and the towers' features are made once, kept native and reused from the
// feature cache (a sound's preprocessing with them).
// The addon's counters (native/addon/turn.cpp) say how many operations started and how many
// feature rows the towers made.
import t from 'tap';
import path from 'node:path';
import { mediaDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';
import { loadModel } from '../src/index';
import { engineOf } from '../src/engine';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const otherImage = path.join(mediaDir, 'test-1.jpeg');
const dogAudio = path.join(mediaDir, 'dog_audio.wav');

t.test('one native operation per request, features made once', async (t) => {
  const model = await loadModel({ model: await riggedModel([' It is at', ' [0.1, 0.2, 0.5, 0.6]', '.']), threads: 2 });
  t.teardown(() => model.dispose());
  const engine = engineOf(model);
  if (!engine) throw new Error('no engine');
  const counters = () => engine.native.counters();
  const info = model.info;
  const imageBytes = info.media.image.rows * info.embeddingSize * 4;

  const c0 = counters();
  const r1 = await model.groundImage(dogImage, 'Where is the dog?', { maxTokens: 8 });
  const c1 = counters();
  t.equal(r1.boxes.length, 1, 'the rigged answer has one box');
  // groundImage's result type has a non-optional image (strict TypeScript needs no '!')
  t.equal(r1.image.side, Math.max(r1.image.width, r1.image.height), 'the padded square of the image');
  t.equal(c1.operations - c0.operations, 1, 'groundImage: one native operation (towers, prompt and generation)');
  t.equal(c1.features - c0.features, 1, 'the image tower made one set of features');
  t.equal(c1.featureBytes - c0.featureBytes, imageBytes, `of rows x width x 4 = ${imageBytes} bytes`);
  t.equal(r1.timings.cachedMedia, 0);
  t.ok(r1.timings.encodeMs > 0, 'tower time comes back with the result');

  const r2 = await model.groundImage(dogImage, 'And the tail?', { maxTokens: 8 });
  const c2 = counters();
  t.equal(c2.operations - c1.operations, 1, 'a second question: one operation');
  t.equal(c2.features - c1.features, 0, 'no tower run: the features come from the cache');
  t.equal(r2.timings.cachedMedia, 1);
  t.equal(r2.timings.encodeMs, 0);
  t.same(r2.boxes, r1.boxes, 'same answer from the cached features');

  const text = await model.generate('Hello', { maxTokens: 4 });
  const c3 = counters();
  t.ok(text.tokens.length > 0);
  t.equal(c3.operations - c2.operations, 1, 'generate: one operation (prompt and generation)');

  const chat = model.createChat({ image: otherImage });
  await chat.send('What is it?', { maxTokens: 4 });
  await chat.send('Where?', { maxTokens: 4 });
  const c4 = counters();
  t.equal(c4.operations - c3.operations, 2, 'two chat turns: two operations');
  t.equal(c4.features - c3.features, 1, 'the chat image was encoded once');

  const e = await model.embedImage(otherImage);
  const c5 = counters();
  t.equal(c5.operations - c4.operations, 1, 'embedImage: one operation');
  t.equal(c5.features - c4.features, 0, 'already in the cache');
  t.equal(e.data.length, info.media.image.rows * info.embeddingSize, 'embedImage still returns the rows as a Float32Array');
  t.equal(e.timings.encodeMs, 0);
});

t.test('a sound: decoded in JS, preprocessed and encoded in the one operation, both skipped when cached', async (t) => {
  const model = await loadModel({ model: await riggedModel([' A dog barks.']), threads: 2 });
  t.teardown(() => model.dispose());
  const engine = engineOf(model);
  if (!engine) throw new Error('no engine');
  const c0 = engine.native.counters();
  const a = await model.groundAudio(dogAudio, 'What is it?', { maxTokens: 4 });
  const c1 = engine.native.counters();
  t.equal(c1.operations - c0.operations, 1, 'one operation: fbank, tower, prompt, generation');
  t.equal(c1.features - c0.features, 1);
  t.ok(a.timings.preprocessMs > 0, 'the fbank time comes back with the result');
  t.ok(a.audio.clips.length > 0, 'clip windows reported (non-optional in groundAudio’s result type)');
  const b = await model.groundAudio(dogAudio, 'And now?', { maxTokens: 4 });
  const c2 = engine.native.counters();
  t.equal(c2.operations - c1.operations, 1);
  t.equal(c2.features - c1.features, 0, 'cached: no tower run');
  t.equal(b.timings.preprocessMs, 0, 'cached: no preprocessing either');
  t.same(b.audio, a.audio, 'the clip windows of the cached sound are reported again');
});

t.test('without a feature cache each request runs the tower', async (t) => {
  const model = await loadModel({ model: await riggedModel([' [0.1, 0.2, 0.5, 0.6]']), threads: 2, featureCacheBytes: 0 });
  t.teardown(() => model.dispose());
  const engine = engineOf(model);
  if (!engine) throw new Error('no engine');
  const c0 = engine.native.counters();
  const a = await model.embedImage(dogImage);
  const b = await model.embedImage(dogImage);
  const c1 = engine.native.counters();
  t.equal(c1.features - c0.features, 2, 'two tower runs');
  t.same(a.data, b.data, 'the same features');
  t.equal(c1.operations - c0.operations, 2);
});
