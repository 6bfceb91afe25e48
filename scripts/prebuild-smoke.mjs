#!/usr/bin/env node
// Loads a prebuilt addon and checks the tiny golden model's greedy tokens (docs/BUILDING.md,
// "Prebuilds and platforms"): the same comparison as test/generate.test.ts (last-position logits
// within the golden tolerance; greedy ids equal up to the first step whose top-1/top-2 margin is
// not above twice our logit error). Needs only lib/native.js and the addon (no sharp), so an arm64
// Node under qemu-user runs it (scripts/arm64-check.sh).
//
//   node scripts/prebuild-smoke.mjs --addon <groundinggpt*.node> --llm <tiny llm.gguf> [--golden <dir>]
//
// Prints one JSON line; exit status 0 when the tokens match.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const addonFile = opt('addon');
const llm = opt('llm');
const golden = path.resolve(opt('golden') ?? path.join(root, '..', 'shared', 'golden'));
if (!addonFile || !llm) {
  process.stderr.write('usage: node scripts/prebuild-smoke.mjs --addon <file.node> --llm <llm.gguf> [--golden <dir>]\n');
  process.exit(2);
}

/** A little-endian float32 .npy file. */
function readNpyF32(file) {
  const b = fs.readFileSync(file);
  const headerLen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + headerLen).toString('latin1');
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: not float32 (${header})`);
  const off = 10 + headerLen;
  return new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length));
}

const manifest = JSON.parse(fs.readFileSync(path.join(golden, 'expected', 'manifest.json'), 'utf8'));
const c = manifest.cases.find((x) => x.id === 'full/text_only');
const expLogits = readNpyF32(path.join(golden, 'expected', c.outputs.logits_last.file));
const { atol, rtol } = c.outputs.logits_last;

process.env.GROUNDINGGPT_ADDON = path.resolve(addonFile);
const { native } = createRequire(import.meta.url)(path.join(root, 'lib', 'native.js'));
const t0 = Date.now();
const addon = native();
const loadMs = Date.now() - t0;
const nm = await addon.loadModel(
  { llm, encodersOnGpu: false, useMmap: true, contextSize: 512, batchSize: 64, threads: 2, threadsBatch: 2, kvType: 'f32', flashAttn: 'auto' },
  addon.createCancel(),
);
try {
  await nm.prompt([{ tokens: Int32Array.from(c.prompt_token_ids) }], addon.createCancel());
  const logits = nm.logits();
  let maxAbs = 0;
  let within = logits.length === expLogits.length;
  for (let i = 0; i < expLogits.length && within; i++) {
    const d = Math.abs(logits[i] - expLogits[i]);
    maxAbs = Math.max(maxAbs, d);
    if (d > atol + rtol * Math.abs(expLogits[i])) within = false;
  }
  let n = c.greedy_top1_top2_margins.findIndex((m) => m <= 2 * maxAbs);
  if (n < 0) n = c.greedy_token_ids.length;
  await nm.prompt([{ tokens: Int32Array.from(c.prompt_token_ids) }], addon.createCancel());
  const g = await nm.generate(
    { maxTokens: 16, temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false },
    addon.createCancel(),
  );
  const got = Array.from(g.tokens);
  const match = within && got.slice(0, n).every((x, i) => x === c.greedy_token_ids[i]);
  const res = {
    node: process.version,
    arch: process.arch,
    addon: path.relative(root, path.resolve(addonFile)),
    addonLoadMs: loadMs,
    logitsMaxAbsDiff: maxAbs,
    logitsWithinTolerance: within,
    comparedTokens: n,
    tokens: got,
    expected: c.greedy_token_ids,
    match,
  };
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exitCode = match ? 0 : 1;
} finally {
  await nm.dispose();
}
