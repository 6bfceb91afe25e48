// Cases that misbehave on purpose, to check that the harness sees what it must: a typed error and
// success pass; an untyped error, an unhandled rejection, an abort (what a GGML_ASSERT does), a
// segfault, an exit and a hang fail (the crashing ones pinpointed by running them alone, the
// cases after them in the batch still run); a batch whose shared model was broken fails its
// usability check. test/attack.test.ts runs them first.
import { InvalidInputError } from '../../src/errors';
import type { AttackCase } from './case';

const c = (id: string, run: AttackCase['run']): AttackCase => ({ id: `selftest/${id}`, category: 'api', expect: 'any', run });

export function selfTestCases(): AttackCase[] {
  return [
    c('ok', async () => undefined),
    c('typed', async () => {
      throw new InvalidInputError('expected');
    }),
    c('untyped', async () => {
      throw new TypeError('not one of ours');
    }),
    c('unhandled', async () => {
      void Promise.reject(new Error('nobody waits for me'));
      await new Promise((r) => setTimeout(r, 10));
    }),
    c('abort', async () => process.abort()),
    c('after-abort', async () => undefined),
    c('segv', async () => {
      process.kill(process.pid, 'SIGSEGV');
      await new Promise((r) => setTimeout(r, 5000));
    }),
    c('exit', async () => process.exit(7)),
    c('hang', async () => {
      for (;;);
    }),
    c('last', async () => undefined),
  ];
}

/** A batch that disposes the child's shared model: its after-batch check must fail. */
export function selfTestBrokenModel(): AttackCase[] {
  return [c('dispose-shared', async (ctx) => (await ctx.model()).dispose())];
}
