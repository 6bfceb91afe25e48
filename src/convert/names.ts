/**
 * GGUF keys and tensor names of the encoders file (and our extra LLM keys), plus the upstream ->
 * GGUF tensor mapping the converter follows.
 *
 * The constants below are the TypeScript twin of native/src/names.h: same names, same values,
 * same comments (test/names.test.ts checks them against the addon's copy). Shapes are given in
 * PyTorch order (outermost first); the ggml tensor has them reversed (ne[0] = last PyTorch dim).
 * "{i}" is a block index. Upstream names are relative to `model.` in the GroundingGPT checkpoint
 * unless marked CLIP (the openai/clip-vit-large-patch14-336 checkpoint, `vision_model.` prefix).
 */

// ---- general ------------------------------------------------------------------------------
export const ARCH_VALUE = 'groundinggpt-encoders'; // general.architecture
export const KEY_ARCH = 'general.architecture';
export const KEY_FORMAT_VERSION = 'ggpt.format_version'; // u32, = FORMAT_VERSION
export const FORMAT_VERSION = 1;
export const KEY_LLM_N_EMBD = 'ggpt.llm_embedding_length'; // u32 (4096)

// ---- LLM GGUF extras (stock llama.cpp ignores them) ----------------------------------------
// u32 token ids of the nine media tokens and the number of feature rows per item
export const KEY_TOK_IM_PATCH = 'ggpt.token.im_patch';
export const KEY_TOK_IM_START = 'ggpt.token.im_start';
export const KEY_TOK_IM_END = 'ggpt.token.im_end';
export const KEY_TOK_VI_PATCH = 'ggpt.token.vi_patch';
export const KEY_TOK_VI_START = 'ggpt.token.vi_start';
export const KEY_TOK_VI_END = 'ggpt.token.vi_end';
export const KEY_TOK_SO_PATCH = 'ggpt.token.so_patch';
export const KEY_TOK_SO_START = 'ggpt.token.so_start';
export const KEY_TOK_SO_END = 'ggpt.token.so_end';
export const KEY_IMAGE_TOKEN_LEN = 'ggpt.image_token_len'; // u32 576
export const KEY_VIDEO_TOKEN_LEN = 'ggpt.video_token_len'; // u32 64
export const KEY_SOUND_TOKEN_LEN = 'ggpt.sound_token_len'; // u32 8

// ---- image tower: CLIP ViT-L/14-336 (CLIP checkpoint, vision_model.*) + projector ----------
// keys (u32 unless noted)
export const KEY_CLIP_IMAGE_SIZE = 'ggpt.clip.image_size'; // 336
export const KEY_CLIP_PATCH_SIZE = 'ggpt.clip.patch_size'; // 14
export const KEY_CLIP_N_EMBD = 'ggpt.clip.embedding_length'; // 1024
export const KEY_CLIP_N_FF = 'ggpt.clip.feed_forward_length'; // 4096
export const KEY_CLIP_N_HEAD = 'ggpt.clip.head_count'; // 16
// blocks stored in the file = blocks run: CLIP layers up to and including the selected one
// (hidden_states[-2] of 24 -> 23). The converter drops the unused tail.
export const KEY_CLIP_N_BLOCK = 'ggpt.clip.block_count'; // 23
export const KEY_CLIP_EPS = 'ggpt.clip.layer_norm_epsilon'; // f32 1e-5
export const KEY_CLIP_ACT = 'ggpt.clip.activation'; // str "quick_gelu"
export const KEY_CLIP_MEAN = 'ggpt.clip.image_mean'; // f32[3]
export const KEY_CLIP_STD = 'ggpt.clip.image_std'; // f32[3]
// tensors
export const CLIP_PATCH = 'clip.patch_embd.weight'; // [n_embd, 3, p, p] embeddings.patch_embedding (no bias)
export const CLIP_CLS = 'clip.class_embd'; // [n_embd] embeddings.class_embedding
export const CLIP_POS = 'clip.pos_embd'; // [n_pos, n_embd] embeddings.position_embedding.weight
export const CLIP_PRE_LN_W = 'clip.pre_ln.weight'; // [n_embd] pre_layrnorm
export const CLIP_PRE_LN_B = 'clip.pre_ln.bias';
export const CLIP_BLK_LN1_W = 'clip.blk.{i}.ln1.weight'; // encoder.layers.{i}.layer_norm1
export const CLIP_BLK_LN1_B = 'clip.blk.{i}.ln1.bias';
export const CLIP_BLK_Q_W = 'clip.blk.{i}.attn_q.weight'; // [n_embd, n_embd] self_attn.q_proj
export const CLIP_BLK_Q_B = 'clip.blk.{i}.attn_q.bias';
export const CLIP_BLK_K_W = 'clip.blk.{i}.attn_k.weight'; // self_attn.k_proj
export const CLIP_BLK_K_B = 'clip.blk.{i}.attn_k.bias';
export const CLIP_BLK_V_W = 'clip.blk.{i}.attn_v.weight'; // self_attn.v_proj
export const CLIP_BLK_V_B = 'clip.blk.{i}.attn_v.bias';
export const CLIP_BLK_O_W = 'clip.blk.{i}.attn_out.weight'; // self_attn.out_proj
export const CLIP_BLK_O_B = 'clip.blk.{i}.attn_out.bias';
export const CLIP_BLK_LN2_W = 'clip.blk.{i}.ln2.weight'; // layer_norm2
export const CLIP_BLK_LN2_B = 'clip.blk.{i}.ln2.bias';
export const CLIP_BLK_UP_W = 'clip.blk.{i}.ffn_up.weight'; // [n_ff, n_embd] mlp.fc1
export const CLIP_BLK_UP_B = 'clip.blk.{i}.ffn_up.bias';
export const CLIP_BLK_DOWN_W = 'clip.blk.{i}.ffn_down.weight'; // [n_embd, n_ff] mlp.fc2
export const CLIP_BLK_DOWN_B = 'clip.blk.{i}.ffn_down.bias';
// projector: model.mm_vision_projector.{0,2} (Linear, GELU(erf), Linear)
export const MMPROJ_0_W = 'mmproj.0.weight'; // [llm_n_embd, clip n_embd]
export const MMPROJ_0_B = 'mmproj.0.bias';
export const MMPROJ_2_W = 'mmproj.2.weight'; // [llm_n_embd, llm_n_embd]
export const MMPROJ_2_B = 'mmproj.2.bias';

