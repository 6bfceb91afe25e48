// Parallel sequences (loadModel({ parallel }), docs/ARCHITECTURE.md "Parallel sequences"):
// concurrent calls on one model decode together (their steps share one batch: the scheduler's
// counters show it) and give the same greedy answers as the same calls run alone; aborting one
// leaves the others running; chats keep their KV prefix on their own sequence; dispose() during
// activity; more calls than sequences wait.
import t from 'tap';
import path from 'node:path';
import { mediaDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { AbortError, DisposedError, InvalidInputError, loadModel, type Model } from '../src/index';
import { engineOf } from '../src/engine';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const otherImage = path.join(mediaDir, 'test-1.jpeg');

const counters = (m: Model) => {
  const e = engineOf(m);
  if (!e) throw new Error('no engine');
  return e.native.counters();
};

async function tiny(parallel: number): Promise<Model> {
  const files = await tinyConverted('f32');
  return loadModel({ model: files, parallel, threads: 2, contextSize: 1024, kvType: 'f32' });
}

// text and image requests; greedy, fixed lengths (the tiny model's random weights rarely stop early)
type Req = { kind: 'text' | 'image'; prompt: string; image?: string; maxTokens: number };
const requests: Req[] = [
  { kind: 'text', prompt: 'Tell me about dogs.', maxTokens: 24 },
  { kind: 'image', prompt: 'Where is the dog?', image: dogImage, maxTokens: 16 },
  { kind: 'text', prompt: 'What is the capital of France? Answer briefly.', maxTokens: 12 },
  { kind: 'image', prompt: 'Describe the picture in detail.', image: otherImage, maxTokens: 20 },
  { kind: 'text', prompt: 'Count to ten.', maxTokens: 30 },
  { kind: 'image', prompt: 'What color is the dog?', image: dogImage, maxTokens: 8 },
];

function ask(m: Model, r: Req, signal?: AbortSignal, onToken?: (piece: string) => void): Promise<{ tokens: number[]; text: string }> {
  const o = { maxTokens: r.maxTokens, ...(signal ? { signal } : {}), ...(onToken ? { onToken } : {}) };
  return r.kind === 'text' ? m.generate(r.prompt, o) : m.groundImage(r.image as string, r.prompt, o);
}

t.test('parallel: options and info', async (t) => {
  const files = await tinyConverted('f32');
  for (const bad of [0, 65, 1.5, '2']) {
    await t.rejects(loadModel({ model: files, parallel: bad as number }), InvalidInputError, `parallel ${String(bad)} is refused`);
  }
  const m = await tiny(3);
  t.teardown(() => m.dispose());
  t.equal(m.info.parallel, 3);
  t.ok(m.info.contextSize >= 1024, 'contextSize is per conversation');
});

t.test('concurrent calls decode together and answer as when run alone', async (t) => {
  const alone = await tiny(1);
  const expected: { tokens: number[]; text: string }[] = [];
  for (const r of requests) expected.push(await ask(alone, r));
  await alone.dispose();

  const m = await tiny(4);
  t.teardown(() => m.dispose());
  const c0 = counters(m);
  const streamed = requests.map(() => '');
  const got = await Promise.all(requests.map((r, i) => ask(m, r, undefined, (p) => (streamed[i] += p))));
  const c1 = counters(m);
  requests.forEach((r, i) => {
    t.same(got[i].tokens, expected[i].tokens, `${r.kind} "${r.prompt}": same greedy tokens as alone`);
    t.equal(got[i].text, expected[i].text, 'same text');
    t.equal(streamed[i].trim(), got[i].text, 'its stream is its own answer');
  });
  t.equal(c1.maxRunning - 0, 4, 'four turns ran in one step (parallel 4, six calls)');
  t.ok(c1.sharedSteps - c0.sharedSteps > 10, `decode steps were shared (${c1.sharedSteps - c0.sharedSteps} of ${c1.steps - c0.steps})`);
  const totalTokens = got.reduce((n, g) => n + g.tokens.length, 0);
  t.ok(c1.steps - c0.steps < totalTokens, `fewer steps (${c1.steps - c0.steps}) than generated tokens (${totalTokens})`);
});

t.test('aborting one call leaves the others running', async (t) => {
  const m = await tiny(3);
  t.teardown(() => m.dispose());
  const alone = [];
  for (const r of [requests[0], requests[4]]) alone.push(await ask(m, r));
  const ac = new AbortController();
  let pieces = 0;
  const victim = m.generate('Write a long story about a cat.', {
    maxTokens: 200,
    signal: ac.signal,
    onToken: () => {
      if (++pieces === 3) ac.abort();
    },
  });
  const others = Promise.all([ask(m, requests[0]), ask(m, requests[4])]);
  await t.rejects(victim, AbortError, 'the aborted call rejects with AbortError');
  const [a, b] = await others;
  t.same(a.tokens, alone[0].tokens, 'the first other call is unchanged');
  t.same(b.tokens, alone[1].tokens, 'the second other call is unchanged');
  // the model goes on
  t.same((await ask(m, requests[2])).tokens.length, requests[2].maxTokens);
});

t.test('more calls than sequences wait; chats keep their prefix on their sequence', async (t) => {
  const m = await tiny(3);
  t.teardown(() => m.dispose());
  const a = m.createChat({ image: dogImage });
  const b = m.createChat();
  await Promise.all([a.send('Where is the dog?', { maxTokens: 6 }), b.send('Hello there.', { maxTokens: 6 })]);
  // a third conversation at the same time takes the free sequence, not a chat's: the chats'
  // second turns find their earlier turns in the cache
  const [a2, b2] = await Promise.all([
    a.send('And its tail?', { maxTokens: 6 }),
    b.send('How are you?', { maxTokens: 6 }),
    m.generate('Something else entirely.', { maxTokens: 4 }),
  ]);
  t.ok(a2.timings.reusedTokens > 576, `the image chat reused its prefix (${a2.timings.reusedTokens} positions)`);
  t.ok(b2.timings.reusedTokens > 20, `the text chat reused its prefix (${b2.timings.reusedTokens} positions)`);
  const n = 7;
  const all = await Promise.all(Array.from({ length: n }, (_, i) => m.generate(`Question number ${i}?`, { maxTokens: 5 })));
  t.equal(all.length, n, 'seven calls on three sequences all answered');
  t.equal(counters(m).maxRunning, 3, 'never more than three at once');
});

t.test('the same new image asked about by concurrent calls goes through the tower once', async (t) => {
  const m = await tiny(3);
  t.teardown(() => m.dispose());
  const prompts = ['Where is the dog?', 'What is it doing?', 'Is it happy?'];
  const c0 = counters(m);
  const got = await Promise.all(prompts.map((p) => m.groundImage(dogImage, p, { maxTokens: 4 })));
  const c1 = counters(m);
  t.equal(c1.features - c0.features, 1, 'one tower run for three calls');
  t.equal(got.filter((r) => r.timings.encodeMs > 0).length, 1, 'one call reports the tower time');
  const again = await m.groundImage(dogImage, prompts[1], { maxTokens: 4 });
  t.same(again.tokens, got[1].tokens, 'same answer with the cached features');
  t.equal(counters(m).features, c1.features, 'and no tower run');
});

t.test('dispose() during parallel activity', async (t) => {
  const m = await tiny(3);
  const started: Promise<unknown>[] = [];
  let tokens = 0;
  for (let i = 0; i < 5; i++) {
    started.push(m.generate(`Story ${i}:`, { maxTokens: 400, onToken: () => void tokens++ }));
  }
  while (tokens < 6) await new Promise((r) => setTimeout(r, 5));
  const settled = Promise.allSettled(started);
  await m.dispose();
  for (const r of await settled) {
    t.ok(r.status === 'rejected' && r.reason instanceof DisposedError, 'every call, running or waiting, rejects with DisposedError');
  }
  t.ok(m.disposed);
});
