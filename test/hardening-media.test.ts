// Media hardening without a model: raw inputs of every wrong shape are InvalidInputError (sparse
// arrays, wrong typed arrays, NaN/Infinity/huge/non-integer numbers, strings), SVG and other
// non-raster files are refused before sharp parses them (no local file can be read through one),
// a small PNG that declares 16000x16000 decodes within bounded memory and time when the caller
// bounds the size (the model does: docs/MEDIA.md), an explicit ffmpegPath/ffprobePath that does
// not exist is FFmpegNotFoundError, and an async onProgress that rejects fails the call.
//
// GROUNDINGGPT_SANITIZED=1 (set by scripts/sanitize.sh, docs/RELIABILITY.md "Sanitizers"): the
// process runs with AddressSanitizer's allocator preloaded, whose quarantine keeps freed memory
// resident (~500 MB of the TypeScript loader's freed memory before the decode even starts), so the
// absolute peak-RSS bound of the decode child is not asserted then; the bound on what the decode
// itself adds (peak minus the RSS before it) is asserted in every run.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { FFmpegNotFoundError, InvalidInputError } from '../src/errors';
import { decodeAudio, decodeImage, decodeVideo, drawBoxes, drawVideoStrip, drawWaveform, runningChildren } from '../src/media/index';
import { TOWER_DECODE_MAX_SIDE } from '../src/media/image';
import { mediaDir, tempDir } from './helpers/golden';
import { makeMedia, makePng } from './helpers/media';

