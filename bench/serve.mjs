#!/usr/bin/env node
// Server throughput (issue 18): `groundinggpt serve --parallel N` next to llama-server built from
// the same pinned llama.cpp (bench/build-peers.mjs; `--parallel N`, continuous batching, the same
// llm.gguf, the same threads) under 1, 2, 4 and 8 concurrent clients. Each client sends OpenAI Chat
// Completions requests one after another (stream: true, temperature 0, a fixed max_tokens) and
// waits for each answer: text-only questions to both servers, and questions about one image (a data:
// URL of a JPEG; different prompts) to ours only. Prints per N and load: aggregate generated
// tokens/s, requests/s, p50/p95 time to first token and latency, peak RSS of the server process
// (VmHWM), as the median [min–max] over the rounds; the ratios ours / llama-server (text, per
// round) and ours at N=4 / ours at N=1. Writes a JSON result with every request.
//
//   node bench/serve.mjs --model /tmp/conv-7b/q4 [--n 1,2,4,8] [--rounds 3] [--tokens 32]
//
// Both sides are measured by the same client code: node:http (a new loopback connection per
// request: llama-server closes idle keep-alive sockets) and a hand-written SSE parser. (Not fetch:
// its built-in undici agent ends a response whose headers take over 300 s, which a 7B server at N=8
// with image prompts can exceed, and Node gives no way to change that without the undici package.)
// Time to first token: request sent -> first chunk with non-empty delta.content. Tokens per
// request: usage.completion_tokens of the last chunk (stream_options.include_usage), else the
// number of content chunks. llama-server gets ignore_eos: true; ours stops at EOS or "###", so its
// answers may be shorter: tokens/s counts what each server reports. llama-server gets a chat
// template that renders our prompt (docs/COMPUTATION.md §5: "{system}###Human: {question}###Assistant:"),
// checked against lib/prompt.js through its /apply-template, so both prefill the same tokens.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chatStream, freePort, get, post, procMemory, quantile, sleep } from './serve-client.mjs';
import { fail, foreignCpu, goldenMedia, modelFiles, parseArgs, requirePeer, root, runInfo, table, waitForQuiet, writeResult } from './common.mjs';

const require = createRequire(import.meta.url);
const usage = `usage: node bench/serve.mjs --model <dir> [--server both|ours|peer] [--n 1,2,4,8] [--rounds 3]
  [--requests 2] [--tokens 32] [--load text,image] [--threads ${os.cpus().length}] [--ctx 2048] [--image <jpeg>]
  [--ours-args "..."] [--peer-args "-cram 0"] [--max-load 1.2] [--wait-min 40] [--start-timeout 900]
  --requests: requests per client per round; --ctx: context per sequence (llama-server gets -c ctx*N);
  --peer-args: extra llama-server arguments (default -cram 0: no host-memory prompt cache, which ours
  does not have); --ours-args: extra \`groundinggpt serve\` arguments.`;
const a = parseArgs(
  {
    model: '',
    server: 'both',
    n: '1,2,4,8',
    rounds: 3,
    requests: 2,
    tokens: 32,
    load: 'text,image',
    threads: os.cpus().length,
    ctx: 2048,
    image: path.join(goldenMedia, 'test-1.jpeg'),
    oursArgs: '',
    peerArgs: '-cram 0',
    maxLoad: 1.2,
    waitMin: 40,
    startTimeout: 900,
  },
  usage,
);
if (!a.model) fail(usage);
if (!['both', 'ours', 'peer'].includes(a.server)) fail(`--server must be both, ours or peer\n${usage}`);
const files = modelFiles(a.model);
const ns = String(a.n).split(',').map(Number);
if (ns.some((n) => !Number.isInteger(n) || n < 1)) fail('--n: a list of positive integers');
const loads = String(a.load).split(',');
if (loads.some((l) => l !== 'text' && l !== 'image')) fail('--load: text and/or image');
const useOurs = a.server !== 'peer';
const usePeer = a.server !== 'ours';

// ---- the two servers ---------------------------------------------------------------------------
const ourCli = path.join(root, 'lib', 'cli.js');
if (useOurs && !fs.existsSync(path.join(root, 'lib', 'serve'))) {
  fail(
    'our server is not built: no lib/serve/ (src/serve/, `groundinggpt serve`, issue 18). Build it with `npm run compile:ts`, or run the peer alone with --server peer.',
  );
}
const oursHelp = useOurs ? spawnSync(process.execPath, [ourCli, 'help', 'serve'], { encoding: 'utf8' }).stdout + '' : '';
const peerBinPath = usePeer ? requirePeer('llama-server') : '';
const { SYSTEM_PROMPT } = require('../lib/prompt.js');

