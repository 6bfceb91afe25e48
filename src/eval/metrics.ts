/**
 * The scores of `groundinggpt eval`, defined exactly (docs/EVAL.md, "Metrics"):
 * - box IoU on continuous coordinates (area = (x2 - x1) * (y2 - y1), no "+1" pixel), corners
 *   ordered first, an empty union scores 0; a REC hit is IoU >= 0.5 (Acc@0.5);
 * - span IoU in seconds (intersection over max(e) - min(s)), R@1 at IoU >= 0.3 / 0.5 / 0.7 and
 *   mIoU (the mean IoU, misses counting 0);
 * - VGG-SS: boxes drawn as masks on a 224x224 grid the way the reference evaluation (EZ-VSL's
 *   `bbox2gtmap` and `Evaluator`) draws its ground truth, cIoU of the predicted mask with the
 *   ground-truth mask, the hit rate at cIoU >= 0.5 and the AUC of the success curve over the
 *   thresholds 0, 0.05, ..., 1 (trapezoids, as `sklearn.metrics.auc`).
 */

/** A box `[x1, y1, x2, y2]` (x to the right, y down). */
export type XYXY = readonly [number, number, number, number];
/** A time span `[start, end]` in seconds. */
export type Span = readonly [number, number];

/** Intersection over union of two boxes; corners in any order; 0 when the union is empty. */
export function boxIoU(a: XYXY, b: XYXY): number {
  const [ax1, ax2] = a[0] <= a[2] ? [a[0], a[2]] : [a[2], a[0]];
  const [ay1, ay2] = a[1] <= a[3] ? [a[1], a[3]] : [a[3], a[1]];
  const [bx1, bx2] = b[0] <= b[2] ? [b[0], b[2]] : [b[2], b[0]];
  const [by1, by2] = b[1] <= b[3] ? [b[1], b[3]] : [b[3], b[1]];
  const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Temporal IoU of two spans (ends in any order): intersection / (max(e) - min(s)), the
 * convention of the Charades-STA evaluations (2D-TAN, VTimeLLM); 0 when that is empty.
 */
export function spanIoU(a: Span, b: Span): number {
  const [as, ae] = a[0] <= a[1] ? [a[0], a[1]] : [a[1], a[0]];
  const [bs, be] = b[0] <= b[1] ? [b[0], b[1]] : [b[1], b[0]];
  const inter = Math.max(0, Math.min(ae, be) - Math.max(as, bs));
  const union = Math.max(ae, be) - Math.min(as, bs);
  return union > 0 ? inter / union : 0;
}

/** The grid VGG-SS boxes are scored on. */
export const VGGSS_GRID = 224;

/**
 * The union of boxes given as fractions of the image, as a `size x size` mask (row-major,
 * 1 inside): each value is clipped to [0, 1], scaled by `size` and truncated to an integer
 * (`(np.clip(bbox, 0, 1) * 224).astype(int)`), then `mask[y1:y2, x1:x2] = 1`, so a box whose
 * corners are out of order covers nothing, as in the reference.
 */
export function gridMask(boxes: readonly XYXY[], size = VGGSS_GRID): Uint8Array {
  const mask = new Uint8Array(size * size);
  const cell = (v: number) => Math.trunc(Math.min(1, Math.max(0, v)) * size);
  for (const b of boxes) {
    const [x1, y1, x2, y2] = b.map(cell);
    for (let y = y1; y < y2; y++) mask.fill(1, y * size + x1, y * size + Math.max(x1, x2));
  }
  return mask;
}

/**
 * cIoU of a predicted mask with a ground-truth mask: sum(P & G) / (sum(G) + sum(P & !G)),
 * EZ-VSL's `Evaluator.cal_CIOU` for a binary prediction; 0 when both are empty.
 */
export function maskCIoU(pred: Uint8Array, gt: Uint8Array): number {
  if (pred.length !== gt.length) throw new RangeError('masks of different sizes');
  let inter = 0;
  let gtSum = 0;
  let extra = 0;
  for (let i = 0; i < gt.length; i++) {
    if (gt[i]) {
      gtSum++;
      if (pred[i]) inter++;
    } else if (pred[i]) extra++;
  }
  const den = gtSum + extra;
  return den > 0 ? inter / den : 0;
}

/** The thresholds of the VGG-SS success curve: 0.05 * i for i = 0..20, computed as the reference does. */
export const CIOU_THRESHOLDS: readonly number[] = Array.from({ length: 21 }, (_, i) => 0.05 * i);

/**
 * Area under the success curve: for each threshold t of {@link CIOU_THRESHOLDS}, the fraction
 * of samples with cIoU >= t; the area by the trapezoidal rule (a value in [0, 1]). 0 for no samples.
 */
export function cIoUAuc(cious: readonly number[]): number {
  if (cious.length === 0) return 0;
  const y = CIOU_THRESHOLDS.map((t) => cious.filter((c) => c >= t).length / cious.length);
  let area = 0;
  for (let i = 0; i + 1 < y.length; i++) area += ((CIOU_THRESHOLDS[i + 1] - CIOU_THRESHOLDS[i]) * (y[i] + y[i + 1])) / 2;
  return area;
}

/** Percentage of values >= threshold (0 for none), unrounded. */
export function rateAtLeast(values: readonly number[], threshold: number): number {
  if (values.length === 0) return 0;
  return (100 * values.filter((v) => v >= threshold).length) / values.length;
}

/** Mean of the values as a percentage (0 for none), unrounded. */
export function meanPercent(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let s = 0;
  for (const v of values) s += v;
  return (100 * s) / values.length;
}
