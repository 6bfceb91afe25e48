// The C++ tests of the core (native/tests, built with `node scripts/build.mjs --tests` or
// GROUNDINGGPT_TESTS=1, as .ci/run does): media front ends, our tokenizer against libllama's,
// tasks decoded together and sequence snapshots (test_tasks), towers on demand (test_towers),
// the towers against the golden outputs and the encoders loader against broken files.
import t from 'tap';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expectedDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';

const run = promisify(execFile);
const bin = (name: string) => path.resolve(__dirname, '..', 'build', 'cmake', name);
const built = ['test_preprocess', 'test_vocab', 'test_encoders', 'test_tasks', 'test_towers'].every((n) => fs.existsSync(bin(n)));
const required = /^(1|on|true|yes)$/i.test(process.env.GROUNDINGGPT_TESTS ?? '');
const skip = built ? false : required ? false : 'native tests not built (node scripts/build.mjs --tests)';

t.test('C++ tests', { skip }, async (t) => {
  const files = await tinyConverted('f32');
  const cases: [string, string[]][] = [
    ['test_preprocess', []],
    ['test_vocab', [files.llm]],
    ['test_tasks', [files.llm]],
    ['test_towers', [files.llm, files.encoders]],
    ['test_encoders', [files.encoders, expectedDir, '1', '--bad-files']],
  ];
  for (const [name, args] of cases) {
    const r = await run(bin(name), args, { maxBuffer: 16 << 20 }).then(
      (o) => ({ code: 0, out: o.stdout + o.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
    );
    t.equal(r.code, 0, `${name} passes${r.code ? `:\n${r.out.slice(-2000)}` : ''}`);
  }
});
