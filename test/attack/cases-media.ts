// Attack cases (d): media. Corrupt, truncated, empty and oversized files of every format the
// decoders take (docs/MEDIA.md), wrong containers, and raw pixels/frames/PCM with wrong sizes,
// types and values, fed to the model's calls (embed* mostly, ground* for a few): each must give
// InvalidInputError (or FFmpegNotFoundError) or succeed.
import fs from 'node:fs';
import sharp from 'sharp';
import type { AttackCase, AttackEnv, CaseContext } from './case';
import { pngBombHeader } from '../helpers/media';

type Input = unknown;
type Kind = 'image' | 'video' | 'audio';

const CODES = ['INVALID_INPUT', 'FFMPEG_NOT_FOUND'];

interface MediaSpec {
  name: string;
  kind: Kind;
  expect: 'error' | 'any';
  known?: string;
  /** The input; `ctx.file` is available for files. */
  input: (ctx: CaseContext) => Input | Promise<Input>;
  /** Through groundX (with a short generation) instead of embedX. */
  ground?: boolean;
  options?: Record<string, unknown>;
}

const read = (f: string) => fs.readFileSync(f);
function asFile(ctx: CaseContext, name: string, data: Buffer | string): string {
  const f = ctx.file(name);
  fs.writeFileSync(f, data);
  return f;
}

function flip(b: Buffer, at: number, span: number): Buffer {
  const o = Buffer.from(b);
  for (let i = at; i < Math.min(o.length, at + span); i++) o[i] ^= 0x5a;
  return o;
}

function findMarker(b: Buffer, marker: number[]): number {
  return b.indexOf(Buffer.from(marker));
}

const rawImg = (w: number, h: number, c = 3, fill = 128) => ({ data: new Uint8Array(w * h * c).fill(fill), width: w, height: h, channels: c });

