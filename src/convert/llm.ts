/**
 * The LLM GGUF: a standard llama-architecture file that stock llama.cpp loads (hparams from
 * config.json, SentencePiece vocabulary from tokenizer.model plus the added media tokens), with
 * our extra `ggpt.*` keys (media token ids, feature rows per item; names.ts "LLM GGUF extras").
 * HF LLaMA q_proj/k_proj rows are permuted into llama.cpp's rope layout.
 */
import path from 'node:path';
import { ConversionError } from '../errors';
import { type GGUFTensorPlan, type GGUFValue, gv } from '../gguf/writer';
import { GGMLType } from '../gguf/types';
import { f32ToF16 } from '../gguf/float';
import type { Checkpoint } from './checkpoint';
import * as N from './names';
import { PieceType, type SentencePieceModel, readSentencePiece } from './sentencepiece';
import { type TensorEntry, toFloat32 } from './tensor';
import {
  type Json,
  checkF16Range,
  checkFiniteData,
  checkFloat,
  checkShape,
  configMatchesTensor,
  intField,
  need,
  numField,
  readJson,
  squeezeLeading,
} from './util';

/** The nine media tokens in names.h order, with their config.json keys where upstream has one. */
export const MEDIA_TOKENS: { name: string; key: string; configKey?: string }[] = [
  { name: '<im_patch>', key: N.KEY_TOK_IM_PATCH },
  { name: '<im_start>', key: N.KEY_TOK_IM_START },
  { name: '<im_end>', key: N.KEY_TOK_IM_END },
  { name: '<vi_patch>', key: N.KEY_TOK_VI_PATCH, configKey: 'video_patch_token' },
  { name: '<vi_start>', key: N.KEY_TOK_VI_START, configKey: 'video_start_token' },
  { name: '<vi_end>', key: N.KEY_TOK_VI_END, configKey: 'video_end_token' },
  { name: '<so_patch>', key: N.KEY_TOK_SO_PATCH, configKey: 'sound_patch_token' },
  { name: '<so_start>', key: N.KEY_TOK_SO_START, configKey: 'sound_start_token' },
  { name: '<so_end>', key: N.KEY_TOK_SO_END, configKey: 'sound_end_token' },
];

/** llama_ftype values written in general.file_type. */
export const LLAMA_FTYPE = { F32: 0, F16: 1, Q8_0: 7, Q4_K_M: 15, BF16: 32 } as const;

export interface LlmHParams extends N.LlmDims {
  n_layer: number;
  n_ctx_train: number;
  rms_eps: number;
  rope_theta: number;
  rope_scaling?: { type: 'linear'; factor: number };
}

/**
 * Accepted ranges of the LLM's config values: wide enough for any LLaMA-family model (vocabularies
 * of 32k-256k, widths up to 16k, 128 layers), narrow enough that a wrong value fails here instead
 * of sizing an allocation; libllama's GGUF keys are u32.
 */
export const LLM_CONFIG_RANGES = {
  vocab_size: [1, 1 << 21],
  hidden_size: [2, 1 << 16],
  intermediate_size: [1, 1 << 20],
  num_attention_heads: [1, 1 << 12],
  num_hidden_layers: [1, 1024],
  // the core refuses a llama.context_length under 8 positions (docs/LLM-FILE-CHECKS.md)
  max_position_embeddings: [8, 1 << 24],
  media_token_len: [1, 65536],
} as const;

