// Drawing (--draw): boxes on the image, the video contact sheet, the waveform. Outputs exist, have
// the expected size, differ from the input where something was drawn, and no temp file is left.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { drawBoxes, drawVideoStrip, drawWaveform, svgText } from '../src/media/draw';
import { decodeImage } from '../src/media/image';
import { parseBoxes } from '../src/parse/boxes';
import { InvalidInputError } from '../src/errors';
import { mediaDir, tempDir } from './helpers/golden';

const dog = path.join(mediaDir, 'dog_image.jpg');

async function rgbOf(file: string) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

t.test('drawBoxes: PNG of the original size, box edges drawn, interior untouched, no temp files', async (t) => {
  const dir = tempDir('ggpt-draw-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const parsed = parseBoxes('A dog <b>&"\'[0.3, 0.2, 0.7, 0.8] on a sofa [0.0, 0.5, 1.0, 1.0].', { width: 640, height: 848 });
  const out = path.join(dir, 'boxes.png');
  const r = await drawBoxes(dog, parsed.boxes, out);
  t.same(r, { path: out, width: 640, height: 848 });
  t.same(fs.readdirSync(dir), ['boxes.png']);
  const meta = await sharp(out).metadata();
  t.same([meta.format, meta.width, meta.height], ['png', 640, 848]);
  const drawn = await rgbOf(out);
  const orig = await decodeImage(dog);
  const px = (d: Uint8Array, x: number, y: number) => [...d.subarray((y * 640 + x) * 3, (y * 640 + x) * 3 + 3)];
  const b = parsed.boxes[0].box;
  // On the left edge of the first box (mid-height) the pixel is the box colour; inside, unchanged.
  const ex = Math.round(b.x1);
  const ey = Math.round(b.y1 + (b.y2 - b.y1) / 3); // clear of the second box's top edge (y = 424)
  t.notSame(px(drawn.data, ex, ey), px(orig.data, ex, ey), 'edge pixel changed');
  t.same(px(drawn.data, ex, ey), [0xe6, 0x19, 0x4b], 'edge pixel has the first palette colour');
  const cx = Math.round((b.x1 + b.x2) / 2);
  t.same(px(drawn.data, cx, ey), px(orig.data, cx, ey), 'interior unchanged');
  // JPEG by extension; raw input; a label made only of markup characters renders.
  const jpg = path.join(dir, 'boxes.jpg');
  await drawBoxes(
    { data: orig.data, width: 640, height: 848, channels: 3 },
    [{ box: { x1: 10, y1: 10, x2: 100, y2: 100 }, phrase: '</svg><script>&amp;' }],
    jpg,
  );
  t.equal((await sharp(jpg).metadata()).format, 'jpeg');
  t.same(fs.readdirSync(dir).sort(), ['boxes.jpg', 'boxes.png']);
});

t.test('drawBoxes keeps the displayed orientation of an EXIF-rotated image', async (t) => {
  const dir = tempDir('ggpt-draw-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const jpeg = await sharp({ create: { width: 60, height: 30, channels: 3, background: '#808080' } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const out = path.join(dir, 'rot.png');
  const r = await drawBoxes(jpeg, [{ box: { x1: 2, y1: 2, x2: 20, y2: 50 } }], out);
  t.same([r.width, r.height], [30, 60]);
  const m = await sharp(out).metadata();
  t.same([m.width, m.height], [30, 60]);
});

t.test('drawBoxes: bad arguments leave no file', async (t) => {
  const dir = tempDir('ggpt-draw-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  await t.rejects(drawBoxes(dog, [], path.join(dir, 'x.gif')), /Cannot tell the picture format from .*x\.gif/);
  await t.rejects(drawBoxes(dog, [], path.join(dir, 'no', 'such', 'x.png')), /Output folder does not exist/);
  await t.rejects(drawBoxes(dog, [{ box: { x1: NaN, y1: 0, x2: 1, y2: 1 } }], path.join(dir, 'x.png')), /boxes\[0\]/);
  await t.rejects(drawBoxes(Buffer.from('not an image'), [], path.join(dir, 'x.png')), InvalidInputError);
  t.same(fs.readdirSync(dir), []);
});

t.test('drawVideoStrip: contact sheet with the span highlighted', async (t) => {
  const dir = tempDir('ggpt-draw-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const size = 32;
  const frames = Array.from({ length: 10 }, (_, i) => new Uint8Array(size * size * 3).fill(20 * i));
  const times = frames.map((_, i) => i);
  const out = path.join(dir, 'strip.png');
  const r = await drawVideoStrip({ frames, size, times }, [{ start: 2, end: 4.5, phrase: 'a <man> waves' }], 10, out, { columns: 5, thumb: 32 });
  const m = await sharp(out).metadata();
  t.same([m.width, m.height], [r.width, r.height]);
  t.same(fs.readdirSync(dir), ['strip.png']);
  const img = await rgbOf(out);
  const at = (x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  // Frame 3 (inside the span) has a border in the first palette colour just outside its thumbnail;
  // frame 6 (outside) has the background there.
  const cell = (i: number) => ({ left: 8 + (i % 5) * 40, top: 8 + Math.floor(i / 5) * 56 });
  const c3 = cell(3);
  const c6 = cell(6);
  t.same(at(c3.left - 2, c3.top + 16), [0xe6, 0x19, 0x4b]);
  t.same(at(c6.left - 2, c6.top + 16), [0x1e, 0x1e, 0x1e]);
  // The thumbnail itself is the frame.
  t.same(at(c6.left + 16, c6.top + 16), [120, 120, 120]);
  await t.rejects(drawVideoStrip({ frames, size, times: [1] }, [], 10, out), /Expected an array of 10 times/);
  await t.rejects(drawVideoStrip({ frames, size, times }, [], 0, out), /positive number of seconds for duration/);
});

t.test('drawWaveform: waveform with the clip windows', async (t) => {
  const dir = tempDir('ggpt-draw-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rate = 16000;
  const n = rate * 3;
  const ch = new Float32Array(n).map((_, i) => 0.8 * Math.sin((2 * Math.PI * 440 * i) / rate));
  const out = path.join(dir, 'wave.png');
  const r = await drawWaveform(
    [ch, ch.map((v) => v / 2)],
    rate,
    [
      { start: 0, end: 2 },
      { start: 1 / 3, end: 7 / 3 },
      { start: 2 / 3, end: 8 / 3 },
    ],
    out,
    { width: 600, channelHeight: 80 },
  );
  t.same([r.width, r.height], [600, 10 + 3 * 14 + 2 * 80 + 4 + 30]);
  const m = await sharp(out).metadata();
  t.same([m.width, m.height], [r.width, r.height]);
  t.same(fs.readdirSync(dir), ['wave.png']);
  const img = await rgbOf(out);
  // The first lane's centre line at x = 300 is inside the waveform polygon (blue-ish).
  const y = 10 + 3 * 14 + 40;
  const [R, G, B] = [...img.data.subarray((y * 600 + 300) * 3, (y * 600 + 300) * 3 + 3)];
  t.ok(B > R && B > G, `waveform colour at the centre: ${[R, G, B]}`);
  await t.rejects(drawWaveform([], rate, [], out), /Expected a non-empty array of Float32Array for channels/);
  await t.rejects(drawWaveform([ch], rate, [{ start: 0 } as never], out), /clips\[0\]/);
});

t.test('svgText escapes markup and drops control characters', async (t) => {
  t.equal(svgText('a<b>&"c\'\u0001d'), 'a&lt;b&gt;&amp;&quot;c&#39;d');
  t.equal(svgText('x'.repeat(70), 10), `${'x'.repeat(9)}…`);
});