const SANITIZED = process.env.GROUNDINGGPT_SANITIZED === '1';
const dir = tempDir('ggpt-hard-media-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const rgb = (w: number, h: number) => ({ data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 as const });

t.test('raw images and frames: every wrong shape is InvalidInputError', async (t) => {
  const bad: [string, unknown, RegExp][] = [
    ['string width', { ...rgb(2, 2), width: '2' }, /image\.width but received "2" of type string/],
    ['fractional width', { ...rgb(2, 2), width: 2.5 }, /image\.width but received 2\.5/],
    ['NaN height', { ...rgb(2, 2), height: NaN }, /image\.height but received NaN/],
    ['negative width', { ...rgb(2, 2), width: -2 }, /image\.width/],
    ['huge width, no limit', { ...rgb(2, 2), width: 1e15 }, /Expected 6000000000000000 bytes/],
    ['channels 5', { ...rgb(2, 2), channels: 5 }, /image\.channels/],
    ['channels "3"', { ...rgb(2, 2), channels: '3' }, /image\.channels/],
    ['wrong length', { ...rgb(2, 2), data: new Uint8Array(11) }, /Expected 12 bytes \(2 x 2 x 3 channels\) in image\.data but received 11/],
    ['Int8Array data', { ...rgb(2, 2), data: new Int8Array(12) }, /image\.data but received Int8Array/],
    ['Float32Array data', { ...rgb(2, 2), data: new Float32Array(3) }, /image\.data but received Float32Array/],
    ['plain array data', { ...rgb(2, 2), data: new Array(12).fill(0) }, /image\.data/],
  ];
  for (const [name, input, re] of bad) {
    await t.rejects(decodeImage(input as never, { limitInputPixels: false }), { name: 'InvalidInputError', message: re }, name);
  }

  const frame = rgb(4, 4);
  const sparse: unknown[] = [frame, frame];
  sparse[5] = frame; // holes at 2..4
  const videos: [string, unknown, RegExp][] = [
    ['sparse frames', { frames: sparse }, /video\.frames\[2\] but received undefined/],
    ['a hole first', { frames: [, frame] }, /video\.frames\[0\] but received undefined/], // eslint-disable-line no-sparse-arrays
    ['huge sparse length', { frames: new Array(2e9) }, /at most 1000000 frames/],
    ['null frame', { frames: [frame, null] }, /video\.frames\[1\] but received null/],
    ['frame of wrong size', { frames: [frame, { ...frame, data: new Uint8Array(5) }] }, /video\.frames\[1\]\.data/],
    ['frame with a string width', { frames: [{ ...frame, width: '4' }] }, /video\.frames\[0\]\.width/],
    ['frame as Uint16Array', { frames: [{ ...frame, data: new Uint16Array(48) }] }, /video\.frames\[0\]\.data/],
    ['NaN fps', { frames: [frame], fps: NaN }, /video\.fps but received NaN/],
    ['Infinity fps', { frames: [frame], fps: Infinity }, /video\.fps but received Infinity/],
    ['huge fps', { frames: [frame], fps: 1e9 }, /video\.fps/],
    ['negative duration', { frames: [frame], duration: -1 }, /video\.duration/],
    ['Infinity duration', { frames: [frame], duration: Infinity }, /video\.duration/],
    ['string duration', { frames: [frame], duration: '10' }, /video\.duration/],
    ['no frames', { frames: [] }, /video\.frames/],
  ];
  for (const [name, input, re] of videos) {
    await t.rejects(decodeVideo(input as never), { name: 'InvalidInputError', message: re }, name);
  }
  const ok = await decodeVideo({ frames: [frame, frame, frame], fps: 30 });
  t.equal(ok.frames.length, 3, 'a valid raw video still decodes');
});

t.test('raw audio: sample rates, channel arrays', async (t) => {
  const mono = new Float32Array(1600);
  const twoWithHole: unknown[] = [mono];
  twoWithHole[2] = mono;
  const bad: [string, unknown, RegExp][] = [
    ['fractional rate', { samples: mono, sampleRate: 16000.5 }, /audio\.sampleRate but received 16000\.5/],
    ['NaN rate', { samples: mono, sampleRate: NaN }, /audio\.sampleRate but received NaN/],
    ['Infinity rate', { samples: mono, sampleRate: Infinity }, /audio\.sampleRate/],
    ['string rate', { samples: mono, sampleRate: '16000' }, /audio\.sampleRate/],
    ['sparse channels', { samples: twoWithHole, sampleRate: 16000 }, /audio\.samples\[1\] but received undefined/],
    ['Float64Array', { samples: new Float64Array(10), sampleRate: 16000 }, /audio\.samples/],
    ['Float64Array channel', { samples: [mono, new Float64Array(1600)], sampleRate: 16000 }, /audio\.samples\[1\]/],
    ['huge channel array', { samples: new Array(1e9), sampleRate: 16000 }, /1000000000 channels; at most 8/],
  ];
  for (const [name, input, re] of bad) {
    await t.rejects(decodeAudio(input as never), { name: 'InvalidInputError', message: re }, name);
  }
  t.equal((await decodeAudio({ samples: mono, sampleRate: 16000 })).duration, 0.1);
});

t.test('SVG, PDF and other non-raster files are refused before sharp parses them', async (t) => {
  // a local picture an SVG could pull in: were it rendered, the decode would succeed with red
  const secret = path.join(dir, 'secret.png');
  fs.writeFileSync(secret, makePng(2, 2, 3, 8, [255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0]));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" height="8">` +
    `<image href="file://${secret}" xlink:href="file://${secret}" width="8" height="8"/></svg>`;
  const svgFile = path.join(dir, 'pic.svg');
  fs.writeFileSync(svgFile, svg);
  const disguised = path.join(dir, 'not-really.png');
  fs.writeFileSync(disguised, `\ufeff<?xml version="1.0"?>\n${svg}`);
  const svgz = zlib.gzipSync(Buffer.from(svg));
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
  const cases: [string, string | Buffer, RegExp][] = [
    ['SVG buffer', Buffer.from(svg), /SVG or other XML document/],
    ['SVG file', svgFile, /pic\.svg: an SVG or other XML document/],
    ['SVG with BOM and XML prolog, named .png', disguised, /SVG or other XML document/],
    ['SVGZ', svgz, /gzip data/],
    ['PDF', pdf, /a PDF document/],
    ['PPM', Buffer.from('P6\n2 2\n255\n' + '\0'.repeat(12), 'latin1'), /unsupported or unrecognised image format/],
    ['CSV matrix', Buffer.from('1,2,3\n4,5,6\n'), /unsupported or unrecognised image format/],
  ];
  for (const [name, input, re] of cases) {
    const err = await decodeImage(input).catch((e: unknown) => e);
    t.type(err, InvalidInputError, name);
    t.match((err as Error).message, re, `${name}: ${(err as Error).message}`);
    t.match((err as Error).message, /raster formats only/, name);
  }
  // drawing goes through the same decoder
  await t.rejects(drawBoxes(svgFile, [], path.join(dir, 'out.png')), InvalidInputError);
  t.notOk(fs.existsSync(path.join(dir, 'out.png')));
  // a real PNG still decodes (and sharp itself would have rendered the SVG)
  t.same([...(await decodeImage(secret)).data.subarray(0, 3)], [255, 0, 0]);
  const rendered = await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="#00f"/></svg>`))
    .raw()
    .toBuffer();
  t.equal(rendered[2], 255, 'control: sharp renders SVG when called directly');
});

/** A PNG of w x h black pixels, RGB, written without holding the pixels: independent deflate pieces of 64 rows. */
function pngBomb(w: number, h: number): Buffer {
  const crc32 = (buf: Buffer) => {
    let crc = 0xffffffff;
    for (let n = 0; n < buf.length; n++) {
      let c = (crc ^ buf[n]) & 0xff;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crc = (crc >>> 8) ^ c;
    }
    return (crc ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc32(td));
    return Buffer.concat([head, td, tail]);
  };
  const rowBytes = 1 + 3 * w;
  const flush = { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const piece = zlib.deflateRawSync(Buffer.alloc(rowBytes * 64), flush);
  const parts: Buffer[] = [Buffer.from([0x78, 0xda])];
  for (let rows = 0; rows < h; rows += 64) parts.push(rows + 64 <= h ? piece : zlib.deflateRawSync(Buffer.alloc(rowBytes * (h - rows)), flush));
  parts.push(zlib.deflateRawSync(Buffer.alloc(0)));
  const adler = Buffer.alloc(4); // Adler-32 of zeros: a = 1, b = length mod 65521
  adler.writeUInt32BE(((((rowBytes * h) % 65521) << 16) | 1) >>> 0);
  parts.push(adler);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.concat(parts)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

t.test('a small PNG declaring 16000x16000: bounded decode (child process)', async (t) => {
  const bomb = path.join(dir, 'bomb.png');
  fs.writeFileSync(bomb, pngBomb(16000, 16000));
  t.ok(fs.statSync(bomb).size < 1024 * 1024, `${fs.statSync(bomb).size} bytes on disk`);
  const meta = await sharp(bomb).metadata();
  t.same([meta.width, meta.height], [16000, 16000]);

  const src = path.resolve(__dirname, '../src/media/image.ts');
  const script = path.join(dir, 'bomb-child.ts');
  fs.writeFileSync(
    script,
    `import { decodeImage } from ${JSON.stringify(src)};
(globalThis as { gc?: () => void }).gc?.();
const beforeMb = process.memoryUsage().rss / 1048576;
const t0 = Date.now();
decodeImage(${JSON.stringify(bomb)}, { maxSide: ${TOWER_DECODE_MAX_SIDE} }).then(
  (d) => console.log(JSON.stringify({ width: d.width, height: d.height, reducedFrom: d.reducedFrom, ms: Date.now() - t0, beforeMb, rssMb: process.resourceUsage().maxRSS / 1024 })),
  (e) => console.log(JSON.stringify({ error: String(e) })),
);`,
  );
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const r = spawnSync(process.execPath, [...loader, '--expose-gc', script], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr.slice(-500));
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    width: number;
    height: number;
    reducedFrom: unknown;
    ms: number;
    beforeMb: number;
    rssMb: number;
    error?: string;
  };
  t.notOk(out.error, out.error ?? 'decoded');
  t.same([out.width, out.height], [TOWER_DECODE_MAX_SIDE, TOWER_DECODE_MAX_SIDE], 'reduced to the tower bound');
  t.same(out.reducedFrom, { width: 16000, height: 16000 }, 'the size as displayed is kept for the boxes');
  t.comment(
    `decoded in ${out.ms} ms, RSS ${out.beforeMb.toFixed(0)} MB before, peak ${out.rssMb.toFixed(0)} MB (the full 16000x16000 decode holds 768 MB of pixels)`,
  );
  // what the decode adds: ~260 MB here (~300 MB under ASan), a full decode ~760 MB (~860 MB under ASan)
  const addedMb = out.rssMb - out.beforeMb;
  t.ok(addedMb < 450, `the decode adds ${addedMb.toFixed(0)} MB to the peak RSS, < 450 MB`);
  if (SANITIZED)
    t.comment(
      `GROUNDINGGPT_SANITIZED: absolute bound (peak RSS < 600 MB) not asserted; ASan's quarantine held ${out.beforeMb.toFixed(0)} MB before the decode`,
    );
  else t.ok(out.rssMb < 600, `peak RSS ${out.rssMb.toFixed(0)} MB < 600 MB`);
  t.ok(out.ms < 30_000, `${out.ms} ms`);

  // a pixel limit below the declared size fails on the header, fast
  const t0 = Date.now();
  await t.rejects(decodeImage(bomb, { limitInputPixels: 50_000_000 }), {
    name: 'InvalidInputError',
    message: /16000x16000 = 256000000 pixels, above the limit of 50000000/,
  });
  t.ok(Date.now() - t0 < 2000, `refused in ${Date.now() - t0} ms`);
});