export function llmHParams(cfg: Json, file: string): LlmHParams {
  const R = LLM_CONFIG_RANGES;
  const n_embd = intField(cfg, 'hidden_size', file, undefined, R.hidden_size);
  const n_head = intField(cfg, 'num_attention_heads', file, undefined, [R.num_attention_heads[0], Math.min(R.num_attention_heads[1], n_embd)]);
  const h: LlmHParams = {
    n_vocab: intField(cfg, 'vocab_size', file, undefined, R.vocab_size),
    n_embd,
    n_ff: intField(cfg, 'intermediate_size', file, undefined, R.intermediate_size),
    n_head,
    n_head_kv: intField(cfg, 'num_key_value_heads', file, n_head, [1, n_head]),
    n_layer: intField(cfg, 'num_hidden_layers', file, undefined, R.num_hidden_layers),
    n_ctx_train: intField(cfg, 'max_position_embeddings', file, 2048, R.max_position_embeddings),
    rms_eps: numField(cfg, 'rms_norm_eps', file, 1e-6, { above: 0, below: 1 }),
    rope_theta: numField(cfg, 'rope_theta', file, 10000, { above: 0, below: 1e12 }),
  };
  if (h.n_embd % h.n_head !== 0 || (h.n_embd / h.n_head) % 2 !== 0) {
    throw new ConversionError(`${file}: hidden_size ${h.n_embd} is not a multiple of 2 * num_attention_heads (${h.n_head})`, { file });
  }
  if (h.n_head % h.n_head_kv !== 0) throw new ConversionError(`${file}: num_attention_heads is not a multiple of num_key_value_heads`, { file });
  const rs = cfg.rope_scaling as { type?: unknown; rope_type?: unknown; factor?: unknown } | null | undefined;
  if (rs) {
    const type = rs.type ?? rs.rope_type;
    if (type !== 'linear' || typeof rs.factor !== 'number' || !(rs.factor > 0 && rs.factor <= 1024)) {
      throw new ConversionError(`${file}: rope_scaling ${JSON.stringify(rs)} is not supported (only linear)`, { file });
    }
    h.rope_scaling = { type: 'linear', factor: rs.factor };
  }
  if (cfg.tie_word_embeddings === true) throw new ConversionError(`${file}: tied word embeddings are not supported (GroundingGPT has an lm_head)`, { file });
  return h;
}

export interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  bos: number;
  eos: number;
  unk: number;
  pad: number;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** ids of MEDIA_TOKENS, in that order */
  media: number[];
}

/**
 * The GGUF vocabulary: SentencePiece pieces, then the added tokens (added_tokens.json and
 * tokenizer_config.json's added_tokens_decoder; special ones become CONTROL tokens, the others
 * USER_DEFINED, score -1000 as llama.cpp's converter does), padding slots up to vocab_size.
 */
