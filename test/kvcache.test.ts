// The KV cache on disk (loadModel({ kvCacheDir }), src/kvcache.ts): a second process asking about
// the same image skips the tower and the media prefix's prefill and answers the same; damaged,
// foreign and unrestorable files are never trusted (the call answers as without them and the
// file is rewritten); the folder keeps to its bound.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { mediaDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { loadModel, type Model } from '../src/index';
import { engineOf } from '../src/engine';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const otherImage = path.join(mediaDir, 'test-1.jpeg');

function engine(m: Model) {
  const e = engineOf(m);
  if (!e) throw new Error('no engine');
  return e;
}

const kvFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.kv')) : []);

t.test('KV cache on disk', async (t) => {
  const files = await tinyConverted('f32');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ggpt-kv-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const open = (o: Record<string, unknown> = {}) => loadModel({ model: files, threads: 2, kvCacheDir: dir, ...o });
  const ask = (m: Model, prompt = 'Where is the dog?', image = dogImage) => m.groundImage(image, prompt, { maxTokens: 8 });

  // the first process: tower + prefill, then the snapshot is written
  const m1 = await open();
  const first = await ask(m1);
  await engine(m1).kvCacheIdle();
  await m1.dispose();
  t.equal(kvFiles(dir).length, 1, 'one snapshot written');
  t.equal(first.timings.cachedMedia, 0);
  const prefix = first.timings.reusedTokens + first.timings.promptTokens - 20; // a lower bound for the checks below
  t.ok(prefix > 576, 'the prompt holds the image rows');

  t.test('another process: no tower, the media prefix restored, the same answer', async (t) => {
    const m = await open();
    t.teardown(() => m.dispose());
    const c0 = engine(m).native.counters();
    const r = await ask(m);
    const c1 = engine(m).native.counters();
    t.equal(c1.features - c0.features, 0, 'no tower run');
    t.same(r.tokens, first.tokens, 'same greedy tokens');
    t.same(r.boxes, first.boxes, 'same boxes');
    t.equal(r.timings.cachedMedia, 1, 'the image counts as cached');
    t.ok(r.timings.reusedTokens > 576, `the media prefix was reused (${r.timings.reusedTokens} positions)`);
    t.ok(r.timings.promptTokens < 40, `only the question was evaluated (${r.timings.promptTokens} positions)`);
    const other = await ask(m, 'What is the dog doing?');
    t.ok(other.timings.reusedTokens > 576, 'another question about the same image reuses it too');
  });

  t.test('a damaged file is not trusted: the answer is right and the file is rewritten', async (t) => {
    const [name] = kvFiles(dir);
    const file = path.join(dir, name);
    const good = fs.readFileSync(file);
    for (const [what, bytes] of [
      ['truncated', good.subarray(0, good.length - 1000)],
      ['one byte flipped', Buffer.from(good.map((b, i) => (i === good.length - 5 ? b ^ 1 : b)))],
      ['not ours', crypto.randomBytes(4096)],
    ] as const) {
      fs.writeFileSync(file, bytes);
      const m = await open();
      const c0 = engine(m).native.counters();
      const r = await ask(m);
      t.equal(engine(m).native.counters().features - c0.features, 1, `${what}: the tower ran`);
      t.same(r.tokens, first.tokens, `${what}: same answer`);
      await engine(m).kvCacheIdle();
      await m.dispose();
      t.same(fs.readFileSync(file), good, `${what}: rewritten as it was`);
    }
  });

  t.test('a file whose checksum holds but whose KV state does not restore', async (t) => {
    const [name] = kvFiles(dir);
    const file = path.join(dir, name);
    const good = fs.readFileSync(file);
    const hlen = good.readUInt32LE(8);
    const header = JSON.parse(good.subarray(12, 12 + hlen).toString());
    const payload = Buffer.from(good.subarray(12 + hlen));
    payload.fill(7, 8, 16); // the snapshot's own header: version broken
    header.crc32 = zlib.crc32(payload);
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    fs.writeFileSync(file, Buffer.concat([good.subarray(0, 8), len, json, payload]));
    const m = await open();
    const r = await ask(m);
    t.same(r.tokens, first.tokens, 'same answer (the call ran as without the file)');
    await engine(m).kvCacheIdle();
    await m.dispose();
    t.same(fs.readFileSync(file), good, 'the file was replaced by a good one');
  });

  t.test('another model identity does not use it; the folder keeps to its bound', async (t) => {
    const m = await open({ kvType: 'f32' });
    const c0 = engine(m).native.counters();
    await ask(m);
    t.equal(engine(m).native.counters().features - c0.features, 1, 'another KV type: the tower ran');
    await engine(m).kvCacheIdle();
    await m.dispose();
    t.equal(kvFiles(dir).length, 2, 'a second snapshot, for that identity');
    const size = fs.statSync(path.join(dir, kvFiles(dir)[0])).size;
    const small = await open({ kvCacheBytes: Math.floor(size * 1.5) });
    await ask(small, 'Where is it?', otherImage);
    await engine(small).kvCacheIdle();
    await small.dispose();
    t.equal(kvFiles(dir).length, 1, 'bounded: the least recently used files went');
  });

  t.test('without kvCacheDir nothing is written; bad options', async (t) => {
    const m = await loadModel({ model: files, threads: 2 });
    t.teardown(() => m.dispose());
    await ask(m);
    await t.rejects(loadModel({ model: files, kvCacheDir: 42 as unknown as string }), { name: 'InvalidInputError' });
    await t.rejects(loadModel({ model: files, kvCacheDir: dir, kvCacheBytes: -1 }), { name: 'InvalidInputError' });
  });
});
