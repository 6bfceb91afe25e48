/**
 * The padded square of docs/COMPUTATION.md §2.2 in TypeScript: where boxes are mapped back
 * (src/parse/boxes.ts) and what results report (ImageGeometry). The core computes the same square
 * for the pixels it pads (native/src/preprocess/image.cpp); test/preprocess-image.test.ts checks
 * that the two agree. No imports beyond validation, so the parsers can use it.
 */
import { invalid } from './util/validate';

/** Geometry of the padded square of docs/COMPUTATION.md §2.2. */
export interface PaddedSquare {
  /** S = max(W, H). */
  side: number;
  /** (S - W) // 2: column of the original's left edge in the square. */
  offsetX: number;
  /** (S - H) // 2: row of the original's top edge in the square. */
  offsetY: number;
}

/** docs/COMPUTATION.md §2.2: the square the image is pasted into, with integer floor offsets. */
export function paddedSquare(width: number, height: number): PaddedSquare {
  if (!Number.isInteger(width) || width < 1) throw invalid('a positive integer', 'width', width);
  if (!Number.isInteger(height) || height < 1) throw invalid('a positive integer', 'height', height);
  const side = Math.max(width, height);
  return { side, offsetX: Math.floor((side - width) / 2), offsetY: Math.floor((side - height) / 2) };
}
