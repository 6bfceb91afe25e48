/**
 * convert(): a GroundingGPT checkpoint directory (+ the CLIP directory) -> a model directory:
 * `llm.gguf` (llama architecture), `encoders.gguf` (the towers), `manifest.json`.
 *
 * Everything is validated (configs, every tensor's presence, dtype and shape, no unexpected
 * tensors) before a byte is written; files are written to temporary names in the output folder
 * and renamed only when all three are complete, so a failure or an abort leaves nothing behind.
 * Tensors are streamed one at a time: memory stays near the size of the largest tensor.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AbortError, ConversionError } from '../errors';
import { tensorNBytes, writeGGUF } from '../gguf/writer';
import { native } from '../native';
import { tempPathFor } from '../util/atomic';
import { CallbackGuard, invalid, isPlainObject, optionalSignal } from '../util/validate';
import { type Checkpoint, type SourceFile, openCheckpoint } from './checkpoint';
import { type EncoderType, type HeadOverrides, planEncoders } from './encoders';
import { type LlmStorage, planLlm } from './llm';
import { IGNORED_CLIP_TENSORS, IGNORED_MODEL_TENSORS } from './names';
import { llmTensorType } from './synth';
import type { SourceGate, TensorEntry } from './tensor';

import { CONVERT_TYPES, type ConvertType, MODEL_FILES, modelPaths, publishModel, toolVersion } from './common';

export { CONVERT_TYPES, MODEL_FILES, toolVersion };
export type { ConvertType };

export interface ConvertProgress {
  /** 'open': reading headers and validating; 'llm' / 'encoders': writing that file's tensors;
   * 'quantize': libllama's quantiser running on the LLM; 'done'. */
  stage: 'open' | 'llm' | 'quantize' | 'encoders' | 'done';
  /** Fraction of the whole conversion, 0..1 (by bytes written; quantisation counted as the LLM's size). */
  fraction: number;
  /** The tensor just written (GGUF name), when stage is 'llm' or 'encoders'. */
  tensor?: string;
}

export interface ConvertOptions {
  /** GroundingGPT checkpoint directory (config.json, tokenizer.model, weights). */
  model: string;
  /** CLIP ViT-L/14-336 directory (config.json, pytorch_model.bin or model.safetensors). */
  clip: string;
  /** Output directory (created if needed); existing llm.gguf/encoders.gguf/manifest.json are replaced. */
  out: string;
  /** Weight type: 'f16' (default), 'f32', 'q8_0', 'q4_k_m' (LLM in Q4_K_M, towers in f16). */
  type?: ConvertType;
  onProgress?: (p: ConvertProgress) => void;
  signal?: AbortSignal;
  /** Head counts overriding docs/COMPUTATION.md §1's rules (head_dim 64 for Q-Formers/ImageBind, 88 for EVA,
   * CLIP's config). */
  overrides?: { heads?: HeadOverrides };
  /** Threads for libllama's quantiser (q8_0 / q4_k_m); default: all cores. */
  threads?: number;
  /**
   * Source files still being downloaded (pull(), docs/PULL.md): headers may be read early, tensor
   * data only from verified files; files no longer needed are handed to `gate.release`.
   * @internal
   */
  gate?: SourceGate;
}

export interface ConvertResult {
  out: string;
  llm: string;
  encoders: string;
  manifest: string;
  type: ConvertType;
  /** Sizes of the files written. */
  bytes: { llm: number; encoders: number };
}

const MODEL_SIDE_FILES = ['config.json', 'tokenizer.model', 'tokenizer_config.json', 'added_tokens.json', 'special_tokens_map.json'];
const CLIP_SIDE_FILES = ['config.json', 'preprocessor_config.json'];

function sideFiles(dir: string, names: string[]): SourceFile[] {
  const out: SourceFile[] = [];
  for (const name of names) {
    try {
      out.push({ name, bytes: fs.statSync(path.join(dir, name)).size });
    } catch {
      // optional file
    }
  }
  return out;
}

/**
 * With a SourceGate: each source file is released (gate.release) once every tensor converted from
 * it has been read, and a file nothing is converted from once it is verified (its header was
 * used for validation: it is compared first). The promises settle when all are released.
 */
function trackReleases(gate: SourceGate, cks: Checkpoint[], consumed: Set<string>[]): Promise<void>[] {
  const out: Promise<void>[] = [];
  cks.forEach((ck, k) => {
    const left = new Map<string, Set<TensorEntry>>();
    for (const f of ck.files) left.set(path.join(ck.dir, f.name), new Set());
    for (const [name, t] of ck.tensors) if (consumed[k].has(name)) left.get(t.file)?.add(t);
    for (const [file, entries] of left) {
      if (file.endsWith('.json')) continue; // the index
      let release: () => void = () => {};
      out.push(
        new Promise<void>((resolve, reject) => {
          release = () => {
            ck.pool
              .ready(file)
              .then(() => ck.pool.closeFile(file))
              .then(() => {
                gate.release?.(file);
                resolve();
              }, reject);
          };
        }),
      );
      if (entries.size === 0) {
        release();
        continue;
      }
      for (const t of entries) {
        const read = t.read.bind(t);
        t.read = async () => {
          const d = await read();
          if (entries.delete(t) && entries.size === 0) release();
          return d;
        };
      }
    }
  });
  // a rejection is reported where the promises are awaited; none may go unhandled meanwhile
  for (const p of out) p.catch(() => undefined);
  return out;
}

