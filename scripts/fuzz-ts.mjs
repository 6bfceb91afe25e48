#!/usr/bin/env node
// Long runs of the TypeScript fuzz properties (test/attack/fuzz-props.ts; the tap suite runs the
// same ones briefly in test/fuzz-*.test.ts):
//
//   node scripts/fuzz-ts.mjs --time 3600                 all targets, round robin, for an hour
//   node scripts/fuzz-ts.mjs --time 600 pickle-ops zip-mutate
//   node scripts/fuzz-ts.mjs --runs 5000 --seed 42 gguf-mutate   a fixed number of runs, reproducible
//   node scripts/fuzz-ts.mjs --list
//
// Properties run in a worker thread in chunks of runs, each chunk from its own seed (printed).
// A chunk that makes no progress while the process spends --hang seconds of CPU time (an endless
// loop), or for 10 x --hang seconds of wall time (a wait), or that ends the worker before it
// finishes (out of memory; or a promise that never settles, which empties the worker's event
// loop) is reported with its target and seed and the run goes on from the next seed. CPU time,
// not wall time: at nice 19 beside other work a chunk can wait minutes for a core (a 267-run
// chunk that takes 2 s of CPU was reported as a 60 s hang that way).
// Prints runs and failures per target; exits 1 when anything failed. Counterexamples go in
// test/fuzz-*.test.ts as regression cases.
import { createRequire } from 'node:module';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);

function loadTargets() {
  require('../test/attack/ts-hook.cjs');
  return require('../test/attack/fuzz-props.ts');
}

