/**
 * synth(): a random-weight model directory in our format (llm.gguf + encoders.gguf +
 * manifest.json) with GroundingGPT-7B's real shapes (preset '7b', every tower included) or tiny
 * ones (preset 'tiny', the golden fixture's sizes unless `sizes` says otherwise), for benchmarks
 * and memory tests where the real weights are not available.
 *
 * Weights come from a deterministic PRNG (same seed, same bytes) and are generated, converted and
 * written a few million values at a time, so even the 7B LLM never sits in memory: quantised
 * types go through the addon's ggml quantiser chunk by chunk, with llama.cpp's Q4_K_M choices
 * (Q6_K for output and for attn_v / ffn_down in the layers llama.cpp gives more bits).
 * The vocabulary is synthetic but SentencePiece-shaped (unk/bos/eos, 256 byte tokens, pieces,
 * the nine media tokens last), so stock llama.cpp loads the LLM file. The EOS row of the output
 * matrix is zero, so greedy decoding never stops early in benchmarks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AbortError } from '../errors';
import { type GGUFTensorPlan, type GGUFValue, gv, writeGGUF } from '../gguf/writer';
import { GGMLType, ggmlNBytes } from '../gguf/types';
import { f32ToF16 } from '../gguf/float';
import { native } from '../native';
import { CallbackGuard, invalid, isPlainObject, optionalSignal } from '../util/validate';
import { ENCODER_CONSTANTS, type EncodersHParams, encoderTensorType, encodersKv } from './encoders';
import { LLAMA_FTYPE, type LlmHParams, MEDIA_TOKENS, type Vocab, llmKv } from './llm';
import * as N from './names';
import { PieceType } from './sentencepiece';
import { CONVERT_TYPES, type ConvertType, modelPaths, publishModel } from './common';

export interface SynthSizes {
  llm: { n_vocab: number; n_embd: number; n_ff: number; n_layer: number; n_head: number; n_head_kv: number; n_ctx: number };
  clip: { n_embd: number; n_ff: number; n_head: number; n_block: number };
  eva: { n_embd: number; n_ff: number; n_head: number; n_block: number };
  qformer: { n_embd: number; n_ff: number; n_head: number; n_block: number; cross_freq: number; n_query: number };
  vqformer: { n_block: number; n_query: number };
  aqformer: { n_block: number; n_query: number };
  imagebind: { n_embd: number; n_ff: number; n_head: number; n_block: number; out_dim: number };
  max_frames: number;
  n_audio_pos: number;
}

/** Every field optional, at every depth. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** GroundingGPT-7B: Vicuna-7B, CLIP ViT-L/14-336 (23 of 24 blocks), EVA ViT-g, BLIP-2 Q-Formers, ImageBind-Huge audio. */
export const SIZES_7B: SynthSizes = {
  llm: { n_vocab: 32009, n_embd: 4096, n_ff: 11008, n_layer: 32, n_head: 32, n_head_kv: 32, n_ctx: 4096 },
  clip: { n_embd: 1024, n_ff: 4096, n_head: 16, n_block: 23 },
  eva: { n_embd: 1408, n_ff: 6144, n_head: 16, n_block: 39 },
  qformer: { n_embd: 768, n_ff: 3072, n_head: 12, n_block: 12, cross_freq: 2, n_query: 32 },
  vqformer: { n_block: 2, n_query: 64 },
  aqformer: { n_block: 2, n_query: 8 },
  imagebind: { n_embd: 768, n_ff: 3072, n_head: 12, n_block: 12, out_dim: 1024 },
  max_frames: 64,
  n_audio_pos: 8,
};

/** The golden tiny model's sizes (../shared/golden/tiny). */
export const SIZES_TINY: SynthSizes = {
  llm: { n_vocab: 1009, n_embd: 64, n_ff: 160, n_layer: 2, n_head: 4, n_head_kv: 4, n_ctx: 2048 },
  clip: { n_embd: 32, n_ff: 128, n_head: 2, n_block: 2 },
  eva: { n_embd: 176, n_ff: 768, n_head: 2, n_block: 2 },
  qformer: { n_embd: 128, n_ff: 512, n_head: 2, n_block: 2, cross_freq: 2, n_query: 32 },
  vqformer: { n_block: 2, n_query: 64 },
  aqformer: { n_block: 2, n_query: 8 },
  imagebind: { n_embd: 128, n_ff: 512, n_head: 2, n_block: 2, out_dim: 64 },
  max_frames: 64,
  n_audio_pos: 8,
};

