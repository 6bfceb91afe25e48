#!/usr/bin/env node
// Environment teardown under load (docs/RELIABILITY.md, "Environment teardown"): Worker threads
// that hold a model are ended while an operation runs, and the process must survive. A crash
// (abort, segfault) ends this process with a signal or exit code 134; the tap test
// test/worker-teardown.test.ts runs this script as a child process and checks both.
//
//   node scripts/teardown-stress.mjs [--scenario S] [--stages load,tower,encode,prompt,generate,parallel] [--n 50]
//                                    [--llm llm.gguf --encoders encoders.gguf] [--image file]
//
// Scenarios (a JSON summary per stage on stdout, one line each):
//   terminate   per stage, n Workers one after another: each loads the model and is terminated
//               when its operation reports the stage (load progress, the image tower's first read
//               ('tower': groundImage's 'load' stage), encode progress of groundImage, prompt
//               progress, the first generated token); even runs terminate
//               while the worker's JS is free, odd runs while it is blocked inside that callback
//               (the operation runs on without it) and have installed a debug log sink
//   concurrent  n Workers load at the same time and are all terminated at their first progress
//   natural     n Workers load, generate a few tokens and end without dispose()
//   --main-logger 1: the main thread installs a log sink first, and loads the model itself after
//               the Workers: the sink must still receive its lines (summary: mainLoggerLines)
//   exit        the main thread loads the model and calls process.exit(--code) during the stage's
//               operation (--stage encode|prompt|generate; --from callback|timer); exits with that code
//   exit-loop   runs `exit` n times per stage as child processes and counts the right exit codes
//
// Without --llm the tiny golden model (../shared/golden/tiny) is converted into a temp dir first.
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = path.join(root, 'lib', 'index.js');

function args() {
  const a = { scenario: 'terminate', stages: 'load,tower,encode,prompt,generate', n: 50, code: 7, from: 'callback' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    a[k] = argv[++i];
  }
  a.n = Number(a.n);
  a.code = Number(a.code);
  return a;
}

async function modelFiles(a) {
  if (a.llm) return { llm: a.llm, encoders: a.encoders };
  const { convert } = require(path.join(root, 'lib', 'convert', 'index.js'));
  const tiny = path.resolve(root, '..', 'shared', 'golden', 'tiny');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-teardown-'));
  process.on('exit', () => fs.rmSync(out, { recursive: true, force: true }));
  await convert({ model: path.join(tiny, 'groundinggpt'), clip: path.join(tiny, 'clip'), out, type: 'f32' });
  return { llm: path.join(out, 'llm.gguf'), encoders: path.join(out, 'encoders.gguf') };
}

const defaultImage = path.resolve(root, '..', 'shared', 'golden', 'media', 'dog_image.jpg');
const longText = 'word '.repeat(800); // ~1650 tokens: with batchSize 1 the prompt takes many batches

// The operation of a stage, run by a worker and by the `exit` scenario. `reached(stage)` is called
// from the operation's callbacks.
const runStage = `
async function runStage(loadModel, o, reached) {
  const model = await loadModel({
    model: { llm: o.llm, encoders: o.encoders },
    contextSize: 2048,
    parallel: o.stage === 'parallel' ? 3 : 1,
    batchSize: o.stage === 'prompt' ? 1 : 64,
    threads: 2,
    kvType: 'f32',
    onProgress: () => reached('load'),
  });
  if (o.stage === 'prompt') {
    await model.generate(o.longText, { maxTokens: 4, onPromptProgress: () => reached('prompt') });
  } else if (o.stage === 'generate') {
    // a random tiny model rarely samples EOS; the context (2048) ends it otherwise
    await model.generate('hello', { maxTokens: 100000, stop: [], temperature: 1, seed: 1, onToken: () => reached('generate') });
  } else if (o.stage === 'encode' || o.stage === 'tower') {
    // 'tower': while the image tower's weights are read by this first call (its 'load' stage)
    await model.groundImage(o.image, 'where is the dog?', { maxTokens: 4, onProgress: (p) => reached(p.stage === 'load' ? 'tower' : p.stage) });
  } else if (o.stage === 'parallel') {
    // three calls decoded together (and a tower run between their steps): ended once two of
    // them have produced tokens
    const seen = new Set();
    const gen = (i) => model.generate('hello ' + i, { maxTokens: 100000, stop: [], temperature: 1, seed: i, onToken: () => {
      seen.add(i);
      if (seen.size >= 2) reached('parallel');
    } });
    await Promise.all([gen(1), gen(2), model.groundImage(o.image, 'where is the dog?', { maxTokens: 100000, stop: [] })]);
  } else if (o.stage === 'natural') {
    await model.generate('hello', { maxTokens: 8 });
  }
  return model; // not disposed: the environment's teardown frees it
}
`;

const workerCode = `
const { parentPort, workerData: o } = require('node:worker_threads');
const { loadModel, setLogger } = require(o.lib);
${runStage}
// odd runs install a process-wide debug log sink from this worker: core lines keep coming from
// the compute thread while the environment goes away
let lines = 0;
if (o.block) setLogger(() => void lines++, { level: 'debug' });
const gate = new Int32Array(new SharedArrayBuffer(4));
let sent = false;
function reached(stage) {
  if (sent || stage !== o.stage) return;
  sent = true;
  parentPort.postMessage({ type: 'stage' });
  if (o.block) Atomics.wait(gate, 0, 0); // until terminated
}
runStage(loadModel, o, reached).then(
  () => parentPort.postMessage({ type: 'done' }),
  (e) => parentPort.postMessage({ type: 'error', message: String((e && e.stack) || e) }),
);
`;

