// Runs fuzz targets of ./fuzz-props.ts inside a tap test: the target's CI run count from a random
// seed (GGPT_FUZZ_SEED fixes it; GGPT_FUZZ_RUNS scales the counts), with the seed and the
// shrunk counterexample in the failure message so that it can become a regression case.
import type { Test } from 'tap';
import fc from 'fast-check';
import { runTarget, targets } from './fuzz-props';

export async function fuzz(t: Test, name: string): Promise<void> {
  const target = targets[name];
  const scale = Number(process.env.GGPT_FUZZ_RUNS ?? 1);
  const runs = Math.max(1, Math.round(target.ciRuns * scale));
  const seed = process.env.GGPT_FUZZ_SEED !== undefined ? Number(process.env.GGPT_FUZZ_SEED) : undefined;
  const t0 = performance.now();
  const d = await runTarget(name, runs, seed);
  const ms = performance.now() - t0;
  if (d.failed) {
    const err = d.errorInstance instanceof Error ? `${d.errorInstance.name}: ${d.errorInstance.message}` : String(d.errorInstance);
    t.fail(
      `${name} (${target.about}): ${err}\n  seed ${d.seed}, path ${d.counterexamplePath}\n  counterexample: ${fc.stringify(d.counterexample).slice(0, 2000)}`,
    );
  } else {
    t.pass(`${name}: ${d.numRuns} runs, no counterexample (${target.about}; ${(ms / 1000).toFixed(1)} s, seed ${d.seed})`);
  }
}
