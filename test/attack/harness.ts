// Runs the attack corpus in child processes so that a process crash is observable: cases go in
// batches to children (test/attack/child.cjs), a few at a time; a child reports a JSON line per
// case. When a child dies (signal, abort, non-zero exit) or hangs, the case it had started is run
// again alone in a fresh child to pinpoint it (crashes alone: that case FAILS as a crash; passes
// alone: it FAILS as a crash that needed the batch's earlier cases), and the batch's other
// unreported cases are run again as a new batch. Every child also checks that the shared tiny
// model gives the same greedy tokens after its batch as a fresh model.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ERROR_CODES, type AttackCase, type AttackEnv, type CaseReport } from './case';

export interface CaseOutcome {
  report?: CaseReport;
  /** The child died while this case ran, and so did a child running it alone. */
  crash?: string;
  /** The child died while this case ran, but the case passed alone. */
  crashedInBatch?: string;
}

export interface BatchCheck {
  ids: string[];
  baseline?: number[];
  after?: number[];
  /** Why the batch's own checks failed (child exit after its cases, fatal error, unhandled rejection outside a case). */
  problem?: string;
}

export interface CorpusResult {
  outcomes: Map<string, CaseOutcome>;
  checks: BatchCheck[];
  children: number;
  ms: number;
}

export interface RunOptions {
  /** Cases per child. */
  batchSize?: number;
  /** Children at a time (default: the CPU count, at most 4). */
  jobs?: number;
  /** A child that reports nothing for this long is killed (the case it runs counts as a crash). */
  caseTimeoutMs?: number;
  onBatch?: (done: number, total: number) => void;
  /** Which list the children take the cases from (by id): the corpus, or cases-selftest.ts. */
  suite?: 'corpus' | 'selftest';
}

interface ChildRun {
  reports: Map<string, CaseReport>;
  started?: string;
  check?: { baseline: number[]; after: number[] };
  done: boolean;
  exit: string;
  problems: string[];
}

const CHILD = path.join(__dirname, 'child.cjs');

function runChild(env: AttackEnv, suite: string, ids: string[], caseTimeoutMs: number, jobDir: string, n: number): Promise<ChildRun> {
  const jobFile = path.join(jobDir, `job-${n}.json`);
  fs.writeFileSync(jobFile, JSON.stringify({ env, ids, suite }));
  const envVars = { ...process.env };
  delete envVars.NODE_OPTIONS;
  const child = spawn(process.execPath, [CHILD, jobFile], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: envVars });
  const run: ChildRun = { reports: new Map(), done: false, exit: '', problems: [] };
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  let timer: NodeJS.Timeout | undefined;
  let hung = false;
  const arm = (ms: number) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, ms);
  };
  arm(caseTimeoutMs + 30_000); // start-up, model load and the first check
  let buf = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let ev: Record<string, unknown>;
      try {
        ev = JSON.parse(line) as Record<string, unknown>;
      } catch {
        run.problems.push(`unparseable line from the child: ${line.slice(0, 200)}`);
        continue;
      }
      if (ev.type === 'start') {
        run.started = ev.id as string;
        arm(caseTimeoutMs);
      } else if (ev.type === 'case') {
        const { type: _t, ...report } = ev;
        run.reports.set(report.id as string, report as unknown as CaseReport);
        run.started = undefined;
        arm(caseTimeoutMs + 10_000);
      } else if (ev.type === 'check') {
        run.check = { baseline: ev.baseline as number[], after: ev.after as number[] };
      } else if (ev.type === 'done') {
        run.done = true;
      } else {
        run.problems.push(`${String(ev.type)}: ${String(ev.message)}`);
      }
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const tail = stderr.trim().split('\n').slice(-4).join(' | ');
      run.exit = hung
        ? `no report for ${caseTimeoutMs / 1000} s (hang), killed${tail ? `; stderr: ${tail}` : ''}`
        : signal
          ? `killed by ${signal}${tail ? `; stderr: ${tail}` : ''}`
          : code !== 0
            ? `exit code ${code}${tail ? `; stderr: ${tail}` : ''}`
            : '';
      fs.rmSync(jobFile, { force: true });
      resolve(run);
    });
  });
}

