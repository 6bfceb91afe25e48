// pull() against a mock Hugging Face Hub (test/helpers/mock-hub.ts) serving the golden tiny model
// as zwli/GroundingGPT + openai/clip-vit-large-patch14-336: the result is byte-identical to
// convert() on the same files and answers; the HF cache layout is shared (pre-populated cache:
// 0 bytes; offline use); wrong bytes, 503 + Retry-After, dropped and stalled connections,
// aborts, concurrent pulls, gated repos and unknown revisions.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { convert } from '../src/convert/index';
import { AbortError, ModelLoadError, PullError } from '../src/errors';
import { loadModel } from '../src/load';
import { pull, type PullProgress } from '../src/pull/index';
import { mediaDir, tempDir, tinyDir } from './helpers/golden';
import { goldenHub, type MockHub } from './helpers/mock-hub';

const MODEL_REPO = 'zwli/GroundingGPT';
const CLIP_REPO = 'openai/clip-vit-large-patch14-336';
// the files pull() selects: everything of the GroundingGPT folder, CLIP without pytorch_model.bin
const selected = (f: string) => f !== 'pytorch_model.bin';

let hub: MockHub;
let reference: string; // convert() of the golden folders, f16
// a stall timeout well above what a loaded 2-core machine takes between two chunks
const FAST = { retryBaseMs: 50, stallTimeoutMs: 4000 };

function sourceBytes(): number {
  return hub.repoBytes(MODEL_REPO) + hub.repoBytes(CLIP_REPO, selected);
}

/** Fresh HF cache and model home for one test; HF_ENDPOINT at the mock. */
function freshEnv(t: Test): { hf: string; home: string } {
  const saved = { ...process.env };
  const hf = tempDir('ggpt-hf-');
  const home = tempDir('ggpt-home-');
  process.env.HF_HOME = hf;
  process.env.GROUNDINGGPT_HOME = home;
  process.env.HF_ENDPOINT = hub.url;
  delete process.env.HF_HUB_CACHE;
  delete process.env.HUGGINGFACE_HUB_CACHE;
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
  delete process.env.HUGGING_FACE_HUB_TOKEN;
  hub.resetCounters();
  hub.clearFaults();
  t.teardown(() => {
    process.env = saved;
    hub.clearFaults();
  });
  return { hf, home };
}

function sameFiles(t: Test, dir: string, ref: string): void {
  for (const f of ['llm.gguf', 'encoders.gguf', 'manifest.json']) {
    t.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(ref, f))), `${f} byte-identical to convert()`);
  }
}

t.before(async () => {
  hub = goldenHub(tinyDir);
  await hub.start();
  reference = tempDir('ggpt-ref-');
  await convert({ model: path.join(tinyDir, 'groundinggpt'), clip: path.join(tinyDir, 'clip'), out: reference, type: 'f16' });
});
t.teardown(() => hub.close());

