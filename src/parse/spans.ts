/**
 * Time spans in GroundingGPT video answers (docs/COMPUTATION.md §6): `{s, e}` (also `{s,e}`), fractions of the
 * video's duration with 2 decimals; seconds = fraction x duration. Values outside [0, 1] are
 * clamped and a reversed span is swapped (both flagged).
 * See ./literals.ts for the literal syntax, what counts as malformed, the phrase rule and how the
 * answer text is cleaned.
 */
import { invalid } from '../util/validate';
import { scanLiterals, type MalformedLiteral } from './literals';

/**
 * What had to be repaired: 'clamped' (a value outside [0, 1]), 'swapped' (start > end),
 * 'empty' (start == end).
 */
export type SpanFlag = 'clamped' | 'swapped' | 'empty';

/** A time span the model wrote. */
export interface GroundedSpan {
  /** The words the span follows (see ./literals.ts). */
  phrase: string;
  /** Seconds from the start of the video. */
  start: number;
  end: number;
  /** Fractions of the duration (0..1), after clamping and ordering. */
  normalized: { start: number; end: number };
  /** 0-based position among the spans of the text. */
  index: number;
  /** Spans written back to back share a group number (and a phrase). */
  group: number;
  /** [start, end) of the phrase in `answer`, when the phrase is not empty. */
  phraseRange?: [number, number];
  /** The literal as written. */
  literal: string;
  /** Repairs made (absent when none). */
  flags?: SpanFlag[];
}

/** Result of {@link parseSpans}. */
export interface ParsedSpans {
  /** The text with span literals removed and spacing repaired. */
  answer: string;
  segments: GroundedSpan[];
  /** Span-like literals that could not be read (skipped; still in the raw text). */
  malformed: MalformedLiteral[];
}

/**
 * Finds the `{s, e}` spans in a model answer.
 * @param text      the generated text.
 * @param duration  the video's duration in seconds (> 0).
 */
export function parseSpans(text: string, duration: number): ParsedSpans {
  if (typeof text !== 'string') throw invalid('a string', 'text', text);
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) throw invalid('a positive number of seconds', 'duration', duration);
  const scan = scanLiterals(text, '{', '}', 2);
  const segments = scan.literals.map((lit, index): GroundedSpan => {
    const flags: SpanFlag[] = [];
    let [s, e] = lit.values;
    if (s < 0 || s > 1 || e < 0 || e > 1) {
      flags.push('clamped');
      s = Math.min(1, Math.max(0, s));
      e = Math.min(1, Math.max(0, e));
    }
    if (s > e) {
      flags.push('swapped');
      [s, e] = [e, s];
    }
    if (s === e) flags.push('empty');
    const item: GroundedSpan = {
      phrase: lit.phrase,
      start: s * duration,
      end: e * duration,
      normalized: { start: s, end: e },
      index,
      group: lit.group,
      literal: lit.text,
    };
    if (lit.phraseRange) item.phraseRange = lit.phraseRange;
    if (flags.length > 0) item.flags = flags;
    return item;
  });
  return { answer: scan.answer, segments, malformed: scan.malformed };
}
