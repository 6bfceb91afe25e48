#!/usr/bin/env node
// Audio path (issue 5): per-stage times of groundAudio (ffmpeg decode, resample to 16 kHz, Kaldi
// fbank, ImageBind audio trunk, head + audio Q-Former + audio_llama_proj, prompt, generate), next
// to upstream's own PyTorch audio tower (ImageBind-Huge audio preprocessor + trunk + head +
// postprocessor, audio position embedding, audio Q-Former, audio_llama_proj; float32, same
// threads; bench/upstream/towers.py). Ratio: upstream tower / our tower (target >= 5).
//
//   node bench/audio.mjs --model /tmp/conv-7b/q4 [--threads 2] [--reps 3] [--pairs 10] [--upstream /tmp/groundinggpt-upstream]
//
// The tower ratio comes from --pairs rounds that alternate one embedAudio (our tower, from raw
// PCM) with one upstream run (towers.py --serve, kept alive), back to back: on a shared VM whose
// speed drifts over minutes (the tile unit's throughput is bimodal here), both sides of a pair
// see the same conditions. Reported: the mean, median and range of the per-pair ratios.
//
// Resample vs fbank: groundAudio reports them together (preprocessMs, one native call); the split
// times the same native call again on the already-16 kHz signal (no resampling: fbank + clips
// only) and takes resample = preprocess - that.
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  alternateRounds,
  fail,
  foreignCpu,
  goldenMedia,
  groundRun,
  lineServer,
  llmStages,
  load1,
  memory,
  parseArgs,
  pm,
  ratio,
  root,
  splitStages,
  stats,
  table,
  towerBenchStart,
  writeResult,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel, decodeAudio, SYSTEM_PROMPT } = require('../lib/index.js');
const { native } = require('../lib/native.js');

const usage = `usage: node bench/audio.mjs --model <dir> [--threads 2] [--reps 3] [--pairs 10] [--tower-matmul auto|ggml|int8] [--audio <file>] [--max-tokens 16]
  [--upstream <GroundingGPT checkout>] [--skip-upstream] [--max-load 1.2] [--wait-min 40]`;
const a = parseArgs(
  {
    model: '',
    threads: 2,
    reps: 3,
    pairs: 10,
    towerMatmul: 'auto',
    audio: path.join(goldenMedia, 'dog_audio.wav'),
    maxTokens: 16,
    upstream: '/tmp/groundinggpt-upstream',
    skipUpstream: false,
    maxLoad: 1.2,
    waitMin: 40,
  },
  usage,
);
const { files, info } = await towerBenchStart('audio', a, usage);
const mon = foreignCpu(); // other processes' CPU while we measure (cores)

// ---- ours -----------------------------------------------------------------------------------
const tl = performance.now();
const model = await loadModel({ model: a.model, threads: a.threads, featureCacheBytes: 0, towerMatmul: a.towerMatmul });
const loadMs = performance.now() - tl;
const question = 'What is making this sound?';
// one graph: 13 ImageBind marks (stem, 12 blocks), then 2 audio Q-Former layers
const graphs = [
  [
    0,
    1,
    15,
    [
      ['trunk', 12],
      ['tail', 14],
    ],
  ],
];

const addon = native();
const decoded = await decodeAudio(a.audio);
const pre16 = await addon.audioPreprocess(decoded.channels, decoded.sampleRate, true);

