// A require hook that runs the project's TypeScript (src/, test/) in plain Node child processes:
// each .ts file is transpiled once with TypeScript's transpileModule (no type check, CommonJS, the
// options of tsconfig.json that matter for emit) and cached on disk by content hash, so the attack
// harness's many short-lived children start in a fraction of a second instead of loading a
// TypeScript loader each time. Files keep their real paths (__dirname, the addon's location).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const cacheDir = process.env.GGPT_TS_CACHE || path.join(os.tmpdir(), 'ggpt-ts-hook-cache');
fs.mkdirSync(cacheDir, { recursive: true });
let ts;

function compile(source, filename) {
  const key = crypto.createHash('sha1').update('v1\0').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not cached yet
  }
  ts = ts || require('typescript');
  const out = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      esModuleInterop: true,
      inlineSourceMap: true,
      inlineSources: false,
    },
  }).outputText;
  const tmp = `${cached}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, cached);
  return out;
}

require.extensions['.ts'] = function loadTs(module, filename) {
  module._compile(compile(fs.readFileSync(filename, 'utf8'), filename), filename);
};

try {
  process.setSourceMapsEnabled(true);
} catch {
  // older Node: stack traces point into the transpiled code
}
