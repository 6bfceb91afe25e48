/**
 * Shared scanner for the numeric literals GroundingGPT writes into its answers (SPEC §6): boxes
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
const LEADING = new RegExp(`^[\\s${EDGE_PUNCT}]+`);
const TRAILING = new RegExp(`[\\s${EDGE_PUNCT}]+$`);
const CONNECTOR = /^(?:and|or|but)\s+/i;
const PREPOSITION = /\s+(?:at|in|on|from|during|between|within|around|by|of|to|for)$/i;

/** Trims a raw piece to a phrase; returns [start, end) within the piece, or undefined. */
function trimPhrase(piece: string, stripPreposition: boolean): [number, number] | undefined {
  if (!WORD.test(piece)) return undefined;
  let s = 0;
  let e = piece.length;
  for (;;) {
    const before = [s, e].join();
    const lead = LEADING.exec(piece.slice(s, e));
    if (lead) s += lead[0].length;
    const trail = TRAILING.exec(piece.slice(s, e));
    if (trail) e -= trail[0].length;
    const conn = CONNECTOR.exec(piece.slice(s, e));
    if (conn && WORD.test(piece.slice(s + conn[0].length, e))) s += conn[0].length;
    const prep = stripPreposition ? PREPOSITION.exec(piece.slice(s, e)) : null;
    if (prep && WORD.test(piece.slice(s, e - prep[0].length))) e -= prep[0].length;
    if ([s, e].join() === before) break;
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
  let answer = '';
  const kept: { rawStart: number; ansStart: number }[] = [];
  let pos = 0;
  const append = (a: number, b: number, afterLiteral: boolean) => {
    let piece = text.slice(a, b);
    let skip = 0;
    if (a === 0 && found.length > 0) {
      skip = /^[ \t]*/.exec(piece)![0].length;
      piece = piece.slice(skip);
    }
    if (afterLiteral) {
      // Leading spaces of the piece collapse with the answer's trailing ones.
      const lead = /^[ \t]*/.exec(piece)![0].length;
      const hadSpace = lead > 0 || /[ \t]$/.test(answer);
      answer = answer.replace(/[ \t]+$/, '');
      piece = piece.slice(lead);
      skip = lead;
      // `( [..] )` -> nothing.
      if (/\($/.test(answer) && /^\)/.test(piece)) {
        answer = answer.slice(0, -1).replace(/[ \t]+$/, '');
        piece = piece.slice(1);
        skip += 1;
        const lead2 = /^[ \t]*/.exec(piece)![0].length;
        piece = piece.slice(lead2);
        skip += lead2;
      }
      if (answer.length > 0 && piece.length > 0 && !/^[,.;:!?)\]}\n]/.test(piece) && !/\n$/.test(answer)) {
        if (hadSpace || (WORD.test(answer[answer.length - 1]) && WORD.test(piece[0]))) answer += ' ';
      }
    }
    kept.push({ rawStart: a + skip, ansStart: answer.length });
    answer += piece;
  };
  for (const f of found) {
    append(pos, f.start, pos > 0);
    pos = f.end;
  }
  append(pos, text.length, found.length > 0);
  if (found.length > 0) answer = answer.replace(/[ \t]+$/, '');

  const toAnswer = (rawPos: number): number => {
    let k = kept.length - 1;
    while (k > 0 && kept[k].rawStart > rawPos) k--;
    return kept[k].ansStart + (rawPos - kept[k].rawStart);
  };

  const literals: ScannedLiteral[] = [];
  let prevEnd = 0;
  groups.forEach((g, gi) => {
    const first = g[0];
    const last = g[g.length - 1];
    // prevEnd: end of the literal (valid or malformed) just before this group.
    prevEnd = 0;
    for (const f of found) if (f.end <= first.start) prevEnd = Math.max(prevEnd, f.end);
    const next = found.find((f) => f.start >= last.end);
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
