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

// patches/ggml-amx-scratch-on-stack.patch: ggml's AMX kernels kept ~64 KiB of scratch in
// `static thread_local` arrays, and inside a dlopen'd addon every access to them is a
// __tls_get_addr call (~5 % of prompt processing). The addon's TLS segment stays small.
const addon = path.join(root, 'build', 'Release', 'groundinggpt.node');
const elf = fs.existsSync(addon) ? fs.readFileSync(addon) : null;
const isElf64le = !!elf && elf.readUInt32BE(0) === 0x7f454c46 && elf[4] === 2 && elf[5] === 1;
t.test(
  'the addon has no large thread-local storage',
  { skip: !elf ? 'no local build of the addon' : !isElf64le ? 'not a 64-bit little-endian ELF' : false },
  async (t) => {
    const b = elf!;
    const phoff = Number(b.readBigUInt64LE(0x20)),
      phentsize = b.readUInt16LE(0x36),
      phnum = b.readUInt16LE(0x38);
    let tls = 0;
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (b.readUInt32LE(ph) === 7 /* PT_TLS */) tls = Number(b.readBigUInt64LE(ph + 0x28)); // p_memsz
    }
    t.ok(tls < 4096, `TLS segment ${tls} bytes (< 4096)`);
  },
);
