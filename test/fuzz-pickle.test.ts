// Property-based fuzzing of the whitelist pickle VM (src/convert/pickle.ts): arbitrary bytes,
// opcode programs and mutated torch pickles give a value or a ConversionError, nothing is called
// outside the allow list; and the regression cases the fuzzing and the attack corpus found.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ConversionError } from '../src/errors';
import { unpickle, type UnpickleHooks } from '../src/convert/pickle';
import { FilePool } from '../src/convert/tensor';
import { openTorchCheckpoint } from '../src/convert/torch';
import { fuzz } from './attack/fuzz-tap';
import { tempDir } from './helpers/golden';
import { writeZip } from './helpers/upstream';

t.test('properties', async (t) => {
  for (const name of ['pickle-bytes', 'pickle-ops', 'pickle-mutate']) await fuzz(t, name);
});

const hooks: UnpickleHooks = {
  file: 'x.pkl',
  findClass: (m, n) => {
    throw new ConversionError(`x.pkl: unsupported global ${m}.${n}`);
  },
  persistentLoad: () => {
    throw new ConversionError('x.pkl: no persistent ids');
  },
};
const P2 = Buffer.from([0x80, 2]);
const STOP = Buffer.from([0x2e]);
const run = (...parts: Buffer[]) => unpickle(Buffer.concat([P2, ...parts, STOP]), hooks);

t.test('regressions: negative lengths (LONG4 looped forever, BINSTRING threw a TypeError)', async (t) => {
  t.throws(() => run(Buffer.from([0x8b, 0xfb, 0xff, 0xff, 0xff])), { name: 'ConversionError', message: /negative length -5/ });
  t.throws(() => run(Buffer.from([0x54, 0xf0, 0xff, 0xff, 0xff])), { name: 'ConversionError', message: /negative length -16/ });
});

t.test('regressions: text literals are parsed strictly (LONG threw a SyntaxError)', async (t) => {
  t.throws(() => run(Buffer.from('Lxyz\n', 'latin1')), { name: 'ConversionError', message: /bad LONG literal "xyz"/ });
  t.throws(() => run(Buffer.from('Ixyz\n', 'latin1')), { name: 'ConversionError', message: /bad INT literal/ });
  t.throws(() => run(Buffer.from('Fabc\n', 'latin1')), { name: 'ConversionError', message: /bad FLOAT literal/ });
  t.throws(() => run(Buffer.from('I', 'latin1'), Buffer.alloc(5000, 0x39), Buffer.from('\n')), { name: 'ConversionError', message: /5000 digits/ });
  t.equal(run(Buffer.from('L-12345678901234567890L\n', 'latin1')), -12345678901234567890n);
  t.equal(run(Buffer.from('I00\n', 'latin1')), false);
  t.equal(run(Buffer.from('I-7\n', 'latin1')), -7);
  t.equal(run(Buffer.from('F-inf\n', 'latin1')), -Infinity);
  t.equal(run(Buffer.from('F2.5e3\n', 'latin1')), 2500);
  t.throws(() => run(Buffer.from('p-1\n', 'latin1')), { name: 'ConversionError', message: /memo key/ });
  t.throws(() => run(Buffer.from([0x30])), { name: 'ConversionError', message: /stack underflow/ });
});

t.test('regressions: long runs and deep nesting cost time in proportion to the bytes', async (t) => {
  // APPENDS of 300k items overflowed the call stack (push(...items)): a RangeError
  const items = Buffer.alloc(600_000).fill(Buffer.from([0x4b, 7]));
  let t0 = performance.now();
  const list = run(Buffer.from([0x5d, 0x28]), items, Buffer.from([0x65])) as number[];
  t.equal(list.length, 300_000);
  // a million nested lists, a million MARKs, a 1 MiB LONG4
  const n = 1_000_000;
  const nested = run(Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61)) as unknown[];
  t.equal(nested.length, 1);
  t.throws(() => run(Buffer.alloc(n, 0x28)), { name: 'ConversionError', message: /stack underflow/ });
  const long4 = run(Buffer.from([0x8b, 0, 0, 16, 0]), Buffer.alloc(1 << 20, 0x91)) as bigint;
  t.equal(typeof long4, 'bigint');
  const ms = performance.now() - t0;
  t.ok(ms < 20_000, `all of it in ${ms.toFixed(0)} ms`);
  t0 = performance.now();
});

t.test('only whitelisted globals: the real torch reader refuses the rest before calling anything', async (t) => {
  const dir = tempDir('ggpt-fuzz-pickle-');
  const file = path.join(dir, 'm.bin');
  const str = (s: string) => {
    const b = Buffer.from(s);
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.length, 1);
    return Buffer.concat([h, b]);
  };
  const dangerous: [string, Buffer][] = [
    ['os.system', Buffer.concat([P2, Buffer.from('cos\nsystem\n'), str('touch pwned'), Buffer.from([0x85, 0x52]), STOP])],
    ['builtins.eval (STACK_GLOBAL)', Buffer.concat([P2, str('builtins'), str('eval'), Buffer.from([0x93]), str('1+1'), Buffer.from([0x85, 0x52]), STOP])],
    ['subprocess.Popen', Buffer.concat([P2, Buffer.from('csubprocess\nPopen\n'), str('id'), Buffer.from([0x85, 0x52]), STOP])],
    ['__builtin__.getattr', Buffer.concat([P2, Buffer.from('c__builtin__\ngetattr\n'), STOP])],
    ['torch.load', Buffer.concat([P2, Buffer.from('ctorch\nload\n'), STOP])],
  ];
  for (const [what, pkl] of dangerous) {
    writeZip(file, [['archive/data.pkl', pkl]]);
    const pool = new FilePool();
    await t.rejects(openTorchCheckpoint(file, pool), { name: 'ConversionError', message: /unsupported global/ }, what);
    await pool.close();
  }
  t.notOk(fs.existsSync(path.join(process.cwd(), 'pwned')), 'nothing ran');
});