export function buildVocab(modelDir: string, cfg: Json, nVocab: number, sp?: SentencePieceModel): Vocab {
  const spFile = path.join(modelDir, 'tokenizer.model');
  const spm = sp ?? readSentencePiece(spFile);
  if (spm.pieces.length > nVocab) throw new ConversionError(`${spFile}: ${spm.pieces.length} pieces but vocab_size is ${nVocab}`, { file: spFile });
  const tokens: (string | undefined)[] = new Array(nVocab);
  const scores: number[] = new Array(nVocab).fill(0);
  const types: number[] = new Array(nVocab).fill(PieceType.UNUSED);
  spm.pieces.forEach((p, i) => {
    tokens[i] = p.piece;
    scores[i] = p.score;
    types[i] = p.type;
  });
  const addedFile = path.join(modelDir, 'added_tokens.json');
  const added = readJson(addedFile, false) ?? {};
  const tcFile = path.join(modelDir, 'tokenizer_config.json');
  const tc = readJson(tcFile, false) ?? {};
  const decoder = (tc.added_tokens_decoder ?? {}) as Record<string, { content?: unknown; special?: unknown }>;
  const special = new Set<string>();
  const addToken = (content: string, id: number, file: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= nVocab)
      throw new ConversionError(`${file}: token ${content} has id ${id} outside the vocabulary (${nVocab})`, { file });
    if (id < spm.pieces.length) {
      if (tokens[id] !== content) throw new ConversionError(`${file}: token ${content} has id ${id}, which tokenizer.model calls ${tokens[id]}`, { file });
      return;
    }
    if (tokens[id] !== undefined && tokens[id] !== content)
      throw new ConversionError(`${file}: id ${id} is given to both ${tokens[id]} and ${content}`, { file });
    tokens[id] = content;
    scores[id] = -1000;
    types[id] = PieceType.USER_DEFINED;
  };
  for (const [content, id] of Object.entries(added)) addToken(content, id as number, addedFile);
  for (const [idText, d] of Object.entries(decoder)) {
    if (typeof d?.content !== 'string') continue;
    addToken(d.content, Number(idText), tcFile);
    if (d.special === true) special.add(d.content);
  }
  const stm = readJson(path.join(modelDir, 'special_tokens_map.json'), false);
  for (const s of (stm?.additional_special_tokens ?? []) as unknown[]) if (typeof s === 'string') special.add(s);
  for (let i = spm.pieces.length; i < nVocab; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      scores[i] = -1000;
      types[i] = PieceType.UNUSED;
    } else if (special.has(tokens[i] as string)) {
      types[i] = PieceType.CONTROL;
    }
  }
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (t !== undefined && !idOf.has(t)) idOf.set(t, i);
  });
  const cfgFile = path.join(modelDir, 'config.json');
  const media = MEDIA_TOKENS.map((m) => {
    const fromVocab = idOf.get(m.name);
    const fromCfg = m.configKey && cfg[m.configKey] !== undefined ? intField(cfg, m.configKey, cfgFile, undefined, [0, nVocab - 1]) : undefined;
    if (fromVocab !== undefined && fromCfg !== undefined && fromVocab !== fromCfg) {
      throw new ConversionError(`${cfgFile}: ${m.configKey} = ${fromCfg} but the tokenizer gives ${m.name} id ${fromVocab}`, { file: cfgFile });
    }
    const id = fromVocab ?? fromCfg;
    if (id === undefined)
      throw new ConversionError(`${addedFile}: media token ${m.name} not found (added_tokens.json / tokenizer_config.json)`, { file: addedFile });
    if (fromVocab === undefined) {
      tokens[id] = m.name;
      scores[id] = -1000;
      types[id] = PieceType.CONTROL;
    }
    return id;
  });
  const bool = (v: unknown, d: boolean) => (typeof v === 'boolean' ? v : d);
  const bos = intField(cfg, 'bos_token_id', cfgFile, spm.bosId);
  const eos = intField(cfg, 'eos_token_id', cfgFile, spm.eosId);
  const pad = intField(cfg, 'pad_token_id', cfgFile, spm.padId);
  for (const [what, id] of [
    ['bos_token_id', bos],
    ['eos_token_id', eos],
  ] as const) {
    if (id < 0 || id >= nVocab) throw new ConversionError(`${cfgFile}: ${what} ${id} outside the vocabulary`, { file: cfgFile });
  }
  return {
    tokens: tokens as string[],
    scores,
    types,
    bos,
    eos,
    unk: spm.unkId,
    pad: pad >= 0 && pad < nVocab ? pad : -1,
    addBos: bool(tc.add_bos_token, true),
    addEos: bool(tc.add_eos_token, false),
    addSpacePrefix: spm.addDummyPrefix,
    media,
  };
}

/** LLM metadata in a stable order. */
export function llmKv(h: LlmHParams, vocab: Vocab, fileType: number, lens: [number, number, number], name = 'GroundingGPT'): [string, GGUFValue][] {
  const kv: [string, GGUFValue][] = [
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str(name)],
    ['general.file_type', gv.u32(fileType)],
    ['llama.vocab_size', gv.u32(h.n_vocab)],
    ['llama.context_length', gv.u32(h.n_ctx_train)],
    ['llama.embedding_length', gv.u32(h.n_embd)],
    ['llama.block_count', gv.u32(h.n_layer)],
    ['llama.feed_forward_length', gv.u32(h.n_ff)],
    ['llama.rope.dimension_count', gv.u32(h.n_embd / h.n_head)],
    ['llama.attention.head_count', gv.u32(h.n_head)],
    ['llama.attention.head_count_kv', gv.u32(h.n_head_kv)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(h.rms_eps)],
    ['llama.rope.freq_base', gv.f32(h.rope_theta)],
  ];
  if (h.rope_scaling) {
    kv.push(['llama.rope.scaling.type', gv.str('linear')], ['llama.rope.scaling.factor', gv.f32(h.rope_scaling.factor)]);
  }
  kv.push(
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.arrStr(vocab.tokens)],
    ['tokenizer.ggml.scores', gv.arrF32(vocab.scores)],
    ['tokenizer.ggml.token_type', gv.arrI32(vocab.types)],
    ['tokenizer.ggml.bos_token_id', gv.u32(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', gv.u32(vocab.eos)],
    ['tokenizer.ggml.unknown_token_id', gv.u32(vocab.unk)],
  );
  if (vocab.pad >= 0) kv.push(['tokenizer.ggml.padding_token_id', gv.u32(vocab.pad)]);
  kv.push(
    ['tokenizer.ggml.add_bos_token', gv.bool(vocab.addBos)],
    ['tokenizer.ggml.add_eos_token', gv.bool(vocab.addEos)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix)],
    [N.KEY_FORMAT_VERSION, gv.u32(N.FORMAT_VERSION)],
  );
  MEDIA_TOKENS.forEach((m, i) => {
    kv.push([m.key, gv.u32(vocab.media[i])]);
  });
  kv.push([N.KEY_IMAGE_TOKEN_LEN, gv.u32(lens[0])], [N.KEY_VIDEO_TOKEN_LEN, gv.u32(lens[1])], [N.KEY_SOUND_TOKEN_LEN, gv.u32(lens[2])]);
  return kv;
}