function imageSpecs(env: AttackEnv): MediaSpec[] {
  const s: MediaSpec[] = [];
  const add = (name: string, expect: 'error' | 'any', input: MediaSpec['input'], extra: Partial<MediaSpec> = {}) =>
    s.push({ name, kind: 'image', expect, input, ...extra });
  const jpeg = read(env.media.jpeg);
  for (const frac of [0.01, 0.05, 0.2, 0.5, 0.8, 0.95]) {
    const n = Math.max(1, Math.floor(jpeg.length * frac));
    add(`jpeg/truncated-${n}`, 'error', () => jpeg.subarray(0, n));
  }
  add('jpeg/truncated-as-path', 'error', (ctx) => asFile(ctx, 'cut.jpg', jpeg.subarray(0, jpeg.length >> 1)));
  add('jpeg/no-eoi', 'any', () => jpeg.subarray(0, jpeg.length - 2));
  for (const frac of [0.3, 0.6, 0.9]) add(`jpeg/corrupt-${frac}`, 'any', () => flip(jpeg, Math.floor(jpeg.length * frac), 64));
  const sof = findMarker(jpeg, [0xff, 0xc0]);
  add('jpeg/sof-height-0', 'error', () => {
    const b = Buffer.from(jpeg);
    b.writeUInt16BE(0, sof + 5);
    return b;
  });
  add('jpeg/sof-65535x65535', 'error', () => {
    const b = Buffer.from(jpeg);
    b.writeUInt16BE(65535, sof + 5);
    b.writeUInt16BE(65535, sof + 7);
    return b;
  });
  add('jpeg/sof-components-0', 'error', () => {
    const b = Buffer.from(jpeg);
    b[sof + 9] = 0;
    return b;
  });
  add('jpeg/ground-truncated', 'error', () => jpeg.subarray(0, jpeg.length >> 2), { ground: true });

  const png = read(env.media.png);
  for (const frac of [0.1, 0.3, 0.6, 0.9]) add(`png/truncated-${frac}`, 'error', () => png.subarray(0, Math.floor(png.length * frac)));
  add('png/ihdr-crc', 'any', () => flip(png, 29, 4));
  add('png/ihdr-width-0', 'error', () => {
    const b = Buffer.from(png);
    b.writeUInt32BE(0, 16);
    return b;
  });
  add('png/ihdr-depth-7', 'error', () => {
    const b = Buffer.from(png);
    b[24] = 7;
    return b;
  });
  add('png/idat-corrupt', 'error', () => flip(png, png.indexOf('IDAT') + 6, 32));
  add('png/no-iend', 'any', () => png.subarray(0, png.length - 12));
  add('png/huge-declared-100000x100000', 'error', () => pngBombHeader(100000, 100000), { known: 'huge-declared-size PNG' });
  add('png/huge-declared-2^31', 'error', () => pngBombHeader(0x7fffffff, 0x7fffffff), { known: 'huge-declared-size PNG' });
  add('png/huge-declared-limit-off', 'error', () => pngBombHeader(60000, 60000), { known: 'huge-declared-size PNG', options: { limitInputPixels: false } });
  add('png/huge-declared-ground', 'error', () => pngBombHeader(50000, 50000), { known: 'huge-declared-size PNG', ground: true });

  const webp = read(env.media.webp);
  for (const frac of [0.1, 0.5, 0.9]) add(`webp/truncated-${frac}`, 'error', () => webp.subarray(0, Math.floor(webp.length * frac)));
  add('webp/riff-size-huge', 'any', () => {
    const b = Buffer.from(webp);
    b.writeUInt32LE(0xfffffff0, 4);
    return b;
  });
  add('webp/corrupt', 'any', () => flip(webp, 40, 64));
  const gif = read(env.media.gif);
  for (const frac of [0.1, 0.5, 0.9]) add(`gif/truncated-${frac}`, 'error', () => gif.subarray(0, Math.floor(gif.length * frac)));
  add('gif/screen-65535', 'any', () => {
    const b = Buffer.from(gif);
    b.writeUInt16LE(65535, 6);
    b.writeUInt16LE(65535, 8);
    return b;
  });
  add('gif/corrupt', 'any', () => flip(gif, Math.floor(gif.length / 2), 32));

  add('empty-buffer', 'error', () => Buffer.alloc(0));
  add('empty-file', 'error', (ctx) => asFile(ctx, 'empty.png', Buffer.alloc(0)));
  add('text-file', 'error', (ctx) => asFile(ctx, 'text.jpg', 'hello, not an image\n'));
  add('text-buffer', 'error', () => Buffer.from('GIF89a but not really'));
  add('directory', 'error', (ctx) => {
    const d = ctx.file('dir.png');
    fs.mkdirSync(d);
    return d;
  });
  add('missing-path', 'error', (ctx) => ctx.file('nope.png'));
  add('path-with-nul', 'error', () => '/tmp/a\u0000b.png');
  add('wav-as-image', 'error', () => read(env.media.wav));
  add('mp4-as-image', 'error', () => read(env.media.mp4));
  const svg = (w: string, body = '') =>
    Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${w}">${body}</svg>`);
  add('svg/small', 'any', () => svg('16', '<rect width="16" height="16" fill="red"/>'), { known: 'SVG' });
  add('svg/huge-declared', 'error', () => svg('1000000'), { known: 'SVG' });
  add('svg/external-file', 'any', () => svg('16', '<image xlink:href="file:///etc/passwd" width="16" height="16"/>'), { known: 'SVG' });
  add('svg/external-http', 'any', () => svg('16', '<image href="http://127.0.0.1:9/x.png" width="16" height="16"/>'), { known: 'SVG' });
  add('svg/as-path', 'any', (ctx) => asFile(ctx, 'x.svg', svg('16')), { known: 'SVG' });
  add(
    'svg/billion-laughs',
    'any',
    () =>
      Buffer.from(
        `<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><text>&f;&f;&f;&f;&f;&f;&f;&f;</text></svg>`,
      ),
    { known: 'SVG' },
  );
  add('sharp-of-garbage', 'error', () => sharp(Buffer.from('not an image')));
  add('sharp-huge-create', 'error', () => sharp({ create: { width: 30000, height: 30000, channels: 3, background: 'red' } }));

  // raw pixels
  const raws: [string, () => unknown, string?][] = [
    ['data-short', () => ({ ...rawImg(8, 8), data: new Uint8Array(10) })],
    ['data-long', () => ({ ...rawImg(8, 8), data: new Uint8Array(8 * 8 * 3 + 1) })],
    ['width-0', () => ({ ...rawImg(8, 8), width: 0 })],
    ['width-NaN', () => ({ ...rawImg(8, 8), width: NaN })],
    ['width-string', () => ({ ...rawImg(8, 8), width: '8' }), 'media args undefined/holes/string width'],
    ['width-undefined', () => ({ ...rawImg(8, 8), width: undefined }), 'media args undefined/holes/string width'],
    ['width-1.5', () => ({ ...rawImg(8, 8), width: 1.5 })],
    ['width-huge', () => ({ ...rawImg(8, 8), width: 2 ** 31 })],
    ['height-negative', () => ({ ...rawImg(8, 8), height: -8 })],
    ['channels-5', () => ({ ...rawImg(8, 8), channels: 5 })],
    ['channels-0', () => ({ ...rawImg(8, 8), channels: 0 })],
    ['channels-string', () => ({ ...rawImg(8, 8), channels: '3' })],
    ['data-array', () => ({ ...rawImg(2, 2), data: new Array(12).fill(1) })],
    ['data-holes', () => ({ ...rawImg(2, 2), data: [1, , 3] })],
    ['data-float32', () => ({ ...rawImg(2, 2), data: new Float32Array(12) })],
    ['data-undefined', () => ({ width: 2, height: 2, channels: 3 })],
    [
      'data-detached',
      () => {
        const d = new Uint8Array(12);
        structuredClone(d.buffer, { transfer: [d.buffer] });
        return { data: d, width: 2, height: 2, channels: 3 };
      },
    ],
    ['pixels-1x1', () => rawImg(1, 1)],
    ['pixels-1x4000', () => rawImg(1, 4000)],
    ['pixels-over-limit', () => rawImg(20, 20), undefined],
    ['null', () => null],
    ['number', () => 42],
    ['object-empty', () => ({})],
    ['array', () => []],
    ['boolean', () => true],
    ['undefined', () => undefined, 'media args undefined/holes/string width'],
  ];
  for (const [name, make, known] of raws) {
    const expect = name.startsWith('pixels-') && name !== 'pixels-over-limit' ? 'any' : 'error';
    add(`raw/${name}`, expect, make, { ...(known ? { known } : {}), ...(name === 'pixels-over-limit' ? { options: { limitInputPixels: 100 } } : {}) });
  }
  return s;
}

