/**
 * The benchmark files of `groundinggpt eval`, read in their standard layouts (docs/EVAL.md,
 * "Datasets"): the refer toolkit's `refs(unc).p` / `refs(umd).p` + `instances.json` (RefCOCO,
 * RefCOCO+, RefCOCOg), `charades_sta_test.txt` (Charades-STA) and `vggss.json` (VGG-SS). Each
 * loader returns the samples in file order; media paths are resolved, not opened.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../errors';
import { PyDict, PyTuple, type PyValue, unpicklePlain } from '../convert/pickle';
import type { Span, XYXY } from './metrics';

/** The benchmarks `evaluate` runs. */
export const EVAL_TASKS = ['refcoco', 'refcoco+', 'refcocog', 'charades-sta', 'vggss'] as const;
/** One of {@link EVAL_TASKS}. */
export type EvalTask = (typeof EVAL_TASKS)[number];

/** The splits each task reports (the evaluation splits of the papers). */
export const TASK_SPLITS: Readonly<Record<EvalTask, readonly string[]>> = {
  refcoco: ['val', 'testA', 'testB'],
  'refcoco+': ['val', 'testA', 'testB'],
  refcocog: ['val', 'test'],
  'charades-sta': ['test'],
  vggss: ['test'],
};

/** A referring expression: one sentence of one ref. */
export interface RecSample {
  kind: 'rec';
  /** `<ref_id>:<sent_id>` */
  id: string;
  split: string;
  image: string;
  expression: string;
  /** The annotation's box in pixels of the image, `[x, y, x + w, y + h]`. */
  gt: XYXY;
}

/** A Charades-STA query. */
export interface StaSample {
  kind: 'sta';
  /** `<video id>:<line number>` (1-based) */
  id: string;
  split: string;
  video: string;
  query: string;
  /** Seconds. */
  gt: Span;
}

/** A VGG-SS clip. */
export interface VggssSample {
  kind: 'vggss';
  /** The clip's `file` key. */
  id: string;
  split: string;
  /** The sound: a .wav of the clip, or the clip's video (its audio track). */
  audio: string;
  /** The frame: an image file, or the clip's video (its middle frame is taken). */
  image: { file: string } | { video: string };
  /** Boxes as fractions of the frame, clipped to [0, 1]. */
  gt: XYXY[];
}

export type EvalSample = RecSample | StaSample | VggssSample;

const bad = (file: string, what: string) => new InvalidInputError(`${file}: ${what}`);

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function readJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bad(file, `not JSON (${(err as Error).message})`);
  }
}

/** The first of `candidates` that exists, else an error listing them. */
function findPath(candidates: string[], what: string): string {
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new InvalidInputError(`${what} not found; looked for:\n  ${[...new Set(candidates)].join('\n  ')}`);
}