if (!isMainThread) {
  const { targets } = loadTargets();
  const fc = require('fast-check');
  const { names, seed, deadline, runs } = workerData;
  let s = seed;
  const one = async (name, numRuns) => {
    parentPort.postMessage({ type: 'chunk', name, seed: s, runs: numRuns });
    const t0 = performance.now();
    const d = await fc.check(targets[name].property(), { numRuns, seed: s });
    parentPort.postMessage({ type: 'progress', name, runs: d.numRuns, ms: performance.now() - t0 });
    if (d.failed) {
      const e = d.errorInstance;
      parentPort.postMessage({
        type: 'failure',
        name,
        seed: s,
        path: d.counterexamplePath,
        error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
        counterexample: fc.stringify(d.counterexample).slice(0, 4000),
      });
    }
    s = (s + 1) | 0;
  };
  if (runs !== undefined) {
    for (const name of names) await one(name, runs);
  } else {
    while (Date.now() < deadline) {
      for (const name of names) {
        if (Date.now() >= deadline) break;
        await one(name, Math.max(50, Math.round(targets[name].ciRuns / 3)));
      }
    }
  }
  parentPort.postMessage({ type: 'done', nextSeed: s });
} else {
  const args = process.argv.slice(2);
  const opt = (flag) => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const time = opt('--time');
  const runsArg = opt('--runs');
  const seedArg = opt('--seed');
  const hang = Number(opt('--hang') ?? 60);
  const list = args.includes('--list');
  const { targets } = loadTargets();
  if (list || args.includes('--help')) {
    console.log('usage: node scripts/fuzz-ts.mjs [--time SECONDS | --runs N] [--seed S] [--hang SECONDS] [target ...]\ntargets:');
    for (const [name, t] of Object.entries(targets)) console.log(`  ${name.padEnd(20)} ${t.about} (CI: ${t.ciRuns} runs)`);
    process.exit(0);
  }
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names) {
    if (!targets[n]) {
      console.error(`unknown target ${n}; --list shows them`);
      process.exit(2);
    }
  }
  if (names.length === 0) names.push(...Object.keys(targets));
  const runs = runsArg !== undefined ? Number(runsArg) : undefined;
  const seconds = time !== undefined ? Number(time) : runs === undefined ? 60 : Infinity;
  if (!(seconds > 0) || (runs !== undefined && !(runs > 0))) {
    console.error('--time and --runs take positive numbers');
    process.exit(2);
  }
  const deadline = Date.now() + seconds * 1000;
  let seed = seedArg !== undefined ? Number(seedArg) | 0 : (Math.random() * 2 ** 31) | 0;
  const stats = Object.fromEntries(names.map((n) => [n, { runs: 0, ms: 0, failures: 0 }]));
  const problems = [];
  const started = Date.now();
  console.log(`fuzzing ${names.join(', ')} ${runs !== undefined ? `for ${runs} runs each` : `for ${seconds} s`} from seed ${seed}`);

  const report = setInterval(() => {
    const total = Object.values(stats).reduce((a, s) => a + s.runs, 0);
    console.log(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${total} runs, ${problems.length} problems`);
  }, 60_000);

  const runWorker = () =>
    new Promise((resolve) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { names, seed, deadline, runs } });
      let current;
      let beat = Date.now();
      const cpuSeconds = () => {
        const u = process.cpuUsage(); // the whole process: the worker, and an idle main thread
        return (u.user + u.system) / 1e6;
      };
      let beatCpu = cpuSeconds();
      let settled = false;
      const finish = (next) => {
        if (settled) return;
        settled = true;
        clearInterval(watch);
        resolve(next);
      };
      const watch = setInterval(() => {
        const cpu = cpuSeconds() - beatCpu;
        const wall = (Date.now() - beat) / 1000;
        if (cpu > hang || wall > 10 * hang) {
          problems.push({ kind: 'hang', ...current });
          console.log(
            `HANG: ${current?.name} made no progress in ${cpu.toFixed(0)} s of CPU time, ${wall.toFixed(0)} s of wall time (chunk seed ${current?.seed}, ${current?.runs} runs; reproduce with --runs ${current?.runs} --seed ${current?.seed} ${current?.name})`,
          );
          void w.terminate();
          finish({ restart: (current?.seed ?? seed) + 1 });
        }
      }, 1000);
      w.on('message', (m) => {
        beat = Date.now();
        beatCpu = cpuSeconds();
        if (m.type === 'chunk') current = m;
        else if (m.type === 'progress') {
          stats[m.name].runs += m.runs;
          stats[m.name].ms += m.ms;
        } else if (m.type === 'failure') {
          stats[m.name].failures++;
          problems.push({ kind: 'failure', ...m });
          console.log(`FAILURE: ${m.name} (seed ${m.seed}, path ${m.path}): ${m.error}\n  counterexample: ${m.counterexample}`);
        } else if (m.type === 'done') finish({ done: true });
      });
      w.on('error', (err) => {
        problems.push({ kind: 'crash', ...current, error: String(err) });
        console.log(`CRASH: the worker died in ${current?.name} (chunk seed ${current?.seed}): ${err}`);
        finish({ restart: (current?.seed ?? seed) + 1 });
      });
      w.on('exit', (code) => {
        if (!settled && code !== 0) {
          problems.push({ kind: 'crash', ...current, error: `exit code ${code}` });
          console.log(`CRASH: the worker exited with code ${code} in ${current?.name} (chunk seed ${current?.seed})`);
        } else if (!settled) {
          problems.push({ kind: 'hang', ...current, error: 'the worker ended before its chunk did' });
          console.log(
            `HANG: the worker ended in ${current?.name} before its chunk did (a promise that never settles?) (chunk seed ${current?.seed}; reproduce with --runs ${current?.runs} --seed ${current?.seed} ${current?.name})`,
          );
        }
        finish({ restart: (current?.seed ?? seed) + 1 });
      });
    });

  for (;;) {
    const r = await runWorker();
    if (r.done || Date.now() >= deadline || runs !== undefined) break;
    seed = r.restart | 0;
  }
  clearInterval(report);
  console.log(`\n${'target'.padEnd(20)} ${'runs'.padStart(10)} ${'failures'.padStart(9)} ${'runs/s'.padStart(8)}`);
  for (const [n, s] of Object.entries(stats)) {
    console.log(
      `${n.padEnd(20)} ${String(s.runs).padStart(10)} ${String(s.failures).padStart(9)} ${(s.ms > 0 ? (s.runs * 1000) / s.ms : 0).toFixed(0).padStart(8)}`,
    );
  }
  const total = Object.values(stats).reduce((a, s) => a + s.runs, 0);
  console.log(
    `${total} runs in ${((Date.now() - started) / 1000).toFixed(0)} s; ${problems.length} problems (${problems.filter((p) => p.kind === 'failure').length} failures, ${problems.filter((p) => p.kind === 'hang').length} hangs, ${problems.filter((p) => p.kind === 'crash').length} crashes)`,
  );
  process.exit(problems.length > 0 ? 1 : 0);
}
