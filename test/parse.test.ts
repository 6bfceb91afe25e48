// Box and span parsing (docs/COMPUTATION.md §6) on hand-written answers, with hand-computed pixel mappings.
import t from 'tap';
import { parseBoxes, squareToImage } from '../src/parse/boxes';
import { parseSpans } from '../src/parse/spans';
import { InvalidInputError } from '../src/errors';

const close = (t: { ok(v: unknown, msg: string): unknown }, a: number, b: number, msg?: string) => t.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} ~ ${b}`);

t.test('one box after a phrase, mapped on a landscape image (640x488: S=640, offset y = 76)', async (t) => {
  const r = parseBoxes('The dog[0.25, 0.5, 0.75, 0.9] is happy.', { width: 640, height: 488 });
  t.equal(r.answer, 'The dog is happy.');
  t.equal(r.boxes.length, 1);
  const b = r.boxes[0];
  t.equal(b.phrase, 'The dog');
  t.same(b.phraseRange, [0, 7]);
  t.equal(r.answer.slice(...b.phraseRange!), 'The dog');
  // x = 0.25*640 - 0 = 160, 0.75*640 = 480; y = 0.5*640 - 76 = 244, 0.9*640 - 76 = 500 -> clamped to 488
  close(t, b.box.x1, 160);
  close(t, b.box.x2, 480);
  close(t, b.box.y1, 244);
  t.equal(b.box.y2, 488);
  t.same(b.flags, ['padding']);
  close(t, b.normalized.x1, 0.25);
  close(t, b.normalized.y1, 0.5);
  t.equal(b.normalized.y2, 1);
  t.same(b.square, { x1: 0.25, y1: 0.5, x2: 0.75, y2: 0.9 });
  t.equal(b.index, 0);
  t.equal(b.literal, '[0.25, 0.5, 0.75, 0.9]');
});

t.test('portrait image (640x848: S=848, offset x = 104)', async (t) => {
  const r = parseBoxes('a dog [0.5,0.25,0.75,1.0]', { width: 640, height: 848 });
  const b = r.boxes[0];
  // x1 = 0.5*848 - 104 = 320, x2 = 0.75*848 - 104 = 532, y1 = 0.25*848 = 212, y2 = 848
  close(t, b.box.x1, 320);
  close(t, b.box.x2, 532);
  close(t, b.box.y1, 212);
  close(t, b.box.y2, 848);
  t.equal(b.flags, undefined);
  close(t, b.normalized.x1, 0.5);
  close(t, b.normalized.x2, 532 / 640);
  t.equal(r.answer, 'a dog');
});

t.test('odd padding: the offset is the integer floor', async (t) => {
  // 101x50: S = 101, offset y = (101-50)//2 = 25 (not 25.5)
  let b = parseBoxes('x [0, 0.5, 1, 0.75]', { width: 101, height: 50 }).boxes[0];
  close(t, b.box.y1, 0.5 * 101 - 25); // 25.5
  t.equal(b.box.y2, 50); // 75.75 - 25 = 50.75 -> clamped
  t.equal(b.box.x2, 101);
  t.same(b.flags, ['padding']);
  // 51x100: offset x = (100-51)//2 = 24
  b = parseBoxes('y [0.5, 0.1, 0.6, 0.2]', { width: 51, height: 100 }).boxes[0];
  close(t, b.box.x1, 50 - 24);
  close(t, b.box.x2, 60 - 24);
  close(t, b.box.y1, 10);
  close(t, b.box.y2, 20);
  // 3x2: S = 3, offset y = 0 (floor of 0.5)
  const sq = squareToImage({ x1: 0, y1: 0, x2: 1, y2: 2 / 3 }, { width: 3, height: 2 });
  t.same(sq.box, { x1: 0, y1: 0, x2: 3, y2: 2 });
  t.same(sq.flags, []);
});

t.test('a box entirely in the padding is empty', async (t) => {
  // 100x50: offset y = 25; y in [0, 0.2] -> [-25, -5] -> [0, 0]
  const b = parseBoxes('sky [0.1, 0.0, 0.9, 0.2]', { width: 100, height: 50 }).boxes[0];
  t.same(b.flags, ['padding', 'empty']);
  t.equal(b.box.y1, 0);
  t.equal(b.box.y2, 0);
});

t.test('several boxes per phrase back to back share the phrase and a group', async (t) => {
  const r = parseBoxes('Two cats[0.1,0.1,0.3,0.3][0.5,0.5,0.7,0.7] and a dog [0.2, 0.2, 0.4, 0.4] [0.6,0.6,0.8,0.8].', { width: 100, height: 100 });
  t.equal(r.answer, 'Two cats and a dog.');
  t.same(
    r.boxes.map((b) => b.phrase),
    ['Two cats', 'Two cats', 'a dog', 'a dog'],
  );
  t.same(
    r.boxes.map((b) => b.group),
    [0, 0, 1, 1],
  );
  t.same(
    r.boxes.map((b) => b.index),
    [0, 1, 2, 3],
  );
  t.equal(r.answer.slice(...r.boxes[2].phraseRange!), 'a dog');
  close(t, r.boxes[1].box.x1, 50);
});

t.test('spacing is tolerated and repaired', async (t) => {
  const cases: [string, string, string[]][] = [
    ['A man[0.1,0.2,0.3,0.4]rides a horse [ 0.5 , 0.5 , 0.9 , 0.9 ] .', 'A man rides a horse.', ['A man', 'rides a horse']],
    ['A man  [0.1, 0.2, 0.3, 0.4]  stands.', 'A man stands.', ['A man']],
    ['[0.1, 0.2, 0.3, 0.4]', '', ['']],
    ['  [0.1, 0.2, 0.3, 0.4] is a cup.', 'is a cup.', ['is a cup']],
    ['a lamp ([0.1, 0.2, 0.3, 0.4]) on the desk', 'a lamp on the desk', ['a lamp']],
    ['the cat: [0.1, 0.2, 0.3, 0.4], sitting', 'the cat:, sitting', ['the cat']],
    ['There is a red car.\n[0.1 0.2 0.3 0.4]', 'There is a red car.\n', ['There is a red car']],
    ['x1 [.1,.2,.3,.4]', 'x1', ['x1']],
    ['dog [1e-1, 2e-1, 3E-1, 0.4]!', 'dog!', ['dog']],
  ];
  for (const [text, answer, phrases] of cases) {
    const r = parseBoxes(text, { width: 10, height: 10 });
    t.equal(r.answer, answer, JSON.stringify(text));
    t.same(
      r.boxes.map((b) => b.phrase),
      phrases,
      `phrases of ${JSON.stringify(text)}`,
    );
    t.equal(r.malformed.length, 0);
  }
  const b = parseBoxes('dog [1e-1, 2e-1, 3E-1, 0.4]!', { width: 10, height: 10 }).boxes[0];
  t.same(b.square, { x1: 0.1, y1: 0.2, x2: 0.3, y2: 0.4 });
});

t.test('phrase = last clause before the box, trimmed of connectors and prepositions', async (t) => {
  const r = parseBoxes(
    'In the picture, a woman holds an umbrella [0.1,0.1,0.5,0.9]; a boy stands next to her [0.5,0.2,0.7,0.9], and a bird sits on [0.8,0.1,0.9,0.2]. Done.',
    { width: 10, height: 10 },
  );
  t.same(
    r.boxes.map((b) => b.phrase),
    ['In the picture, a woman holds an umbrella', 'a boy stands next to her', 'a bird sits'],
  );
  t.equal(r.answer, 'In the picture, a woman holds an umbrella; a boy stands next to her, and a bird sits on. Done.');
  for (const b of r.boxes) t.equal(r.answer.slice(...b.phraseRange!), b.phrase);
  // A decimal point is no sentence boundary.
  t.equal(parseBoxes('It is 3.5 m tall [0,0,1,1]', { width: 2, height: 2 }).boxes[0].phrase, 'It is 3.5 m tall');
});

t.test('out-of-range values are clamped and swapped corners normalised, with flags', async (t) => {
  const r = parseBoxes('a [-0.1, 0.2, 1.3, 0.8] b [0.7, 0.9, 0.2, 0.1] c [1.2, 0.9, 0.2, -0.5]', { width: 100, height: 100 });
  t.same(r.boxes[0].square, { x1: 0, y1: 0.2, x2: 1, y2: 0.8 });
  t.same(r.boxes[0].flags, ['clamped']);
  t.same(r.boxes[1].square, { x1: 0.2, y1: 0.1, x2: 0.7, y2: 0.9 });
  t.same(r.boxes[1].flags, ['swapped']);
  t.same(r.boxes[2].square, { x1: 0.2, y1: 0, x2: 1, y2: 0.9 });
  t.same(r.boxes[2].flags, ['clamped', 'swapped']);
  t.same(
    r.boxes.map((b) => b.phrase),
    ['a', 'b', 'c'],
  );
});

t.test('malformed lists are skipped, reported, and removed from the answer', async (t) => {
  const r = parseBoxes('A [0.1, 0.2, 0.3] B [0.1,,0.2,0.3,0.4] C [0.1, 0.2, 0.3, 0.4] D [0.1, 0.2, 0.3, 0.4, 0.5] E [0.1, 0.2, 0.3, 0', {
    width: 10,
    height: 10,
  });
  t.equal(r.boxes.length, 1);
  t.equal(r.boxes[0].phrase, 'C');
  t.same(
    r.malformed.map((m) => [m.text, m.reason]),
    [
      ['[0.1, 0.2, 0.3]', '3 numbers instead of 4'],
      ['[0.1,,0.2,0.3,0.4]', 'empty item'],
      ['[0.1, 0.2, 0.3, 0.4, 0.5]', '5 numbers instead of 4'],
      ['[0.1, 0.2, 0.3, 0', 'unclosed'],
    ],
  );
  t.equal(r.malformed[0].offset, 2);
  t.equal(r.answer, 'A B C D E');
  // Non-numeric brackets are ordinary text; numbers with words are not a box either.
  const s = parseBoxes('See [1] and [sic] and [0.1, 0.2, apple, 0.4] and [].', { width: 10, height: 10 });
  t.equal(s.boxes.length, 0);
  t.same(
    s.malformed.map((m) => m.text),
    ['[1]'],
  );
  t.equal(s.answer, 'See and [sic] and [0.1, 0.2, apple, 0.4] and [].');
  // A malformed literal ends the phrase region of the next box.
  t.equal(parseBoxes('cat [0.1] dog [0,0,1,1]', { width: 2, height: 2 }).boxes[0].phrase, 'dog');
});

t.test('bad arguments', async (t) => {
  t.throws(() => parseBoxes(42 as unknown as string, { width: 1, height: 1 }), InvalidInputError);
  t.throws(() => parseBoxes('x', { width: 0, height: 1 }), /Expected a positive integer for size.width/);
  t.throws(() => parseBoxes('x', undefined as never), InvalidInputError);
  t.same(parseBoxes('no boxes here.', { width: 5, height: 5 }), { answer: 'no boxes here.', boxes: [], malformed: [] });
});

t.test('spans: seconds, phrase, answer', async (t) => {
  const r = parseSpans('The man opens the door {0.12, 0.45} and then leaves the room{0.5,0.98}.', 20);
  t.equal(r.answer, 'The man opens the door and then leaves the room.');
  t.equal(r.segments.length, 2);
  const [a, b] = r.segments;
  t.equal(a.phrase, 'The man opens the door');
  close(t, a.start, 0.12 * 20);
  close(t, a.end, 0.45 * 20);
  t.same(a.normalized, { start: 0.12, end: 0.45 });
  t.equal(b.phrase, 'then leaves the room');
  close(t, b.end, 19.6);
  t.equal(r.answer.slice(...b.phraseRange!), 'then leaves the room');
  t.equal(a.flags, undefined);
  t.equal(a.literal, '{0.12, 0.45}');
});

t.test('spans: trailing preposition dropped, span first, clamping and swapping', async (t) => {
  t.equal(parseSpans('It happens at {0.20, 0.40}.', 10).segments[0].phrase, 'It happens');
  t.equal(parseSpans('It happens between {0.20, 0.40}.', 10).segments[0].phrase, 'It happens');
  const first = parseSpans('{0.00, 0.25} the man walks in.', 8);
  t.equal(first.segments[0].phrase, 'the man walks in');
  t.equal(first.answer, 'the man walks in.');
  const c = parseSpans('x {-0.2, 1.5} y {0.8, 0.3} z {0.5,0.5}', 10).segments;
  t.same(c[0].normalized, { start: 0, end: 1 });
  t.same(c[0].flags, ['clamped']);
  t.same([c[1].start, c[1].end], [3, 8]);
  t.same(c[1].flags, ['swapped']);
  t.same(c[2].flags, ['empty']);
  t.same(
    c.map((s) => s.phrase),
    ['x', 'y', 'z'],
  );
});

t.test('spans: malformed and ordinary braces', async (t) => {
  const r = parseSpans('A {0.1} B {0.1, 0.2, 0.3} C {name} D {0.1, 0.2} E {0.5,', 10);
  t.equal(r.segments.length, 1);
  t.equal(r.segments[0].phrase, 'C {name} D'); // {name} is ordinary text
  t.same(
    r.malformed.map((m) => m.reason),
    ['1 numbers instead of 2', '3 numbers instead of 2', 'unclosed'],
  );
  t.equal(r.answer, 'A B C {name} D E');
  t.throws(() => parseSpans('x', 0), /Expected a positive number of seconds for duration/);
  t.throws(() => parseSpans('x', NaN), InvalidInputError);
});
