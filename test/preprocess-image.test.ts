// docs/COMPUTATION.md §2 steps 2-4 in the core (native/src/preprocess/image.cpp): pad to the square with the
// CLIP-mean colour, Pillow-exact bicubic resize, normalisation — against the golden fixtures.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import sharp from 'sharp';
import { paddedSquare } from '../src/geometry';
import { native } from '../src/native';
import { allclose, goldenCase, mediaDir, readExpected } from './helpers/golden';

const addon = native();

async function decode(file: string) {
  // sharp 0.35 decodes with its bundled mozjpeg (libjpeg-turbo based: ISLOW IDCT, fancy
  // upsampling), Pillow with the system libjpeg-turbo. For both golden files (dog_image.jpg is
  // progressive, test-1.jpeg baseline with EXIF orientation 1) the decoded RGB was checked equal
  // byte for byte to Pillow 9.4 + libjpeg-turbo 2.1.5; the exact resized_u8 match below keeps
  // checking it.
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

// Reference: sha256 of Pillow 9.4's output for pattern(w, h) (made once by hand, Python is not
// used by the project):
//   im = Image.frombytes('RGB', (w, h), pattern); S = max(w, h)
//   bg = Image.new('RGB', (S, S), (122, 116, 104)); bg.paste(im, ((S - w) // 2, (S - h) // 2))
//   hashlib.sha256(bg.resize((336, 336), Image.BICUBIC).tobytes()).hexdigest()
function pattern(w: number, h: number): Uint8Array {
  // (x*31 + y*17 + c*101 + ((x*y) >> 3)) & 255
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = (x * 31 + y * 17 + c * 101 + Math.floor((x * y) / 8)) & 255;
    }
  }
  return rgb;
}
const pillowCases: [number, number, string][] = [
  [100, 60, 'bb4497a2568ccfa0bb711bcd893c6e46a06847812e9989222298d076df9ddf0c'], // upscale
  [3, 1000, '18f4c7254ef0e3e97198b8f45a1f3d33c45fb93f18f42afbcf6d65dfa994ff26'],
  [1000, 3, '2f3e4d9af1a902c9ba598f24ad9cce4921d53bc36db74eb5dd613168efd4332e'],
  [337, 200, 'db9dcd83cca18c4f1490f283537f29375588663135bfae7924f808dda5d34e88'],
  [1500, 1499, '1d43e6fa1a06b5ad3e78076e3c084a4d9f303d19f3a9c91414a550247fa27d91'],
  [2600, 900, 'c34ed38b1c0e3a9a82d93b053ecc4721ed4028cf1dc1b8b5f1a0e526ad8dc2b2'], // >= 2 Mpx: threads
];

for (const id of ['image/dog_image', 'image/test1_jpeg']) {
  t.test(`golden ${id}: resized_u8 exact, pixel_values, padding`, async (t) => {
    const c = goldenCase(id);
    const img = await decode(path.join(mediaDir, path.basename(c.input.path)));
    t.same([img.width, img.height], c.original_size_wh, 'decoded size');
    const r = addon.imagePreprocess(img.data, img.width, img.height, img.width * 3);

    t.same([r.geometry.side, r.geometry.side], c.padded_size_wh, 'padded side');
    t.same([r.geometry.offsetX, r.geometry.offsetY], c.paste_offset_xy, 'paste offset');

    const want = readExpected(c.outputs.resized_u8.file);
    t.same(want.shape, [336, 336, 3]);
    let mismatches = 0;
    for (let i = 0; i < want.data.length; i++) if (r.resized[i] !== want.data[i]) mismatches++;
    t.equal(mismatches, 0, 'resized_u8 equals Pillow byte for byte');

    const px = readExpected(c.outputs.pixel_values.file);
    t.same(px.shape, [1, 3, 336, 336]);
    const rep = allclose(r.pixels, px.data as Float32Array, c.outputs.pixel_values.atol, c.outputs.pixel_values.rtol ?? 0);
    t.ok(rep.ok, `pixel_values within ${c.outputs.pixel_values.atol} (max ${rep.maxAbs})`);
    t.equal(rep.maxAbs, 0, 'pixel_values bit-exact');
  });
}

