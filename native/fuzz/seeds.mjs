#!/usr/bin/env node
// Seed corpora for the libFuzzer targets (docs/RELIABILITY.md "Fuzzing"), from real files:
// the converted tiny golden model (encoders.gguf, llm.gguf) and the golden media decoded by ffmpeg.
// Writes into OUT/<target>/ (an ignored folder: build/fuzz/corpus); nothing here is committed.
//
//   node native/fuzz/seeds.mjs OUT --encoders encoders.gguf --llm llm.gguf --media ../shared/golden/media
//     [--max-full BYTES]   model files up to this size are also copied whole (default 0)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

// byte size of the GGUF scalar value types
const GGUF_SCALAR = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Offset just past the tensor infos of a GGUF v3 file (where the alignment padding starts). */
function ggufMetaEnd(b) {
  const u32 = (pos) => b.readUInt32LE(pos);
  const u64 = (pos) => Number(b.readBigUInt64LE(pos));
  let pos = 4;
  u32(pos); // version
  const nT = u64(pos + 4);
  const nKv = u64(pos + 12);
  pos += 20;

  const string = (pos) => pos + 8 + u64(pos);
  const value = (pos, t) => {
    if (t === 8) return string(pos);
    if (t === 9) {
      const at = u32(pos);
      const n = u64(pos + 4);
      pos += 12;
      for (let i = 0; i < n; i++) pos = value(pos, at);
      return pos;
    }
    const size = GGUF_SCALAR[t];
    if (size === undefined) throw new Error(`unknown GGUF value type ${t}`);
    return pos + size;
  };

  for (let i = 0; i < nKv; i++) {
    pos = string(pos);
    const t = u32(pos);
    pos = value(pos + 4, t);
  }
  for (let i = 0; i < nT; i++) {
    pos = string(pos);
    const nd = u32(pos);
    pos += 4 + 8 * nd + 4 + 8;
  }
  return pos;
}

function write(d, name, data) {
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, name), data);
}

function ggufSeeds(out, target, file, maxFull) {
  const b = readFileSync(file);
  const end = ggufMetaEnd(b);
  const d = path.join(out, target);
  // metadata without tensor data (the targets supply the data as zeros), at both parities: odd
  // lengths take the mmap path
  const meta = b.subarray(0, end);
  write(d, meta.length % 2 === 0 ? 'meta_even' : 'meta_odd', meta);
  write(d, meta.length % 2 === 0 ? 'meta_odd' : 'meta_even', b.subarray(0, end + 1));
  write(d, 'head_64', b.subarray(0, 64));
  if (b.length <= maxFull) write(d, 'full', b);
  return [b.length, end];
}

function ffmpeg(args) {
  return execFileSync('ffmpeg', ['-v', 'error', ...args, '-'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 30,
  });
}

/** Little-endian packing without padding, like Python's struct.pack('<...'). */
function pack(fields) {
  const size = { B: 1, b: 1, H: 2, I: 4, f: 4 };
  const buf = Buffer.alloc(fields.reduce((s, [c]) => s + size[c], 0));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  for (const [c, v] of fields) {
    if (c === 'B') dv.setUint8(pos, v);
    else if (c === 'b') dv.setInt8(pos, v);
    else if (c === 'H') dv.setUint16(pos, v, true);
    else if (c === 'I') dv.setUint32(pos, v, true);
    else if (c === 'f') dv.setFloat32(pos, v, true);
    pos += size[c];
  }
  return buf;
}