t.test('pull: HF cache layout, byte-identical to convert(), answers; a second pull fetches nothing', async (t) => {
  const { hf, home } = freshEnv(t);
  const events: PullProgress[] = [];
  const r = await pull({ type: 'f16', onProgress: (e) => events.push(e), ...FAST });
  t.equal(r.dir, path.join(home, 'groundinggpt-7b', 'f16'));
  t.equal(r.alreadyPulled, false);
  sameFiles(t, r.dir, reference);
  t.equal(hub.bytesServed, sourceBytes(), 'each selected source byte served once');
  t.equal(r.downloaded, sourceBytes());
  t.equal(hub.bytesByFile.get('pytorch_model.bin'), undefined, 'CLIP: only one weight format fetched');

  // the Hugging Face cache layout: refs/main -> commit, snapshot links -> blobs/<sha256>
  const repoDir = path.join(hf, 'hub', 'models--zwli--GroundingGPT');
  const commit = fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8');
  t.equal(commit, hub.repos.get(MODEL_REPO)!.commit);
  const shard = path.join(repoDir, 'snapshots', commit, 'pytorch_model-00001-of-00002.bin');
  t.ok(fs.lstatSync(shard).isSymbolicLink());
  const sha = hub.repos.get(MODEL_REPO)!.files.find((f) => f.path === 'pytorch_model-00001-of-00002.bin')!.sha256;
  t.equal(path.resolve(path.dirname(shard), fs.readlinkSync(shard)), path.join(repoDir, 'blobs', sha));
  t.same(
    fs.readdirSync(path.join(repoDir, 'blobs')).filter((f) => f.endsWith('.incomplete')),
    [],
  );

  // progress: the plan (with licences) before any download, bytes/rate/ETA, conversion stages
  const planAt = events.findIndex((e) => e.stage === 'plan');
  const firstDl = events.findIndex((e) => e.stage === 'download');
  t.ok(planAt >= 0 && planAt < firstDl, 'plan before the first download event');
  const plan = events[planAt].plan!;
  t.equal(plan.totalBytes, sourceBytes());
  t.equal(plan.downloadBytes, sourceBytes());
  t.match(plan.licences.map((l) => l.licence).join(' | '), /Apache-2\.0.*LLaMA 2.*MIT.*CC BY-NC 4\.0/);
  const last = events.filter((e) => e.stage === 'download').at(-1)!;
  t.equal(last.bytes, sourceBytes());
  t.ok(last.rate! > 0 && last.eta !== undefined);
  t.ok(events.some((e) => e.stage === 'convert' && e.convert?.stage === 'encoders'));
  t.equal(events.at(-1)!.stage, 'done');

  // the model answers, by name
  const model = await loadModel({ model: 'groundinggpt-7b:f16' });
  try {
    const out = await model.groundImage(path.join(mediaDir, 'dog_image.jpg'), 'Where is the dog?', { maxTokens: 4 });
    t.ok(out.text.length > 0, 'answered');
  } finally {
    await model.dispose();
  }
  // a name not in the cache: ModelLoadError saying how to pull it
  await t.rejects(loadModel({ model: 'groundinggpt-7b:q8_0' }), { constructor: ModelLoadError, message: /groundinggpt pull groundinggpt-7b:q8_0/ });

  hub.resetCounters();
  const again = await pull({ type: 'f16' });
  t.equal(again.alreadyPulled, true);
  t.equal(hub.log.length, 0, 'no request at all');
});

t.test('a HF cache filled by another tool: converted with 0 bytes downloaded; offline use', async (t) => {
  const { hf } = freshEnv(t);
  // the layout huggingface_hub writes: blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag>, refs/main
  for (const id of [MODEL_REPO, CLIP_REPO]) {
    const repo = hub.repos.get(id)!;
    const dir = path.join(hf, 'hub', `models--${id.replace('/', '--')}`);
    fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'snapshots', repo.commit), { recursive: true });
    fs.mkdirSync(path.join(dir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'refs', 'main'), repo.commit);
    for (const f of repo.files) {
      const etag = f.lfs ? f.sha256 : f.oid;
      fs.copyFileSync(f.abs, path.join(dir, 'blobs', etag));
      fs.symlinkSync(path.join('..', '..', 'blobs', etag), path.join(dir, 'snapshots', repo.commit, f.path));
    }
  }
  const r = await pull({ type: 'f16', ...FAST });
  t.equal(hub.bytesServed, 0, '0 bytes downloaded');
  t.equal(r.downloaded, 0);
  t.equal(r.plan!.downloadBytes, 0);
  sameFiles(t, r.dir, reference);

  // offline: from the cache, without a request
  fs.rmSync(r.dir, { recursive: true });
  hub.resetCounters();
  process.env.HF_HUB_OFFLINE = '1';
  const off = await pull({ type: 'f16' });
  t.equal(hub.log.length, 0, 'offline: no request');
  sameFiles(t, off.dir, reference);

  // offline with a cached snapshot that lacks a shard: a clear error, not a conversion error
  const shard = path.join(hf, 'hub', 'models--zwli--GroundingGPT', 'snapshots', hub.repos.get(MODEL_REPO)!.commit, 'pytorch_model-00002-of-00002.bin');
  const target = fs.readlinkSync(shard);
  fs.rmSync(shard);
  fs.rmSync(off.dir, { recursive: true });
  await t.rejects(pull({ type: 'f16' }), { constructor: PullError, reason: 'offline', message: /lacks pytorch_model-00002-of-00002\.bin/ });
  fs.symlinkSync(target, shard);
  await pull({ type: 'f16' });

  // offline without a cached copy: a clear error
  process.env.HF_HOME = tempDir('ggpt-hf-empty-');
  fs.rmSync(off.dir, { recursive: true });
  await t.rejects(pull({ type: 'f16' }), { constructor: PullError, reason: 'offline', message: /HF_HUB_OFFLINE.*not in the Hugging Face cache/ });
});

