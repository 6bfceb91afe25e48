// GGUF writer/reader round trip, alignment, truncation errors; float conversions.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { GGUFValueType, GGMLType } from '../src/gguf/types';
import { gv, writeGGUF } from '../src/gguf/writer';
import { readGGUF, readGGUFTensor, ggufGet } from '../src/gguf/reader';
import { bf16ToF32, f16BitsToF32, f32ToBf16, f32ToF16Bits } from '../src/gguf/float';
import { ModelLoadError } from '../src/errors';
import { tempDir } from './helpers/golden';

const work = tempDir('ggpt-gguf-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test('round trip of metadata and tensors', async (t) => {
  const file = path.join(work, 'a.gguf');
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Uint16Array([f32ToF16Bits(0.5), f32ToF16Bits(-1)]);
  const kv = [
    ['general.architecture', gv.str('test')],
    ['u8', { type: GGUFValueType.UINT8, value: 200 }],
    ['i16', { type: GGUFValueType.INT16, value: -300 }],
    ['u32', gv.u32(4000000000)],
    ['i32', gv.i32(-5)],
    ['f32', gv.f32(1e-5)],
    ['f64', { type: GGUFValueType.FLOAT64, value: Math.PI }],
    ['u64', gv.u64(2n ** 40n)],
    ['bool', gv.bool(true)],
    ['str', gv.str('héllo ▁')],
    ['arr.s', gv.arrStr(['a', '', '<0x0A>'])],
    ['arr.f', gv.arrF32([0.25, -0])],
    ['arr.i', gv.arrI32([1, -2, 3])],
  ] as const;
  const size = await writeGGUF(file, kv, [
    { name: 'a', shape: [2, 3], type: GGMLType.F32, data: () => new Uint8Array(a.buffer) },
    { name: 'b', shape: [2], type: GGMLType.F16, data: async () => new Uint8Array(b.buffer) },
  ]);
  t.equal(size, fs.statSync(file).size);
  const g = await readGGUF(file);
  t.equal(g.version, 3);
  t.same(
    [...g.kv.keys()],
    kv.map(([k]) => k),
    'keys in insertion order',
  );
  t.equal(ggufGet(g, 'u8', GGUFValueType.UINT8), 200);
  t.equal(ggufGet(g, 'i16', GGUFValueType.INT16), -300);
  t.equal(ggufGet(g, 'u32', GGUFValueType.UINT32), 4000000000);
  t.equal(ggufGet(g, 'i32', GGUFValueType.INT32), -5);
  t.equal(ggufGet(g, 'f32', GGUFValueType.FLOAT32), Math.fround(1e-5));
  t.equal(ggufGet(g, 'f64', GGUFValueType.FLOAT64), Math.PI);
  t.equal(ggufGet(g, 'u64', GGUFValueType.UINT64), 2n ** 40n);
  t.equal(ggufGet(g, 'bool', GGUFValueType.BOOL), true);
  t.equal(ggufGet(g, 'str', GGUFValueType.STRING), 'héllo ▁');
  t.same(ggufGet(g, 'arr.s', GGUFValueType.ARRAY), ['a', '', '<0x0A>']);
  t.same(ggufGet(g, 'arr.f', GGUFValueType.ARRAY), [0.25, -0]);
  t.same(ggufGet(g, 'arr.i', GGUFValueType.ARRAY), [1, -2, 3]);
  t.throws(() => ggufGet(g, 'u32', GGUFValueType.INT32), ModelLoadError, 'type-checked getter');
  t.same(
    g.tensors.map((x) => [x.name, x.ne, x.type]),
    [
      ['a', [3, 2], GGMLType.F32],
      ['b', [2], GGMLType.F16],
    ],
  );
  for (const x of g.tensors) t.equal(x.offset % 32, 0, `${x.name} data aligned to 32`);
  t.equal(g.dataOffset % 32, 0);
  t.same(new Float32Array(new Uint8Array(await readGGUFTensor(g, 'a')).buffer), a);
  t.same(Array.from(new Uint16Array(new Uint8Array(await readGGUFTensor(g, 'b')).buffer)), Array.from(b));
});

t.test('writer refuses inconsistent plans; reader rejects truncated and foreign files', async (t) => {
  const file = path.join(work, 'b.gguf');
  await t.rejects(writeGGUF(file, [], [{ name: 'x', shape: [4], type: GGMLType.F32, data: () => new Uint8Array(8) }]), /produced 8 bytes, expected 16/);
  await t.rejects(writeGGUF(file, [], [{ name: 'q', shape: [2, 31], type: GGMLType.Q8_0, data: () => new Uint8Array(0) }]), /does not fit type Q8_0/);
  await t.rejects(
    writeGGUF(
      file,
      [
        ['k', gv.u32(1)],
        ['k', gv.u32(2)],
      ],
      [],
    ),
    /duplicate key k/,
  );

  await writeGGUF(file, [['general.architecture', gv.str('t')]], [{ name: 'x', shape: [64], type: GGMLType.F32, data: () => new Uint8Array(256) }]);
  const full = fs.readFileSync(file);
  const cut = path.join(work, 'cut.gguf');
  fs.writeFileSync(cut, full.subarray(0, full.length - 10));
  await t.rejects(readGGUF(cut), { name: 'ModelLoadError', message: /truncated \(tensor x/ });
  fs.writeFileSync(cut, full.subarray(0, 30));
  await t.rejects(readGGUF(cut), { name: 'ModelLoadError', message: /truncated GGUF header/ });
  fs.writeFileSync(cut, Buffer.from('PK\x03\x04 not a gguf'));
  await t.rejects(readGGUF(cut), { name: 'ModelLoadError', message: /not a GGUF file/ });
  await t.rejects(readGGUF(path.join(work, 'none.gguf')), ModelLoadError);
});

t.test('f16 and bf16 conversions round to nearest even', async (t) => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [1e10, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [3 * 2 ** -26, 0x0001],
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [0.1, 0x2e66],
  ];
  for (const [x, h] of cases) t.equal(f32ToF16Bits(x), h, `f16(${x})`);
  t.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))), 'NaN stays NaN');
  for (let h = 0; h < 0x7c00; h += 37) t.equal(f32ToF16Bits(f16BitsToF32(h)), h, `f16 bits ${h} round trip`);
  const v = new Float32Array([1, -1.5, 3.140625, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
  t.same(Array.from(bf16ToF32(f32ToBf16(v))), [1, -1.5, 3.140625, 1, 1 + 2 ** -6], 'bf16 ties to even');
});
