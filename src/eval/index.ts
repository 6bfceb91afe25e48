/** Grounding benchmarks (docs/EVAL.md): evaluate() and what it reads and returns. */
export { evaluate, loadSamples, DEFAULT_PROMPTS } from './run';
export type { EvaluateOptions, EvalProgress } from './run';
export { EVAL_TASKS, TASK_SPLITS } from './datasets';
export type { EvalTask, EvalSample, RecSample, StaSample, VggssSample } from './datasets';
export { PAPER, summarize, summaryMarkdown } from './summary';
export type { EvalRecord, EvalSummary, EvalSplitSummary } from './summary';
export { boxIoU, spanIoU, gridMask, maskCIoU, cIoUAuc, CIOU_THRESHOLDS, VGGSS_GRID } from './metrics';
export type { XYXY, Span } from './metrics';