function videoSpecs(env: AttackEnv): MediaSpec[] {
  const s: MediaSpec[] = [];
  const add = (name: string, expect: 'error' | 'any', input: MediaSpec['input'], extra: Partial<MediaSpec> = {}) =>
    s.push({ name, kind: 'video', expect, input, ...extra });
  const mp4 = read(env.media.mp4);
  for (const frac of [0.02, 0.3, 0.7, 0.97])
    add(`mp4/truncated-${frac}`, 'any', (ctx) => asFile(ctx, 'cut.mp4', mp4.subarray(0, Math.floor(mp4.length * frac))));
  add('mp4/corrupt-middle', 'any', (ctx) => asFile(ctx, 'corrupt.mp4', flip(mp4, mp4.length >> 1, 512)));
  add('mp4/moov-renamed', 'error', (ctx) => {
    const b = Buffer.from(mp4);
    const i = b.indexOf('moov');
    if (i >= 0) b.write('moox', i);
    return asFile(ctx, 'nomoov.mp4', b);
  });
  const mkv = read(env.media.mkv);
  for (const frac of [0.1, 0.6]) add(`mkv/truncated-${frac}`, 'any', (ctx) => asFile(ctx, 'cut.mkv', mkv.subarray(0, Math.floor(mkv.length * frac))));
  add('wav-as-video', 'error', () => env.media.wav);
  add('mp3-as-video', 'error', () => env.media.mp3);
  add('text-as-video', 'error', (ctx) => asFile(ctx, 'x.mp4', 'not a video at all\n'));
  add('png-as-video', 'any', () => env.media.png);
  add('jpeg-as-video', 'any', () => env.media.jpeg);
  add('empty-file', 'error', (ctx) => asFile(ctx, 'empty.mp4', Buffer.alloc(0)));
  add('missing-path', 'error', (ctx) => ctx.file('nope.mp4'));
  add('directory', 'error', (ctx) => {
    const d = ctx.file('dir.mp4');
    fs.mkdirSync(d);
    return d;
  });
  add('path-dash', 'error', () => '-i');
  add('path-lavfi', 'error', () => 'lavfi:testsrc');
  add('buffer', 'error', () => mp4);
  add('ground-truncated', 'any', (ctx) => asFile(ctx, 'cut2.mp4', mp4.subarray(0, mp4.length >> 1)), { ground: true });
  const f = () => rawImg(16, 16);
  const raws: [string, 'error' | 'any', () => unknown, string?][] = [
    ['frames-empty', 'error', () => ({ frames: [] })],
    ['frames-holes', 'error', () => ({ frames: [f(), , f()] }), 'media args undefined/holes/string width'],
    ['frames-undefined-item', 'error', () => ({ frames: [f(), undefined] }), 'media args undefined/holes/string width'],
    ['frames-mixed-sizes', 'any', () => ({ frames: [rawImg(16, 16), rawImg(40, 7), rawImg(1, 1, 1)] })],
    ['frame-wrong-size', 'error', () => ({ frames: [f(), { ...f(), data: new Uint8Array(5) }] })],
    ['frame-string-width', 'error', () => ({ frames: [{ ...f(), width: '16' }] }), 'media args undefined/holes/string width'],
    ['fps-NaN', 'error', () => ({ frames: [f()], fps: NaN })],
    ['fps-negative', 'error', () => ({ frames: [f()], fps: -1 })],
    ['fps-huge', 'any', () => ({ frames: [f(), f()], fps: 1e308 })],
    ['fps-tiny', 'any', () => ({ frames: [f(), f()], fps: 1e-300 })],
    ['duration-0', 'error', () => ({ frames: [f()], duration: 0 })],
    ['duration-Infinity', 'error', () => ({ frames: [f()], duration: Infinity })],
    ['duration-string', 'error', () => ({ frames: [f()], duration: '2' })],
    ['frames-string', 'error', () => ({ frames: 'x' })],
    ['frames-100', 'any', () => ({ frames: Array.from({ length: 100 }, () => rawImg(224, 224)) })],
    ['frames-typed-array', 'error', () => ({ frames: new Uint8Array(4) })],
    ['null', 'error', () => null],
    ['number', 'error', () => 7],
    ['undefined', 'error', () => undefined, 'media args undefined/holes/string width'],
  ];
  // more frames than the tower takes: sampled down (to 8 here, which keeps the tower run short)
  for (const [name, expect, make, known] of raws)
    add(`raw/${name}`, expect, make, { ...(known ? { known } : {}), ...(name === 'frames-100' ? { options: { maxFrames: 8 } } : {}) });
  for (const v of [0, 65, NaN, '2', 1.5]) add(`option/maxFrames-${String(v)}`, 'error', () => ({ frames: [f()] }), { options: { maxFrames: v } });
  return s;
}

