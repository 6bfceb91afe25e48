// Property-based fuzzing of the ZIP reader (src/convert/zip.ts) and of torch checkpoints through
// it (src/convert/torch.ts): arbitrary and mutated archives give entries or a ConversionError;
// and the regression cases found.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { FilePool } from '../src/convert/tensor';
import { ZipArchive } from '../src/convert/zip';
import { fuzz } from './attack/fuzz-tap';
import { tempDir } from './helpers/golden';
import { writeZip } from './helpers/upstream';

t.test('properties', async (t) => {
  for (const name of ['zip-bytes', 'zip-mutate', 'torch-mutate']) await fuzz(t, name);
});

const dir = tempDir('ggpt-fuzz-zip-');
async function open(bytes: Buffer) {
  const file = path.join(dir, `z${Math.random().toString(36).slice(2)}.zip`);
  fs.writeFileSync(file, bytes);
  const pool = new FilePool();
  try {
    const zip = await ZipArchive.open(file, pool);
    for (const e of zip.entries.values()) await zip.readEntry(e);
    return zip;
  } finally {
    await pool.close();
  }
}
function zipOf(entries: [string, Buffer][], zip64 = false): Buffer {
  const f = path.join(dir, 'tmp.zip');
  writeZip(f, entries, zip64);
  return fs.readFileSync(f);
}

t.test('regression: a ZIP64 extra field shorter than the sizes it must hold (was a RangeError)', async (t) => {
  const b = zipOf([['a', Buffer.from('hello')]]);
  let eocd = b.length - 22;
  while (b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const cen = b.readUInt32LE(eocd + 16);
  // sizes say "see ZIP64", and the entry's extra field (the last bytes of the directory) is an
  // empty ZIP64 record: the 8-byte sizes would be read past the central directory
  b.writeUInt32LE(0xffffffff, cen + 20);
  b.writeUInt32LE(0xffffffff, cen + 24);
  const patched = Buffer.concat([b.subarray(0, eocd), Buffer.from([1, 0, 0, 0]), b.subarray(eocd)]);
  patched.writeUInt16LE(4, cen + 30);
  patched.writeUInt32LE(patched.readUInt32LE(eocd + 4 + 12) + 4, eocd + 4 + 12);
  await t.rejects(open(patched), { name: 'ConversionError', message: /corrupt ZIP64 extra field for a/ });
});

t.test('regression: a deflated entry inflates to at most its declared size (zip bomb)', async (t) => {
  const big = zlib.deflateRawSync(Buffer.alloc(64 << 20));
  const b = zipOf([['archive/data.pkl', big]]);
  // declare it deflated with an uncompressed size of 100 bytes
  let eocd = b.length - 22;
  while (b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const cen = b.readUInt32LE(eocd + 16);
  b.writeUInt16LE(8, 8);
  b.writeUInt16LE(8, cen + 10);
  b.writeUInt32LE(100, cen + 24);
  const t0 = performance.now();
  await t.rejects(open(b), { name: 'ConversionError', message: /cannot inflate archive\/data\.pkl/ });
  t.ok(performance.now() - t0 < 5000, 'stopped early');
  // an honest deflated entry still reads
  const small = zipOf([['x', zlib.deflateRawSync(Buffer.from('abcabcabc'))]]);
  let e2 = small.length - 22;
  while (small.readUInt32LE(e2) !== 0x06054b50) e2--;
  const c2 = small.readUInt32LE(e2 + 16);
  small.writeUInt16LE(8, c2 + 10);
  small.writeUInt32LE(9, c2 + 24);
  const zip = await open(small);
  t.equal(zip.entries.get('x')?.size, 9);
});

t.test('regression: a stored entry whose two sizes differ is refused at open', async (t) => {
  const b = zipOf([['a', Buffer.from('hello')]]);
  let eocd = b.length - 22;
  while (b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  b.writeUInt32LE(1 << 30, b.readUInt32LE(eocd + 16) + 24);
  await t.rejects(open(b), { name: 'ConversionError', message: /stored entry a has sizes 5 and 1073741824/ });
  t.ok(await open(zipOf([['a', Buffer.from('hello')]], true)), 'a ZIP64 archive still opens');
});
