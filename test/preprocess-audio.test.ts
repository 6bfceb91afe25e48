// docs/COMPUTATION.md §4 steps 1-4 in the core (native/src/preprocess/audio.cpp): torchaudio resampling,
// pytorchvideo 0.1.5 clip timepoints, in-place clip mean subtraction, Kaldi fbank, normalisation.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../src/native';
import { allclose, goldenCase, mediaDir, readExpected } from './helpers/golden';

const addon = native();

/** 16-bit PCM RIFF/WAVE -> float channels (int16 / 32768, as torchaudio.load normalises). */
function readWav(file: string): { channels: Float32Array[]; sampleRate: number } {
  const b = fs.readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let off = 12;
  let nch = 0;
  let rate = 0;
  let bits = 0;
  let data: Buffer | undefined;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      const format = b.readUInt16LE(off + 8);
      nch = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
      if (format !== 1 || bits !== 16) throw new Error(`unsupported WAV format ${format}/${bits} bits`);
    } else if (id === 'data') {
      data = b.subarray(off + 8, off + 8 + size);
    }
    off += 8 + size + (size & 1);
  }
  if (!data || !nch) throw new Error('WAV without fmt/data');
  const n = data.length / 2 / nch;
  const channels = Array.from({ length: nch }, () => new Float32Array(n));
  for (let i = 0; i < n; i++) for (let c = 0; c < nch; c++) channels[c][i] = data.readInt16LE((i * nch + c) * 2) / 32768;
  return { channels, sampleRate: rate };
}

t.test('golden audio/dog_audio: 16 kHz waveform, clip slices, fbank', async (t) => {
  const c = goldenCase('audio/dog_audio');
  const wav = readWav(path.join(mediaDir, path.basename(c.input.path)));
  t.equal(wav.sampleRate, c.torchaudio_load.sample_rate);
  t.same([wav.channels.length, wav.channels[0].length], c.torchaudio_load.shape);

  const r = await addon.audioPreprocess(wav.channels, wav.sampleRate, true);
  t.equal(r.info.samples16k, c.resampled_len, 'resampled length');
  t.equal(r.info.duration, c.duration_s);
  t.same(
    r.info.clips.map((k) => [k.sampleStart, k.sampleEnd]),
    c.clip_timepoints.map((k: { sample_slice: number[] }) => k.sample_slice),
    'clip sample slices',
  );
  r.info.clips.forEach((k, i) => {
    t.equal(k.start, c.clip_timepoints[i].start.float, `clip ${i} start`);
    t.equal(k.end, c.clip_timepoints[i].end.float, `clip ${i} end`);
  });
  t.equal(r.info.padded, false);

  const wave = readExpected(c.outputs.waveform_16k.file);
  t.same(wave.shape, [2, c.resampled_len]);
  const n = c.resampled_len;
  const got = new Float32Array(2 * n);
  got.set(r.wave16k![0], 0);
  got.set(r.wave16k![1], n);
  const rw = allclose(got, wave.data as Float32Array, c.outputs.waveform_16k.atol, 0);
  t.ok(rw.ok, `waveform_16k within ${c.outputs.waveform_16k.atol} (max ${rw.maxAbs})`);

  const fb = readExpected(c.outputs.fbank.file);
  t.same(fb.shape, [3, 1, 128, 204]);
  const rf = allclose(r.fbank, fb.data as Float32Array, c.outputs.fbank.atol, c.outputs.fbank.rtol);
  t.ok(rf.ok, `fbank within atol ${c.outputs.fbank.atol} rtol ${c.outputs.fbank.rtol} (max ${rf.maxAbs})`);

  // the same fbank without asking for the waveform (only the clip windows are resampled)
  const r2 = await addon.audioPreprocess(wav.channels, wav.sampleRate, false);
  t.equal(r2.wave16k, undefined);
  t.same(Buffer.from(r2.fbank.buffer), Buffer.from(r.fbank.buffer), 'identical fbank');

  // already at 16 kHz: the golden waveform goes through untouched and gives the golden fbank
  const w16 = wave.data as Float32Array;
  const r3 = await addon.audioPreprocess([w16.slice(0, n), w16.slice(n)], 16000, true);
  t.same(Buffer.from(r3.wave16k![0].buffer, r3.wave16k![0].byteOffset, 4 * n), Buffer.from(w16.buffer, 0, 4 * n), 'identity');
  t.ok(allclose(r3.fbank, fb.data as Float32Array, c.outputs.fbank.atol, c.outputs.fbank.rtol).ok, 'fbank from the golden 16 kHz wave');
});

async function clipsFor(nSamples16k: number) {
  const r = await addon.audioPreprocess([new Float32Array(nSamples16k)], 16000, false);
  return r.info.clips.map((k) => [k.sampleStart, k.sampleEnd]);
}

