// llama-tools.mjs - builds tools of llama.cpp itself (its own CMake project) from the pinned and
// patched source of scripts/fetch-llama.mjs, static, native CPU flags, no curl/OpenSSL, no tests,
// into <out>/bin: the peers of the benchmarks (bench/build-peers.mjs) and the RPC server
// (scripts/build-rpc-server.mjs). ccache is used when present.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fetchLlama } from './fetch-llama.mjs';

/** Configures and builds `targets` in `out`; `defs` are extra -D settings. Exits on failure. */
export function buildLlamaTools({ out, targets, defs = [], jobs }) {
  const src = fetchLlama();
  const run = (args) => {
    const r = spawnSync('cmake', args, { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  };
  const launcher =
    spawnSync('ccache', ['--version'], { stdio: 'ignore' }).status === 0 ? ['-DCMAKE_C_COMPILER_LAUNCHER=ccache', '-DCMAKE_CXX_COMPILER_LAUNCHER=ccache'] : [];
  run([
    '-S',
    src,
    '-B',
    out,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DGGML_NATIVE=ON',
    '-DLLAMA_CURL=OFF',
    '-DLLAMA_OPENSSL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    ...defs,
    `-DCMAKE_RUNTIME_OUTPUT_DIRECTORY=${path.join(out, 'bin')}`,
    ...launcher,
  ]);
  const j = String(jobs ?? process.env.GROUNDINGGPT_JOBS ?? os.availableParallelism?.() ?? os.cpus().length);
  run(['--build', out, '-j', j, '--target', ...targets]);
}
