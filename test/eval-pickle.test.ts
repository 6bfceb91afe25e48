// The plain-data pickle reader of the refer toolkit's refs(*).p (src/convert/pickle.ts
// unpicklePlain): cPickle protocol 2 and protocol 0 as Python 2 writes them, and refusal of
// everything that names or calls an object, through evaluate() too (before any model is loaded).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { InvalidInputError } from '../src/errors';
import { PyDict, PyTuple, type PyValue, unpicklePlain } from '../src/convert/pickle';
import { evaluate } from '../src/eval/run';
import { loadRec } from '../src/eval/datasets';
import { makeRefcoco } from './helpers/eval-fixtures';
import { PyFloat, PyUnicode, pickleDump, type Plain } from './helpers/pickle-writer';

function js(v: PyValue): unknown {
  if (v instanceof PyDict) return Object.fromEntries([...v.map].map(([k, x]) => [String(k), js(x)]));
  if (v instanceof PyTuple) return { tuple: v.items.map(js) };
  if (Array.isArray(v)) return v.map(js);
  return v;
}

const sample: Plain = [
  { split: 'val', ref_id: 0, ann_id: 70000, image_id: 581857, sent_ids: [0, 1], score: 0.5, area: new PyFloat(3.0), big: 5_000_000_000, neg: -3 },
  { split: 'val', sentences: [{ raw: new PyUnicode('Caf\u00e9 \u2192 \\ line\nbreak'), sent: 'a \'quoted\' "word"\t\\ end', ok: true, none: null }] },
  [],
  ['x'],
  { only: 1 },
];
const expected = [
  { split: 'val', ref_id: 0, ann_id: 70000, image_id: 581857, sent_ids: [0, 1], score: 0.5, area: 3, big: 5_000_000_000, neg: -3 },
  { split: 'val', sentences: [{ raw: 'Caf\u00e9 \u2192 \\ line\nbreak', sent: 'a \'quoted\' "word"\t\\ end', ok: true, none: null }] },
  [],
  ['x'],
  { only: 1 },
];

t.test('protocol 2 (cPickle) and protocol 0 give the same plain values', async (t) => {
  const p2 = pickleDump(sample, 2);
  t.equal(p2[0], 0x80, 'PROTO');
  t.ok(p2.includes(Buffer.from([0x55, 5, ...Buffer.from('split')])), 'str as SHORT_BINSTRING');
  t.ok(p2.includes(0x68), 'a repeated key as BINGET');
  t.same(js(unpicklePlain(p2, 'refs(unc).p')), expected);
  const p0 = pickleDump(sample, 0);
  t.equal(p0.toString('latin1', 0, 3), '(lp', 'text opcodes');
  t.same(js(unpicklePlain(p0, 'refs(unc).p')), expected);
  // a list of more than 1000 items is written in batches of APPENDS
  const long = Array.from({ length: 2500 }, (_, i) => i);
  t.same(unpicklePlain(pickleDump(long, 2), 'x.p'), long);
  // memo beyond 255 entries: LONG_BINPUT / LONG_BINGET
  const strs = Array.from({ length: 300 }, (_, i) => `s${i}`);
  t.same(unpicklePlain(pickleDump([...strs, ...strs], 2), 'x.p'), [...strs, ...strs]);
});

t.test('STRING literals are decoded strictly', async (t) => {
  const p0 = (body: string) => Buffer.from(`S${body}\np0\n.`, 'latin1');
  t.equal(unpicklePlain(p0("'a\\x41\\101\\n\\q'"), 'x.p'), 'aAA\n\\q', '\\x, octal, \\n; unknown escapes kept');
  t.equal(unpicklePlain(p0('"it\'s"'), 'x.p'), "it's");
  for (const bad of ["'abc", 'abc', "'a\\x4'", "'a\\'"]) {
    t.throws(() => unpicklePlain(p0(bad), 'x.p'), InvalidInputError, `refused: ${bad}`);
  }
  t.equal(unpicklePlain(Buffer.from('V\\u00e9\\U0001F600 x\np0\n.', 'latin1'), 'x.p'), '\u00e9\u{1f600} x', 'UNICODE raw-unicode-escape');
});

