#!/usr/bin/env node
// Video path (issue 4): per-stage times of groundVideo on a 64-frame video (ffmpeg decode, EVA
// ViT-g + ln_vision, per-frame Q-Former, video Q-Former + llama_proj, prompt, generate), next to
// upstream's own PyTorch video tower (EVA + ln_vision + BLIP-2 Q-Former + frame positions + video
// Q-Former + llama_proj, float32, same threads; bench/upstream/towers.py). Ratio: upstream tower
// time / our tower time (target >= 3).
//
//   node bench/video.mjs --model /tmp/conv-7b/q4 [--threads 2] [--reps 3] \
//       [--upstream /tmp/groundinggpt-upstream] [--upstream-reps 3]
//
// Our tower time is the encode stage of groundVideo (the 64 decoded frames -> 64 LLM rows); the
// EVA / Q-Former split comes from the tower's per-block progress marks (40 EVA marks then 12
// Q-Former marks per frame batch, 2 marks for the video Q-Former).
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  fail,
  foreignCpu,
  goldenMedia,
  groundRun,
  llmStages,
  load1,
  memory,
  parseArgs,
  pm,
  ratio,
  root,
  runTimed,
  splitStages,
  stats,
  table,
  towerBenchStart,
  writeResult,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel, SYSTEM_PROMPT } = require('../lib/index.js');

const usage = `usage: node bench/video.mjs --model <dir> [--threads 2] [--reps 3] [--video <file>] [--max-tokens 16] [--tower-matmul auto|ggml|int8]
  [--upstream <GroundingGPT checkout>] [--upstream-reps <reps>] [--warmup-frames 4 (both sides)] [--skip-upstream]
  [--max-load 1.2] [--wait-min 40]`;
const a = parseArgs(
  {
    model: '',
    threads: 2,
    reps: 3,
    video: path.join(goldenMedia, 'test-3.mp4'),
    maxTokens: 16,
    frames: 64,
    towerMatmul: 'auto',
    upstream: '/tmp/groundinggpt-upstream',
    upstreamReps: 0,
    warmupFrames: 4,
    skipUpstream: false,
    maxLoad: 1.2,
    waitMin: 40,
  },
  usage,
);
const { files, info } = await towerBenchStart('video', a, usage);
let mon = foreignCpu(); // other processes' CPU while we measure (cores)

// ---- ours -----------------------------------------------------------------------------------
const tl = performance.now();
const model = await loadModel({ model: a.model, threads: a.threads, featureCacheBytes: 0, towerMatmul: a.towerMatmul });
const loadMs = performance.now() - tl;
const question = 'When does the person open the door? Please give me the timestamp.';

// EVA frame batches as native/src/encoders/encode.cpp frames_per_batch() picks them on the CPU
// (0.5 GiB of activations per graph), for the stage split
const T = 257,
  W = 1408,
  F = 6144,
  H = 16;
const perFrame = 4 * T * (6 * W + 2 * F + 2 * H * T);
const fpb = Math.min(a.frames, Math.max(1, Math.floor((0.5 * 2 ** 30) / perFrame)));
const nChunks = Math.ceil(a.frames / fpb);
const graphs = [];
for (let c = 0; c < nChunks; c++)
  graphs.push([
    (0.95 * c) / nChunks,
    (0.95 * (c + 1)) / nChunks,
    52,
    [
      ['eva', 39],
      ['qformer', 51],
    ],
  ]);
graphs.push([0.95, 1, 2, [['videoQformer', 1]]]);

const runs = [];
for (let r = -1; r < a.reps; r++) {
  // the warm-up run samples only --warmup-frames frames (it warms ggml, the allocator and the LLM;
  // a 64-frame warm-up would cost as much as a timed run)
  const res = await groundRun((o) => model.groundVideo(a.video, question, { ...o, maxFrames: r < 0 ? a.warmupFrames : a.frames }), {
    run: r + 1,
    systemPrompt: SYSTEM_PROMPT,
    maxTokens: a.maxTokens,
  });
  const t = res.timings;
  const encStart = t.decodeMs + t.preprocessMs;
  const split = r < 0 ? null : splitStages(res.events, encStart, graphs);
  const row = {
    decodeMs: t.decodeMs,
    encodeMs: t.encodeMs,
    evaMs: split?.eva ?? NaN,
    qformerMs: split?.qformer ?? NaN,
    videoQformerMs: split ? t.encodeMs - split.eva - split.qformer : NaN,
    ...llmStages(res),
  };
  console.error(
    `[ours] ${r < 0 ? 'warm-up' : `run ${r + 1}`}: decode ${row.decodeMs.toFixed(0)} ms, encode ${row.encodeMs.toFixed(0)} ms ` +
      `(EVA ${row.evaMs.toFixed(0)}, Q-Former ${row.qformerMs.toFixed(0)}, video Q-Former+proj ${row.videoQformerMs.toFixed(0)}), ` +
      `prompt ${row.promptTokens} tok ${row.promptMs.toFixed(0)} ms, ${row.generatedTokens} tok at ${row.generateTps.toFixed(2)} t/s, TTFT ${row.ttftMs.toFixed(0)} ms`,
  );
  if (r >= 0) runs.push(row);
}
const ourMem = memory();
await model.dispose();
const col = (k) => stats(runs.map((x) => x[k]));
console.error(`[ours] saved ${writeResult('video-ours', { info, runs, loadMs })}`);
const ours = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, col(k)]));

