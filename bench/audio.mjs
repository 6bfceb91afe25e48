#!/usr/bin/env node
// Audio path (issue 5): per-stage times of groundAudio (ffmpeg decode, resample to 16 kHz, Kaldi
// fbank, ImageBind audio trunk, head + audio Q-Former + audio_llama_proj, prompt, generate), next
// to upstream's own PyTorch audio tower (ImageBind-Huge audio preprocessor + trunk + head +
// postprocessor, audio position embedding, audio Q-Former, audio_llama_proj; float32, same
// threads; bench/upstream/towers.py). Ratio: upstream tower / our tower (target >= 5).
//
//   node bench/audio.mjs --model /tmp/conv-7b/q4 [--threads 2] [--reps 3] [--upstream /tmp/groundinggpt-upstream]
//
// Resample vs fbank: groundAudio reports them together (preprocessMs, one native call); the split
// times the same native call again on the already-16 kHz signal (no resampling: fbank + clips
// only) and takes resample = preprocess - that.
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  fail, foreignCpu, goldenMedia, groundRun, llmStages, load1, memory, parseArgs, pm, ratio, root, runTimed, splitStages, stats, table, towerBenchStart, writeResult,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel, decodeAudio, SYSTEM_PROMPT } = require('../lib/index.js');
const { native } = require('../lib/native.js');

const usage = `usage: node bench/audio.mjs --model <dir> [--threads 2] [--reps 3] [--audio <file>] [--max-tokens 16]
  [--upstream <GroundingGPT checkout>] [--upstream-reps <reps>] [--skip-upstream] [--max-load 1.2] [--wait-min 40]`;
const a = parseArgs(
  {
    model: '', threads: 2, reps: 3, audio: path.join(goldenMedia, 'dog_audio.wav'), maxTokens: 16,
    upstream: '/tmp/groundinggpt-upstream', upstreamReps: 0, skipUpstream: false, maxLoad: 1.2, waitMin: 40,
  },
  usage,
);
const { files, info } = await towerBenchStart('audio', a, usage);
let mon = foreignCpu(); // other processes' CPU while we measure (cores)

// ---- ours -----------------------------------------------------------------------------------
const tl = performance.now();
const model = await loadModel({ model: a.model, threads: a.threads, featureCacheBytes: 0 });
const loadMs = performance.now() - tl;
const question = 'What is making this sound?';
// one graph: 13 ImageBind marks (stem, 12 blocks), then 2 audio Q-Former layers
const graphs = [[0, 1, 15, [['trunk', 12], ['tail', 14]]]];

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
  console.error(`[ours] ${r < 0 ? 'warm-up' : `run ${r + 1}`}: decode ${row.decodeMs.toFixed(1)} ms, resample+fbank ${row.preprocessMs.toFixed(1)}, ` +
    `tower ${row.encodeMs.toFixed(0)} ms (trunk ${row.trunkMs.toFixed(0)}, Q-Former+proj ${row.tailMs.toFixed(0)}), prompt ${row.promptTokens} tok ${row.promptMs.toFixed(0)} ms, ` +
    `${row.generatedTokens} tok at ${row.generateTps.toFixed(2)} t/s, TTFT ${row.ttftMs.toFixed(0)} ms`);
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
const ourMem = memory();
await model.dispose();
const ours = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, stats(runs.map((x) => x[k]))]));

