// full/text_only at f32: logits, greedy ids, teacher-forced step logits, input embeddings; the
// public generate() with streaming, stop strings and KV-cache reuse.
import t from 'tap';
import { allclose, goldenCase, readExpected } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { loadModel } from '../src/index';
import { native, type NativeModel } from '../src/native';

const c = goldenCase('full/text_only');
const out = c.outputs;
const promptIds: number[] = c.prompt_token_ids;
const greedyIds: number[] = c.greedy_token_ids;
const margins: number[] = c.greedy_top1_top2_margins;

t.test('full/text_only', async (t) => {
  const got = await tinyConverted();
  const addon = native();
  const nm: NativeModel = await addon.loadModel(
    { llm: got.llm, encodersOnGpu: false, useMmap: true, contextSize: 512, batchSize: 64, threads: 2, threadsBatch: 2, kvType: 'f32', flashAttn: 'auto' },
    addon.createCancel(),
  );
  t.teardown(() => nm.dispose());
  const nVocab = nm.info().nVocab;

  let logitError = 0;
  t.test('last-position logits within tolerance', async (t) => {
    const r = await nm.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
    t.same([r.nPrompt, r.nReused, r.nEvaluated], [promptIds.length, 0, promptIds.length]);
    const logits = nm.logits();
    t.equal(logits.length, nVocab);
    const exp = readExpected(out.logits_last.file).data as Float32Array;
    const rep = allclose(logits, exp, out.logits_last.atol, out.logits_last.rtol);
    t.comment(`logits_last max |diff| = ${rep.maxAbs.toExponential(3)} (atol ${out.logits_last.atol}, rtol ${out.logits_last.rtol})`);
    t.ok(rep.ok, 'allclose');
    logitError = rep.maxAbs;
  });

  t.test('greedy ids equal up to the first low-margin step', async (t) => {
    // ids must agree exactly while the golden top-1/top-2 margin exceeds twice our logit error
    let n = margins.findIndex((m) => m <= 2 * logitError);
    if (n < 0) n = greedyIds.length;
    t.comment(`comparing ${n} of ${greedyIds.length} greedy ids (smallest margin ${Math.min(...margins).toFixed(4)})`);
    await nm.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
    const g = await nm.generate(
      { maxTokens: 16, temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false },
      addon.createCancel(),
    );
    t.equal(g.stopReason, 'max_tokens');
    t.same(Array.from(g.tokens).slice(0, n), greedyIds.slice(0, n));
    t.equal(nm.nPast(), promptIds.length + 15, 'the generated tokens but the last are in the cache');
  });

  t.test('teacher-forced step logits within tolerance', async (t) => {
    const exp = readExpected(out.greedy_step_logits.file).data as Float32Array;
    let worst = 0;
    for (let k = 0; k < greedyIds.length; k++) {
      const r = await nm.prompt([{ tokens: Int32Array.from([...promptIds, ...greedyIds.slice(0, k)]) }], addon.createCancel());
      // the cache holds the previous step: only the new position is evaluated
      if (k > 0) t.ok(r.nEvaluated <= 1, `step ${k} reuses the prefix (${r.nEvaluated} evaluated)`);
      const rep = allclose(nm.logits(), exp.subarray(k * nVocab, (k + 1) * nVocab), out.greedy_step_logits.atol, out.greedy_step_logits.rtol);
      worst = Math.max(worst, rep.maxAbs);
      t.ok(rep.ok, `step ${k}: max |diff| ${rep.maxAbs.toExponential(3)}`);
    }
    t.comment(`greedy_step_logits worst max |diff| = ${worst.toExponential(3)}`);
  });

  t.test('inputs_embeds are the token_embd rows', async (t) => {
    const emb = nm.tokenEmbeddings(Int32Array.from(promptIds));
    const exp = readExpected(out.inputs_embeds.file).data as Float32Array;
    const rep = allclose(emb, exp, out.inputs_embeds.atol, out.inputs_embeds.rtol);
    t.comment(`inputs_embeds max |diff| = ${rep.maxAbs.toExponential(3)}`);
    t.ok(rep.ok);
    t.throws(() => nm.tokenEmbeddings(Int32Array.from([nVocab])), { code: 'INVALID_ARGUMENT' });
  });

  t.test('token embeddings of a quantised model are its dequantised rows', async (t) => {
    const q = await tinyConverted('q8_0');
    const qm = await addon.loadModel(
      { llm: q.llm, encodersOnGpu: false, useMmap: true, contextSize: 256, batchSize: 64, threads: 2, threadsBatch: 2, kvType: 'f32', flashAttn: 'auto' },
      addon.createCancel(),
    );
    t.teardown(() => qm.dispose());
    t.match(qm.info().llmDescription, /Q8_0/);
    const ids = Int32Array.from({ length: nVocab }, (_, i) => i);
    const ref = nm.tokenEmbeddings(ids);
    const got8 = qm.tokenEmbeddings(ids);
    // q8_0: blocks of 32 with scale d = amax/127 stored as f16, so each value is within half a
    // step of the f32 one, plus up to 127 * d * 2^-11 for the rounded scale (~0.12 half-steps)
    let worst = 0;
    for (let b = 0; b < ref.length; b += 32) {
      let amax = 0;
      for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(ref[i]));
      for (let i = b; i < b + 32; i++) worst = Math.max(worst, Math.abs(got8[i] - ref[i]) / (amax / 127 / 2 + 1e-7));
    }
    t.ok(worst <= 1.15, `within half a quantisation step (worst ${worst.toFixed(3)} steps/2)`);
  });

  t.test('an embedding span gives the same logits as the token span', async (t) => {
    const ids = Int32Array.from(promptIds);
    await nm.prompt([{ tokens: ids }], addon.createCancel());
    const ref = nm.logits();
    const emb = nm.tokenEmbeddings(ids.subarray(10, 40));
    const r = await nm.prompt([{ tokens: ids.subarray(0, 10) }, { embd: emb, rows: 30, id: 7n }, { tokens: ids.subarray(40) }], addon.createCancel());
    t.equal(r.nReused, 10, 'the token prefix is reused, the embedding rows are new');
    const rep = allclose(nm.logits(), ref, 1e-4, 1e-4);
    t.ok(rep.ok, `max |diff| ${rep.maxAbs.toExponential(3)}`);
    const again = await nm.prompt([{ tokens: ids.subarray(0, 10) }, { embd: emb, rows: 30, id: 7n }, { tokens: ids.subarray(40) }], addon.createCancel());
    t.same([again.nReused, again.nEvaluated], [ids.length, 0], 'same embd id: everything reused');
    // bad spans are refused before libllama sees them, and the cache is untouched
    await t.rejects(nm.prompt([{ tokens: Int32Array.from([1, nVocab]) }], addon.createCancel()), {
      code: 'INVALID_ARGUMENT',
      message: /token 1009 at index 1/,
    });
    await t.rejects(nm.prompt([{ embd: new Float32Array(10), rows: 1, id: 1n }], addon.createCancel()), { code: 'INVALID_ARGUMENT' });
    await t.rejects(nm.prompt([], addon.createCancel()), { code: 'INVALID_ARGUMENT', message: /empty/ });
    await t.rejects(nm.prompt([{ tokens: new Int32Array(600).fill(5) }], addon.createCancel()), { code: 'CONTEXT_FULL' });
    t.equal(nm.nPast(), ids.length);
  });
});

