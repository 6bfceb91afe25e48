/** Parsers of the model's grounded output (docs/COMPUTATION.md §6): boxes and time spans. */
export { parseBoxes, squareToImage } from './boxes';
export type { Box, BoxFlag, GroundedBox, ParsedBoxes, ImageSize } from './boxes';
export { parseSpans } from './spans';
export type { GroundedSpan, SpanFlag, ParsedSpans } from './spans';
export type { MalformedLiteral } from './literals';
