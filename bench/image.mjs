#!/usr/bin/env node
// Image path (issue 3): per-stage times of groundImage (sharp decode, pad + Pillow-bicubic resize,
// CLIP ViT-L/14-336 + MLP projector, prompt, generate, time to first token) next to llama.cpp's
// llama-mtmd-cli (built from the same patched source, bench/build-peers.mjs) encoding the same
// image with a LLaVA-1.5-shaped CLIP-L/336 + MLP mmproj of the same size (F16, 23 computed layers)
// in front of the same llm.gguf. Ratios: our encode / their encode (target <= 0.8), our TTFT /
// their TTFT (target <= 0.9).
//
//   node bench/image.mjs --model /tmp/conv-7b/q4 --mmproj /tmp/bench-models/mmproj-clip-l336-mlp-f16.gguf [--threads 2] [--reps 3]
//
// --reps rounds alternate the two sides (ours: load, warm-up call, timed call, dispose; then one
// llama-mtmd-cli run); ratios are taken per round.
//
// Definitions (both sides: model already loaded, towers warm, same system prompt, greedy):
//   encode : CLIP + projector on the preprocessed image. Ours = groundImage's encode stage minus
//            the pad+resize+normalise time (timed separately through the addon's imagePreprocess on
//            the same pixels); theirs = "mtmd batch encoding done in N ms".
//   TTFT   : from having the image file to the first generated token. Ours = groundImage call ->
//            first onToken (sharp decode, preprocess, encode, prompt of ~640 positions, first
//            sample). Theirs, from the --log-timestamps log: the line logged right before
//            load_media (the "experimental CLI" warning) -> the llama_perf_context_print line,
//            minus the decode time of the tokens after the first ("eval time"): image file decode,
//            preprocess, encode, system + image + text prefill, first sample.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  alternateRounds,
  fail,
  goldenMedia,
  groundRun,
  llmStages,
  load1,
  memory,
  parseArgs,
  pm,
  requirePeer,
  runTimed,
  splitStages,
  stats,
  table,
  towerBenchStart,
  writeResult,
} from './common.mjs';

const require = createRequire(import.meta.url);
const { loadModel, decodeImage, SYSTEM_PROMPT } = require('../lib/index.js');
const { native } = require('../lib/native.js');

const usage = `usage: node bench/image.mjs --model <dir> --mmproj <LLaVA-1.5 mmproj gguf> [--threads 2] [--reps 3] [--image <file>]
  [--max-tokens 16] [--tower-matmul auto|ggml|int8] [--skip-peer] [--max-load 1.2] [--wait-min 40]
  (make the mmproj: LLAMA_GGUF_PY=deps/llama.cpp/gguf-py python3 <peer-bench>/make_random_llava.py --out-dir /tmp/bench-models --what mmproj)`;
const a = parseArgs(
  {
    model: '',
    mmproj: '/tmp/bench-models/mmproj-clip-l336-mlp-f16.gguf',
    threads: 2,
    reps: 3,
    image: path.join(goldenMedia, 'test-1.jpeg'),
    towerMatmul: 'auto',
    maxTokens: 16,
    question: 'Please describe the image and include the object positions in [x0, y0, x1, y1] format.',
    skipPeer: false,
    maxLoad: 1.2,
    waitMin: 40,
  },
  usage,
);
if (!a.skipPeer && !fs.existsSync(a.mmproj)) fail(`no mmproj at ${a.mmproj}\n${usage}`);
const { files, info } = await towerBenchStart('image', a, usage);

