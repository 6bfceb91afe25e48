// Image decoding (docs/COMPUTATION.md §2.1): every input form, EXIF orientation, alpha, greyscale, CMYK, 16-bit,
// the golden images (decode + Pillow-reference resize == golden resized_u8), and bad inputs.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage, paddedSquare, DEFAULT_LIMIT_INPUT_PIXELS } from '../src/media/image';
import { InvalidInputError } from '../src/errors';
import { goldenCase, mediaDir, readExpected, tempDir } from './helpers/golden';
import { makePng, pngBombHeader } from './helpers/media';
import { native } from '../src/native';

const dog = path.join(mediaDir, 'dog_image.jpg');
const test1 = path.join(mediaDir, 'test-1.jpeg');
const tmp = tempDir('ggpt-image-');
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('golden images: size, padding geometry, and Pillow-exact resize of the decoded pixels', async (t) => {
  for (const [file, id, npy] of [
    [dog, 'image/dog_image', 'image_dog_image_resized_u8.npy'],
    [test1, 'image/test1_jpeg', 'image_test1_jpeg_resized_u8.npy'],
  ]) {
    const c = goldenCase(id);
    const img = await decodeImage(file);
    t.same([img.width, img.height], c.original_size_wh, `${id} size`);
    t.equal(img.data.length, img.width * img.height * 3);
    const sq = paddedSquare(img.width, img.height);
    t.same([sq.side, sq.side], c.padded_size_wh);
    t.same([sq.offsetX, sq.offsetY], c.paste_offset_xy);
    t.equal(img.source.kind, 'path');
    t.equal(img.source.format, 'jpeg');
    // decodeImage + the core's Pillow-exact pad and resize must give the golden bytes exactly:
    // this checks that decodeImage's JPEG decode equals Pillow's for these files.
    const { resized } = native().imagePreprocess(img.data, img.width, img.height, img.width * 3);
    const golden = readExpected(npy).data as Uint8Array;
    let diff = 0;
    for (let i = 0; i < golden.length; i++) if (resized[i] !== golden[i]) diff++;
    t.equal(diff, 0, `${id}: resized_u8 bytes differing from golden`);
  }
});

t.test('every input form gives the same pixels', async (t) => {
  const ref = await decodeImage(test1);
  const fromBuffer = await decodeImage(fs.readFileSync(test1));
  t.equal(fromBuffer.source.kind, 'buffer');
  t.ok(Buffer.from(fromBuffer.data).equals(Buffer.from(ref.data)));
  const fromU8 = await decodeImage(new Uint8Array(fs.readFileSync(test1)));
  t.ok(Buffer.from(fromU8.data).equals(Buffer.from(ref.data)));
  const fromSharp = await decodeImage(sharp(test1));
  t.equal(fromSharp.source.kind, 'sharp');
  t.ok(Buffer.from(fromSharp.data).equals(Buffer.from(ref.data)));
  // A sharp instance is rendered as configured (here resized), and stays reusable.
  const inst = sharp(test1).resize(64, 32, { fit: 'fill' });
  const small = await decodeImage(inst);
  t.same([small.width, small.height], [64, 32]);
  t.same((await inst.metadata()).width, 640);
  const raw3 = await decodeImage({ data: ref.data, width: ref.width, height: ref.height, channels: 3 });
  t.equal(raw3.source.kind, 'raw');
  t.ok(Buffer.from(raw3.data).equals(Buffer.from(ref.data)));
});

t.test('raw pixels: 1..4 channels, Uint8ClampedArray', async (t) => {
  const w = 3;
  const h = 2;
  const g = await decodeImage({ data: Uint8Array.from([0, 10, 20, 30, 40, 250]), width: w, height: h, channels: 1 });
  t.same([...g.data], [0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 250, 250, 250]);
  const ga = await decodeImage({ data: Uint8Array.from([5, 0, 6, 255, 7, 9, 8, 1, 9, 2, 10, 3]), width: w, height: h, channels: 2 });
  t.same([...ga.data], [5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10]);
  t.equal(ga.source.alphaDropped, true);
  const rgba = new Uint8ClampedArray(w * h * 4).map((_, i) => i);
  const r4 = await decodeImage({ data: rgba, width: w, height: h, channels: 4 });
  t.same([...r4.data], [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20, 21, 22]);
  const clamped3 = new Uint8ClampedArray(w * h * 3).map((_, i) => 200 - i);
  const r3 = await decodeImage({ data: clamped3, width: w, height: h, channels: 3 });
  t.ok(r3.data instanceof Uint8Array);
  t.same([...r3.data], [...clamped3]);
});

