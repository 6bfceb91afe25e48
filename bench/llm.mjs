#!/usr/bin/env node
// LLM throughput (issue 2): load time, prompt processing at 512 and 640 random tokens, greedy
// generation of 32 tokens, through the raw addon (src/native.ts: prompt() with token spans,
// generate()), next to llama-bench built from the same patched llama.cpp source with the same
// native flags (bench/build-peers.mjs) on the same llm.gguf, same threads / flash attention /
// batch / ubatch / KV type. Prints ratios ours/theirs (target >= 0.98) and writes a JSON result.
//
//   node bench/llm.mjs --model /tmp/conv-7b/q4 [--threads 2] [--reps 3] [--flash-attn auto]
//
// --reps rounds alternate the two sides (ours once per test, then llama-bench -r 1); ratios are per
// round. What is timed on our side (each run starts from an empty KV cache, after one warm-up):
//   ppN : ggpt_prompt of [BOS, N-1 random tokens] (llama-bench's test_prompt: BOS + random ids),
//         in batches of --batch positions, logits of the last one; t/s = N / ms.
//   tgN : after a 1-token prompt (BOS), generate(N+1 greedy tokens): the first token is sampled from
//         the prompt's logits, the next N each cost one single-token llama_decode, like llama-bench's
//         N single-token decodes; t/s = N / generate ms (sampling and detokenising included).
import { createRequire } from 'node:module';
import {
  alternateRounds,
  fail,
  load1,
  memory,
  modelFiles,
  parseArgs,
  pm,
  requirePeer,
  runInfo,
  runTimed,
  stats,
  table,
  waitForQuiet,
  writeResult,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { native } = require('../lib/native.js');

const usage = `usage: node bench/llm.mjs --model <dir> [--threads 2] [--reps 3] [--pp 512,640] [--tg 32]
  [--batch 512] [--ubatch 512] [--flash-attn auto|on|off] [--kv f16] [--max-load 1.2] [--wait-min 40] [--skip-peer]`;
const a = parseArgs(
  {
    model: '',
    threads: 2,
    reps: 3,
    pp: '512,640',
    tg: 32,
    batch: 512,
    ubatch: 512,
    flashAttn: 'auto',
    kv: 'f16',
    maxLoad: 1.2,
    waitMin: 40,
    skipPeer: false,
    seed: 42,
  },
  usage,
);
if (!a.model) fail(usage);
if (a.batch !== a.ubatch) fail('--batch and --ubatch must be equal here: our context uses n_ubatch = min(512, n_batch)');
const files = modelFiles(a.model);
const ppSizes = String(a.pp).split(',').map(Number);

const addon = native();
const logLines = [];
addon.setLogger((level, text) => logLines.push(text.trimEnd()), 1);

const info = await runInfo({ bench: 'llm', args: a, files, systemInfo: addon.systemInfo() });
info.load1BeforeMeasuring = await waitForQuiet(a.maxLoad, a.waitMin);

// ---- ours -----------------------------------------------------------------------------------
const cancel = () => addon.createCancel();
const contextSize = Math.max(...ppSizes, a.tg + 8) + 64;
const tLoad0 = performance.now();
const m = await addon.loadModel(
  {
    llm: files.llm,
    encodersOnGpu: false,
    useMmap: true,
    contextSize,
    batchSize: a.batch,
    threads: a.threads,
    threadsBatch: a.threads,
    kvType: a.kv,
    flashAttn: a.flashAttn,
  },
  cancel(),
);
const loadMs = performance.now() - tLoad0;
const mi = m.info();
const ourLog = logLines.filter((l) => /Flash Attention|flash_attn|n_batch|n_ubatch|model buffer size|REPACK|AMX|type_k|n_ctx /.test(l));
addon.setLogger(null, 3);

let rng = a.seed >>> 0;
const rand = () => (rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const randomTokens = (n) => {
  const t = new Int32Array(n);
  t[0] = mi.tokenBos;
  for (let i = 1; i < n; i++) t[i] = Math.floor(rand() * mi.nVocab);
  return t;
};

// Rounds alternate between the two sides (ours: one timed run of every test; llama-bench -r 1,
// which warms up on its own), so that the drift of a shared VM host hits both alike; the ratio is
// taken per round. The first round of ours is preceded by one untimed run of every test.
const tests = [...ppSizes.map((n) => `pp${n}`), `tg${a.tg}`];
const oursSamples = Object.fromEntries(tests.map((t) => [t, []]));
const peerSamples = Object.fromEntries(tests.map((t) => [t, []]));
const genOpts = { maxTokens: a.tg + 1, temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: 0, seed: 0, stop: [], stopAtEos: false };
async function oursOnce(test) {
  m.clear();
  if (test.startsWith('pp')) {
    const n = Number(test.slice(2));
    const res = await m.prompt([{ tokens: randomTokens(n) }], cancel());
    if (res.nEvaluated !== n) fail(`${test}: evaluated ${res.nEvaluated} positions, expected ${n}`);
    return (n / res.ms) * 1000;
  }
  await m.prompt([{ tokens: Int32Array.of(mi.tokenBos) }], cancel());
  const g = await m.generate(genOpts, cancel());
  if (g.tokens.length !== a.tg + 1) fail(`tg: generated ${g.tokens.length} tokens (${g.stopReason}), expected ${a.tg + 1}`);
  return (a.tg / g.ms) * 1000;
}
const peerBin = a.skipPeer ? null : requirePeer('llama-bench');
const peerArgs = [
  '-m',
  files.llm,
  '-t',
  String(a.threads),
  '-r',
  '1',
  '-p',
  ppSizes.join(','),
  '-n',
  String(a.tg),
  '-b',
  String(a.batch),
  '-ub',
  String(a.ubatch),
  '-fa',
  a.flashAttn,
  '-ctk',
  a.kv,
  '-ctv',
  a.kv,
  '-o',
  'json',
];
let peer = null;
for (const t of tests) await oursOnce(t); // warm-up
async function oursRound(round) {
  for (const t of tests) oursSamples[t].push(await oursOnce(t));
  console.error(`[ours] round ${round + 1}: ${tests.map((t) => `${t} ${oursSamples[t].at(-1).toFixed(2)}`).join(', ')} t/s`);
}
async function peerRound(round) {
  const r = await runTimed(peerBin, peerArgs);
  if (r.code !== 0) fail(`llama-bench failed (${r.code}):\n${r.stderr.slice(-2000)}`);
  const rows = JSON.parse(r.stdout);
  for (const row of rows) {
    const test = row.n_gen === 0 ? `pp${row.n_prompt}` : `tg${row.n_gen}`;
    peerSamples[test]?.push(row.samples_ts[0]);
  }
  console.error(`[peer] round ${round + 1}: ${tests.map((t) => `${t} ${(peerSamples[t].at(-1) ?? NaN).toFixed(2)}`).join(', ')} t/s`);
  peer ??= {
    command: [peerBin, ...peerArgs].join(' '),
    peakRssMiB: 0,
    log: r.stderr
      .split('\n')
      .filter((l) => /Flash Attention|flash_attn|model buffer size|REPACK|AMX|n_ubatch/.test(l))
      .slice(0, 20),
    build: rows[0] && {
      commit: rows[0].build_commit,
      number: rows[0].build_number,
      cpu: rows[0].cpu_info,
      backends: rows[0].backends,
      flashAttn: rows[0].flash_attn,
      nBatch: rows[0].n_batch,
      nUbatch: rows[0].n_ubatch,
      typeK: rows[0].type_k,
      threads: rows[0].n_threads,
    },
  };
  peer.peakRssMiB = Math.max(peer.peakRssMiB, r.peakRssMiB);
}
await alternateRounds(a.reps, oursRound, peerBin && peerRound, info);
const ours = Object.fromEntries(tests.map((t) => [t, stats(oursSamples[t])]));
if (peer) peer.results = Object.fromEntries(tests.map((t) => [t, stats(peerSamples[t])]));
const ourMem = memory();
await m.dispose();
info.load1AtEnd = load1();
// ---- report ---------------------------------------------------------------------------------
console.log(
  `\n## LLM (${mi.llmDescription}), ${a.threads} threads, batch/ubatch ${a.batch}/${a.ubatch}, flash-attn ${a.flashAttn}, KV ${a.kv}, ${a.reps} reps\n`,
);
console.log(
  `load (LLM, mmap, context ${contextSize}): ${loadMs.toFixed(0)} ms; peak RSS ours ${ourMem.hwmMiB.toFixed(0)} MiB` +
    (peer ? `, llama-bench ${peer.peakRssMiB.toFixed(0)} MiB` : ''),
);
const ratios = {};
table(
  ['test', 'ours t/s', 'llama-bench t/s', 'ours/theirs', 'target'],
  tests.map((t) => {
    const o = ours[t];
    const p = peer?.results[t];
    // per-round ratios (each round's two sides ran back to back)
    const rr = p ? stats(oursSamples[t].map((x, i) => x / peerSamples[t][i])) : null;
    ratios[t] = rr;
    return [t, pm(o), p ? pm(p) : 'n/a', rr ? `${rr.mean.toFixed(3)} ± ${rr.sd.toFixed(3)}` : 'n/a', '>= 0.98'];
  }),
);
console.log(`\nour libllama log: ${ourLog.join(' | ')}`);
if (peer) console.log(`peer log: ${peer.log.join(' | ')}`);
console.log(
  `load1: start ${info.load1AtStart}, measuring ${info.load1BeforeMeasuring}, end ${info.load1AtEnd}; other processes' CPU while measuring: ours ${info.foreignCoresOurs.toFixed(2)} cores, peer ${info.foreignCoresPeer.toFixed(2)} cores`,
);
const file = writeResult('llm', {
  info,
  ours: { loadMs, results: ours, peakRssMiB: ourMem.hwmMiB, log: ourLog, description: mi.llmDescription },
  peer,
  ratios,
});
console.log(`result: ${file}`);
