// The pull / list / rm commands and the default-model path of `image` (lib/cli.js, the installed
// bin, in child processes) against the mock Hub (test/helpers/mock-hub.ts): a pull killed with
// SIGKILL mid-file and run again gives the same files with <= 1.05x the source bytes served;
// `image` without --model on an empty cache pulls and answers; --no-pull refuses.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { convert } from '../src/convert/index';
import { mediaDir, tempDir, tinyDir } from './helpers/golden';
import { goldenHub, type MockHub } from './helpers/mock-hub';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'lib', 'cli.js');
const dogImage = path.join(mediaDir, 'dog_image.jpg');

let hub: MockHub;

function env(hf: string, home: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, HF_HOME: hf, GROUNDINGGPT_HOME: home, HF_ENDPOINT: hub.url, GROUNDINGGPT_MODEL: '' };
  for (const k of ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HUB_OFFLINE', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) delete e[k];
  return e;
}

function groundinggpt(args: string[], e: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { cwd: root, maxBuffer: 64 << 20, env: e });
}

function sourceBytes(): number {
  return hub.repoBytes('zwli/GroundingGPT') + hub.repoBytes('openai/clip-vit-large-patch14-336', (f) => f !== 'pytorch_model.bin');
}

t.before(async () => {
  if (!fs.existsSync(cli)) throw new Error('lib/cli.js is missing: run `npm run compile` first');
  hub = goldenHub(tinyDir);
  await hub.start();
});
t.teardown(() => hub.close());