// ---- video tower: EVA ViT-g (visual_encoder.*) + ln_vision ---------------------------------
export const KEY_EVA_IMAGE_SIZE = 'ggpt.eva.image_size'; // 224
export const KEY_EVA_PATCH_SIZE = 'ggpt.eva.patch_size'; // 14
export const KEY_EVA_N_EMBD = 'ggpt.eva.embedding_length'; // 1408
export const KEY_EVA_N_FF = 'ggpt.eva.feed_forward_length'; // 6144
export const KEY_EVA_N_HEAD = 'ggpt.eva.head_count'; // 16 (head_dim 88)
export const KEY_EVA_N_BLOCK = 'ggpt.eva.block_count'; // 39
export const KEY_EVA_EPS = 'ggpt.eva.layer_norm_epsilon'; // f32 1e-6
export const KEY_EVA_LN_VISION_EPS = 'ggpt.eva.ln_vision_epsilon'; // f32 1e-5
export const KEY_EVA_MEAN = 'ggpt.eva.image_mean'; // f32[3]
export const KEY_EVA_STD = 'ggpt.eva.image_std'; // f32[3]
export const KEY_VIDEO_MAX_FRAMES = 'ggpt.video.max_frames'; // 64
export const EVA_PATCH_W = 'eva.patch_embd.weight'; // [n_embd, 3, p, p] patch_embed.proj
export const EVA_PATCH_B = 'eva.patch_embd.bias'; // [n_embd]
export const EVA_CLS = 'eva.class_embd'; // [n_embd] cls_token (1,1,D squeezed)
export const EVA_POS = 'eva.pos_embd'; // [n_pos, n_embd] pos_embed (1,N,D squeezed)
export const EVA_BLK_LN1_W = 'eva.blk.{i}.ln1.weight'; // blocks.{i}.norm1
export const EVA_BLK_LN1_B = 'eva.blk.{i}.ln1.bias';
export const EVA_BLK_QKV_W = 'eva.blk.{i}.attn_qkv.weight'; // [3*n_embd, n_embd] attn.qkv
export const EVA_BLK_QKV_B = 'eva.blk.{i}.attn_qkv.bias'; // [3*n_embd] = cat(q_bias, 0, v_bias)
export const EVA_BLK_O_W = 'eva.blk.{i}.attn_out.weight'; // attn.proj
export const EVA_BLK_O_B = 'eva.blk.{i}.attn_out.bias';
export const EVA_BLK_LN2_W = 'eva.blk.{i}.ln2.weight'; // norm2
export const EVA_BLK_LN2_B = 'eva.blk.{i}.ln2.bias';
export const EVA_BLK_UP_W = 'eva.blk.{i}.ffn_up.weight'; // mlp.fc1
export const EVA_BLK_UP_B = 'eva.blk.{i}.ffn_up.bias';
export const EVA_BLK_DOWN_W = 'eva.blk.{i}.ffn_down.weight'; // mlp.fc2
export const EVA_BLK_DOWN_B = 'eva.blk.{i}.ffn_down.bias';
export const EVA_LN_VISION_W = 'eva.ln_vision.weight'; // model.ln_vision
export const EVA_LN_VISION_B = 'eva.ln_vision.bias';