t.test('synthetic images against Pillow: upscaling, thin strips, odd sizes, the threaded path', async (t) => {
  for (const [w, h, sha] of pillowCases) {
    const r = addon.imagePreprocess(pattern(w, h), w, h, w * 3);
    t.equal(createHash('sha256').update(r.resized).digest('hex'), sha, `${w}x${h}`);
  }
});

t.test('the scalar and SSE2 code paths give the same bytes (GGPT_PREPROCESS_SIMD caps the path)', async (t) => {
  // A child process per level: the level is read once per process. Level 2 (AVX2, where the
  // CPU has it) is what this process ran above.
  const script = `
    const { createHash } = require('node:crypto');
    // the addon this suite tests (GROUNDINGGPT_ADDON: the sanitized one under scripts/sanitize.sh)
    const addon = process.env.GROUNDINGGPT_ADDON ? require(process.env.GROUNDINGGPT_ADDON) : require('node-gyp-build')(process.cwd());
    const cases = JSON.parse(process.argv[1]);
    const pattern = ${pattern.toString()};
    const out = cases.map(([w, h]) => createHash('sha256').update(addon.imagePreprocess(pattern(w, h), w, h, w * 3).resized).digest('hex'));
    process.stdout.write(JSON.stringify(out));`;
  for (const level of ['0', '1']) {
    const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(pillowCases)], {
      cwd: path.resolve(__dirname, '..'),
      env: { ...process.env, GGPT_PREPROCESS_SIMD: level },
      encoding: 'utf8',
      timeout: 120_000,
    });
    t.equal(r.status, 0, r.stderr);
    t.same(
      JSON.parse(r.stdout || '[]'),
      pillowCases.map((c) => c[2]),
      `level ${level}`,
    );
  }
});

t.test('a stride wider than the row gives the same result', async (t) => {
  const c = goldenCase('image/test1_jpeg');
  const img = await decode(path.join(mediaDir, path.basename(c.input.path)));
  const stride = img.width * 3 + 7;
  const wide = new Uint8Array(stride * img.height).fill(255);
  for (let y = 0; y < img.height; y++) wide.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), y * stride);
  const a = addon.imagePreprocess(img.data, img.width, img.height, img.width * 3);
  const b = addon.imagePreprocess(wide, img.width, img.height, stride);
  t.same(Buffer.from(b.resized), Buffer.from(a.resized));
});

t.test('padding geometry: integer floor of the offsets', async (t) => {
  // (S - W) // 2 and (S - H) // 2 with S = max(W, H)
  const cases: [number, number, number, number, number][] = [
    // w, h, side, offsetX, offsetY
    [5, 2, 5, 0, 1], // (5-2)//2 = 1
    [2, 5, 5, 1, 0],
    [7, 4, 7, 0, 1], // (7-4)//2 = 1
    [640, 848, 848, 104, 0], // (848-640)//2 = 104
    [640, 487, 640, 0, 76], // 153//2 = 76
    [1, 1, 1, 0, 0],
  ];
  for (const [w, h, side, ox, oy] of cases) {
    const r = addon.imagePreprocess(new Uint8Array(w * h * 3), w, h, w * 3);
    t.same(r.geometry, { width: w, height: h, side, offsetX: ox, offsetY: oy }, `${w}x${h}`);
  }
});

t.test('the core and src/geometry.ts compute the same padded square', async (t) => {
  // the core pads the pixels (native/src/preprocess/image.cpp), TypeScript maps boxes back with
  // paddedSquare (src/geometry.ts): one formula in two languages, checked against each other
  const differ: string[] = [];
  for (let w = 1; w <= 41; w += 4) {
    for (let h = 1; h <= 41; h += 3) {
      const g = addon.imagePreprocess(new Uint8Array(w * h * 3), w, h, w * 3, { size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }).geometry;
      const sq = paddedSquare(w, h);
      if (g.side !== sq.side || g.offsetX !== sq.offsetX || g.offsetY !== sq.offsetY)
        differ.push(`${w}x${h}: core ${JSON.stringify(g)}, TS ${JSON.stringify(sq)}`);
    }
  }
  t.same(differ, [], '154 sizes from 1x1 to 41x40');
});

