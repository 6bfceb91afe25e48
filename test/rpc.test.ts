// Remote devices through ggml's RPC backend (README "Several machines (RPC)", docs/RELIABILITY.md
// "RPC devices"): two llama.cpp ggml-rpc-server processes on 127.0.0.1 (CPU backend) started
// here, the tiny golden model at f32 with its layers split across them, the towers on one of them,
// and a server killed in the middle of a generation. Needs the server binary
// (`npm run build:rpc-server`, build-rpc/bin/ggml-rpc-server): skipped without it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ModelLoadError, NativeError, loadModel } from '../src/index';
import { type NativeLoadOptions, type NativeModel, native } from '../src/native';
import { tinyConverted } from './helpers/converted';
import { allclose, goldenCase, mediaDir } from './helpers/golden';

const bin = path.resolve(__dirname, '..', 'build-rpc', 'bin', process.platform === 'win32' ? 'ggml-rpc-server.exe' : 'ggml-rpc-server');
const skip = fs.existsSync(bin) ? false : `no ${bin}: run 'npm run build:rpc-server' to build it`;
run();

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  endpoint: string;
  proc: ChildProcess;
  log: string[];
}

/** Starts a ggml-rpc-server on 127.0.0.1 (one thread, CPU) and waits until it accepts. */
async function startServer(): Promise<Server> {
  const port = await freePort();
  const proc = spawn(bin, ['-H', '127.0.0.1', '-p', String(port), '-t', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  const deadline = Date.now() + 20000;
  // ready when it accepts a connection (its stdout is block-buffered in a pipe); a connection
  // closed before the handshake sends it back to waiting for the next client
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null) throw new Error(`ggml-rpc-server exited: ${log.join('')}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`ggml-rpc-server did not start: ${log.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint: `127.0.0.1:${port}`, proc, log };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    s.proc.once('exit', () => resolve());
    s.proc.kill('SIGKILL');
  });
}

const greedy = { temperature: 0, topK: 40, topP: 0.95, minP: 0, repeatPenalty: 1, repeatLastN: 64, seed: 0, stop: [], stopAtEos: false };

