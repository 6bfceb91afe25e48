#!/usr/bin/env node
// Builds llama.cpp's RPC server (tools/rpc, binary `ggml-rpc-server`) from the same pinned and
// patched source as the addon (scripts/fetch-llama.mjs), so that both ends speak the same RPC
// protocol version: README "Several machines (RPC)".
//
//   npm run build:rpc-server [-- --cuda] [-- --out <dir>] [-- --jobs N]
//   env: GROUNDINGGPT_CUDA=1 (same as --cuda), GROUNDINGGPT_JOBS
//
// Output: build-rpc/bin/ggml-rpc-server (ignored by git). Run it on the machine that has the
// compute (a GPU box: build there with --cuda). It has no authentication: bind it to a trusted
// network or reach it through an SSH tunnel (README).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLlamaTools } from './llama-tools.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const cuda = argv.includes('--cuda') || /^(1|on|true|yes)$/i.test(process.env.GROUNDINGGPT_CUDA ?? '');
const out = path.resolve(root, opt('out') ?? 'build-rpc');
buildLlamaTools({
  out,
  targets: ['ggml-rpc-server'],
  defs: ['-DGGML_RPC=ON', `-DGGML_CUDA=${cuda ? 'ON' : 'OFF'}`, '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=OFF'],
  jobs: opt('jobs'),
});
const bin = path.join(out, 'bin', process.platform === 'win32' ? 'ggml-rpc-server.exe' : 'ggml-rpc-server');
if (!fs.existsSync(bin)) {
  process.stderr.write(`[build-rpc-server] ${bin} was not produced\n`);
  process.exit(1);
}
process.stderr.write(`[build-rpc-server] ${path.relative(process.cwd(), bin)}\n`);
