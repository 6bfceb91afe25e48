// Property-based fuzzing of the GGUF reader (src/gguf/reader.ts): arbitrary bytes and mutations
// of files written by src/gguf/writer.ts give a header whose tensors read back at their size, or
// a ModelLoadError; writer -> reader round-trips. And the regression cases found.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { readGGUF } from '../src/gguf/reader';
import { GGMLType, GGUFValueType } from '../src/gguf/types';
import { gv, writeGGUF } from '../src/gguf/writer';
import { fuzz } from './attack/fuzz-tap';
import { mapGGUF, u32, u64 } from './attack/gguf-map';
import { tempDir } from './helpers/golden';

t.test('properties', async (t) => {
  for (const name of ['gguf-bytes', 'gguf-mutate', 'gguf-roundtrip']) await fuzz(t, name);
});

const dir = tempDir('ggpt-fuzz-gguf-');
let n = 0;
async function valid(): Promise<Buffer> {
  const f = path.join(dir, `v${n++}.gguf`);
  await writeGGUF(
    f,
    [
      ['general.name', gv.str('ab')],
      ['general.namf', gv.str('cd')],
      ['x.alignment', gv.u32(32)],
    ],
    [
      { name: 'ta', shape: [2, 4], type: GGMLType.F32, data: () => new Uint8Array(32) },
      { name: 'tb', shape: [3], type: GGMLType.F32, data: () => new Uint8Array(12) },
    ],
  );
  return fs.readFileSync(f);
}
async function read(b: Buffer) {
  const f = path.join(dir, `m${n++}.gguf`);
  fs.writeFileSync(f, b);
  return readGGUF(f);
}

t.test('the unmodified file reads', async (t) => {
  const g = await read(await valid());
  t.same(
    g.tensors.map((x) => x.name),
    ['ta', 'tb'],
  );
});

t.test('regression: duplicate keys and tensor names are refused (as gguf.cpp does)', async (t) => {
  const b = await valid();
  const m = mapGGUF(b);
  const dupKey = Buffer.from(b);
  dupKey.write('general.name', m.kv('general.namf').at + 8);
  await t.rejects(read(dupKey), { name: 'ModelLoadError', message: /duplicate key general\.name/ });
  const dupTensor = Buffer.from(b);
  dupTensor.write('ta', m.tensor('tb').at + 8);
  await t.rejects(read(dupTensor), { name: 'ModelLoadError', message: /duplicate tensor ta/ });
});

t.test('regression: misaligned tensor data and a non-scalar general.alignment are refused', async (t) => {
  const b = await valid();
  const m = mapGGUF(b);
  const tb = m.tensor('tb');
  const mis = Buffer.from(b);
  u64(tb.offset + 4n).copy(mis, tb.offsetAt);
  await t.rejects(read(mis), { name: 'ModelLoadError', message: /tensor tb data offset \d+ is not a multiple of the alignment 32/ });
  // rename x.alignment -> general.alignment is not possible in place (longer name): write one
  const f = path.join(dir, 'arr-align.gguf');
  await writeGGUF(f, [['general.alignment', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.UINT32, value: [32] }]], []);
  await t.rejects(readGGUF(f), { name: 'ModelLoadError', message: /bad general\.alignment/ });
  const bad = Buffer.from(b);
  u32(GGUFValueType.ARRAY).copy(bad, m.kv('x.alignment').typeAt);
  await t.rejects(read(bad), { name: 'ModelLoadError' }, 'a scalar retyped as an array');
});