export interface SynthOptions {
  preset: 'tiny' | '7b';
  out: string;
  /** Weight type (default 'f16'; the 7b preset is meant for 'q4_k_m'). */
  type?: ConvertType;
  /** PRNG seed (default 0). */
  seed?: number;
  /** Sizes overriding the preset's (any subset). */
  sizes?: DeepPartial<SynthSizes>;
  onProgress?: (p: { stage: 'llm' | 'encoders' | 'done'; fraction: number; tensor?: string }) => void;
  signal?: AbortSignal;
}

export interface SynthResult {
  out: string;
  llm: string;
  encoders: string;
  manifest: string;
  sizes: SynthSizes;
}

// ---- deterministic PRNG (sfc32), one stream per tensor ------------------------------------------
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return r >>> 0;
  };
}

/** FNV-1a of a string: the per-tensor stream id. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function stream(seed: number, name: string): () => number {
  const g = sfc32(0x9e3779b9, seed >>> 0, hash(name), 0x85ebca6b);
  for (let i = 0; i < 12; i++) g();
  return g;
}

/** How a tensor's values are drawn. */
type Fill = { kind: 'uniform'; std: number } | { kind: 'norm' } | { kind: 'zero' };

function fillFor(name: string, n_embd_in: number): Fill {
  if (/(^|\.)(attn_norm|ffn_norm|output_norm)\.weight$/.test(name)) return { kind: 'norm' };
  if (/(ln\d?|_ln|ln_vision|stem_ln|head_ln|emb_ln|attn_ln|xattn_ln|ffn_ln|pre_ln)\.weight$/.test(name)) return { kind: 'norm' };
  if (/\.bias$|attn_bias_[kv]$/.test(name)) return { kind: 'uniform', std: 0.01 };
  // weights: fan-in scaled so activations stay in range through deep random stacks
  return { kind: 'uniform', std: Math.min(0.02, 1 / Math.sqrt(Math.max(1, n_embd_in))) };
}

/** Fills `out` with the next values of a tensor's stream. */
function draw(out: Float32Array, g: () => number, fill: Fill): void {
  if (fill.kind === 'zero') return;
  if (fill.kind === 'norm') {
    for (let i = 0; i < out.length; i++) out[i] = 1 + (g() / 4294967296 - 0.5) * 0.02;
    return;
  }
  const a = (fill.std * Math.sqrt(3) * 2) / 4294967296; // uniform(-s√3, s√3) has std s
  const b = fill.std * Math.sqrt(3);
  for (let i = 0; i < out.length; i++) out[i] = g() * a - b;
}

// ---- tensor types ---------------------------------------------------------------------------------
/** llama.cpp's use_more_bits (llama-quant.cpp): the layers Q4_K_M gives Q6_K for attn_v / ffn_down. */
function useMoreBits(i: number, n: number): boolean {
  return i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;
}

/** Fallbacks llama.cpp uses when a row length is not a multiple of the k-quant block (256). */
function fitRow(type: GGMLType, ne0: number): GGMLType {
  if (ggmlNBytes(type, ne0, 1) >= 0) return type;
  const fallback: Partial<Record<GGMLType, GGMLType>> = { [GGMLType.Q4_K]: GGMLType.Q5_0, [GGMLType.Q5_K]: GGMLType.Q5_1, [GGMLType.Q6_K]: GGMLType.Q8_0 };
  const f = fallback[type];
  if (f !== undefined && ggmlNBytes(f, ne0, 1) >= 0) return f;
  return GGMLType.F16;
}

/** The LLM tensor type of a stock llama.cpp file of this ftype (1-D tensors stay f32). */
export function llmTensorType(name: string, shape: readonly number[], type: ConvertType, nLayer: number): GGMLType {
  if (shape.length === 1 || type === 'f32') return GGMLType.F32;
  if (type === 'f16') return GGMLType.F16;
  const ne0 = shape[shape.length - 1];
  if (type === 'q8_0') return fitRow(GGMLType.Q8_0, ne0);
  let t = GGMLType.Q4_K;
  const blk = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
  if (name === N.LLM_OUTPUT) t = GGMLType.Q6_K;
  else if (blk && useMoreBits(Number(blk[1]), nLayer)) t = GGMLType.Q6_K;
  if (name === N.LLM_OUTPUT && ggmlNBytes(t, ne0, 1) < 0) return GGMLType.Q8_0; // llama.cpp: output falls back to q8_0
  return fitRow(t, ne0);
}