// ---- ours -----------------------------------------------------------------------------------
// Rounds alternate the two sides (so the drift of a shared VM host hits both alike): each round
// loads our model, makes one untimed warm-up call and one timed call, disposes it (both sides
// never hold 10 GB at once), then runs llama-mtmd-cli once. Ratios are per round.
const addon = native();
const img = await decodeImage(a.image);
const graphs = [[0, 1, 24, [['clip', 23]]]]; // marks: embeddings, then 23 CLIP layers; the projector follows
const loadTimes = [];
let ourMem = null;
async function oursRound(round) {
  const tl = performance.now();
  const model = await loadModel({ model: a.model, threads: a.threads, featureCacheBytes: 0, towerMatmul: a.towerMatmul });
  loadTimes.push(performance.now() - tl);
  let row = null;
  for (let r = -1; r < 1; r++) {
    const res = await groundRun((o) => model.groundImage(a.image, a.question, o), {
      run: 2 * round + r + 1,
      systemPrompt: SYSTEM_PROMPT,
      maxTokens: a.maxTokens,
    });
    const t = res.timings;
    const tp = performance.now();
    addon.imagePreprocess(img.data, img.width, img.height, img.width * 3);
    const preprocessMs = performance.now() - tp;
    const split = splitStages(res.events, t.decodeMs + t.preprocessMs, graphs);
    row = {
      decodeMs: t.decodeMs,
      preprocessMs,
      encodeMs: t.encodeMs,
      clipProjMs: t.encodeMs - preprocessMs,
      clipMs: split ? split.clip - preprocessMs : NaN,
      projMs: split ? t.encodeMs - split.clip : NaN,
      ...llmStages(res),
    };
    console.error(
      `[ours] round ${round + 1} ${r < 0 ? 'warm-up' : 'timed'}: decode ${row.decodeMs.toFixed(1)} ms, preprocess ${row.preprocessMs.toFixed(1)}, ` +
        `encode ${row.encodeMs.toFixed(0)} (CLIP ${row.clipMs.toFixed(0)}, projector ${row.projMs.toFixed(0)}), prompt ${row.promptTokens} tok ${row.promptMs.toFixed(0)} ms, ` +
        `${row.generatedTokens} tok at ${row.generateTps.toFixed(2)} t/s, TTFT ${row.ttftMs.toFixed(0)} ms`,
    );
  }
  ourMem = memory();
  await model.dispose();
  return row;
}

// ---- llama-mtmd-cli -------------------------------------------------------------------------
const tsOf = (line) => {
  const m = line.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+) /);
  return m ? Number(m[1]) * 60_000 + Number(m[2]) * 1000 + Number(m[3]) + Number(m[4]) / 1000 : null;
};
function parseMtmd(log) {
  const d = {};
  let tStart = null;
  for (const line of log.split('\n')) {
    let m;
    if (tStart === null && line.includes('This is an experimental CLI')) tStart = tsOf(line);
    if ((m = line.match(/mtmd batch encoding done in (\d+) ms/))) d.encodeMs = Number(m[1]);
    if ((m = line.match(/image decoded \(batch 1\/1\) in (\d+) ms/))) d.imagePrefillMs = Number(m[1]);
    if ((m = line.match(/decoding image batch 1\/1, n_tokens_batch = (\d+)/))) d.imageTokens = Number(m[1]);
    if ((m = line.match(/prompt eval time =\s+([\d.]+) ms \/\s+(\d+) tokens/))) [d.promptEvalMs, d.promptTokens] = [Number(m[1]), Number(m[2])];
    if ((m = line.match(/\beval time =\s+([\d.]+) ms \/\s+(\d+) runs/)) && !line.includes('prompt')) [d.evalMs, d.evalRuns] = [Number(m[1]), Number(m[2])];
    if (line.includes('llama_perf_context_print:        load time')) d.tPerf = tsOf(line);
    if (/Flash Attention|flash_attn|CPU_REPACK|AMX model buffer|clip_model_loader: has vision|projector/.test(line))
      (d.log ??= []).push(line.replace(/^\S+ \S /, '').trim());
  }
  if (d.evalMs !== undefined && d.evalRuns) d.decodeTps = (d.evalRuns / d.evalMs) * 1000;
  if (tStart !== null && d.tPerf !== undefined && d.evalMs !== undefined) d.ttftMs = d.tPerf - tStart - d.evalMs;
  return d;
}

const peerBin = a.skipPeer ? null : requirePeer('llama-mtmd-cli');
const peerArgs = [
  '-m',
  files.llm,
  '--mmproj',
  a.mmproj,
  '--image',
  a.image,
  '-p',
  a.question,
  '-sys',
  SYSTEM_PROMPT,
  '-n',
  String(a.maxTokens),
  '--temp',
  '0',
  '-t',
  String(a.threads),
  '--chat-template',
  'vicuna',
  '--perf',
  '-lv',
  '4',
  '--log-timestamps',
];
if (peerBin) console.error(`[peer] ${peerBin} ${peerArgs.map((x) => (/\s/.test(x) ? JSON.stringify(x) : x)).join(' ')}`);
async function peerRound(round) {
  const res = await runTimed(peerBin, peerArgs);
  if (res.code !== 0) fail(`llama-mtmd-cli failed (${res.code}):\n${res.stderr.slice(-3000)}`);
  const d = parseMtmd(res.stderr + '\n' + res.stdout);
  d.peakRssMiB = res.peakRssMiB;
  d.wallMs = res.wallMs;
  console.error(
    `[peer] round ${round + 1}: encode ${d.encodeMs} ms, image prefill ${d.imagePrefillMs} ms (${d.imageTokens} tok), prompt eval ${d.promptEvalMs} ms / ${d.promptTokens} tok, ` +
      `decode ${d.decodeTps?.toFixed(2)} t/s, TTFT ${d.ttftMs?.toFixed(0)} ms`,
  );
  return d;
}

