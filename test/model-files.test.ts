// Model files must be regular files: a FIFO or a device as llm.gguf/encoders.gguf would block the
// core's open or read forever, out of reach of an AbortSignal (found by the attack corpus).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { ModelLoadError, loadModel } from '../src/index';

const work = tempDir('ggpt-model-files-');
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test('a FIFO or a device as a model file is a ModelLoadError, at once', async (t) => {
  const tiny = await tinyConverted();
  const fifo = path.join(work, 'f.gguf');
  const mk = spawnSync('mkfifo', [fifo]);
  t.equal(mk.status, 0, 'mkfifo made the FIFO');
  for (const model of [{ llm: fifo }, { llm: tiny.llm, encoders: fifo }, { llm: '/dev/zero' }, fifo]) {
    const t0 = Date.now();
    await t.rejects(loadModel({ model }), ModelLoadError, JSON.stringify(model));
    t.ok(Date.now() - t0 < 2000, 'refused before anything opens the file');
  }
  const dir = path.join(work, 'dir');
  fs.mkdirSync(dir);
  fs.symlinkSync(tiny.llm, path.join(dir, 'llm.gguf'));
  spawnSync('mkfifo', [path.join(dir, 'encoders.gguf')]);
  const err = await loadModel({ model: dir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ModelLoadError);
  t.equal((err as ModelLoadError).file, path.join(dir, 'encoders.gguf'), 'names the FIFO');
  // a symbolic link to a regular file is fine
  fs.rmSync(path.join(dir, 'encoders.gguf'));
  const m = await loadModel({ model: dir });
  t.ok(m.info.vocabSize > 0, 'loads through a symlink');
  await m.dispose();
});