/** Checks that every upstream tensor is converted or deliberately ignored. */
function checkUnexpected(ck: Checkpoint, consumed: Set<string>, ignored: RegExp[], extraIgnored?: (name: string) => boolean): void {
  for (const [name, t] of ck.tensors) {
    if (consumed.has(name) || ignored.some((re) => re.test(name)) || extraIgnored?.(name)) continue;
    throw new ConversionError(`${t.file}: unexpected tensor ${name} (not part of GroundingGPT's known layout)`, { file: t.file, tensor: name });
  }
}

function validateOptions(options: ConvertOptions): Required<Pick<ConvertOptions, 'model' | 'clip' | 'out' | 'type'>> {
  if (!isPlainObject(options)) throw invalid('an options object', 'options', options);
  for (const k of ['model', 'clip', 'out'] as const) {
    if (typeof options[k] !== 'string' || options[k].length === 0) throw invalid('a non-empty path string', `options.${k}`, options[k]);
  }
  const type = options.type ?? 'f16';
  if (!CONVERT_TYPES.includes(type)) throw invalid(`one of ${CONVERT_TYPES.join(', ')}`, 'options.type', type);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalid('a function', 'options.onProgress', options.onProgress);
  optionalSignal(options.signal, 'options.signal');
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw invalid('an integer between 1 and 1024', 'options.threads', options.threads);
  }
  if (options.overrides !== undefined) {
    if (!isPlainObject(options.overrides)) throw invalid('an object { heads? }', 'options.overrides', options.overrides);
    const heads = options.overrides.heads;
    if (heads !== undefined) {
      if (!isPlainObject(heads)) throw invalid('an object of head counts', 'options.overrides.heads', heads);
      const keys: (keyof HeadOverrides)[] = ['clip', 'eva', 'qformer', 'vqformer', 'aqformer', 'imagebind'];
      for (const [k, v] of Object.entries(heads)) {
        if (!(keys as string[]).includes(k)) throw invalid(`one of ${keys.join(', ')}`, 'a key of options.overrides.heads', k);
        if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4096)) {
          throw invalid('an integer between 1 and 4096', `options.overrides.heads.${k}`, v);
        }
      }
    }
  }
  return { model: options.model, clip: options.clip, out: options.out, type };
}

/**
 * Converts a GroundingGPT checkpoint (+ CLIP) into a model directory loadable by `loadModel`.
 * Throws ConversionError (with `file` and `tensor`) for bad inputs, AbortError when aborted.
 */
