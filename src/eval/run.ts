/**
 * evaluate(): runs a grounding benchmark on a model (docs/EVAL.md): loads the samples, asks the
 * model with the task's prompt (greedy), scores the first box or span of each answer, writes one
 * JSON line per sample, keeps `parallel` calls in flight, and resumes from an earlier JSONL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AbortError, DisposedError, InvalidInputError } from '../errors';
import { loadModel } from '../load';
import { Model } from '../model';
import { resolveFFmpegOnly, runProcess, stderrTail } from '../media/ffmpeg';
import { probeVideo } from '../media/video';
import type { GroundOptions, GroundResult, LoadModelOptions } from '../types';
import { invalid, optionsObject } from '../util/validate';
import { EVAL_TASKS, type EvalSample, type EvalTask, TASK_SPLITS, loadCharades, loadRec, loadVggss, sampleFiles } from './datasets';
import { boxIoU, gridMask, maskCIoU, spanIoU, type XYXY } from './metrics';
import { type EvalRecord, type EvalSummary, summarize } from './summary';

/**
 * The default prompt of each task. Results depend on the prompt; GroundingGPT's authors did not
 * publish their evaluation prompts, so each default's source is given in docs/EVAL.md.
 * `{expression}` (REC) and `{query}` (Charades-STA) are replaced by the sample's text.
 */
export const DEFAULT_PROMPTS: Readonly<Record<EvalTask, string>> = {
  refcoco: 'Please provide the bounding box coordinate of the region this sentence describes: {expression}.',
  'refcoco+': 'Please provide the bounding box coordinate of the region this sentence describes: {expression}.',
  refcocog: 'Please provide the bounding box coordinate of the region this sentence describes: {expression}.',
  'charades-sta': 'When does "{query}" happen in the video?',
  vggss: "Where is the sound's point of emission in this image? Include the object positions in [x0, y0, x1, y1] format.",
};

/** Progress of {@link evaluate}, after each sample. */
export interface EvalProgress {
  /** Samples done in this run, and to do in it (those already in a resumed JSONL excluded). */
  done: number;
  total: number;
  /** Hits (IoU >= 0.5) among `done`. */
  hits: number;
  /** Samples skipped because the JSONL already had them. */
  resumed: number;
  elapsedMs: number;
  /** Estimated time left, from the mean time per sample so far. */
  etaMs: number;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** The benchmark: 'refcoco', 'refcoco+', 'refcocog', 'charades-sta' or 'vggss'. */
  task: EvalTask;
  /** The annotation file, or the folder holding it (docs/EVAL.md, "Datasets"). */
  data: string;
  /** Where the images / videos / clips are, when not in the usual place next to the annotations. */
  media?: string;
  /** A loaded model, or what to load (a directory or model name, or loadModel's options). */
  model: Model | string | LoadModelOptions;
  /** Splits to run (default: every evaluation split of the task, e.g. val, testA, testB). */
  split?: string | readonly string[];
  /** At most this many samples per split (the first ones in file order). */
  limit?: number;
  /** The JSONL file to write (one record per sample); without it nothing is written. */
  out?: string;
  /** Continue `out`: samples already in it are not run again (default false: `out` must not exist). */
  resume?: boolean;
  /**
   * Calls in flight at once (1-64; default 1, or `model.parallel` when `model` is loadModel's
   * options). A model loaded here gets `parallel` sequences (LoadModelOptions.parallel); a Model
   * passed in runs at most its own `info.parallel` at once.
   */
  parallel?: number;
  /** The prompt template (default {@link DEFAULT_PROMPTS}). */
  prompt?: string;
  /** Most tokens per answer (default 512). */
  maxTokens?: number;
  /** Generation and media options passed to each call (temperature is always 0: greedy). */
  callOptions?: Omit<GroundOptions, 'temperature' | 'signal' | 'onToken' | 'onProgress' | 'maxTokens'>;
  /** After each sample. */
  onProgress?: (p: EvalProgress) => void;
  /** Each record as it is written. */
  onRecord?: (r: EvalRecord) => void;
  /** Stops the run: calls in flight are aborted, the records written stay (resume later). */
  signal?: AbortSignal;
}

