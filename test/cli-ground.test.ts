// The image / video / audio commands of the CLI (lib/cli.js, the installed bin), end to end on a
// rigged tiny model whose greedy answer holds a box or a span: printed result, pixel mapping,
// pictures written with --draw.
import t from 'tap';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { mediaDir, tempDir } from './helpers/golden';
import { makeMedia } from './helpers/media';
import { riggedModel } from './helpers/rigged';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'lib', 'cli.js');
const dogImage = path.join(mediaDir, 'dog_image.jpg'); // 640 x 848: padded to 848, offset (104, 0)
const dogAudio = path.join(mediaDir, 'dog_audio.wav');

// a model cache of its own (the KV cache on disk lives there), as on a fresh machine
const home = tempDir();

async function groundinggpt(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { cwd: root, maxBuffer: 64 << 20, env: { ...process.env, GROUNDINGGPT_MODEL: '', GROUNDINGGPT_HOME: home } });
}

t.before(() => {
  if (!fs.existsSync(cli)) throw new Error('lib/cli.js is missing: run `npm run compile` first');
});

t.test('image twice: the second run restores the image prompt from the KV cache on disk; --no-kv-cache', async (t) => {
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  const kvDir = path.join(home, 'kv-cache');
  const image = path.join(mediaDir, 'test-1.jpeg');
  fs.rmSync(kvDir, { recursive: true, force: true });
  const once = async (extra: string[] = []) =>
    JSON.parse((await groundinggpt(['image', image, 'Where is the dog?', '--model', model, '--json', '--threads', '2', ...extra])).stdout);
  const off = await once(['--no-kv-cache']);
  t.notOk(fs.existsSync(kvDir) && fs.readdirSync(kvDir).length > 0, '--no-kv-cache writes nothing');
  const first = await once();
  t.equal(fs.readdirSync(kvDir).filter((n) => n.endsWith('.kv')).length, 1, 'the first run wrote a snapshot');
  const second = await once();
  t.equal(second.timings.cachedMedia, 1, 'the second run found the image prompt');
  t.equal(second.timings.encodeMs, 0, 'no tower');
  t.ok(second.timings.reusedTokens > 576, `the prefix was reused (${second.timings.reusedTokens} positions)`);
  t.same(second.boxes, first.boxes, 'same boxes');
  t.same(first.boxes, off.boxes, 'same as without the cache');
});

t.test('image: boxes in pixels, --json, --draw', async (t) => {
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  const out = path.join(tempDir(), 'boxes.png');
  const { stdout } = await groundinggpt(['image', dogImage, 'Where is the dog?', '--model', model, '--json', '--draw', out]);
  const r = JSON.parse(stdout);
  t.equal(r.text, 'The dog [0.20, 0.10, 0.70, 0.90].');
  t.equal(r.answer, 'The dog.');
  t.equal(r.boxes.length, 1);
  const b = r.boxes[0];
  t.equal(b.phrase, 'The dog');
  // x_px = x * 848 - 104, y_px = y * 848 - 0 (docs/COMPUTATION.md §6)
  t.same(
    [b.box.x1, b.box.y1, b.box.x2, b.box.y2].map((v: number) => +v.toFixed(3)),
    [0.2 * 848 - 104, 0.1 * 848, 0.7 * 848 - 104, 0.9 * 848].map((v) => +v.toFixed(3)),
  );
  t.same(r.image, { width: 640, height: 848, side: 848, offsetX: 104, offsetY: 0 });

  // the picture: original size, changed on the box's edge, unchanged far from it
  const meta = await sharp(out).metadata();
  t.same([meta.width, meta.height], [640, 848]);
  const a = await sharp(dogImage).removeAlpha().raw().toBuffer();
  const d = await sharp(out).removeAlpha().raw().toBuffer();
  const px = (buf: Buffer, x: number, y: number) => [0, 1, 2].map((c) => buf[(y * 640 + x) * 3 + c]);
  const edgeY = Math.round((b.box.y1 + b.box.y2) / 2);
  const edgeX = Math.round(b.box.x1);
  t.not(px(d, edgeX, edgeY).join(), px(a, edgeX, edgeY).join(), 'the box edge is drawn');
  const farX = Math.round((b.box.x1 + b.box.x2) / 2);
  const farY = Math.round((b.box.y1 + b.box.y2) / 2);
  const diff = px(d, farX, farY).map((v, i) => Math.abs(v - px(a, farX, farY)[i]));
  t.ok(Math.max(...diff) <= 8, 'the inside of the box keeps the picture (JPEG re-decode tolerance)');
  t.same(fs.readdirSync(path.dirname(out)), ['boxes.png'], 'no temporary files left');
});

t.test('image: the plain output lists the boxes', async (t) => {
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  const { stdout } = await groundinggpt(['image', dogImage, 'Where is the dog?', '--model', model]);
  t.match(stdout, /^The dog \[0\.20, 0\.10, 0\.70, 0\.90\]\.\n/);
  t.match(stdout, /box 0: The dog {2}\[65\.6, 84\.8, 489\.6, 763\.2\] px/);
});

