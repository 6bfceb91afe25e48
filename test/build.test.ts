// The build switches: the CUDA configuration must configure wherever nvcc exists (compiling and
// running it is checked on a GPU machine).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';

const root = path.resolve(__dirname, '..');
const hasNvcc = spawnSync('nvcc', ['--version']).status === 0;

t.test('GROUNDINGGPT_CUDA=1 configures with ggml-cuda', { skip: hasNvcc ? false : 'nvcc not on PATH' }, async (t) => {
  const out = tempDir('ggpt-cuda-cfg-');
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--configure-only', '--out', out], {
    cwd: root,
    env: { ...process.env, GROUNDINGGPT_CUDA: '1' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) t.fail(`configure failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
  else t.pass('configure succeeds');
  const cache = fs.readFileSync(path.join(out, 'CMakeCache.txt'), 'utf8');
  t.match(cache, /GGML_CUDA:BOOL=ON/);
  t.match(cache, /GROUNDINGGPT_CUDA:BOOL=ON/);
  t.ok(fs.existsSync(path.join(out, 'llama.cpp', 'ggml', 'src', 'ggml-cuda')), 'ggml-cuda is part of the build tree');
});