// ---- Q-Formers ------------------------------------------------------------------------------
// Three instances share one layout, prefix {qf} in {"qformer", "vqformer", "aqformer"}:
//   qformer  = model.Qformer + model.query_tokens            (per video frame, kv = EVA width)
//   vqformer = model.video_Qformer + model.video_query_tokens (kv = qformer width)
//   aqformer = model.audio_Qformer + model.audio_query_tokens (kv = ImageBind out dim)
export const QF_PREFIXES = ['qformer', 'vqformer', 'aqformer'] as const;
export const KEY_QF_N_EMBD = 'ggpt.{qf}.embedding_length'; // 768
export const KEY_QF_N_FF = 'ggpt.{qf}.feed_forward_length'; // 3072
export const KEY_QF_N_HEAD = 'ggpt.{qf}.head_count'; // 12 (head_dim 64)
export const KEY_QF_N_BLOCK = 'ggpt.{qf}.block_count'; // 12 / 2 / 2
export const KEY_QF_CROSS_FREQ = 'ggpt.{qf}.cross_attention_freq'; // 2 / 1 / 1: cross-attn in blocks i % freq == 0
export const KEY_QF_N_QUERY = 'ggpt.{qf}.query_count'; // 32 / 64 / 8
export const KEY_QF_KV_WIDTH = 'ggpt.{qf}.encoder_width'; // 1408 / 768 / 1024
export const KEY_QF_EPS = 'ggpt.{qf}.layer_norm_epsilon'; // f32 1e-12
export const QF_QUERY = '{qf}.query_tokens'; // [n_query, n_embd] (1,N,D squeezed)
export const QF_EMB_LN_W = '{qf}.emb_ln.weight'; // bert.embeddings.LayerNorm
export const QF_EMB_LN_B = '{qf}.emb_ln.bias';
// bert.encoder.layer.{i}.attention.self.{query,key,value}, attention.output.{dense,LayerNorm}
export const QF_BLK_Q_W = '{qf}.blk.{i}.attn_q.weight';
export const QF_BLK_Q_B = '{qf}.blk.{i}.attn_q.bias';
export const QF_BLK_K_W = '{qf}.blk.{i}.attn_k.weight';
export const QF_BLK_K_B = '{qf}.blk.{i}.attn_k.bias';
export const QF_BLK_V_W = '{qf}.blk.{i}.attn_v.weight';
export const QF_BLK_V_B = '{qf}.blk.{i}.attn_v.bias';
export const QF_BLK_O_W = '{qf}.blk.{i}.attn_out.weight';
export const QF_BLK_O_B = '{qf}.blk.{i}.attn_out.bias';
export const QF_BLK_LN1_W = '{qf}.blk.{i}.attn_ln.weight';
export const QF_BLK_LN1_B = '{qf}.blk.{i}.attn_ln.bias';
// crossattention.self.{query,key,value} (key/value: [n_embd, kv_width]), crossattention.output.*
// present only in blocks with cross-attention
export const QF_BLK_XQ_W = '{qf}.blk.{i}.xattn_q.weight';
export const QF_BLK_XQ_B = '{qf}.blk.{i}.xattn_q.bias';
export const QF_BLK_XK_W = '{qf}.blk.{i}.xattn_k.weight';
export const QF_BLK_XK_B = '{qf}.blk.{i}.xattn_k.bias';
export const QF_BLK_XV_W = '{qf}.blk.{i}.xattn_v.weight';
export const QF_BLK_XV_B = '{qf}.blk.{i}.xattn_v.bias';
export const QF_BLK_XO_W = '{qf}.blk.{i}.xattn_out.weight';
export const QF_BLK_XO_B = '{qf}.blk.{i}.xattn_out.bias';
export const QF_BLK_XLN_W = '{qf}.blk.{i}.xattn_ln.weight';
export const QF_BLK_XLN_B = '{qf}.blk.{i}.xattn_ln.bias';
// intermediate_query.dense, output_query.{dense,LayerNorm}
export const QF_BLK_UP_W = '{qf}.blk.{i}.ffn_up.weight';
export const QF_BLK_UP_B = '{qf}.blk.{i}.ffn_up.bias';
export const QF_BLK_DOWN_W = '{qf}.blk.{i}.ffn_down.weight';
export const QF_BLK_DOWN_B = '{qf}.blk.{i}.ffn_down.bias';
export const QF_BLK_FFN_LN_W = '{qf}.blk.{i}.ffn_ln.weight';
export const QF_BLK_FFN_LN_B = '{qf}.blk.{i}.ffn_ln.bias';

// video extras
export const VIDEO_FRAME_POS = 'video.frame_pos_embd'; // [max_frames, qf n_embd] video_frame_position_embedding.weight
export const VIDEO_PROJ_W = 'video.proj.weight'; // [llm_n_embd, vqf n_embd] llama_proj
export const VIDEO_PROJ_B = 'video.proj.bias';

