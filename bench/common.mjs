// Shared helpers of the hand-run benchmarks in bench/ (never run in CI): argument parsing, the
// machine-load gate, statistics, peak memory of this process and of child processes, JSON output.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const peerBin = process.env.GGPT_PEER_BIN || path.join(root, 'build-peers', 'bin');
export const goldenMedia = process.env.GGPT_GOLDEN_MEDIA || path.resolve(root, '..', 'shared', 'golden', 'media');
export const outDir = process.env.GGPT_BENCH_OUT || path.join(os.tmpdir(), 'groundinggpt-bench');

/**
 * `--name value` / `--flag` arguments over `defaults` (numbers stay numbers). Unknown names are an
 * error so that a typo does not silently run the default.
 */
export function parseArgs(defaults, usage) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (!a.startsWith('--')) fail(`unexpected argument ${a}\n${usage}`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) fail(`unknown option ${a}\n${usage}`);
    if (typeof defaults[key] === 'boolean') {
      out[key] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) fail(`${a} needs a value`);
    out[key] = typeof defaults[key] === 'number' ? Number(v) : v;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) fail(`${a} needs a number`);
  }
  return out;
}

export function fail(message) {
  console.error(message);
  process.exit(2);
}

/** mean, sample standard deviation, n, and the values. */
export function stats(values) {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n, values };
}

/** "12.34 ± 0.56" with `d` decimals. */
export function pm(s, d = 2) {
  if (!s || !Number.isFinite(s.mean)) return 'n/a';
  return `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}`;
}

/** Ratio of two means with a first-order sd (independent errors). */
export function ratio(a, b) {
  const r = a.mean / b.mean;
  const rel = Math.sqrt((a.sd / a.mean) ** 2 + (b.sd / b.mean) ** 2);
  return { mean: r, sd: Math.abs(r) * rel, n: Math.min(a.n, b.n) };
}

/** Peak resident set (VmHWM) and current RSS of this process, MiB. */
export function memory() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] || NaN);
  return { hwmMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
}

export function load1() {
  return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** utime + stime + cutime + cstime of a process (jiffies); 0 once it is gone. */
function processJiffies(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const v = st
      .slice(st.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return v[11] + v[12] + v[13] + v[14];
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the machine, and this process's own (with reaped children) plus those of `pids`. */
function cpuSample(pids) {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0);
  const total = f.slice(0, 8).reduce((x, y) => x + y, 0);
  const self = ['self', ...pids].reduce((s, p) => s + processJiffies(p), 0);
  return { busy: total - idle, total, self };
}

/**
 * Counts the CPU that other processes use while we measure: `stop()` returns the cores (0..n)
 * that processes other than this one, its reaped children and `pids` (a live peer that is being
 * measured) kept busy on average.
 */
export function foreignCpu(pids = []) {
  const a = cpuSample(pids);
  return {
    stop() {
      const b = cpuSample(pids);
      const ncpu = os.cpus().length;
      const total = b.total - a.total;
      if (total <= 0) return 0;
      return Math.max(0, ((b.busy - a.busy - (b.self - a.self)) / total) * ncpu);
    },
  };
}

/**
 * Waits until the machine is quiet: 1-minute load average below `max` AND, over 10 s, less than
 * 0.25 cores busy (the load average lags; a compile that just started shows only in the second
 * test). Checks every 30 s for at most `minutes`; warns and goes on when it never gets quiet.
 * Returns the load seen.
 */
export async function waitForQuiet(max, minutes) {
  if (!(max > 0)) return load1();
  const until = Date.now() + minutes * 60_000;
  const busyNow = async () => {
    const m = foreignCpu();
    await new Promise((r) => setTimeout(r, 10_000));
    return m.stop();
  };
  let l = load1();
  let busy = l < max ? await busyNow() : 2;
  while ((l >= max || busy >= 0.25) && Date.now() < until) {
    console.error(`[bench] load ${l.toFixed(2)}, ${busy.toFixed(2)} cores busy: waiting (until ${new Date(until).toTimeString().slice(0, 8)})`);
    await new Promise((r) => setTimeout(r, 20_000));
    l = load1();
    busy = l < max ? await busyNow() : 2;
  }
  if (l >= max || busy >= 0.25) console.error(`[bench] WARNING: load ${l.toFixed(2)}, ${busy.toFixed(2)} cores busy; measuring anyway (numbers are suspect)`);
  return l;
}

/**
 * Runs a command under /usr/bin/time -v. Resolves with its stdout, stderr, exit code, wall ms
 * and peak RSS (MiB, "Maximum resident set size" = the child's ru_maxrss).
 */
export function runTimed(cmd, args, { timeoutMs = 30 * 60_000, env } = {}) {
  return new Promise((resolve, reject) => {
    const tfile = path.join(os.tmpdir(), `ggpt-bench-time-${process.pid}-${Date.now()}.txt`);
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-v', '-o', tfile, cmd, ...args], { env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      let tv = '';
      try {
        tv = fs.readFileSync(tfile, 'utf8');
        fs.unlinkSync(tfile);
      } catch {}
      const m = tv.match(/Maximum resident set size \(kbytes\): (\d+)/);
      resolve({ stdout, stderr, code, wallMs, peakRssMiB: m ? Number(m[1]) / 1024 : NaN });
    });
  });
}

