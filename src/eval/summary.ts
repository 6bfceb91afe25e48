/**
 * The summary of an evaluation: metrics per split recomputed from the per-sample records, the
 * paper's numbers next to them, and the Markdown table the CLI prints (docs/EVAL.md).
 */
import { cIoUAuc, meanPercent, rateAtLeast } from './metrics';
import type { EvalTask } from './datasets';

/** What one sample gave (one line of the JSONL). */
export interface EvalRecord {
  task: EvalTask;
  split: string;
  /** The sample's id (see docs/EVAL.md: `<ref_id>:<sent_id>`, `<video>:<line>`, the clip's name). */
  id: string;
  /** The prompt sent (the template filled in). */
  prompt: string;
  /** The generated text as the model wrote it (untrimmed); null when the call failed. */
  text: string | null;
  /**
   * The first box or span of the answer: pixels `[x1, y1, x2, y2]` of the image (REC), seconds
   * `[start, end]` (Charades-STA), fractions `[x1, y1, x2, y2]` of the frame (VGG-SS); null when
   * the answer holds none (a miss, listed as unparsed).
   */
  prediction: number[] | null;
  /** The ground truth in the same units (VGG-SS: the list of boxes). */
  gt: number[] | number[][];
  /** IoU with the ground truth (VGG-SS: cIoU); 0 for a miss. */
  iou: number;
  /** iou >= 0.5. */
  hit: boolean;
  /** Literals of the answer that could not be parsed. */
  malformed?: string[];
  /** Why the call failed (media that cannot be decoded...): counted as a miss. */
  error?: string;
  /** Wall time of the call, ms. */
  ms: number;
}

/** Metrics of one split. Values are percentages rounded to 2 decimals. */
export interface EvalSplitSummary {
  split: string;
  samples: number;
  metrics: Record<string, number>;
  /** The paper's numbers for the released weights, where it reports them (GroundingGPT, ACL 2024). */
  paper: Record<string, number>;
  /** Answers with no box / span. */
  unparsed: number;
  /** Calls that failed. */
  errors: number;
}

/** What {@link evaluate} returns and the CLI prints. */
export interface EvalSummary {
  task: EvalTask;
  /** The prompt template used. */
  prompt: string;
  /** libllama's description of the model. */
  model: string;
  splits: EvalSplitSummary[];
  /** Ids of the answers with no box / span (all splits). */
  unparsed: string[];
  /** Ids and messages of the calls that failed. */
  errors: { id: string; error: string }[];
}

/** The paper's Table numbers (GroundingGPT, ACL 2024; ../docs/EVAL.md cites them). */
export const PAPER: Readonly<Partial<Record<EvalTask, Record<string, Record<string, number>>>>> = {
  refcoco: { val: { 'Acc@0.5': 88.02 }, testA: { 'Acc@0.5': 91.55 }, testB: { 'Acc@0.5': 82.47 } },
  'refcoco+': { val: { 'Acc@0.5': 81.61 }, testA: { 'Acc@0.5': 87.18 }, testB: { 'Acc@0.5': 73.18 } },
  refcocog: { val: { 'Acc@0.5': 81.67 }, test: { 'Acc@0.5': 81.99 } },
  'charades-sta': { test: { 'R@1 IoU=0.5': 29.6, 'R@1 IoU=0.7': 11.9 } },
};

const round2 = (v: number) => Math.round(v * 100) / 100;

/** The metrics of a task over the records of one split. */
export function splitMetrics(task: EvalTask, records: readonly EvalRecord[]): Record<string, number> {
  const ious = records.map((r) => r.iou);
  if (task === 'charades-sta') {
    return {
      'R@1 IoU=0.3': round2(rateAtLeast(ious, 0.3)),
      'R@1 IoU=0.5': round2(rateAtLeast(ious, 0.5)),
      'R@1 IoU=0.7': round2(rateAtLeast(ious, 0.7)),
      mIoU: round2(meanPercent(ious)),
    };
  }
  if (task === 'vggss') return { 'cIoU@0.5': round2(rateAtLeast(ious, 0.5)), AUC: round2(100 * cIoUAuc(ious)) };
  return { 'Acc@0.5': round2(rateAtLeast(ious, 0.5)) };
}

/** The summary of `records` (the last record of an id wins) for `splits`, in that order. */
export function summarize(task: EvalTask, prompt: string, model: string, splits: readonly string[], records: readonly EvalRecord[]): EvalSummary {
  const byId = new Map<string, EvalRecord>();
  for (const r of records) if (r.task === task) byId.set(`${r.split}\u0000${r.id}`, r);
  const all = [...byId.values()].filter((r) => splits.includes(r.split));
  return {
    task,
    prompt,
    model,
    splits: splits.map((split) => {
      const rs = all.filter((r) => r.split === split);
      return {
        split,
        samples: rs.length,
        metrics: splitMetrics(task, rs),
        paper: PAPER[task]?.[split] ?? {},
        unparsed: rs.filter((r) => r.prediction === null && r.error === undefined).length,
        errors: rs.filter((r) => r.error !== undefined).length,
      };
    }),
    unparsed: all.filter((r) => r.prediction === null && r.error === undefined).map((r) => r.id),
    errors: all.filter((r) => r.error !== undefined).map((r) => ({ id: r.id, error: r.error as string })),
  };
}

/** The summary as a Markdown table: one row per split and metric, ours next to the paper's. */
export function summaryMarkdown(s: EvalSummary): string {
  const lines = [
    `**${s.task}** — model: ${s.model}; prompt: \`${s.prompt.replace(/`/g, "'")}\``,
    '',
    '| split | samples | metric | ours | paper |',
    '|---|---:|---|---:|---:|',
  ];
  for (const sp of s.splits) {
    for (const [name, value] of Object.entries(sp.metrics)) {
      const paper = sp.paper[name];
      lines.push(`| ${sp.split} | ${sp.samples} | ${name} | ${value.toFixed(2)} | ${paper === undefined ? '—' : paper.toFixed(2)} |`);
    }
  }
  const unparsed = s.splits.reduce((a, sp) => a + sp.unparsed, 0);
  const errors = s.splits.reduce((a, sp) => a + sp.errors, 0);
  lines.push('');
  lines.push(
    `Answers without a ${s.task === 'charades-sta' ? 'span' : 'box'} (misses): ${unparsed}${unparsed ? ` (${s.unparsed.slice(0, 10).join(', ')}${unparsed > 10 ? ', ...' : ''})` : ''}.`,
  );
  if (errors)
    lines.push(
      `Failed calls (misses): ${errors} (${s.errors
        .slice(0, 5)
        .map((e) => `${e.id}: ${e.error}`)
        .join('; ')}${errors > 5 ? '; ...' : ''}).`,
    );
  return `${lines.join('\n')}\n`;
}
