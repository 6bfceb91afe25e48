/**
 * (Over 500 lines: one opcode switch and the helpers of its text opcodes read best together.)
 *
 * A pickle virtual machine for the `data.pkl` that torch.save writes (protocols 2-5; the text
 * opcodes of protocol 0 too). It builds plain values (numbers, strings, lists, tuples, dicts)
 * and delegates globals and persistent ids to the caller, which whitelists what a checkpoint may
 * contain: nothing is ever "imported", an unknown global or opcode is a ConversionError.
 * Reference: CPython Lib/pickletools.py.
 *
 * `unpicklePlain` is the same machine in a mode for data files that must hold only plain values
 * (the refer toolkit's `refs(unc).p`, read by src/eval/datasets.ts): every opcode that names,
 * calls or builds an object (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX,
 * PERSID, BINPERSID, EXT1/2/4) is refused with an InvalidInputError naming it. It exists so that
 * no Python is needed to read those files, and because Python's own `pickle.load` runs whatever
 * a file names: a `.p` from the internet would be code (docs/EVAL.md).
 *
 * Any byte string gives a value or a ConversionError (InvalidInputError in plain mode; never
 * another exception): lengths are checked against the data (negative ones too), text literals
 * are parsed strictly, and the work is linear in the input's size (no recursion, no spread of
 * unbounded arrays), so deep nesting and long runs cost time and memory in proportion to the
 * bytes, nothing more (test/fuzz-pickle.test.ts, test/eval-pickle.test.ts).
 */
import { ConversionError, type GroundingGPTError, InvalidInputError } from '../errors';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** State set by BUILD (e.g. an OrderedDict's `_metadata`); ignored by the converter. */
  state?: PyValue;
}

/** A global the caller allowed: called by REDUCE / NEWOBJ. */
export class PyCallable {
  constructor(
    readonly qualname: string,
    readonly call: (args: PyValue[]) => PyValue,
  ) {}
}

/** Objects produced by the caller's callables (storages, tensors). */
export interface PyOpaque {
  readonly pyType: string;
}

export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | Uint8Array | PyTuple | PyValue[] | PyDict | PyCallable | PyOpaque;

export interface UnpickleHooks {
  /** File named in errors. */
  file: string;
  /** Resolves a GLOBAL / STACK_GLOBAL; throws (ConversionError) for anything not allowed. */
  findClass(module: string, name: string): PyValue;
  /** BINPERSID / PERSID. */
  persistentLoad(pid: PyValue): PyValue;
  /**
   * Plain data only: globals, calls, BUILD and persistent ids are refused before the hooks
   * above are asked (see {@link unpicklePlain}).
   */
  plainData?: boolean;
  /** The error raised for bad data (default: ConversionError naming `file`). */
  makeError?: (message: string) => GroundingGPTError;
}

/**
 * Reads a pickle that may hold only plain data: None, booleans, integers, floats, str, bytes,
 * lists, tuples (as PyTuple), dicts (as PyDict), sets (as lists), in protocols 0 to 5 (Python 2's
 * cPickle text and binary opcodes included). Anything that names a class or calls one is an
 * InvalidInputError that names the opcode (and the global, when there is one).
 */
export function unpicklePlain(data: Uint8Array, file: string): PyValue {
  const refuse = (what: string): never => {
    throw new InvalidInputError(`${file}: pickle: ${what} refused: this file may hold only plain data (lists, dicts, strings, numbers)`);
  };
  return unpickle(data, {
    file,
    plainData: true,
    findClass: (module, name) => refuse(`GLOBAL ${module}.${name}`),
    persistentLoad: () => refuse('a persistent id'),
    makeError: (message) => new InvalidInputError(message),
  });
}

/** Opcodes refused in plain-data mode, by byte. */
const NOT_PLAIN: ReadonlyMap<number, string> = new Map([
  [0x63, 'GLOBAL'],
  [0x93, 'STACK_GLOBAL'],
  [0x52, 'REDUCE'],
  [0x62, 'BUILD'],
  [0x69, 'INST'],
  [0x6f, 'OBJ'],
  [0x81, 'NEWOBJ'],
  [0x92, 'NEWOBJ_EX'],
  [0x50, 'PERSID'],
  [0x51, 'BINPERSID'],
  [0x82, 'EXT1'],
  [0x83, 'EXT2'],
  [0x84, 'EXT4'],
]);

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * The body of a protocol-0 STRING (`S'...'`): Python's repr of a byte string, decoded as
 * `codecs.escape_decode` does (unknown escapes stay as written). Bytes become latin1 characters.
 */