const { ours: runs, peer: prs } = await alternateRounds(a.reps, oursRound, peerBin && peerRound, info);
const loadMs = stats(loadTimes).mean;
const ours = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, stats(runs.map((x) => x[k]))]));
let peer = null;
if (peerBin) {
  const col = (k) => stats(prs.map((x) => x[k]).filter((x) => Number.isFinite(x)));
  peer = {
    command: [peerBin, ...peerArgs],
    runs: prs,
    stats: Object.fromEntries(['encodeMs', 'imagePrefillMs', 'promptEvalMs', 'promptTokens', 'decodeTps', 'ttftMs', 'peakRssMiB'].map((k) => [k, col(k)])),
  };
}
info.load1AtEnd = load1();
// ---- report ---------------------------------------------------------------------------------
const p = peer?.stats;
// per-round ratios (each round's two sides ran back to back)
const perRound = (ok, pk) => stats(runs.map((x, i) => x[ok] / prs[i][pk]).filter((x) => Number.isFinite(x)));
const ratios = p
  ? {
      encode: perRound('clipProjMs', 'encodeMs'),
      encodeInclPreprocess: perRound('encodeMs', 'encodeMs'),
      ttft: perRound('ttftMs', 'ttftMs'),
      decode: perRound('generateTps', 'decodeTps'),
    }
  : {};
const fr = (x) => (x ? `${x.mean.toFixed(3)} ± ${x.sd.toFixed(3)}` : 'n/a');
console.log(`\n## Image: ${path.basename(a.image)} (${img.width}x${img.height}), ${a.threads} threads, ${a.reps} reps, ${a.maxTokens} new tokens\n`);
console.log(
  `model load ${loadMs.toFixed(0)} ms; peak RSS ours ${ourMem.hwmMiB.toFixed(0)} MiB (LLM + CLIP: the other towers load on demand)` +
    (p ? `, llama-mtmd-cli ${pm(p.peakRssMiB, 0)} MiB (LLM + CLIP)` : ''),
);
table(
  ['stage', 'ours ms', 'llama-mtmd-cli ms', 'ours/theirs', 'target'],
  [
    ['decode (sharp / stb_image)', pm(ours.decodeMs, 1), '-', '', ''],
    ['pad + bicubic resize + normalise', pm(ours.preprocessMs, 1), '-', '', ''],
    ['CLIP (23 layers)', pm(ours.clipMs, 0), '-', '', ''],
    ['projector', pm(ours.projMs, 0), '-', '', ''],
    ['**encode (CLIP + projector)**', pm(ours.clipProjMs, 0), p ? pm(p.encodeMs, 0) : 'n/a', fr(ratios.encode), '<= 0.8'],
    ['encode incl. preprocess', pm(ours.encodeMs, 0), p ? pm(p.encodeMs, 0) : 'n/a', fr(ratios.encodeInclPreprocess), ''],
    [
      `prompt (ours ${ours.promptTokens.mean.toFixed(0)} positions; theirs image ${p ? peer.runs[0].imageTokens : '?'} + text)`,
      pm(ours.promptMs, 0),
      p ? `${pm(p.promptEvalMs, 0)} (llama counter, ${p.promptTokens.mean} tok, incl. encode)` : 'n/a',
      '',
      '',
    ],
    [`generate (${ours.generatedTokens.mean.toFixed(0)} tokens), t/s`, pm(ours.generateTps), p ? pm(p.decodeTps) : 'n/a', fr(ratios.decode), ''],
    ['**time to first token**', pm(ours.ttftMs, 0), p ? pm(p.ttftMs, 0) : 'n/a', fr(ratios.ttft), '<= 0.9'],
    ['total groundImage', pm(ours.totalMs, 0), '', '', ''],
  ],
);
if (peer) console.log(`\nmtmd log: ${(peer.runs[0].log ?? []).slice(0, 12).join(' | ')}`);
console.log(
  `load1: start ${info.load1AtStart}, measuring ${info.load1BeforeMeasuring}, peer ${info.load1BeforePeer ?? '-'}, end ${info.load1AtEnd}; other processes' CPU while measuring: ours ${info.foreignCoresOurs.toFixed(2)} cores, peer ${info.foreignCoresPeer.toFixed(2)} cores`,
);
const file = writeResult('image', { info, ours: { loadMs, runs, stats: ours, peakRssMiB: ourMem.hwmMiB }, peer, ratios });
console.log(`result: ${file}`);