const runs = [];
for (let r = -1; r < a.reps; r++) {
  const res = await groundRun((o) => model.groundAudio(a.audio, question, o), { run: r + 1, systemPrompt: SYSTEM_PROMPT, maxTokens: a.maxTokens });
  const t = res.timings;
  const split = splitStages(res.events, t.decodeMs + t.preprocessMs, graphs);
  const row = {
    decodeMs: t.decodeMs,
    preprocessMs: t.preprocessMs,
    encodeMs: t.encodeMs,
    trunkMs: split?.trunk ?? NaN,
    tailMs: split ? t.encodeMs - split.trunk : NaN,
    ...llmStages(res),
  };
  console.error(
    `[ours] ${r < 0 ? 'warm-up' : `run ${r + 1}`}: decode ${row.decodeMs.toFixed(1)} ms, resample+fbank ${row.preprocessMs.toFixed(1)}, ` +
      `tower ${row.encodeMs.toFixed(0)} ms (trunk ${row.trunkMs.toFixed(0)}, Q-Former+proj ${row.tailMs.toFixed(0)}), prompt ${row.promptTokens} tok ${row.promptMs.toFixed(0)} ms, ` +
      `${row.generatedTokens} tok at ${row.generateTps.toFixed(2)} t/s, TTFT ${row.ttftMs.toFixed(0)} ms`,
  );
  if (r >= 0) runs.push(row);
}
// the preprocessing alone, 20 times each: 44.1 kHz stereo -> 16 kHz + fbank, and fbank only
const timeIt = async (fn, n = 20) => {
  const v = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    v.push(performance.now() - t0);
  }
  return stats(v);
};
const preAll = await timeIt(() => addon.audioPreprocess(decoded.channels, decoded.sampleRate, false));
const preFbank = await timeIt(() => addon.audioPreprocess(pre16.wave16k, 16000, false));
const ours = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, stats(runs.map((x) => x[k]))]));
info.foreignCoresOursFull = mon.stop();