// ---- vocabulary ------------------------------------------------------------------------------------
/** A SentencePiece-like vocabulary of n_vocab tokens: specials, bytes, pieces, media tokens last. */
export function synthVocab(nVocab: number, seed: number): Vocab {
  const nMedia = MEDIA_TOKENS.length;
  const nBase = nVocab - nMedia;
  if (nBase < 3 + 256 + 1) throw invalid(`at least ${3 + 256 + 1 + nMedia} tokens`, 'sizes.llm.n_vocab', nVocab);
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [PieceType.UNKNOWN, PieceType.CONTROL, PieceType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(PieceType.BYTE);
  }
  const seen = new Set(tokens);
  const add = (p: string) => {
    if (tokens.length < nBase && !seen.has(p)) {
      seen.add(p);
      tokens.push(p);
      types.push(PieceType.NORMAL);
    }
  };
  const chars = 'etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789.,:;!?\'"-()[]{}/\\#@*&%$+=<>_~`|^';
  add('\u2581');
  for (const c of chars) add(`\u2581${c}`);
  for (const c of chars) add(c);
  const g = stream(seed, 'tokenizer.ggml.tokens');
  const lower = 'etaoinshrdlcumwfgypbvkjxqz';
  while (tokens.length < nBase) {
    const len = 2 + (g() % 7);
    let w = (g() & 1) === 0 ? '\u2581' : '';
    for (let i = 0; i < len; i++) w += lower[g() % lower.length];
    add(w);
  }
  const scores = tokens.map((_, i) => (types[i] === PieceType.NORMAL ? -(i - 259) : 0));
  for (const m of MEDIA_TOKENS) {
    tokens.push(m.name);
    types.push(PieceType.CONTROL);
    scores.push(-1000);
  }
  return {
    tokens,
    scores,
    types,
    bos: 1,
    eos: 2,
    unk: 0,
    pad: 0,
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    media: MEDIA_TOKENS.map((_, i) => nBase + i),
  };
}

// ---- plans ---------------------------------------------------------------------------------------------
const CHUNK = 1 << 22; // values generated per step (16 MiB of f32)

type Quantizer = (type: number, data: Float32Array, nRows: number, nPerRow: number) => Uint8Array;

/** Tensor bytes produced chunk by chunk: rows of random values converted to `type`. */
function producer(
  name: string,
  shape: readonly number[],
  type: GGMLType,
  seed: number,
  fill: Fill,
  quantize: Quantizer | undefined,
  zeroRow?: number,
  checkAbort?: () => void,
): () => AsyncIterable<Uint8Array> {
  const ne0 = shape[shape.length - 1] ?? 1;
  const nRows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK / ne0));
  return async function* () {
    const g = stream(seed, name);
    for (let r0 = 0; r0 < nRows; r0 += rowsPerChunk) {
      checkAbort?.();
      const nr = Math.min(rowsPerChunk, nRows - r0);
      const v = new Float32Array(nr * ne0);
      draw(v, g, fill);
      if (zeroRow !== undefined && zeroRow >= r0 && zeroRow < r0 + nr) v.fill(0, (zeroRow - r0) * ne0, (zeroRow - r0 + 1) * ne0);
      if (type === GGMLType.F32) yield new Uint8Array(v.buffer);
      else if (type === GGMLType.F16) yield f32ToF16(v);
      else {
        if (!quantize) throw new Error('synth: quantised types need the native addon');
        yield quantize(type, v, nr, ne0);
      }
      await new Promise<void>((resolve) => setImmediate(resolve)); // keep the event loop turning
    }
  };
}

