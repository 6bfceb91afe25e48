// Test media made on the fly: ffmpeg lavfi clips, hand-written PNG and WAV files.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { resolveFFmpeg } from '../../src/media/ffmpeg';

export const FFMPEG = fs.existsSync('/usr/bin/ffmpeg') ? '/usr/bin/ffmpeg' : 'ffmpeg';

/** Runs ffmpeg (lavfi sources etc.) to make `dir/name`; returns its path. */
export function makeMedia(dir: string, name: string, args: string[]): string {
  const out = path.join(dir, name);
  execFileSync(FFMPEG, ['-hide_banner', '-v', 'error', '-y', ...args, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

function crc32(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    let c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A PNG of `channels` (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) at bit depth 8 or 16. */
export function makePng(width: number, height: number, channels: 1 | 2 | 3 | 4, depth: 8 | 16, values: ArrayLike<number>): Buffer {
  const colourType = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colourType;
  const bps = depth / 8;
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const r = Buffer.alloc(1 + width * channels * bps);
    for (let i = 0; i < width * channels; i++) {
      const v = values[y * width * channels + i];
      if (depth === 16) r.writeUInt16BE(v, 1 + 2 * i);
      else r[1 + i] = v;
    }
    rows.push(r);
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A tiny PNG whose header declares width x height (a decompression bomb's header). */
export function pngBombHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(1000))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A RIFF/WAVE file: int16 PCM (format 1) or float32 (format 3), interleaved samples. */
export function makeWav(sampleRate: number, channels: number, samples: ArrayLike<number>, format: 'int16' | 'float32'): Buffer {
  const bps = format === 'int16' ? 2 : 4;
  const data = Buffer.alloc(samples.length * bps);
  for (let i = 0; i < samples.length; i++) {
    if (format === 'int16') data.writeInt16LE(samples[i], i * 2);
    else data.writeFloatLE(samples[i], i * 4);
  }
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(format === 'int16' ? 1 : 3, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE(sampleRate * channels * bps, 8);
  fmt.writeUInt16LE(channels * bps, 12);
  fmt.writeUInt16LE(bps * 8, 14);
  const chunk = (id: string, b: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(b.length, 4);
    return Buffer.concat([h, b]);
  };
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), chunk('fmt ', fmt), chunk('data', data)]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** Parses an int16 PCM WAV: { rate, channels, samples (interleaved int16) }. */
export function readWavInt16(file: string): { rate: number; channels: number; samples: Int16Array } {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a WAV');
  let off = 12;
  let rate = 0;
  let channels = 0;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const len = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      if (buf.readUInt16LE(off + 8) !== 1 || buf.readUInt16LE(off + 22) !== 16) throw new Error('not int16 PCM');
      channels = buf.readUInt16LE(off + 10);
      rate = buf.readUInt32LE(off + 12);
    } else if (id === 'data') {
      const samples = new Int16Array(len / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(off + 8 + 2 * i);
      return { rate, channels, samples };
    }
    off += 8 + len + (len & 1);
  }
  throw new Error('no data chunk');
}

/** What probes media files in this test process: 'ffprobe', or 'ffmpeg' when none is reachable
 * (test/helpers/ffmpeg-only.ts). */
export function prober(): 'ffprobe' | 'ffmpeg' {
  return resolveFFmpeg().ffprobe === undefined ? 'ffmpeg' : 'ffprobe';
}
