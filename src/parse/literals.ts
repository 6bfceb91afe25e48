/**
 * Shared scanner for the numeric literals GroundingGPT writes into its answers (docs/COMPUTATION.md §6): boxes
 * `[x1, y1, x2, y2]` and time spans `{s, e}`. It finds the literals, the phrase each one grounds,
 * and the answer text with the literals taken out.
 *
 * Literal syntax (tolerant): the bracket pair holds numbers (`0.5`, `.5`, `1`, `-0.1`, `1e-2`)
 * separated by a comma with any spaces around it, or by spaces alone; no newline inside. A
 * bracket pair whose content is only numbers and separators but has the wrong count, an empty
 * item (`[0.1,,0.2]`), or an unclosed pair at the very end of the text (a cut-off generation) is
 * *malformed*: it is removed from the answer and reported in `malformed`, and produces no item.
 * Bracket pairs holding anything else (`[sic]`, `{name}`) are ordinary text and stay.
 *
 * Phrase (what a literal grounds), precisely:
 * 1. Literals separated only by whitespace form a group (`[..][..]`, `[..] [..]`); every literal of
 *    a group gets the group's phrase.
 * 2. Take the text between the end of the previous literal (valid or malformed; the start of the
 *    text for the first) and the start of the group. Cut it at sentence boundaries: `.` `!` `?`
 *    followed by whitespace or the end (so `3.5` is no boundary), newlines, `;` and `:`.
 * 3. The phrase is the LAST piece that holds a letter or digit (so `the dog: [..]` gives
 *    `the dog`), trimmed of whitespace and of leading/trailing punctuation `,;:-–—"'()*`, then of
 *    a leading `and`/`or`/`but` and a trailing preposition
 *    (`at|in|on|from|during|between|within|around|by|of|to|for`, so `happens at {..}` gives
 *    `happens`).
 * 4. When no piece before the group has a letter or digit (`[..] is a dog`), the first piece
 *    after the group (up to the next literal or boundary) is used instead, trimmed the same way
 *    except for the trailing preposition (`{..} the man walks in.` gives `the man walks in`).
 * 5. Otherwise the phrase is '' (an answer that is only a box).
 *
 * Answer: the text with every literal (valid and malformed) removed; where one was removed, runs
 * of spaces collapse to one, a space before `,.;:!?)` goes, `( )` left empty goes, a space is
 * inserted between two words that would otherwise touch, and spaces at the start and end go. The
 * rest of the text (newlines, other spacing) is untouched.
 *
 * Cost: linear in the length of the text (no regular expression is run against a whole answer
 * where it could backtrack over long runs of spaces), so a degenerate generation of thousands of
 * spaces or literals is parsed as fast as a normal one. Any string is accepted
 * (test/fuzz-parse.test.ts).
 */

/** A literal that could not be read. */
export interface MalformedLiteral {
  /** The literal as written. */
  text: string;
  /** Offset in the original text. */
  offset: number;
  /** Why it was rejected. */
  reason: string;
}

/** A literal that was read. */
export interface ScannedLiteral {
  /** The numbers, as written (not clamped). */
  values: number[];
  /** The literal as written. */
  text: string;
  /** Offset of the literal in the original text. */
  offset: number;
  /** The phrase it grounds (see the module notes). */
  phrase: string;
  /** [start, end) of the phrase in the answer text, or undefined when the phrase is ''. */
  phraseRange?: [number, number];
  /** Index of its group (literals back to back share a group and a phrase). */
  group: number;
}