t.test('pull killed (SIGKILL) mid-file, run again: identical result, <= 1.05x the source bytes; list; rm', async (t) => {
  const hf = tempDir('ggpt-hf-');
  const home = tempDir('ggpt-home-');
  hub.resetCounters();
  hub.fault({ match: 'pytorch_model-00001-of-00002.bin', kind: 'stall', afterBytes: 3_000_000, times: 1 });
  const child = spawn(process.execPath, [cli, 'pull', '--type', 'f16'], { cwd: root, env: env(hf, home), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  const incomplete = () => {
    const blobs = path.join(hf, 'hub', 'models--zwli--GroundingGPT', 'blobs');
    const f = fs.existsSync(blobs) ? fs.readdirSync(blobs).find((n) => n.endsWith('.incomplete')) : undefined;
    return f ? fs.statSync(path.join(blobs, f)).size : 0;
  };
  const deadline = Date.now() + 60_000;
  while (!(hub.stalledCount > 0 && incomplete() === 3_000_000)) {
    if (Date.now() > deadline) throw new Error(`the pull did not reach the stall: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL');
  t.match(stderr, /pulling groundinggpt-7b:f16 from zwli\/GroundingGPT@main/, 'the plan was printed');
  t.match(stderr, /LLaMA 2 Community License[\s\S]*CC BY-NC 4\.0 \(non-commercial/, 'with the licences');
  t.ok(fs.existsSync(path.join(home, '.locks', 'groundinggpt-7b.lock')), 'the dead process left its lock');

  const r = await groundinggpt(['pull', '--type', 'f16'], env(hf, home));
  t.match(r.stdout, /pulled \(.* downloaded\): groundinggpt-7b:f16 in /);
  const dir = path.join(home, 'groundinggpt-7b', 'f16');
  const ref = tempDir('ggpt-ref-');
  await convert({ model: path.join(tinyDir, 'groundinggpt'), clip: path.join(tinyDir, 'clip'), out: ref, type: 'f16' });
  for (const f of ['llm.gguf', 'encoders.gguf', 'manifest.json'])
    t.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(ref, f))), `${f} identical to convert()`);
  t.ok(hub.bytesServed <= 1.05 * sourceBytes(), `served ${hub.bytesServed} bytes in both runs for ${sourceBytes()}`);
  t.ok(
    hub.log.some((l) => l.status === 206 && l.range === 'bytes=3000000-'),
    'resumed at the byte where it was killed',
  );
  t.notOk(fs.existsSync(path.join(home, '.locks', 'groundinggpt-7b.lock')));

  // non-TTY progress: plain lines
  t.notMatch(r.stderr, /\r/);
  t.match(r.stderr, /download +\d+%/);

  const list = await groundinggpt(['list'], env(hf, home));
  t.match(list.stdout, /^groundinggpt-7b:f16 +[\d.]+ MiB +\S+f16\n$/);
  const rm = await groundinggpt(['rm', 'groundinggpt-7b:f16'], env(hf, home));
  t.match(rm.stdout, /removed .*f16/);
  t.notOk(fs.existsSync(dir));
  t.match((await groundinggpt(['list'], env(hf, home))).stdout, /no models in/);
  await t.rejects(groundinggpt(['rm', 'groundinggpt-7b'], env(hf, home)), { code: 1, stderr: /MODEL_NOT_FOUND/ });
});

t.test('pull killed (SIGKILL) while asking for the file list, run again: a good model', async (t) => {
  const hf = tempDir('ggpt-hf-');
  const home = tempDir('ggpt-home-');
  hub.resetCounters();
  hub.fault({ match: '/api/models/openai/clip-vit-large-patch14-336/tree/', kind: 'stall', bodyOnly: false, times: 1 });
  const child = spawn(process.execPath, [cli, 'pull', '--type', 'f16'], { cwd: root, env: env(hf, home), stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  const deadline = Date.now() + 60_000;
  while (hub.stalledCount === 0) {
    if (Date.now() > deadline) throw new Error('the pull did not reach the file list');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL');
  t.equal(hub.bytesServed, 0, 'killed before any file');
  await groundinggpt(['pull', '--type', 'f16'], env(hf, home));
  t.equal(hub.bytesServed, sourceBytes());
  t.ok(fs.existsSync(path.join(home, 'groundinggpt-7b', 'f16', 'manifest.json')));
});

t.test('pull killed (SIGKILL) during the conversion, run again: identical result, nothing downloaded twice', async (t) => {
  const hf = tempDir('ggpt-hf-');
  const home = tempDir('ggpt-home-');
  hub.resetCounters();
  const child = spawn(process.execPath, [cli, 'pull', '--type', 'q8_0', '--json'], { cwd: root, env: env(hf, home), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      // the first tower tensor written: the conversion is under way in <dir>.partial-<pid> and every
      // source is downloaded (the LLM tensors are converted while the last shard still arrives,
      // docs/PULL.md; the towers need that shard)
      if (/"stage":"convert".*"stage":"encoders"/.test(stderr)) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`ended before converting: ${stderr}`)));
  });
  t.equal(await exited, 'SIGKILL');
  const parent = path.join(home, 'groundinggpt-7b');
  t.match(fs.readdirSync(parent), [/^q8_0\.partial-\d+$/], 'killed mid-conversion: only the temporary folder');
  const served = hub.bytesServed;
  t.equal(served, sourceBytes(), 'all sources downloaded before the kill');
  await groundinggpt(['pull', '--type', 'q8_0'], env(hf, home));
  t.equal(hub.bytesServed, served, 'the rerun downloads nothing');
  t.same(fs.readdirSync(parent), ['q8_0'], 'the leftover temporary folder removed');
  const ref = tempDir('ggpt-ref-');
  await convert({ model: path.join(tinyDir, 'groundinggpt'), clip: path.join(tinyDir, 'clip'), out: ref, type: 'q8_0' });
  for (const f of ['llm.gguf', 'encoders.gguf', 'manifest.json'])
    t.ok(fs.readFileSync(path.join(parent, 'q8_0', f)).equals(fs.readFileSync(path.join(ref, f))), `${f} identical to convert()`);
});

t.test('image without --model on an empty cache: pulls the default model and answers; --no-pull refuses', async (t) => {
  const hf = tempDir('ggpt-hf-');
  const home = tempDir('ggpt-home-');
  hub.resetCounters();
  await t.rejects(groundinggpt(['image', dogImage, 'Where is the dog?', '--no-pull', '--max-tokens', '4'], env(hf, home)), {
    code: 1,
    stderr: /not in the model cache .* --no-pull was given: run `groundinggpt pull groundinggpt-7b` first/,
  });
  t.equal(hub.log.length, 0, '--no-pull: no request');

  const r = await groundinggpt(['image', dogImage, 'Where is the dog?', '--max-tokens', '4', '--json'], env(hf, home));
  t.match(r.stderr, /groundinggpt-7b:q4_k_m is not in the model cache yet: pulling it/);
  t.match(r.stderr, /files, [\d.]+ MiB: [\d.]+ MiB to download/);
  t.match(r.stderr, /model directory: .*groundinggpt-7b.q4_k_m/);
  const out = JSON.parse(r.stdout);
  t.type(out.text, 'string');
  t.same(out.image, { width: 640, height: 848, side: 848, offsetX: 104, offsetY: 0 }, 'a grounded answer about the image');
  t.equal(hub.bytesServed, sourceBytes());
  t.ok(fs.existsSync(path.join(home, 'groundinggpt-7b', 'q4_k_m', 'llm.gguf')));

  // second run: from the cache, no request
  hub.resetCounters();
  const again = await groundinggpt(['image', dogImage, 'Where is the dog?', '--max-tokens', '4', '--no-pull'], env(hf, home));
  t.ok(again.stdout.length > 0);
  t.equal(hub.log.length, 0);
});
