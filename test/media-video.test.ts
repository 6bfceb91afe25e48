// Video decoding (docs/COMPUTATION.md §3.1-3.2): upstream frame indices, the golden test-3.mp4 frames, short and
// single-frame videos made with lavfi, raw frames, abort (the ffmpeg child is gone), bad inputs.
// test/media-ffmpeg-only.test.ts runs these tests again with ffmpeg alone (no ffprobe).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { decodeVideo, decodeVideoFrames, probeVideo, sampleIndices, FALLBACK_FPS } from '../src/media/video';
import { runningChildren } from '../src/media/ffmpeg';
import { AbortError, InvalidInputError } from '../src/errors';
import { goldenCase, mediaDir, readExpected, tempDir } from './helpers/golden';
import { makeMedia, prober } from './helpers/media';

const test3 = path.join(mediaDir, 'test-3.mp4');
const tmp = tempDir('ggpt-video-');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A lossless grey video whose frame k has every pixel = 2k (k < 128). */
function indexVideo(name: string, frames: number, size = '32x24'): string {
  return makeMedia(tmp, name, ['-f', 'lavfi', '-i', `nullsrc=s=${size}:r=25,format=gray,geq=lum='N*2'`, '-frames:v', String(frames), '-c:v', 'ffv1']);
}