info.foreignCoresOurs = mon.stop();
mon = foreignCpu();
// ---- upstream PyTorch -----------------------------------------------------------------------
let upstream = null;
if (!a.skipUpstream) {
  const args = [path.join(root, 'bench', 'upstream', 'towers.py'), '--upstream', a.upstream, '--tower', 'audio', '--threads', String(a.threads),
    '--reps', String(a.upstreamReps || a.reps)];
  info.load1BeforeUpstream = load1();
  console.error(`[upstream] /usr/bin/python3 ${args.join(' ')}`);
  const r = await runTimed('/usr/bin/python3', args, { timeoutMs: 3600_000 });
  if (r.code !== 0) fail(`upstream tower failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  console.error(`[upstream] saved ${writeResult(`audio-upstream`, j)}`);
  const s = (x) => x.stages_s;
  upstream = {
    raw: j,
    peakRssMiB: r.peakRssMiB,
    encodeMs: stats(j.runs.map((x) => x.total_s * 1000)),
    trunkMs: stats(j.runs.map((x) => (s(x).preprocessor + s(x).trunk) * 1000)),
    tailMs: stats(j.runs.map((x) => (x.total_s - s(x).preprocessor - s(x).trunk) * 1000)),
  };
}
info.load1AtEnd = load1();

info.foreignCoresPeer = mon.stop();
// ---- report ---------------------------------------------------------------------------------
console.log(`\n## Audio: ${path.basename(a.audio)} (${decoded.duration.toFixed(2)} s, ${decoded.sampleRate} Hz, ${decoded.channels.length} ch), ${a.threads} threads, ${a.reps} reps\n`);
console.log(`model load ${loadMs.toFixed(0)} ms; peak RSS ours ${ourMem.hwmMiB.toFixed(0)} MiB` +
  (upstream ? `, upstream ${upstream.peakRssMiB.toFixed(0)} MiB (torch ${upstream.raw.torch}, ${upstream.raw.threads} threads; ImageBind-Huge built whole, other modalities dropped before timing)` : ''));
const rr = (k) => (upstream ? ratio(upstream[k], ours[k]) : null);
const fr = (x) => (x ? `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}` : 'n/a');
const ratios = { tower: rr('encodeMs'), trunk: rr('trunkMs'), tail: rr('tailMs') };
table(['stage', 'ours ms', 'upstream f32 ms', 'upstream/ours'], [
  ['decode (ffmpeg)', pm(ours.decodeMs, 1), '-', ''],
  ['resample + clips + fbank (in groundAudio)', pm(ours.preprocessMs, 1), '-', ''],
  [`  resample ${decoded.sampleRate} Hz -> 16 kHz (difference of means, 20x each)`, (preAll.mean - preFbank.mean).toFixed(1), '-', ''],
  ['  clips + fbank only (16 kHz input, 20x)', pm(preFbank, 1), '-', ''],
  ['ImageBind audio stem + trunk', pm(ours.trunkMs, 0), upstream ? pm(upstream.trunkMs, 0) : 'n/a', fr(ratios.trunk)],
  ['head + pos + audio Q-Former + proj', pm(ours.tailMs, 0), upstream ? pm(upstream.tailMs, 0) : 'n/a', fr(ratios.tail)],
  ['**tower total**', pm(ours.encodeMs, 0), upstream ? pm(upstream.encodeMs, 0) : 'n/a', `${fr(ratios.tower)} (target >= 5)`],
  [`prompt (${ours.promptTokens.mean.toFixed(0)} positions)`, pm(ours.promptMs, 0), '', `${pm(ours.promptTps)} t/s`],
  [`generate (${ours.generatedTokens.mean.toFixed(0)} tokens)`, pm(ours.generateMs, 0), '', `${pm(ours.generateTps)} t/s`],
  ['time to first token', pm(ours.ttftMs, 0), '', ''],
  ['total groundAudio', pm(ours.totalMs, 0), '', ''],
]);
console.log(`load1: start ${info.load1AtStart}, measuring ${info.load1BeforeMeasuring}, upstream ${info.load1BeforeUpstream ?? '-'}, end ${info.load1AtEnd}; other processes' CPU while measuring: ours ${info.foreignCoresOurs.toFixed(2)} cores, peer ${info.foreignCoresPeer.toFixed(2)} cores`);
const file = writeResult('audio', { info, ours: { loadMs, runs, stats: ours, peakRssMiB: ourMem.hwmMiB, preprocessOnly: { all: preAll, fbankOnly: preFbank } }, upstream, ratios });
console.log(`result: ${file}`);