export function lscpuSummary() {
  return new Promise((resolve) => {
    const c = spawn('lscpu');
    let s = '';
    c.stdout.on('data', (d) => (s += d));
    c.on('close', () => {
      const keep = /^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|L2 cache|L3 cache|Hypervisor vendor)/;
      resolve(
        s
          .split('\n')
          .filter((l) => keep.test(l))
          .map((l) => l.replace(/\s+/g, ' ').trim()),
      );
    });
    c.on('error', () => resolve([]));
  });
}

/** Writes `result` as JSON under outDir and returns the path. */
export function writeResult(name, result) {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 1));
  return file;
}

/** Prints a Markdown table. */
export function table(header, rows) {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

/** The model directory's files (llm.gguf, encoders.gguf). */
export function modelFiles(dir) {
  const llm = path.join(dir, 'llm.gguf');
  const encoders = path.join(dir, 'encoders.gguf');
  if (!fs.existsSync(llm)) fail(`no ${llm}: make one with \`groundinggpt synth --preset 7b --type q4_k_m --out ${dir}\``);
  return { llm, encoders: fs.existsSync(encoders) ? encoders : undefined };
}

export function requirePeer(name) {
  const p = path.join(peerBin, name);
  if (!fs.existsSync(p)) fail(`no ${p}: build the peers with \`node bench/build-peers.mjs\` (or set GGPT_PEER_BIN)`);
  return p;
}

/** Context of the run recorded in every result file. */
export async function runInfo(extra) {
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpus: os.cpus().length,
    lscpu: await lscpuSummary(),
    node: process.version,
    load1AtStart: load1(),
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(UV_THREADPOOL_SIZE|OMP_|GOMP_|GGPT_|GGML_|OPENBLAS_)/.test(k))),
    ...extra,
  };
}

/**
 * One grounding call with stage timestamps: `call(options)` runs model.groundX(...). The system
 * prompt gets a per-run prefix (`Run <k>. `) so that no run reuses the previous run's KV cache
 * beyond BOS (Model keeps the longest common prefix, and the media rows of the same file have the
 * same identity); the feature cache must be off (loadModel featureCacheBytes: 0).
 * Returns the result's timings, TTFT (call start -> first onToken), and the encode-progress events
 * (ms since the call started, fraction) for splitting the tower into stages.
 */
export async function groundRun(call, { run, systemPrompt, maxTokens }) {
  const events = [];
  let firstTokenMs = NaN;
  const t0 = performance.now();
  const result = await call({
    system: `Run ${run}. ${systemPrompt}`,
    maxTokens,
    onProgress: (p) => events.push({ t: performance.now() - t0, stage: p.stage, fraction: p.fraction }),
    onToken: () => {
      if (Number.isNaN(firstTokenMs)) firstTokenMs = performance.now() - t0;
    },
  });
  const wallMs = performance.now() - t0;
  return { timings: result.timings, ttftMs: firstTokenMs, wallMs, events, text: result.text, stopReason: result.stopReason, tokens: result.tokens.length };
}

/**
 * Splits one encode call into tower stages from its progress events. `graphs` describes the graphs
 * the tower runs in order, each as [startFraction, endFraction, marks, stages] where stages is
 * a list of [name, lastMarkIndex] (mark indices as in native/src/encoders: one per block).
 * A stage ends at the first event whose fraction reaches start + (end - start) * (lastMark + 1) / marks
 * (the addon coalesces progress values, so an exact value may be skipped when marks come fast).
 */
