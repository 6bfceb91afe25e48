// Property-based fuzzing of the safetensors reader (src/convert/safetensors.ts): mutated files
// and arbitrary JSON headers give tensors of the announced size or a ConversionError; and the
// regression cases found.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { openSafetensors } from '../src/convert/safetensors';
import { FilePool } from '../src/convert/tensor';
import { fuzz } from './attack/fuzz-tap';
import { tempDir } from './helpers/golden';

t.test('properties', async (t) => {
  for (const name of ['safetensors-mutate', 'safetensors-json']) await fuzz(t, name);
});

const dir = tempDir('ggpt-fuzz-st-');
async function open(header: unknown, data: Buffer) {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, `s${Math.random().toString(36).slice(2)}.safetensors`);
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
  const pool = new FilePool();
  try {
    return await openSafetensors(file, pool);
  } finally {
    await pool.close();
  }
}

t.test('regression: two tensors on the same bytes are refused', async (t) => {
  const data = Buffer.alloc(32);
  await t.rejects(open({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data), {
    name: 'ConversionError',
    tensor: 'b',
    message: /tensors a and b share bytes/,
  });
  const ok = await open(
    {
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      e: { dtype: 'F32', shape: [0], data_offsets: [16, 16] },
      b: { dtype: 'F16', shape: [8], data_offsets: [16, 32] },
    },
    data,
  );
  t.same(
    ok.map((e) => e.name),
    ['a', 'e', 'b'],
    'adjacent ranges and empty tensors are fine',
  );
});

t.test('regression: dtype names of Object.prototype are not dtypes', async (t) => {
  for (const dtype of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
    await t.rejects(
      open({ a: { dtype, shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(4)),
      { name: 'ConversionError', message: new RegExp(`unsupported dtype "${dtype}"`) },
      dtype,
    );
  }
});