t.test('EXIF orientation is applied (orientation 6: rotate 90 degrees clockwise)', async (t) => {
  // 40x20 stored: left half red, right half blue. Displayed (rotated 90 cw): 20x40, top red.
  const px = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) px.set(x < 20 ? [230, 20, 20] : [20, 20, 230], (y * 40 + x) * 3);
  const jpeg = await sharp(px, { raw: { width: 40, height: 20, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const img = await decodeImage(jpeg);
  t.same([img.width, img.height], [20, 40]);
  t.equal(img.source.orientation, 6);
  t.same([img.source.storedWidth, img.source.storedHeight], [40, 20]);
  const at = (x: number, y: number) => [...img.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3)];
  const top = at(10, 5);
  const bottom = at(10, 34);
  t.ok(top[0] > 180 && top[2] < 70, `top is red: ${top}`);
  t.ok(bottom[2] > 180 && bottom[0] < 70, `bottom is blue: ${bottom}`);
  // A sharp instance of the same file is oriented too.
  const viaSharp = await decodeImage(sharp(jpeg));
  t.same([viaSharp.width, viaSharp.height], [20, 40]);
});

t.test('RGBA PNG: alpha dropped without compositing (like Pillow convert("RGB"))', async (t) => {
  const png = makePng(2, 1, 4, 8, [10, 20, 30, 0, 40, 50, 60, 128]);
  const img = await decodeImage(png);
  t.same([...img.data], [10, 20, 30, 40, 50, 60]);
  t.equal(img.source.alphaDropped, true);
  t.equal(img.source.channels, 4);
  const la = makePng(2, 1, 2, 8, [77, 0, 200, 255]);
  t.same([...(await decodeImage(la)).data], [77, 77, 77, 200, 200, 200]);
});

t.test('greyscale PNG and JPEG are replicated to RGB', async (t) => {
  const png = makePng(3, 1, 1, 8, [0, 128, 255]);
  const img = await decodeImage(png);
  t.same([...img.data], [0, 0, 0, 128, 128, 128, 255, 255, 255]);
  t.equal(img.source.space, 'b-w');
  const jpeg = await sharp(Buffer.alloc(16 * 16, 90), { raw: { width: 16, height: 16, channels: 1 } })
    .jpeg()
    .toBuffer();
  const j = await decodeImage(jpeg);
  t.equal(j.data.length, 16 * 16 * 3);
  t.ok(
    j.data.every((v, i) => v === j.data[i - (i % 3)]),
    'R = G = B',
  );
  t.ok(Math.abs(j.data[0] - 90) <= 2);
});

t.test('CMYK JPEG is converted to sRGB', async (t) => {
  const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 40 } } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  t.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const img = await decodeImage(cmyk);
  t.equal(img.source.space, 'cmyk');
  t.equal(img.data.length, 8 * 8 * 3);
  const [r, g, b] = img.data;
  t.ok(r > 170 && g < 60 && b < 70, `red stays red: ${[r, g, b]}`);
});

t.test('16-bit PNG is reduced to 8 bits (v >> 8), grey and RGB', async (t) => {
  const v = [0, 65535, 257, 1000, 2000, 30000, 128, 32896, 65280, 255, 511, 40000];
  const rgb = await decodeImage(makePng(4, 1, 3, 16, v));
  t.equal(rgb.source.depth, 'ushort');
  t.same(
    [...rgb.data],
    v.map((x) => x >> 8),
  );
  const g = [0, 65535, 1000, 40000];
  const grey = await decodeImage(makePng(4, 1, 1, 16, g));
  t.same(
    [...grey.data],
    g.flatMap((x) => [x >> 8, x >> 8, x >> 8]),
  );
});

t.test('padded square geometry', async (t) => {
  t.same(paddedSquare(640, 488), { side: 640, offsetX: 0, offsetY: 76 });
  t.same(paddedSquare(640, 848), { side: 848, offsetX: 104, offsetY: 0 });
  t.same(paddedSquare(101, 50), { side: 101, offsetX: 0, offsetY: 25 });
  t.same(paddedSquare(7, 10), { side: 10, offsetX: 1, offsetY: 0 });
  t.same(paddedSquare(5, 5), { side: 5, offsetX: 0, offsetY: 0 });
  t.throws(() => paddedSquare(0, 5), InvalidInputError);
});