/** Runs `cases` in children; returns each case's outcome and each batch's usability check. */
export async function runCorpus(cases: readonly AttackCase[], env: AttackEnv, options: RunOptions = {}): Promise<CorpusResult> {
  const t0 = performance.now();
  const batchSize = options.batchSize ?? 40;
  const jobs = options.jobs ?? Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));
  const caseTimeoutMs = options.caseTimeoutMs ?? 60_000;
  const jobDir = fs.mkdtempSync(path.join(env.work, 'jobs-'));
  const outcomes = new Map<string, CaseOutcome>();
  const checks: BatchCheck[] = [];
  interface Batch {
    ids: string[];
    /** A single case run alone after it took a batch child down with it: what happened then. */
    isolating?: string;
  }
  const queue: Batch[] = [];
  for (let i = 0; i < cases.length; i += batchSize) queue.push({ ids: cases.slice(i, i + batchSize).map((c) => c.id) });
  const total = queue.length;
  let finished = 0;
  let children = 0;
  let active = 0;

  await new Promise<void>((resolveAll) => {
    const pump = () => {
      while (active < jobs && queue.length > 0) {
        const batch = queue.shift() as Batch;
        active++;
        const n = children++;
        runChild(env, options.suite ?? 'corpus', batch.ids, caseTimeoutMs, jobDir, n).then((run) => {
          for (const [id, report] of run.reports) {
            const o: CaseOutcome = { report };
            if (batch.isolating && id === batch.ids[0]) o.crashedInBatch = batch.isolating;
            outcomes.set(id, o);
          }
          const died = run.exit !== '' || !run.done;
          if (died) {
            const culprit = run.started;
            const rest = batch.ids.filter((id) => !run.reports.has(id) && id !== culprit);
            if (culprit) {
              const why = run.exit || 'the child ended without finishing its batch';
              if (batch.ids.length === 1) outcomes.set(culprit, { crash: batch.isolating ? `${batch.isolating}; alone: ${why}` : why });
              else {
                const before = batch.ids.slice(0, batch.ids.indexOf(culprit));
                const ctx =
                  before.length > 0
                    ? ` after ${before.length} earlier cases of its batch (${before.slice(-3).join(', ')}${before.length > 3 ? ', ...' : ''})`
                    : '';
                queue.unshift({ ids: [culprit], isolating: `in a batch${ctx}: ${why}` });
              }
            } else {
              checks.push({
                ids: batch.ids,
                problem: `the child died outside any case: ${run.exit || 'no done line'}${run.problems.length ? `; ${run.problems.join('; ')}` : ''}`,
              });
            }
            if (!culprit && run.reports.size === 0) {
              // nothing ran: running these again would die the same way
              for (const id of rest) outcomes.set(id, { crash: `the child died before its first case: ${run.exit || 'no done line'}` });
            } else if (rest.length > 0) queue.push({ ids: rest });
          } else {
            checks.push({
              ids: batch.ids,
              baseline: run.check?.baseline,
              after: run.check?.after,
              ...(run.problems.length ? { problem: run.problems.join('; ') } : {}),
            });
          }
          if (!batch.isolating && !died) finished++;
          options.onBatch?.(finished, total);
          active--;
          if (queue.length === 0 && active === 0) resolveAll();
          else pump();
        });
      }
    };
    if (queue.length === 0) resolveAll();
    else pump();
  });
  fs.rmSync(jobDir, { recursive: true, force: true });
  return { outcomes, checks, children, ms: performance.now() - t0 };
}

/** Whether a case's outcome meets its contract, and why not. */
export function judge(c: AttackCase, o: CaseOutcome | undefined): { pass: boolean; summary: string } {
  if (!o) return { pass: false, summary: 'no outcome (never ran)' };
  if (o.crash) return { pass: false, summary: `PROCESS CRASH: ${o.crash}` };
  const r = o.report as CaseReport;
  if (o.crashedInBatch) return { pass: false, summary: `PROCESS CRASH ${o.crashedInBatch}; alone it gave ${r.ok ? 'success' : `${r.name} ${r.code}`}` };
  if (r.unhandled) return { pass: false, summary: r.unhandled };
  if (r.leakedChildren) return { pass: false, summary: `${r.leakedChildren} ffmpeg children still running after the call settled` };
  if (r.ok) return c.expect === 'error' ? { pass: false, summary: 'accepted (expected a typed error)' } : { pass: true, summary: `ok (${r.ms} ms)` };
  const typed = r.typed === true && r.name !== undefined && ERROR_CODES[r.name] === r.code;
  if (!typed) return { pass: false, summary: `untyped error ${r.name}${r.code ? ` (code ${r.code})` : ''}: ${r.message}` };
  if (c.codes && !c.codes.includes(r.code as string))
    return { pass: false, summary: `${r.name} (code ${r.code}, expected ${c.codes.join('/')}): ${r.message}` };
  return { pass: true, summary: `${r.name}: ${(r.message ?? '').slice(0, 120)} (${r.ms} ms)` };
}