function checkOptions(options: EvaluateOptions): { task: EvalTask; splits: string[]; prompt: string; parallel: number; limit: number } {
  const o = optionsObject(options) as unknown as EvaluateOptions;
  if (!EVAL_TASKS.includes(o.task)) throw invalid(`one of ${EVAL_TASKS.join(', ')}`, 'task', o.task);
  if (typeof o.data !== 'string' || o.data === '') throw invalid('a path', 'data', o.data);
  const known = TASK_SPLITS[o.task];
  const splits = o.split === undefined ? [...known] : typeof o.split === 'string' ? [o.split] : [...o.split];
  for (const s of splits) if (!known.includes(s)) throw invalid(`a split of ${o.task} (${known.join(', ')})`, 'split', s);
  const prompt = o.prompt ?? DEFAULT_PROMPTS[o.task];
  if (typeof prompt !== 'string' || prompt.trim() === '') throw invalid('a prompt template', 'prompt', prompt);
  const slot = o.task.startsWith('refcoco') ? '{expression}' : o.task === 'charades-sta' ? '{query}' : undefined;
  if (slot && !prompt.includes(slot)) throw new InvalidInputError(`the prompt template of ${o.task} must contain ${slot}`);
  // loadModel's own `parallel`, when the model is given as options, is the default
  const fromModel = typeof o.model === 'object' && o.model !== null && !(o.model instanceof Model) ? (o.model as LoadModelOptions).parallel : undefined;
  const parallel = o.parallel ?? fromModel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw invalid('an integer between 1 and 64', 'parallel', parallel);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 1)) throw invalid('a positive integer', 'limit', limit);
  if (o.out !== undefined && (typeof o.out !== 'string' || o.out === '')) throw invalid('a path', 'out', o.out);
  return { task: o.task, splits, prompt, parallel, limit };
}

/** The samples of a task's splits, at most `limit` per split. */
export function loadSamples(task: EvalTask, data: string, splits: readonly string[], limit: number, media?: string): EvalSample[] {
  const all = task === 'charades-sta' ? loadCharades(data, media) : task === 'vggss' ? loadVggss(data, media) : loadRec(task, data, splits, media);
  const count = new Map<string, number>();
  return all.filter((s) => {
    if (!splits.includes(s.split)) return false;
    const n = count.get(s.split) ?? 0;
    count.set(s.split, n + 1);
    return n < limit;
  });
}

/** Records of an earlier run in `file`; a partial last line (an interrupted write) is cut off. */
function readRecords(file: string, task: EvalTask): EvalRecord[] {
  const text = fs.readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) fs.truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  const out: EvalRecord[] = [];
  text
    .slice(0, end)
    .split('\n')
    .forEach((line, i) => {
      if (line === '') return;
      let r: EvalRecord;
      try {
        r = JSON.parse(line);
      } catch {
        throw new InvalidInputError(`${file}: line ${i + 1} is not JSON: cannot resume from it`);
      }
      if (r?.task !== task) throw new InvalidInputError(`${file}: line ${i + 1} is a ${String(r?.task)} record, not ${task}: cannot resume from it`);
      if (typeof r.id !== 'string' || typeof r.split !== 'string' || typeof r.iou !== 'number')
        throw new InvalidInputError(`${file}: line ${i + 1} is not an evaluation record`);
      out.push(r);
    });
  return out;
}

