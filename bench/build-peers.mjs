#!/usr/bin/env node
// Builds llama.cpp's own tools from the same pinned source (deps/llama.cpp, patches applied) with
// the same CPU flags as our addon (GGML_NATIVE, OpenMP default), for side-by-side benchmarks:
// llama-bench, llama-mtmd-cli, llama-quantize, llama-server -> build-peers/bin/. Run by hand (a few
// minutes on many cores; about an hour on 2). `node bench/build-peers.mjs [target...]` builds only the
// named targets; GROUNDINGGPT_JOBS sets the parallel jobs (default: all cores).
// llama-server is built without curl/OpenSSL and without its web UI (LLAMA_BUILD_UI=OFF and
// LLAMA_USE_PREBUILT_UI=OFF: no npm build, no download; the server answers the API only), so the
// build needs no network.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLlamaTools } from '../scripts/llama-tools.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build-peers');
const all = ['llama-bench', 'llama-mtmd-cli', 'llama-quantize', 'llama-server'];
const targets = process.argv.length > 2 ? process.argv.slice(2) : all;
for (const t of targets) {
  if (!all.includes(t)) {
    console.error(`unknown target ${t}; one of ${all.join(', ')}`);
    process.exit(2);
  }
}
buildLlamaTools({
  out,
  targets,
  // llama-server without its web UI (no npm build, no download)
  defs: ['-DLLAMA_BUILD_SERVER=ON', '-DLLAMA_BUILD_UI=OFF', '-DLLAMA_USE_PREBUILT_UI=OFF'],
});
console.log(`peers in ${path.join(out, 'bin')}`);
