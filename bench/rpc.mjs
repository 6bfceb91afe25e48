#!/usr/bin/env node
// RPC cost (issue 19): the LLM with every layer on one ggml-rpc-server on 127.0.0.1 vs the same
// LLM local, through the raw addon (src/native.ts). Rounds alternate the two sides. Timed per
// round: a prompt of --pp random tokens (t/s = pp / prompt ms) and, after it, --tg greedy tokens
// (t/s = tg / generate ms). Traffic: the client socket's bytes_sent / bytes_received (ss -ti)
// before and after each call: bytes per prompt token and per generated token, what the RPC
// protocol costs on a LAN. The server is the one `npm run build:rpc-server` builds.
//
//   node bench/rpc.mjs --model /work/models/synth-7b-q4km [--threads 2] [--reps 3] [--pp 128] [--tg 32]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { native } = require('../lib/native.js');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const args = {};
for (let i = 2; i < process.argv.length; i++) if (process.argv[i].startsWith('--')) args[process.argv[i].slice(2)] = process.argv[i + 1];
if (!args.model) {
  process.stderr.write('usage: node bench/rpc.mjs --model <dir> [--threads 2] [--reps 3] [--pp 128] [--tg 32]\n');
  process.exit(2);
}
const threads = Number(args.threads ?? 2);
const reps = Number(args.reps ?? 3);
const pp = Number(args.pp ?? 128);
const tg = Number(args.tg ?? 32);
const bin = path.join(root, 'build-rpc', 'bin', 'ggml-rpc-server');
if (!fs.existsSync(bin)) throw new Error(`no ${bin}: npm run build:rpc-server`);

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const server = spawn(bin, ['-H', '127.0.0.1', '-p', String(port), '-t', String(threads)], { stdio: 'ignore' });
process.on('exit', () => server.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
for (let i = 0; ; i++) {
  const ok = await new Promise((r) => {
    const c = net.connect(port, '127.0.0.1', () => {
      c.destroy();
      r(true);
    });
    c.on('error', () => r(false));
  });
  if (ok) break;
  if (i > 200) throw new Error('ggml-rpc-server did not start');
  await new Promise((r) => setTimeout(r, 100));
}

/** bytes_sent and bytes_received of our connections to the server (ss -ti). */
function traffic() {
  const out = execFileSync('ss', ['-tinH', 'dst', `127.0.0.1:${port}`]).toString();
  let sent = 0;
  let recv = 0;
  for (const m of out.matchAll(/bytes_sent:(\d+)/g)) sent += Number(m[1]);
  for (const m of out.matchAll(/bytes_received:(\d+)/g)) recv += Number(m[1]);
  return { sent, recv };
}

const addon = native();
const llm = path.join(args.model, 'llm.gguf');
const base = { llm, encodersOnGpu: false, useMmap: true, contextSize: 1024, batchSize: 512, threads, threadsBatch: threads, kvType: 'f16', flashAttn: 'auto' };
let t0 = Date.now();
const local = await addon.loadModel({ ...base, gpuLayers: 0 }, addon.createCancel());
const localLoad = Date.now() - t0;
t0 = Date.now();
const remote = await addon.loadModel({ ...base, gpuLayers: -1, rpc: [`127.0.0.1:${port}`] }, addon.createCancel());
const remoteLoad = Date.now() - t0;
const nVocab = local.info().nVocab;
const greedy = { temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false };

let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed;
};
async function round(nm, measureTraffic) {
  nm.clear();
  const ids = Int32Array.from({ length: pp }, (_, i) => (i === 0 ? 1 : 100 + (rand() % (nVocab - 200))));
  const a = measureTraffic ? traffic() : undefined;
  let t = performance.now();
  await nm.prompt([{ tokens: ids }], addon.createCancel());
  // reading the logits waits for them: the RPC backend computes asynchronously
  nm.logits();
  const promptMs = performance.now() - t;
  const b = measureTraffic ? traffic() : undefined;
  // the first token is sampled from the prompt's logits; tg more each cost one decode
  t = performance.now();
  const g = await nm.generate({ ...greedy, maxTokens: tg + 1 }, addon.createCancel());
  const genMs = performance.now() - t;
  const c = measureTraffic ? traffic() : undefined;
  return {
    pp: (pp / promptMs) * 1000,
    tg: (tg / genMs) * 1000,
    generated: g.tokens.length,
    ...(measureTraffic
      ? {
          promptBytesPerToken: (b.sent - a.sent + b.recv - a.recv) / pp,
          genSentPerToken: (c.sent - b.sent) / tg,
          genRecvPerToken: (c.recv - b.recv) / tg,
        }
      : {}),
  };
}
await round(local, false); // warm-up
await round(remote, true);
const rows = [];
for (let r = 0; r < reps; r++) {
  const l = await round(local, false);
  const m = await round(remote, true);
  rows.push({ l, m });
  process.stderr.write(
    `round ${r + 1}: pp${pp} local ${l.pp.toFixed(2)} rpc ${m.pp.toFixed(2)} t/s (${(m.pp / l.pp).toFixed(3)}), tg${tg} local ${l.tg.toFixed(2)} rpc ${m.tg.toFixed(2)} t/s (${(m.tg / l.tg).toFixed(3)}); per generated token sent ${m.genSentPerToken.toFixed(0)} B, received ${m.genRecvPerToken.toFixed(0)} B; prompt ${m.promptBytesPerToken.toFixed(0)} B/token\n`,
  );
}
const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const result = {
  cpu: os.cpus()[0]?.model,
  threads,
  load: os.loadavg(),
  loadMs: { local: localLoad, rpc: remoteLoad },
  ppRatio: med(rows.map((x) => x.m.pp / x.l.pp)),
  tgRatio: med(rows.map((x) => x.m.tg / x.l.tg)),
  ppLocal: med(rows.map((x) => x.l.pp)),
  ppRpc: med(rows.map((x) => x.m.pp)),
  tgLocal: med(rows.map((x) => x.l.tg)),
  tgRpc: med(rows.map((x) => x.m.tg)),
  bytesPerGeneratedToken: med(rows.map((x) => x.m.genSentPerToken + x.m.genRecvPerToken)),
  sentPerGeneratedToken: med(rows.map((x) => x.m.genSentPerToken)),
  receivedPerGeneratedToken: med(rows.map((x) => x.m.genRecvPerToken)),
  bytesPerPromptToken: med(rows.map((x) => x.m.promptBytesPerToken)),
};
console.log(JSON.stringify(result, null, 2));
await remote.dispose();
await local.dispose();
server.kill('SIGKILL');