/** A pickled value as plain JavaScript: dicts become objects (string keys), tuples arrays. */
function plain(v: PyValue, file: string): unknown {
  if (v instanceof PyDict) {
    const o: Record<string, unknown> = Object.create(null);
    for (const [k, x] of v.map) {
      if (typeof k !== 'string' && typeof k !== 'number') throw bad(file, `dict key of type ${typeof k}`);
      o[String(k)] = plain(x, file);
    }
    return o;
  }
  if (v instanceof PyTuple) return v.items.map((x) => plain(x, file));
  if (Array.isArray(v)) return v.map((x) => plain(x, file));
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/** The refer toolkit's file and split for each REC task. */
const REFER: Record<'refcoco' | 'refcoco+' | 'refcocog', string> = {
  refcoco: 'refs(unc).p',
  'refcoco+': 'refs(unc).p',
  refcocog: 'refs(umd).p',
};

/**
 * RefCOCO / RefCOCO+ / RefCOCOg: `data` is the refer toolkit's `data/` folder (holding
 * `<task>/refs(...).p`) or the task's folder itself; images from `images` or the usual places.
 */
export function loadRec(task: 'refcoco' | 'refcoco+' | 'refcocog', data: string, splits: readonly string[], images?: string): RecSample[] {
  const refsName = REFER[task];
  const refsFile = findPath([path.join(data, task, refsName), path.join(data, refsName), data], `${task}'s ${refsName}`);
  const dir = path.dirname(refsFile);
  const instancesFile = findPath([path.join(dir, 'instances.json')], `${task}'s instances.json`);
  const root = path.dirname(dir);
  const imageDir =
    images ??
    findPath(
      [root, path.dirname(root)].flatMap((b) => [
        path.join(b, 'images', 'mscoco', 'images', 'train2014'),
        path.join(b, 'images', 'train2014'),
        path.join(b, 'train2014'),
      ]),
      'the COCO train2014 images (--images <dir>)',
    );

  const refs = plain(unpicklePlain(fs.readFileSync(refsFile), refsFile), refsFile);
  if (!Array.isArray(refs)) throw bad(refsFile, 'expected a list of refs');
  const inst = readJson(instancesFile) as { images?: unknown; annotations?: unknown };
  if (!Array.isArray(inst?.images) || !Array.isArray(inst?.annotations)) throw bad(instancesFile, 'expected "images" and "annotations" lists');
  const imagesById = new Map<number, string>();
  for (const im of inst.images as { id?: unknown; file_name?: unknown }[]) {
    if (typeof im?.id === 'number' && typeof im.file_name === 'string') imagesById.set(im.id, im.file_name);
  }
  const boxes = new Map<number, XYXY>();
  for (const a of inst.annotations as { id?: unknown; bbox?: unknown }[]) {
    const b = a?.bbox;
    if (typeof a?.id !== 'number' || !Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) continue;
    boxes.set(a.id, [b[0], b[1], b[0] + b[2], b[1] + b[3]]);
  }
  const want = new Set(splits);
  const out: RecSample[] = [];
  refs.forEach((r, i) => {
    const ref = r as Record<string, unknown>;
    if (typeof ref?.split !== 'string' || !want.has(ref.split)) return;
    const where = `${refsFile}: ref ${i}`;
    const { ref_id: refId, ann_id: annId, image_id: imageId, sentences } = ref;
    if (typeof refId !== 'number' || typeof annId !== 'number' || typeof imageId !== 'number' || !Array.isArray(sentences)) {
      throw new InvalidInputError(`${where}: expected ref_id, ann_id, image_id (numbers) and sentences (a list)`);
    }
    const file = imagesById.get(imageId);
    if (file === undefined) throw new InvalidInputError(`${where}: image_id ${imageId} is not in ${instancesFile}`);
    const gt = boxes.get(annId);
    if (gt === undefined) throw new InvalidInputError(`${where}: ann_id ${annId} is not in ${instancesFile}`);
    for (const s of sentences as Record<string, unknown>[]) {
      if (typeof s?.sent !== 'string' || typeof s.sent_id !== 'number') throw new InvalidInputError(`${where}: a sentence without sent / sent_id`);
      out.push({ kind: 'rec', id: `${refId}:${s.sent_id}`, split: ref.split, image: path.join(imageDir, file), expression: s.sent, gt });
    }
  });
  return out;
}

/**
 * Charades-STA: `data` is `charades_sta_test.txt` or a folder holding it; lines
 * `<video id> <start> <end>##<sentence>`; videos `<id>.mp4` under `videos` or the usual places.
 */
export function loadCharades(data: string, videos?: string): StaSample[] {
  const file = fs.existsSync(data) && fs.statSync(data).isDirectory() ? findPath([path.join(data, 'charades_sta_test.txt')], 'charades_sta_test.txt') : data;
  const base = path.dirname(file);
  const videoDir = videos ?? findPath([path.join(base, 'Charades_v1_480'), path.join(base, 'videos'), base], 'the Charades videos (--media <dir>)');
  const out: StaSample[] = [];
  readText(file)
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const m = /^(\S+)\s+(\S+)\s+(\S+?)\s*##(.*)$/.exec(line);
      const s = m ? Number(m[2]) : Number.NaN;
      const e = m ? Number(m[3]) : Number.NaN;
      if (!m || !Number.isFinite(s) || !Number.isFinite(e) || m[4].trim() === '') {
        throw bad(file, `line ${i + 1} is not "<video id> <start> <end>##<sentence>": ${JSON.stringify(line.slice(0, 80))}`);
      }
      out.push({ kind: 'sta', id: `${m[1]}:${i + 1}`, split: 'test', video: path.join(videoDir, `${m[1]}.mp4`), query: m[4].trim(), gt: [s, e] });
    });
  return out;
}

/**
 * VGG-SS: `data` is `vggss.json` or a folder holding it (a list of `{ file, bbox: [[x1, y1,
 * x2, y2], ...] }` with fractions of the frame). Per clip, the frame is `frames/<file>.jpg` and
 * the sound `audio/<file>.wav` when they exist (the layout of the VGG-SS test set as the
 * localisation papers extract it), else the clip `video/<file>.mp4` or `<file>.mp4` gives both.
 */
export function loadVggss(data: string, media?: string): VggssSample[] {
  const file = fs.existsSync(data) && fs.statSync(data).isDirectory() ? findPath([path.join(data, 'vggss.json')], 'vggss.json') : data;
  const base = media ?? path.dirname(file);
  const list = readJson(file);
  if (!Array.isArray(list)) throw bad(file, 'expected a list of clips');
  return list.map((c, i): VggssSample => {
    const where = `${file}: clip ${i}`;
    const { file: key, bbox } = (c ?? {}) as { file?: unknown; bbox?: unknown };
    if (typeof key !== 'string' || key === '' || key.includes('/') || key.includes('\\')) throw new InvalidInputError(`${where}: "file" must be a clip name`);
    if (!Array.isArray(bbox) || bbox.length === 0) throw new InvalidInputError(`${where}: "bbox" must be a non-empty list of boxes`);
    const gt = bbox.map((b): XYXY => {
      if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new InvalidInputError(`${where}: each box must be 4 numbers`);
      }
      const c01 = (v: number) => Math.min(1, Math.max(0, v));
      return [c01(b[0]), c01(b[1]), c01(b[2]), c01(b[3])];
    });
    const frame = path.join(base, 'frames', `${key}.jpg`);
    const wav = path.join(base, 'audio', `${key}.wav`);
    const video = [path.join(base, 'video', `${key}.mp4`), path.join(base, `${key}.mp4`)].find((v) => fs.existsSync(v));
    const image = fs.existsSync(frame) || !video ? { file: frame } : { video };
    const audio = fs.existsSync(wav) || !video ? wav : video;
    return { kind: 'vggss', id: key, split: 'test', audio, image, gt };
  });
}

/** The files a sample needs (to report missing ones before running). */
export function sampleFiles(s: EvalSample): string[] {
  if (s.kind === 'rec') return [s.image];
  if (s.kind === 'sta') return [s.video];
  return [s.audio, 'file' in s.image ? s.image.file : s.image.video];
}