t.test('clip timepoints (pytorchvideo 0.1.5: step = max(D - 2, 0) / 3 as an exact fraction)', async (t) => {
  // 10 s: D = 10, step = 8/3 s; starts floor(16000 * k * 8/3) = 0, floor(42666.67) = 42666,
  // floor(85333.33) = 85333; each clip is 2 s = 32000 samples long.
  t.same(
    await clipsFor(160000),
    [
      [0, 32000],
      [42666, 74666],
      [85333, 117333],
    ],
    '10 s',
  );
  // 7.5 s: step = 5.5/3 = 11/6 s; starts 0, floor(16000 * 11/6) = floor(29333.33) = 29333,
  // floor(16000 * 11/3) = floor(58666.67) = 58666.
  t.same(
    await clipsFor(120000),
    [
      [0, 32000],
      [29333, 61333],
      [58666, 90666],
    ],
    '7.5 s',
  );
  // 2 s: step = 0: three times [0, 32000)
  t.same(
    await clipsFor(32000),
    [
      [0, 32000],
      [0, 32000],
      [0, 32000],
    ],
    '2 s',
  );
  // 1 s: step = max(-1, 0) = 0; [0, 32000) cut at the 16000 samples of the signal
  t.same(
    await clipsFor(16000),
    [
      [0, 16000],
      [0, 16000],
      [0, 16000],
    ],
    '1 s',
  );
  // 2.006 s (32096 samples): D - 2 is 0.005999999999999783 as a float, so step*16000 =
  // 31.99999999999884 and the starts are 31 and 63, not the decimal 32 and 64.
  t.same(
    await clipsFor(32096),
    [
      [0, 32000],
      [31, 32031],
      [63, 32063],
    ],
    '2.006 s (float duration)',
  );
});

t.test('short and degenerate inputs', async (t) => {
  // fewer than 400 samples: zero-padded to one fbank window, flagged
  const short = await addon.audioPreprocess([new Float32Array(100).fill(0.1)], 16000, false);
  t.equal(short.info.padded, true, 'padded flag');
  t.same(
    short.info.clips.map((k) => [k.sampleStart, k.sampleEnd]),
    [
      [0, 100],
      [0, 100],
      [0, 100],
    ],
  );
  t.equal(short.fbank.length, 3 * 128 * 204);
  // frame 0 holds data, frames 1.. are the pad value (0 + 4.268) / 9.138
  const pad = Math.fround(Math.fround(0 - Math.fround(-4.268)) / Math.fround(9.138));
  t.equal(short.fbank[1], pad);
  t.not(short.fbank[0], pad);
  t.ok(Array.from(short.fbank).every(Number.isFinite));

  const exact = await addon.audioPreprocess([new Float32Array(400).fill(0.1)], 16000, false);
  t.equal(exact.info.padded, false, '400 samples need no padding');

  // 1 s at 44.1 kHz stereo: 16000 samples, three identical clips
  const one = await addon.audioPreprocess([new Float32Array(44100), new Float32Array(44100)], 44100, true);
  t.equal(one.info.samples16k, 16000);
  t.equal(one.wave16k!.length, 2);
  t.same(
    one.info.clips.map((k) => [k.sampleStart, k.sampleEnd]),
    [
      [0, 16000],
      [0, 16000],
      [0, 16000],
    ],
  );
});

t.test('bad input: clear INVALID_ARGUMENT errors', async (t) => {
  const ok = new Float32Array(1000);
  const nan = new Float32Array(1000);
  nan[123] = NaN;
  await t.rejects(addon.audioPreprocess([ok, nan], 16000, false), {
    code: 'INVALID_ARGUMENT',
    message: /sample 123 of channel 1 is NaN; samples must be finite/,
  });
  const inf = new Float32Array(1000);
  inf[5] = -Infinity;
  await t.rejects(addon.audioPreprocess([inf], 44100, false), { code: 'INVALID_ARGUMENT', message: /infinite/ });
  t.throws(
    () =>
      addon.audioPreprocess(
        Array.from({ length: 9 }, () => ok),
        16000,
        false,
      ),
    {
      code: 'INVALID_ARGUMENT',
      message: /9 channels; 1 to 8 are supported/,
    },
  );
  t.throws(() => addon.audioPreprocess([], 16000, false), { code: 'INVALID_ARGUMENT', message: /0 channels/ });
  for (const rate of [0, 999, 768001, 10_000_000, -16000]) {
    t.throws(() => addon.audioPreprocess([ok], rate, false), { code: 'INVALID_ARGUMENT', message: /outside \[1000, 768000\] Hz/ }, `rate ${rate}`);
  }
  t.throws(() => addon.audioPreprocess([ok], 16000.5, false), { code: 'INVALID_ARGUMENT', message: /integer/ });
  t.throws(() => addon.audioPreprocess([new Float32Array(0)], 16000, false), { code: 'INVALID_ARGUMENT', message: /no samples/ });
  t.throws(() => addon.audioPreprocess([ok, new Float32Array(10)], 16000, false), { code: 'INVALID_ARGUMENT', message: /different lengths/ });
  t.throws(() => addon.audioPreprocess([new Float64Array(10) as unknown as Float32Array], 16000, false), {
    code: 'INVALID_ARGUMENT',
    message: /not a Float32Array/,
  });
});

t.test('resampler: lengths and odd rates', async (t) => {
  // ceil(new * n / orig) with rates reduced by their gcd
  const len = async (n: number, rate: number) => (await addon.audioPreprocess([new Float32Array(n)], rate, true)).info.samples16k;
  t.equal(await len(44100, 44100), 16000);
  t.equal(await len(1000, 48000), 334); // 1000 / 3 = 333.3 -> 334
  t.equal(await len(8000, 8000), 16000); // upsampling x2
  t.equal(await len(44101, 44101), 16000);
  t.equal(await len(999, 1000), 15984);
  // a coprime rate: a 1 kHz tone stays a 1 kHz tone of the same amplitude
  const rate = 44101;
  const n = rate;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / rate);
  const r = await addon.audioPreprocess([x], rate, true);
  const y = r.wave16k![0];
  let maxErr = 0;
  for (let j = 1000; j < 15000; j++) maxErr = Math.max(maxErr, Math.abs(y[j] - 0.5 * Math.sin((2 * Math.PI * 1000 * j) / 16000)));
  t.ok(maxErr < 2e-3, `tone preserved (max error ${maxErr})`);
});
