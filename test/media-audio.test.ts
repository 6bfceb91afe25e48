// Audio decoding (docs/COMPUTATION.md §4.1): native rate, all channels, int16 exact, raw PCM, bad inputs.
// test/media-ffmpeg-only.test.ts runs these tests again with ffmpeg alone (no ffprobe).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeAudio, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from '../src/media/audio';
import { runningChildren } from '../src/media/ffmpeg';
import { AbortError, InvalidInputError } from '../src/errors';
import { goldenCase, mediaDir, tempDir } from './helpers/golden';
import { makeMedia, makeWav, prober, readWavInt16 } from './helpers/media';

const dogWav = path.join(mediaDir, 'dog_audio.wav');
const tmp = tempDir('ggpt-audio-');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('golden WAV: native rate, both channels, exactly int16 / 32768', async (t) => {
  const c = goldenCase('audio/dog_audio');
  const a = await decodeAudio(dogWav);
  t.equal(a.sampleRate, c.torchaudio_load.sample_rate);
  t.same([a.channels.length, a.channels[0].length], c.torchaudio_load.shape);
  t.equal(a.duration, 115110 / 44100);
  t.equal(a.source.codec, 'pcm_s16le');
  t.equal(a.source.format, 'wav');
  t.equal(a.source.prober, prober());
  const riff = readWavInt16(dogWav);
  t.equal(riff.channels, 2);
  let mismatches = 0;
  for (let i = 0; i < riff.samples.length; i++) {
    if (a.channels[i % 2][Math.floor(i / 2)] !== riff.samples[i] / 32768) mismatches++;
  }
  t.equal(mismatches, 0, 'every sample equals int16 / 32768');
  // The bytes of the file give the same result.
  const b = await decodeAudio(fs.readFileSync(dogWav));
  t.equal(b.source.kind, 'buffer');
  t.ok(b.channels.every((ch, i) => Buffer.from(ch.buffer).equals(Buffer.from(a.channels[i].buffer))));
  t.same(runningChildren(), []);
  // The temporary copy of the buffer is gone.
  t.notOk(fs.readdirSync(os.tmpdir()).some((f: string) => f.startsWith('groundinggpt-audio-')));
});

t.test('mono 44.1 kHz MP3, 6-channel WAV, float WAV, a video with sound', async (t) => {
  const mp3 = makeMedia(tmp, 'mono.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1:sample_rate=44100', '-ac', '1']);
  const m = await decodeAudio(mp3);
  t.equal(m.channels.length, 1);
  t.equal(m.sampleRate, 44100);
  t.ok(Math.abs(m.duration - 1) < 0.05, `duration ${m.duration}`);
  t.equal(m.source.format, 'mp3');
  const peak = m.channels[0].reduce((x, v) => Math.max(x, Math.abs(v)), 0);
  t.ok(peak > 0.05 && peak <= 1, `peak ${peak}`);
  const six = makeMedia(tmp, 'six.wav', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=0.5:sample_rate=48000', '-ac', '6']);
  const s = await decodeAudio(six);
  t.equal(s.channels.length, 6);
  t.equal(s.sampleRate, 48000);
  t.equal(s.channels[5].length, 24000);
  const fl = path.join(tmp, 'float.wav');
  fs.writeFileSync(fl, makeWav(8000, 1, [0.5, -0.25, 1.5, -2, 0.125], 'float32'));
  const f = await decodeAudio(fl);
  t.same([...f.channels[0]], [0.5, -0.25, 1.5, -2, 0.125], 'float samples pass through unchanged (not clipped)');
  const v = await decodeAudio(path.join(mediaDir, 'test-3.mp4'));
  t.equal(v.channels.length, 2);
  t.equal(v.sampleRate, 44100);
  t.ok(v.duration > 9.9 && v.duration < 10.1);
});