export interface ScanResult {
  answer: string;
  literals: ScannedLiteral[];
  malformed: MalformedLiteral[];
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

interface Found {
  start: number;
  end: number;
  text: string;
  values?: number[];
  reason?: string;
}

function readContent(content: string, arity: number): { values?: number[]; reason?: string } | undefined {
  const trimmed = content.trim();
  if (trimmed.length === 0) return undefined; // `[]`: ordinary text
  // Only digits, signs, dots, exponents, separators: a numeric literal (good or bad).
  if (!/^[0-9+\-.eE,\s]+$/.test(trimmed) || !/\d/.test(trimmed)) return undefined;
  const items = trimmed.split(/\s*,\s*|\s+/);
  if (items.some((s) => s.length === 0)) return { reason: 'empty item' };
  if (!items.every((s) => NUMBER.test(s))) return { reason: 'not a number' };
  if (items.length !== arity) return { reason: `${items.length} numbers instead of ${arity}` };
  const values = items.map(Number);
  if (!values.every(Number.isFinite)) return { reason: 'not a finite number' };
  return { values };
}

function findLiterals(text: string, open: string, close: string, arity: number): Found[] {
  const out: Found[] = [];
  const esc = (c: string) => `\\${c}`;
  const re = new RegExp(`${esc(open)}([^${esc(open)}${esc(close)}\\n]{0,200})${esc(close)}`, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const r = readContent(m[1], arity);
    if (!r) continue;
    out.push({ start: m.index, end: m.index + m[0].length, text: m[0], ...r });
  }
  // An unclosed literal at the very end (generation stopped inside it).
  const tail = new RegExp(`${esc(open)}[0-9+\\-.eE,\\s]*$`).exec(text);
  if (tail && /\d/.test(tail[0]) && !out.some((f) => f.end > tail.index)) {
    out.push({ start: tail.index, end: text.length, text: tail[0], reason: 'unclosed' });
  }
  return out;
}

const BOUNDARY = /[.!?](?=\s|$)|[\n;:]/g;
const WORD = /[\p{L}\p{N}]/u;
const EDGE_PUNCT = `,;:\\-–—"'()*`;
const EDGE = new RegExp(`[\\s${EDGE_PUNCT}]`);
const SPACE = /\s/;
const CONNECTOR = /(?:and|or|but)\s+/iy;
const PREPOSITIONS = new Set(['at', 'in', 'on', 'from', 'during', 'between', 'within', 'around', 'by', 'of', 'to', 'for']);
const LONGEST_PREPOSITION = Math.max(...[...PREPOSITIONS].map((w) => w.length));

/** Where the letters and digits of a piece start and end (code points: astral letters count). */
function wordSpans(piece: string): { starts: number[]; ends: number[] } {
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < piece.length; ) {
    const cp = piece.codePointAt(i) as number;
    const len = cp > 0xffff ? 2 : 1;
    if (WORD.test(String.fromCodePoint(cp))) {
      starts.push(i);
      ends.push(i + len);
    }
    i += len;
  }
  return { starts, ends };
}

/** Trims a raw piece to a phrase; returns [start, end) within the piece, or undefined. */
function trimPhrase(piece: string, stripPreposition: boolean): [number, number] | undefined {
  const words = wordSpans(piece);
  if (words.starts.length === 0) return undefined;
  /** Whether piece[from, to) holds a whole letter or digit. */
  const hasWord = (from: number, to: number): boolean => {
    let lo = 0;
    let hi = words.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (words.starts[mid] < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < words.starts.length && words.ends[lo] <= to;
  };
  let s = 0;
  let e = piece.length;
  // start of the last space-free run before e (cached: recomputed only when e moves)
  let tokenEnd = -1;
  let tokenStart = 0;
  for (;;) {
    const before = s * (piece.length + 1) + e;
    // edge punctuation and spaces, both ends
    while (s < e && EDGE.test(piece[s])) s++;
    while (e > s && EDGE.test(piece[e - 1])) e--;
    // a leading and/or/but (followed by spaces) when a word follows
    CONNECTOR.lastIndex = s;
    const conn = CONNECTOR.exec(piece);
    if (conn && s + conn[0].length <= e && hasWord(s + conn[0].length, e)) s += conn[0].length;
    // a trailing preposition (after spaces) when a word precedes
    if (stripPreposition && e > s) {
      if (tokenEnd !== e) {
        tokenEnd = e;
        tokenStart = e;
        while (tokenStart > s && !SPACE.test(piece[tokenStart - 1])) tokenStart--;
      }
      const k = Math.max(tokenStart, s);
      if (k > s && k < e && e - k <= LONGEST_PREPOSITION && PREPOSITIONS.has(piece.slice(k, e).toLowerCase())) {
        let j = k;
        while (j > s && SPACE.test(piece[j - 1])) j--;
        if (hasWord(s, j)) e = j;
      }
    }
    if (s * (piece.length + 1) + e === before) break;
  }
  return s < e ? [s, e] : undefined;
}

/** Pieces of text[from, to) between boundaries, as [start, end) offsets. */
function pieces(text: string, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  const region = text.slice(from, to);
  let last = 0;
  BOUNDARY.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BOUNDARY.exec(region)) !== null) {
    out.push([from + last, from + m.index]);
    last = m.index + m[0].length;
  }
  out.push([from + last, to]);
  return out;
}

/** The phrase of a group, as [start, end) in the original text. */
function phraseOf(text: string, prevEnd: number, groupStart: number, groupEnd: number, nextStart: number): [number, number] | undefined {
  const before = pieces(text, prevEnd, groupStart);
  for (let i = before.length - 1; i >= 0; i--) {
    const [a, b] = before[i];
    const t = trimPhrase(text.slice(a, b), true);
    if (t) return [a + t[0], a + t[1]];
  }
  const after = pieces(text, groupEnd, nextStart);
  const first = after[0];
  if (first) {
    const t = trimPhrase(text.slice(first[0], first[1]), false);
    if (t) return [first[0] + t[0], first[0] + t[1]];
  }
  return undefined;
}

const isSpaceTab = (c: string) => c === ' ' || c === '\t';

function leadingSpaceTab(s: string): number {
  let i = 0;
  while (i < s.length && isSpaceTab(s[i])) i++;
  return i;
}

