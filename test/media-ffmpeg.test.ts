// ffmpeg/ffprobe resolution order, FFmpegNotFoundError messages, a missing ffprobe (not an error),
// child process lifetime, splitting ffmpeg's tagged log.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { resolveFFmpeg, resolveFFmpegOnly, runProcess, runningChildren, splitTaggedLog, stderrTail, TAGGED_LOG_ARGS } from '../src/media/ffmpeg';
import { decodeVideo } from '../src/media/video';
import { decodeAudio } from '../src/media/audio';
import { AbortError, FFmpegNotFoundError, InvalidInputError } from '../src/errors';
import { mediaDir, tempDir } from './helpers/golden';
import { FFMPEG } from './helpers/media';

const tmp = tempDir('ggpt-ffmpeg-');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const emptyDir = path.join(tmp, 'empty');
fs.mkdirSync(emptyDir);
const realFFmpeg = fs.realpathSync(FFMPEG);
const realFFprobe = path.join(path.dirname(realFFmpeg), 'ffprobe');

/** Runs fn with env vars set (undefined = unset), then restores them. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) {
    saved[k] = process.env[k];
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(saved)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

t.test('resolution order: option > env > ffmpeg-static > PATH; ffprobe beside ffmpeg', async (t) => {
  // A private folder with links named ffmpeg/ffprobe, to tell the candidates apart.
  const alt = path.join(tmp, 'alt');
  fs.mkdirSync(alt);
  fs.symlinkSync(realFFmpeg, path.join(alt, 'ffmpeg'));
  fs.symlinkSync(realFFprobe, path.join(alt, 'ffprobe'));
  await withEnv({ FFMPEG_PATH: undefined, FFPROBE_PATH: undefined }, () => {
    const r = resolveFFmpeg({ ffmpegPath: path.join(alt, 'ffmpeg') });
    t.equal(r.ffmpeg, path.join(alt, 'ffmpeg'));
    t.equal(r.ffmpegSource, 'option');
    t.equal(r.ffprobe, path.join(alt, 'ffprobe'));
    t.equal(r.ffprobeSource, 'beside-ffmpeg');
  });
  await withEnv({ FFMPEG_PATH: path.join(alt, 'ffmpeg'), FFPROBE_PATH: realFFprobe }, () => {
    const r = resolveFFmpeg();
    t.equal(r.ffmpegSource, 'env');
    t.equal(r.ffmpeg, path.join(alt, 'ffmpeg'));
    t.equal(r.ffprobeSource, 'env');
    t.equal(r.ffprobe, realFFprobe);
    // The option wins over the env.
    t.equal(resolveFFmpeg({ ffmpegPath: realFFmpeg, ffprobePath: path.join(alt, 'ffprobe') }).ffprobeSource, 'option');
  });
  await withEnv({ FFMPEG_PATH: undefined, FFPROBE_PATH: undefined, PATH: alt }, () => {
    // ffmpeg-static is not installed here: PATH is next.
    const r = resolveFFmpegOnly();
    t.equal(r.source, 'path');
    t.equal(r.path, path.join(alt, 'ffmpeg'));
  });
  // A stale FFMPEG_PATH does not hide a working ffmpeg further down.
  await withEnv({ FFMPEG_PATH: '/nonexistent/ffmpeg', PATH: alt }, () => {
    t.equal(resolveFFmpegOnly().path, path.join(alt, 'ffmpeg'));
  });
  t.throws(() => resolveFFmpeg({ ffmpegPath: 7 as unknown as string }), InvalidInputError);
});

t.test('ffmpeg missing everywhere: FFmpegNotFoundError listing what was tried', async (t) => {
  await withEnv({ FFMPEG_PATH: '/nonexistent/env-ffmpeg', FFPROBE_PATH: undefined, PATH: emptyDir }, async () => {
    let err: unknown;
    try {
      resolveFFmpeg();
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof FFmpegNotFoundError);
    const msg = (err as Error).message;
    t.match(msg, /env FFMPEG_PATH = \/nonexistent\/env-ffmpeg \(not found\)/);
    // ffmpeg-static is either absent, or installed without its binary (its download fails offline).
    t.match(msg, /the optional package 'ffmpeg-static' (\(not installed\)|-> \S+ \(not found\)|\(no binary for this platform\))/);
    t.match(msg, new RegExp(`'ffmpeg' on PATH \\(not found in ${emptyDir}\\)`));
    t.equal((err as FFmpegNotFoundError).code, 'FFMPEG_NOT_FOUND');
    // The public entry points report it the same way, and start nothing.
    await t.rejects(decodeVideo(path.join(mediaDir, 'test-3.mp4'), { ffmpegPath: '/nonexistent/opt-ffmpeg' }), FFmpegNotFoundError);
    await t.rejects(decodeAudio(path.join(mediaDir, 'dog_audio.wav')), /ffmpeg is needed to decode this input and was not found\. Tried: /);
  });
  await withEnv({ FFMPEG_PATH: undefined, PATH: '' }, () => {
    t.throws(() => resolveFFmpegOnly(), /'ffmpeg' on PATH \(PATH is empty\)/);
  });
  // A file that is not executable.
  const notExe = path.join(tmp, 'ffmpeg-not-exe');
  fs.writeFileSync(notExe, '#!/bin/sh\n');
  await withEnv({ FFMPEG_PATH: undefined, PATH: emptyDir }, () => {
    t.throws(() => resolveFFmpegOnly({ ffmpegPath: notExe }), /ffmpegPath = .*ffmpeg-not-exe cannot be used \(not executable\)/);
  });
});

t.test('ffprobe missing: not an error, the probe falls back to ffmpeg alone', async (t) => {
  const lone = path.join(tmp, 'lone');
  fs.mkdirSync(lone);
  fs.symlinkSync(realFFmpeg, path.join(lone, 'ffmpeg'));
  await withEnv({ FFMPEG_PATH: undefined, FFPROBE_PATH: '/nonexistent/env-ffprobe', PATH: emptyDir }, async () => {
    const r = resolveFFmpeg({ ffmpegPath: path.join(lone, 'ffmpeg') });
    t.equal(r.ffmpeg, path.join(lone, 'ffmpeg'));
    t.equal(r.ffprobe, undefined);
    t.equal(r.ffprobeSource, undefined);
    t.same(r.ffprobeTried, [
      'env FFPROBE_PATH = /nonexistent/env-ffprobe (not found)',
      `next to ffmpeg = ${path.join(lone, 'ffprobe')} (not found)`,
      `'ffprobe' on PATH (not found in ${emptyDir})`,
    ]);
    const v = await decodeVideo(path.join(mediaDir, 'test-3.mp4'), { ffmpegPath: path.join(lone, 'ffmpeg'), maxFrames: 2 });
    t.equal(v.info?.prober, 'ffmpeg');
    t.equal(v.frameCount, 240);
    const a = await decodeAudio(path.join(mediaDir, 'dog_audio.wav'), { ffmpegPath: path.join(lone, 'ffmpeg') });
    t.same([a.source.prober, a.sampleRate, a.channels.length], ['ffmpeg', 44100, 2]);
  });
  // With ffprobe found, it is used.
  await withEnv({ FFMPEG_PATH: undefined, FFPROBE_PATH: undefined }, async () => {
    t.equal(
      (await decodeVideo(path.join(mediaDir, 'test-3.mp4'), { ffmpegPath: path.join(lone, 'ffmpeg'), ffprobePath: realFFprobe, maxFrames: 2 })).info?.prober,
      'ffprobe',
    );
  });
});

t.test('runProcess: exit codes, stderr, spawn failure, abort kills the child', async (t) => {
  const ok = await runProcess(realFFmpeg, ['-hide_banner', '-version']);
  t.equal(ok.code, 0);
  t.match(ok.stdout.toString(), /ffmpeg version/);
  const bad = await runProcess(realFFmpeg, ['-hide_banner', '-v', 'error', '-i', '/nonexistent/input.mp4']);
  t.not(bad.code, 0);
  t.match(stderrTail(bad.stderr), /No such file or directory/);
  await t.rejects(runProcess('/nonexistent/binary', []), FFmpegNotFoundError);
  // An endless ffmpeg (lavfi sine to the null muxer), aborted once it runs.
  const ac = new AbortController();
  let pid = 0;
  const p = runProcess(realFFmpeg, ['-hide_banner', '-nostdin', '-f', 'lavfi', '-i', 'sine', '-f', 'null', '-'], {
    signal: ac.signal,
    onSpawn: (id) => {
      pid = id;
      t.same(runningChildren(), [id]);
      setImmediate(() => ac.abort());
    },
  });
  await t.rejects(p, AbortError);
  t.ok(pid > 0);
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  t.same(runningChildren(), []);
  // A consumer that throws kills the child too, and its error is what rejects.
  let pid2 = 0;
  const boom = new Error('consumer failed');
  await t.rejects(
    runProcess(realFFmpeg, ['-hide_banner', '-nostdin', '-f', 'lavfi', '-i', 'sine', '-f', 's16le', 'pipe:1'], {
      onSpawn: (id) => (pid2 = id),
      onStdout: () => {
        throw boom;
      },
    }),
    boom,
  );
  t.throws(() => process.kill(pid2, 0), { code: 'ESRCH' });
  t.same(runningChildren(), []);
  // A consumer that has enough (returns false): the child is killed, the run resolves.
  let pid3 = 0;
  let seen = 0;
  const stop = await runProcess(realFFmpeg, ['-hide_banner', '-nostdin', '-f', 'lavfi', '-i', 'sine', '-f', 's16le', 'pipe:1'], {
    onSpawn: (id) => (pid3 = id),
    onStdout: (chunk) => {
      seen += chunk.length;
      return seen < 100000 ? undefined : false;
    },
  });
  t.equal(stop.stopped, true);
  t.equal(stop.signal, 'SIGKILL');
  t.throws(() => process.kill(pid3, 0), { code: 'ESRCH' });
  t.equal(ok.stopped, false);
  t.same(runningChildren(), []);
});

t.test('splitTaggedLog: the info lines and the error lines of a tagged ffmpeg log', async (t) => {
  const r = await runProcess(realFFmpeg, [
    '-hide_banner',
    '-nostdin',
    ...TAGGED_LOG_ARGS,
    '-i',
    path.join(mediaDir, 'test-3.mp4'),
    '-map',
    '0:s:0',
    '-f',
    'null',
    '-',
  ]);
  t.not(r.code, 0);
  const log = splitTaggedLog(r.stderr);
  t.match(log.info[0], /^Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '.*test-3\.mp4':$/);
  t.ok(log.info.includes('  Duration: 00:00:10.03, start: 0.000000, bitrate: 527 kb/s'));
  t.match(log.errors, /Stream map '0:s:0' matches no streams/);
  t.notMatch(log.errors, /Duration|\[(info|error)\]/);
  // Lines from a context keep it; untagged lines (a value's continuation) belong to neither.
  t.same(splitTaggedLog('[mp3 @ 0x55d0c0a1b2c0] [error] Header missing\n[info] Input #0\n                    : Stream #0:5\n[warning] odd\n'), {
    info: ['Input #0'],
    errors: '[mp3 @ 0x55d0c0a1b2c0] Header missing',
  });
});

t.test('nothing keeps the event loop alive after a decode', async (t) => {
  // A separate Node process decodes a video and an audio file and must exit on its own.
  const script = path.join(tmp, 'alone.ts');
  const src = path.resolve(__dirname, '..', 'src', 'media');
  fs.writeFileSync(
    script,
    `import { decodeVideo } from ${JSON.stringify(path.join(src, 'video'))};\n` +
      `import { decodeAudio } from ${JSON.stringify(path.join(src, 'audio'))};\n` +
      `(async () => {\n` +
      `  const v = await decodeVideo(${JSON.stringify(path.join(mediaDir, 'test-3.mp4'))}, { maxFrames: 4 });\n` +
      `  const a = await decodeAudio(${JSON.stringify(path.join(mediaDir, 'dog_audio.wav'))});\n` +
      `  console.log('decoded', v.frames.length, a.channels.length);\n` +
      `})();\n`,
  );
  const loader = process.execArgv.filter((a) => a.includes('typescript'));
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...loader, script], { env, timeout: 60000, encoding: 'utf8' });
  t.equal(r.signal, null, 'exited by itself (not killed by the timeout)');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /decoded 4 2/);
});
