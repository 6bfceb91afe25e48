// Checkpoint readers: torch zip+pickle views (offsets, strides, shared storages, dtypes, ZIP64),
// safetensors, sharded indexes, the SentencePiece model parser.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../src/convert/checkpoint';
import { parseSentencePiece, readSentencePiece } from '../src/convert/sentencepiece';
import { toFloat32 } from '../src/convert/tensor';
import { ConversionError } from '../src/errors';
import { tempDir, tinyDir } from './helpers/golden';
import {
  type TestTensor,
  type TorchView,
  randomTensor,
  rng,
  storedValues,
  tensorBytes,
  torchPickle,
  writeSafetensors,
  writeTorchCheckpoint,
  writeZip,
} from './helpers/upstream';

const work = tempDir('ggpt-ckpt-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test('torch views: storage offsets, transposes, shared storages, dtypes', async (t) => {
  // one f32 storage of 24 values 0..23, viewed several ways
  const base = new Float32Array(24).map((_, i) => i);
  const views = new Map<string, TorchView>([
    ['whole', { storage: 's', dtype: 'F32', offset: 0, shape: [4, 6], stride: [6, 1] }],
    ['transposed', { storage: 's', dtype: 'F32', offset: 0, shape: [6, 4], stride: [1, 6] }],
    ['row2', { storage: 's', dtype: 'F32', offset: 12, shape: [6], stride: [1] }],
    ['strided', { storage: 's', dtype: 'F32', offset: 1, shape: [2, 3], stride: [12, 2] }],
    ['scalar', { storage: 's', dtype: 'F32', offset: 5, shape: [], stride: [] }],
    ['halves', { storage: 'h', dtype: 'F16', offset: 0, shape: [3], stride: [1] }],
    ['bf', { storage: 'b', dtype: 'BF16', offset: 1, shape: [2], stride: [1] }],
    ['ids', { storage: 'l', dtype: 'I64', offset: 0, shape: [1, 3], stride: [3, 1] }],
  ]);
  const numel = new Map([
    ['s', 24],
    ['h', 3],
    ['b', 3],
    ['l', 3],
  ]);
  const half: TestTensor = { dtype: 'F16', shape: [3], data: new Float32Array([0.5, -2, 1.25]) };
  const bf: TestTensor = { dtype: 'BF16', shape: [3], data: new Float32Array([7, -0.375, 3]) };
  const ids: TestTensor = { dtype: 'I64', shape: [3], data: BigInt64Array.from([1n, 2n, 32000n]) };
  for (const zip64 of [false, true]) {
    const file = path.join(work, `views${zip64 ? '64' : ''}.bin`);
    writeZip(
      file,
      [
        ['archive/data.pkl', torchPickle(views, numel)],
        ['archive/data/s', tensorBytes({ dtype: 'F32', shape: [24], data: base })],
        ['archive/data/h', tensorBytes(half)],
        ['archive/data/b', tensorBytes(bf)],
        ['archive/data/l', tensorBytes(ids)],
        ['archive/byteorder', Buffer.from('little')],
      ],
      zip64,
    );
    const ck = await openCheckpoint(file);
    const get = async (n: string) => {
      const e = ck.tensors.get(n);
      if (!e) throw new Error(`no ${n}`);
      return { e, v: Array.from(toFloat32(await e.read())) };
    };
    const w = await get('whole');
    t.same(w.v, Array.from(base), `contiguous (zip64 ${zip64})`);
    const tr = await get('transposed');
    t.same(tr.e.shape, [6, 4]);
    t.same(tr.v, [0, 6, 12, 18, 1, 7, 13, 19, 2, 8, 14, 20, 3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23], 'transposed view gathered');
    t.same((await get('row2')).v, [12, 13, 14, 15, 16, 17], 'storage offset');
    t.same((await get('strided')).v, [1, 3, 5, 13, 15, 17], 'offset + strides');
    t.same((await get('scalar')).v, [5]);
    const hh = await get('halves');
    t.equal(hh.e.dtype, 'F16');
    t.same(hh.v, [0.5, -2, 1.25]);
    const bb = await get('bf');
    t.equal(bb.e.dtype, 'BF16');
    t.same(bb.v, [-0.375, 3]);
    const ll = await get('ids');
    t.equal(ll.e.dtype, 'I64');
    t.same(ll.v, [1, 2, 32000]);
    await ck.close();
  }
});