// Our prompt as a Jinja template (see the header); messages here are plain strings.
const template = `{%- if messages[0]['role'] == 'system' -%}{{ messages[0]['content'] }}{%- else -%}${SYSTEM_PROMPT}{%- endif -%}###
{%- for m in messages -%}
{%- if m['role'] == 'user' -%}Human: {{ m['content'] }}###{%- elif m['role'] == 'assistant' -%}Assistant: {{ m['content'] }}###{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}Assistant:{%- endif -%}`;
const templateFile = path.join(os.tmpdir(), `ggpt-bench-serve-template-${process.pid}.jinja`);
fs.writeFileSync(templateFile, template);

const split = (s) => String(s).split(/\s+/).filter(Boolean);
const children = new Set();

/** Starts a server, resolves once GET /health answers 200: { kind, n, pid, port, model, stop(), log() }. */
async function startServer(kind, n) {
  const port = await freePort();
  const base = `--host 127.0.0.1 --port ${port} --parallel ${n}`;
  const threads = String(a.threads);
  const [cmd, args] =
    kind === 'ours'
      ? [
          process.execPath,
          [
            ourCli,
            'serve',
            '--model',
            a.model,
            ...split(`${base} --context-size ${a.ctx}`),
            ...(oursHelp.includes('--threads') ? ['--threads', threads] : []),
            ...split(a.oursArgs),
          ],
        ]
      : [
          peerBinPath,
          [
            '-m',
            files.llm,
            ...split(`${base} -c ${a.ctx * n} --cont-batching -t ${threads} -tb ${threads} --jinja --skip-chat-parsing --no-webui`),
            '--chat-template-file',
            templateFile,
            ...split(a.peerArgs),
          ],
        ];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines = [];
  const keep = (d) => {
    for (const l of String(d).split('\n')) if (l.trim()) lines.push(l);
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve(exited);
    }),
  );
  const log = () => lines.slice(-40).join('\n');
  const until = Date.now() + a.startTimeout * 1000;
  const t0 = performance.now();
  for (;;) {
    if (exited) fail(`${kind} server exited (${JSON.stringify(exited)}) before it was ready:\n${cmd} ${args.join(' ')}\n${log()}`);
    const r = await get(port, '/health').catch(() => null);
    if (r && r.status === 200) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      fail(`${kind} server not ready after ${a.startTimeout} s:\n${log()}`);
    }
    await sleep(250);
  }
  const readyMs = performance.now() - t0;
  const models = JSON.parse((await get(port, '/v1/models')).body);
  const model = models.data?.[0]?.id ?? 'default';
  const stop = async () => {
    if (exited) return exited;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const e = await exit;
    clearTimeout(t);
    return e;
  };
  return { kind, n, pid: child.pid, port, model, readyMs, cmdline: [cmd, ...args].join(' '), stop, log };
}

// no server outlives the script, however it ends
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));

// ---- loads -------------------------------------------------------------------------------------
const TEXT_QUESTIONS = [
  'What does a lighthouse do, and why do ships at night still need one?',
  'Explain in simple words how a bicycle stays upright while it is moving.',
  'Why does bread go stale, and what is the best way to keep it fresh?',
  'Describe how rain forms in a cloud and why it falls to the ground.',
  'What is the difference between a violin and a viola in size and sound?',
  'How do bees find their way back to the hive after collecting nectar?',
  'Why is the sky blue during the day and red or orange at sunset?',
  'What should a person pack for a two-day hike in the mountains?',
];
const IMAGE_QUESTIONS = [
  'What is in the image? Answer with the main objects and where they are.',
  'Describe the scene in the image in one sentence.',
  'Where is the most prominent object in the image? Give its bounding box.',
  'What colours dominate the image, and where are they?',
];
const imageUrl = loads.includes('image') && useOurs ? `data:image/jpeg;base64,${fs.readFileSync(a.image).toString('base64')}` : '';
// request numbers per server and load: both servers get the same questions in the same order
const requestIds = new Map();
// llama-server fails a chat completion whose output is not valid UTF-8 ("does not match the
// expected peg-native format", with or without --jinja): random weights pick lone byte tokens
// <0x80>..<0xFF>. The peer gets them banned (logit_bias false); ours has not failed on them here.
// What a token costs to decode does not depend on which token it is.
const highBytes = usePeer ? await byteTokens(files.llm) : [];
async function byteTokens(file) {
  const { readGGUF } = require('../lib/gguf/reader.js');
  const tokens = (await readGGUF(file)).kv.get('tokenizer.ggml.tokens')?.value ?? [];
  return tokens.flatMap((t, i) => (/^<0x[89A-F][0-9A-F]>$/.test(t) ? [i] : []));
}