t.test('sampleIndices reproduces np.arange(0, vlen, vlen/n).astype(int)', async (t) => {
  t.same(sampleIndices(240), goldenCase('video/test3_mp4').frame_indices);
  t.same(sampleIndices(10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(sampleIndices(1), [0]);
  // Values printed by numpy 2.4 for these calls:
  t.same(sampleIndices(10, 4), [0, 2, 5, 7]);
  t.same(sampleIndices(7, 3), [0, 2, 4]);
  t.same(sampleIndices(100, 8), [0, 12, 25, 37, 50, 62, 75, 87]);
  const i65 = sampleIndices(65);
  t.equal(i65.length, 64);
  t.same(i65.slice(-3), [61, 62, 63]);
  const i1000 = sampleIndices(1000);
  t.same(i1000.slice(0, 5), [0, 15, 31, 46, 62]);
  t.equal(i1000[63], 984);
  // Length is always n and indices are strictly increasing and < vlen.
  for (let v = 1; v <= 3000; v++) {
    const s = sampleIndices(v);
    if (s.length !== Math.min(64, v) || s[s.length - 1] >= v || s.some((x, i) => i > 0 && x <= s[i - 1])) {
      t.fail(`vlen ${v}`);
      break;
    }
  }
  t.throws(() => sampleIndices(0), /Expected a positive integer for vlen but received 0/);
  t.throws(() => sampleIndices(10, 0), InvalidInputError);
});

t.test('golden test-3.mp4: probe, indices, frames within +-2 of frames_u8', async (t) => {
  const c = goldenCase('video/test3_mp4');
  const info = await probeVideo(test3);
  t.equal(info.prober, prober());
  t.equal(info.frameCount, c.decord_len);
  t.equal(info.frameCountSource, 'packets');
  t.same([info.width, info.height], [720, 358]);
  // ffmpeg alone: the rate it prints (23.88), and the span of the packets (the last one's duration
  // made up by ffmpeg from the average rate: 3768 instead of 3750 ticks of 1/90000 s).
  const exact = info.prober === 'ffprobe';
  t.ok(Math.abs(info.fps - 337500 / 14131) < (exact ? 1e-9 : 0.005), `fps ${info.fps}`);
  t.ok(Math.abs(info.duration - 10.024356) < (exact ? 1e-6 : 1e-3), `duration ${info.duration}`);
  t.equal(info.hasAudio, true);
  const progress: number[] = [];
  const v = await decodeVideo(test3, { onProgress: (p) => progress.push(p.done) });
  t.same(v.indices, c.frame_indices);
  t.equal(v.frames.length, 64);
  t.equal(v.size, 224);
  t.same(
    progress,
    Array.from({ length: 64 }, (_, i) => i + 1),
  );
  t.ok(Math.abs(v.times[1] - 3 / v.fps) < 1e-12);
  // frames_u8 is [3, 64, 224, 224] channel-major; ours are 64 x [224, 224, 3].
  const g = readExpected('video_test3_mp4_frames_u8.npy');
  t.same(g.shape, [3, 64, 224, 224]);
  const S = 224 * 224;
  let maxd = 0;
  for (let f = 0; f < 64; f++) {
    const fr = v.frames[f];
    t.equal(fr.length, S * 3);
    for (let p = 0; p < S; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const d = Math.abs(fr[p * 3 + ch] - (g.data[(ch * 64 + f) * S + p] as number));
        if (d > maxd) maxd = d;
      }
    }
  }
  t.ok(maxd <= 2, `max difference to golden frames: ${maxd} levels`);
  t.equal(runningChildren().length, 0);
});

t.test('the selected frames are the right ones (lossless index video)', async (t) => {
  const file = indexVideo('idx100.mkv', 100);
  const info = await probeVideo(file);
  t.equal(info.frameCount, 100);
  t.equal(info.fps, 25);
  t.equal(info.duration, 4);
  t.equal(info.timing, 'container');
  const v = await decodeVideo(file, { size: 8 });
  t.same(v.indices, sampleIndices(100));
  t.same(
    v.frames.map((f) => f[0]),
    v.indices.map((k) => 2 * k),
  );
  t.ok(v.frames.every((f) => f.length === 8 * 8 * 3 && f.every((x) => x === f[0])));
  // decodeVideoFrames alone, with explicit indices.
  const d = await decodeVideoFrames(file, { indices: [3, 50, 99], size: 4 });
  t.same(
    d.frames.map((f) => f[0]),
    [6, 100, 198],
  );
  await t.rejects(decodeVideoFrames(file, { indices: [5, 5] }), /Expected strictly increasing non-negative integers for indices\[1\]/);
  await t.rejects(decodeVideoFrames(file, { indices: [] }), /Expected a non-empty array of frame numbers/);
  // Asking beyond the end: only some frames come back.
  await t.rejects(decodeVideoFrames(file, { indices: [10, 150] }), /only 1 of the 2 sampled frames were decoded \(frame 150 is missing/);
});

t.test('a video with fewer than 64 frames, and a single-frame video', async (t) => {
  const ten = makeMedia(tmp, 'ten.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '10', '-pix_fmt', 'yuv420p', '-c:v', 'mpeg4']);
  const v = await decodeVideo(ten);
  t.equal(v.frameCount, 10);
  t.same(v.indices, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(v.frames.length, 10);
  t.ok(v.frames.every((f) => f.length === 224 * 224 * 3));
  t.ok(Math.abs(v.duration - 1) < 0.05, `duration ${v.duration}`);
  const one = indexVideo('one.mkv', 1);
  const s = await decodeVideo(one);
  t.equal(s.frameCount, 1);
  t.same(s.indices, [0]);
  t.equal(s.frames.length, 1);
  t.equal(s.frames[0][0], 0);
  t.ok(s.duration > 0);
  // A still picture read as a one-frame video.
  const still = await decodeVideo(path.join(mediaDir, 'test-1.jpeg'));
  t.equal(still.frameCount, 1);
  t.equal(still.frames.length, 1);
  t.equal(runningChildren().length, 0);
});

t.test('raw frames', async (t) => {
  const g = readExpected('video_test3_mp4_frames_u8.npy');
  const S = 224 * 224;
  // The golden frames fed back as raw frames come out unchanged (64 frames: indices 0..63).
  const frames = Array.from({ length: 64 }, (_, f) => {
    const data = new Uint8Array(S * 3);
    for (let p = 0; p < S; p++) for (let ch = 0; ch < 3; ch++) data[p * 3 + ch] = g.data[(ch * 64 + f) * S + p] as number;
    return { data, width: 224, height: 224, channels: 3 as const };
  });
  const v = await decodeVideo({ frames, fps: 24 });
  t.same(
    v.indices,
    Array.from({ length: 64 }, (_, i) => i),
  );
  t.ok(v.frames.every((f, i) => Buffer.from(f).equals(Buffer.from(frames[i].data))));
  t.equal(v.duration, 64 / 24);
  t.equal(v.timing, 'derived');
  // Other sizes and channel counts are converted and resized; timing fallback.
  const odd = [
    { data: new Uint8Array(10 * 6).fill(100), width: 10, height: 6, channels: 1 as const },
    { data: new Uint8Array(300 * 200 * 4).fill(50), width: 300, height: 200, channels: 4 as const },
    { data: new Uint8ClampedArray(224 * 224 * 2).fill(7), width: 224, height: 224, channels: 2 as const },
  ];
  const r = await decodeVideo({ frames: odd });
  t.equal(r.frames.length, 3);
  t.ok(r.frames.every((f) => f.length === 224 * 224 * 3));
  t.ok(r.frames[0].every((x) => x === 100));
  t.ok(r.frames[1].every((x) => x === 50));
  t.ok(r.frames[2].every((x) => x === 7));
  t.equal(r.timing, 'assumed');
  t.equal(r.fps, FALLBACK_FPS);
  t.equal(r.duration, 3 / FALLBACK_FPS);
  const withDuration = await decodeVideo({ frames: odd, duration: 6 });
  t.equal(withDuration.fps, 0.5);
  // 100 raw frames are sampled like a file.
  const many = Array.from({ length: 100 }, (_, i) => ({ data: new Uint8Array(4 * 4).fill(i), width: 4, height: 4, channels: 1 as const }));
  const m = await decodeVideo({ frames: many, duration: 4 }, { size: 4 });
  t.same(m.indices, sampleIndices(100));
  t.same(
    m.frames.map((f) => f[0]),
    sampleIndices(100),
  );
  // Bad raw input.
  await t.rejects(decodeVideo({ frames: [] }), /Expected a non-empty array of frames for video.frames/);
  await t.rejects(
    decodeVideo({ frames: [{ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }] }),
    /Expected 12 bytes \(2 x 2 x 3 channels\) in video.frames\[0\].data but received 5/,
  );
  await t.rejects(decodeVideo({ frames: [odd[0]], fps: 0 }), /Expected a positive number for video.fps but received 0/);
  await t.rejects(decodeVideo({ frames: [odd[0]], duration: -1 }), /video.duration/);
  await t.rejects(decodeVideo({ frames: [odd[1]] }, { limitInputPixels: 1000 }), /300x200 = 60000 pixels, above the limit of 1000/);
});

t.test('abort during frame decoding kills the ffmpeg child and rejects with AbortError', async (t) => {
  const long = makeMedia(tmp, 'long.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25', '-frames:v', '1500', '-c:v', 'mpeg4']);
  const ac = new AbortController();
  let pid: number | undefined;
  const p = decodeVideo(long, {
    signal: ac.signal,
    onProgress: () => {
      // First sampled frame received: ffmpeg still has 63 frames (>9 MB) to write, so it runs.
      if (pid === undefined) {
        pid = runningChildren()[0];
        ac.abort();
      }
    },
  });
  await t.rejects(p, AbortError);
  t.ok(pid !== undefined, 'the ffmpeg child was running');
  t.throws(() => process.kill(pid!, 0), { code: 'ESRCH' }, 'its pid is gone');
  t.same(runningChildren(), []);
  // Already aborted: nothing is started.
  await t.rejects(decodeVideo(long, { signal: AbortSignal.abort() }), AbortError);
  t.same(runningChildren(), []);
});

t.test('bad video inputs', async (t) => {
  const audioOnly = makeMedia(tmp, 'tone.wav', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1']);
  const text = path.join(tmp, 'notes.mp4');
  fs.writeFileSync(text, 'this is not a video file, just some words');
  const truncated = path.join(tmp, 'cut.mp4');
  fs.writeFileSync(truncated, fs.readFileSync(test3).subarray(0, 50000));
  const empty = path.join(tmp, 'empty.mp4');
  fs.writeFileSync(empty, '');
  const cases: [string, unknown, RegExp, object?][] = [
    ['audio-only file', audioOnly, /Not a video: .*tone\.wav has no video stream \(it has audio only/],
    ['text file', text, /Cannot read video file .*notes\.mp4: .*Invalid data found/],
    ['truncated mp4', truncated, /Cannot (read|decode) video/],
    ['empty file', empty, /Video file is empty \(0 bytes\)/],
    ['missing file', path.join(tmp, 'missing.mp4'), /Video file not found/],
    ['directory', tmp, /Video path is not a file/],
    ['number', 5, /Expected a video file path or \{ frames, fps\?, duration\? \} for video but received 5/],
    ['frames over the pixel limit', test3, /720x358 = 257760 pixels, above the limit of 100000/, { limitInputPixels: 100000 }],
    ['bad maxFrames', test3, /Expected an integer between 1 and 4096 for maxFrames but received 0/, { maxFrames: 0 }],
    ['bad size', test3, /for size but received 1.5/, { size: 1.5 }],
  ];
  for (const [name, input, re, opts] of cases) {
    const err = await decodeVideo(input as never, opts as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof InvalidInputError, `${name}: InvalidInputError`);
    t.match((err as Error | undefined)?.message, re, name);
  }
  t.same(runningChildren(), []);
});

t.test('missing duration and fps fall back as documented', async (t) => {
  // MPEG-4 elementary stream: no duration anywhere; the frame rate is known -> duration = vlen / fps.
  const raw = makeMedia(tmp, 'es.m4v', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '20', '-c:v', 'mpeg4', '-f', 'm4v']);
  const info = await probeVideo(raw);
  t.equal(info.frameCount, 20);
  t.equal(info.fps, 10);
  t.equal(info.duration, 2);
  t.equal(info.timing, 'derived');
  // (Neither fps nor duration: see the raw-frames test, which falls back to FALLBACK_FPS.)
});