t.test('torch checkpoint nested under state_dict; safetensors; dtype round trips', async (t) => {
  const rand = rng(11);
  const tensors = new Map<string, TestTensor>([
    ['a.weight', randomTensor([3, 5], rand, 'F32')],
    ['b.weight', randomTensor([4], rand, 'BF16')],
    ['c.weight', randomTensor([2, 2, 2], rand, 'F16')],
  ]);
  const st = path.join(work, 'x.safetensors');
  writeSafetensors(st, tensors);
  const pt = path.join(work, 'x.bin');
  writeTorchCheckpoint(pt, tensors);
  for (const file of [st, pt]) {
    const ck = await openCheckpoint(file);
    t.same([...ck.tensors.keys()].sort(), ['a.weight', 'b.weight', 'c.weight']);
    for (const [name, tt] of tensors) {
      const e = ck.tensors.get(name);
      t.equal(e?.dtype, tt.dtype, `${path.extname(file)} ${name} dtype`);
      t.same(e?.shape, tt.shape);
      t.same(Array.from(toFloat32(await e!.read())), Array.from(storedValues(tt)), `${path.extname(file)} ${name} values`);
    }
    await ck.close();
  }
});

t.test('sharded index: every listed tensor must be in its shard', async (t) => {
  const rand = rng(12);
  const dir = path.join(work, 'sharded');
  fs.mkdirSync(dir);
  writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), new Map([['x', randomTensor([2], rand)]]));
  writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), new Map([['y', randomTensor([3], rand)]]));
  const index = { weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' } };
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  const ck = await openCheckpoint(dir);
  t.same([...ck.tensors.keys()].sort(), ['x', 'y']);
  t.same(
    ck.files.map((f) => f.name),
    ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'],
  );
  await ck.close();
  fs.writeFileSync(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ weight_map: { ...index.weight_map, z: 'model-00002-of-00002.safetensors' } }),
  );
  const err = await openCheckpoint(dir).catch((e: unknown) => e);
  t.ok(err instanceof ConversionError);
  t.equal((err as ConversionError).tensor, 'z');
  t.equal((err as ConversionError).file, path.join(dir, 'model-00002-of-00002.safetensors'));

  const golden = await openCheckpoint(path.join(tinyDir, 'groundinggpt'));
  t.equal(golden.tensors.size, 366, 'the golden sharded checkpoint has 366 tensors (manifest.state_dict.n_keys)');
  t.equal(golden.tensors.get('model.Qformer.bert.embeddings.position_ids')?.dtype, 'I64');
  await golden.close();
});

t.test('corrupt headers', async (t) => {
  const bad = path.join(work, 'bad.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(5n);
  fs.writeFileSync(bad, Buffer.concat([len, Buffer.from('{"x":')]));
  await t.rejects(openCheckpoint(bad), { name: 'ConversionError', message: /not valid JSON/ });
  const hdr = Buffer.from(JSON.stringify({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }));
  len.writeBigUInt64LE(BigInt(hdr.length));
  fs.writeFileSync(bad, Buffer.concat([len, hdr, Buffer.alloc(4)]));
  await t.rejects(openCheckpoint(bad), { name: 'ConversionError', message: /data_offsets span 4 bytes/ });
  const legacy = path.join(work, 'legacy.bin');
  fs.writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
  await t.rejects(openCheckpoint(legacy), { name: 'ConversionError', message: /legacy torch\.save/ });
});

t.test('SentencePiece model', async (t) => {
  const sp = readSentencePiece(path.join(tinyDir, 'groundinggpt', 'tokenizer.model'));
  t.equal(sp.pieces.length, 1000);
  t.same(sp.pieces[0], { piece: '<unk>', score: 0, type: 2 });
  t.same(sp.pieces[1], { piece: '<s>', score: 0, type: 3 });
  t.same(sp.pieces[3], { piece: '<0x00>', score: 0, type: 6 });
  t.equal(sp.pieces[914].piece, '\u2581', 'piece 914 is the bare word boundary (golden "Hello world" ids)');
  t.equal(sp.modelType, 2, 'BPE');
  t.equal(sp.byteFallback, true);
  t.equal(sp.addDummyPrefix, true);
  t.equal(sp.unkId, 0);
  t.equal(sp.bosId, 1);
  t.equal(sp.eosId, 2);
  t.equal(sp.padId, -1, 'pad_id -1 (a 10-byte negative varint)');
  t.throws(() => parseSentencePiece(Buffer.from([0x0a, 0x20, 0x01])), ConversionError);
});