function mergeSizes(base: SynthSizes, over: DeepPartial<SynthSizes> | undefined): SynthSizes {
  const out = JSON.parse(JSON.stringify(base)) as SynthSizes;
  if (!over) return out;
  if (!isPlainObject(over)) throw invalid('an object', 'options.sizes', over);
  const o = out as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    if (!(k in o)) throw invalid(`one of ${Object.keys(o).join(', ')}`, `options.sizes key`, k);
    if (isPlainObject(o[k])) {
      if (!isPlainObject(v)) throw invalid('an object', `options.sizes.${k}`, v);
      const inner = o[k] as Record<string, unknown>;
      for (const [k2, v2] of Object.entries(v)) {
        if (!(k2 in inner)) throw invalid(`one of ${Object.keys(inner).join(', ')}`, `options.sizes.${k} key`, k2);
        inner[k2] = v2;
      }
    } else {
      o[k] = v;
    }
  }
  const check = (obj: Record<string, unknown>, p: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (isPlainObject(v)) check(v, `${p}.${k}`);
      else if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid('a positive integer', `${p}.${k}`, v);
    }
  };
  check(o, 'options.sizes');
  const s = out;
  const div = (a: number, b: number, what: string) => {
    if (a % b !== 0) throw invalid(`a width divisible by its head count (${b})`, what, a);
  };
  div(s.llm.n_embd, s.llm.n_head, 'options.sizes.llm.n_embd');
  if ((s.llm.n_embd / s.llm.n_head) % 2) throw invalid('an even head size', 'options.sizes.llm.n_embd / n_head', s.llm.n_embd / s.llm.n_head);
  div(s.llm.n_head, s.llm.n_head_kv, 'options.sizes.llm.n_head');
  div(s.clip.n_embd, s.clip.n_head, 'options.sizes.clip.n_embd');
  div(s.eva.n_embd, s.eva.n_head, 'options.sizes.eva.n_embd');
  div(s.qformer.n_embd, s.qformer.n_head, 'options.sizes.qformer.n_embd');
  div(s.imagebind.n_embd, s.imagebind.n_head, 'options.sizes.imagebind.n_embd');
  if (s.n_audio_pos < ENCODER_CONSTANTS.AUDIO_CLIPS) throw invalid(`at least ${ENCODER_CONSTANTS.AUDIO_CLIPS}`, 'options.sizes.n_audio_pos', s.n_audio_pos);
  return out;
}

/** Encoders hyper-parameters of a synthetic model (real geometry: 336/14 CLIP, 224/14 EVA, 16/10 ImageBind stem). */
function synthEncodersHParams(s: SynthSizes): EncodersHParams {
  const qf = (n_block: number, cross_freq: number, n_query: number, kv_width: number) => ({
    n_embd: s.qformer.n_embd,
    n_ff: s.qformer.n_ff,
    n_head: s.qformer.n_head,
    n_block,
    cross_freq,
    n_query,
    kv_width,
  });
  return {
    llm_n_embd: s.llm.n_embd,
    clip: {
      image_size: 336,
      patch: 14,
      n_embd: s.clip.n_embd,
      n_ff: s.clip.n_ff,
      n_head: s.clip.n_head,
      n_block: s.clip.n_block,
      n_layer_total: s.clip.n_block + 1,
      eps: 1e-5,
      act: 'quick_gelu',
      mean: ENCODER_CONSTANTS.OPENAI_MEAN,
      std: ENCODER_CONSTANTS.OPENAI_STD,
    },
    eva: { image_size: 224, patch: 14, n_embd: s.eva.n_embd, n_ff: s.eva.n_ff, n_head: s.eva.n_head, n_block: s.eva.n_block },
    qf: {
      qformer: qf(s.qformer.n_block, s.qformer.cross_freq, s.qformer.n_query, s.eva.n_embd),
      vqformer: qf(s.vqformer.n_block, 1, s.vqformer.n_query, s.qformer.n_embd),
      aqformer: qf(s.aqformer.n_block, 1, s.aqformer.n_query, s.imagebind.out_dim),
    },
    ib: {
      n_embd: s.imagebind.n_embd,
      n_ff: s.imagebind.n_ff,
      n_head: s.imagebind.n_head,
      n_block: s.imagebind.n_block,
      out_dim: s.imagebind.out_dim,
      kernel: 16,
      stride: 10,
      n_pos: 229,
      logit_scale: 20,
    },
    max_frames: s.max_frames,
    n_audio_pos: s.n_audio_pos,
  };
}

