// The scores of `groundinggpt eval` (src/eval/metrics.ts, docs/EVAL.md "Metrics"): hand-computed
// cases, then a second implementation written here (pixel and tick counting) on seeded random cases.
import t from 'tap';
import { CIOU_THRESHOLDS, boxIoU, cIoUAuc, gridMask, maskCIoU, meanPercent, rateAtLeast, spanIoU, type XYXY } from '../src/eval/metrics';
import { splitMetrics, type EvalRecord } from '../src/eval/summary';

const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;

t.test('box IoU: hand-computed cases', async (t) => {
  t.equal(boxIoU([0, 0, 10, 10], [0, 0, 10, 10]), 1, 'identical');
  t.equal(boxIoU([0, 0, 10, 10], [10, 0, 20, 10]), 0, 'touching edges: no area in common');
  t.equal(boxIoU([0, 0, 10, 10], [10, 10, 20, 20]), 0, 'touching corners');
  t.equal(boxIoU([0, 0, 10, 10], [2, 2, 7, 7]), 25 / 100, 'contained: inner area / outer area');
  t.equal(boxIoU([2, 2, 7, 7], [0, 0, 10, 10]), 0.25, 'symmetric');
  t.equal(boxIoU([0, 0, 10, 10], [5, 0, 15, 10]), 50 / 150, 'half overlap');
  t.equal(boxIoU([5, 5, 5, 5], [5, 5, 5, 5]), 0, 'two zero-area boxes: empty union scores 0');
  t.equal(boxIoU([5, 5, 5, 9], [0, 0, 10, 10]), 0, 'zero-area prediction inside the ground truth');
  t.equal(boxIoU([10, 10, 0, 0], [0, 0, 10, 10]), 1, 'swapped corners are ordered');
  t.equal(boxIoU([10, 0, 0, 10], [5, 10, 15, 0]), 50 / 150, 'swapped x of one, y of the other');
  t.equal(boxIoU([0, 0, 1, 1], [0.5, 0.5, 1.5, 1.5]), 0.25 / 1.75, 'fractions');
  // the REC threshold: 0.5 counts as a hit
  t.equal(boxIoU([0, 0, 10, 10], [0, 0, 20, 10]), 0.5);
  t.equal(splitMetrics('refcoco', [rec(0.5), rec(0.4999999), rec(1)])['Acc@0.5'], 66.67, 'IoU exactly 0.5 is a hit, just below is not');
});

t.test('span IoU and the R@1 thresholds: hand-computed cases', async (t) => {
  t.equal(spanIoU([2, 6], [2, 6]), 1);
  t.equal(spanIoU([2, 6], [3, 7]), 3 / 5);
  t.equal(spanIoU([0, 2], [2, 4]), 0, 'touching');
  t.equal(spanIoU([0, 10], [2, 4]), 0.2, 'contained');
  t.equal(spanIoU([6, 2], [3, 7]), 0.6, 'swapped ends');
  t.equal(spanIoU([3, 3], [3, 3]), 0, 'zero length');
  t.equal(spanIoU([0, 1], [5, 6]), 0, 'disjoint');
  const ious = [0.3, 0.5, 0.7, 0.29, 0.69, 0];
  const m = splitMetrics('charades-sta', ious.map(rec));
  t.same(m, { 'R@1 IoU=0.3': 66.67, 'R@1 IoU=0.5': 50, 'R@1 IoU=0.7': 16.67, mIoU: 41.33 }, '>= at each threshold; mIoU counts misses as 0');
  t.equal(rateAtLeast([], 0.5), 0);
  t.equal(meanPercent([]), 0);
});