export function splitStages(events, encodeStartMs, graphs) {
  const enc = events.filter((e) => e.stage === 'encode');
  const out = {};
  let prev = encodeStartMs;
  for (const [f0, f1, marks, stages] of graphs) {
    for (const [name, last] of stages) {
      const target = f0 + ((f1 - f0) * (last + 1)) / marks;
      const ev = enc.find((e) => e.fraction >= target - 1e-4);
      if (!ev) return null;
      out[name] = (out[name] ?? 0) + (ev.t - prev);
      prev = ev.t;
    }
  }
  return out;
}

/** The prompt / generation / end-to-end fields of a row, from a groundRun result. */
export function llmStages(res) {
  const t = res.timings;
  return {
    promptMs: t.promptMs,
    promptTokens: t.promptTokens,
    reusedTokens: t.reusedTokens,
    promptTps: t.promptTokensPerSecond,
    generateMs: t.generateMs,
    generatedTokens: t.generatedTokens,
    generateTps: t.generateTokensPerSecond,
    ttftMs: res.ttftMs,
    totalMs: t.totalMs,
  };
}

/**
 * Common start of the tower benches: checks --model has an encoders.gguf, records the run info,
 * waits for a quiet machine. Returns { files, info }.
 */
export async function towerBenchStart(bench, a, usage) {
  if (!a.model) fail(usage);
  const files = modelFiles(a.model);
  if (!files.encoders) fail(`no encoders.gguf in ${a.model}`);
  const info = await runInfo({ bench, args: a, files });
  info.load1BeforeMeasuring = await waitForQuiet(a.maxLoad, a.waitMin);
  return { files, info };
}

/**
 * Runs `reps` rounds that alternate the two sides back to back (ours, then the peer unless
 * `peer` is null), so the drift of a shared VM host hits both alike. Records in `info` the other
 * processes' CPU during each side (mean cores; during the peer's side not counting `peerPids`, a
 * long-lived peer process) and the load before the first peer run.
 * Returns { ours: [...], peer: [...] }: what each call returned, in round order.
 */
export async function alternateRounds(reps, ours, peer, info, peerPids = []) {
  const out = { ours: [], peer: [] };
  let foreignOurs = 0;
  let foreignPeer = 0;
  for (let round = 0; round < reps; round++) {
    let mon = foreignCpu();
    out.ours.push(await ours(round));
    foreignOurs += mon.stop() / reps;
    if (!peer) continue;
    if (round === 0) info.load1BeforePeer = load1();
    mon = foreignCpu(peerPids);
    out.peer.push(await peer(round));
    foreignPeer += mon.stop() / reps;
  }
  info.foreignCoresOurs = foreignOurs;
  info.foreignCoresPeer = foreignPeer;
  return out;
}

/**
 * A long-lived helper process that answers one JSON line per request line (bench/upstream/towers.py
 * --serve): `next()` resolves with the next JSON line it prints, `send(line)` writes a request,
 * `close()` ends its input and resolves with { code, stderr, last } (last: its final JSON line).
 */
export function lineServer(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const { pid } = child;
  let buf = '';
  let stderr = '';
  const lines = [];
  const waiters = [];
  let exited = null;
  const settle = () => {
    while (waiters.length && (lines.length || exited)) {
      const w = waiters.shift();
      if (lines.length) w.resolve(JSON.parse(lines.shift()));
      else w.reject(new Error(`${path.basename(cmd)} exited (${exited.code}):\n${stderr.slice(-3000)}`));
    }
  };
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) lines.push(line);
    }
    settle();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise((resolve) =>
    child.on('close', (code) => {
      exited = { code };
      settle();
      resolve(code);
    }),
  );
  return {
    pid,
    next: () =>
      new Promise((resolve, reject) => {
        waiters.push({ resolve, reject });
        settle();
      }),
    send: (line) => child.stdin.write(`${line}\n`),
    close: async () => {
      child.stdin.end();
      const code = await closed;
      return { code, stderr, last: lines.length ? JSON.parse(lines[lines.length - 1]) : null };
    },
  };
}
