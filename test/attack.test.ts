// The attack corpus (issue #14): crafted bad inputs, generated here (1753 cases: LLM GGUF 353,
// encoders GGUF 383, converter checkpoints 278, media 185, API misuse 554), run in child
// processes so that a crash of the process is seen (test/attack/harness.ts; about 45 children,
// 1.5 min of CPU on two cores). Per case: a typed error of src/errors.ts or success (some cases
// require the error), no unhandled rejection, no ffmpeg child left running; per batch: the
// shared tiny model still gives a fresh model's greedy tokens. A self-test first checks that the
// harness does see crashes, hangs and the rest.
// GGPT_ATTACK_FILTER=<regex> runs the matching cases only.
import t from 'tap';
import { loadModel } from '../src/index';
import { CHECK_OPTIONS, CHECK_PROMPT, type Category } from './attack/case';
import { allCases } from './attack/cases';
import { selfTestBrokenModel, selfTestCases } from './attack/cases-selftest';
import { makeFixtures } from './attack/fixtures';
import { judge, runCorpus } from './attack/harness';

const fixtures = makeFixtures();

t.test('the harness sees crashes, hangs, untyped errors, unhandled rejections and a broken model', async (t) => {
  const env = await fixtures;
  const cases = selfTestCases();
  const r = await runCorpus(cases, env, { suite: 'selftest', batchSize: 100, caseTimeoutMs: 4000 });
  const verdict = (id: string) => judge(cases.find((c) => c.id === `selftest/${id}`)!, r.outcomes.get(`selftest/${id}`));
  for (const id of ['ok', 'typed', 'after-abort', 'last']) t.ok(verdict(id).pass, `${id} passes: ${verdict(id).summary}`);
  t.match(verdict('untyped').summary, /^untyped error TypeError: not one of ours/);
  t.match(verdict('unhandled').summary, /^unhandled rejection: Error: nobody waits for me/);
  t.match(verdict('abort').summary, /^PROCESS CRASH: in a batch after 4 earlier cases .*killed by SIGABRT.*; alone: killed by SIGABRT/);
  t.match(verdict('segv').summary, /^PROCESS CRASH: .*killed by SIGSEGV.*; alone: killed by SIGSEGV/);
  t.match(verdict('exit').summary, /^PROCESS CRASH: .*exit code 7.*; alone: exit code 7/);
  t.match(verdict('hang').summary, /^PROCESS CRASH: .*no report for 4 s \(hang\)/);
  t.equal(r.children, 1 + 4 + 4, 'one batch child, and per crash one child alone plus one for the rest of the batch');
  const broken = await runCorpus(selfTestBrokenModel(), env, { suite: 'selftest' });
  t.equal(broken.checks.length, 1);
  t.match(broken.checks[0].problem ?? '', /DisposedError/, 'a batch that broke the shared model fails its check');
});

t.test('attack corpus', async (t) => {
  const env = await fixtures;
  let cases = allCases(env);
  const counts: Record<string, number> = {};
  for (const c of cases) counts[c.category] = (counts[c.category] ?? 0) + 1;
  t.comment(
    `corpus: ${cases.length} cases (${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  t.ok(cases.length >= 500, 'at least 500 cases');
  const filter = process.env.GGPT_ATTACK_FILTER;
  if (filter) cases = cases.filter((c) => new RegExp(filter).test(c.id));

  const fresh = await loadModel({ model: env.modelDir, threads: 1, contextSize: 256 });
  const reference = (await fresh.generate(CHECK_PROMPT, CHECK_OPTIONS)).tokens;
  await fresh.dispose();

  const result = await runCorpus(cases, env);
  t.comment(`ran ${cases.length} cases in ${result.children} child processes, ${(result.ms / 1000).toFixed(1)} s`);

  const failed: string[] = [];
  for (const category of ['llm', 'encoders', 'convert', 'media', 'api'] as Category[]) {
    const mine = cases.filter((c) => c.category === category);
    if (mine.length === 0) continue;
    t.test(`${category}: ${mine.length} cases`, async (t) => {
      for (const c of mine) {
        const j = judge(c, result.outcomes.get(c.id));
        if (!j.pass) failed.push(`${c.id}${c.known ? ` [known: ${c.known}]` : ''}: ${j.summary}`);
        t.ok(j.pass, `${c.id}: ${j.summary}`);
      }
    });
  }
  t.test('the model is usable after every batch', async (t) => {
    for (const b of result.checks) {
      const name = `batch ${b.ids[0]} .. ${b.ids[b.ids.length - 1]} (${b.ids.length})`;
      t.notOk(b.problem, `${name}: ${b.problem ?? 'no problem'}`);
      if (b.baseline) t.same(b.baseline, reference, `${name}: a fresh model in the child gives the reference tokens`);
      if (b.after) t.same(b.after, reference, `${name}: the same tokens after the batch`);
    }
  });
  t.teardown(() => {
    if (failed.length > 0) console.error(`attack corpus: ${failed.length} failing cases\n  ${failed.join('\n  ')}`);
  });
});
