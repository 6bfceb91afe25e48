// Video and audio files through the model end to end (real ffmpeg): fewer than 64 frames, one
// frame, abort while ffmpeg decodes (the child is killed, the model stays usable), a 1 s mono
// 44.1 kHz MP3, a sound shorter than one fbank window, and files of the wrong kind.
import t from 'tap';
import path from 'node:path';
import { tempDir } from './helpers/golden';
import { makeMedia } from './helpers/media';
import { riggedModel } from './helpers/rigged';
import { AbortError, InvalidInputError, loadModel } from '../src/index';
import { runningChildren } from '../src/media/ffmpeg';

t.test('video and audio files', async (t) => {
  const dir = tempDir();
  const model = await loadModel({ model: await riggedModel([' At', ' {0.10, 0.50}', '.']), threads: 2 });
  t.teardown(() => model.dispose());

  t.test('a video with fewer than 64 frames', async (t) => {
    const video = makeMedia(dir, 'ten.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=96x64:rate=10', '-pix_fmt', 'yuv420p']);
    const r = await model.groundVideo(video, 'When?');
    t.same(r.video?.sampledFrames, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every frame of a 10-frame video');
    t.equal(r.video?.frameCount, 10);
    t.equal(r.segments.length, 1);
    t.same(
      [r.segments[0].start, r.segments[0].end].map((x) => +x.toFixed(6)),
      [0.1, 0.5],
      'fractions of a 1 s video',
    );
  });

  t.test('a single-frame video', async (t) => {
    const video = makeMedia(dir, 'one.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25', '-frames:v', '1', '-pix_fmt', 'yuv420p']);
    const r = await model.groundVideo(video, 'When?');
    t.same(r.video?.sampledFrames, [0]);
  });

  t.test('abort while ffmpeg decodes: the child is gone, the model answers again', async (t) => {
    const video = makeMedia(dir, 'long.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=60:size=640x480:rate=30', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast']);
    const ac = new AbortController();
    let seen: number[] = [];
    const p = model.groundVideo(video, 'When?', {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.stage === 'decode' && e.fraction > 0 && !ac.signal.aborted) {
          seen = runningChildren();
          ac.abort();
        }
      },
    });
    await t.rejects(p, AbortError);
    t.ok(seen.length > 0, 'ffmpeg was running when the signal fired');
    t.same(runningChildren(), [], 'no ffmpeg left');
    for (const pid of seen) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`);
    const r = await model.groundVideo(path.join(dir, 'ten.mp4'), 'When?');
    t.equal(r.segments.length, 1, 'the model still answers');
  });

  t.test('a 1 s mono 44.1 kHz MP3', async (t) => {
    const mp3 = makeMedia(dir, 'tone.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1:sample_rate=44100', '-ac', '1']);
    const r = await model.groundAudio(mp3, 'What is this sound?');
    t.equal(r.audio?.sampleRate, 44100);
    t.equal(r.audio?.channels, 1);
    // a 1 s sound: three identical clips over the whole signal (docs/COMPUTATION.md §4.2)
    t.equal(r.audio?.clips.length, 3);
    for (const c of r.audio?.clips ?? []) t.same([c.start, +c.end.toFixed(2)], [0, 1]);
    t.same(r.warnings, []);
  });

  t.test('shorter than one fbank window: padded, with a warning', async (t) => {
    const r = await model.groundAudio({ samples: new Float32Array(300).fill(0.1), sampleRate: 16000 }, 'What?');
    t.equal(r.audio?.padded, true);
    t.match(r.warnings[0], /padded with zeros/);
  });

  t.test('files of the wrong kind', async (t) => {
    const silentVideo = makeMedia(dir, 'silent.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x64:rate=5', '-pix_fmt', 'yuv420p']);
    await t.rejects(model.groundAudio(silentVideo, 'What?'), InvalidInputError, 'a video without sound');
    const wav = makeMedia(dir, 'only-sound.wav', ['-f', 'lavfi', '-i', 'sine=duration=1']);
    await t.rejects(model.groundVideo(wav, 'When?'), InvalidInputError, 'a sound file as video');
    await t.rejects(model.groundAudio({ samples: Float32Array.from([0, NaN, 0]), sampleRate: 16000 }, 'What?'), InvalidInputError, 'NaN samples');
    t.same(runningChildren(), []);
    t.equal((await model.groundAudio({ samples: new Float32Array(16000), sampleRate: 16000 }, 'What?')).tokens.length > 0, true, 'still usable');
  });
});