function requestBody(srv, load) {
  const key = `${srv.kind}/${srv.n}/${load}`;
  const id = requestIds.get(key) ?? 0;
  requestIds.set(key, id + 1);
  // the request number opens the question, so requests share only the system prompt's prefix
  const q = load === 'text' ? TEXT_QUESTIONS[id % TEXT_QUESTIONS.length] : IMAGE_QUESTIONS[id % IMAGE_QUESTIONS.length];
  const content =
    load === 'text'
      ? `Request ${id}. ${q}`
      : [
          { type: 'image_url', image_url: { url: imageUrl } },
          { type: 'text', text: `Request ${id}. ${q}` },
        ];
  return {
    model: srv.model,
    messages: [{ role: 'user', content }],
    max_tokens: a.tokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
    ...(srv.kind === 'peer' ? { ignore_eos: true, logit_bias: highBytes.map((t) => [t, false]) } : {}),
  };
}

/** The q-quantile of one field over a list of records. */
const pq = (list, key, q) =>
  quantile(
    list.map((r) => r[key]),
    q,
  );

/** N clients, each sending `perClient` requests in turn; the run's aggregate figures and its requests. */
async function loadRun(srv, load, n, perClient) {
  const requests = [];
  const mon = foreignCpu([srv.pid]);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        const start = performance.now() - t0;
        const r = await chatStream(srv, requestBody(srv, load));
        requests.push({ client, start, ...r });
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const foreignCores = mon.stop();
  const tokens = requests.reduce((s, r) => s + r.tokens, 0);
  return {
    server: srv.kind,
    load,
    n,
    wallMs,
    tokens,
    tokPerS: (tokens / wallMs) * 1000,
    reqPerS: (requests.length / wallMs) * 1000,
    ttftP50: pq(requests, 'ttftMs', 0.5),
    ttftP95: pq(requests, 'ttftMs', 0.95),
    latP50: pq(requests, 'latencyMs', 0.5),
    latP95: pq(requests, 'latencyMs', 0.95),
    tokensPerRequest: pq(requests, 'tokens', 0.5),
    streamTokPerS: pq(requests, 'streamTokPerS', 0.5),
    promptTokens: pq(requests, 'promptTokens', 0.5),
    foreignCores,
    requests,
  };
}

/** Checks that llama-server renders the prompt as ours does (lib/prompt.js promptText). */
async function checkTemplate(srv) {
  const { promptText } = require('../lib/prompt.js');
  const messages = [{ role: 'user', content: 'Request 0. Is this the same prompt?' }];
  const res = await new Promise((resolve, reject) => {
    const json = JSON.stringify({ messages });
    const req = post(srv.port, '/apply-template', json);
    req.on('error', reject);
    req.on('response', (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (b += d));
      r.on('end', () => resolve({ status: r.statusCode, body: b }));
    });
    req.end(json);
  });
  const theirs = res.status === 200 ? JSON.parse(res.body).prompt : `(HTTP ${res.status})`;
  const want = promptText({ user: messages[0].content });
  if (theirs !== want)
    console.error(`[bench] WARNING: llama-server's prompt differs from ours:\n  theirs: ${JSON.stringify(theirs)}\n  ours:   ${JSON.stringify(want)}`);
  return theirs === want;
}
/** One field over the rounds: "median [min–max]". */
const col = (rs, key, d) =>
  fmt(
    rs.map((r) => r[key]),
    d,
  );

// ---- the run -----------------------------------------------------------------------------------
const median = (v) => quantile(v, 0.5);
const fmt = (v, d) => {
  const x = v.filter(Number.isFinite);
  if (!x.length) return 'n/a';
  const lo = Math.min(...x);
  const hi = Math.max(...x);
  return x.length > 1 ? `${median(x).toFixed(d)} [${lo.toFixed(d)}–${hi.toFixed(d)}]` : median(x).toFixed(d);
};

const info = await runInfo({ bench: 'serve', args: a, files, peer: usePeer ? peerBinPath : null });
info.load1BeforeMeasuring = await waitForQuiet(a.maxLoad, a.waitMin);
const results = [];
const servers = [];
/** The warm-up and the rounds at one N on started servers: the runs, in order. */
async function measure(n, srvs) {
  const peer = srvs.find((s) => s.kind === 'peer');
  if (peer) peer.templateOk = await checkTemplate(peer);
  const plan = [];
  for (const s of srvs) for (const l of loads) if (l === 'text' || s.kind === 'ours') plan.push([s, l]);
  // warm-up: one request per client (pages in the weights, fills the slots, encodes the image once)
  for (const [s, l] of plan) await loadRun(s, l, n, 1);
  const runs = [];
  for (let r = 0; r < a.rounds; r++) {
    // the servers take turns, in the opposite order each round, so the drift of the VM hits both
    for (const [s, l] of r % 2 ? [...plan].reverse() : plan) {
      await sleep(300); // OpenMP threads of the previous side spin for a while after their last job
      const run = await loadRun(s, l, n, a.requests);
      run.round = r;
      runs.push(run);
      console.error(
        `[bench] N=${n} round ${r + 1}/${a.rounds} ${s.kind} ${l}: ${run.tokPerS.toFixed(2)} tok/s, ${run.requests.length} requests, TTFT p50 ${run.ttftP50.toFixed(0)} ms, other processes ${run.foreignCores.toFixed(2)} cores`,
      );
    }
  }
  return runs;
}

