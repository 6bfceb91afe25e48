// Environment teardown (docs/RELIABILITY.md, "Environment teardown"): Worker threads holding a
// model are terminated during load, encode, prompt and generation, end without dispose(), load
// concurrently and are all terminated; the main thread calls process.exit() during an operation.
// Each scenario runs scripts/teardown-stress.mjs in a child process, so that a crash (abort,
// segfault) shows as its exit code or signal instead of ending tap. The addon reports each
// teardown on stderr (GGPT_DEBUG_TEARDOWN=1): the tests require that some of them found the
// operation still running, i.e. that the cancel-and-wait path ran.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { tinyConverted } from './helpers/converted';
import { mediaDir } from './helpers/golden';

const root = path.resolve(__dirname, '..');
const script = path.join(root, 'scripts', 'teardown-stress.mjs');
// 50 per stage by hand (docs/RELIABILITY.md); fewer here to keep the suite short
const N = Number(process.env.GGPT_TEARDOWN_N ?? 10);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runScript(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: root, env: { ...process.env, GGPT_DEBUG_TEARDOWN: '1' }, maxBuffer: 64 << 20, timeout: 540_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

// biome-ignore lint/suspicious/noExplicitAny: messages from the worker are checked field by field
const summaries = (r: Run): any[] =>
  r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

// teardown reports: [operations running, models] per environment
const teardowns = (r: Run): [number, number][] =>
  [...r.stderr.matchAll(/environment teardown: (\d+) operation\(s\) running, \d+ unsettled, (\d+) model\(s\)/g)].map((m) => [Number(m[1]), Number(m[2])]);

t.test('worker and process teardown', async (t) => {
  const files = await tinyConverted();
  const model = ['--llm', files.llm, '--encoders', files.encoders, '--image', path.join(mediaDir, 'dog_image.jpg')];

  const survived = (t: Test, r: Run, what: string) => {
    t.equal(r.signal, null, `${what}: no signal`);
    t.equal(r.code, 0, `${what}: exit code 0`);
    if (r.code !== 0 || r.signal) t.comment(r.stderr.slice(-4000));
  };

  for (const stage of ['load', 'tower', 'encode', 'prompt', 'generate', 'parallel']) {
    t.test(`terminate during ${stage}, ${N} times`, async (t) => {
      const r = await runScript(['--scenario', 'terminate', '--stages', stage, '--n', String(N), ...model]);
      survived(t, r, stage);
      const [s] = summaries(r);
      t.ok(s, 'a summary');
      if (!s) return;
      t.same(s.outcomes, { terminated: N }, 'every worker reached the stage and was terminated there');
      const td = teardowns(r);
      t.equal(td.length, N, 'one teardown per worker');
      const running = td.filter(([ops]) => ops > 0).length;
      t.ok(running > 0, `the operation was still running at ${running} of ${N} teardowns`);
      // a compute thread (and its OpenMP team) left per worker would add >= N threads
      t.ok(s.threadsAfter <= s.threadsBefore + 3, `threads ${s.threadsBefore} -> ${s.threadsAfter}`);
      t.comment(`${stage}: ${s.ms} ms, rss ${s.rssBeforeMB} -> ${s.rssAfterMB} MB, operation running at ${running}/${N} teardowns`);
    });
  }

  t.test('workers that end without dispose()', async (t) => {
    const n = Math.max(2, Math.ceil(N / 3));
    const r = await runScript(['--scenario', 'natural', '--n', String(n), '--main-logger', '1', ...model]);
    survived(t, r, 'natural end');
    const [s] = summaries(r);
    t.same(s?.outcomes, { completed: n }, 'each generated and ended');
    const lines = s?.mainLoggerLines;
    t.ok(
      lines && lines.afterOwnLoad > lines.afterWorkers,
      `the main thread's log sink outlived the Workers' teardowns (${lines?.afterWorkers} -> ${lines?.afterOwnLoad} lines)`,
    );
    const td = teardowns(r);
    // then the main environment's own (its model disposed)
    t.same(
      td.slice(0, n),
      Array.from({ length: n }, () => [0, 1]),
      'each teardown freed its model, with nothing running',
    );
    t.ok(s && s.threadsAfter <= s.threadsBefore + 3, `threads ${s?.threadsBefore} -> ${s?.threadsAfter}`);
  });

  t.test('workers loading concurrently, all terminated', async (t) => {
    const n = Math.max(4, N);
    const r = await runScript(['--scenario', 'concurrent', '--n', String(n), ...model]);
    survived(t, r, 'concurrent');
    const [s] = summaries(r);
    t.same(s?.outcomes, { terminated: n }, 'all reached load progress and were terminated');
    t.equal(teardowns(r).length, n, 'one teardown per worker');
    t.ok(s && s.threadsAfter <= s.threadsBefore + 3, `threads ${s?.threadsBefore} -> ${s?.threadsAfter}`);
  });

  t.test('process.exit() on the main thread during an operation', async (t) => {
    const n = Math.max(2, Math.ceil(N / 5));
    const r = await runScript(['--scenario', 'exit-loop', '--stages', 'encode,prompt,generate,parallel', '--n', String(n), '--code', '7', ...model]);
    survived(t, r, 'exit-loop');
    const ss = summaries(r);
    t.equal(ss.length, 4, 'four stages');
    for (const s of ss) {
      t.same(s.codes, { 'code 7': n }, `${s.stage}: every child exited with the requested code 7 (none aborted)`);
      t.comment(`${s.stage}: process ended at most ${s.exitMsMax} ms after process.exit()`);
    }
  });
});