export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  const { model, clip, out, type } = validateOptions(options);
  const signal = options.signal;
  // an onProgress whose promise rejects fails the conversion like one that throws
  const guard = new CallbackGuard();
  const onProgress = guard.wrap(options.onProgress);
  const checkAbort = () => {
    if (signal?.aborted) throw new AbortError('Conversion aborted');
    guard.check();
  };
  const progress = (p: ConvertProgress) => onProgress?.(p);
  checkAbort();
  progress({ stage: 'open', fraction: 0 });

  const modelDir = path.resolve(model);
  const clipDir = path.resolve(clip);
  const outDir = path.resolve(out);
  const llmStorage: LlmStorage = type === 'f32' || type === 'f16' ? type : 'lossless';
  const encType: EncoderType = type === 'q4_k_m' ? 'f16' : type;

  const temps: string[] = [];
  let createdOut = false;
  const cks: Checkpoint[] = [];
  try {
    const gate = options.gate;
    const modelCk = await openCheckpoint(modelDir, { gate });
    cks.push(modelCk);
    const clipCk = await openCheckpoint(clipDir, { gate });
    cks.push(clipCk);
    const llm = planLlm(modelCk, modelDir, llmStorage);
    const enc = await planEncoders(modelCk, clipCk, modelDir, clipDir, encType, {
      overrides: options.overrides?.heads,
      quantizeRows: encType === 'q8_0' ? (t, d, r, n) => native().quantizeRows(t, d, r, n) : undefined,
      deferScalars: !!gate,
    });
    // the LLM reserves image/video/sound_token_len rows per item: the towers must give as many
    const towerRows = [(enc.hparams.clip.image_size / enc.hparams.clip.patch) ** 2, enc.hparams.qf.vqformer.n_query, enc.hparams.qf.aqformer.n_query];
    const lenKeys = ['image_token_len', 'video_token_len', 'sound_token_len'];
    const towers = ['image tower (CLIP patches)', 'video tower (video Q-Former queries)', 'audio tower (audio Q-Former queries)'];
    llm.lens.forEach((n, m) => {
      if (n !== towerRows[m]) {
        const cfgFile = path.join(modelDir, 'config.json');
        throw new ConversionError(`${cfgFile}: "${lenKeys[m]}" = ${n} but the ${towers[m]} produces ${towerRows[m]} rows`, { file: cfgFile });
      }
    });
    const consumedModel = new Set([...llm.consumed, ...enc.consumedModel]);
    checkUnexpected(modelCk, consumedModel, IGNORED_MODEL_TENSORS);
    const unusedClipLayer = (name: string) => {
      const m = /^vision_model\.encoder\.layers\.(\d+)\./.exec(name);
      return !!m && Number(m[1]) >= enc.clipBlocks && Number(m[1]) < enc.hparams.clip.n_layer_total;
    };
    checkUnexpected(clipCk, enc.consumedClip, IGNORED_CLIP_TENSORS, unusedClipLayer);
    checkAbort();
    const released = gate ? trackReleases(gate, [modelCk, clipCk], [consumedModel, enc.consumedClip]) : [];

    if (!fs.existsSync(outDir)) {
      fs.mkdirSync(outDir, { recursive: true });
      createdOut = true;
    } else if (!fs.statSync(outDir).isDirectory()) {
      throw new ConversionError(`${outDir}: output path exists and is not a directory`, { file: outDir });
    }
    const { dest, tmp } = modelPaths(outDir);
    temps.push(tmp.llm, tmp.encoders, tmp.manifest);

    // Progress by bytes: LLM tensors (+ the same again for quantisation) and encoders tensors.
    const sum = (ts: { shape: readonly number[] }[]) => ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    const llmWork = sum(llm.tensors) * (llmStorage === 'lossless' ? 2 : 1);
    const encWork = sum(enc.tensors);
    const total = llmWork + encWork || 1;
    const elemsBefore = (ts: { shape: readonly number[] }[], i: number) => sum(ts.slice(0, i + 1));
    const llmWrite = llmStorage === 'lossless' ? llmWork / 2 : llmWork;

    // LLM
    const llmTarget = llmStorage === 'lossless' ? tempPathFor(path.join(outDir, 'llm-src.gguf')) : tmp.llm;
    if (llmTarget !== tmp.llm) temps.push(llmTarget);
    await writeGGUF(llmTarget, llm.kv, llm.tensors, {
      checkAbort,
      onTensor: (i, _n, name) => progress({ stage: 'llm', fraction: elemsBefore(llm.tensors, i) / total, tensor: name }),
    });
    // encoders, written before the LLM is quantised: every source file is released by then (pull deletes
    // them with keepSource: false before the quantiser's output grows)
    await enc.finish();
    await writeGGUF(tmp.encoders, enc.kv, enc.tensors, {
      checkAbort,
      onTensor: (i, _n, name) => progress({ stage: 'encoders', fraction: (llmWrite + elemsBefore(enc.tensors, i)) / total, tensor: name }),
    });
    for (const ck of cks) await ck.pool.confirmAll();
    await Promise.all(released);

    if (llmStorage === 'lossless') {
      checkAbort();
      progress({ stage: 'quantize', fraction: (llmWrite + encWork) / total });
      // libllama writes its output tensor by tensor: its growing size against the size of the
      // same types (synth's llmTensorType follows libllama's choices) gives the progress.
      const expected = llm.tensors.reduce((a, t) => {
        const n = tensorNBytes(t.shape, llmTensorType(t.name, t.shape, type, llm.hparams.n_layer));
        return a + Math.max(0, n);
      }, 0);
      let quantizing = true;
      const poll = setInterval(() => {
        fs.promises.stat(tmp.llm).then(
          (st) =>
            quantizing && progress({ stage: 'quantize', fraction: (llmWrite + encWork + (llmWork / 2) * Math.min(1, st.size / (expected || 1))) / total }),
          () => undefined,
        );
      }, 1000);
      try {
        await native().quantizeLlm(llmTarget, tmp.llm, type as 'q8_0' | 'q4_k_m', options.threads ?? 0);
      } catch (err) {
        throw new ConversionError(`${dest.llm}: quantisation to ${type} failed (${(err as Error).message})`, { file: dest.llm, cause: err });
      } finally {
        quantizing = false;
        clearInterval(poll);
      }
      await fs.promises.rm(llmTarget, { force: true });
    }
    checkAbort();
    await guard.settle();
    const bytes = await publishModel(tmp, dest, type, {
      sources: {
        model: [...sideFiles(modelDir, MODEL_SIDE_FILES), ...modelCk.files],
        clip: [...sideFiles(clipDir, CLIP_SIDE_FILES), ...clipCk.files],
      },
    });
    // the model is in place: a rejection from this last callback is caught and dropped
    progress({ stage: 'done', fraction: 1 });
    return { out: outDir, ...dest, type, bytes };
  } catch (err) {
    for (const t of temps) await fs.promises.rm(t, { force: true }).catch(() => undefined);
    if (createdOut) await fs.promises.rmdir(outDir).catch(() => undefined);
    throw err;
  } finally {
    for (const ck of cks) await ck.close();
  }
}

export { ConversionError };
export type { HeadOverrides };
export { synth, SIZES_7B, SIZES_TINY } from './synth';
export type { SynthOptions, SynthResult, SynthSizes } from './synth';