// ---- audio tower: ImageBind-Huge audio (audio_encoder.modality_*.audio) -------------------
export const KEY_IB_N_EMBD = 'ggpt.imagebind.embedding_length'; // 768
export const KEY_IB_N_FF = 'ggpt.imagebind.feed_forward_length'; // 3072
export const KEY_IB_N_HEAD = 'ggpt.imagebind.head_count'; // 12 (head_dim 64)
export const KEY_IB_N_BLOCK = 'ggpt.imagebind.block_count'; // 12
export const KEY_IB_OUT_DIM = 'ggpt.imagebind.out_dim'; // 1024
export const KEY_IB_KERNEL = 'ggpt.imagebind.kernel_size'; // 16
export const KEY_IB_STRIDE = 'ggpt.imagebind.stride'; // 10
export const KEY_IB_N_MELS = 'ggpt.imagebind.num_mel_bins'; // 128
export const KEY_IB_TARGET_LEN = 'ggpt.imagebind.target_len'; // 204
export const KEY_IB_STEM_EPS = 'ggpt.imagebind.stem_norm_epsilon'; // f32 1e-5
export const KEY_IB_EPS = 'ggpt.imagebind.layer_norm_epsilon'; // f32 1e-6 (blocks, head)
export const KEY_IB_LOGIT_SCALE = 'ggpt.imagebind.logit_scale'; // f32 min(exp(log_logit_scale), 100) = 20
export const KEY_AUDIO_SAMPLE_RATE = 'ggpt.audio.sample_rate'; // 16000
export const KEY_AUDIO_N_CLIPS = 'ggpt.audio.clip_count'; // 3
export const KEY_AUDIO_CLIP_SECONDS = 'ggpt.audio.clip_seconds'; // f32 2
export const KEY_AUDIO_FBANK_MEAN = 'ggpt.audio.fbank_mean'; // f32 -4.268
export const KEY_AUDIO_FBANK_STD = 'ggpt.audio.fbank_std'; // f32 9.138
export const IB_PATCH_W = 'imagebind.patch_embd.weight'; // [n_embd, 1, k, k] modality_preprocessors.audio.rgbt_stem.proj (no bias)
export const IB_STEM_LN_W = 'imagebind.stem_ln.weight'; // rgbt_stem.norm_layer
export const IB_STEM_LN_B = 'imagebind.stem_ln.bias';
export const IB_CLS = 'imagebind.class_embd'; // [n_embd] cls_token (1,1,D squeezed)
export const IB_POS = 'imagebind.pos_embd'; // [n_pos, n_embd] pos_embedding_helper.pos_embed
// modality_trunks.audio.blocks.{i}: norm_1, attn (nn.MultiheadAttention add_bias_kv), norm_2, mlp
export const IB_BLK_LN1_W = 'imagebind.blk.{i}.ln1.weight';
export const IB_BLK_LN1_B = 'imagebind.blk.{i}.ln1.bias';
export const IB_BLK_QKV_W = 'imagebind.blk.{i}.attn_qkv.weight'; // [3*n_embd, n_embd] in_proj_weight
export const IB_BLK_QKV_B = 'imagebind.blk.{i}.attn_qkv.bias'; // in_proj_bias
export const IB_BLK_BIAS_K = 'imagebind.blk.{i}.attn_bias_k'; // [n_embd] bias_k (1,1,D squeezed)
export const IB_BLK_BIAS_V = 'imagebind.blk.{i}.attn_bias_v'; // [n_embd] bias_v
export const IB_BLK_O_W = 'imagebind.blk.{i}.attn_out.weight'; // out_proj
export const IB_BLK_O_B = 'imagebind.blk.{i}.attn_out.bias';
export const IB_BLK_LN2_W = 'imagebind.blk.{i}.ln2.weight';
export const IB_BLK_LN2_B = 'imagebind.blk.{i}.ln2.bias';
export const IB_BLK_UP_W = 'imagebind.blk.{i}.ffn_up.weight'; // mlp.fc1
export const IB_BLK_UP_B = 'imagebind.blk.{i}.ffn_up.bias';
export const IB_BLK_DOWN_W = 'imagebind.blk.{i}.ffn_down.weight'; // mlp.fc2
export const IB_BLK_DOWN_B = 'imagebind.blk.{i}.ffn_down.bias';
export const IB_HEAD_LN_W = 'imagebind.head_ln.weight'; // modality_heads.audio.0 (LayerNorm)
export const IB_HEAD_LN_B = 'imagebind.head_ln.bias';
export const IB_HEAD_PROJ_W = 'imagebind.head_proj.weight'; // [out_dim, n_embd] modality_heads.audio.2 (no bias)
// audio extras
export const AUDIO_POS = 'audio.pos_embd'; // [n_clips_max, out_dim] audio_position_embedding.weight
export const AUDIO_PROJ_W = 'audio.proj.weight'; // [llm_n_embd, aqf n_embd] audio_llama_proj
export const AUDIO_PROJ_B = 'audio.proj.bias';

// =============================================================================================
// Upstream -> GGUF mapping (TypeScript only; the converter's single source of tensor names).
// `from` is the full upstream name ({i}: block; {bert}/{query}: the Q-Former's prefixes).
// `shape` is the expected GGUF shape (PyTorch order) given the tower's sizes; an upstream tensor
// may carry extra leading 1-dims (cls/query tokens, position embeddings), which are squeezed.
// `kind` decides the stored type: 'matrix' (Linear weights: f32/f16/q8_0), 'conv' (patch kernels:
// f32/f16), 'f32' (norms, biases, embeddings, tokens: always f32).
// =============================================================================================

export type TensorKind = 'matrix' | 'conv' | 'f32';

export interface TensorSpec<H> {
  gguf: string;
  from: string;
  kind: TensorKind;
  shape: (h: H) => number[];
  /** EVA: the attn_qkv bias is cat(q_bias, zeros, v_bias); `from` names q_bias, `from2` v_bias. */
  from2?: string;
  /** Q-Former: present only in blocks with cross-attention. */
  cross?: boolean;
}