t.test('raw PCM', async (t) => {
  const mono = new Float32Array([0.1, -0.2, 0.3]);
  const r = await decodeAudio({ samples: mono, sampleRate: 16000 });
  t.equal(r.channels[0], mono, 'not copied');
  t.equal(r.duration, 3 / 16000);
  t.equal(r.source.kind, 'raw');
  const st = await decodeAudio({ samples: [mono, new Float32Array(3)], sampleRate: 44100 });
  t.equal(st.channels.length, 2);
  const cases: [string, unknown, RegExp][] = [
    ['no samples', { samples: new Float32Array(0), sampleRate: 16000 }, /Raw audio has no samples/],
    ['NaN', { samples: new Float32Array([0, NaN]), sampleRate: 16000 }, /non-finite sample \(NaN\) in channel 0 at sample 1/],
    ['Infinity', { samples: [new Float32Array(2), new Float32Array([0, -Infinity])], sampleRate: 16000 }, /non-finite sample \(-Infinity\) in channel 1/],
    [
      'rate too low',
      { samples: mono, sampleRate: 999 },
      new RegExp(`Expected a sample rate between ${MIN_SAMPLE_RATE} and ${MAX_SAMPLE_RATE} Hz for audio.sampleRate but received 999`),
    ],
    ['rate too high', { samples: mono, sampleRate: 768001 }, /audio.sampleRate but received 768001/],
    ['rate missing', { samples: mono }, /audio.sampleRate but received undefined/],
    ['9 channels', { samples: Array.from({ length: 9 }, () => new Float32Array(4)), sampleRate: 16000 }, /Raw audio has 9 channels; at most 8/],
    ['ragged', { samples: [new Float32Array(4), new Float32Array(3)], sampleRate: 16000 }, /channel 0 has 4 samples, channel 1 has 3/],
    ['int16 samples', { samples: new Int16Array(4), sampleRate: 16000 }, /Expected a Float32Array or a non-empty array of Float32Array/],
    ['empty channel list', { samples: [], sampleRate: 16000 }, /audio.samples/],
    ['too long', { samples: new Float32Array(16000 * 3), sampleRate: 1000 }, /lasts 48.0 s, longer than maxDuration = 10 s/],
    ['number', 3, /Expected a file path, Buffer\/Uint8Array or \{ samples, sampleRate \} for audio but received 3/],
  ];
  for (const [name, input, re] of cases) {
    await t.rejects(decodeAudio(input as never, name === 'too long' ? { maxDuration: 10 } : undefined), re, name);
  }
});

t.test('bad audio files', async (t) => {
  const wav = fs.readFileSync(dogWav);
  const w = (name: string, data: Uint8Array | string) => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, data);
    return p;
  };
  const mp3 = makeMedia(tmp, 'three.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3:sample_rate=44100']);
  const nineCh = makeMedia(tmp, 'nine.wav', ['-f', 'lavfi', '-i', `aevalsrc=${Array(9).fill('sin(440*2*PI*t)').join('|')}:d=0.1:s=8000`]);
  const silentVideo = makeMedia(tmp, 'silent.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=5', '-frames:v', '5', '-c:v', 'mpeg4']);
  const cases: [string, unknown, RegExp][] = [
    ['truncated WAV', w('cut.wav', wav.subarray(0, 200001)), /is truncated: its WAV header declares 260517 more bytes/],
    ['truncated MP3', w('cut.mp3', fs.readFileSync(mp3).subarray(0, 20000)), /is truncated: its header states 3\.0\d\d s but only 2\.\d+ s could be decoded/],
    ['not audio (text)', w('notes.wav', 'hello, these are words, not sound'), /Cannot read audio file .*notes\.wav: .*Invalid data found/],
    ['empty file', w('empty.wav', ''), /Audio file is empty/],
    ['empty buffer', Buffer.alloc(0), /Audio buffer is empty/],
    ['WAV with zero samples', w('zero.wav', makeWav(16000, 1, [], 'int16')), /has no samples/],
    ['WAV with NaN', w('nan.wav', makeWav(16000, 1, [0, 0.5, NaN, 0], 'float32')), /non-finite sample \(NaN\) in channel 0 at sample 2/],
    ['WAV with Inf', w('inf.wav', makeWav(16000, 2, [0, 0, Infinity, 0], 'float32')), /non-finite sample \(Infinity\) in channel 0 at sample 1/],
    ['rate 500 Hz', w('slow.wav', makeWav(500, 1, [0, 100, 200], 'int16')), /sample rate of 500 Hz, outside 1000\.\.768000 Hz/],
    ['rate 1 MHz', w('fast.wav', makeWav(1000000, 1, [0, 100, 200], 'int16')), /sample rate of 1000000 Hz, outside/],
    ['9 channels', nineCh, /has 9 channels; at most 8 are supported/],
    ['video without sound', silentVideo, /Not audio: .*silent\.mp4 has no audio stream \(only a video or picture stream\)/],
    ['a picture', path.join(mediaDir, 'dog_image.jpg'), /Not audio: .*has no audio stream/],
    ['missing', path.join(tmp, 'missing.wav'), /Audio file not found/],
    ['too long', dogWav, /lasts 2\.6 s, longer than maxDuration = 1 s/],
    ['garbage buffer', Buffer.from('not audio at all, just text'), /Cannot read audio file .*: /],
  ];
  for (const [name, input, re] of cases) {
    const opts = name === 'too long' ? { maxDuration: 1 } : undefined;
    const err = await decodeAudio(input as never, opts as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof InvalidInputError, `${name}: InvalidInputError`);
    t.match((err as Error | undefined)?.message, re, name);
  }
  t.same(runningChildren(), []);
});

t.test('abort', async (t) => {
  await t.rejects(decodeAudio(dogWav, { signal: AbortSignal.abort() }), AbortError);
  // Aborted while ffprobe/ffmpeg run: rejects with AbortError and leaves no child.
  const ac = new AbortController();
  const p = decodeAudio(dogWav, { signal: ac.signal });
  setImmediate(() => ac.abort());
  await t.rejects(p, AbortError);
  t.same(runningChildren(), []);
  await t.rejects(decodeAudio(dogWav, { maxDuration: 0 }), /Expected a positive number of seconds for maxDuration/);
});