/** A string built by appending, whose end can be trimmed, without copying the whole so far. */
class TextBuilder {
  private readonly parts: string[] = [];
  length = 0;
  push(s: string): void {
    if (s.length === 0) return;
    this.parts.push(s);
    this.length += s.length;
  }
  /** The last character ('' when empty). */
  last(): string {
    const p = this.parts[this.parts.length - 1];
    return p === undefined ? '' : p[p.length - 1];
  }
  dropLast(): void {
    const p = this.parts.pop();
    if (p === undefined) return;
    this.length -= 1;
    if (p.length > 1) this.parts.push(p.slice(0, -1));
  }
  trimEndSpaceTab(): void {
    while (isSpaceTab(this.last())) {
      const p = this.parts.pop() as string;
      let e = p.length;
      while (e > 0 && isSpaceTab(p[e - 1])) e--;
      this.length -= p.length - e;
      if (e > 0) this.parts.push(p.slice(0, e));
    }
  }
  toString(): string {
    return this.parts.join('');
  }
}

/**
 * Scans `text` for literals between `open` and `close` holding `arity` numbers.
 * @param open   '[' for boxes, '{' for spans.
 */
export function scanLiterals(text: string, open: '[' | '{', close: ']' | '}', arity: number): ScanResult {
  const found = findLiterals(text, open, close, arity);
  const malformed: MalformedLiteral[] = found
    .filter((f) => f.values === undefined)
    .map((f) => ({ text: f.text, offset: f.start, reason: f.reason ?? 'unreadable' }));

  // Groups of valid literals separated by whitespace only.
  const groups: Found[][] = [];
  for (let i = 0; i < found.length; i++) {
    const f = found[i];
    if (!f.values) continue;
    const g = groups[groups.length - 1];
    const prev = g?.[g.length - 1];
    if (prev && found[i - 1] === prev && /^\s*$/.test(text.slice(prev.end, f.start))) g.push(f);
    else groups.push([f]);
  }

  // Answer: the kept pieces between literals, joined with cleanup at each junction.
  const out = new TextBuilder();
  const kept: { rawStart: number; ansStart: number }[] = [];
  let pos = 0;
  const append = (a: number, b: number, afterLiteral: boolean) => {
    let piece = text.slice(a, b);
    let skip = 0;
    if (a === 0 && found.length > 0) {
      skip = leadingSpaceTab(piece);
      piece = piece.slice(skip);
    }
    if (afterLiteral) {
      // Leading spaces of the piece collapse with the answer's trailing ones.
      const lead = leadingSpaceTab(piece);
      const hadSpace = lead > 0 || isSpaceTab(out.last());
      out.trimEndSpaceTab();
      piece = piece.slice(lead);
      skip = lead;
      // `( [..] )` -> nothing.
      if (out.last() === '(' && piece.startsWith(')')) {
        out.dropLast();
        out.trimEndSpaceTab();
        piece = piece.slice(1);
        skip += 1;
        const lead2 = leadingSpaceTab(piece);
        piece = piece.slice(lead2);
        skip += lead2;
      }
      if (out.length > 0 && piece.length > 0 && !/^[,.;:!?)\]}\n]/.test(piece) && out.last() !== '\n') {
        if (hadSpace || (WORD.test(out.last()) && WORD.test(piece[0]))) out.push(' ');
      }
    }
    kept.push({ rawStart: a + skip, ansStart: out.length });
    out.push(piece);
  };
  for (const f of found) {
    append(pos, f.start, pos > 0);
    pos = f.end;
  }
  append(pos, text.length, found.length > 0);
  if (found.length > 0) out.trimEndSpaceTab();
  const answer = out.toString();

  /** Offset in the answer of an offset of the text (in a kept piece). */
  const toAnswer = (rawPos: number): number => {
    let lo = 0;
    let hi = kept.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (kept[mid].rawStart > rawPos) hi = mid - 1;
      else lo = mid;
    }
    return kept[lo].ansStart + (rawPos - kept[lo].rawStart);
  };

  const order = new Map(found.map((f, i) => [f, i]));
  const literals: ScannedLiteral[] = [];
  groups.forEach((g, gi) => {
    const first = g[0];
    const last = g[g.length - 1];
    // the literal (valid or malformed) just before this group, and the one just after it
    const i0 = order.get(first) as number;
    const prevEnd = i0 > 0 ? found[i0 - 1].end : 0;
    const next = found[(order.get(last) as number) + 1];
    const range = phraseOf(text, prevEnd, first.start, last.end, next ? next.start : text.length);
    const phrase = range ? text.slice(range[0], range[1]) : '';
    let phraseRange: [number, number] | undefined;
    if (range) {
      const s = toAnswer(range[0]);
      phraseRange = answer.slice(s, s + phrase.length) === phrase ? [s, s + phrase.length] : undefined;
      if (!phraseRange) {
        // Fallback (should not happen): search near the expected place.
        const i = answer.indexOf(phrase);
        if (i >= 0) phraseRange = [i, i + phrase.length];
      }
    }
    for (const f of g) {
      literals.push({ values: f.values!, text: f.text, offset: f.start, phrase, phraseRange, group: gi });
    }
  });
  return { answer, literals, malformed };
}