function run() {
  const c = goldenCase('full/text_only');
  const promptIds: number[] = c.prompt_token_ids;
  const dogImage = path.join(mediaDir, 'dog_image.jpg');

  t.test('RPC devices', { skip }, async (t) => {
    const files = await tinyConverted();
    const addon = native();
    const a = await startServer();
    t.teardown(() => stop(a));
    const b = await startServer();
    t.teardown(() => stop(b));
    const base: NativeLoadOptions = {
      llm: files.llm,
      encodersOnGpu: false,
      useMmap: true,
      contextSize: 512,
      batchSize: 64,
      threads: 2,
      threadsBatch: 2,
      kvType: 'f32',
      flashAttn: 'off',
    };
    const local = await addon.loadModel(base, addon.createCancel());
    t.teardown(() => local.dispose());

    /** Prompt logits and 16 greedy tokens. */
    async function run16(nm: NativeModel): Promise<{ logits: Float32Array; tokens: number[] }> {
      await nm.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
      const logits = nm.logits();
      const g = await nm.generate({ maxTokens: 16, ...greedy }, addon.createCancel());
      return { logits, tokens: Array.from(g.tokens) };
    }
    const want = await run16(local);

    t.test('layers split across two servers: same tokens, logits within 1e-4', async (t) => {
      // tensorSplit [1, 2]: layer 0 on the first server, layer 1 and the output on the second
      // (libllama's split of 2 layers + output over the shares, llama-model.cpp load_tensors)
      const nm = await addon.loadModel({ ...base, gpuLayers: -1, rpc: [a.endpoint, b.endpoint], tensorSplit: [1, 2] }, addon.createCancel());
      t.teardown(() => nm.dispose());
      const info = nm.info();
      t.same(
        info.devices.map((d) => [d.description, d.layerBegin, d.layerEnd, d.output]),
        [
          [a.endpoint, 0, 1, false],
          [b.endpoint, 1, 2, true],
        ],
        'info says which layers each server holds',
      );
      t.equal(nm.unusable(), null);
      const got = await run16(nm);
      const rep = allclose(got.logits, want.logits, 1e-4, 0);
      t.comment(`RPC vs local logits max |diff| = ${rep.maxAbs.toExponential(3)}`);
      t.ok(rep.ok, 'logits within 1e-4');
      t.same(got.tokens, want.tokens, 'greedy tokens identical');
      t.ok(a.log.join('').includes('Accepted client connection') && b.log.join('').includes('Accepted client connection'), 'both servers were used');
    });

    t.test('towers on an RPC device: same features, same answer', async (t) => {
      const opts = { model: files, threads: 2, contextSize: 1024, kvType: 'f32' as const, flashAttn: 'off' as const };
      const lm = await loadModel(opts);
      t.teardown(() => lm.dispose());
      const rm = await loadModel({ ...opts, rpc: [a.endpoint], towerDevice: 'rpc:0', gpuLayers: 0 });
      t.teardown(() => rm.dispose());
      t.match(rm.info.towerDevice, new RegExp(`^RPC\\d+ ${a.endpoint.replace(/\./g, '\\.')}$`), 'info names the tower device');
      t.equal(lm.info.towerDevice, 'CPU');
      t.same(
        rm.info.devices.map((d) => d.name),
        ['CPU'],
        'gpuLayers 0: the LLM stays local',
      );
      const [le, re] = [await lm.embedImage(dogImage), await rm.embedImage(dogImage)];
      const rep = allclose(re.data, le.data, 1e-4, 0);
      t.comment(`image features RPC vs local max |diff| = ${rep.maxAbs.toExponential(3)}`);
      t.ok(rep.ok, 'features within 1e-4 (local CPU uses fused attention, the remote graph does not)');
      const [lr, rr] = [
        await lm.groundImage(dogImage, 'Where is the dog?', { maxTokens: 12 }),
        await rm.groundImage(dogImage, 'Where is the dog?', { maxTokens: 12 }),
      ];
      t.equal(rr.text, lr.text, 'same greedy answer');
    });

    t.test('CLI --rpc: the same answer as local; a dead server is a load error naming it', async (t) => {
      const cli = path.resolve(__dirname, '..', 'lib', 'cli.js');
      const dir = path.dirname(files.llm);
      const run = (extra: string[]) =>
        promisify(execFile)(
          process.execPath,
          [cli, 'image', dogImage, 'Where is the dog?', '--model', dir, '--max-tokens', '6', '--threads', '2', '--json', ...extra],
          {
            env: { ...process.env, GROUNDINGGPT_MODEL: '' },
            maxBuffer: 16 << 20,
          },
        );
      const local = JSON.parse((await run([])).stdout);
      const remote = JSON.parse((await run(['--rpc', `${a.endpoint},${b.endpoint}`, '--tower-device', 'rpc:1'])).stdout);
      t.equal(remote.text, local.text, 'same answer with the layers and the towers remote');
      const dead = `127.0.0.1:${await freePort()}`;
      const err = await run(['--rpc', dead]).then(
        () => undefined,
        (e: { code?: number; stderr?: string }) => e,
      );
      t.not(err?.code, 0, 'non-zero exit');
      t.match(err?.stderr, new RegExp(`RPC server ${dead.replace(/\./g, '\\.')} cannot be reached`), 'the message names the server');
    });

    t.test('a server killed during generation: typed error, process alive, model unusable', async (t) => {
      const nm = await addon.loadModel({ ...base, gpuLayers: -1, rpc: [a.endpoint, b.endpoint], tensorSplit: [1, 2] }, addon.createCancel());
      t.teardown(() => nm.dispose());
      // what the tokens before the failure must be: the local greedy ones
      await local.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
      const ref = Array.from((await local.generate({ ...greedy, maxTokens: 200 }, addon.createCancel())).tokens);
      await nm.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
      let killedAt = 0;
      let seen = 0;
      const delivered: number[] = [];
      const gen = nm.generate({ ...greedy, maxTokens: 400 }, addon.createCancel(), (token) => {
        delivered.push(token);
        if (++seen === 4) {
          killedAt = Date.now();
          b.proc.kill('SIGKILL');
        }
      });
      const err = await gen.then(
        () => undefined,
        (e: unknown) => e,
      );
      const after = Date.now() - killedAt;
      t.ok(killedAt > 0, 'the server was killed mid-generation');
      t.match(err, { code: 'REMOTE', message: new RegExp(`RPC server ${b.endpoint}.*unusable`) }, 'rejects with code REMOTE naming the server');
      t.comment(`rejected ${after} ms after the kill`);
      t.ok(after < 5000, 'within a few seconds');
      t.ok(delivered.length < ref.length, `${delivered.length} tokens delivered before the error`);
      t.same(delivered, ref.slice(0, delivered.length), 'no token sampled from what a failed connection left');
      t.match(nm.unusable(), new RegExp(b.endpoint), 'the model reports itself unusable');
      await t.rejects(nm.prompt([{ tokens: Int32Array.from([1, 2, 3]) }], addon.createCancel()), { code: 'REMOTE' }, 'later calls reject');

      // the public API: loading against the dead server names it
      await t.rejects(loadModel({ model: files, rpc: [b.endpoint], threads: 1 }), ModelLoadError, 'unreachable at load: ModelLoadError');
      await t.rejects(loadModel({ model: files, rpc: [b.endpoint], threads: 1 }), { message: new RegExp(`RPC server ${b.endpoint} cannot be reached`) });

      // a new local model still works
      const lm = await loadModel({ model: files, loadEncoders: false, threads: 2, contextSize: 256 });
      t.teardown(() => lm.dispose());
      const r = await lm.generate('Hello', { maxTokens: 4 });
      t.ok(r.tokens.length > 0, 'a local model loaded afterwards generates');
      t.ok(lm.info.usable);
    });

    t.test('a server that stops answering: the wait ends at rpcTimeoutMs', { skip: process.platform === 'win32' && 'no SIGSTOP' }, async (t) => {
      const s = await startServer();
      t.teardown(() => stop(s));
      const nm = await addon.loadModel({ ...base, gpuLayers: -1, rpc: [s.endpoint], rpcTimeoutMs: 1000 }, addon.createCancel());
      t.teardown(() => nm.dispose());
      await nm.prompt([{ tokens: Int32Array.from(promptIds) }], addon.createCancel());
      s.proc.kill('SIGSTOP'); // alive, connected, silent
      const t0 = Date.now();
      const err = await nm.generate({ ...greedy, maxTokens: 8 }, addon.createCancel()).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = Date.now() - t0;
      s.proc.kill('SIGCONT');
      t.match(err, { code: 'REMOTE', message: /timed out/ }, 'REMOTE: timed out');
      t.comment(`rejected after ${waited} ms (rpcTimeoutMs 1000)`);
      t.ok(waited >= 900 && waited < 5000, 'bounded by the timeout');
    });

    t.test('a server busy with another client: the load fails after the connect bound (5 s)', async (t) => {
      const s = await startServer();
      t.teardown(() => stop(s));
      // another client: connected, the server waits for its handshake (it serves one at a time)
      const other = net.connect(Number(s.endpoint.split(':')[1]), '127.0.0.1');
      await new Promise((r) => other.once('connect', r));
      t.teardown(() => other.destroy());
      const t0 = Date.now();
      await t.rejects(loadModel({ model: files, loadEncoders: false, rpc: [s.endpoint], threads: 1 }), {
        name: 'ModelLoadError',
        message: new RegExp(`RPC server ${s.endpoint.replace(/\./g, '\\.')} cannot be reached: handshake failed \\(receive: timed out\\).*busy`),
      });
      const waited = Date.now() - t0;
      t.comment(`rejected after ${waited} ms`);
      t.ok(waited >= 4500 && waited < 15000, 'bounded by the connect timeout, not the I/O one (120 s)');
    });

    t.test('the public API: a failed server is a NativeError of status remote', async (t) => {
      const s = await startServer();
      t.teardown(() => stop(s));
      const m = await loadModel({ model: files, loadEncoders: false, rpc: [s.endpoint], threads: 2, contextSize: 256 });
      t.teardown(() => m.dispose());
      t.equal(m.info.devices[0]?.description, s.endpoint);
      await m.generate('Hello', { maxTokens: 2 });
      await stop(s);
      const err = await m.generate('Hello again', { maxTokens: 2 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(err instanceof NativeError, 'NativeError');
      t.equal((err as NativeError).status, 'remote');
      t.equal(m.info.usable, false);
      t.match(m.info.unusableReason, new RegExp(s.endpoint));
    });
  });
}