/** Hand-assembled malicious pickles: what `pickle.loads` would run. */
const attacks: [string, Buffer, RegExp][] = [
  ['GLOBAL os.system + REDUCE', Buffer.from('\x80\x02cos\nsystem\nq\x00U\x02idq\x01\x85q\x02Rq\x03.', 'latin1'), /GLOBAL os\.system refused/],
  ['protocol 0 GLOBAL', Buffer.from("cposix\nsystem\np0\n(S'id'\np1\ntp2\nRp3\n.", 'latin1'), /GLOBAL posix\.system refused/],
  ['GLOBAL of a plain container (builtins.dict)', Buffer.from('\x80\x02c__builtin__\ndict\n)R.', 'latin1'), /GLOBAL __builtin__\.dict refused/],
  ['STACK_GLOBAL', Buffer.from('\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.', 'latin1'), /STACK_GLOBAL refused/],
  ['REDUCE alone', Buffer.from('\x80\x02N)R.', 'latin1'), /REDUCE refused/],
  ['BUILD on a dict', Buffer.from('\x80\x02}}b.', 'latin1'), /BUILD refused/],
  ['INST', Buffer.from("(ios\nsystem\nS'id'\n.", 'latin1'), /INST refused/],
  ['OBJ', Buffer.from('(N)o.', 'latin1'), /OBJ refused/],
  ['NEWOBJ', Buffer.from('\x80\x02N)\x81.', 'latin1'), /NEWOBJ refused/],
  ['BINPERSID', Buffer.from('\x80\x02K\x01Q.', 'latin1'), /BINPERSID refused/],
  ['EXT1', Buffer.from('\x80\x02\x82\x01.', 'latin1'), /EXT1 refused/],
];

t.test('anything that names or calls an object is refused with InvalidInputError', async (t) => {
  for (const [name, bytes, re] of attacks) {
    t.throws(() => unpicklePlain(bytes, 'refs(unc).p'), { constructor: InvalidInputError, message: re }, name);
  }
  t.throws(() => unpicklePlain(Buffer.from('\x80\x02]q\x00(K\x01', 'latin1'), 'x.p'), { constructor: InvalidInputError, message: /truncated/ }, 'truncated');
  t.throws(() => unpicklePlain(Buffer.from('\x80\x02\xff.', 'latin1'), 'x.p'), {
    constructor: InvalidInputError,
    message: /unknown or unsupported pickle opcode 0xff/,
  });
});

t.test('a malicious refs(unc).p stops evaluate() before any model is loaded', async (t) => {
  const { data, refsFile } = await makeRefcoco();
  t.equal(loadRec('refcoco', data, ['val'], undefined).length, 3, 'the well-formed fixture reads');
  fs.writeFileSync(refsFile, attacks[0][1]);
  await t.rejects(evaluate({ task: 'refcoco', data, model: path.join(data, 'no-such-model') }), {
    constructor: InvalidInputError,
    message: /refs\(unc\)\.p: pickle: GLOBAL os\.system refused: this file may hold only plain data/,
  });
  // a refs file that is plain data but not the refer toolkit's shape
  fs.writeFileSync(refsFile, pickleDump({ not: 'a list' }));
  await t.rejects(evaluate({ task: 'refcoco', data, model: 'x' }), { constructor: InvalidInputError, message: /expected a list of refs/ });
});

t.test('any byte string gives a plain value or an InvalidInputError (fast-check, 3000 runs)', async (t) => {
  const ops = Buffer.from('()]}NKJMGUTXVSIFLpqhgaesdlt.\x80\x85\x86\x87\x88\x89\x8a\x8c\x94\x95cR\x93bio\x81QP\x82', 'latin1');
  const prop = fc.property(fc.array(fc.oneof(fc.constantFrom(...ops), fc.integer({ min: 0, max: 255 })), { maxLength: 64 }), (bytes) => {
    try {
      const v = unpicklePlain(Buffer.from([0x80, 0x02, ...bytes, 0x2e]), 'f.p');
      if (v instanceof Object && !(v instanceof PyDict) && !(v instanceof PyTuple) && !Array.isArray(v) && !(v instanceof Uint8Array)) return false;
      return true;
    } catch (err) {
      return err instanceof InvalidInputError;
    }
  });
  t.doesNotThrow(() => fc.assert(prop, { numRuns: 3000, seed: 21 }));
});