t.test('VGG-SS masks, cIoU and AUC: hand-computed cases', async (t) => {
  const m = gridMask([[0.25, 0.25, 0.5, 0.5]]);
  t.equal(count(m), 56 * 56, '0.25 * 224 = 56, 0.5 * 224 = 112');
  t.equal(m[56 * 224 + 56], 1);
  t.equal(m[55 * 224 + 56], 0);
  t.equal(m[111 * 224 + 111], 1);
  t.equal(m[112 * 224 + 111], 0, 'the end row is excluded, as mask[y1:y2]');
  t.equal(count(gridMask([[-0.5, -1, 2, 3]])), 224 * 224, 'clipped to [0, 1]');
  t.equal(count(gridMask([[0.1, 0.1, 0.1 + 1 / 448, 0.5]])), 0, 'less than a cell wide truncates to nothing');
  t.equal(count(gridMask([[0.5, 0.5, 0.25, 0.25]])), 0, 'corners out of order cover nothing (numpy slicing)');
  t.equal(
    count(
      gridMask([
        [0, 0, 0.5, 0.5],
        [0.25, 0.25, 0.75, 0.75],
      ]),
    ),
    112 * 112 * 2 - 56 * 56,
    'union of several boxes',
  );
  const pred = gridMask([[0.25, 0.25, 0.75, 0.75]]);
  t.equal(maskCIoU(pred, m), (56 * 56) / (112 * 112), 'prediction containing the ground truth');
  t.equal(maskCIoU(m, pred), (56 * 56) / (112 * 112), 'ground truth containing the prediction: |P&G| / (|G| + |P\\G|)');
  t.equal(maskCIoU(new Uint8Array(224 * 224), new Uint8Array(224 * 224)), 0, 'both empty');
  t.equal(maskCIoU(new Uint8Array(224 * 224), m), 0, 'no prediction');
  t.throws(() => maskCIoU(new Uint8Array(4), m), RangeError);

  t.equal(CIOU_THRESHOLDS.length, 21);
  t.equal(CIOU_THRESHOLDS[20], 1);
  t.equal(CIOU_THRESHOLDS[3], 0.15000000000000002, "0.05 * i, the reference's float values");
  t.equal(cIoUAuc([1, 1]), 1, 'all perfect');
  t.equal(cIoUAuc([0, 0]), 0.025, 'all zero: only t = 0 counts (one half trapezoid)');
  t.equal(cIoUAuc([]), 0);
  // [1, 0, 0.25]: y = 1 at t = 0, 2/3 for t in (0, 0.25], 1/3 above
  t.ok(close(cIoUAuc([1, 0, 0.25]), 0.05 * ((1 + 2 / 3) / 2 + 4 * (2 / 3) + (2 / 3 + 1 / 3) / 2 + 14 * (1 / 3))));
  t.same(splitMetrics('vggss', [rec(1), rec(0), rec(0.25)]), { 'cIoU@0.5': 33.33, AUC: 43.33 });
});

t.test('box IoU against pixel counting (seeded random boxes)', async (t) => {
  const rnd = prng(7);
  let worst = 0;
  for (let n = 0; n < 400; n++) {
    // integer corners on a 40 x 40 grid, in any order, zero-area ones included
    const a = [0, 0, 0, 0].map(() => Math.floor(rnd() * 41)) as unknown as XYXY;
    const b = [0, 0, 0, 0].map(() => Math.floor(rnd() * 41)) as unknown as XYXY;
    worst = Math.max(worst, Math.abs(boxIoU(a, b) - pixelIoU(a, b)));
  }
  t.equal(worst, 0, 'identical to counting unit pixels on 400 pairs');
  // half-pixel corners: count on a grid twice as fine
  let worstHalf = 0;
  for (let n = 0; n < 200; n++) {
    const a = [0, 0, 0, 0].map(() => Math.floor(rnd() * 61) / 2) as unknown as XYXY;
    const b = [0, 0, 0, 0].map(() => Math.floor(rnd() * 61) / 2) as unknown as XYXY;
    const twice = (x: XYXY) => x.map((v) => v * 2) as unknown as XYXY;
    worstHalf = Math.max(worstHalf, Math.abs(boxIoU(a, b) - pixelIoU(twice(a), twice(b))));
  }
  t.ok(worstHalf < 1e-12, `half-pixel corners: max difference ${worstHalf}`);
});

