#!/usr/bin/env node
// Builds llama.cpp's own tools from the same pinned source (deps/llama.cpp, patches applied) with
// the same CPU flags as our addon (GGML_NATIVE, OpenMP default), for side-by-side benchmarks:
// llama-bench, llama-mtmd-cli, llama-quantize -> build-peers/bin/. Run by hand (a few minutes).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchLlama } from '../scripts/fetch-llama.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = fetchLlama();
const out = path.join(root, 'build-peers');
const jobs = String(os.availableParallelism?.() ?? os.cpus().length);
const run = (args) => {
  const r = spawnSync('cmake', args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run([
  '-S',
  src,
  '-B',
  out,
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DLLAMA_CURL=OFF',
  '-DLLAMA_OPENSSL=OFF',
  '-DGGML_NATIVE=ON',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_SERVER=OFF',
  '-DCMAKE_RUNTIME_OUTPUT_DIRECTORY=' + path.join(out, 'bin'),
]);
run(['--build', out, '-j', jobs, '--target', 'llama-bench', 'llama-mtmd-cli', 'llama-quantize']);
console.log(`peers in ${path.join(out, 'bin')}`);