// ---- paired tower runs: one embedAudio, one upstream run, back to back ------------------------
const pcm = { samples: decoded.channels, sampleRate: decoded.sampleRate };
let upstream = null;
let server = null;
if (!a.skipUpstream) {
  const args = [path.join(root, 'bench', 'upstream', 'towers.py'), '--upstream', a.upstream, '--tower', 'audio', '--threads', String(a.threads), '--serve'];
  console.error(`[upstream] /usr/bin/python3 ${args.join(' ')} (building ImageBind-Huge)`);
  server = lineServer('/usr/bin/python3', args);
  await server.next(); // {"ready": true}: built and warmed up
}
await model.embedAudio(pcm); // warm-up
// a pause before each side: the other side's OpenMP threads spin-wait for a while after it returns
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
const pairs = await alternateRounds(
  a.pairs,
  async (i) => {
    await settle();
    const ms = (await model.embedAudio(pcm)).timings.encodeMs;
    console.error(`[pair ${i + 1}/${a.pairs}] ours ${ms.toFixed(0)} ms`);
    return ms;
  },
  server
    ? async (i) => {
        await settle();
        server.send('run');
        const r = await server.next();
        console.error(`[pair ${i + 1}/${a.pairs}] upstream ${(r.total_s * 1000).toFixed(0)} ms`);
        return r;
      }
    : null,
  info,
  server ? [server.pid] : [],
);
const ourMem = memory();
await model.dispose();
ours.pairedEncodeMs = stats(pairs.ours);
if (server) {
  const end = await server.close();
  if (end.code !== 0 || !end.last?.runs) fail(`upstream tower failed (${end.code}):\n${end.stderr.slice(-3000)}`);
  const j = end.last;
  console.error(`[upstream] saved ${writeResult('audio-upstream', j)}`);
  const st = (x) => x.stages_s;
  const perPair = pairs.peer.map((r, i) => (r.total_s * 1000) / pairs.ours[i]);
  const sorted = [...perPair].sort((x, y) => x - y);
  upstream = {
    raw: j,
    peakRssMiB: j.peak_rss_mib,
    encodeMs: stats(j.runs.map((x) => x.total_s * 1000)),
    trunkMs: stats(j.runs.map((x) => (st(x).preprocessor + st(x).trunk) * 1000)),
    tailMs: stats(j.runs.map((x) => (x.total_s - st(x).preprocessor - st(x).trunk) * 1000)),
    pairRatios: { ...stats(perPair), median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] },
  };
}
info.load1AtEnd = load1();
// ---- report ---------------------------------------------------------------------------------
console.log(
  `\n## Audio: ${path.basename(a.audio)} (${decoded.duration.toFixed(2)} s, ${decoded.sampleRate} Hz, ${decoded.channels.length} ch), ${a.threads} threads, towerMatmul ${a.towerMatmul}, ${a.reps} groundAudio runs, ${a.pairs} tower pairs\n`,
);
console.log(
  `model load ${loadMs.toFixed(0)} ms; peak RSS ours ${ourMem.hwmMiB.toFixed(0)} MiB` +
    (upstream
      ? `, upstream ${upstream.peakRssMiB.toFixed(0)} MiB (torch ${upstream.raw.torch}, ${upstream.raw.threads} threads; ImageBind-Huge built whole, other modalities dropped before timing)`
      : ''),
);
const rr = (k) => (upstream ? ratio(upstream[k], ours[k]) : null);
const fr = (x) => (x ? `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}` : 'n/a');
const pr = upstream?.pairRatios;
const ratios = { tower: pr ?? null, trunk: rr('trunkMs'), tail: rr('tailMs') };
table(
  ['stage', 'ours ms', 'upstream f32 ms', 'upstream/ours'],
  [
    ['decode (ffmpeg)', pm(ours.decodeMs, 1), '-', ''],
    ['resample + clips + fbank (in groundAudio)', pm(ours.preprocessMs, 1), '-', ''],
    [`  resample ${decoded.sampleRate} Hz -> 16 kHz (difference of means, 20x each)`, (preAll.mean - preFbank.mean).toFixed(1), '-', ''],
    ['  clips + fbank only (16 kHz input, 20x)', pm(preFbank, 1), '-', ''],
    ['ImageBind audio stem + trunk (ours: groundAudio runs)', pm(ours.trunkMs, 0), upstream ? pm(upstream.trunkMs, 0) : 'n/a', fr(ratios.trunk)],
    ['head + pos + audio Q-Former + proj (ours: groundAudio runs)', pm(ours.tailMs, 0), upstream ? pm(upstream.tailMs, 0) : 'n/a', fr(ratios.tail)],
    ['tower in the groundAudio runs', pm(ours.encodeMs, 0), '', ''],
    [
      '**tower total, paired runs**',
      pm(ours.pairedEncodeMs, 0),
      upstream ? pm(upstream.encodeMs, 0) : 'n/a',
      pr ? `${fr(pr)}, median ${pr.median.toFixed(2)}, range ${pr.min.toFixed(2)}-${pr.max.toFixed(2)} (target >= 5)` : 'n/a',
    ],
    [`prompt (${ours.promptTokens.mean.toFixed(0)} positions)`, pm(ours.promptMs, 0), '', `${pm(ours.promptTps)} t/s`],
    [`generate (${ours.generatedTokens.mean.toFixed(0)} tokens)`, pm(ours.generateMs, 0), '', `${pm(ours.generateTps)} t/s`],
    ['time to first token', pm(ours.ttftMs, 0), '', ''],
    ['total groundAudio', pm(ours.totalMs, 0), '', ''],
  ],
);
if (pr) console.log(`per-pair ratios: ${pr.values.map((x) => x.toFixed(2)).join(' ')}`);
console.log(
  `load1: start ${info.load1AtStart}, measuring ${info.load1BeforeMeasuring}, first upstream run ${info.load1BeforePeer ?? '-'}, end ${info.load1AtEnd}; ` +
    `other processes' CPU: groundAudio runs ${info.foreignCoresOursFull.toFixed(2)} cores, paired ours ${info.foreignCoresOurs.toFixed(2)}, paired upstream ${info.foreignCoresPeer.toFixed(2)}`,
);
const file = writeResult('audio', {
  info,
  ours: { loadMs, runs, stats: ours, pairedEncodeMs: pairs.ours, peakRssMiB: ourMem.hwmMiB, preprocessOnly: { all: preAll, fbankOnly: preFbank } },
  upstream,
  ratios,
});
console.log(`result: ${file}`);