/** Encoders tensors (name, shape, kind) in the converter's order. */
function encoderSpecs(h: EncodersHParams): { name: string; shape: number[]; kind: N.TensorKind; fanIn: number }[] {
  const out: { name: string; shape: number[]; kind: N.TensorKind; fanIn: number }[] = [];
  const add = <H>(spec: N.TensorSpec<H>, dims: H, vars: { i?: number; qf?: N.QFormerPrefix }) => {
    const shape = spec.shape(dims);
    out.push({ name: N.expand(spec.gguf, vars), shape, kind: spec.kind, fanIn: shape.slice(1).reduce((a, b) => a * b, 1) });
  };
  const clipDims: N.ClipDims = {
    n_embd: h.clip.n_embd,
    n_ff: h.clip.n_ff,
    n_pos: (h.clip.image_size / h.clip.patch) ** 2 + 1,
    patch: h.clip.patch,
    llm_n_embd: h.llm_n_embd,
  };
  for (const s of N.CLIP_GLOBAL_TENSORS) add(s, clipDims, {});
  for (let i = 0; i < h.clip.n_block; i++) for (const s of N.CLIP_BLOCK_TENSORS) add(s, clipDims, { i });
  for (const s of N.MMPROJ_TENSORS) add(s, clipDims, {});
  const evaDims: N.EvaDims = { n_embd: h.eva.n_embd, n_ff: h.eva.n_ff, n_pos: (h.eva.image_size / h.eva.patch) ** 2 + 1, patch: h.eva.patch };
  for (const s of N.EVA_GLOBAL_TENSORS) add(s, evaDims, {});
  for (let i = 0; i < h.eva.n_block; i++) for (const s of N.EVA_BLOCK_TENSORS) add(s, evaDims, { i });
  for (const qf of N.QF_PREFIXES) {
    const q = h.qf[qf];
    const dims: N.QFormerDims = { n_embd: q.n_embd, n_ff: q.n_ff, n_query: q.n_query, kv_width: q.kv_width };
    for (const s of N.QF_GLOBAL_TENSORS) add(s, dims, { qf });
    for (let i = 0; i < q.n_block; i++) for (const s of N.QF_BLOCK_TENSORS) if (!s.cross || i % q.cross_freq === 0) add(s, dims, { qf, i });
  }
  const extras: N.ExtrasDims = {
    max_frames: h.max_frames,
    qf_n_embd: h.qf.qformer.n_embd,
    vqf_n_embd: h.qf.vqformer.n_embd,
    aqf_n_embd: h.qf.aqformer.n_embd,
    ib_out_dim: h.ib.out_dim,
    n_audio_pos: h.n_audio_pos,
    llm_n_embd: h.llm_n_embd,
  };
  for (const s of N.VIDEO_TENSORS) add(s, extras, {});
  const ibDims: N.ImageBindDims = { n_embd: h.ib.n_embd, n_ff: h.ib.n_ff, n_pos: h.ib.n_pos, kernel: h.ib.kernel, out_dim: h.ib.out_dim };
  for (const s of N.IB_GLOBAL_TENSORS) add(s, ibDims, {});
  for (let i = 0; i < h.ib.n_block; i++) for (const s of N.IB_BLOCK_TENSORS) add(s, ibDims, { i });
  for (const s of N.AUDIO_TENSORS) add(s, extras, {});
  return out;
}

