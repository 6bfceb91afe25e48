// Video and audio files with ffmpeg alone, the situation of a user whose only ffmpeg is
// ffmpeg-static's (it ships no ffprobe). The video, audio and end-to-end grounding tests run again
// with no ffprobe reachable, then the ffmpeg-only probe is compared with ffprobe's (still used
// where the ffprobePath option names it) on the golden media and on lavfi-made files: same frame
// counts, sizes, streams, timing sources, identical frames and PCM, the same errors.
import { SYSTEM_FFPROBE } from './helpers/ffmpeg-only'; // first: hides ffprobe from this process
import './media-video.test';
import './media-audio.test';
import './ground-media.test';
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { decodeVideo, probeVideo, type VideoInfo } from '../src/media/video';
import { decodeAudio } from '../src/media/audio';
import { parseInputDump } from '../src/media/probe';
import { runningChildren } from '../src/media/ffmpeg';
import { mediaDir, tempDir } from './helpers/golden';
import { makeMedia, makeWav } from './helpers/media';

const dir = tempDir('ggpt-ffmpeg-only-media-');
const withProbe = { ffprobePath: SYSTEM_FFPROBE };

/** Runs fn, returning its error (or undefined). */
async function failure(fn: () => Promise<unknown>): Promise<Error | undefined> {
  return fn().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
}