function wav(rate: number, channels: number, bits: number, format: number, data: Buffer, dataLen = data.length): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(format, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate >>> 0, 4);
  fmt.writeUInt32LE(((rate * channels * bits) / 8) >>> 0, 8);
  fmt.writeUInt16LE(((channels * bits) / 8) & 0xffff, 12);
  fmt.writeUInt16LE(bits, 14);
  const head = Buffer.alloc(8);
  const body = Buffer.concat([Buffer.from('WAVEfmt '), Buffer.from([16, 0, 0, 0]), fmt, Buffer.from('data'), Buffer.alloc(4), data]);
  body.writeUInt32LE(dataLen >>> 0, 4 + 8 + 16 + 4);
  head.write('RIFF');
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

function audioSpecs(env: AttackEnv): MediaSpec[] {
  const s: MediaSpec[] = [];
  const add = (name: string, expect: 'error' | 'any', input: MediaSpec['input'], extra: Partial<MediaSpec> = {}) =>
    s.push({ name, kind: 'audio', expect, input, ...extra });
  const pcm = (n: number, v = 0.1) => {
    const b = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) b.writeFloatLE(v * Math.sin(i / 7), i * 4);
    return b;
  };
  add('wav/zero-length', 'error', () => wav(16000, 1, 32, 3, Buffer.alloc(0)));
  add('wav/zero-length-path', 'error', (ctx) => asFile(ctx, 'z.wav', wav(16000, 1, 32, 3, Buffer.alloc(0))));
  add('wav/nan-pcm', 'error', () => {
    const b = pcm(8000);
    b.writeUInt32LE(0x7fc00000, 400);
    return wav(16000, 1, 32, 3, b);
  });
  add('wav/inf-pcm', 'error', () => {
    const b = pcm(8000);
    b.writeFloatLE(Infinity, 4000);
    return wav(16000, 1, 32, 3, b);
  });
  add('wav/all-nan', 'error', () => wav(16000, 1, 32, 3, Buffer.alloc(32000, 0xff)));
  add('wav/huge-values', 'any', () => {
    const b = Buffer.alloc(32000);
    for (let i = 0; i < 8000; i++) b.writeFloatLE(i % 2 ? 3e38 : -3e38, i * 4);
    return wav(16000, 1, 32, 3, b);
  });
  add('wav/data-len-huge', 'error', () => wav(16000, 1, 32, 3, pcm(800), 0x7ffffff0));
  add('wav/channels-0', 'error', () => wav(16000, 0, 32, 3, pcm(800)));
  add('wav/channels-65535', 'error', () => wav(16000, 65535, 32, 3, pcm(800)));
  add('wav/rate-0', 'error', () => wav(0, 1, 32, 3, pcm(800)));
  add('wav/rate-1', 'error', () => wav(1, 1, 32, 3, pcm(800)));
  add('wav/rate-4e9', 'error', () => wav(4e9, 1, 32, 3, pcm(800)));
  add('wav/bits-0', 'error', () => wav(16000, 1, 0, 1, pcm(800)));
  add('wav/format-99', 'error', () => wav(16000, 1, 16, 99, pcm(800)));
  const good = read(env.media.wav);
  for (const frac of [0.01, 0.1, 0.5, 0.9]) add(`wav/truncated-${frac}`, 'error', () => good.subarray(0, Math.max(1, Math.floor(good.length * frac))));
  add('wav/truncated-path', 'error', (ctx) => asFile(ctx, 'cut.wav', good.subarray(0, good.length >> 1)));
  add('wav-float/ground', 'any', () => env.media.wavFloat, { ground: true });
  const mp3 = read(env.media.mp3);
  for (const frac of [0.05, 0.5]) add(`mp3/truncated-${frac}`, 'any', () => mp3.subarray(0, Math.floor(mp3.length * frac)));
  add('mp3/corrupt', 'any', () => flip(mp3, mp3.length >> 1, 256));
  add('jpeg-as-audio', 'error', () => env.media.jpeg);
  add('png-buffer-as-audio', 'error', () => read(env.media.png));
  add('mp4-without-audio', 'error', () => env.media.silentMp4);
  add('text-as-audio', 'error', () => Buffer.from('RIFF....WAVE not really'));
  add('empty-buffer', 'error', () => Buffer.alloc(0));
  add('missing-path', 'error', (ctx) => ctx.file('nope.wav'));
  add('directory', 'error', (ctx) => {
    const d = ctx.file('dir.wav');
    fs.mkdirSync(d);
    return d;
  });
  const f32 = (n: number, v = 0.1) => new Float32Array(n).fill(v);
  const raws: [string, 'error' | 'any', () => unknown, string?][] = [
    ['samples-empty', 'error', () => ({ samples: new Float32Array(0), sampleRate: 16000 })],
    ['samples-nan', 'error', () => ({ samples: f32(1000, NaN), sampleRate: 16000 })],
    [
      'samples-one-nan',
      'error',
      () => {
        const a = f32(16000);
        a[9999] = NaN;
        return { samples: a, sampleRate: 16000 };
      },
    ],
    ['samples-infinity', 'error', () => ({ samples: f32(1000, Infinity), sampleRate: 16000 })],
    ['samples-huge-values', 'any', () => ({ samples: f32(4000, 3e38), sampleRate: 16000 })],
    ['samples-denormal', 'any', () => ({ samples: f32(4000, 1e-44), sampleRate: 16000 })],
    ['rate-0', 'error', () => ({ samples: f32(1000), sampleRate: 0 })],
    ['rate-NaN', 'error', () => ({ samples: f32(1000), sampleRate: NaN })],
    ['rate-non-integer', 'error', () => ({ samples: f32(1000), sampleRate: 16000.5 }), 'non-integer sampleRate'],
    ['rate-string', 'error', () => ({ samples: f32(1000), sampleRate: '16000' })],
    ['rate-huge', 'error', () => ({ samples: f32(1000), sampleRate: 1e9 })],
    ['rate-undefined', 'error', () => ({ samples: f32(1000) }), 'media args undefined/holes/string width'],
    ['channels-9', 'error', () => ({ samples: Array.from({ length: 9 }, () => f32(1000)), sampleRate: 16000 })],
    ['channels-differ', 'error', () => ({ samples: [f32(1000), f32(999)], sampleRate: 16000 })],
    ['channels-empty-array', 'error', () => ({ samples: [], sampleRate: 16000 })],
    ['channels-undefined-item', 'error', () => ({ samples: [f32(100), undefined], sampleRate: 16000 }), 'media args undefined/holes/string width'],
    ['channels-holes', 'error', () => ({ samples: [, f32(100)], sampleRate: 16000 }), 'media args undefined/holes/string width'],
    ['samples-float64', 'error', () => ({ samples: new Float64Array(1000), sampleRate: 16000 })],
    ['samples-array', 'error', () => ({ samples: [0.1, 0.2, 0.3], sampleRate: 16000 })],
    ['samples-1', 'any', () => ({ samples: f32(1), sampleRate: 16000 })],
    ['samples-399', 'any', () => ({ samples: f32(399), sampleRate: 16000 })],
    ['samples-1000hz-long', 'error', () => ({ samples: f32(3_601_000), sampleRate: 1000 })],
    ['rate-1000-short', 'any', () => ({ samples: f32(3), sampleRate: 1000 })],
    ['rate-768000', 'any', () => ({ samples: f32(40000), sampleRate: 768000 })],
    ['null', 'error', () => null],
    ['number', 'error', () => 3],
    ['object-empty', 'error', () => ({})],
    ['undefined', 'error', () => undefined, 'media args undefined/holes/string width'],
  ];
  for (const [name, expect, make, known] of raws) add(`raw/${name}`, expect, make, known ? { known } : {});
  add('ground/image-option-number', 'error', () => ({ samples: f32(8000), sampleRate: 16000 }), { ground: true, options: { image: 5 } });
  add('ground/image-option-corrupt', 'error', () => ({ samples: f32(8000), sampleRate: 16000 }), { ground: true, options: { image: Buffer.from('junk') } });
  return s;
}

export function mediaCases(env: AttackEnv): AttackCase[] {
  const specs = [...imageSpecs(env), ...videoSpecs(env), ...audioSpecs(env)];
  return specs.map((spec) => ({
    id: `media/${spec.kind}/${spec.name}`,
    category: 'media' as const,
    expect: spec.expect,
    codes: CODES,
    ...(spec.known ? { known: spec.known } : {}),
    run: async (ctx: CaseContext) => {
      const model = await ctx.model();
      const input = await spec.input(ctx);
      const options = spec.options ?? {};
      if (spec.ground) {
        const o = { maxTokens: 2, ...options };
        if (spec.kind === 'image') return model.groundImage(input as never, 'Where is it?', o);
        if (spec.kind === 'video') return model.groundVideo(input as never, 'When?', o);
        return model.groundAudio(input as never, 'What is it?', o);
      }
      if (spec.kind === 'image') return model.embedImage(input as never, options);
      if (spec.kind === 'video') return model.embedVideo(input as never, options);
      return model.embedAudio(input as never, options);
    },
  }));
}