t.test('video: spans in seconds, contact sheet', async (t) => {
  const dir = tempDir();
  const video = makeMedia(dir, 'clip.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=10:size=160x120:rate=10', '-pix_fmt', 'yuv420p']);
  const model = await riggedModel([' A', ' clock', ' ticks', ' {0.20, 0.60}', '.']);
  const out = path.join(dir, 'strip.png');
  const { stdout } = await groundinggpt(['video', video, 'When does the clock tick?', '--model', model, '--json', '--draw', out]);
  const r = JSON.parse(stdout);
  t.equal(r.segments.length, 1);
  t.same(
    [r.segments[0].start, r.segments[0].end].map((v: number) => +v.toFixed(6)),
    [2, 6],
  );
  t.equal(r.video.duration, 10);
  t.equal(r.video.frameCount, 100);
  t.equal(r.video.sampledFrames.length, 64);
  const meta = await sharp(out).metadata();
  t.ok(meta.width && meta.width > 0 && meta.format === 'png');
});

t.test('video --max-frames: fewer sampled frames, spans still in seconds; out of range is a usage error', async (t) => {
  const dir = tempDir();
  const video = makeMedia(dir, 'clip.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=10:size=160x120:rate=10', '-pix_fmt', 'yuv420p']);
  const model = await riggedModel([' A', ' clock', ' ticks', ' {0.20, 0.60}', '.']);
  const { stdout } = await groundinggpt(['video', video, 'When does the clock tick?', '--model', model, '--json', '--max-frames', '16']);
  const r = JSON.parse(stdout);
  t.equal(r.video.sampledFrames.length, 16);
  t.same(
    [r.segments[0].start, r.segments[0].end].map((v: number) => +v.toFixed(6)),
    [2, 6],
  );
  for (const bad of ['0', '65', 'x']) {
    const err = await groundinggpt(['video', video, 'When?', '--model', model, '--max-frames', bad]).catch((e) => e);
    t.equal(err.code, 2, `--max-frames ${bad} exits 2`);
    t.match(err.stderr, /max-frames/);
  }
  const help = await groundinggpt(['help', 'video']);
  t.match(help.stdout, /--max-frames <n>/);
  const imageHelp = await groundinggpt(['help', 'image']);
  t.notMatch(imageHelp.stdout, /--max-frames/, 'only the video command takes it');
});

t.test('audio: alone (waveform) and with an image (boxes)', async (t) => {
  const dir = tempDir();
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  const wave = path.join(dir, 'wave.png');
  const alone = JSON.parse((await groundinggpt(['audio', dogAudio, 'What is making this sound?', '--model', model, '--json', '--draw', wave])).stdout);
  t.equal(alone.boxes.length, 0, 'no image: no boxes');
  t.equal(alone.audio.clips.length, 3);
  t.equal(alone.audio.sampleRate, 44100);
  t.ok(fs.existsSync(wave));
  const boxes = path.join(dir, 'where.png');
  const loc = JSON.parse(
    (
      await groundinggpt([
        'audio',
        dogAudio,
        "Where is the sound's point of emission in this image?",
        '--image',
        dogImage,
        '--model',
        model,
        '--json',
        '--draw',
        boxes,
      ])
    ).stdout,
  );
  t.equal(loc.boxes.length, 1);
  t.equal(+loc.boxes[0].box.x1.toFixed(3), +(0.2 * 848 - 104).toFixed(3));
  const meta = await sharp(boxes).metadata();
  t.same([meta.width, meta.height], [640, 848]);
});

t.test('usage errors exit with 2 and a message', async (t) => {
  await t.rejects(groundinggpt(['image', dogImage]), { code: 2 });
  // without --model the default model name is used (pulled on first use: test/pull-cli.test.ts)
  await t.rejects(groundinggpt(['image', dogImage, 'q', '--no-pull']), { code: 1, stderr: /--no-pull was given/ });
  const model = await riggedModel([' x']);
  await t.rejects(groundinggpt(['image', path.join(mediaDir, 'nope.jpg'), 'q', '--model', model]), { code: 1, stderr: /INVALID_INPUT/ });
  await t.rejects(groundinggpt(['image', dogImage, 'q', '--model', model, '--tower-matmul', 'fp8']), {
    code: 2,
    stderr: /--tower-matmul must be auto, ggml or int8 \(got "fp8"\)/,
  });
});

t.test('--tower-matmul ggml and int8 load and answer', async (t) => {
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  for (const m of ['ggml', 'int8']) {
    const r = JSON.parse((await groundinggpt(['image', dogImage, 'Where is the dog?', '--model', model, '--json', '--tower-matmul', m])).stdout);
    t.equal(r.boxes.length, 1, `${m}: the rigged answer's box`);
  }
});

t.test('stage progress on stderr (plain lines off a terminal, none with --json), --gpu-layers, help <command>', async (t) => {
  const model = await riggedModel([' The', ' dog', ' [0.20, 0.10, 0.70, 0.90]', '.']);
  const plain = await groundinggpt(['image', dogImage, 'Where is the dog?', '--model', model, '--gpu-layers', '0', '--threads', '2']);
  t.match(plain.stdout, /box 0: The dog/);
  for (const stage of ['decode image', 'image tower', 'prompt']) t.match(plain.stderr, new RegExp(`^${stage} +100%`, 'm'), `${stage} reaches 100 %`);
  const json = await groundinggpt(['image', dogImage, 'Where is the dog?', '--model', model, '--json']);
  t.notMatch(json.stderr, /tower|prompt/, 'no progress with --json');
  const help = await groundinggpt(['help', 'video']);
  t.match(help.stdout, /^groundinggpt video <file>/);
  t.match(help.stdout, /--gpu-layers/);
  await t.rejects(groundinggpt(['help', 'nosuch']), { code: 2 });
});
