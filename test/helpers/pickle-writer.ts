// A small pickle writer for test fixtures: plain data the way Python 2's cPickle.dump writes it
// (the refer toolkit's refs(unc).p / refs(umd).p were written so), protocol 2 or protocol 0.
// Protocol 2: EMPTY_LIST/EMPTY_DICT + BINPUT, MARK ... APPENDS/SETITEMS in batches of 1000 (a
// single item with APPEND/SETITEM), str as SHORT_BINSTRING/BINSTRING, unicode as BINUNICODE,
// ints as BININT1/BININT2/BININT/LONG1, floats as BINFLOAT, a string met again as BINGET (cPickle
// memoises every str; equal identifiers are one interned object in Python). Protocol 0: the text
// opcodes (MARK LIST/DICT + PUT, APPEND/SETITEM, S'...', V..., I, F).

/** A Python 2 unicode string (a plain JS string is written as a Python 2 str). */
export class PyUnicode {
  constructor(readonly text: string) {}
}
/** A float whose value is an integer (3.0): JS numbers that are integers are written as ints. */
export class PyFloat {
  constructor(readonly value: number) {}
}
export type Plain = null | boolean | number | string | PyUnicode | PyFloat | Plain[] | { [k: string]: Plain };

export function pickleDump(value: Plain, protocol: 0 | 2 = 2): Buffer {
  const out: Buffer[] = [];
  const memo = new Map<string, number>();
  let next = 0;
  const op = (...bytes: number[]) => out.push(Buffer.from(bytes));
  const text = (s: string) => out.push(Buffer.from(s, 'latin1'));
  const put = () => {
    const i = next++;
    if (protocol === 0) text(`p${i}\n`);
    else if (i < 256) op(0x71, i);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x72;
      b.writeUInt32LE(i, 1);
      out.push(b);
    }
    return i;
  };
  const get = (i: number) => {
    if (protocol === 0) text(`g${i}\n`);
    else if (i < 256) op(0x68, i);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x6a;
      b.writeUInt32LE(i, 1);
      out.push(b);
    }
  };
  const reprStr = (s: string) => {
    // Python 2's repr of a str: single quotes unless the text has ' and no "
    const q = s.includes("'") && !s.includes('"') ? '"' : "'";
    let r = '';
    for (const ch of s) {
      const c = ch.charCodeAt(0);
      if (ch === '\\') r += '\\\\';
      else if (ch === q) r += `\\${q}`;
      else if (ch === '\n') r += '\\n';
      else if (ch === '\t') r += '\\t';
      else if (ch === '\r') r += '\\r';
      else if (c < 0x20 || c >= 0x7f) r += `\\x${c.toString(16).padStart(2, '0')}`;
      else r += ch;
    }
    return `${q}${r}${q}`;
  };
  const write = (v: Plain): void => {
    if (v === null) op(0x4e);
    else if (v === true || v === false) {
      if (protocol === 0) text(v ? 'I01\n' : 'I00\n');
      else op(v ? 0x88 : 0x89);
    } else if (v instanceof PyFloat || (typeof v === 'number' && !Number.isInteger(v))) {
      const x = v instanceof PyFloat ? v.value : v;
      if (protocol === 0) text(`F${Number.isInteger(x) ? x.toFixed(1) : String(x)}\n`);
      else {
        const b = Buffer.alloc(9);
        b[0] = 0x47;
        b.writeDoubleBE(x, 1);
        out.push(b);
      }
    } else if (typeof v === 'number') {
      if (protocol === 0) text(`I${v}\n`);
      else if (v >= 0 && v < 256) op(0x4b, v);
      else if (v >= 0 && v < 65536) op(0x4d, v & 0xff, v >> 8);
      else if (v >= -(2 ** 31) && v < 2 ** 31) {
        const b = Buffer.alloc(5);
        b[0] = 0x4a;
        b.writeInt32LE(v, 1);
        out.push(b);
      } else {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(v));
        op(0x8a, 8);
        out.push(b);
      }
    } else if (typeof v === 'string' || v instanceof PyUnicode) {
      const key = typeof v === 'string' ? `s${v}` : `u${v.text}`;
      const seen = memo.get(key);
      if (seen !== undefined) {
        get(seen);
        return;
      }
      if (typeof v === 'string') {
        const b = Buffer.from(v, 'latin1');
        if (protocol === 0) text(`S${reprStr(v)}\n`);
        else if (b.length < 256) {
          op(0x55, b.length);
          out.push(b);
        } else {
          const h = Buffer.alloc(5);
          h[0] = 0x54;
          h.writeInt32LE(b.length, 1);
          out.push(h, b);
        }
      } else if (protocol === 0) {
        // raw-unicode-escape, with \ and newline escaped as Python 2's pickle does
        let r = '';
        for (const ch of v.text) {
          const c = ch.codePointAt(0) as number;
          if (ch === '\\' || ch === '\n' || c > 0xff) r += c > 0xffff ? `\\U${c.toString(16).padStart(8, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
          else r += ch;
        }
        text(`V${r}\n`);
      } else {
        const b = Buffer.from(v.text, 'utf8');
        const h = Buffer.alloc(5);
        h[0] = 0x58;
        h.writeUInt32LE(b.length, 1);
        out.push(h, b);
      }
      memo.set(key, put());
    } else if (Array.isArray(v)) {
      if (protocol === 0) {
        text('(l');
        put();
        for (const x of v) {
          write(x);
          text('a');
        }
        return;
      }
      op(0x5d);
      put();
      for (let i = 0; i < v.length; i += 1000) {
        const batch = v.slice(i, i + 1000);
        if (batch.length === 1) {
          write(batch[0]);
          op(0x61);
        } else {
          op(0x28);
          for (const x of batch) write(x);
          op(0x65);
        }
      }
    } else {
      const entries = Object.entries(v);
      if (protocol === 0) {
        text('(d');
        put();
        for (const [k, x] of entries) {
          write(k);
          write(x);
          text('s');
        }
        return;
      }
      op(0x7d);
      put();
      for (let i = 0; i < entries.length; i += 1000) {
        const batch = entries.slice(i, i + 1000);
        if (batch.length === 1) {
          write(batch[0][0]);
          write(batch[0][1]);
          op(0x73);
        } else {
          op(0x28);
          for (const [k, x] of batch) {
            write(k);
            write(x);
          }
          op(0x75);
        }
      }
    }
  };
  if (protocol === 2) op(0x80, 2);
  write(value);
  text('.');
  return Buffer.concat(out);
}