/** Writes a random-weight model directory. */
export async function synth(options: SynthOptions): Promise<SynthResult> {
  if (!isPlainObject(options)) throw invalid('an options object', 'options', options);
  if (options.preset !== 'tiny' && options.preset !== '7b') throw invalid("'tiny' or '7b'", 'options.preset', options.preset);
  if (typeof options.out !== 'string' || !options.out) throw invalid('a non-empty path string', 'options.out', options.out);
  const type = options.type ?? 'f16';
  if (!CONVERT_TYPES.includes(type)) throw invalid(`one of ${CONVERT_TYPES.join(', ')}`, 'options.type', type);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw invalid('an integer between 0 and 4294967295', 'options.seed', seed);
  const sizes = mergeSizes(options.preset === '7b' ? SIZES_7B : SIZES_TINY, options.sizes);
  const signal = optionalSignal(options.signal, 'options.signal');
  // an onProgress whose promise rejects fails the call like one that throws
  const guard = new CallbackGuard();
  const onProgress = guard.wrap(options.onProgress);
  const checkAbort = () => {
    if (signal?.aborted) throw new AbortError('synth aborted');
    guard.check();
  };
  const quantize: Quantizer | undefined = type === 'q8_0' || type === 'q4_k_m' ? (t, d, r, n) => native().quantizeRows(t, d, r, n) : undefined;

  // LLM
  const L = sizes.llm;
  const lh: LlmHParams = {
    n_vocab: L.n_vocab,
    n_embd: L.n_embd,
    n_ff: L.n_ff,
    n_head: L.n_head,
    n_head_kv: L.n_head_kv,
    n_layer: L.n_layer,
    n_ctx_train: L.n_ctx,
    rms_eps: 1e-5,
    rope_theta: 10000,
  };
  const vocab = synthVocab(L.n_vocab, seed);
  const llmShapes: { name: string; shape: number[] }[] = [{ name: N.LLM_TOKEN_EMBD, shape: [L.n_vocab, L.n_embd] }];
  for (let i = 0; i < L.n_layer; i++) {
    for (const spec of N.LLM_BLOCK_TENSORS) llmShapes.push({ name: N.expand(spec.gguf, { i }), shape: spec.shape(lh) });
  }
  llmShapes.push({ name: N.LLM_OUTPUT_NORM, shape: [L.n_embd] }, { name: N.LLM_OUTPUT, shape: [L.n_vocab, L.n_embd] });
  const llmTensors: GGUFTensorPlan[] = llmShapes.map(({ name, shape }) => {
    const t = llmTensorType(name, shape, type, L.n_layer);
    const fill = fillFor(name, shape[shape.length - 1]);
    return { name, shape, type: t, data: producer(name, shape, t, seed, fill, quantize, name === N.LLM_OUTPUT ? vocab.eos : undefined, checkAbort) };
  });
  const ftype = { f32: LLAMA_FTYPE.F32, f16: LLAMA_FTYPE.F16, q8_0: LLAMA_FTYPE.Q8_0, q4_k_m: LLAMA_FTYPE.Q4_K_M }[type];
  const kvLlm: [string, GGUFValue][] = llmKv(lh, vocab, ftype, [576, 64, sizes.n_audio_pos], `GroundingGPT synthetic ${options.preset}`);
  if (type === 'q8_0' || type === 'q4_k_m') kvLlm.splice(3, 0, ['general.quantization_version', gv.u32(2)]);

  // encoders
  const eh = synthEncodersHParams(sizes);
  const encType = type === 'q4_k_m' ? 'f16' : type;
  const encTensors: GGUFTensorPlan[] = encoderSpecs(eh).map(({ name, shape, kind, fanIn }) => {
    const t = encoderTensorType(kind, shape, encType);
    const fill: Fill = name.endsWith('attn_qkv.bias') ? { kind: 'uniform', std: 0.01 } : fillFor(name, fanIn);
    return { name, shape, type: t, data: producer(name, shape, t, seed, fill, quantize, undefined, checkAbort) };
  });
  const kvEnc = encodersKv(eh);

  // write (temp files, renamed at the end)
  const outDir = path.resolve(options.out);
  let created = false;
  if (!fs.existsSync(outDir)) {
    fs.mkdirSync(outDir, { recursive: true });
    created = true;
  }
  const { dest, tmp } = modelPaths(outDir);
  const numel = (ts: GGUFTensorPlan[]) => ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const nLlm = numel(llmTensors);
  const total = nLlm + numel(encTensors);
  const done = (ts: GGUFTensorPlan[], i: number) => numel(ts.slice(0, i + 1));
  try {
    checkAbort();
    await writeGGUF(tmp.llm, kvLlm, llmTensors, {
      checkAbort,
      onTensor: (i, _n, name) => onProgress?.({ stage: 'llm', fraction: done(llmTensors, i) / total, tensor: name }),
    });
    await writeGGUF(tmp.encoders, kvEnc, encTensors, {
      checkAbort,
      onTensor: (i, _n, name) => onProgress?.({ stage: 'encoders', fraction: (nLlm + done(encTensors, i)) / total, tensor: name }),
    });
    await guard.settle();
    await publishModel(tmp, dest, type, { synthetic: { preset: options.preset, seed, sizes } });
  } catch (err) {
    for (const f of Object.values(tmp)) await fs.promises.rm(f, { force: true }).catch(() => undefined);
    if (created) await fs.promises.rmdir(outDir).catch(() => undefined);
    throw err;
  }
  // the model is in place: a rejection from this last callback is caught and dropped
  onProgress?.({ stage: 'done', fraction: 1 });
  return { out: outDir, ...dest, sizes };
}