t.test('probeVideo: ffmpeg alone agrees with ffprobe', async (t) => {
  const v = (name: string, args: string[]) => makeMedia(dir, name, args);
  const files = [
    path.join(mediaDir, 'test-3.mp4'),
    path.join(mediaDir, 'test-1.jpeg'),
    v('mpeg4.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '10', '-c:v', 'mpeg4']),
    v('ffv1.mkv', ['-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=25', '-frames:v', '100', '-c:v', 'ffv1']),
    // no timestamps of its own: vlen / fps
    v('es.m4v', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '20', '-c:v', 'mpeg4', '-f', 'm4v']),
    // B-frames, NTSC rate, a sound one second longer than the picture
    v('ntsc.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=96x64:rate=30000/1001', '-f', 'lavfi', '-i', 'sine=duration=3', '-pix_fmt', 'yuv420p']),
    v('ntsc.mkv', ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=96x64:rate=30000/1001', '-f', 'lavfi', '-i', 'sine=duration=2', '-pix_fmt', 'yuv420p']),
    v('bframes.ts', ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=96x64:rate=25', '-bf', '2', '-pix_fmt', 'yuv420p']),
    v('vp8.webm', ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=96x64:rate=25', '-c:v', 'libvpx', '-b:v', '100k']),
    v('mjpeg.avi', ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=96x64:rate=25', '-c:v', 'mjpeg']),
    v('one.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25', '-frames:v', '1', '-pix_fmt', 'yuv420p']),
  ];
  // An edit list: 10 packets (one group of pictures), the first five outside the edit (flagged
  // discard), 0.5 s shown.
  const gop = v('gop.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=96x64:rate=10', '-pix_fmt', 'yuv420p']);
  files.push(v('edit.mp4', ['-ss', '0.5', '-i', gop, '-c', 'copy']));
  const same: (keyof VideoInfo)[] = ['frameCount', 'frameCountSource', 'stream', 'codec', 'width', 'height', 'timing', 'hasAudio'];
  for (const file of files) {
    const name = path.basename(file);
    const a = await probeVideo(file, withProbe);
    const b = await probeVideo(file);
    t.same([a.prober, b.prober], ['ffprobe', 'ffmpeg'], `${name}: probers`);
    t.same(
      same.map((k) => b[k]),
      same.map((k) => a[k]),
      `${name}: ${same.join(', ')} equal (${b.frameCount} frames, ${b.width}x${b.height}, ${b.timing})`,
    );
    t.ok(Math.abs(a.fps - b.fps) <= 0.005, `${name}: fps ${b.fps} vs ${a.fps}`);
    // ffprobe: the stream's stated duration, else the container's; ffmpeg: the span of the packets
    t.ok(Math.abs(a.duration - b.duration) <= 0.005, `${name}: duration ${b.duration} vs ${a.duration}`);
  }
  const edit = await probeVideo(files[files.length - 1]);
  t.same([edit.frameCount, edit.duration], [10, 0.5], 'the edit list: 10 packets, 0.5 s shown');
  // Cover art is not a video, with either probe.
  const cover = makeMedia(dir, 'cover.png', ['-f', 'lavfi', '-i', 'color=red:s=16x16', '-frames:v', '1']);
  const mp3 = makeMedia(dir, 'cover.mp3', [
    '-f',
    'lavfi',
    '-i',
    'sine=duration=1',
    '-i',
    cover,
    '-map',
    '0',
    '-map',
    '1',
    '-c:v',
    'png',
    '-disposition:v:0',
    'attached_pic',
  ]);
  const e1 = await failure(() => probeVideo(mp3, withProbe));
  const e2 = await failure(() => probeVideo(mp3));
  t.match(e2?.message, /Not a video: .*cover\.mp3 has no video stream \(it has audio only/);
  t.equal(e2?.message, e1?.message);
  t.same(runningChildren(), []);
});

t.test('parseInputDump: the input description, not what tags imitate', async (t) => {
  const info = [
    'Output #0, framecrc, to pipe:1:', // before the input: ignored
    "Input #0, mpegts, from 'x.ts':",
    '  Metadata:',
    '    Stream #0:9: Audio: opus, 48000 Hz: imitated by a tag name',
    '    Duration: 01:00:00.00, start: 0.000000',
    '  Duration: 00:01:02.50, start: 1.400000, bitrate: 78 kb/s',
    '  Program 1 ',
    '    Metadata:',
    '      service_name    : Service01',
    '    Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p(progressive), 96x64 [SAR 1:1 DAR 3:2], 29.97 fps, 1k tbr, 90k tbn',
    '    Stream #0:1[0x101](eng): Audio: mp2 ([3][0][0][0] / 0x0003), 44100 Hz, stereo, fltp, 384 kb/s',
    '  No Program',
    '  Stream #0:1[0x101](eng): Audio: mp2, 8000 Hz', // listed twice: the first one counts
    '  Stream #0:2: Video: png, rgb24(pc), 16x16, 90k tbr, 90k tbn (attached pic)',
    '    Side data:',
    '      Stream #0:3: Video: imitated',
    'Stream mapping:',
    '  Stream #0:4: Video: after the input description',
  ];
  const m = parseInputDump(info, 'x.ts');
  t.same(m, {
    path: 'x.ts',
    prober: 'ffmpeg',
    format: 'mpegts',
    duration: 62.5,
    streams: [
      { index: 0, type: 'video', codec: 'h264', width: 96, height: 64, avgFrameRate: 29.97, baseFrameRate: 1000, sampleRate: undefined, attachedPic: false },
      {
        index: 1,
        type: 'audio',
        codec: 'mp2',
        width: undefined,
        height: undefined,
        avgFrameRate: undefined,
        baseFrameRate: undefined,
        sampleRate: 44100,
        attachedPic: false,
      },
      { index: 2, type: 'video', codec: 'png', width: 16, height: 16, avgFrameRate: undefined, baseFrameRate: 90000, sampleRate: undefined, attachedPic: true },
    ],
  });
  t.equal(parseInputDump(['Output #0, wav, to pipe:1:'], 'x'), undefined, 'no input description: the file could not be opened');
  t.equal(parseInputDump(["Input #0, m4v, from 'es.m4v':", '  Duration: N/A, bitrate: N/A'], 'es.m4v')?.duration, undefined);
  // A real file whose tags imitate streams and a duration (a value with line breaks, tag names).
  const evil = makeMedia(dir, 'evil.mkv', [
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=32x24:rate=5',
    '-frames:v',
    '5',
    '-c:v',
    'ffv1',
    '-metadata',
    'title=x\n  Stream #0:5: Audio: aac, 8000 Hz\n  Duration: 01:00:00.00, start: 0',
    '-metadata',
    'Stream #0:7: Audio: pcm_s16le, 8000 Hz=1',
    '-metadata:s:v:0',
    'Stream #0:9: Audio: opus, 48000 Hz=2',
  ]);
  const v = await probeVideo(evil);
  t.same([v.prober, v.frameCount, v.duration, v.hasAudio], ['ffmpeg', 5, 1, false]);
});

t.test('decodeVideo: the same frames with either probe', async (t) => {
  const file = path.join(mediaDir, 'test-3.mp4');
  const a = await decodeVideo(file, withProbe);
  const b = await decodeVideo(file);
  t.same(b.indices, a.indices);
  t.equal(b.frames.length, 64);
  t.ok(
    b.frames.every((f, i) => Buffer.from(f).equals(Buffer.from(a.frames[i]))),
    'frames byte for byte',
  );
});

t.test('decodeAudio: identical PCM with either probe', async (t) => {
  const float = path.join(dir, 'float.wav');
  fs.writeFileSync(float, makeWav(8000, 1, [0.5, -0.25, 1.5, -2, 0.125], 'float32'));
  const files = [
    path.join(mediaDir, 'dog_audio.wav'),
    path.join(mediaDir, 'test-3.mp4'),
    float,
    makeMedia(dir, 'mono.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1:sample_rate=44100', '-ac', '1']),
    makeMedia(dir, 'six.flac', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=0.5:sample_rate=48000', '-ac', '6']),
    makeMedia(dir, 'vorbis.ogg', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=0.5:sample_rate=22050']),
    makeMedia(dir, 'aac.m4a', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=0.5:sample_rate=16000']),
  ];
  for (const file of files) {
    const name = path.basename(file);
    const a = await decodeAudio(file, withProbe);
    const b = await decodeAudio(file);
    t.same([a.source.prober, b.source.prober], ['ffprobe', 'ffmpeg'], `${name}: probers`);
    t.same(
      [b.sampleRate, b.channels.length, b.duration, b.source.codec, b.source.format],
      [a.sampleRate, a.channels.length, a.duration, a.source.codec, a.source.format],
      `${name}: ${b.sampleRate} Hz, ${b.channels.length} channels, ${b.source.codec}`,
    );
    t.ok(
      b.channels.every((c, i) =>
        Buffer.from(c.buffer, c.byteOffset, c.byteLength).equals(Buffer.from(a.channels[i].buffer, a.channels[i].byteOffset, a.channels[i].byteLength)),
      ),
      `${name}: identical PCM`,
    );
  }
});

t.test('bad files: the same errors with either probe', async (t) => {
  const w = (name: string, data: Uint8Array | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };
  const test3 = fs.readFileSync(path.join(mediaDir, 'test-3.mp4'));
  const three = makeMedia(dir, 'three.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3:sample_rate=44100']);
  const video: [string, string][] = [
    ['audio only', makeMedia(dir, 'tone.wav', ['-f', 'lavfi', '-i', 'sine=duration=1'])],
    ['text', w('notes.mp4', 'this is not a video file, just some words')],
    ['truncated mp4', w('cut.mp4', test3.subarray(0, 50000))],
  ];
  const audio: [string, string, number?][] = [
    ['truncated MP3', w('cut.mp3', fs.readFileSync(three).subarray(0, 20000))],
    ['truncated mp4', w('cut.m4a', test3.subarray(0, 50000))],
    ['text', w('notes.wav', 'hello, these are words, not sound')],
    ['zero samples', w('zero.wav', makeWav(16000, 1, [], 'int16'))],
    ['NaN', w('nan.wav', makeWav(16000, 1, [0, 0.5, NaN, 0], 'float32'))],
    ['500 Hz', w('slow.wav', makeWav(500, 1, [0, 100, 200], 'int16'))],
    ['9 channels', makeMedia(dir, 'nine.wav', ['-f', 'lavfi', '-i', `aevalsrc=${Array(9).fill('sin(440*2*PI*t)').join('|')}:d=0.1:s=8000`])],
    ['video without sound', makeMedia(dir, 'silent.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=5', '-frames:v', '5', '-c:v', 'mpeg4'])],
    ['a picture', path.join(mediaDir, 'dog_image.jpg')],
    ['stated duration too long', three, 1],
    ['decoded too long', three, 2.5],
  ];
  const cases: [string, (o: object) => Promise<unknown>][] = [
    ...video.map(([name, file]): [string, (o: object) => Promise<unknown>] => [`video, ${name}`, (o) => probeVideo(file, o)]),
    ...audio.map(([name, file, maxDuration]): [string, (o: object) => Promise<unknown>] => [`audio, ${name}`, (o) => decodeAudio(file, { ...o, maxDuration })]),
  ];
  for (const [name, run] of cases) {
    const a = await failure(() => run(withProbe));
    const b = await failure(() => run({}));
    t.ok(a && b && a.name === 'InvalidInputError' && b.name === a.name, `${name}: InvalidInputError both ways`);
    t.equal(b?.message, a?.message, `${name}: ${b?.message}`);
  }
  t.same(runningChildren(), []);
});
