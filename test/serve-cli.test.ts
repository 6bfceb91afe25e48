// `groundinggpt serve` as a process (lib/cli.js, built by npm run compile:ts): it listens, answers,
// and on SIGTERM stops accepting, lets the request in flight finish (or cuts it at
// --drain-timeout) and exits 0.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { riggedModel } from './helpers/rigged';
import { events, get, openStream } from './helpers/serve';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'lib', 'cli.js');
const KEY = 'cli-test-key';
const auth = { Authorization: `Bearer ${KEY}` };

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `serve` on a free port and waits until /health says the model is loaded. */
async function serve(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--threads', '2', '--api-key', KEY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  for (let i = 0; (await get(`${url}/health`)).status !== 200; i++) {
    if (i > 200) throw new Error(`not loaded: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, stderr: () => err, exit };
}

t.test('groundinggpt serve', { skip: fs.existsSync(cli) ? false : 'lib/ not built (npm run compile:ts)' }, async (t) => {
  // talks until max_tokens or the context (2,048 positions) is full: ~2,000 tokens, several seconds
  const dir = await riggedModel([' la'], { loop: true });

  t.test('usage errors exit 2', async (t) => {
    const p = spawnSync(process.execPath, [cli, 'serve', '--port', 'eighty'], { encoding: 'utf8' });
    t.equal(p.status, 2);
    t.match(p.stderr, /--port expects an integer/);
    const h = spawnSync(process.execPath, [cli, 'help', 'serve'], { encoding: 'utf8' });
    t.equal(h.status, 0);
    t.match(h.stdout, /--allow-remote-media/);
  });

  t.test('SIGTERM: no new connections, the request in flight finishes, exit 0', async (t) => {
    const s = await serve(t, ['--model', dir, '--drain-timeout', '60']);
    t.equal((await get(`${s.url}/v1/models`)).status, 401, 'the API key is required');
    const models = await get(`${s.url}/v1/models`, auth);
    t.equal(models.json.data[0].id, path.basename(dir), "the model id is the model directory's name");
    const stream = await openStream(s.url, { messages: [{ role: 'user', content: 'Talk.' }], max_tokens: 300 }, auth);
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const refused = await get(`${s.url}/health`).then(
      (r) => `status ${r.status}`,
      (e: NodeJS.ErrnoException) => e.code,
    );
    t.equal(refused, 'ECONNREFUSED', 'new connections are refused while draining');
    t.equal(await stream.ended, 200);
    // biome-ignore lint/suspicious/noExplicitAny: chunks are read as they come
    const ev = events(stream.received()) as any[];
    t.equal(ev[ev.length - 1], '[DONE]', 'the stream in flight ended normally');
    t.equal(ev[ev.length - 2].choices[0].finish_reason, 'length');
    t.equal(await s.exit, 0);
    t.match(s.stderr(), /SIGTERM: not accepting requests; waiting up to 60 s for 1 in flight/);
    t.match(s.stderr(), /POST \/v1\/chat\/completions 200/);
    t.match(s.stderr(), /stopped/);
  });

  t.test('SIGTERM with a request longer than --drain-timeout: cut at the deadline, exit 0', async (t) => {
    const s = await serve(t, ['--model', dir, '--drain-timeout', '1']);
    const stream = await openStream(s.url, { messages: [{ role: 'user', content: 'Talk.' }], max_tokens: 100_000 }, auth);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    t.equal(await s.exit, 0);
    const ms = Date.now() - t0;
    t.ok(ms >= 900 && ms < 10_000, `exited ${ms} ms after SIGTERM`);
    await stream.ended;
    // biome-ignore lint/suspicious/noExplicitAny: chunks are read as they come
    const ev = events(stream.received()) as any[];
    t.equal(ev[ev.length - 1]?.error?.code, 'shutting_down', 'the stream ends with an error event');
  });
});