function imageSeeds(out, media) {
  const d = path.join(out, 'fuzz_image_preprocess');
  const mean = [0.48145466, 0.4578275, 0.40821073];
  const std = [0.26862954, 0.26130258, 0.27577711];
  let n = 0;
  for (const img of ['dog_image.jpg', 'test-1.jpeg']) {
    for (const [w, h] of [
      [32, 24],
      [7, 40],
      [64, 64],
      [200, 3],
    ]) {
      const px = ffmpeg(['-i', path.join(media, img), '-vf', `scale=${w}:${h}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24']);
      for (const [size, flags, slack] of [
        [14, 0, 4],
        [33, 1, 9],
        [1, 2, 4],
        [64, 8, 4],
      ]) {
        const hdr = pack([['H', w - 1], ['H', h - 1], ['B', slack], ['B', size - 1], ['B', flags], ...mean.map((v) => ['f', v]), ...std.map((v) => ['f', v])]);
        write(d, `img${String(n).padStart(2, '0')}`, Buffer.concat([hdr, px]));
        n += 1;
      }
    }
  }
  return n;
}

function audioSeeds(out, media) {
  const d = path.join(out, 'fuzz_audio_preprocess');
  const wav = path.join(media, 'dog_audio.wav');
  let n = 0;
  for (const [rate, ch, nSamp] of [
    [16000, 1, 16000],
    [44100, 2, 9000],
    [8000, 1, 300],
    [22050, 1, 30000],
  ]) {
    const pcm = ffmpeg(['-i', wav, '-t', '3', '-ar', String(rate), '-ac', String(ch), '-f', 's16le']).subarray(0, 2 * ch * nSamp);
    for (const [flags, target] of [
      [0x4c, 0],
      [0x0e, 0],
      [0x24, 1],
      [0x08, 3],
    ]) {
      // 0x4c: the model's parameters; 0x0e: these as given (3 clips of 0.5 s, 64 mels, 50
      // frames); others: the small set decoded from the same fields (2 clips of 5/16 s, 64 mels,
      // 50 frames)
      const small = !(flags & 0x42);
      const hdr = pack([
        ['B', flags],
        ['I', rate - 1000],
        ['B', ch],
        ['I', Math.floor(pcm.length / (2 * ch)) - 1],
        ['B', target],
        ['I', 16000],
        ['b', small ? 1 : 3],
        ['f', 0.5],
        ['H', small ? 60 : 64],
        ['H', small ? (4 << 8) + 49 : 50],
        ['f', -4.268],
        ['f', 9.138],
      ]);
      write(d, `aud${String(n).padStart(2, '0')}`, Buffer.concat([hdr, pcm]));
      n += 1;
    }
  }
  return n;
}

function main() {
  const usage = 'usage: seeds.mjs OUT --encoders ENCODERS --llm LLM --media MEDIA [--max-full BYTES]';
  let a;
  try {
    a = parseArgs({
      allowPositionals: true,
      options: {
        encoders: { type: 'string' },
        llm: { type: 'string' },
        media: { type: 'string' },
        'max-full': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`${usage}\nseeds.mjs: ${e.message}`);
    process.exit(2);
  }
  const o = a.values;
  if (o.help) {
    console.log(usage);
    return;
  }
  const missing = ['encoders', 'llm', 'media'].filter((k) => o[k] === undefined);
  const maxFull = Number(o['max-full']);
  if (a.positionals.length !== 1 || missing.length || !/^[-+]?\d+$/.test(o['max-full'].trim())) {
    console.error(
      `${usage}\nseeds.mjs: ${
        a.positionals.length !== 1
          ? 'expected one OUT argument'
          : missing.length
            ? `required: ${missing.map((k) => `--${k}`).join(', ')}`
            : '--max-full: not an integer'
      }`,
    );
    process.exit(2);
  }
  const out = a.positionals[0];
  const e = ggufSeeds(out, 'fuzz_encoders_load', o.encoders, maxFull);
  const l = ggufSeeds(out, 'fuzz_llm_check', o.llm, maxFull);
  const ni = imageSeeds(out, o.media);
  const na = audioSeeds(out, o.media);
  console.log(`seeds: encoders ${e[0]} bytes (metadata ${e[1]}), llm ${l[0]} bytes (metadata ${l[1]}), ` + `${ni} image, ${na} audio inputs in ${out}`);
}

main();