info.foreignCoresOurs = mon.stop();
mon = foreignCpu();
// ---- upstream PyTorch -----------------------------------------------------------------------
let upstream = null;
if (!a.skipUpstream) {
  const args = [
    path.join(root, 'bench', 'upstream', 'towers.py'),
    '--upstream',
    a.upstream,
    '--tower',
    'video',
    '--threads',
    String(a.threads),
    '--reps',
    String(a.upstreamReps || a.reps),
    '--frames',
    String(a.frames),
    '--warmup-frames',
    String(a.warmupFrames),
  ];
  info.load1BeforeUpstream = load1();
  console.error(`[upstream] /usr/bin/python3 ${args.join(' ')}`);
  const r = await runTimed('/usr/bin/python3', args, { timeoutMs: 4 * 3600_000 });
  if (r.code !== 0) fail(`upstream tower failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  console.error(`[upstream] saved ${writeResult(`video-upstream`, j)}`);
  const st = (k) => stats(j.runs.map((x) => x.stages_s[k] * 1000));
  upstream = {
    raw: j,
    peakRssMiB: r.peakRssMiB,
    encodeMs: stats(j.runs.map((x) => x.total_s * 1000)),
    evaMs: stats(j.runs.map((x) => (x.stages_s.eva + x.stages_s.ln_vision) * 1000)),
    qformerMs: st('qformer'),
    videoQformerMs: stats(j.runs.map((x) => (x.total_s - x.stages_s.eva - x.stages_s.ln_vision - x.stages_s.qformer) * 1000)),
  };
}
info.load1AtEnd = load1();

info.foreignCoresPeer = mon.stop();
// ---- report ---------------------------------------------------------------------------------
console.log(
  `\n## Video: ${path.basename(a.video)}, ${a.frames} frames, ${a.threads} threads, ${a.reps} reps (ours) / ${upstream ? upstream.raw.runs.length : 0} (upstream)\n`,
);
console.log(
  `model load ${loadMs.toFixed(0)} ms; EVA frame batches ${nChunks} x <= ${fpb}; peak RSS ours ${ourMem.hwmMiB.toFixed(0)} MiB` +
    (upstream
      ? `, upstream ${upstream.peakRssMiB.toFixed(0)} MiB (torch ${upstream.raw.torch}, ${upstream.raw.threads} threads, ${(upstream.raw.params / 1e6).toFixed(0)} M params f32)`
      : ''),
);
const rr = (k) => (upstream ? ratio(upstream[k], ours[k]) : null);
const fr = (x) => (x ? `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}` : 'n/a');
const ratios = { tower: rr('encodeMs'), eva: rr('evaMs'), qformer: rr('qformerMs'), videoQformer: rr('videoQformerMs') };
table(
  ['stage', 'ours ms', 'upstream f32 ms', 'upstream/ours'],
  [
    [`decode (ffmpeg, ${a.frames} frames 224x224)`, pm(ours.decodeMs, 0), '-', ''],
    ['EVA ViT-g + ln_vision', pm(ours.evaMs, 0), upstream ? pm(upstream.evaMs, 0) : 'n/a', fr(ratios.eva)],
    ['Q-Former (per frame)', pm(ours.qformerMs, 0), upstream ? pm(upstream.qformerMs, 0) : 'n/a', fr(ratios.qformer)],
    ['frame pos + video Q-Former + llama_proj', pm(ours.videoQformerMs, 0), upstream ? pm(upstream.videoQformerMs, 0) : 'n/a', fr(ratios.videoQformer)],
    ['**tower total**', pm(ours.encodeMs, 0), upstream ? pm(upstream.encodeMs, 0) : 'n/a', `${fr(ratios.tower)} (target >= 3)`],
    [`prompt (${ours.promptTokens.mean.toFixed(0)} positions)`, pm(ours.promptMs, 0), '', `${pm(ours.promptTps)} t/s`],
    [`generate (${ours.generatedTokens.mean.toFixed(0)} tokens)`, pm(ours.generateMs, 0), '', `${pm(ours.generateTps)} t/s`],
    ['time to first token', pm(ours.ttftMs, 0), '', ''],
    ['total groundVideo', pm(ours.totalMs, 0), '', ''],
  ],
);
console.log(
  `load1: start ${info.load1AtStart}, measuring ${info.load1BeforeMeasuring}, upstream ${info.load1BeforeUpstream ?? '-'}, end ${info.load1AtEnd}; other processes' CPU while measuring: ours ${info.foreignCoresOurs.toFixed(2)} cores, peer ${info.foreignCoresPeer.toFixed(2)} cores`,
);
const file = writeResult('video', { info, ours: { loadMs, runs, stats: ours, peakRssMiB: ourMem.hwmMiB, framesPerBatch: fpb }, upstream, ratios });
console.log(`result: ${file}`);