// ---- LLM (standard llama.cpp tensor names; HF LLaMA upstream) ------------------------------
export interface LlmDims {
  n_vocab: number;
  n_embd: number;
  n_ff: number;
  n_head: number;
  n_head_kv: number;
}
export const LLM_TOKEN_EMBD = 'token_embd.weight';
export const LLM_OUTPUT_NORM = 'output_norm.weight';
export const LLM_OUTPUT = 'output.weight';
/** Per-tensor permutation: HF q/k rows -> llama.cpp's rope layout. */
export type LlmPermute = 'q' | 'k';
export const LLM_GLOBAL_TENSORS: (TensorSpec<LlmDims> & { permute?: LlmPermute })[] = [
  { gguf: LLM_TOKEN_EMBD, from: 'model.embed_tokens.weight', kind: 'matrix', shape: (h) => [h.n_vocab, h.n_embd] },
  { gguf: LLM_OUTPUT_NORM, from: 'model.norm.weight', kind: 'f32', shape: (h) => [h.n_embd] },
  { gguf: LLM_OUTPUT, from: 'lm_head.weight', kind: 'matrix', shape: (h) => [h.n_vocab, h.n_embd] },
];
export const LLM_BLOCK_TENSORS: (TensorSpec<LlmDims> & { permute?: LlmPermute })[] = [
  { gguf: 'blk.{i}.attn_norm.weight', from: 'model.layers.{i}.input_layernorm.weight', kind: 'f32', shape: (h) => [h.n_embd] },
  { gguf: 'blk.{i}.attn_q.weight', from: 'model.layers.{i}.self_attn.q_proj.weight', kind: 'matrix', permute: 'q', shape: (h) => [h.n_embd, h.n_embd] },
  {
    gguf: 'blk.{i}.attn_k.weight',
    from: 'model.layers.{i}.self_attn.k_proj.weight',
    kind: 'matrix',
    permute: 'k',
    shape: (h) => [(h.n_embd / h.n_head) * h.n_head_kv, h.n_embd],
  },
  {
    gguf: 'blk.{i}.attn_v.weight',
    from: 'model.layers.{i}.self_attn.v_proj.weight',
    kind: 'matrix',
    shape: (h) => [(h.n_embd / h.n_head) * h.n_head_kv, h.n_embd],
  },
  { gguf: 'blk.{i}.attn_output.weight', from: 'model.layers.{i}.self_attn.o_proj.weight', kind: 'matrix', shape: (h) => [h.n_embd, h.n_embd] },
  { gguf: 'blk.{i}.ffn_norm.weight', from: 'model.layers.{i}.post_attention_layernorm.weight', kind: 'f32', shape: (h) => [h.n_embd] },
  { gguf: 'blk.{i}.ffn_gate.weight', from: 'model.layers.{i}.mlp.gate_proj.weight', kind: 'matrix', shape: (h) => [h.n_ff, h.n_embd] },
  { gguf: 'blk.{i}.ffn_up.weight', from: 'model.layers.{i}.mlp.up_proj.weight', kind: 'matrix', shape: (h) => [h.n_ff, h.n_embd] },
  { gguf: 'blk.{i}.ffn_down.weight', from: 'model.layers.{i}.mlp.down_proj.weight', kind: 'matrix', shape: (h) => [h.n_embd, h.n_ff] },
];

// ---- CLIP vision tower (CLIP checkpoint) + projector (GroundingGPT checkpoint) ---------------
export interface ClipDims {
  n_embd: number;
  n_ff: number;
  n_pos: number;
  patch: number;
  llm_n_embd: number;
}
export const CLIP_GLOBAL_TENSORS: TensorSpec<ClipDims>[] = [
  { gguf: CLIP_PATCH, from: 'vision_model.embeddings.patch_embedding.weight', kind: 'conv', shape: (h) => [h.n_embd, 3, h.patch, h.patch] },
  { gguf: CLIP_CLS, from: 'vision_model.embeddings.class_embedding', kind: 'f32', shape: (h) => [h.n_embd] },
  { gguf: CLIP_POS, from: 'vision_model.embeddings.position_embedding.weight', kind: 'f32', shape: (h) => [h.n_pos, h.n_embd] },
  { gguf: CLIP_PRE_LN_W, from: 'vision_model.pre_layrnorm.weight', kind: 'f32', shape: (h) => [h.n_embd] },
  { gguf: CLIP_PRE_LN_B, from: 'vision_model.pre_layrnorm.bias', kind: 'f32', shape: (h) => [h.n_embd] },
];
const clipBlock = (gguf: string, sub: string, kind: TensorKind, shape: (h: ClipDims) => number[]): TensorSpec<ClipDims> => ({
  gguf,
  from: `vision_model.encoder.layers.{i}.${sub}`,
  kind,
  shape,
});
const vec = (h: { n_embd: number }) => [h.n_embd];
const sq = (h: { n_embd: number }) => [h.n_embd, h.n_embd];
export const CLIP_BLOCK_TENSORS: TensorSpec<ClipDims>[] = [
  clipBlock(CLIP_BLK_LN1_W, 'layer_norm1.weight', 'f32', vec),
  clipBlock(CLIP_BLK_LN1_B, 'layer_norm1.bias', 'f32', vec),
  clipBlock(CLIP_BLK_Q_W, 'self_attn.q_proj.weight', 'matrix', sq),
  clipBlock(CLIP_BLK_Q_B, 'self_attn.q_proj.bias', 'f32', vec),
  clipBlock(CLIP_BLK_K_W, 'self_attn.k_proj.weight', 'matrix', sq),
  clipBlock(CLIP_BLK_K_B, 'self_attn.k_proj.bias', 'f32', vec),
  clipBlock(CLIP_BLK_V_W, 'self_attn.v_proj.weight', 'matrix', sq),
  clipBlock(CLIP_BLK_V_B, 'self_attn.v_proj.bias', 'f32', vec),
  clipBlock(CLIP_BLK_O_W, 'self_attn.out_proj.weight', 'matrix', sq),
  clipBlock(CLIP_BLK_O_B, 'self_attn.out_proj.bias', 'f32', vec),
  clipBlock(CLIP_BLK_LN2_W, 'layer_norm2.weight', 'f32', vec),
  clipBlock(CLIP_BLK_LN2_B, 'layer_norm2.bias', 'f32', vec),
  clipBlock(CLIP_BLK_UP_W, 'mlp.fc1.weight', 'matrix', (h) => [h.n_ff, h.n_embd]),
  clipBlock(CLIP_BLK_UP_B, 'mlp.fc1.bias', 'f32', (h) => [h.n_ff]),
  clipBlock(CLIP_BLK_DOWN_W, 'mlp.fc2.weight', 'matrix', (h) => [h.n_embd, h.n_ff]),
  clipBlock(CLIP_BLK_DOWN_B, 'mlp.fc2.bias', 'f32', vec),
];
export const MMPROJ_TENSORS: TensorSpec<ClipDims>[] = [
  { gguf: MMPROJ_0_W, from: 'model.mm_vision_projector.0.weight', kind: 'matrix', shape: (h) => [h.llm_n_embd, h.n_embd] },
  { gguf: MMPROJ_0_B, from: 'model.mm_vision_projector.0.bias', kind: 'f32', shape: (h) => [h.llm_n_embd] },
  { gguf: MMPROJ_2_W, from: 'model.mm_vision_projector.2.weight', kind: 'matrix', shape: (h) => [h.llm_n_embd, h.llm_n_embd] },
  { gguf: MMPROJ_2_B, from: 'model.mm_vision_projector.2.bias', kind: 'f32', shape: (h) => [h.llm_n_embd] },
];

