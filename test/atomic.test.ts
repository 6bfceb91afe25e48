// Atomic, durable writes (src/util/atomic.ts): the destination is either the old file or the
// whole new one, no temporary file is left behind after a success or a failure, a folder can be
// moved into place, and writeFileAtomic (write-file-atomic) writes buffers and strings.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { durableRename, writeAtomic, writeFileAtomic } from '../src/util/atomic';
import { tempDir } from './helpers/golden';

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

t.test('writeAtomic replaces the file, or leaves the old one and no temporary file', async (t) => {
  const dir = tempDir();
  const dest = path.join(dir, 'out.bin');
  fs.writeFileSync(dest, 'old');
  await writeAtomic(dest, async (tmp) => fs.promises.writeFile(tmp, 'new content'));
  t.equal(fs.readFileSync(dest, 'utf8'), 'new content');
  await t.rejects(
    writeAtomic(dest, async (tmp) => {
      await fs.promises.writeFile(tmp, 'half');
      throw new Error('writer failed');
    }),
    /writer failed/,
  );
  t.equal(fs.readFileSync(dest, 'utf8'), 'new content', 'a failed write leaves the previous file');
  t.same(leftovers(dir), [], 'no temporary file left');
});

t.test('durableRename moves files and folders into place', async (t) => {
  const dir = tempDir();
  const src = path.join(dir, 'a.tmp');
  fs.writeFileSync(src, 'x'.repeat(100_000));
  await durableRename(src, path.join(dir, 'a.bin'));
  t.equal(fs.statSync(path.join(dir, 'a.bin')).size, 100_000);
  t.notOk(fs.existsSync(src));
  const folder = path.join(dir, 'model.tmp');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'llm.gguf'), 'gguf');
  await durableRename(folder, path.join(dir, 'model'));
  t.equal(fs.readFileSync(path.join(dir, 'model', 'llm.gguf'), 'utf8'), 'gguf');
  await t.rejects(durableRename(path.join(dir, 'missing.tmp'), path.join(dir, 'x')), { code: 'ENOENT' });
});

t.test('writeFileAtomic writes buffers (views included) and strings', async (t) => {
  const dir = tempDir();
  const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
  await writeFileAtomic(path.join(dir, 'b.bin'), bytes.subarray(2, 6));
  t.same([...fs.readFileSync(path.join(dir, 'b.bin'))], [2, 3, 4, 5], 'only the view, not its whole buffer');
  await writeFileAtomic(path.join(dir, 's.txt'), 'héllo');
  t.equal(fs.readFileSync(path.join(dir, 's.txt'), 'utf8'), 'héllo');
  t.same(fs.readdirSync(dir).sort(), ['b.bin', 's.txt'], 'nothing else in the folder');
});
