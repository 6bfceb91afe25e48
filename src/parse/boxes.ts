/**
 * Boxes in GroundingGPT answers (docs/COMPUTATION.md §6): `[x1, y1, x2, y2]`, fractions of the PADDED SQUARE the
 * image was pasted into (docs/COMPUTATION.md §2.2), mapped back to pixels of the original image:
 *
 *   S = max(W, H), x_px = x * S - (S - W) // 2, y_px = y * S - (S - H) // 2, clamped to [0, W] / [0, H]
 *
 * Pixels are floats (upstream's demo rounds; we do not). `normalized` = pixels / (W, H).
 * See ./literals.ts for the literal syntax, what counts as malformed, the phrase rule and how the
 * answer text is cleaned.
 */
import { invalid } from '../util/validate';
import { scanLiterals, type MalformedLiteral } from './literals';
import { paddedSquare } from '../geometry';

/** Corners, x to the right and y down; x1 <= x2, y1 <= y2. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * What had to be repaired:
 * - 'clamped': a value was outside [0, 1] and was clamped;
 * - 'swapped': x1 > x2 or y1 > y2 and the corners were exchanged;
 * - 'padding': the box reached into the padding around the image and was cut at the image edge;
 * - 'empty': zero width or height once mapped (e.g. a box entirely in the padding).
 */
export type BoxFlag = 'clamped' | 'swapped' | 'padding' | 'empty';

/** A box the model wrote, mapped to the original image. */
export interface GroundedBox {
  /** The words the box follows (see ./literals.ts). Several boxes may share one phrase. */
  phrase: string;
  /** Pixels of the original image (floats), clamped to the image. */
  box: Box;
  /** The same box as fractions (0..1) of the original image's width and height. */
  normalized: Box;
  /** The model's values after clamping to [0, 1] and ordering: fractions of the padded square. */
  square: Box;
  /** 0-based position of this box among the boxes of the text. */
  index: number;
  /** Boxes written back to back (`[..][..]`) share a group number (and a phrase). */
  group: number;
  /** [start, end) of the phrase in `answer`, when the phrase is not empty. */
  phraseRange?: [number, number];
  /** The literal as written. */
  literal: string;
  /** Repairs made (absent when none). */
  flags?: BoxFlag[];
}

/** Result of {@link parseBoxes}. */
export interface ParsedBoxes {
  /** The text with box literals removed and spacing repaired. */
  answer: string;
  boxes: GroundedBox[];
  /** Box-like literals that could not be read (skipped; still in the raw text). */
  malformed: MalformedLiteral[];
}

/** Size of the original image (as displayed, i.e. after EXIF orientation). */
export interface ImageSize {
  width: number;
  height: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Maps a box of padded-square fractions to the original image (docs/COMPUTATION.md §6).
 * @returns pixels (clamped to the image), normalised values, and whether clamping to the image
 *   was needed ('padding') or left no area ('empty').
 */
export function squareToImage(square: Box, size: ImageSize): { box: Box; normalized: Box; flags: BoxFlag[] } {
  const { width: W, height: H } = size;
  const { side: S, offsetX: ox, offsetY: oy } = paddedSquare(W, H);
  const raw = { x1: square.x1 * S - ox, y1: square.y1 * S - oy, x2: square.x2 * S - ox, y2: square.y2 * S - oy };
  const box = { x1: clamp(raw.x1, 0, W), y1: clamp(raw.y1, 0, H), x2: clamp(raw.x2, 0, W), y2: clamp(raw.y2, 0, H) };
  const flags: BoxFlag[] = [];
  if (box.x1 !== raw.x1 || box.y1 !== raw.y1 || box.x2 !== raw.x2 || box.y2 !== raw.y2) flags.push('padding');
  if (box.x2 <= box.x1 || box.y2 <= box.y1) flags.push('empty');
  return { box, normalized: { x1: box.x1 / W, y1: box.y1 / H, x2: box.x2 / W, y2: box.y2 / H }, flags };
}

function checkSize(size: unknown): ImageSize {
  const s = size as ImageSize | undefined;
  if (typeof s !== 'object' || s === null) throw invalid('{ width, height }', 'size', size);
  if (!Number.isInteger(s.width) || s.width < 1) throw invalid('a positive integer', 'size.width', s.width);
  if (!Number.isInteger(s.height) || s.height < 1) throw invalid('a positive integer', 'size.height', s.height);
  return s;
}

/**
 * Finds the boxes in a model answer and maps them to the original image.
 * @param text  the generated text.
 * @param size  the original image's width and height (as displayed).
 */
export function parseBoxes(text: string, size: ImageSize): ParsedBoxes {
  if (typeof text !== 'string') throw invalid('a string', 'text', text);
  const sz = checkSize(size);
  const scan = scanLiterals(text, '[', ']', 4);
  const boxes = scan.literals.map((lit, index): GroundedBox => {
    const flags: BoxFlag[] = [];
    let [x1, y1, x2, y2] = lit.values;
    if (lit.values.some((v) => v < 0 || v > 1)) {
      flags.push('clamped');
      [x1, y1, x2, y2] = [x1, y1, x2, y2].map((v) => clamp(v, 0, 1));
    }
    if (x1 > x2 || y1 > y2) {
      flags.push('swapped');
      if (x1 > x2) [x1, x2] = [x2, x1];
      if (y1 > y2) [y1, y2] = [y2, y1];
    }
    const square = { x1, y1, x2, y2 };
    const mapped = squareToImage(square, sz);
    flags.push(...mapped.flags);
    const item: GroundedBox = {
      phrase: lit.phrase,
      box: mapped.box,
      normalized: mapped.normalized,
      square,
      index,
      group: lit.group,
      literal: lit.text,
    };
    if (lit.phraseRange) item.phraseRange = lit.phraseRange;
    if (flags.length > 0) item.flags = flags;
    return item;
  });
  return { answer: scan.answer, boxes, malformed: scan.malformed };
}