// ---- EVA ViT-g + ln_vision ---------------------------------------------------------------------
export interface EvaDims {
  n_embd: number;
  n_ff: number;
  n_pos: number;
  patch: number;
}
export const EVA_GLOBAL_TENSORS: TensorSpec<EvaDims>[] = [
  { gguf: EVA_PATCH_W, from: 'model.visual_encoder.patch_embed.proj.weight', kind: 'conv', shape: (h) => [h.n_embd, 3, h.patch, h.patch] },
  { gguf: EVA_PATCH_B, from: 'model.visual_encoder.patch_embed.proj.bias', kind: 'f32', shape: vec },
  { gguf: EVA_CLS, from: 'model.visual_encoder.cls_token', kind: 'f32', shape: vec },
  { gguf: EVA_POS, from: 'model.visual_encoder.pos_embed', kind: 'f32', shape: (h) => [h.n_pos, h.n_embd] },
  { gguf: EVA_LN_VISION_W, from: 'model.ln_vision.weight', kind: 'f32', shape: vec },
  { gguf: EVA_LN_VISION_B, from: 'model.ln_vision.bias', kind: 'f32', shape: vec },
];
const evaBlock = (gguf: string, sub: string, kind: TensorKind, shape: (h: EvaDims) => number[]): TensorSpec<EvaDims> => ({
  gguf,
  from: `model.visual_encoder.blocks.{i}.${sub}`,
  kind,
  shape,
});
export const EVA_BLOCK_TENSORS: TensorSpec<EvaDims>[] = [
  evaBlock(EVA_BLK_LN1_W, 'norm1.weight', 'f32', vec),
  evaBlock(EVA_BLK_LN1_B, 'norm1.bias', 'f32', vec),
  evaBlock(EVA_BLK_QKV_W, 'attn.qkv.weight', 'matrix', (h) => [3 * h.n_embd, h.n_embd]),
  { ...evaBlock(EVA_BLK_QKV_B, 'attn.q_bias', 'f32', (h) => [3 * h.n_embd]), from2: 'model.visual_encoder.blocks.{i}.attn.v_bias' },
  evaBlock(EVA_BLK_O_W, 'attn.proj.weight', 'matrix', sq),
  evaBlock(EVA_BLK_O_B, 'attn.proj.bias', 'f32', vec),
  evaBlock(EVA_BLK_LN2_W, 'norm2.weight', 'f32', vec),
  evaBlock(EVA_BLK_LN2_B, 'norm2.bias', 'f32', vec),
  evaBlock(EVA_BLK_UP_W, 'mlp.fc1.weight', 'matrix', (h) => [h.n_ff, h.n_embd]),
  evaBlock(EVA_BLK_UP_B, 'mlp.fc1.bias', 'f32', (h) => [h.n_ff]),
  evaBlock(EVA_BLK_DOWN_W, 'mlp.fc2.weight', 'matrix', (h) => [h.n_embd, h.n_ff]),
  evaBlock(EVA_BLK_DOWN_B, 'mlp.fc2.bias', 'f32', vec),
];