t.test('maxSide leaves images up to the bound untouched', async (t) => {
  const w = 300;
  const h = 200;
  const values = Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const png = makePng(w, h, 3, 8, values);
  const full = await decodeImage(png);
  const bounded = await decodeImage(png, { maxSide: 300 });
  t.ok(Buffer.from(full.data).equals(Buffer.from(bounded.data)), 'same bytes at maxSide = the long side');
  t.equal(bounded.reducedFrom, undefined);
  const reduced = await decodeImage(png, { maxSide: 150 });
  t.same([reduced.width, reduced.height, reduced.reducedFrom], [150, 100, { width: 300, height: 200 }]);
  const raw = await decodeImage({ data: full.data, width: w, height: h, channels: 3 }, { maxSide: 150 });
  t.same([raw.width, raw.height, raw.reducedFrom], [150, 100, { width: 300, height: 200 }], 'raw pixels are reduced like files');
  for (const v of [0, 1.5, '100', 1e9]) await t.rejects(decodeImage(png, { maxSide: v as number }), InvalidInputError, `maxSide ${v}`);
});

t.test('an explicit ffmpegPath or ffprobePath that does not exist is FFmpegNotFoundError', async (t) => {
  const clip = path.join(mediaDir, 'test-3.mp4');
  const wav = path.join(mediaDir, 'dog_audio.wav');
  const missing = path.join(dir, 'no-such-ffmpeg');
  // ffmpeg is on PATH here: the explicit path must not fall back to it
  for (const [what, p] of [
    ['video', decodeVideo(clip, { ffmpegPath: missing, maxFrames: 1 })],
    ['audio', decodeAudio(wav, { ffmpegPath: missing })],
  ] as const) {
    const err = await p.catch((e: unknown) => e);
    t.type(err, FFmpegNotFoundError, what);
    t.match((err as Error).message, `ffmpegPath = ${missing} cannot be used (not found)`);
  }
  const probeErr = await decodeAudio(wav, { ffprobePath: path.join(dir, 'no-such-ffprobe') }).catch((e: unknown) => e);
  t.type(probeErr, FFmpegNotFoundError);
  t.match((probeErr as Error).message, /ffprobePath = .*no-such-ffprobe cannot be used \(not found\)/);
  const notExe = path.join(dir, 'ffmpeg-text');
  fs.writeFileSync(notExe, 'not a program');
  await t.rejects(decodeVideo(clip, { ffmpegPath: notExe }), { name: 'FFmpegNotFoundError', message: /not executable/ });
  t.same(runningChildren(), []);
});

