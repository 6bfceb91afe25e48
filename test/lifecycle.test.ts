// Abort, dispose and the call queue: the model stays usable after an abort, disposing is safe at
// any time, and nothing interleaves.
import t from 'tap';
import { goldenCase } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { AbortError, DisposedError, loadModel, type Model } from '../src/index';
import { native } from '../src/native';

const c = goldenCase('full/text_only');
const greedyIds: number[] = c.greedy_token_ids;
const user: string = c.user_text;
const model0Ids: number[] = c.prompt_token_ids;

t.test('lifecycle', async (t) => {
  const got = await tinyConverted();
  // batchSize 1: a long prompt takes many native batches, each a point where abort is checked
  const open = (batchSize = 1) => loadModel({ model: { llm: got.llm }, kvType: 'f32', contextSize: 2048, batchSize, threads: 2 });
  const longText = 'word '.repeat(800); // ~1650 tokens of the tiny vocabulary

  t.test('abort during prompt processing', async (t) => {
    const model = await open();
    t.teardown(() => model.dispose());
    const ac = new AbortController();
    let progress = 0;
    const started = Date.now();
    await t.rejects(
      model.generate(longText, {
        maxTokens: 4,
        signal: ac.signal,
        onPromptProgress: (f) => {
          progress = f;
          ac.abort();
        },
      }),
      AbortError,
    );
    t.ok(progress > 0 && progress < 1, `stopped part-way (at ${(progress * 100).toFixed(1)}%)`);
    t.comment(`rejected ${Date.now() - started} ms after starting`);
    const r = await model.generate(user, { maxTokens: 16, stop: [] });
    t.same(r.tokens, greedyIds, 'same greedy ids as a fresh model afterwards');
  });

  t.test('abort during generation', async (t) => {
    const model = await open(64);
    t.teardown(() => model.dispose());
    const ac = new AbortController();
    let tokens = 0;
    const err = await model
      .generate(user, {
        maxTokens: 1000,
        stop: [],
        signal: ac.signal,
        onToken: () => {
          if (++tokens === 3) ac.abort(new Error('enough'));
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    t.type(err, AbortError);
    t.equal(((err as AbortError).cause as Error).message, 'enough', 'the signal reason is the cause');
    t.ok(tokens < 1000, `stopped after ${tokens} tokens`);
    t.same((await model.generate(user, { maxTokens: 16, stop: [] })).tokens, greedyIds, 'still usable');
  });

  t.test('load progress and abort during load', async (t) => {
    const seen: number[] = [];
    const model = await loadModel({ model: { llm: got.llm }, onProgress: (f) => seen.push(f) });
    await model.dispose();
    t.ok(seen.length > 0 && seen.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= seen[i - 1])), 'monotonic fractions in [0, 1]');
    t.equal(seen[seen.length - 1], 1);
    const ac = new AbortController();
    await t.rejects(loadModel({ model: { llm: got.llm }, signal: ac.signal, onProgress: () => ac.abort() }), AbortError);
  });

  t.test('an already-aborted signal rejects at once', async (t) => {
    const model = await open(64);
    t.teardown(() => model.dispose());
    const ac = new AbortController();
    ac.abort();
    await t.rejects(model.generate(user, { signal: ac.signal }), AbortError);
    await t.rejects(loadModel({ model: { llm: got.llm }, signal: ac.signal }), AbortError);
  });

  t.test('calls are queued, never interleaved; a queued call can be aborted while waiting', async (t) => {
    const model = await open(64);
    t.teardown(() => model.dispose());
    const ac = new AbortController();
    const order: string[] = [];
    const a = model.generate(user, { maxTokens: 16, stop: [], onToken: () => order.push('a') }).then((r) => (order.push('a-done'), r));
    const b = model.generate(user, { maxTokens: 16, stop: [], signal: ac.signal });
    const c2 = model.generate(user, { maxTokens: 16, stop: [], onToken: () => order.push('c') }).then((r) => (order.push('c-done'), r));
    ac.abort();
    await t.rejects(b, AbortError);
    const [ra, rc] = await Promise.all([a, c2]);
    t.same(ra.tokens, greedyIds);
    t.same(rc.tokens, greedyIds);
    t.equal(order.indexOf('a-done'), 16, 'a ran to completion first');
    t.ok(order.slice(17).every((x) => x.startsWith('c')));
  });

  t.test('dispose while generating is safe', async (t) => {
    const model = await open(64);
    let disposing: Promise<void> | undefined;
    const gen = model.generate(user, {
      maxTokens: 1000,
      stop: [],
      onToken: () => {
        disposing ??= model.dispose();
      },
    });
    const queued = model.generate(user, { maxTokens: 4 });
    const [g, q] = await Promise.allSettled([gen, queued]);
    t.ok(g.status === 'rejected' && g.reason instanceof DisposedError, 'the running call rejects with DisposedError');
    t.ok(q.status === 'rejected' && q.reason instanceof DisposedError, 'the queued call rejects with DisposedError');
    await disposing;
    t.equal(model.disposed, true);
  });

  t.test('double dispose is a no-op; use after dispose throws DisposedError', async (t) => {
    const model: Model = await open(64);
    await model.dispose();
    await model.dispose();
    await model[Symbol.asyncDispose]();
    t.throws(() => model.tokenize('x'), DisposedError);
    t.throws(() => model.info, DisposedError);
    t.throws(() => model.detokenize([1]), DisposedError);
    await t.rejects(model.generate(user), DisposedError);
    const s = model.generateStream(user);
    await t.rejects(s.result, DisposedError);
    await t.rejects(
      (async () => {
        for await (const p of s) void p;
      })(),
      DisposedError,
    );
  });

  t.test('the event loop keeps turning while the core works', async (t) => {
    const model = await open();
    t.teardown(() => model.dispose());
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await model.generate(longText, { maxTokens: 8, stop: [] });
    clearInterval(timer);
    t.ok(ticks > 5, `${ticks} timer ticks during prompt + generation`);
  });

  t.test('raw addon: BUSY for overlapping operations, DISPOSED after dispose', async (t) => {
    const addon = native();
    const nm = await addon.loadModel(
      { llm: got.llm, encodersOnGpu: false, useMmap: true, contextSize: 2048, batchSize: 1, threads: 2, threadsBatch: 2, kvType: 'f16', flashAttn: 'auto' },
      addon.createCancel(),
    );
    const ids = Int32Array.from(model0Ids);
    const first = nm.prompt([{ tokens: ids }], addon.createCancel());
    await t.rejects(nm.prompt([{ tokens: ids }], addon.createCancel()), { code: 'BUSY' });
    t.throws(() => nm.logits(), { code: 'BUSY' });
    await t.rejects(nm.prompt([{ tokens: ids }], {} as never), { code: 'INVALID_ARGUMENT' }, 'not a NativeCancel');
    await t.rejects(nm.prompt([{ tokens: Int32Array.from([5000]) }], addon.createCancel()), { code: 'BUSY' });
    t.equal(nm.tokenize('Hello world', true, true).length, 9, 'tokenize only reads the model: fine while busy');
    const disposed = nm.dispose();
    await first; // the running operation finishes (or is cancelled) before the memory goes
    await disposed;
    await nm.dispose();
    t.throws(() => nm.tokenize('x', true, true), { code: 'DISPOSED' });
    await t.rejects(nm.prompt([{ tokens: ids }], addon.createCancel()), { code: 'DISPOSED' });
  });

  t.test('await using disposes at the end of the scope', async (t) => {
    let kept: Model | undefined;
    {
      const model = await open(64);
      kept = model;
      try {
        t.equal(model.tokenize('Hello world').length, 9);
      } finally {
        await model[Symbol.asyncDispose]();
      }
    }
    t.equal(kept.disposed, true);
  });
});