for (const n of ns) {
  const srvs = [];
  if (useOurs) srvs.push(await startServer('ours', n));
  if (usePeer) srvs.push(await startServer('peer', n));
  try {
    results.push(...(await measure(n, srvs)));
  } catch (e) {
    for (const s of srvs) console.error(`--- ${s.kind} server (N=${n}), last lines:\n${s.log()}`);
    fail(`[bench] N=${n}: ${e.message}`);
  }
  for (const s of srvs) {
    const mem = procMemory(s.pid);
    const exit = await s.stop();
    servers.push({
      kind: s.kind,
      n,
      cmdline: s.cmdline,
      readyMs: s.readyMs,
      peakRssMiB: mem.hwmMiB,
      rssAtEndMiB: mem.rssMiB,
      exit,
      templateOk: s.templateOk,
      logTail: s.log(),
    });
  }
}
fs.rmSync(templateFile, { force: true });

// ---- report ------------------------------------------------------------------------------------
const pick = (n, server, load) => results.filter((r) => r.n === n && r.server === server && r.load === load);
const rows = [];
for (const n of ns) {
  for (const [server, load] of [
    ['ours', 'text'],
    ['peer', 'text'],
    ['ours', 'image'],
  ]) {
    const rs = pick(n, server, load);
    if (!rs.length) continue;
    const mem = servers.find((s) => s.n === n && s.kind === server);
    rows.push([
      n,
      server === 'ours' ? 'groundinggpt' : 'llama-server',
      load,
      col(rs, 'tokPerS', 2),
      col(rs, 'reqPerS', 3),
      col(rs, 'ttftP50', 0),
      col(rs, 'ttftP95', 0),
      col(rs, 'latP50', 0),
      col(rs, 'latP95', 0),
      col(rs, 'streamTokPerS', 2),
      col(rs, 'tokensPerRequest', 0),
      col(rs, 'promptTokens', 0),
      mem ? mem.peakRssMiB.toFixed(0) : 'n/a',
      col(rs, 'foreignCores', 2),
    ]);
  }
}
console.log(
  `\n### serve: ${path.basename(a.model)}, ${a.threads} threads, ${a.tokens} max tokens, ${a.requests} requests per client per round, ${a.rounds} rounds (median [min–max])\n`,
);
table(
  [
    'N',
    'server',
    'load',
    'gen tok/s',
    'req/s',
    'TTFT p50 ms',
    'TTFT p95 ms',
    'latency p50 ms',
    'latency p95 ms',
    'stream tok/s',
    'tokens/req',
    'prompt tokens',
    'peak RSS MiB',
    'other CPU (cores)',
  ],
  rows,
);

const ratios = {};
if (useOurs && usePeer && loads.includes('text')) {
  console.log('\nours / llama-server, aggregate generated tokens/s, text-only (per round; target ≥ 1.0):\n');
  const rr = [];
  for (const n of ns) {
    const o = pick(n, 'ours', 'text');
    const p = pick(n, 'peer', 'text');
    const v = o.map((r, i) => r.tokPerS / p[i].tokPerS);
    ratios[`oursOverPeerN${n}`] = v;
    rr.push([n, fmt(v, 3)]);
  }
  table(['N', 'ours / llama-server'], rr);
}
if (useOurs && ns.includes(1) && ns.length > 1) {
  console.log('\nours at N / ours at N=1, aggregate generated tokens/s (medians; target at N=4 ≥ 2.5):\n');
  const rr = [];
  for (const load of loads) {
    const base = median(pick(1, 'ours', load).map((r) => r.tokPerS));
    for (const n of ns.filter((x) => x !== 1)) {
      const v = median(pick(n, 'ours', load).map((r) => r.tokPerS)) / base;
      ratios[`oursN${n}OverN1${load}`] = v;
      rr.push([n, load, v.toFixed(2)]);
    }
  }
  table(['N', 'load', 'ours N / ours N=1'], rr);
}
const shorter = results.filter((r) => r.server === 'ours' && r.tokensPerRequest < a.tokens);
if (shorter.length)
  console.log(`\nnote: ${shorter.length} of our runs had a median answer shorter than ${a.tokens} tokens (EOS or "###" in the random model's output).`);
const file = writeResult('serve', { info, servers, ratios, results });
console.log(`\nresult: ${file}`);
