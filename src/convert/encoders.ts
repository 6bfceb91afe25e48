/**
 * The encoders GGUF (names.ts / names.h): CLIP vision tower + projector, EVA ViT-g + ln_vision,
 * the three Q-Formers, video and audio extras, ImageBind-Huge audio. Every size is read from the
 * configs and tensor shapes; head counts follow docs/COMPUTATION.md §1 (Q-Former and ImageBind head_dim 64, EVA
 * 88, CLIP from its config) unless overridden. Every tensor is checked for presence and shape.
 * (Over 500 lines: the hyperparameters, the plan and the metadata of one file change together.)
 */
import path from 'node:path';
import { ConversionError } from '../errors';
import { type GGUFTensorPlan, type GGUFValue, gv } from '../gguf/writer';
import { GGMLType } from '../gguf/types';
import type { Checkpoint } from './checkpoint';
import * as N from './names';
import { type Json, checkF16Range, checkFloat, checkShape, configMatchesTensor, encodeFloat, intField, need, numField, readF32, readJson } from './util';
import { type TensorEntry, toFloat32 } from './tensor';

/** Head counts that override docs/COMPUTATION.md §1's rules (e.g. for a differently shaped model). */
export interface HeadOverrides {
  clip?: number;
  eva?: number;
  qformer?: number;
  vqformer?: number;
  aqformer?: number;
  imagebind?: number;
}

export type EncoderType = 'f32' | 'f16' | 'q8_0';

/** Quantises rows of f32 (the addon's ggml quantiser); injected so f32/f16 need no addon. */
export type RowQuantizer = (type: number, data: Float32Array, nRows: number, nPerRow: number) => Uint8Array;

// docs/COMPUTATION.md §1 head_dim rules and upstream constants that no config carries.
const QF_HEAD_DIM = 64;
const EVA_HEAD_DIM = 88;
const IB_HEAD_DIM = 64;
const EVA_EPS = 1e-6; // eva_vit.py: partial(nn.LayerNorm, eps=1e-6)
const LN_VISION_EPS = 1e-5; // blip2.py: LayerNorm(num_features) default eps
const QF_EPS = 1e-12; // BertConfig layer_norm_eps (bert-base-uncased)
const IB_STEM_EPS = 1e-5; // rgbt_stem norm_layer nn.LayerNorm default
const IB_EPS = 1e-6; // ImageBind trunk / head LayerNorm eps=1e-6
const IB_N_MELS = 128; // data.load_and_transform_audio_data defaults
const IB_TARGET_LEN = 204;
const IB_MAX_LOGIT_SCALE = 100;
const AUDIO_SAMPLE_RATE = 16000;
const AUDIO_CLIPS = 3;
const AUDIO_CLIP_SECONDS = 2;
const FBANK_MEAN = -4.268;
const FBANK_STD = 9.138;
/** OpenAI CLIP normalisation, hard-coded upstream for video frames (docs/COMPUTATION.md §3.3). */
const OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD = [0.26862954, 0.26130258, 0.27577711];

export interface EncodersHParams {
  llm_n_embd: number;
  clip: {
    image_size: number;
    patch: number;
    n_embd: number;
    n_ff: number;
    n_head: number;
    n_block: number;
    n_layer_total: number;
    eps: number;
    act: string;
    mean: number[];
    std: number[];
  };
  eva: { image_size: number; patch: number; n_embd: number; n_ff: number; n_head: number; n_block: number };
  qf: Record<N.QFormerPrefix, { n_embd: number; n_ff: number; n_head: number; n_block: number; cross_freq: number; n_query: number; kv_width: number }>;
  ib: { n_embd: number; n_ff: number; n_head: number; n_block: number; out_dim: number; kernel: number; stride: number; n_pos: number; logit_scale: number };
  max_frames: number;
  n_audio_pos: number;
}

export interface EncodersPlan {
  kv: [string, GGUFValue][];
  tensors: GGUFTensorPlan[];
  consumedModel: Set<string>;
  consumedClip: Set<string>;
  /** CLIP layers at or past this index are not needed (hidden_states[select]). */
  clipBlocks: number;
  hparams: EncodersHParams;
  /** Reads what planning deferred (deferScalars) and updates `kv`; a no-op otherwise. */
  finish(): Promise<void>;
}

