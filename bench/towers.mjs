#!/usr/bin/env node
// The towers alone, one CPU matmul path against another in the same process: embedImage (CLIP
// ViT-L/336 + projector), embedVideo (EVA ViT-g + Q-Formers, --frames raw frames) and embedAudio
// (ImageBind audio + Q-Former) with towerMatmul 'ggml' (ggml's f16 kernels), 'auto' (the bf16
// kernels: AMX tiles, or AVX512-BF16 dot products on CPUs without AMX) and 'int8' (their int8
// mode) as --modes lists them (docs/BENCHMARKS.md).
//
//   node bench/towers.mjs --model /work/models/synth-7b-q4km [--threads 2] [--rounds 3] [--frames 8]
//        [--towers image,video,audio] [--modes ggml,auto]
//
// Both models stay loaded (their LLM and f16 tower files are the same mapped pages; 'auto' adds
// its packed bf16 copies) and each round runs every mode once per tower, the order of the modes
// reversed every other round, so a shared host's drift hits all modes alike. Inputs are raw pixels
// and PCM (no file decoding in the timed call), the feature cache is off. Reported per tower and
// mode: median [min-max] ms, and per round the ratio of each mode to the first one, with the
// other processes' CPU (cores) during the rounds.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fail, foreignCpu, goldenMedia, load1, modelFiles, parseArgs, runInfo, table, waitForQuiet, writeResult } from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel, decodeAudio } = require('../lib/index.js');

const usage = `usage: node bench/towers.mjs --model <dir> [--threads 2] [--rounds 3] [--frames 8] [--towers image,video,audio]
  [--modes ggml,auto] [--max-load 1.2] [--wait-min 0]`;
const a = parseArgs({ model: '', threads: 2, rounds: 3, frames: 8, towers: 'image,video,audio', modes: 'ggml,auto', maxLoad: 1.2, waitMin: 0 }, usage);
if (!a.model) fail(usage);
const files = modelFiles(a.model);
if (!files.encoders) fail(`no encoders.gguf in ${a.model}`);
const towers = a.towers.split(',');
const modes = a.modes.split(',');
for (const t of towers) if (!['image', 'video', 'audio'].includes(t)) fail(`--towers lists image, video, audio (got ${t})\n${usage}`);
for (const m of modes) if (!['ggml', 'auto', 'int8'].includes(m)) fail(`--modes lists ggml, auto, int8 (got ${m})\n${usage}`);
const info = await runInfo({ bench: 'towers', args: a, files });
info.load1BeforeMeasuring = await waitForQuiet(a.maxLoad, a.waitMin);

// deterministic pixels (content does not change the work)
const pixels = (w, h, seed) => {
  const d = new Uint8Array(w * h * 3);
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761 + seed * 97) >>> 24;
  return { data: d, width: w, height: h, channels: 3 };
};
const image = pixels(336, 336, 1);
const video = { frames: Array.from({ length: a.frames }, (_, i) => pixels(224, 224, i + 2)) };
const decoded = await decodeAudio(path.join(goldenMedia, 'dog_audio.wav'));
const audio = { samples: decoded.channels, sampleRate: decoded.sampleRate };

const models = {};
for (const m of modes) {
  const t0 = performance.now();
  // the LLM is not used: the smallest KV cache
  models[m] = await loadModel({ model: a.model, threads: a.threads, featureCacheBytes: 0, towerMatmul: m, contextSize: 256 });
  console.error(`[towers] ${m}: loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const call = {
  image: (model) => model.embedImage(image),
  video: (model) => model.embedVideo(video),
  audio: (model) => model.embedAudio(audio),
};
// warm-up: the first call of each tower (on-demand loading, graph allocation) is not timed
for (const m of modes) for (const t of towers) await call[t](models[m]);

const ms = Object.fromEntries(towers.map((t) => [t, Object.fromEntries(modes.map((m) => [m, []]))]));
const foreign = [];
for (let round = 0; round < a.rounds; round++) {
  const order = round % 2 ? [...modes].reverse() : modes;
  const mon = foreignCpu();
  for (const t of towers) {
    for (const m of order) {
      const t0 = performance.now();
      await call[t](models[m]);
      ms[t][m].push(performance.now() - t0);
    }
  }
  foreign.push(mon.stop());
  console.error(`[towers] round ${round + 1}/${a.rounds} done, other processes ${foreign.at(-1).toFixed(2)} cores, load ${load1().toFixed(2)}`);
}
for (const m of modes) await models[m].dispose();

const med = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const span = (v) => `${med(v).toFixed(0)} [${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}]`;
const rows = [];
for (const t of towers) {
  for (const m of modes) {
    const per = ms[t][m].map((x, i) => x / ms[t][modes[0]][i]);
    rows.push([t === 'video' ? `video (${a.frames} frames)` : t, m, span(ms[t][m]), m === modes[0] ? '' : `${per.map((r) => r.toFixed(2)).join(', ')}`]);
  }
}
console.log(
  `\n${info.lscpu.find((l) => l.startsWith('Model name')) ?? ''}, ${a.threads} threads, ${a.rounds} rounds; other processes ${foreign.map((f) => f.toFixed(2)).join(', ')} cores per round\n`,
);
table(['tower', 'towerMatmul', 'ms, median [min–max]', `per round / ${modes[0]}`], rows);
console.log(`\nresult: ${writeResult('towers', { info, ms, foreign })}`);
