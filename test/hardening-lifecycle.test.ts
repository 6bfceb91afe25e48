// Model-level hardening: a required media argument given as undefined/null is InvalidInputError
// (it used to run as a text-only turn), a callback that returns a promise which rejects fails its
// call like one that throws (it used to be an unhandled rejection that ends the process) and the
// model stays usable, dispose() during an ffmpeg decode kills the child and rejects at once with
// DisposedError (it used to wait for the decode), and a small PNG declaring 16000x16000 is
// grounded with boxes mapped to its full size.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { tempDir } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { makeMedia, makePng } from './helpers/media';
import { DisposedError, InvalidInputError, loadModel, type Model } from '../src/index';
import { runningChildren } from '../src/media/ffmpeg';

const dir = tempDir('ggpt-hard-life-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
t.teardown(() => process.off('unhandledRejection', onUnhandled));

const png = makePng(
  6,
  4,
  3,
  8,
  Array.from({ length: 72 }, (_, i) => (i * 29) % 256),
);
const audio = { samples: new Float32Array(16000).map((_, i) => Math.sin(i / 9) * 0.3), sampleRate: 16000 };

t.test('hardening', async (t) => {
  const got = await tinyConverted();
  const open = () => loadModel({ model: { llm: got.llm, encoders: got.encoders }, threads: 2, contextSize: 2048 });
  const model = await open();
  t.teardown(() => model.dispose());

  t.test('a required media argument that is undefined or null is InvalidInputError', async (t) => {
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['groundImage(undefined)', () => model.groundImage(undefined as never, 'Where?'), /for image but received undefined/],
      ['groundImage(null)', () => model.groundImage(null as never, 'Where?'), /for image but received null/],
      ['groundVideo(undefined)', () => model.groundVideo(undefined as never, 'When?'), /for video but received undefined/],
      ['groundAudio(undefined)', () => model.groundAudio(undefined as never, 'What?'), /for audio but received undefined/],
      ['groundAudio(undefined, { image })', () => model.groundAudio(undefined as never, 'Where?', { image: png }), /for audio but received undefined/],
      ['groundAudio(audio, { image: null })', () => model.groundAudio(audio, 'Where?', { image: null as never }), /for options\.image but received null/],
      ['embedImage(undefined)', () => model.embedImage(undefined as never), /for image but received undefined/],
      ['embedVideo(undefined)', () => model.embedVideo(undefined as never), /for video but received undefined/],
      ['embedAudio(null)', () => model.embedAudio(null as never), /for audio but received null/],
    ];
    for (const [name, call, re] of cases) {
      let generated = false;
      const err = await call().then(
        () => {
          generated = true;
        },
        (e: unknown) => e,
      );
      t.type(err, InvalidInputError, name);
      t.match((err as Error)?.message, re, name);
      t.notOk(generated, `${name}: no text-only answer`);
    }
    t.throws(() => model.createChat({ video: null as never }), { name: 'InvalidInputError', message: /for options\.video but received null/ });
    // an option given as undefined is absent: a text-only chat
    const chat = model.createChat({ image: undefined });
    t.ok((await chat.send('Hello', { maxTokens: 2 })).tokens.length > 0, 'createChat({ image: undefined }) is a text chat');
    // groundAudio's image option as undefined is absent too
    t.equal((await model.groundAudio(audio, 'What?', { image: undefined, maxTokens: 2 })).image, undefined);
  });

  t.test('sparse and huge arrays in options and arguments are InvalidInputError', async (t) => {
    const stop: unknown[] = ['###'];
    stop[2] = 'x';
    await t.rejects(model.generate('Hi', { stop: stop as string[] }), { name: 'InvalidInputError', message: /options\.stop\[1\] but received undefined/ });
    const history: unknown[] = [];
    history[1] = { user: 'a', assistant: 'b' };
    await t.rejects(model.generate('Hi', { history: history as never }), { name: 'InvalidInputError', message: /options\.history\[0\]/ });
    t.throws(() => model.createChat({ history: new Array(1e9) as never }), { name: 'InvalidInputError', message: /options\.history\[0\]/ });
    t.throws(() => model.detokenize(new Array(2 ** 30)), { name: 'InvalidInputError', message: /at most 16777216 token ids/ });
    t.throws(() => model.detokenize([1, , 2] as number[]), { name: 'InvalidInputError', message: /tokens\[1\] but received undefined/ });
    t.equal(model.detokenize([]), '');
  });

  t.test('an async callback that rejects fails the call like one that throws; the model stays usable', async (t) => {
    const boom = new Error('sink failed');
    const reference = await model.generate('Hello there', { maxTokens: 6, stop: [] });

    await t.rejects(
      model.generate('Hello there', {
        maxTokens: 6,
        onToken: () => {
          throw boom;
        },
      }),
      boom,
      'sync throw (reference behaviour)',
    );
    await t.rejects(
      model.generate('Hello there', {
        maxTokens: 6,
        onToken: async () => {
          throw boom;
        },
      }),
      boom,
      'async onToken',
    );
    let calls = 0;
    await t.rejects(
      model.generate('Hello there', {
        maxTokens: 200,
        stop: [],
        onToken: async () => {
          calls++;
          await new Promise((r) => setTimeout(r, 30));
          throw boom;
        },
      }),
      boom,
      'a rejection that comes later still fails the call',
    );
    t.ok(calls < 200, `generation stopped early (${calls} tokens)`);
    await t.rejects(model.generate('Hello there', { maxTokens: 4, onPromptProgress: () => Promise.reject(boom) }), boom, 'async onPromptProgress');

    const stream = model.generateStream('Hello there', {
      maxTokens: 6,
      onToken: async () => {
        throw boom;
      },
    });
    let thrown: unknown;
    try {
      for await (const piece of stream) void piece;
    } catch (e) {
      thrown = e;
    }
    t.equal(thrown, boom, 'the stream loop throws it');
    await t.rejects(stream.result, boom, 'stream.result rejects with it');

    const chat = model.createChat({ image: png });
    await t.rejects(
      chat.send('Where?', {
        maxTokens: 4,
        onToken: async () => {
          throw boom;
        },
      }),
      boom,
      'chat.send',
    );
    await t.rejects(
      chat.send('Where?', {
        maxTokens: 4,
        onProgress: async (p) => {
          if (p.stage === 'prompt') throw boom;
        },
      }),
      boom,
      'chat.send onProgress',
    );
    t.equal(chat.history.length, 0, 'failed turns are not in the history');
    t.ok((await chat.send('Where?', { maxTokens: 2 })).tokens.length > 0, 'the chat answers afterwards');

    await t.rejects(
      model.groundImage(png, 'Where?', {
        maxTokens: 4,
        onProgress: async (p) => {
          if (p.stage === 'decode') throw boom;
        },
      }),
      boom,
      'groundImage onProgress at decode',
    );
    await t.rejects(
      model.groundAudio(audio, 'What?', {
        maxTokens: 4,
        onProgress: async (p) => {
          if (p.stage === 'generate') throw boom;
        },
      }),
      boom,
      'groundAudio onProgress at generate',
    );
    await t.rejects(
      loadModel({
        model: { llm: got.llm },
        threads: 1,
        onProgress: async () => {
          throw boom;
        },
      }),
      boom,
      'loadModel onProgress',
    );

    const again = await model.generate('Hello there', { maxTokens: 6, stop: [] });
    t.same(again.tokens, reference.tokens, 'same answer as before the failures');
    await new Promise((r) => setTimeout(r, 100));
    t.same(unhandled, [], 'no unhandled rejection');
  });

  t.test('a logger whose promise rejects loses its line, not the process (child process, no handlers)', async (t) => {
    const src = path.resolve(__dirname, '../src/index.ts');
    const script = path.join(dir, 'logger-child.ts');
    fs.writeFileSync(
      script,
      `import { loadModel, setLogger } from ${JSON.stringify(src)};
let lines = 0;
setLogger(async () => { lines++; throw new Error('log sink failed'); }, { level: 'debug' });
loadModel({ model: { llm: ${JSON.stringify(got.llm)} }, threads: 1 })
  .then((m) => m.generate('Hi', { maxTokens: 2 }).then(() => m.dispose()))
  .then(() => setTimeout(() => console.log(JSON.stringify({ alive: true, lines })), 300));`,
    );
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
    const r = spawnSync(process.execPath, [...loader, script], { encoding: 'utf8', timeout: 120_000 });
    t.equal(r.status, 0, `exit code (${r.stderr.slice(-400)})`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { alive?: boolean; lines?: number };
    t.equal(out.alive, true);
    t.ok((out.lines ?? 0) > 0, `${out.lines} lines went to the failing logger`);
  });

  t.test('a PNG declaring 16000x16000 is decoded reduced, boxes refer to its full size', async (t) => {
    // black 16000x16000 RGB, 64 rows per independent deflate piece (the pixels are never held)
    const w = 16000;
    const rowBytes = 1 + 3 * w;
    const piece = zlib.deflateRawSync(Buffer.alloc(rowBytes * 64), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const idat = [Buffer.from([0x78, 0xda]), ...new Array<Buffer>(w / 64).fill(piece), zlib.deflateRawSync(Buffer.alloc(0)), Buffer.alloc(4)];
    idat[idat.length - 1].writeUInt32BE(((((rowBytes * w) % 65521) << 16) | 1) >>> 0);
    // a 1x1 RGB PNG's header with the size and pixel data replaced
    const bomb = rebuildPng(makePng(1, 1, 3, 8, [0, 0, 0]), w, w, Buffer.concat(idat));
    const file = path.join(dir, 'bomb.png');
    fs.writeFileSync(file, bomb);
    const t0 = Date.now();
    const r = await model.groundImage(file, 'Where?', { maxTokens: 2 });
    const ms = Date.now() - t0;
    t.comment(`grounded in ${ms} ms (decode ${r.timings.decodeMs.toFixed(0)} ms)`);
    t.same(r.image, { width: 16000, height: 16000, side: 16000, offsetX: 0, offsetY: 0 });
    t.ok(ms < 60_000);
  });

  t.test('an async onProgress that rejects during a video decode kills ffmpeg and fails the call', async (t) => {
    const video = makeMedia(dir, 'mid.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=30:size=640x480:rate=30', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast']);
    const boom = new Error('progress sink failed');
    let seen: number[] = [];
    const t0 = Date.now();
    await t.rejects(
      model.groundVideo(video, 'When?', {
        onProgress: async (p) => {
          if (p.stage === 'decode' && p.fraction > 0) {
            seen = runningChildren();
            throw boom;
          }
        },
      }),
      boom,
    );
    t.comment(`rejected after ${Date.now() - t0} ms`);
    t.ok(seen.length > 0, 'ffmpeg was running');
    t.same(runningChildren(), [], 'no ffmpeg left');
    for (const pid of seen) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`);
    const chat = model.createChat({ video });
    await t.rejects(
      chat.send('When?', { onProgress: (p) => (p.stage === 'decode' && p.fraction > 0 ? Promise.reject(boom) : undefined) }),
      boom,
      'the same in a chat',
    );
    t.same(runningChildren(), []);
  });

  t.test('dispose() during an ffmpeg decode kills it and rejects with DisposedError at once', async (t) => {
    const video = makeMedia(dir, 'long.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=60:size=640x480:rate=30', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast']);
    const m2: Model = await open();
    let decoding = false;
    const p = m2.groundVideo(video, 'When?', {
      onProgress: (e) => {
        if (e.stage === 'decode') decoding = true;
      },
    });
    p.catch(() => undefined);
    const started = Date.now();
    while (!(decoding && runningChildren().length > 0) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    const pids = runningChildren();
    t.ok(pids.length > 0, `ffmpeg running when dispose() is called (${pids.join(', ')})`);
    const t0 = Date.now();
    const disposed = m2.dispose();
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = Date.now() - t0;
    t.type(err, DisposedError, String(err));
    t.ok(ms < 1000, `rejected ${ms} ms after dispose()`);
    await disposed;
    t.same(runningChildren(), [], 'no ffmpeg left');
    for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`);
    await t.rejects(m2.groundVideo(video, 'When?'), DisposedError, 'later calls: DisposedError');
  });
});

/** A PNG with `png`'s IHDR fields but the given size and IDAT payload. */
function rebuildPng(png: Buffer, width: number, height: number, idat: Buffer): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.from(png.subarray(16, 29));
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  return Buffer.concat([png.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
