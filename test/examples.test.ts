// Every script in examples/ runs against a model the project makes (synth --preset tiny) and the
// golden media, through the package's own entry point (`import ... from 'groundinggpt'`).
import t from 'tap';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { mediaDir, tempDir } from './helpers/golden';
import { synth } from '../src/convert/synth';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const media = (f: string) => path.join(mediaDir, f);

t.test('examples run', async (t) => {
  const model = tempDir('ggpt-examples-');
  await synth({ preset: 'tiny', out: model });
  const out = path.join(tempDir(), 'boxes.png');
  const cases: [string, string[], RegExp][] = [
    ['generate.mjs', [model, 'Hello?'], /tokens\/s/],
    ['ground-image.mjs', [model, media('test-1.jpeg'), 'Where is the dog?', out], /decode \d+ ms, encode \d+ ms/],
    ['ground-video.mjs', [model, media('test-3.mp4')], /64 of 240 frames, 10\.0 s/],
    ['ground-audio.mjs', [model, media('dog_audio.wav')], /clips heard: 0\.00-2\.00 s/],
    ['ground-audio.mjs', [model, media('dog_audio.wav'), media('dog_image.jpg')], /./],
    ['chat.mjs', [model, media('dog_image.jpg')], /2 turns/],
    ['serve-openai.mjs', [model, media('test-1.jpeg')], /\d+ box\(es\); \d+ prompt tokens, \d+ generated/],
  ];
  for (const [script, args, expect] of cases) {
    const { stdout } = await run(process.execPath, [path.join(root, 'examples', script), ...args], { cwd: root, maxBuffer: 16 << 20 });
    t.match(
      stdout,
      expect,
      `${script} ${args
        .slice(1)
        .map((a) => path.basename(a))
        .join(' ')}`,
    );
  }
  t.ok(fs.existsSync(out), 'ground-image.mjs drew the boxes');
  await t.rejects(run(process.execPath, [path.join(root, 'examples', 'ground-image.mjs')], { cwd: root }), { code: 2 }, 'usage error without arguments');
});