t.test('span IoU and cIoU against counting (seeded random cases)', async (t) => {
  const rnd = prng(11);
  let worst = 0;
  for (let n = 0; n < 400; n++) {
    // ends in hundredths of a second: count 0.01 s ticks
    const a = [Math.floor(rnd() * 3001), Math.floor(rnd() * 3001)];
    const b = [Math.floor(rnd() * 3001), Math.floor(rnd() * 3001)];
    const inA = (x: number) => x >= Math.min(a[0], a[1]) && x < Math.max(a[0], a[1]);
    const inB = (x: number) => x >= Math.min(b[0], b[1]) && x < Math.max(b[0], b[1]);
    let inter = 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let x = 0; x < 3000; x++) {
      if (inA(x) && inB(x)) inter++;
      if (inA(x) || inB(x)) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x + 1);
      }
    }
    // the union of the convention is the hull max(e) - min(s); for overlapping spans it is the union
    const hull = inter > 0 ? hi - lo : 1;
    const expected = inter / hull;
    worst = Math.max(worst, Math.abs(spanIoU([a[0] / 100, a[1] / 100], [b[0] / 100, b[1] / 100]) - expected));
  }
  t.ok(worst < 1e-9, `span IoU: max difference ${worst}`);

  let worstC = 0;
  for (let n = 0; n < 60; n++) {
    const box = () => [0, 0, 0, 0].map(() => rnd() * 1.2 - 0.1) as unknown as XYXY;
    const p = box();
    const gts = [box(), box()];
    // a direct per-pixel test of "inside" for each cell (x, y), then the sets' sizes
    const cell = (v: number) => Math.floor(Math.min(1, Math.max(0, v)) * 224);
    const inside = (b: XYXY, x: number, y: number) => x >= cell(b[0]) && x < cell(b[2]) && y >= cell(b[1]) && y < cell(b[3]);
    let inter = 0;
    let gt = 0;
    let extra = 0;
    for (let y = 0; y < 224; y++) {
      for (let x = 0; x < 224; x++) {
        const g = gts.some((b) => inside(b, x, y));
        const q = inside(p, x, y);
        if (g) gt++;
        if (g && q) inter++;
        if (q && !g) extra++;
      }
    }
    const expected = gt + extra > 0 ? inter / (gt + extra) : 0;
    worstC = Math.max(worstC, Math.abs(maskCIoU(gridMask([p]), gridMask(gts)) - expected));
  }
  t.equal(worstC, 0, 'cIoU identical to per-pixel counting on 60 cases');
});

function rec(iou: number): EvalRecord {
  return { task: 'refcoco', split: 'val', id: String(iou), prompt: '', text: '', prediction: null, gt: [], iou, hit: iou >= 0.5, ms: 0 };
}

function count(m: Uint8Array): number {
  let n = 0;
  for (const v of m) n += v;
  return n;
}

/** IoU by counting the unit cells [x, x+1) x [y, y+1) inside each box (integer corners). */
function pixelIoU(a: XYXY, b: XYXY): number {
  const norm = (q: XYXY) => [Math.min(q[0], q[2]), Math.min(q[1], q[3]), Math.max(q[0], q[2]), Math.max(q[1], q[3])];
  const [a1, a2, a3, a4] = norm(a);
  const [b1, b2, b3, b4] = norm(b);
  let inter = 0;
  let union = 0;
  const w = Math.max(a3, b3);
  const h = Math.max(a4, b4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const ia = x >= a1 && x < a3 && y >= a2 && y < a4;
      const ib = x >= b1 && x < b3 && y >= b2 && y < b4;
      if (ia && ib) inter++;
      if (ia || ib) union++;
    }
  }
  return union ? inter / union : 0;
}

/** mulberry32 */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
