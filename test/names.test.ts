// The GGUF name table exists twice: native/src/names.h (the loaders) and src/convert/names.ts
// (the converter). Every constant of the header must exist with the same value in both the
// addon's copy (ggufNames(), compiled from names.h) and the TypeScript module.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import * as names from '../src/convert/names';
import { native } from '../src/native';

const header = fs.readFileSync(path.resolve(__dirname, '..', 'native', 'src', 'names.h'), 'utf8');

/** Constant names declared in names.h, arrays expanded to NAME_i. */
function headerConstants(): string[] {
  const out: string[] = [];
  for (const m of header.matchAll(/inline constexpr (?:const char \*|unsigned) (\w+)(?:\[(\d+)\])?\s*=/g)) {
    if (m[2]) for (let i = 0; i < Number(m[2]); i++) out.push(`${m[1]}_${i}`);
    else out.push(m[1]);
  }
  return out;
}

function tsValue(name: string): unknown {
  const table = names as unknown as Record<string, unknown>;
  const arr = /^(.*)_(\d+)$/.exec(name);
  if (!(name in table) && arr && Array.isArray(table[arr[1]])) return (table[arr[1]] as unknown[])[Number(arr[2])];
  return table[name];
}

t.test('names.h, the addon and names.ts hold the same constants', async (t) => {
  const consts = headerConstants();
  t.ok(consts.length > 150, `names.h declares ${consts.length} constants`);
  const cpp = native().ggufNames();
  t.same(Object.keys(cpp).sort(), [...consts].sort(), 'ggufNames() returns exactly the constants of names.h');
  const diff: string[] = [];
  for (const c of consts) {
    if (tsValue(c) !== cpp[c]) diff.push(`${c}: ts=${JSON.stringify(tsValue(c))} c++=${JSON.stringify(cpp[c])}`);
  }
  t.same(diff, [], 'every value equal');
  t.equal(cpp.FORMAT_VERSION, names.FORMAT_VERSION);
});

t.test('the upstream mapping only uses names of the table', async (t) => {
  const ggufNames = new Set<unknown>(Object.values(names).filter((v) => typeof v === 'string'));
  const specs = [
    ...names.CLIP_GLOBAL_TENSORS,
    ...names.CLIP_BLOCK_TENSORS,
    ...names.MMPROJ_TENSORS,
    ...names.EVA_GLOBAL_TENSORS,
    ...names.EVA_BLOCK_TENSORS,
    ...names.QF_GLOBAL_TENSORS,
    ...names.QF_BLOCK_TENSORS,
    ...names.VIDEO_TENSORS,
    ...names.AUDIO_TENSORS,
    ...names.IB_GLOBAL_TENSORS,
    ...names.IB_BLOCK_TENSORS,
  ];
  for (const s of specs) t.ok(ggufNames.has(s.gguf), `${s.gguf} is a names.h constant`);
  // every tensor constant of the header (the ones whose value names a tensor) is written by some spec
  const written = new Set<unknown>(specs.map((s) => s.gguf));
  const tensorConsts = headerConstants().filter((c) => !c.startsWith('KEY_') && !/^(ARCH_VALUE|FORMAT_VERSION|QF_PREFIXES_\d)$/.test(c));
  const missing = tensorConsts.filter((c) => !written.has(tsValue(c) as string));
  t.same(missing, [], 'every tensor name of names.h has an upstream source');
});