/**
 * llama.cpp's rope layout: within each head, HF's rows [first half; second half] become
 * interleaved (row 2i+j of the head <- row j*(hd/2)+i of HF), as llama.cpp's HF converter does.
 * Works on raw rows of any element type.
 */
export function permuteRopeRows(bytes: Uint8Array, nRows: number, nHead: number): Uint8Array {
  const rowBytes = bytes.length / nRows;
  const hd = nRows / nHead;
  const half = hd / 2;
  const out = new Uint8Array(bytes.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = h * hd + j * half + i;
        const dst = h * hd + 2 * i + j;
        out.set(bytes.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return out;
}

/** Output type of the direct LLM file (the lossless source of quantisation, or the final f32/f16). */
export type LlmStorage = 'f32' | 'f16' | 'lossless';

export interface LlmPlan {
  kv: [string, GGUFValue][];
  tensors: GGUFTensorPlan[];
  /** upstream tensors used */
  consumed: Set<string>;
  hparams: LlmHParams;
  vocab: Vocab;
  /** general.file_type written (llama_ftype) */
  fileType: number;
  /** Feature rows per image, video and sound item (config image/video/sound_token_len). */
  lens: [number, number, number];
}

/**
 * The config's sizes against the checkpoint's tensor shapes (read from the headers): vocab_size
 * and hidden_size against the token embeddings, num_hidden_layers against the blocks present,
 * intermediate_size against the first gate projection, the head counts against the first k
 * projection. Each mismatch names the config file, the key and the tensor.
 */
export function checkLlmConfig(ck: Checkpoint, h: LlmHParams, cfgFile: string): void {
  const emb = need(ck, 'model.embed_tokens.weight');
  const es = squeezeLeading(emb.shape);
  if (es.length !== 2) checkShape(emb, [h.n_vocab, h.n_embd]);
  configMatchesTensor(cfgFile, 'hidden_size', h.n_embd, emb, es[1], 'columns');
  configMatchesTensor(cfgFile, 'vocab_size', h.n_vocab, emb, es[0], 'rows');
  const idx = new Set<number>();
  for (const name of ck.tensors.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m) idx.add(Number(m[1]));
  }
  const blocks = idx.size === 0 ? 0 : Math.max(...idx) + 1;
  if (blocks !== h.n_layer) {
    const where = blocks === 0 ? 'no blocks (model.layers.*)' : `blocks model.layers.0 to model.layers.${blocks - 1}`;
    throw new ConversionError(`${cfgFile}: "num_hidden_layers" = ${h.n_layer} but the checkpoint (${ck.dir}) has ${where}`, { file: cfgFile });
  }
  const gate = need(ck, 'model.layers.0.mlp.gate_proj.weight');
  configMatchesTensor(cfgFile, 'intermediate_size', h.n_ff, gate, gate.shape[0], 'rows');
  const k = need(ck, 'model.layers.0.self_attn.k_proj.weight');
  const hd = h.n_embd / h.n_head;
  if (k.shape[0] !== hd * h.n_head_kv) {
    throw new ConversionError(
      `${cfgFile}: "num_key_value_heads" = ${h.n_head_kv} with heads of ${hd} (hidden_size / num_attention_heads) needs ` +
        `${hd * h.n_head_kv} rows but tensor ${k.name} (in ${k.file}) has ${k.shape[0]}`,
      { file: cfgFile, tensor: k.name },
    );
  }
}

/** Validates the LLM tensors of a GroundingGPT checkpoint and plans the LLM GGUF. */
export function planLlm(ck: Checkpoint, modelDir: string, storage: LlmStorage): LlmPlan {
  const cfgFile = path.join(modelDir, 'config.json');
  const cfg = readJson(cfgFile, true);
  const h = llmHParams(cfg, cfgFile);
  // the config against the tensors before anything is sized from it (vocabulary, block list)
  checkLlmConfig(ck, h, cfgFile);
  const vocab = buildVocab(modelDir, cfg, h.n_vocab);
  const lenRange = LLM_CONFIG_RANGES.media_token_len;
  const lens: [number, number, number] = [
    intField(cfg, 'image_token_len', cfgFile, 576, lenRange),
    intField(cfg, 'video_token_len', cfgFile, 64, lenRange),
    intField(cfg, 'sound_token_len', cfgFile, 8, lenRange),
  ];
  const consumed = new Set<string>();
  const specs: { spec: (typeof N.LLM_GLOBAL_TENSORS)[number]; i?: number }[] = [
    { spec: N.LLM_GLOBAL_TENSORS[0] },
    ...Array.from({ length: h.n_layer }, (_, i) => N.LLM_BLOCK_TENSORS.map((spec) => ({ spec, i }))).flat(),
    { spec: N.LLM_GLOBAL_TENSORS[1] },
    { spec: N.LLM_GLOBAL_TENSORS[2] },
  ];
  const entries: { spec: (typeof specs)[number]['spec']; t: TensorEntry; name: string; shape: number[] }[] = [];
  for (const { spec, i } of specs) {
    const from = N.expand(spec.from, { i });
    const t = need(ck, from);
    const shape = spec.shape(h);
    checkFloat(t);
    checkShape(t, shape);
    consumed.add(from);
    entries.push({ spec, t, name: N.expand(spec.gguf, { i }), shape });
  }
  const tensors: GGUFTensorPlan[] = entries.map(({ spec, t, name, shape }) => {
    let type: GGMLType;
    if (spec.kind !== 'matrix' || storage === 'f32') type = GGMLType.F32;
    else if (storage === 'f16') type = GGMLType.F16;
    else type = t.dtype === 'BF16' ? GGMLType.BF16 : t.dtype === 'F16' ? GGMLType.F16 : GGMLType.F32; // lossless
    return {
      name,
      shape,
      type,
      data: async () => {
        const d = await t.read();
        checkFiniteData(t, d);
        let bytes: Uint8Array;
        if ((type === GGMLType.BF16 && d.dtype === 'BF16') || (type === GGMLType.F16 && d.dtype === 'F16') || (type === GGMLType.F32 && d.dtype === 'F32')) {
          bytes = d.bytes;
        } else {
          const f = toFloat32(d);
          if (type === GGMLType.F16) {
            bytes = f32ToF16(f);
            checkF16Range(t, bytes, f);
          } else {
            // F64 beyond f32's range becomes infinite here
            if (d.dtype === 'F64') checkFiniteData(t, { dtype: 'F32', shape: d.shape, bytes: new Uint8Array(f.buffer) });
            bytes = new Uint8Array(f.buffer);
          }
        }
        if (spec.permute) bytes = permuteRopeRows(bytes, shape[0], spec.permute === 'q' ? h.n_head : h.n_head_kv);
        return bytes;
      },
    };
  });
  const has = (type: GGMLType) => tensors.some((t) => t.type === type);
  const fileType = has(GGMLType.BF16) ? LLAMA_FTYPE.BF16 : has(GGMLType.F16) ? LLAMA_FTYPE.F16 : LLAMA_FTYPE.F32;
  return { kv: llmKv(h, vocab, fileType, lens), tensors, consumed, hparams: h, vocab, fileType, lens };
}