function escapeDecode(body: string, fail: (msg: string) => Error): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    if (n === undefined) throw fail('STRING literal ends with a backslash');
    if (Object.hasOwn(SIMPLE_ESCAPES, n)) out += SIMPLE_ESCAPES[n];
    else if (n === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw fail('bad \\x escape in a STRING literal');
      out += String.fromCharCode(Number.parseInt(h, 16));
      i += 2;
    } else if (n >= '0' && n <= '7') {
      const m = /^[0-7]{1,3}/.exec(body.slice(i)) as RegExpExecArray;
      out += String.fromCharCode(Number.parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else out += `\\${n}`;
  }
  return out;
}

/** The body of a protocol-0 UNICODE (`V...`): raw-unicode-escape (only \\uXXXX and \\UXXXXXXXX are escapes), latin1 otherwise. */
function rawUnicodeDecode(body: string, fail: (msg: string) => Error): string {
  return body.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_, hex: string) => {
    const cp = Number.parseInt(hex.slice(1), 16);
    if (cp > 0x10ffff) throw fail('code point out of range in a UNICODE literal');
    return String.fromCodePoint(cp);
  });
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

export function unpickle(data: Uint8Array, hooks: UnpickleHooks): PyValue {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let p = 0;
  const fail = (msg: string): GroundingGPTError =>
    hooks.makeError
      ? hooks.makeError(`${hooks.file}: pickle: ${msg} (at byte ${p})`)
      : new ConversionError(`${hooks.file}: pickle: ${msg} (at byte ${p})`, { file: hooks.file });
  const need = (n: number) => {
    if (n < 0) throw fail(`negative length ${n}`);
    if (p + n > buf.length) throw fail('truncated pickle data');
  };
  const u8 = () => {
    need(1);
    return buf[p++];
  };
  const u16 = () => {
    need(2);
    const v = buf.readUInt16LE(p);
    p += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = buf.readUInt32LE(p);
    p += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = buf.readInt32LE(p);
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(p);
    p += 8;
    if (v > BigInt(buf.length)) throw fail('length out of range');
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  const line = () => {
    const end = buf.indexOf(0x0a, p);
    if (end < 0) throw fail('truncated pickle data');
    const s = buf.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw fail('stack underflow');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw fail('stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw fail('MARK missing');
    const items = stack.splice(m + 1) as PyValue[];
    if (stack.pop() !== MARK) throw fail('MARK missing');
    return items;
  };
  const small = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const signedLE = (b: Buffer): number | bigint => {
    if (b.length === 0) return 0;
    // through hex: linear in the length (a shift-and-or loop is quadratic for long LONG4 data)
    let v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return small(v);
  };
  /** Decimal integer of a text opcode (INT, LONG, PUT, GET): Python's int() on the line. */
  const decimal = (s: string, what: string): number | bigint => {
    const m = /^\s*([+-]?\d+)L?\s*$/.exec(s);
    if (!m) throw fail(`bad ${what} literal ${JSON.stringify(s.slice(0, 40))}`);
    // CPython's int() refuses more than 4300 digits (decimal conversion is quadratic)
    if (m[1].length > 4301) throw fail(`${what} literal of ${m[1].length} digits`);
    return small(BigInt(m[1]));
  };
  const memoKey = (s: string): number => {
    const k = decimal(s, 'memo key');
    if (typeof k !== 'number' || k < 0) throw fail(`bad memo key ${String(k)}`);
    return k;
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyCallable)) throw fail('REDUCE on a value that is not callable');
    if (!(args instanceof PyTuple)) throw fail(`${fn.qualname}: arguments are not a tuple`);
    return fn.call(args.items);
  };
  const setItems = (d: PyValue, items: PyValue[]) => {
    if (!(d instanceof PyDict)) throw fail('SETITEM(S) on a value that is not a dict');
    if (items.length % 2) throw fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k !== null && typeof k === 'object') throw fail('unsupported dict key type');
      d.map.set(k as PyKey, items[i + 1]);
    }
  };
  const append = (l: PyValue, items: PyValue[]) => {
    if (!Array.isArray(l)) throw fail('APPEND(S) on a value that is not a list');
    for (const item of items) l.push(item); // not push(...items): a long run would overflow the call stack
  };

  for (;;) {
    const opAt = p;
    const op = u8();
    if (hooks.plainData && NOT_PLAIN.has(op)) {
      const name = NOT_PLAIN.get(op) as string;
      p = opAt;
      if (op === 0x63) {
        // name the global in the message; nothing is looked up
        p = opAt + 1;
        const module = line();
        const global = line();
        p = opAt;
        throw fail(`GLOBAL ${module.slice(0, 80)}.${global.slice(0, 80)} refused: this file may hold only plain data (lists, dicts, strings, numbers)`);
      }
      throw fail(`${name} refused: this file may hold only plain data (lists, dicts, strings, numbers)`);
    }
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        u64();
        break; // FRAME: frames are only a buffering hint
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x28:
        marks.push(stack.length);
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        stack.push(new PyDict());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x8f:
        stack.push([]);
        break; // EMPTY_SET (as a list)
      case 0x58:
        stack.push(bytes(u32()).toString('utf8'));
        break; // BINUNICODE
      case 0x8c:
        stack.push(bytes(u8()).toString('utf8'));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(bytes(u64()).toString('utf8'));
        break; // BINUNICODE8
      case 0x54:
        stack.push(bytes(i32()).toString('latin1'));
        break; // BINSTRING
      case 0x55:
        stack.push(bytes(u8()).toString('latin1'));
        break; // SHORT_BINSTRING
      case 0x42:
        stack.push(Uint8Array.from(bytes(u32())));
        break; // BINBYTES
      case 0x43:
        stack.push(Uint8Array.from(bytes(u8())));
        break; // SHORT_BINBYTES
      case 0x8e:
      case 0x96:
        stack.push(Uint8Array.from(bytes(u64())));
        break; // BINBYTES8, BYTEARRAY8
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(signedLE(bytes(u8())));
        break; // LONG1
      case 0x8b:
        stack.push(signedLE(bytes(i32())));
        break; // LONG4
      case 0x49: {
        // INT (text)
        const s = line();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else stack.push(decimal(s, 'INT'));
        break;
      }
      case 0x4c:
        stack.push(decimal(line(), 'LONG'));
        break; // LONG (text)
      case 0x47: {
        need(8);
        stack.push(buf.readDoubleBE(p));
        p += 8;
        break;
      } // BINFLOAT
      case 0x46: {
        // FLOAT (text): what Python's float() reads in a pickle (repr of a float)
        const s = line().trim();
        let v: number;
        if (/^[+-]?inf(inity)?$/i.test(s)) v = s.startsWith('-') ? -Infinity : Infinity;
        else if (/^[+-]?nan$/i.test(s)) v = NaN;
        else if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) v = Number(s);
        else throw fail(`bad FLOAT literal ${JSON.stringify(s.slice(0, 40))}`);
        stack.push(v);
        break;
      }
      case 0x53: {
        // STRING (text): a quoted repr, as Python 2's protocol 0 writes a str
        const s = line().trimEnd();
        const q = s[0];
        if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw fail('STRING literal not quoted');
        stack.push(escapeDecode(s.slice(1, -1), fail));
        break;
      }
      case 0x56:
        stack.push(rawUnicodeDecode(line(), fail));
        break; // UNICODE (text, raw-unicode-escape)
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x74:
        stack.push(new PyTuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x64: {
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      } // DICT
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x70:
        memo.set(memoKey(line()), top());
        break; // PUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a:
      case 0x67: {
        // BINGET, LONG_BINGET, GET
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : memoKey(line());
        if (!memo.has(k)) throw fail(`memo key ${k} missing`);
        stack.push(memo.get(k) as PyValue);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(hooks.findClass(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(hooks.findClass(module, name));
        break;
      }
      case 0x51:
        stack.push(hooks.persistentLoad(pop()));
        break; // BINPERSID
      case 0x50:
        stack.push(hooks.persistentLoad(line()));
        break; // PERSID
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      } // NEWOBJ
      case 0x62: {
        // BUILD: set state; only dicts and opaque objects receive it (ignored)
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.state = state;
        else if (obj === null || typeof obj !== 'object') throw fail('BUILD on a plain value');
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x61: {
        const v = pop();
        append(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      } // APPENDS
      case 0x90: {
        const items = popMark();
        append(top(), items);
        break;
      } // ADDITEMS (set)
      case 0x91:
        stack.push(popMark());
        break; // FROZENSET (as a list)
      case 0x30: {
        // POP
        if (stack.length === 0) throw fail('stack underflow');
        if (stack.pop() === MARK) marks.pop();
        break;
      }
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      default:
        p = opAt;
        throw fail(`unknown or unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