/** Distinct block indices of tensors `prefix.{i}.` (sorted); checks they are 0..n-1. */
function blockCount(ck: Checkpoint, prefix: string, what: string): number {
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)\\.`);
  const idx = new Set<number>();
  for (const name of ck.tensors.keys()) {
    const m = re.exec(name);
    if (m) idx.add(Number(m[1]));
  }
  if (idx.size === 0) throw new ConversionError(`${ck.dir}: no ${what} blocks found (${prefix}.0.*)`, { file: ck.dir, tensor: `${prefix}.0` });
  const n = Math.max(...idx) + 1;
  for (let i = 0; i < n; i++) {
    if (!idx.has(i)) throw new ConversionError(`${ck.dir}: ${what} block ${i} is missing (${prefix}.${i}.*)`, { file: ck.dir, tensor: `${prefix}.${i}` });
  }
  return n;
}

function heads(width: number, headDim: number, override: number | undefined, what: string, tensor: TensorEntry, key: string): number {
  const n = override ?? width / headDim;
  if (!Number.isInteger(n) || n <= 0 || width % n !== 0) {
    throw new ConversionError(
      `${tensor.file}: ${what} width ${width} (from ${tensor.name}) does not split into heads of ${headDim}; pass overrides.heads.${key}`,
      { file: tensor.file, tensor: tensor.name },
    );
  }
  return n;
}

/** Which blocks have cross-attention -> cross_attention_freq (blocks i % freq == 0). */
function crossFreq(ck: Checkpoint, bert: string, nBlock: number, qf: string): number {
  const has = Array.from({ length: nBlock }, (_, i) => ck.tensors.has(`${bert}.encoder.layer.${i}.crossattention.self.query.weight`));
  for (let f = 1; f <= nBlock; f++) {
    if (has.every((x, i) => x === (i % f === 0))) return f;
  }
  const file = ck.dir;
  throw new ConversionError(`${file}: ${qf}: cross-attention blocks [${has.flatMap((x, i) => (x ? [i] : [])).join(', ')}] follow no cross_attention_freq`, {
    file,
    tensor: `${bert}.encoder.layer.0.crossattention`,
  });
}

/** Reads every hyper-parameter of the towers from configs and tensor shapes. */
export function encodersHParams(model: Checkpoint, clip: Checkpoint, modelDir: string, clipDir: string, overrides: HeadOverrides = {}): EncodersHParams {
  const cfgFile = path.join(modelDir, 'config.json');
  const cfg = readJson(cfgFile, true);
  const clipCfgFile = path.join(clipDir, 'config.json');
  const clipCfgAll = readJson(clipCfgFile, true);
  const vc = (clipCfgAll.vision_config ?? clipCfgAll) as Json;
  const ppFile = path.join(clipDir, 'preprocessor_config.json');
  const pp = readJson(ppFile, false);
  const floats3 = (v: unknown, fallback: number[], what: string, positive: boolean): number[] => {
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
      throw new ConversionError(`${ppFile}: "${what}" is not 3 finite${positive ? ' positive' : ''} numbers (${JSON.stringify(v)})`, { file: ppFile });
    }
    return v as number[];
  };

  // CLIP: sizes from its vision config, each checked against the CLIP checkpoint's tensors
  // before use; blocks kept = hidden_states index of mm_vision_select_layer
  const clipLayers = intField(vc, 'num_hidden_layers', clipCfgFile, undefined, [1, 1024]);
  const select = intField(cfg, 'mm_vision_select_layer', cfgFile, -2, [-1024, 1024]);
  const clipBlocks = select < 0 ? clipLayers + 1 + select : select;
  if (clipBlocks < 1 || clipBlocks > clipLayers) {
    throw new ConversionError(`${cfgFile}: mm_vision_select_layer ${select} is outside the ${clipLayers} CLIP layers`, { file: cfgFile });
  }
  const clipEmbd = intField(vc, 'hidden_size', clipCfgFile, undefined, [1, 1 << 16]);
  const clipHeads = overrides.clip ?? intField(vc, 'num_attention_heads', clipCfgFile, undefined, [1, clipEmbd]);
  if (clipEmbd % clipHeads !== 0)
    throw new ConversionError(`${clipCfgFile}: hidden_size ${clipEmbd} is not a multiple of ${clipHeads} heads`, { file: clipCfgFile });
  const act = vc.hidden_act ?? 'quick_gelu';
  if (act !== 'quick_gelu' && act !== 'gelu') throw new ConversionError(`${clipCfgFile}: hidden_act ${String(act)} is not supported`, { file: clipCfgFile });
  const clipH = {
    image_size: intField(vc, 'image_size', clipCfgFile, undefined, [1, 1 << 14]),
    patch: intField(vc, 'patch_size', clipCfgFile, undefined, [1, 1 << 10]),
    n_embd: clipEmbd,
    n_ff: intField(vc, 'intermediate_size', clipCfgFile, undefined, [1, 1 << 20]),
    n_head: clipHeads,
    n_block: clipBlocks,
    n_layer_total: clipLayers,
    eps: numField(vc, 'layer_norm_eps', clipCfgFile, 1e-5, { above: 0, below: 1 }),
    act: act as string,
    mean: floats3(pp?.image_mean, OPENAI_MEAN, 'image_mean', false),
    std: floats3(pp?.image_std, OPENAI_STD, 'image_std', true),
  };
  if (clipH.image_size % clipH.patch !== 0) throw new ConversionError(`${clipCfgFile}: image_size is not a multiple of patch_size`, { file: clipCfgFile });
  const clipCls = need(clip, 'vision_model.embeddings.class_embedding');
  configMatchesTensor(clipCfgFile, 'hidden_size', clipEmbd, clipCls, clipCls.shape[clipCls.shape.length - 1] ?? 0, 'values');
  const clipPatchW = need(clip, 'vision_model.embeddings.patch_embedding.weight');
  configMatchesTensor(clipCfgFile, 'patch_size', clipH.patch, clipPatchW, clipPatchW.shape[clipPatchW.shape.length - 1] ?? 0, 'columns');
  const clipPos = need(clip, 'vision_model.embeddings.position_embedding.weight');
  const clipNPos = (clipH.image_size / clipH.patch) ** 2 + 1;
  if (clipPos.shape[0] !== clipNPos) {
    throw new ConversionError(
      `${clipCfgFile}: "image_size" = ${clipH.image_size} with "patch_size" = ${clipH.patch} needs ${clipNPos} positions but tensor ` +
        `${clipPos.name} (in ${clipPos.file}) has ${clipPos.shape[0]}`,
      { file: clipCfgFile, tensor: clipPos.name },
    );
  }
  const clipFc1 = need(clip, 'vision_model.encoder.layers.0.mlp.fc1.weight');
  configMatchesTensor(clipCfgFile, 'intermediate_size', clipH.n_ff, clipFc1, clipFc1.shape[0], 'rows');

  // EVA ViT-g: sizes from tensor shapes
  const evaCls = need(model, 'model.visual_encoder.cls_token');
  const evaEmbd = evaCls.shape[evaCls.shape.length - 1];
  const evaPatchW = need(model, 'model.visual_encoder.patch_embed.proj.weight');
  const evaPatch = evaPatchW.shape[evaPatchW.shape.length - 1];
  const evaPos = need(model, 'model.visual_encoder.pos_embed');
  const evaNPos = evaPos.shape[evaPos.shape.length - 2] ?? 0;
  const evaGrid = Math.round(Math.sqrt(evaNPos - 1));
  if (evaGrid * evaGrid !== evaNPos - 1) {
    throw new ConversionError(`${evaPos.file}: ${evaPos.name} has ${evaNPos} positions, not 1 + a square grid`, { file: evaPos.file, tensor: evaPos.name });
  }
  const evaFc1 = need(model, 'model.visual_encoder.blocks.0.mlp.fc1.weight');
  const evaH = {
    image_size: evaGrid * evaPatch,
    patch: evaPatch,
    n_embd: evaEmbd,
    n_ff: evaFc1.shape[0],
    n_head: heads(evaEmbd, EVA_HEAD_DIM, overrides.eva, 'EVA', evaCls, 'eva'),
    n_block: blockCount(model, 'model.visual_encoder.blocks', 'EVA'),
  };

  // ImageBind audio
  const IB = 'model.audio_encoder';
  const ibCls = need(model, `${IB}.modality_preprocessors.audio.cls_token`);
  const ibEmbd = ibCls.shape[ibCls.shape.length - 1];
  const ibStem = need(model, `${IB}.modality_preprocessors.audio.rgbt_stem.proj.weight`);
  const kernel = ibStem.shape[ibStem.shape.length - 1];
  const ibPos = need(model, `${IB}.modality_preprocessors.audio.pos_embedding_helper.pos_embed`);
  const ibNPos = ibPos.shape[ibPos.shape.length - 2] ?? 0;
  // stride: the one whose token grid (mels x frames) matches the position embedding (10 upstream)
  const grid = (s: number) => (Math.floor((IB_N_MELS - kernel) / s) + 1) * (Math.floor((IB_TARGET_LEN - kernel) / s) + 1);
  const strides =
    Number.isInteger(kernel) && kernel >= 1 && kernel <= IB_N_MELS
      ? [10, ...Array.from({ length: kernel }, (_, i) => i + 1)].filter((s) => grid(s) === ibNPos - 1)
      : [];
  if (strides.length === 0) {
    throw new ConversionError(
      `${ibPos.file}: ${ibPos.name} has ${ibNPos} positions, which no stem stride gives for kernel ${kernel} on ${IB_N_MELS}x${IB_TARGET_LEN}`,
      {
        file: ibPos.file,
        tensor: ibPos.name,
      },
    );
  }
  const ibHead = need(model, `${IB}.modality_heads.audio.2.weight`);
  need(model, N.IB_LOG_LOGIT_SCALE_FROM);
  const ibH = {
    n_embd: ibEmbd,
    n_ff: need(model, `${IB}.modality_trunks.audio.blocks.0.mlp.fc1.weight`).shape[0],
    n_head: heads(ibEmbd, IB_HEAD_DIM, overrides.imagebind, 'ImageBind audio', ibCls, 'imagebind'),
    n_block: blockCount(model, `${IB}.modality_trunks.audio.blocks`, 'ImageBind audio'),
    out_dim: ibHead.shape[0],
    kernel,
    stride: strides[0],
    n_pos: ibNPos,
    logit_scale: NaN, // read from the tensor in planEncoders
  };

  // Q-Formers
  const qf = {} as EncodersHParams['qf'];
  for (const p of N.QF_PREFIXES) {
    const { bert, query } = N.QF_UPSTREAM[p];
    const q = need(model, query);
    const nEmbd = q.shape[q.shape.length - 1];
    const nQuery = q.shape[q.shape.length - 2] ?? 1;
    const nBlock = blockCount(model, `${bert}.encoder.layer`, `${p} (${bert})`);
    const freq = crossFreq(model, bert, nBlock, p);
    const xk = need(model, `${bert}.encoder.layer.0.crossattention.self.key.weight`);
    qf[p] = {
      n_embd: nEmbd,
      n_ff: need(model, `${bert}.encoder.layer.0.intermediate_query.dense.weight`).shape[0],
      n_head: heads(nEmbd, QF_HEAD_DIM, overrides[p], p, q, p),
      n_block: nBlock,
      cross_freq: freq,
      n_query: nQuery,
      kv_width: xk.shape[1],
    };
  }
  // the Q-Formers read what the towers produce
  const chain: [N.QFormerPrefix, number, string][] = [
    ['qformer', evaH.n_embd, 'the EVA width'],
    ['vqformer', qf.qformer.n_embd, 'the frame Q-Former width'],
    ['aqformer', ibH.out_dim, 'the ImageBind output dim'],
  ];
  for (const [p, width, what] of chain) {
    if (qf[p].kv_width !== width) {
      const t = need(model, `${N.QF_UPSTREAM[p].bert}.encoder.layer.0.crossattention.self.key.weight`);
      throw new ConversionError(`${t.file}: tensor ${t.name} reads width ${qf[p].kv_width}, but ${what} is ${width}`, { file: t.file, tensor: t.name });
    }
  }
  const framePos = need(model, 'model.video_frame_position_embedding.weight');
  const audioPos = need(model, 'model.audio_position_embedding.weight');
  if (audioPos.shape[0] < AUDIO_CLIPS) {
    throw new ConversionError(`${audioPos.file}: ${audioPos.name} has ${audioPos.shape[0]} rows, ${AUDIO_CLIPS} clips need as many`, {
      file: audioPos.file,
      tensor: audioPos.name,
    });
  }
  return {
    llm_n_embd: intField(cfg, 'hidden_size', cfgFile, undefined, [1, 1 << 16]),
    clip: clipH,
    eva: evaH,
    qf,
    ib: ibH,
    max_frames: framePos.shape[0],
    n_audio_pos: audioPos.shape[0],
  };
}

/** GGUF type of a tower tensor for a target type (brief: norms etc. f32; q8_0 needs rows % 32). */
export function encoderTensorType(kind: N.TensorKind, shape: readonly number[], type: EncoderType): GGMLType {
  if (kind === 'f32' || type === 'f32') return GGMLType.F32;
  if (kind === 'conv' || type === 'f16') return GGMLType.F16;
  return shape[shape.length - 1] % 32 === 0 ? GGMLType.Q8_0 : GGMLType.F16;
}

/** Validates every tower tensor and plans the encoders GGUF. */
export async function planEncoders(
  model: Checkpoint,
  clip: Checkpoint,
  modelDir: string,
  clipDir: string,
  type: EncoderType,
  options: { overrides?: HeadOverrides; quantizeRows?: RowQuantizer; deferScalars?: boolean } = {},
): Promise<EncodersPlan> {
  const h = encodersHParams(model, clip, modelDir, clipDir, options.overrides);
  const logitT = need(model, N.IB_LOG_LOGIT_SCALE_FROM);
  checkFloat(logitT);
  // ImageBind's logit scale is a value in the file's metadata: read now, or (deferScalars: its
  // shard may still be downloading, docs/PULL.md) by finish(), before the encoders file is written
  const readScalars = async () => {
    const logitV = toFloat32(await logitT.read());
    if (logitV.length !== 1 || !Number.isFinite(logitV[0])) {
      throw new ConversionError(`${logitT.file}: tensor ${logitT.name} is not a finite scalar`, { file: logitT.file, tensor: logitT.name });
    }
    h.ib.logit_scale = Math.min(Math.exp(logitV[0]), IB_MAX_LOGIT_SCALE);
  };
  if (!options.deferScalars) await readScalars();

  const consumedModel = new Set<string>([N.IB_LOG_LOGIT_SCALE_FROM]);
  const consumedClip = new Set<string>();
  const tensors: GGUFTensorPlan[] = [];
  const add = <H>(ck: Checkpoint, consumed: Set<string>, spec: N.TensorSpec<H>, dims: H, vars: { i?: number; qf?: N.QFormerPrefix }) => {
    const from = N.expand(spec.from, vars);
    const name = N.expand(spec.gguf, vars);
    const shape = spec.shape(dims);
    const t = need(ck, from);
    checkFloat(t);
    let t2: TensorEntry | undefined;
    if (spec.from2) {
      // EVA qkv bias: cat(q_bias, zeros, v_bias)
      t2 = need(ck, N.expand(spec.from2, vars));
      checkFloat(t2);
      const third = [shape[0] / 3];
      checkShape(t, third);
      checkShape(t2, third);
      consumed.add(t2.name);
    } else {
      checkShape(t, shape);
    }
    consumed.add(from);
    const ggmlType = encoderTensorType(spec.kind, shape, type);
    if (ggmlType === GGMLType.Q8_0 && !options.quantizeRows) throw new Error('planEncoders: q8_0 needs a row quantiser');
    tensors.push({
      name,
      shape,
      type: ggmlType,
      data: async () => {
        let v: Float32Array;
        if (t2) {
          const n = shape[0] / 3;
          v = new Float32Array(shape[0]);
          v.set(await readF32(t, [n]), 0);
          v.set(await readF32(t2, [n]), 2 * n);
        } else {
          v = await readF32(t, shape);
        }
        if (ggmlType === GGMLType.Q8_0) {
          const nPerRow = shape[shape.length - 1];
          return (options.quantizeRows as RowQuantizer)(ggmlType, v, v.length / nPerRow, nPerRow);
        }
        const bytes = encodeFloat(v, ggmlType);
        if (ggmlType === GGMLType.F16) checkF16Range(t, bytes, v);
        return bytes;
      },
    });
  };

  // CLIP + projector
  const clipDims: N.ClipDims = {
    n_embd: h.clip.n_embd,
    n_ff: h.clip.n_ff,
    n_pos: (h.clip.image_size / h.clip.patch) ** 2 + 1,
    patch: h.clip.patch,
    llm_n_embd: h.llm_n_embd,
  };
  for (const s of N.CLIP_GLOBAL_TENSORS) add(clip, consumedClip, s, clipDims, {});
  for (let i = 0; i < h.clip.n_block; i++) for (const s of N.CLIP_BLOCK_TENSORS) add(clip, consumedClip, s, clipDims, { i });
  for (const s of N.MMPROJ_TENSORS) add(model, consumedModel, s, clipDims, {});

  // EVA
  const evaDims: N.EvaDims = { n_embd: h.eva.n_embd, n_ff: h.eva.n_ff, n_pos: (h.eva.image_size / h.eva.patch) ** 2 + 1, patch: h.eva.patch };
  for (const s of N.EVA_GLOBAL_TENSORS) add(model, consumedModel, s, evaDims, {});
  for (let i = 0; i < h.eva.n_block; i++) for (const s of N.EVA_BLOCK_TENSORS) add(model, consumedModel, s, evaDims, { i });

  // Q-Formers
  for (const qf of N.QF_PREFIXES) {
    const q = h.qf[qf];
    const dims: N.QFormerDims = { n_embd: q.n_embd, n_ff: q.n_ff, n_query: q.n_query, kv_width: q.kv_width };
    for (const s of N.QF_GLOBAL_TENSORS) add(model, consumedModel, s, dims, { qf });
    for (let i = 0; i < q.n_block; i++) {
      for (const s of N.QF_BLOCK_TENSORS) if (!s.cross || i % q.cross_freq === 0) add(model, consumedModel, s, dims, { qf, i });
    }
  }

  // video / audio extras
  const extras: N.ExtrasDims = {
    max_frames: h.max_frames,
    qf_n_embd: h.qf.qformer.n_embd,
    vqf_n_embd: h.qf.vqformer.n_embd,
    aqf_n_embd: h.qf.aqformer.n_embd,
    ib_out_dim: h.ib.out_dim,
    n_audio_pos: h.n_audio_pos,
    llm_n_embd: h.llm_n_embd,
  };
  for (const s of N.VIDEO_TENSORS) add(model, consumedModel, s, extras, {});

  // ImageBind audio
  const ibDims: N.ImageBindDims = { n_embd: h.ib.n_embd, n_ff: h.ib.n_ff, n_pos: h.ib.n_pos, kernel: h.ib.kernel, out_dim: h.ib.out_dim };
  for (const s of N.IB_GLOBAL_TENSORS) add(model, consumedModel, s, ibDims, {});
  for (let i = 0; i < h.ib.n_block; i++) for (const s of N.IB_BLOCK_TENSORS) add(model, consumedModel, s, ibDims, { i });
  for (const s of N.AUDIO_TENSORS) add(model, consumedModel, s, extras, {});

  const kv = encodersKv(h);
  const finish = async () => {
    if (!options.deferScalars) return;
    await readScalars();
    kv.splice(0, kv.length, ...encodersKv(h));
  };
  return { kv, tensors, consumedModel, consumedClip, clipBlocks: h.clip.n_block, hparams: h, finish };
}

/** Encoders metadata in a stable order (names.h order). */
export function encodersKv(h: EncodersHParams): [string, GGUFValue][] {
  const kv: [string, GGUFValue][] = [
    [N.KEY_ARCH, gv.str(N.ARCH_VALUE)],
    ['general.name', gv.str('GroundingGPT encoders')],
    [N.KEY_FORMAT_VERSION, gv.u32(N.FORMAT_VERSION)],
    [N.KEY_LLM_N_EMBD, gv.u32(h.llm_n_embd)],
    [N.KEY_CLIP_IMAGE_SIZE, gv.u32(h.clip.image_size)],
    [N.KEY_CLIP_PATCH_SIZE, gv.u32(h.clip.patch)],
    [N.KEY_CLIP_N_EMBD, gv.u32(h.clip.n_embd)],
    [N.KEY_CLIP_N_FF, gv.u32(h.clip.n_ff)],
    [N.KEY_CLIP_N_HEAD, gv.u32(h.clip.n_head)],
    [N.KEY_CLIP_N_BLOCK, gv.u32(h.clip.n_block)],
    [N.KEY_CLIP_EPS, gv.f32(h.clip.eps)],
    [N.KEY_CLIP_ACT, gv.str(h.clip.act)],
    [N.KEY_CLIP_MEAN, gv.arrF32(h.clip.mean)],
    [N.KEY_CLIP_STD, gv.arrF32(h.clip.std)],
    [N.KEY_EVA_IMAGE_SIZE, gv.u32(h.eva.image_size)],
    [N.KEY_EVA_PATCH_SIZE, gv.u32(h.eva.patch)],
    [N.KEY_EVA_N_EMBD, gv.u32(h.eva.n_embd)],
    [N.KEY_EVA_N_FF, gv.u32(h.eva.n_ff)],
    [N.KEY_EVA_N_HEAD, gv.u32(h.eva.n_head)],
    [N.KEY_EVA_N_BLOCK, gv.u32(h.eva.n_block)],
    [N.KEY_EVA_EPS, gv.f32(EVA_EPS)],
    [N.KEY_EVA_LN_VISION_EPS, gv.f32(LN_VISION_EPS)],
    [N.KEY_EVA_MEAN, gv.arrF32(OPENAI_MEAN)],
    [N.KEY_EVA_STD, gv.arrF32(OPENAI_STD)],
    [N.KEY_VIDEO_MAX_FRAMES, gv.u32(h.max_frames)],
  ];
  for (const p of N.QF_PREFIXES) {
    const q = h.qf[p];
    const k = (tpl: string) => N.expand(tpl, { qf: p });
    kv.push(
      [k(N.KEY_QF_N_EMBD), gv.u32(q.n_embd)],
      [k(N.KEY_QF_N_FF), gv.u32(q.n_ff)],
      [k(N.KEY_QF_N_HEAD), gv.u32(q.n_head)],
      [k(N.KEY_QF_N_BLOCK), gv.u32(q.n_block)],
      [k(N.KEY_QF_CROSS_FREQ), gv.u32(q.cross_freq)],
      [k(N.KEY_QF_N_QUERY), gv.u32(q.n_query)],
      [k(N.KEY_QF_KV_WIDTH), gv.u32(q.kv_width)],
      [k(N.KEY_QF_EPS), gv.f32(QF_EPS)],
    );
  }
  kv.push(
    [N.KEY_IB_N_EMBD, gv.u32(h.ib.n_embd)],
    [N.KEY_IB_N_FF, gv.u32(h.ib.n_ff)],
    [N.KEY_IB_N_HEAD, gv.u32(h.ib.n_head)],
    [N.KEY_IB_N_BLOCK, gv.u32(h.ib.n_block)],
    [N.KEY_IB_OUT_DIM, gv.u32(h.ib.out_dim)],
    [N.KEY_IB_KERNEL, gv.u32(h.ib.kernel)],
    [N.KEY_IB_STRIDE, gv.u32(h.ib.stride)],
    [N.KEY_IB_N_MELS, gv.u32(IB_N_MELS)],
    [N.KEY_IB_TARGET_LEN, gv.u32(IB_TARGET_LEN)],
    [N.KEY_IB_STEM_EPS, gv.f32(IB_STEM_EPS)],
    [N.KEY_IB_EPS, gv.f32(IB_EPS)],
    [N.KEY_IB_LOGIT_SCALE, gv.f32(h.ib.logit_scale)],
    [N.KEY_AUDIO_SAMPLE_RATE, gv.u32(AUDIO_SAMPLE_RATE)],
    [N.KEY_AUDIO_N_CLIPS, gv.u32(AUDIO_CLIPS)],
    [N.KEY_AUDIO_CLIP_SECONDS, gv.f32(AUDIO_CLIP_SECONDS)],
    [N.KEY_AUDIO_FBANK_MEAN, gv.f32(FBANK_MEAN)],
    [N.KEY_AUDIO_FBANK_STD, gv.f32(FBANK_STD)],
  );
  return kv;
}

/** Upstream constants, exported for synth() (same values as the converter writes). */
export const ENCODER_CONSTANTS = {
  OPENAI_MEAN,
  OPENAI_STD,
  QF_HEAD_DIM,
  EVA_HEAD_DIM,
  IB_HEAD_DIM,
  IB_N_MELS,
  IB_TARGET_LEN,
  AUDIO_CLIPS,
};