t.test('no resampling when the square is already 336: pad colour (122, 116, 104) and pixels copied', async (t) => {
  const w = 336;
  const h = 100;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7919) % 256;
  const r = addon.imagePreprocess(rgb, w, h, w * 3);
  const oy = (336 - 100) >> 1; // 118
  t.equal(r.geometry.offsetY, 118);
  t.same(Array.from(r.resized.subarray(0, 3)), [122, 116, 104], 'pad colour = int(255 * CLIP mean)');
  t.same(Array.from(r.resized.subarray(336 * 3 * 335, 336 * 3 * 335 + 3)), [122, 116, 104]);
  t.same(Buffer.from(r.resized.subarray(oy * w * 3, (oy + h) * w * 3)), Buffer.from(rgb), 'original rows verbatim');
  // normalisation of the pad colour: ((122 * (1/255)) - 0.48145466) / 0.26862954 in float32
  const f = Math.fround;
  const expectR = f(f(f(122 * (1 / 255)) - f(0.48145466)) / f(0.26862954));
  t.equal(r.pixels[0], expectR);
});

t.test('a uniform image stays uniform through pad + resize (weights sum to one)', async (t) => {
  for (const [w, h] of [
    [1000, 1000],
    [50, 50],
    [337, 337],
    [1200, 1200],
  ]) {
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set([10, 200, 255], i);
    const r = addon.imagePreprocess(rgb, w, h, w * 3);
    let bad = 0;
    for (let i = 0; i < r.resized.length; i += 3) {
      if (r.resized[i] !== 10 || r.resized[i + 1] !== 200 || r.resized[i + 2] !== 255) bad++;
    }
    t.equal(bad, 0, `${w}x${h}`);
  }
});

t.test('params: another size and mean', async (t) => {
  const rgb = new Uint8Array(40 * 20 * 3).fill(255);
  const r = addon.imagePreprocess(rgb, 40, 20, 120, { size: 224, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  t.equal(r.resized.length, 224 * 224 * 3);
  t.equal(r.pixels.length, 3 * 224 * 224);
  t.same(Array.from(r.resized.subarray(0, 3)), [127, 127, 127], 'pad colour int(255 * 0.5) = 127');
  t.equal(r.pixels[224 * 112 + 112], 1, 'white centre -> (1 - 0.5) / 0.5');
});

t.test('bad input throws INVALID_ARGUMENT with a clear message', async (t) => {
  const px = new Uint8Array(30);
  const expectErr = (fn: () => unknown, re: RegExp, what: string) => t.throws(fn, { code: 'INVALID_ARGUMENT', message: re }, what);
  expectErr(() => addon.imagePreprocess(px, 0, 10, 0), /no pixels/, 'zero width');
  expectErr(() => addon.imagePreprocess(px, 10, 0, 30), /no pixels/, 'zero height');
  expectErr(() => addon.imagePreprocess(px, 10, 10, 30), /rgb holds 30 bytes; 300 are needed/, 'short buffer');
  expectErr(() => addon.imagePreprocess(px, 10, 1, 20), /stride 20 is less than 3\*width/, 'stride');
  expectErr(() => addon.imagePreprocess(px, 1.5, 1, 3), /integers/, 'fractional width');
  expectErr(() => addon.imagePreprocess(px, 1, 1, 3, { size: 0, mean: [0, 0, 0], std: [1, 1, 1] }), /size/, 'size 0');
  expectErr(() => addon.imagePreprocess(px, 1, 1, 3, { size: 8, mean: [0, 0, 0], std: [1, 0, 1] }), /std > 0/, 'std 0');
  expectErr(() => addon.imagePreprocess(new Uint8Array(900000), 300000, 1, 900000), /side limit/, 'huge side');
});