t.test('bad inputs raise InvalidInputError with a clear message', async (t) => {
  const jpg = fs.readFileSync(dog);
  const png = await sharp(jpg).png().toBuffer();
  const empty = path.join(tmp, 'empty.png');
  fs.writeFileSync(empty, '');
  const text = path.join(tmp, 'notes.png');
  fs.writeFileSync(text, 'this is not a picture at all');
  const cases: [string, unknown, RegExp, object?][] = [
    ['truncated JPEG', jpg.subarray(0, jpg.length >> 1), /Cannot decode image buffer: .*premature end/],
    ['JPEG without its last bytes', jpg.subarray(0, jpg.length - 2), /Cannot decode image buffer/],
    ['truncated PNG', png.subarray(0, png.length >> 1), /Cannot decode image buffer/],
    ['garbage bytes', Buffer.from('hello, not an image'), /unsupported or unrecognised image format/],
    ['text file with an image name', text, /Cannot decode image file .*notes\.png: unsupported or unrecognised image format/],
    ['empty buffer', Buffer.alloc(0), /Image buffer is empty/],
    ['empty file', empty, /Image file is empty \(0 bytes\)/],
    ['missing file', path.join(tmp, 'nope.jpg'), /Image file not found: .*nope\.jpg/],
    ['directory', tmp, /Image path is not a file/],
    ['empty path', '', /Expected a file path/],
    ['number', 42, /Expected a file path, Buffer\/Uint8Array, sharp instance or raw .* but received 42 of type number/],
    ['null', null, /but received null/],
    ['raw: zero width', { data: new Uint8Array(0), width: 0, height: 2, channels: 3 }, /Expected a positive integer for image.width but received 0/],
    [
      'raw: channels 5',
      { data: new Uint8Array(20), width: 2, height: 2, channels: 5 },
      /Expected 1 \(grey\), 2 \(grey \+ alpha\), 3 \(RGB\) or 4 \(RGBA\) for image.channels but received 5/,
    ],
    ['raw: channels missing', { data: new Uint8Array(12), width: 2, height: 2 }, /image.channels but received undefined/],
    [
      'raw: length mismatch',
      { data: new Uint8Array(10), width: 2, height: 2, channels: 3 },
      /Expected 12 bytes \(2 x 2 x 3 channels\) in image.data but received 10/,
    ],
    ['raw: data not bytes', { data: [1, 2, 3], width: 1, height: 1, channels: 3 }, /Expected a Uint8Array .* for image.data but received an array of 3/],
    ['raw: float data', { data: new Float32Array(3), width: 1, height: 1, channels: 3 }, /for image.data but received Float32Array\(12 bytes\)/],
    [
      'raw: over the pixel limit',
      { data: new Uint8Array(300), width: 10, height: 10, channels: 3 },
      /10x10 = 100 pixels, above the limit of 50/,
      { limitInputPixels: 50 },
    ],
    ['file over the pixel limit', dog, /640x848 = 542720 pixels, above the limit of 100000 \(limitInputPixels/, { limitInputPixels: 100000 }],
    ['bad limit option', dog, /Expected a positive integer or false for limitInputPixels but received -1/, { limitInputPixels: -1 }],
    ['bad options', dog, /Expected an object for options/, 'fast' as never],
  ];
  for (const [name, input, re, opts] of cases) {
    const err = await decodeImage(input as never, opts as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof InvalidInputError, `${name}: InvalidInputError`);
    t.match((err as Error | undefined)?.message, re, name);
  }
});

t.test('decompression bomb: a tiny file declaring 30000x30000 is refused from its header', async (t) => {
  const bomb = pngBombHeader(30000, 30000);
  t.ok(bomb.length < 2000);
  t.ok(30000 * 30000 > DEFAULT_LIMIT_INPUT_PIXELS);
  await t.rejects(decodeImage(bomb), /30000x30000 = 900000000 pixels, above the limit of 268402689/);
  // With the guard off, libvips tries to decode and fails on the bogus data: still typed.
  await t.rejects(decodeImage(bomb, { limitInputPixels: false }), InvalidInputError);
});

t.test('a sharp instance that fails is reported as InvalidInputError', async (t) => {
  await t.rejects(decodeImage(sharp(Buffer.from('nope'))), /Cannot decode sharp instance/);
});
