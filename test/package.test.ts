// The published entry points: CommonJS require and ES-module import of the built lib/.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

t.test('require() and import both expose the same API', async (t) => {
  const cjs = execFileSync(process.execPath, ['-e', "const g=require('groundinggpt');console.log(JSON.stringify(Object.keys(g).sort()))"], {
    cwd: root,
  }).toString();
  const esm = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', "import * as g from 'groundinggpt';console.log(JSON.stringify(Object.keys(g).filter(k=>k!=='default').sort()))"],
    { cwd: root },
  ).toString();
  const cjsNames = JSON.parse(cjs) as string[];
  t.same(JSON.parse(esm), cjsNames);
  t.ok(cjsNames.includes('InvalidInputError'));
  t.ok(cjsNames.includes('systemInfo'));
});

t.test('the native addon loads and reports its backends', async (t) => {
  const out = execFileSync(process.execPath, ['-e', "console.log(require('groundinggpt').systemInfo())"], { cwd: root }).toString();
  t.match(out, /CPU/);
});