// ---- Q-Formers ---------------------------------------------------------------------------------
export type QFormerPrefix = (typeof QF_PREFIXES)[number];
/** Upstream prefixes of each Q-Former: its BERT and its query tokens. */
export const QF_UPSTREAM: Record<QFormerPrefix, { bert: string; query: string }> = {
  qformer: { bert: 'model.Qformer.bert', query: 'model.query_tokens' },
  vqformer: { bert: 'model.video_Qformer.bert', query: 'model.video_query_tokens' },
  aqformer: { bert: 'model.audio_Qformer.bert', query: 'model.audio_query_tokens' },
};
export interface QFormerDims {
  n_embd: number;
  n_ff: number;
  n_query: number;
  kv_width: number;
}
export const QF_GLOBAL_TENSORS: TensorSpec<QFormerDims>[] = [
  { gguf: QF_QUERY, from: '{query}', kind: 'f32', shape: (h) => [h.n_query, h.n_embd] },
  { gguf: QF_EMB_LN_W, from: '{bert}.embeddings.LayerNorm.weight', kind: 'f32', shape: vec },
  { gguf: QF_EMB_LN_B, from: '{bert}.embeddings.LayerNorm.bias', kind: 'f32', shape: vec },
];
const qfBlock = (gguf: string, sub: string, kind: TensorKind, shape: (h: QFormerDims) => number[], cross = false): TensorSpec<QFormerDims> => ({
  gguf,
  from: `{bert}.encoder.layer.{i}.${sub}`,
  kind,
  shape,
  ...(cross ? { cross } : {}),
});
const kvw = (h: QFormerDims) => [h.n_embd, h.kv_width];
export const QF_BLOCK_TENSORS: TensorSpec<QFormerDims>[] = [
  qfBlock(QF_BLK_Q_W, 'attention.self.query.weight', 'matrix', sq),
  qfBlock(QF_BLK_Q_B, 'attention.self.query.bias', 'f32', vec),
  qfBlock(QF_BLK_K_W, 'attention.self.key.weight', 'matrix', sq),
  qfBlock(QF_BLK_K_B, 'attention.self.key.bias', 'f32', vec),
  qfBlock(QF_BLK_V_W, 'attention.self.value.weight', 'matrix', sq),
  qfBlock(QF_BLK_V_B, 'attention.self.value.bias', 'f32', vec),
  qfBlock(QF_BLK_O_W, 'attention.output.dense.weight', 'matrix', sq),
  qfBlock(QF_BLK_O_B, 'attention.output.dense.bias', 'f32', vec),
  qfBlock(QF_BLK_LN1_W, 'attention.output.LayerNorm.weight', 'f32', vec),
  qfBlock(QF_BLK_LN1_B, 'attention.output.LayerNorm.bias', 'f32', vec),
  qfBlock(QF_BLK_XQ_W, 'crossattention.self.query.weight', 'matrix', sq, true),
  qfBlock(QF_BLK_XQ_B, 'crossattention.self.query.bias', 'f32', vec, true),
  qfBlock(QF_BLK_XK_W, 'crossattention.self.key.weight', 'matrix', kvw, true),
  qfBlock(QF_BLK_XK_B, 'crossattention.self.key.bias', 'f32', vec, true),
  qfBlock(QF_BLK_XV_W, 'crossattention.self.value.weight', 'matrix', kvw, true),
  qfBlock(QF_BLK_XV_B, 'crossattention.self.value.bias', 'f32', vec, true),
  qfBlock(QF_BLK_XO_W, 'crossattention.output.dense.weight', 'matrix', sq, true),
  qfBlock(QF_BLK_XO_B, 'crossattention.output.dense.bias', 'f32', vec, true),
  qfBlock(QF_BLK_XLN_W, 'crossattention.output.LayerNorm.weight', 'f32', vec, true),
  qfBlock(QF_BLK_XLN_B, 'crossattention.output.LayerNorm.bias', 'f32', vec, true),
  qfBlock(QF_BLK_UP_W, 'intermediate_query.dense.weight', 'matrix', (h) => [h.n_ff, h.n_embd]),
  qfBlock(QF_BLK_UP_B, 'intermediate_query.dense.bias', 'f32', (h) => [h.n_ff]),
  qfBlock(QF_BLK_DOWN_W, 'output_query.dense.weight', 'matrix', (h) => [h.n_embd, h.n_ff]),
  qfBlock(QF_BLK_DOWN_B, 'output_query.dense.bias', 'f32', vec),
  qfBlock(QF_BLK_FFN_LN_W, 'output_query.LayerNorm.weight', 'f32', vec),
  qfBlock(QF_BLK_FFN_LN_B, 'output_query.LayerNorm.bias', 'f32', vec),
];

// ---- video / audio extras ----------------------------------------------------------------------
export interface ExtrasDims {
  max_frames: number;
  qf_n_embd: number;
  vqf_n_embd: number;
  aqf_n_embd: number;
  ib_out_dim: number;
  n_audio_pos: number;
  llm_n_embd: number;
}
export const VIDEO_TENSORS: TensorSpec<ExtrasDims>[] = [
  { gguf: VIDEO_FRAME_POS, from: 'model.video_frame_position_embedding.weight', kind: 'f32', shape: (h) => [h.max_frames, h.qf_n_embd] },
  { gguf: VIDEO_PROJ_W, from: 'model.llama_proj.weight', kind: 'matrix', shape: (h) => [h.llm_n_embd, h.vqf_n_embd] },
  { gguf: VIDEO_PROJ_B, from: 'model.llama_proj.bias', kind: 'f32', shape: (h) => [h.llm_n_embd] },
];
export const AUDIO_TENSORS: TensorSpec<ExtrasDims>[] = [
  { gguf: AUDIO_POS, from: 'model.audio_position_embedding.weight', kind: 'f32', shape: (h) => [h.n_audio_pos, h.ib_out_dim] },
  { gguf: AUDIO_PROJ_W, from: 'model.audio_llama_proj.weight', kind: 'matrix', shape: (h) => [h.llm_n_embd, h.aqf_n_embd] },
  { gguf: AUDIO_PROJ_B, from: 'model.audio_llama_proj.bias', kind: 'f32', shape: (h) => [h.llm_n_embd] },
];

