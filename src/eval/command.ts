/**
 * `groundinggpt eval <task>`: runs a benchmark with evaluate() (docs/EVAL.md), a progress bar
 * with ETA on stderr, the summary table (Markdown, or JSON with --json) on stdout, and next to
 * the JSONL its summary as `<out>.summary.json` and `.md`. The table entry is in src/cli.ts,
 * which lends its argument parser, model loader and progress printer (no import of the CLI here).
 */
import type { ParseArgsConfig } from 'node:util';
import { AbortError } from '../errors';
import type { Model } from '../model';
import { writeFileAtomic } from '../util/atomic';
import { durationText as seconds } from '../util/duration';
import { EVAL_TASKS, type EvalTask, TASK_SPLITS } from './datasets';
import { evaluate } from './run';
import { summaryMarkdown } from './summary';

/** What src/cli.ts lends the command. */
export interface EvalDeps {
  parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): { values: Record<string, string | boolean | undefined>; positionals: string[] };
  /** Loads the model named by --model with the CLI's common options and `parallel` sequences. */
  loadModel(values: Record<string, string | boolean | undefined>, signal: AbortSignal, extra: { parallel: number }): Promise<Model>;
  usageError(message: string): Error;
  /** Progress on stderr (a bar on a terminal, a line per 10 % otherwise). */
  progress(label: string): { update(fraction: number, detail?: string): void; end(): void };
  /** The model options' help lines. */
  modelHelp: string;
  /** The CLI's model-loading options (--model, --threads...), accepted as they are. */
  modelOptions: NonNullable<ParseArgsConfig['options']>;
}

export function evalUsage(modelHelp: string): string {
  return `groundinggpt eval <task> --data <file|dir> [options]

  task                 ${EVAL_TASKS.join(', ')}
  --data <file|dir>    the annotations: the refer toolkit's data/ folder (or <task>/ in it) with
                       refs(unc).p / refs(umd).p and instances.json; charades_sta_test.txt; vggss.json
  --media <dir>        images / videos / clips when not in the usual place (docs/EVAL.md)
  --split <s>          a split, or several separated by commas (default: ${Object.entries(TASK_SPLITS)
    .map(([t, s]) => `${t} ${s.join('/')}`)
    .join('; ')})
  --limit <n>          at most n samples per split (the first in file order)
  --out <file.jsonl>   one JSON record per sample; the summary goes next to it (.summary.json, .summary.md)
  --resume             continue --out: samples already in it are not run again
  --parallel <n>       calls in flight at once, decoded together (default 1)
  --prompt <text>      the prompt template ({expression} for REC, {query} for Charades-STA);
                       defaults and their sources in docs/EVAL.md
  --max-tokens <n>     most tokens per answer (default 512); decoding is greedy
  --json               print the summary as JSON instead of Markdown
${modelHelp}`;
}

const OPTIONS = {
  data: { type: 'string' },
  media: { type: 'string' },
  split: { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  parallel: { type: 'string' },
  prompt: { type: 'string' },
  'max-tokens': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Per-answer options of the grounding commands that eval does not take (decoding is greedy). */
const NOT_EVAL = new Set(['draw', 'json', 'max-tokens', 'temperature', 'seed']);

function count(v: string | boolean | undefined, name: string, deps: EvalDeps): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[1-9]\d*$/.test(v)) throw deps.usageError(`--${name} expects a positive integer, got "${String(v)}"`);
  return Number(v);
}

/** Runs `groundinggpt eval`. */
export async function evalCommand(argv: string[], deps: EvalDeps): Promise<void> {
  const modelOptions = Object.fromEntries(Object.entries(deps.modelOptions).filter(([k]) => !NOT_EVAL.has(k)));
  const { values, positionals } = deps.parse(argv, { ...modelOptions, ...OPTIONS });
  if (values.help) {
    process.stdout.write(`${evalUsage(deps.modelHelp)}\n`);
    return;
  }
  if (positionals.length !== 1) throw deps.usageError(`expected one task (${EVAL_TASKS.join(', ')}), got ${positionals.length} argument(s)`);
  const task = positionals[0] as EvalTask;
  if (!EVAL_TASKS.includes(task)) throw deps.usageError(`unknown task "${task}": expected ${EVAL_TASKS.join(', ')}`);
  if (typeof values.data !== 'string') throw deps.usageError('--data is required');
  const split = typeof values.split === 'string' ? values.split.split(',').map((s) => s.trim()) : undefined;
  for (const s of split ?? []) if (!TASK_SPLITS[task].includes(s)) throw deps.usageError(`--split: ${task} has ${TASK_SPLITS[task].join(', ')} (got "${s}")`);
  const parallel = count(values.parallel, 'parallel', deps) ?? 1;
  const limit = count(values.limit, 'limit', deps);
  const maxTokens = count(values['max-tokens'], 'max-tokens', deps);
  if (values.resume && typeof values.out !== 'string') throw deps.usageError('--resume needs --out');
  const out = values.out as string | undefined;

  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  const bar = deps.progress(task);
  try {
    const model = await deps.loadModel(values, ac.signal, { parallel });
    const summary = await evaluate({
      task,
      data: values.data,
      model,
      parallel: Math.min(parallel, model.info.parallel),
      ...(typeof values.media === 'string' ? { media: values.media } : {}),
      ...(split ? { split } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(out !== undefined ? { out, resume: values.resume === true } : {}),
      ...(typeof values.prompt === 'string' ? { prompt: values.prompt } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      callOptions: {
        ...(typeof values.ffmpeg === 'string' ? { ffmpegPath: values.ffmpeg } : {}),
        ...(typeof values.ffprobe === 'string' ? { ffprobePath: values.ffprobe } : {}),
      },
      signal: ac.signal,
      onProgress: (p) => {
        const acc = p.done ? ((100 * p.hits) / p.done).toFixed(1) : '-';
        bar.update(
          p.total ? p.done / p.total : 1,
          `${p.done}/${p.total}${p.resumed ? ` (+${p.resumed} resumed)` : ''}  hit@0.5 ${acc}  ETA ${seconds(p.etaMs)}`,
        );
      },
    })
      .catch((err: unknown) => {
        if (err instanceof AbortError && out !== undefined)
          throw new AbortError(`interrupted: the samples done are in ${out}; run again with --resume to continue`);
        throw err;
      })
      .finally(() => model.dispose());
    bar.end();
    const md = summaryMarkdown(summary);
    if (out !== undefined) {
      const base = out.replace(/\.jsonl$/i, '');
      await writeFileAtomic(`${base}.summary.json`, `${JSON.stringify(summary, null, 2)}\n`);
      await writeFileAtomic(`${base}.summary.md`, md);
    }
    process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : md);
  } finally {
    process.off('SIGINT', onSig);
  }
}