function threadCount() {
  try {
    return fs.readdirSync('/proc/self/task').length;
  } catch {
    return -1;
  }
}
const rssMB = () => Math.round(process.memoryUsage().rss / 1048576);

// One worker: resolves with what happened ('terminated' when the stage was reached and the worker
// was ended there, 'completed' when the operation finished first, 'error: ...').
function oneWorker(o, onStage) {
  return new Promise((resolve) => {
    const w = new Worker(workerCode, { eval: true, workerData: o });
    let outcome = 'exited';
    w.on('message', (m) => {
      if (m.type === 'stage') {
        outcome = 'terminated';
        if (onStage) onStage(w);
        else void w.terminate();
      } else if (m.type === 'done') outcome = outcome === 'terminated' ? outcome : 'completed';
      else if (m.type === 'error') outcome = `error: ${m.message}`;
    });
    w.on('error', (e) => (outcome = `error: ${e && e.stack ? e.stack : e}`));
    w.on('exit', (code) => resolve({ outcome, code }));
  });
}

async function main() {
  const a = args();
  const files = await modelFiles(a);
  const base = { lib, llm: files.llm, encoders: files.encoders, image: a.image ?? defaultImage, longText };
  const stages = a.stages.split(',');

  if (a.scenario === 'exit') {
    const { loadModel } = require(lib);
    const runStageFn = new Function(`${runStage}; return runStage;`)();
    const stage = a.stage ?? 'generate';
    let armed = false;
    const exit = () => {
      // for exit-loop: how long the process took to end after process.exit() was called
      process.stderr.write(`exit-called-at ${performance.now().toFixed(1)}\n`);
      process.exit(a.code);
    };
    const reached = (s) => {
      if (armed || s !== stage) return;
      armed = true;
      if (a.from === 'timer') setTimeout(exit, 0);
      else exit();
    };
    await runStageFn(loadModel, { ...base, stage }, reached);
    console.error(`exit scenario: the ${stage} operation finished before process.exit`);
    process.exit(99);
  }

  if (a.scenario === 'exit-loop') {
    for (const stage of stages) {
      const t0 = Date.now();
      const codes = {};
      let ok = 0;
      let exitMsMax = 0;
      for (let i = 0; i < a.n; i++) {
        const from = i % 2 ? 'timer' : 'callback';
        const t1 = performance.now();
        const r = spawnSync(
          process.execPath,
          [
            fileURLToPath(import.meta.url),
            '--scenario',
            'exit',
            '--stage',
            stage,
            '--from',
            from,
            '--code',
            String(a.code),
            '--llm',
            files.llm,
            '--encoders',
            files.encoders,
          ],
          { encoding: 'utf8' },
        );
        const wall = performance.now() - t1;
        const key = r.signal ? `signal ${r.signal}` : `code ${r.status}`;
        codes[key] = (codes[key] ?? 0) + 1;
        if (r.status === a.code && !r.signal) ok++;
        else process.stderr.write(r.stderr.slice(-2000));
        const m = /exit-called-at ([\d.]+)/.exec(r.stderr ?? '');
        // the child's clock starts about when it was spawned: the rest is the time exit() took
        if (m) exitMsMax = Math.max(exitMsMax, Math.round(wall - Number(m[1])));
      }
      console.log(JSON.stringify({ scenario: 'exit-loop', stage, n: a.n, ok, codes, exitMsMax, ms: Date.now() - t0 }));
    }
    return;
  }

  // --main-logger: a debug log sink installed by this (main) thread must outlive the Workers'
  // teardowns: after them this thread loads the model and counts the lines it receives
  let mainLines = 0;
  if (a['main-logger']) require(lib).setLogger(() => void mainLines++, { level: 'debug' });

  // in-process scenarios: record threads and memory around them
  const summary = [];
  for (const stage of a.scenario === 'terminate' ? stages : [a.scenario]) {
    const t0 = Date.now();
    const threadsBefore = threadCount();
    const rssBefore = rssMB();
    const outcomes = {};
    const count = (r) => {
      const key = r.outcome.startsWith('error') ? 'error' : r.outcome;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (key === 'error') process.stderr.write(`${r.outcome}\n`);
    };
    if (a.scenario === 'terminate') {
      for (let i = 0; i < a.n; i++) count(await oneWorker({ ...base, stage, block: i % 2 === 1 }));
    } else if (a.scenario === 'natural') {
      for (let i = 0; i < a.n; i++) count(await oneWorker({ ...base, stage: 'natural' }));
    } else if (a.scenario === 'concurrent') {
      // all load at once; each is terminated at its first load progress
      const rs = await Promise.all(Array.from({ length: a.n }, (_, i) => oneWorker({ ...base, stage: 'load', block: i % 2 === 1 })));
      rs.forEach(count);
    } else {
      throw new Error(`unknown scenario ${a.scenario}`);
    }
    await new Promise((r) => setTimeout(r, 200)); // let exiting threads go
    const s = {
      scenario: a.scenario,
      stage,
      n: a.n,
      outcomes,
      threadsBefore,
      threadsAfter: threadCount(),
      rssBeforeMB: rssBefore,
      rssAfterMB: rssMB(),
      ms: Date.now() - t0,
    };
    if (a['main-logger']) {
      const before = mainLines;
      const m = await require(lib).loadModel({ model: { llm: files.llm, encoders: files.encoders }, contextSize: 256, threads: 1 });
      await m.dispose();
      s.mainLoggerLines = { afterWorkers: before, afterOwnLoad: mainLines };
    }
    summary.push(s);
    console.log(JSON.stringify(s));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