t.test('wrong bytes are detected: fetched again once; when they stay wrong, nothing is converted', async (t) => {
  freshEnv(t);
  hub.fault({ match: 'pytorch_model-00002-of-00002.bin', kind: 'corrupt', afterBytes: 1000, times: 1 });
  const r = await pull({ type: 'f16', ...FAST });
  sameFiles(t, r.dir, reference);

  freshEnv(t);
  hub.fault({ match: 'cdn', kind: 'corrupt', afterBytes: 5, times: Infinity });
  await t.rejects(pull({ type: 'f16', ...FAST }), { constructor: PullError, reason: 'corrupt', message: /do not match the Hub's metadata/ });
  t.notOk(fs.existsSync(path.join(process.env.GROUNDINGGPT_HOME!, 'groundinggpt-7b', 'f16')), 'no model directory');
  const blobs = path.join(process.env.HF_HOME!, 'hub', 'models--zwli--GroundingGPT', 'blobs');
  // the small JSON files before it are fine (git-sha1 names); no LFS blob, no .incomplete
  t.same(
    fs.readdirSync(blobs).filter((f) => f.length !== 40),
    [],
    'no bad blob kept',
  );
  t.equal(hub.log.filter((l) => l.url.startsWith('/cdn/')).length, 2, 'the bad file fetched twice, then given up');
});

t.test('503 with Retry-After is retried after the given delay', async (t) => {
  freshEnv(t);
  hub.fault({ match: '/api/models/zwli/GroundingGPT/revision', kind: '503', retryAfter: 1, times: 1 });
  hub.fault({ match: 'cdn', kind: '503', retryAfter: 1, times: 1, bodyOnly: false });
  const retries: string[] = [];
  const t0 = Date.now();
  const r = await pull({ type: 'f16', ...FAST, onProgress: (e) => e.stage === 'retry' && retries.push(e.message!) });
  t.ok(Date.now() - t0 >= 2000, 'waited Retry-After twice');
  t.equal(retries.length, 2);
  t.match(retries[0], /HTTP 503: retry 1 in 1\.0 s/);
  t.equal(hub.log.filter((l) => l.status === 503).length, 2);
  sameFiles(t, r.dir, reference);

  freshEnv(t);
  hub.fault({ match: '/api/models/zwli/GroundingGPT/revision', kind: '429', times: Infinity });
  await t.rejects(pull({ type: 'f16', ...FAST, retries: 2 }), { constructor: PullError, reason: 'server', status: 429, message: /Try again later/ });
  t.equal(hub.log.filter((l) => l.status === 429).length, 3, 'first try + 2 retries');
});

t.test('connection reset and stalled socket mid-file: resumed with Range, <= 1.05x the source bytes', async (t) => {
  freshEnv(t);
  hub.fault({ match: 'pytorch_model-00001-of-00002.bin', kind: 'reset', afterBytes: 3_000_000, times: 1 });
  hub.fault({ match: 'pytorch_model-00002-of-00002.bin', kind: 'stall', afterBytes: 2_000_000, times: 1 });
  const r = await pull({ type: 'f16', ...FAST });
  sameFiles(t, r.dir, reference);
  const ranged = hub.log.filter((l) => l.status === 206);
  // A reset (RST) discards what the client's kernel had received but the client had not read yet,
  // so the resume point is at most the 3,000,000 bytes sent, not exactly that; what was lost in
  // flight is fetched again and does not count against the 1.05x bound (no completed range is).
  const resumedAt = ranged
    .map((l) => /^bytes=(\d+)-$/.exec(l.range ?? '')?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    // (1 MiB: where the download continues after the header pull() fetches first of each weight file)
    .filter((v) => v > 0 && v <= 3_000_000 && v !== 2_000_000 && v !== 1 << 20);
  t.equal(resumedAt.length, 1, `resumed after the reset (Range starts: ${ranged.map((l) => l.range).join(', ')})`);
  t.ok(
    ranged.some((l) => l.range === 'bytes=2000000-'),
    'resumed after the stall',
  );
  const lostInFlight = 3_000_000 - (resumedAt[0] ?? 0);
  t.ok(hub.bytesServed - lostInFlight <= 1.05 * sourceBytes(), `served ${hub.bytesServed} (${lostInFlight} lost in flight at the reset) of ${sourceBytes()}`);
});

t.test('an abort leaves a resumable state; the next pull continues', async (t) => {
  freshEnv(t);
  const ac = new AbortController();
  hub.fault({ match: 'pytorch_model-00001-of-00002.bin', kind: 'stall', afterBytes: 4_000_000, times: 1 });
  const p = pull({ type: 'f16', signal: ac.signal, retryBaseMs: 50, stallTimeoutMs: 60_000 });
  const blobs = path.join(process.env.HF_HOME!, 'hub', 'models--zwli--GroundingGPT', 'blobs');
  const incomplete = () => (fs.existsSync(blobs) ? fs.readdirSync(blobs).filter((f) => f.endsWith('.incomplete')) : []);
  const sizes = () => incomplete().map((f) => fs.statSync(path.join(blobs, f)).size);
  // abort once the bytes sent before the stall are on disk
  while (!(hub.stalledCount > 0 && sizes().includes(4_000_000))) {
    await new Promise((r) => setTimeout(r, 20));
  }
  ac.abort();
  await t.rejects(p, { constructor: AbortError, name: 'AbortError' });
  // shard 1 up to the stall, shard 2's header (fetched first, docs/PULL.md)
  t.same(sizes().sort(), [1 << 20, 4_000_000], 'the bytes received are kept');
  t.notOk(fs.existsSync(path.join(process.env.GROUNDINGGPT_HOME!, '.locks', 'groundinggpt-7b.lock')), 'lock released');
  const r = await pull({ type: 'f16', ...FAST });
  sameFiles(t, r.dir, reference);
  t.ok(hub.bytesServed <= 1.05 * sourceBytes(), `served ${hub.bytesServed} of ${sourceBytes()}`);
});

t.test('two concurrent pulls: one download, one good copy', async (t) => {
  freshEnv(t);
  const [a, b] = await Promise.all([pull({ type: 'f16', ...FAST }), pull({ type: 'f16', ...FAST })]);
  t.equal(a.dir, b.dir);
  t.equal([a.alreadyPulled, b.alreadyPulled].filter(Boolean).length, 1, "the second found the first one's result");
  t.equal(hub.bytesServed, sourceBytes());
  sameFiles(t, a.dir, reference);
  t.same(fs.readdirSync(path.dirname(a.dir)), ['f16'], 'no temporary folder left');
});

t.test('gated repo: 401 without a token, typed error saying to set HF_TOKEN; works with it', async (t) => {
  freshEnv(t);
  hub.repos.get(MODEL_REPO)!.gated = true;
  t.teardown(() => {
    hub.repos.get(MODEL_REPO)!.gated = false;
  });
  await t.rejects(pull({ type: 'f16', ...FAST }), { constructor: PullError, reason: 'unauthorized', status: 401, message: /HF_TOKEN/ });
  await t.rejects(pull({ type: 'f16', ...FAST, token: 'hf_wrong' }), { constructor: PullError, reason: 'unauthorized', status: 403, message: /answered 403/ });
  process.env.HF_TOKEN = hub.token;
  const r = await pull({ type: 'f16', ...FAST });
  sameFiles(t, r.dir, reference);
});

t.test('unknown revision or name: typed errors', async (t) => {
  freshEnv(t);
  await t.rejects(pull({ type: 'f16', revision: 'v9', ...FAST }), {
    constructor: PullError,
    reason: 'not_found',
    status: 404,
    message: /Check the model name and revision/,
  });
  await t.rejects(pull({ name: 'nope-7b' }), { message: /Unknown model "nope-7b"/ });
  t.equal(hub.bytesServed, 0);
});

t.test('keepSource: false removes the downloaded sources after converting; loadModel({ pull: true }) pulls a name', async (t) => {
  const { hf } = freshEnv(t);
  const r = await pull({ type: 'f16', keepSource: false, ...FAST });
  sameFiles(t, r.dir, reference);
  for (const repo of ['models--zwli--GroundingGPT', 'models--openai--clip-vit-large-patch14-336']) {
    t.same(fs.readdirSync(path.join(hf, 'hub', repo, 'blobs')), [], `${repo}: no blob kept`);
  }

  freshEnv(t);
  await t.rejects(loadModel({ model: 'groundinggpt-7b:q8_0' }), { constructor: ModelLoadError, message: /not in the model cache/ });
  t.equal(hub.log.length, 0, 'loadModel never downloads unless asked');
  const model = await loadModel({ model: 'groundinggpt-7b:q8_0', pull: true });
  try {
    t.equal(hub.bytesServed, sourceBytes());
    t.ok(fs.existsSync(path.join(process.env.GROUNDINGGPT_HOME!, 'groundinggpt-7b', 'q8_0', 'manifest.json')));
    t.ok((await model.generate('Hello', { maxTokens: 2 })).text !== undefined);
  } finally {
    await model.dispose();
  }
});

/** Bytes of the blobs of both repos in the HF cache now. */
function blobBytes(hf: string): number {
  let n = 0;
  for (const repo of ['models--zwli--GroundingGPT', 'models--openai--clip-vit-large-patch14-336']) {
    const dir = path.join(hf, 'hub', repo, 'blobs');
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) n += fs.statSync(path.join(dir, f)).size;
  }
  return n;
}

t.test('convert while downloading: shard 1 is converted while shard 2 is held back; same bytes as convert()', async (t) => {
  freshEnv(t);
  const SHARD2 = 'pytorch_model-00002-of-00002.bin';
  hub.hold(SHARD2);
  t.teardown(() => hub.release(SHARD2));
  const events: PullProgress[] = [];
  let shard2Done = -1;
  let convertedWhileHeld = false;
  const p = pull({
    type: 'f16',
    ...FAST,
    onProgress: (e) => {
      events.push(e);
      if (e.stage === 'download' && e.file?.endsWith(SHARD2) && e.fileBytes === e.fileTotal && shard2Done < 0) shard2Done = events.length - 1;
      // the LLM's last tensor from shard 1 (model.norm): every block before it was converted
      if (e.stage === 'convert' && e.convert?.tensor === 'output_norm.weight' && shard2Done < 0) {
        convertedWhileHeld = (hub.bytesByFile.get(SHARD2) ?? 0) <= 1 << 20;
        hub.release(SHARD2);
      }
    },
  });
  const r = await p;
  sameFiles(t, r.dir, reference);
  t.ok(convertedWhileHeld, "shard 1's LLM tensors were converted while shard 2 had sent only its header");
  const firstLlm = events.findIndex((e) => e.stage === 'convert' && e.convert?.stage === 'llm');
  t.ok(firstLlm >= 0 && shard2Done > firstLlm, `conversion progress (event ${firstLlm}) before the last shard completed (event ${shard2Done})`);
  const outputAt = events.findIndex((e) => e.stage === 'convert' && e.convert?.tensor === 'output.weight');
  t.ok(outputAt > shard2Done, 'lm_head (shard 2) converted only after shard 2 was complete and verified');
  t.equal(hub.bytesServed, sourceBytes(), 'no byte fetched twice (the header first, the rest resumed)');
});

t.test('keepSource: false: each source deleted once converted, before the quantiser runs', async (t) => {
  const { hf } = freshEnv(t);
  let atQuantize = -1;
  let maxBlobs = 0;
  const r = await pull({
    type: 'q8_0',
    keepSource: false,
    ...FAST,
    onProgress: (e) => {
      maxBlobs = Math.max(maxBlobs, blobBytes(hf));
      if (e.stage === 'convert' && e.convert?.stage === 'quantize' && atQuantize < 0) atQuantize = blobBytes(hf);
    },
  });
  t.ok(fs.existsSync(path.join(r.dir, 'manifest.json')));
  t.ok(atQuantize >= 0 && atQuantize < 100_000, `sources gone when quantisation starts (${atQuantize} bytes of blobs left: side files)`);
  t.ok(maxBlobs > 0.9 * sourceBytes(), `the sources were there before (${maxBlobs} of ${sourceBytes()} bytes)`);
  t.same(blobBytes(hf), 0, 'no blob kept');
});

t.test('a shard with wrong bytes is never converted: nothing read from it reaches the output', async (t) => {
  const { home } = freshEnv(t);
  hub.fault({ match: 'pytorch_model-00002-of-00002.bin', kind: 'corrupt', afterBytes: 3_000_000, times: Infinity });
  const events: PullProgress[] = [];
  await t.rejects(pull({ type: 'f16', ...FAST, onProgress: (e) => events.push(e) }), {
    constructor: PullError,
    reason: 'corrupt',
    message: /do not match the Hub's metadata/,
  });
  const converted = events.filter((e) => e.stage === 'convert' && e.convert?.tensor).map((e) => e.convert?.tensor);
  t.ok(converted.includes('blk.0.attn_q.weight'), 'shard 1 (verified) was being converted meanwhile');
  t.notOk(converted.includes('output.weight'), 'lm_head (shard 2) never converted');
  t.notOk(
    events.some((e) => e.stage === 'convert' && e.convert?.stage === 'encoders'),
    'no tower tensor (shard 2) converted',
  );
  const dir = path.join(home, 'groundinggpt-7b');
  t.same(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], 'no model directory, no partial folder');
});

t.test('hf:<owner>/<repo>[:<prefix>]: a repo of converted files, validated by loading them', async (t) => {
  const { home } = freshEnv(t);
  const src = tempDir('ggpt-gguf-repo-');
  for (const f of ['llm.gguf', 'encoders.gguf']) {
    fs.copyFileSync(path.join(reference, f), path.join(src, f));
    fs.mkdirSync(path.join(src, 'f16'), { recursive: true });
    fs.copyFileSync(path.join(reference, f), path.join(src, 'f16', f));
  }
  fs.writeFileSync(path.join(src, 'README.md'), 'converted GroundingGPT\n');
  hub.addRepo('someone/groundinggpt-gguf', src);
  const bad = tempDir('ggpt-bad-repo-');
  fs.copyFileSync(path.join(reference, 'encoders.gguf'), path.join(bad, 'encoders.gguf'));
  const junk = Buffer.alloc(4096, 7);
  junk.write('GGUF', 0);
  fs.writeFileSync(path.join(bad, 'llm.gguf'), junk);
  hub.addRepo('someone/bad-gguf', bad);

  const r = await pull({ name: 'hf:someone/groundinggpt-gguf', ...FAST });
  t.equal(r.dir, path.join(home, 'hf--someone--groundinggpt-gguf', 'default'));
  for (const f of ['llm.gguf', 'encoders.gguf']) t.ok(fs.readFileSync(path.join(r.dir, f)).equals(fs.readFileSync(path.join(reference, f))), f);
  t.equal(hub.bytesServed, fs.statSync(path.join(reference, 'llm.gguf')).size + fs.statSync(path.join(reference, 'encoders.gguf')).size, 'only the two files');
  const model = await loadModel({ model: 'hf:someone/groundinggpt-gguf' });
  try {
    t.ok((await model.groundImage(path.join(mediaDir, 'dog_image.jpg'), 'Where is the dog?', { maxTokens: 2 })).text !== undefined);
  } finally {
    await model.dispose();
  }

  const sub = await pull({ name: 'hf:someone/groundinggpt-gguf:f16/', ...FAST });
  t.equal(sub.dir, path.join(home, 'hf--someone--groundinggpt-gguf', 'f16'));
  t.ok(fs.existsSync(path.join(sub.dir, 'manifest.json')));

  await t.rejects(pull({ name: 'hf:someone/groundinggpt-gguf:nope-', ...FAST }), {
    constructor: PullError,
    reason: 'not_found',
    message: /no nope-llm\.gguf \/ nope-encoders\.gguf/,
  });
  await t.rejects(pull({ name: 'hf:someone/bad-gguf', ...FAST }), { constructor: PullError, reason: 'corrupt', message: /not a model our loaders accept/ });
  t.notOk(fs.existsSync(path.join(home, 'hf--someone--bad-gguf', 'default')), 'nothing installed');
  t.same(
    fs.existsSync(path.join(home, 'hf--someone--bad-gguf')) ? fs.readdirSync(path.join(home, 'hf--someone--bad-gguf')) : [],
    [],
    'no temporary folder left',
  );
});