/** The middle frame of a video as PNG bytes (VGG-SS clips without an extracted frame). */
async function middleFrame(video: string, o: GroundOptions, signal?: AbortSignal): Promise<Buffer> {
  const info = await probeVideo(video, {
    ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
    ...(o.ffprobePath ? { ffprobePath: o.ffprobePath } : {}),
    signal,
  });
  const ffmpeg = resolveFFmpegOnly(o).path;
  const args = ['-nostdin', '-v', 'error', '-ss', (info.duration / 2).toFixed(3), '-i', video, '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'png', '-'];
  const r = await runProcess(ffmpeg, args, { signal });
  if (r.code !== 0 || r.stdout.length === 0) throw new InvalidInputError(`${video}: cannot take its middle frame: ${stderrTail(r.stderr) || 'no frame'}`);
  return r.stdout;
}

/** The prompt of a sample: the template with its text filled in. */
function promptFor(template: string, s: EvalSample): string {
  const fill = (key: string, text: string) => template.split(key).join(text);
  // Charades sentences end with a full stop; the template supplies its own punctuation
  if (s.kind === 'rec') return fill('{expression}', s.expression);
  if (s.kind === 'sta') return fill('{query}', s.query.replace(/[.\s]+$/, ''));
  return template;
}

/** Asks the model about one sample and scores the answer. */
async function runSample(model: Model, task: EvalTask, template: string, s: EvalSample, call: GroundOptions): Promise<EvalRecord> {
  const t0 = Date.now();
  const prompt = promptFor(template, s);
  let result: GroundResult;
  let prediction: number[] | null = null;
  let iou = 0;
  let gt: number[] | number[][];
  if (s.kind === 'rec') {
    gt = [...s.gt];
    result = await model.groundImage(s.image, prompt, call);
    const b = result.boxes[0];
    if (b) {
      prediction = [b.box.x1, b.box.y1, b.box.x2, b.box.y2];
      iou = boxIoU(prediction as unknown as XYXY, s.gt);
    }
  } else if (s.kind === 'sta') {
    gt = [...s.gt];
    result = await model.groundVideo(s.video, prompt, call);
    const seg = result.segments[0];
    if (seg) {
      prediction = [seg.start, seg.end];
      iou = spanIoU([seg.start, seg.end], s.gt);
    }
  } else {
    gt = s.gt.map((b) => [...b]);
    const image = 'file' in s.image ? s.image.file : await middleFrame(s.image.video, call, call.signal);
    result = await model.groundAudio(s.audio, prompt, { ...call, image });
    const b = result.boxes[0];
    if (b) {
      const n = b.normalized;
      prediction = [n.x1, n.y1, n.x2, n.y2];
      iou = maskCIoU(gridMask([prediction as unknown as XYXY]), gridMask(s.gt));
    }
  }
  const record: EvalRecord = { task, split: s.split, id: s.id, prompt, text: result.raw.text, prediction, gt, iou, hit: iou >= 0.5, ms: Date.now() - t0 };
  if (result.raw.malformed.length) record.malformed = result.raw.malformed.map((m) => m.text);
  return record;
}

function failedRecord(task: EvalTask, template: string, s: EvalSample, err: unknown, ms: number): EvalRecord {
  const gt = s.kind === 'vggss' ? s.gt.map((b) => [...b]) : [...s.gt];
  return {
    task,
    split: s.split,
    id: s.id,
    prompt: promptFor(template, s),
    text: null,
    prediction: null,
    gt,
    iou: 0,
    hit: false,
    error: (err as Error)?.message ?? String(err),
    ms,
  };
}

/**
 * Runs a benchmark and returns its summary (metrics per split, the paper's numbers next to
 * them). Answers without a box or span and failed calls count as misses and are listed.
 *
 * ```ts
 * const s = await evaluate({ task: 'refcoco', data: './refer/data', split: 'val', model: 'groundinggpt-7b', out: 'refcoco.jsonl', parallel: 4 });
 * console.log(s.splits[0].metrics['Acc@0.5']);
 * ```
 *
 * @throws InvalidInputError for bad options, annotation files or missing media (listed before any
 *   call), AbortError when `signal` aborts (the records written so far stay), ModelLoadError.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvalSummary> {
  const { task, splits, prompt, parallel, limit } = checkOptions(options);
  const { data, media, out, resume = false, signal, onProgress, onRecord } = options;
  const samples = loadSamples(task, data, splits, limit, media);
  const missing = [...new Set(samples.flatMap(sampleFiles))].filter((f) => !fs.existsSync(f));
  if (missing.length) throw new InvalidInputError(`${missing.length} media file(s) missing, e.g.:\n  ${missing.slice(0, 5).join('\n  ')}`);

  let earlier: EvalRecord[] = [];
  if (out !== undefined && fs.existsSync(out)) {
    if (!resume) throw new InvalidInputError(`${out} exists: pass resume (--resume) to continue it, or remove it`);
    earlier = readRecords(out, task);
    const byKey = new Map(samples.map((x) => [`${x.split}\u0000${x.id}`, x]));
    // a record of a sample outside this run's selection is kept as it is
    const other = earlier.find((r) => {
      const x = byKey.get(`${r.split}\u0000${r.id}`);
      return x !== undefined && r.prompt !== promptFor(prompt, x);
    });
    if (other)
      throw new InvalidInputError(`${out}: record ${other.id} was made with another prompt (${JSON.stringify(other.prompt)}): cannot resume with this one`);
  }
  const doneIds = new Set(earlier.map((r) => `${r.split}\u0000${r.id}`));
  const todo = samples.filter((s) => !doneIds.has(`${s.split}\u0000${s.id}`));

  const owned = !(options.model instanceof Model);
  let model: Model;
  if (options.model instanceof Model) model = options.model;
  else {
    const lo: LoadModelOptions =
      typeof options.model === 'string' ? { model: options.model } : { ...(optionsObject(options.model, 'model') as unknown as LoadModelOptions) };
    model = await loadModel({ ...lo, parallel, ...(signal ? { signal } : {}) });
  }
  const description = `${model.info.description} (${model.files.llm})`;
  const records: EvalRecord[] = [...earlier];
  let fh: fs.promises.FileHandle | undefined;
  try {
    if (out !== undefined) {
      await fs.promises.mkdir(path.dirname(path.resolve(out)), { recursive: true });
      fh = await fs.promises.open(out, 'a');
    }
    const call: GroundOptions = {
      ...(options.callOptions ?? {}),
      temperature: 0,
      ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      ...(signal ? { signal } : {}),
    };
    const t0 = Date.now();
    let next = 0;
    let done = 0;
    let hits = 0;
    let writing: Promise<unknown> = Promise.resolve();
    let stopped = false;
    const worker = async () => {
      try {
        await loop();
      } catch (err) {
        stopped = true;
        throw err;
      }
    };
    const loop = async () => {
      while (next < todo.length && !stopped) {
        if (signal?.aborted) throw new AbortError();
        const s = todo[next++];
        const ts = Date.now();
        let r: EvalRecord;
        try {
          r = await runSample(model, task, prompt, s, call);
        } catch (err) {
          if (err instanceof AbortError || err instanceof DisposedError || signal?.aborted) throw err;
          r = failedRecord(task, prompt, s, err, Date.now() - ts);
        }
        records.push(r);
        const line = `${JSON.stringify(r)}\n`;
        // one line per write, in completion order
        if (fh) writing = writing.then(() => fh?.write(line));
        await writing;
        done++;
        if (r.hit) hits++;
        onRecord?.(r);
        const elapsedMs = Date.now() - t0;
        onProgress?.({ done, total: todo.length, hits, resumed: samples.length - todo.length, elapsedMs, etaMs: (elapsedMs / done) * (todo.length - done) });
      }
    };
    const n = Math.min(parallel, owned ? parallel : model.info.parallel, Math.max(1, todo.length));
    const results = await Promise.allSettled(Array.from({ length: n }, worker));
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    await fh?.sync();
  } finally {
    await fh?.close();
    if (owned) await model.dispose();
  }
  const sampleKeys = new Set(samples.map((s) => `${s.split}\u0000${s.id}`));
  return summarize(
    task,
    prompt,
    description,
    splits,
    records.filter((r) => sampleKeys.has(`${r.split}\u0000${r.id}`)),
  );
}
