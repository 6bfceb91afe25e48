#!/usr/bin/env node
// Memory of a loaded model (issue 20 part 1, docs/ARCHITECTURE.md "Towers on demand" and "Memory
// defaults"): the process's resident set (VmRSS, split into file-backed and anonymous pages) after
// each step, next to what `model.info.memory` lists, and the peak (VmHWM).
//
//   node bench/memory.mjs --model /work/models/synth-7b-q4km [--threads 2] [--steps image,video,audio,release]
//        [--frames 4] [--context-size 0] [--towers none]
//
// Steps, in one process: load (towers on demand unless --towers), one image question (groundImage,
// 4 new tokens), embedVideo of the golden clip at --frames frames, embedAudio of the golden sound,
// releaseTowers(). Checks (the targets): after each step the sum of info.memory is within
// 5 % of the RSS growth since before the load (file-backed pages of llm.gguf count: the first
// prompt reads every weight); the peak with all three towers used is <= 1.1x that sum.
// `--steps image` gives the peak of one image question, to set next to llama-mtmd-cli's
// (`/usr/bin/time -v build-peers/bin/llama-mtmd-cli ...`, see docs/BENCHMARKS.md).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fail, goldenMedia, parseArgs, writeResult } from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel } = require('../lib/index.js');

const usage =
  'usage: node bench/memory.mjs --model <dir> [--threads 2] [--steps image,video,audio,release] [--frames 4] [--context-size 0] [--towers none|all]';
const a = parseArgs({ model: '', threads: 2, steps: 'image,video,audio,release', frames: 4, contextSize: 0, towers: 'none' }, usage);
if (!a.model) fail(usage);
const steps = a.steps.split(',').filter(Boolean);

const MiB = 1024 * 1024;
function status() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] || NaN) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') };
}
const f = (b) => (b / MiB).toFixed(0);

const rows = [];
let base;
let model;
function record(step) {
  const s = status();
  const m = model ? model.info.memory : null;
  const growth = s.rss - base.rss;
  const total = m ? m.total - m.device : 0;
  const row = {
    step,
    rssMiB: s.rss / MiB,
    growthMiB: growth / MiB,
    anonGrowthMiB: (s.anon - base.anon) / MiB,
    fileGrowthMiB: (s.file - base.file) / MiB,
    hwmGrowthMiB: (s.hwm - base.rss) / MiB,
    memory: m,
    totalMiB: total / MiB,
    ratio: total > 0 ? growth / total : NaN,
    peakRatio: total > 0 ? (s.hwm - base.rss) / total : NaN,
  };
  rows.push(row);
  console.error(
    `[${step}] RSS ${f(s.rss)} MiB (+${f(growth)}: file +${f(s.file - base.file)}, anon +${f(s.anon - base.anon)}), peak +${f(s.hwm - base.rss)}; ` +
      (m
        ? `info.memory ${f(total)} MiB (llm ${f(m.llm)}, towers ${f(m.towers.image)}/${f(m.towers.video)}/${f(m.towers.audio)}, kv ${f(m.kvCache)}, compute ${f(m.compute.llm)}+${f(m.compute.towers)}); growth/sum ${row.ratio.toFixed(3)}`
        : ''),
  );
}

// the library and its addon, sharp and the media decoders loaded before the baseline
await import('sharp');
base = status();
record('baseline');
model = await loadModel({
  model: a.model,
  threads: a.threads,
  featureCacheBytes: 0,
  towers: a.towers === 'all' ? 'all' : 'none',
  ...(a.contextSize > 0 ? { contextSize: a.contextSize } : {}),
});
record('load');
const info = model.info;
console.error(`context ${info.contextSize} positions, ${info.description}; ${info.systemInfo.slice(0, 120)}`);
for (const step of steps) {
  const t0 = performance.now();
  if (step === 'image') await model.groundImage(path.join(goldenMedia, 'test-1.jpeg'), 'Where is the dog?', { maxTokens: 4 });
  else if (step === 'video') await model.embedVideo(path.join(goldenMedia, 'test-3.mp4'), { maxFrames: a.frames });
  else if (step === 'audio') await model.embedAudio(path.join(goldenMedia, 'dog_audio.wav'));
  else if (step === 'release') await model.releaseTowers();
  else fail(`unknown step ${step}`);
  console.error(`[${step}] ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  record(step);
}
await model.dispose();
model = null;
record('dispose');

console.log(`\n## Memory: ${path.basename(a.model)}, context ${info.contextSize}, ${a.threads} threads\n`);
console.log('| step | RSS growth MiB (file + anon) | peak growth MiB | info.memory MiB | growth / memory | peak / memory |');
console.log('|---|---|---|---|---|---|');
for (const r of rows.slice(1)) {
  console.log(
    `| ${r.step} | ${r.growthMiB.toFixed(0)} (${r.fileGrowthMiB.toFixed(0)} + ${r.anonGrowthMiB.toFixed(0)}) | ${r.hwmGrowthMiB.toFixed(0)} | ${r.totalMiB.toFixed(0)} | ${Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : '-'} | ${Number.isFinite(r.peakRatio) ? r.peakRatio.toFixed(3) : '-'} |`,
  );
}
const used = rows.filter((r) => r.memory && r.step !== 'load' && r.step !== 'release');
const within = used.every((r) => Math.abs(r.ratio - 1) <= 0.05);
console.log(`\nsum of info.memory within 5 % of the RSS growth after every call: ${within ? 'yes' : 'NO'}`);
const all3 = rows.find((r) => r.step === 'audio' && r.memory && r.memory.towers.image > 0 && r.memory.towers.video > 0);
if (all3) console.log(`all three towers used: peak ${all3.hwmGrowthMiB.toFixed(0)} MiB = ${all3.peakRatio.toFixed(3)}x the sum of info.memory (target <= 1.1)`);
console.log(`process peak (VmHWM): ${f(status().hwm)} MiB`);
console.log(`result: ${writeResult('memory', { args: a, contextSize: info.contextSize, rows })}`);