// ---- ImageBind-Huge audio ---------------------------------------------------------------------
export interface ImageBindDims {
  n_embd: number;
  n_ff: number;
  n_pos: number;
  kernel: number;
  out_dim: number;
}
const IB = 'model.audio_encoder';
/** modality_postprocessors.audio = (Normalize, LearnableLogitScaling): a scalar, written as a key. */
export const IB_LOG_LOGIT_SCALE_FROM = `${IB}.modality_postprocessors.audio.1.log_logit_scale`;
export const IB_GLOBAL_TENSORS: TensorSpec<ImageBindDims>[] = [
  { gguf: IB_PATCH_W, from: `${IB}.modality_preprocessors.audio.rgbt_stem.proj.weight`, kind: 'conv', shape: (h) => [h.n_embd, 1, h.kernel, h.kernel] },
  { gguf: IB_STEM_LN_W, from: `${IB}.modality_preprocessors.audio.rgbt_stem.norm_layer.weight`, kind: 'f32', shape: vec },
  { gguf: IB_STEM_LN_B, from: `${IB}.modality_preprocessors.audio.rgbt_stem.norm_layer.bias`, kind: 'f32', shape: vec },
  { gguf: IB_CLS, from: `${IB}.modality_preprocessors.audio.cls_token`, kind: 'f32', shape: vec },
  { gguf: IB_POS, from: `${IB}.modality_preprocessors.audio.pos_embedding_helper.pos_embed`, kind: 'f32', shape: (h) => [h.n_pos, h.n_embd] },
  // modality_heads.audio = (LayerNorm, SelectElement(0), Linear(no bias))
  { gguf: IB_HEAD_LN_W, from: `${IB}.modality_heads.audio.0.weight`, kind: 'f32', shape: vec },
  { gguf: IB_HEAD_LN_B, from: `${IB}.modality_heads.audio.0.bias`, kind: 'f32', shape: vec },
  { gguf: IB_HEAD_PROJ_W, from: `${IB}.modality_heads.audio.2.weight`, kind: 'matrix', shape: (h) => [h.out_dim, h.n_embd] },
];
const ibBlock = (gguf: string, sub: string, kind: TensorKind, shape: (h: ImageBindDims) => number[]): TensorSpec<ImageBindDims> => ({
  gguf,
  from: `${IB}.modality_trunks.audio.blocks.{i}.${sub}`,
  kind,
  shape,
});
export const IB_BLOCK_TENSORS: TensorSpec<ImageBindDims>[] = [
  ibBlock(IB_BLK_LN1_W, 'norm_1.weight', 'f32', vec),
  ibBlock(IB_BLK_LN1_B, 'norm_1.bias', 'f32', vec),
  ibBlock(IB_BLK_QKV_W, 'attn.in_proj_weight', 'matrix', (h) => [3 * h.n_embd, h.n_embd]),
  ibBlock(IB_BLK_QKV_B, 'attn.in_proj_bias', 'f32', (h) => [3 * h.n_embd]),
  ibBlock(IB_BLK_BIAS_K, 'attn.bias_k', 'f32', vec),
  ibBlock(IB_BLK_BIAS_V, 'attn.bias_v', 'f32', vec),
  ibBlock(IB_BLK_O_W, 'attn.out_proj.weight', 'matrix', sq),
  ibBlock(IB_BLK_O_B, 'attn.out_proj.bias', 'f32', vec),
  ibBlock(IB_BLK_LN2_W, 'norm_2.weight', 'f32', vec),
  ibBlock(IB_BLK_LN2_B, 'norm_2.bias', 'f32', vec),
  ibBlock(IB_BLK_UP_W, 'mlp.fc1.weight', 'matrix', (h) => [h.n_ff, h.n_embd]),
  ibBlock(IB_BLK_UP_B, 'mlp.fc1.bias', 'f32', (h) => [h.n_ff]),
  ibBlock(IB_BLK_DOWN_W, 'mlp.fc2.weight', 'matrix', (h) => [h.n_embd, h.n_ff]),
  ibBlock(IB_BLK_DOWN_B, 'mlp.fc2.bias', 'f32', vec),
];

// ---- upstream tensors deliberately not converted ----------------------------------------------
/** GroundingGPT checkpoint: ImageBind's other modalities, buffers. */
export const IGNORED_MODEL_TENSORS: RegExp[] = [
  /^model\.audio_encoder\.modality_(preprocessors|trunks|heads|postprocessors)\.(vision|text|depth|thermal|imu)\./,
  /\.position_ids$/, // Q-Former BERT buffers
  /\.rotary_emb\.inv_freq$/, // LLaMA buffers saved by older transformers
];
/** CLIP checkpoint: everything outside the vision tower, its post-LN and unused tail layers
 * (those are decided by the selected layer, see KEY_CLIP_N_BLOCK). */
export const IGNORED_CLIP_TENSORS: RegExp[] = [
  /^(?!vision_model\.)/, // text tower, projections, logit_scale
  /^vision_model\.post_layernorm\./,
  /^vision_model\.embeddings\.position_ids$/,
];

/** Expands a template: {i} -> block, {qf} -> Q-Former GGUF prefix, {bert}/{query} -> upstream. */
export function expand(template: string, vars: { i?: number; qf?: QFormerPrefix }): string {
  let s = template;
  if (vars.i !== undefined) s = s.split('{i}').join(String(vars.i));
  if (vars.qf !== undefined) {
    s = s.split('{qf}').join(vars.qf).split('{bert}').join(QF_UPSTREAM[vars.qf].bert).split('{query}').join(QF_UPSTREAM[vars.qf].query);
  }
  return s;
}
