// Raw pixels get the model image path's decode bound (docs/MEDIA.md, "Size the towers need"):
// a 1x60000 strip took 19 s in the padded square's resize before; now it is reduced first.
import t from 'tap';
import { decodeImage } from '../src/media/image';

t.test('raw images above maxSide are reduced, keeping the displayed size', async (t) => {
  const width = 1;
  const height = 60000;
  const data = new Uint8Array(width * height * 3).fill(200);
  const t0 = Date.now();
  const d = await decodeImage({ data, width, height, channels: 3 }, { maxSide: 8192 });
  t.ok(Date.now() - t0 < 5000, 'reduced in well under the 19 s it took whole');
  t.equal(d.height, 8192);
  t.ok(d.width >= 1 && d.width <= 2, `width ${d.width}`);
  t.same(d.reducedFrom, { width, height });
  t.equal(d.data.length, d.width * d.height * 3);
  t.equal(d.data[0], 200, 'pixel values kept on a flat image');
});

t.test('raw images within maxSide, or without maxSide, are returned whole', async (t) => {
  const data = new Uint8Array(40 * 30 * 4).map((_, i) => i % 251);
  const a = await decodeImage({ data, width: 40, height: 30, channels: 4 }, { maxSide: 8192 });
  t.equal(a.width, 40);
  t.equal(a.height, 30);
  t.equal(a.reducedFrom, undefined);
  const b = await decodeImage({ data, width: 40, height: 30, channels: 4 });
  t.same(Buffer.from(a.data), Buffer.from(b.data));
  const c = await decodeImage({ data: new Uint8Array(3 * 9000 * 2), width: 9000, height: 2, channels: 3 });
  t.equal(c.width, 9000, 'no maxSide: no reduction');
});
