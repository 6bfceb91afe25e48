// Property-based fuzzing of the box and span parsers (src/parse/): arbitrary strings never throw
// and give consistent boxes, spans and flags; boxes and spans formatted as the model writes them
// parse back; wrong argument types give InvalidInputError. And the regression cases found:
// degenerate answers (long runs of spaces, prepositions, connectors, literals) parse in time
// linear in their length.
import t from 'tap';
import { parseBoxes } from '../src/parse/boxes';
import { parseSpans } from '../src/parse/spans';
import { fuzz } from './attack/fuzz-tap';

t.test('properties', async (t) => {
  for (const name of ['parse-any', 'parse-unicode', 'parse-roundtrip', 'parse-bad-args']) await fuzz(t, name);
});

t.test('regression: degenerate answers parse in linear time (they took seconds to minutes)', async (t) => {
  const box = '[0.1, 0.2, 0.3, 0.4]';
  const size = { width: 100, height: 50 };
  const n = 200_000;
  const cases: [string, string, (r: ReturnType<typeof parseBoxes>) => void][] = [
    // 40k spaces before a box took 27 s (a trailing-space regular expression backtracking)
    ['spaces before a box', `a${' '.repeat(n)}b ${box}`, (r) => t.equal(r.boxes[0].phrase, `a${' '.repeat(n)}b`)],
    ['prepositions', `dog${' at'.repeat(n / 3)} ${box}`, (r) => t.equal(r.boxes[0].phrase, 'dog')],
    ['edge punctuation', `dog${' ,'.repeat(n / 2)}x ${box}`, (r) => t.equal(r.boxes[0].phrase.length > 0, true)],
    ['connectors', `${'and '.repeat(n / 4)}x ${box}`, (r) => t.equal(r.boxes[0].phrase, 'x')],
    ['connectors and a long word', `${'and '.repeat(n / 8)}${'x'.repeat(n / 2)} ${box}`, (r) => t.equal(r.boxes[0].phrase, 'x'.repeat(n / 2))],
    ['many boxes', `dog ${box} `.repeat(n / 25), (r) => t.equal(r.boxes.length, n / 25)],
    ['many boxes back to back', '[1,1,1,1]'.repeat((n / 9) | 0), (r) => t.equal(r.boxes.length, (n / 9) | 0)],
    ['many malformed', '[1,2] a '.repeat(n / 8), (r) => t.equal(r.malformed.length, n / 8)],
  ];
  for (const [what, text, check] of cases) {
    const t0 = performance.now();
    const r = parseBoxes(text, size);
    const ms = performance.now() - t0;
    check(r);
    t.ok(ms < 5000, `${what}: ${text.length} characters in ${ms.toFixed(0)} ms`);
  }
  const t0 = performance.now();
  const s = parseSpans(`${' '.repeat(n)}x {0.1, 0.2} ${'{0.3,0.4} '.repeat(n / 10)}`, 10);
  t.equal(s.segments.length, n / 10 + 1);
  t.ok(performance.now() - t0 < 5000, `spans: ${(performance.now() - t0).toFixed(0)} ms`);
});

t.test('regression: phrases at the edges of the rules', async (t) => {
  // found while checking the faster phrase trimming against the former one on random text
  t.equal(parseBoxes('the 𝐀 [0.1,0.2,0.3,0.4]', { width: 9, height: 9 }).boxes[0].phrase, 'the 𝐀', 'an astral letter is a letter');
  t.equal(parseBoxes('and [0.1,0.2,0.3,0.4]', { width: 9, height: 9 }).boxes[0].phrase, 'and', 'a connector alone stays');
  t.equal(parseBoxes('x at [0.1,0.2,0.3,0.4]', { width: 9, height: 9 }).boxes[0].phrase, 'x');
  t.equal(parseBoxes('at [0.1,0.2,0.3,0.4]', { width: 9, height: 9 }).boxes[0].phrase, 'at', 'a preposition alone stays');
  t.equal(parseBoxes('the cat AT\u00a0 [0.1,0.2,0.3,0.4]', { width: 9, height: 9 }).boxes[0].phrase, 'the cat');
  t.equal(parseBoxes('( [0.1,0.2,0.3,0.4] ) dog', { width: 9, height: 9 }).answer, 'dog');
});