t.test('drawing options: wrong types and huge sizes are InvalidInputError', async (t) => {
  const out = path.join(dir, 'draw.png');
  const img = rgb(8, 8);
  const holes: unknown[] = [{ box: { x1: 0, y1: 0, x2: 1, y2: 1 } }];
  holes[2] = holes[0];
  await t.rejects(drawBoxes(img, holes as never, out), { name: 'InvalidInputError', message: /boxes\[1\]/ });
  await t.rejects(drawBoxes(img, [], out, { lineWidth: Infinity }), { name: 'InvalidInputError', message: /options\.lineWidth/ });
  await t.rejects(drawBoxes(img, [], out, { fontSize: '12' as never }), { name: 'InvalidInputError', message: /options\.fontSize/ });
  const ch = new Float32Array(1600);
  await t.rejects(drawWaveform([ch], 16000, [], out, { width: '1200' as never }), { name: 'InvalidInputError', message: /options\.width but received "1200"/ });
  await t.rejects(drawWaveform([ch], 16000, [], out, { width: 1e9 }), { name: 'InvalidInputError', message: /options\.width/ });
  await t.rejects(drawWaveform([ch], 16000, [], out, { channelHeight: 1e7 }), { name: 'InvalidInputError', message: /options\.channelHeight/ });
  const sparseCh: unknown[] = [ch];
  sparseCh[2] = ch;
  await t.rejects(drawWaveform(sparseCh as never, 16000, [], out), { name: 'InvalidInputError', message: /channels\[1\]/ });
  const f = new Uint8Array(16 * 16 * 3);
  const strip = { frames: [f, f], size: 16, times: [0, 1] };
  await t.rejects(drawVideoStrip(strip, [], 2, out, { thumb: 1e6 }), { name: 'InvalidInputError', message: /options\.thumb/ });
  await t.rejects(drawVideoStrip({ ...strip, times: [0, NaN] }, [], 2, out), { name: 'InvalidInputError', message: /video\.times\[1\]/ });
  const sparseFrames: unknown[] = [f];
  sparseFrames[1] = undefined;
  await t.rejects(drawVideoStrip({ ...strip, frames: sparseFrames as never }, [], 2, out), { name: 'InvalidInputError', message: /video\.frames\[1\]/ });
  t.notOk(fs.existsSync(out));
});

t.test('an async onProgress that rejects fails the decode like a throw', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const video = makeMedia(dir, 'clip.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=4:size=160x120:rate=25', '-pix_fmt', 'yuv420p']);
  const boom = new Error('progress sink failed');
  await t.rejects(
    decodeVideo(video, {
      onProgress: async (p) => {
        if (p.done === 2) throw boom;
      },
    }),
    boom,
  );
  t.same(runningChildren(), [], 'no ffmpeg left');
  const frame = rgb(4, 4);
  await t.rejects(decodeVideo({ frames: [frame, frame, frame] }, { onProgress: () => Promise.reject(boom) }), boom, 'raw frames too');
  await new Promise((r) => setTimeout(r, 50));
  t.same(unhandled, [], 'no unhandled rejection');
});