t.test('Model.generate', async (t) => {
  const got = await tinyConverted();
  const model = await loadModel({ model: { llm: got.llm }, kvType: 'f32', contextSize: 512, threads: 2 });
  t.teardown(() => model.dispose());
  const user: string = c.user_text;

  t.test('greedy answer of the golden prompt', async (t) => {
    t.equal(model.promptText(user), c.prompt);
    const pieces: string[] = [];
    const r = await model.generate(user, { maxTokens: 16, stop: [], onToken: (p) => pieces.push(p) });
    t.same(r.tokens, greedyIds);
    t.equal(r.text, String(c.greedy_text).trim());
    t.equal(r.stopReason, 'max_tokens');
    t.equal(pieces.join('').trim(), r.text, 'streamed pieces make up the text');
    t.equal(r.timings.promptTokens + r.timings.reusedTokens, promptIds.length);
    t.equal(r.timings.generatedTokens, 16);
    t.ok(r.timings.generateTokensPerSecond > 0);
  });

  t.test('stop strings cut the text and are never streamed', async (t) => {
    // golden text: "<key\uFFFD=\uFFFD tjordembeds...": 'j' is held back until "jord" completes
    const pieces: string[] = [];
    const r = await model.generate(user, { maxTokens: 16, stop: ['jord'], onToken: (p) => pieces.push(p) });
    t.equal(r.stopReason, 'stop');
    t.same(r.tokens, greedyIds.slice(0, 8), 'stops at the token that completes the stop string');
    t.equal(r.text, '<key\uFFFD=\uFFFD t');
    t.equal(pieces.join(''), '<key\uFFFD=\uFFFD t');
    t.notOk(pieces.some((p) => p.includes('j')));
  });

  t.test('generateStream yields the same pieces', async (t) => {
    const pieces: string[] = [];
    const s = model.generateStream(user, { maxTokens: 16, stop: [] });
    for await (const p of s) pieces.push(p);
    const r = await s.result;
    t.same(r.tokens, greedyIds);
    t.equal(pieces.join('').trim(), r.text);
    t.ok(pieces.length > 1);
  });

  t.test('leaving a stream early stops generation', async (t) => {
    const s = model.generateStream(user, { maxTokens: 400, stop: [] });
    let n = 0;
    for await (const p of s) {
      void p;
      if (++n === 2) break;
    }
    const r = await s.result;
    t.equal(r.stopReason, 'aborted');
    t.ok(r.tokens.length < 400);
    const again = await model.generate(user, { maxTokens: 16, stop: [] });
    t.same(again.tokens, greedyIds, 'still usable');
  });

  t.test('a later turn reuses the cached conversation', async (t) => {
    const first = await model.generate(user, { maxTokens: 16, stop: [] });
    const history = [{ user, assistant: first.text }];
    const second = await model.generate('And of Italy?', { maxTokens: 4, stop: [], history });
    t.ok(second.timings.reusedTokens >= promptIds.length, `reused ${second.timings.reusedTokens} positions`);
    t.equal(model.promptText('And of Italy?', { history }), `${c.prompt} ${first.text}###Human: And of Italy?###Assistant:`);
  });

  t.test('a throwing onToken rejects with its error and stops', async (t) => {
    let calls = 0;
    await t.rejects(
      model.generate(user, {
        maxTokens: 100,
        stop: [],
        onToken: () => {
          calls++;
          throw new Error('boom');
        },
      }),
      { message: 'boom' },
    );
    t.ok(calls >= 1 && calls < 100);
    t.same((await model.generate(user, { maxTokens: 16, stop: [] })).tokens, greedyIds);
  });

  t.test('generation stops when the context is full', async (t) => {
    const nCtx = model.info.contextSize;
    let k = 1;
    while (model.tokenize(model.promptText('word '.repeat(k + 1))).length <= nCtx - 3) k++;
    const n = model.tokenize(model.promptText('word '.repeat(k))).length;
    const r = await model.generate('word '.repeat(k), { maxTokens: 100, stop: [] });
    t.equal(r.stopReason, 'context_full');
    t.equal(r.tokens.length, nCtx - n + 1, 'fills the context, plus the token sampled from the last position');
  });

  t.test('sampling is reproducible with a seed', async (t) => {
    const a = await model.generate(user, { maxTokens: 12, stop: [], temperature: 0.8, topK: 50, topP: 0.9, seed: 42 });
    const b = await model.generate(user, { maxTokens: 12, stop: [], temperature: 0.8, topK: 50, topP: 0.9, seed: 42 });
    t.same(a.tokens, b.tokens);
    const p = await model.generate(user, { maxTokens: 16, stop: [], repeatPenalty: 1.5 });
    t.equal(p.tokens.length, 16);
  });
});
