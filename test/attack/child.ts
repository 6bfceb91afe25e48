// Runs a batch of attack cases in this (child) process and reports on file descriptor 3, one JSON
// line per event: `start` before a case, `case` (a CaseReport) after it, `check` with the greedy
// tokens of the shared tiny model before and after the batch, `done` at the end. If this
// process dies, the lines written so far tell the harness which case was running.
import fs from 'node:fs';
import path from 'node:path';
import { GroundingGPTError } from '../../src/errors';
import { loadModel, setLogger, type Model } from '../../src/index';
import { runningChildren } from '../../src/media/ffmpeg';
import { CHECK_OPTIONS, CHECK_PROMPT, type AttackEnv, type CaseContext, type CaseReport } from './case';
import { allCases } from './cases';
import { selfTestBrokenModel, selfTestCases } from './cases-selftest';

interface Job {
  env: AttackEnv;
  ids: string[];
  suite: 'corpus' | 'selftest';
}

const emit = (o: object) => fs.writeSync(3, `${JSON.stringify(o)}\n`);

let current: { id: string; unhandled?: string } | undefined;
const describeError = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 400);
process.on('unhandledRejection', (reason) => {
  if (current) current.unhandled ??= `unhandled rejection: ${describeError(reason)}`;
  else emit({ type: 'unhandled', message: describeError(reason) });
});
process.on('uncaughtException', (err) => {
  if (current) current.unhandled ??= `uncaught exception: ${describeError(err)}`;
  else emit({ type: 'unhandled', message: describeError(err) });
});

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Job;
  setLogger(null);
  const env = job.env;
  const cases = job.suite === 'selftest' ? [...selfTestCases(), ...selfTestBrokenModel()] : allCases(env);
  const byId = new Map(cases.map((c) => [c.id, c]));
  const work = fs.mkdtempSync(path.join(env.work, 'child-'));
  let shared: Promise<Model> | undefined;
  const model = () => (shared ??= loadModel({ model: env.modelDir, threads: 1, contextSize: 256 }));
  let caseDir = '';
  const ctx: CaseContext = {
    ...env,
    model,
    file: (name) => path.join(caseDir, name),
    loadAndUse: async (files) => {
      const m = await loadModel({ model: files, threads: 1, contextSize: 64 });
      try {
        await m.generate('Hello', { maxTokens: 3, stop: [] });
        const media = m.info.media;
        const img = { data: new Uint8Array(12 * 10 * 3).fill(77), width: 12, height: 10, channels: 3 as const };
        if (media.image.available) await m.embedImage(img);
        if (media.audio.available) await m.embedAudio({ samples: new Float32Array(3000).fill(0.02), sampleRate: 16000 });
        if (media.video.available) await m.embedVideo({ frames: [img, img, img] });
      } finally {
        await m.dispose();
      }
    },
  };
  const baseline = (await (await model()).generate(CHECK_PROMPT, CHECK_OPTIONS)).tokens;
  for (const id of job.ids) {
    const c = byId.get(id);
    if (!c) throw new Error(`unknown attack case ${id}`);
    emit({ type: 'start', id });
    current = { id };
    caseDir = fs.mkdtempSync(path.join(work, 'case-'));
    const t0 = performance.now();
    const report: CaseReport = { id, ok: true, ms: 0 };
    try {
      await c.run(ctx);
    } catch (err) {
      const e = err as { name?: unknown; code?: unknown; message?: unknown };
      report.ok = false;
      report.name = typeof e?.name === 'string' ? e.name : typeof err;
      if (typeof e?.code === 'string') report.code = e.code;
      report.typed = err instanceof GroundingGPTError;
      report.message = String(e?.message ?? err).slice(0, 300);
    }
    report.ms = Math.round(performance.now() - t0);
    // late rejections of the case, and ffmpeg children it left running
    await new Promise((r) => setTimeout(r, 5));
    for (let waited = 0; runningChildren().length > 0 && waited < 500; waited += 50) await new Promise((r) => setTimeout(r, 50));
    if (runningChildren().length > 0) report.leakedChildren = runningChildren().length;
    if (current.unhandled) report.unhandled = current.unhandled;
    current = undefined;
    fs.rmSync(caseDir, { recursive: true, force: true });
    emit({ type: 'case', ...report });
  }
  const after = (await (await model()).generate(CHECK_PROMPT, CHECK_OPTIONS)).tokens;
  emit({ type: 'check', baseline, after });
  await (await model()).dispose();
  fs.rmSync(work, { recursive: true, force: true });
  emit({ type: 'done' });
}

main().then(
  () => process.exit(0),
  (err) => {
    emit({ type: 'fatal', message: describeError(err) });
    process.exit(3);
  },
);
