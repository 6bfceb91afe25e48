// names.h - GGUF keys and tensor names of the encoders file (and our extra LLM keys).
//
// The TypeScript converter writes exactly these names (src/convert/names.ts is the same table;
// test/names.test.ts checks the two agree through the addon). Shapes are given in PyTorch order
// (outermost first); the ggml tensor has them reversed (ne[0] = last PyTorch dim).
// "{i}" is a block index. Upstream names are relative to `model.` in the GroundingGPT checkpoint
// unless marked CLIP (the openai/clip-vit-large-patch14-336 checkpoint, `vision_model.` prefix).
#pragma once

namespace ggpt::names {

// ---- general ------------------------------------------------------------------------------
inline constexpr const char * ARCH_VALUE = "groundinggpt-encoders";  // general.architecture
inline constexpr const char * KEY_ARCH = "general.architecture";
inline constexpr const char * KEY_FORMAT_VERSION = "ggpt.format_version";  // u32, = FORMAT_VERSION
inline constexpr unsigned FORMAT_VERSION = 1;
inline constexpr const char * KEY_LLM_N_EMBD = "ggpt.llm_embedding_length";  // u32 (4096)

// ---- LLM GGUF extras (stock llama.cpp ignores them) ----------------------------------------
// u32 token ids of the nine media tokens and the number of feature rows per item
inline constexpr const char * KEY_TOK_IM_PATCH = "ggpt.token.im_patch";
inline constexpr const char * KEY_TOK_IM_START = "ggpt.token.im_start";
inline constexpr const char * KEY_TOK_IM_END = "ggpt.token.im_end";
inline constexpr const char * KEY_TOK_VI_PATCH = "ggpt.token.vi_patch";
inline constexpr const char * KEY_TOK_VI_START = "ggpt.token.vi_start";
inline constexpr const char * KEY_TOK_VI_END = "ggpt.token.vi_end";
inline constexpr const char * KEY_TOK_SO_PATCH = "ggpt.token.so_patch";
inline constexpr const char * KEY_TOK_SO_START = "ggpt.token.so_start";
inline constexpr const char * KEY_TOK_SO_END = "ggpt.token.so_end";
inline constexpr const char * KEY_IMAGE_TOKEN_LEN = "ggpt.image_token_len";  // u32 576
inline constexpr const char * KEY_VIDEO_TOKEN_LEN = "ggpt.video_token_len";  // u32 64
inline constexpr const char * KEY_SOUND_TOKEN_LEN = "ggpt.sound_token_len";  // u32 8

// ---- image tower: CLIP ViT-L/14-336 (CLIP checkpoint, vision_model.*) + projector ----------
// keys (u32 unless noted)
inline constexpr const char * KEY_CLIP_IMAGE_SIZE = "ggpt.clip.image_size";     // 336
inline constexpr const char * KEY_CLIP_PATCH_SIZE = "ggpt.clip.patch_size";     // 14
inline constexpr const char * KEY_CLIP_N_EMBD = "ggpt.clip.embedding_length";   // 1024
inline constexpr const char * KEY_CLIP_N_FF = "ggpt.clip.feed_forward_length";  // 4096
inline constexpr const char * KEY_CLIP_N_HEAD = "ggpt.clip.head_count";         // 16
// blocks stored in the file = blocks run: CLIP layers up to and including the selected one
// (hidden_states[-2] of 24 -> 23). The converter drops the unused tail.
inline constexpr const char * KEY_CLIP_N_BLOCK = "ggpt.clip.block_count";     // 23
inline constexpr const char * KEY_CLIP_EPS = "ggpt.clip.layer_norm_epsilon";  // f32 1e-5
inline constexpr const char * KEY_CLIP_ACT = "ggpt.clip.activation";          // str "quick_gelu"
inline constexpr const char * KEY_CLIP_MEAN = "ggpt.clip.image_mean";         // f32[3]
inline constexpr const char * KEY_CLIP_STD = "ggpt.clip.image_std";           // f32[3]
// tensors
inline constexpr const char * CLIP_PATCH =
    "clip.patch_embd.weight";                                // [n_embd, 3, p, p] embeddings.patch_embedding (no bias)
inline constexpr const char * CLIP_CLS = "clip.class_embd";  // [n_embd] embeddings.class_embedding
inline constexpr const char * CLIP_POS = "clip.pos_embd";    // [n_pos, n_embd] embeddings.position_embedding.weight
inline constexpr const char * CLIP_PRE_LN_W = "clip.pre_ln.weight";  // [n_embd] pre_layrnorm
inline constexpr const char * CLIP_PRE_LN_B = "clip.pre_ln.bias";
inline constexpr const char * CLIP_BLK_LN1_W = "clip.blk.{i}.ln1.weight";  // encoder.layers.{i}.layer_norm1
inline constexpr const char * CLIP_BLK_LN1_B = "clip.blk.{i}.ln1.bias";
inline constexpr const char * CLIP_BLK_Q_W = "clip.blk.{i}.attn_q.weight";  // [n_embd, n_embd] self_attn.q_proj
inline constexpr const char * CLIP_BLK_Q_B = "clip.blk.{i}.attn_q.bias";
inline constexpr const char * CLIP_BLK_K_W = "clip.blk.{i}.attn_k.weight";  // self_attn.k_proj
inline constexpr const char * CLIP_BLK_K_B = "clip.blk.{i}.attn_k.bias";
inline constexpr const char * CLIP_BLK_V_W = "clip.blk.{i}.attn_v.weight";  // self_attn.v_proj
inline constexpr const char * CLIP_BLK_V_B = "clip.blk.{i}.attn_v.bias";
inline constexpr const char * CLIP_BLK_O_W = "clip.blk.{i}.attn_out.weight";  // self_attn.out_proj
inline constexpr const char * CLIP_BLK_O_B = "clip.blk.{i}.attn_out.bias";
inline constexpr const char * CLIP_BLK_LN2_W = "clip.blk.{i}.ln2.weight";  // layer_norm2
inline constexpr const char * CLIP_BLK_LN2_B = "clip.blk.{i}.ln2.bias";
inline constexpr const char * CLIP_BLK_UP_W = "clip.blk.{i}.ffn_up.weight";  // [n_ff, n_embd] mlp.fc1
inline constexpr const char * CLIP_BLK_UP_B = "clip.blk.{i}.ffn_up.bias";
inline constexpr const char * CLIP_BLK_DOWN_W = "clip.blk.{i}.ffn_down.weight";  // [n_embd, n_ff] mlp.fc2
inline constexpr const char * CLIP_BLK_DOWN_B = "clip.blk.{i}.ffn_down.bias";
// projector: model.mm_vision_projector.{0,2} (Linear, GELU(erf), Linear)
inline constexpr const char * MMPROJ_0_W = "mmproj.0.weight";  // [llm_n_embd, clip n_embd]
inline constexpr const char * MMPROJ_0_B = "mmproj.0.bias";
inline constexpr const char * MMPROJ_2_W = "mmproj.2.weight";  // [llm_n_embd, llm_n_embd]
inline constexpr const char * MMPROJ_2_B = "mmproj.2.bias";

// ---- video tower: EVA ViT-g (visual_encoder.*) + ln_vision ---------------------------------
inline constexpr const char * KEY_EVA_IMAGE_SIZE = "ggpt.eva.image_size";            // 224
inline constexpr const char * KEY_EVA_PATCH_SIZE = "ggpt.eva.patch_size";            // 14
inline constexpr const char * KEY_EVA_N_EMBD = "ggpt.eva.embedding_length";          // 1408
inline constexpr const char * KEY_EVA_N_FF = "ggpt.eva.feed_forward_length";         // 6144
inline constexpr const char * KEY_EVA_N_HEAD = "ggpt.eva.head_count";                // 16 (head_dim 88)
inline constexpr const char * KEY_EVA_N_BLOCK = "ggpt.eva.block_count";              // 39
inline constexpr const char * KEY_EVA_EPS = "ggpt.eva.layer_norm_epsilon";           // f32 1e-6
inline constexpr const char * KEY_EVA_LN_VISION_EPS = "ggpt.eva.ln_vision_epsilon";  // f32 1e-5
inline constexpr const char * KEY_EVA_MEAN = "ggpt.eva.image_mean";                  // f32[3]
inline constexpr const char * KEY_EVA_STD = "ggpt.eva.image_std";                    // f32[3]
inline constexpr const char * KEY_VIDEO_MAX_FRAMES = "ggpt.video.max_frames";        // 64
inline constexpr const char * EVA_PATCH_W = "eva.patch_embd.weight";     // [n_embd, 3, p, p] patch_embed.proj
inline constexpr const char * EVA_PATCH_B = "eva.patch_embd.bias";       // [n_embd]
inline constexpr const char * EVA_CLS = "eva.class_embd";                // [n_embd] cls_token (1,1,D squeezed)
inline constexpr const char * EVA_POS = "eva.pos_embd";                  // [n_pos, n_embd] pos_embed (1,N,D squeezed)
inline constexpr const char * EVA_BLK_LN1_W = "eva.blk.{i}.ln1.weight";  // blocks.{i}.norm1
inline constexpr const char * EVA_BLK_LN1_B = "eva.blk.{i}.ln1.bias";
inline constexpr const char * EVA_BLK_QKV_W = "eva.blk.{i}.attn_qkv.weight";  // [3*n_embd, n_embd] attn.qkv
inline constexpr const char * EVA_BLK_QKV_B = "eva.blk.{i}.attn_qkv.bias";    // [3*n_embd] = cat(q_bias, 0, v_bias)
inline constexpr const char * EVA_BLK_O_W = "eva.blk.{i}.attn_out.weight";    // attn.proj
inline constexpr const char * EVA_BLK_O_B = "eva.blk.{i}.attn_out.bias";
inline constexpr const char * EVA_BLK_LN2_W = "eva.blk.{i}.ln2.weight";  // norm2
inline constexpr const char * EVA_BLK_LN2_B = "eva.blk.{i}.ln2.bias";
inline constexpr const char * EVA_BLK_UP_W = "eva.blk.{i}.ffn_up.weight";  // mlp.fc1
inline constexpr const char * EVA_BLK_UP_B = "eva.blk.{i}.ffn_up.bias";
inline constexpr const char * EVA_BLK_DOWN_W = "eva.blk.{i}.ffn_down.weight";  // mlp.fc2
inline constexpr const char * EVA_BLK_DOWN_B = "eva.blk.{i}.ffn_down.bias";
inline constexpr const char * EVA_LN_VISION_W = "eva.ln_vision.weight";  // model.ln_vision
inline constexpr const char * EVA_LN_VISION_B = "eva.ln_vision.bias";

// ---- Q-Formers ------------------------------------------------------------------------------
// Three instances share one layout, prefix {qf} in {"qformer", "vqformer", "aqformer"}:
//   qformer  = model.Qformer + model.query_tokens            (per video frame, kv = EVA width)
//   vqformer = model.video_Qformer + model.video_query_tokens (kv = qformer width)
//   aqformer = model.audio_Qformer + model.audio_query_tokens (kv = ImageBind out dim)
inline constexpr const char * QF_PREFIXES[3] = {"qformer", "vqformer", "aqformer"};
inline constexpr const char * KEY_QF_N_EMBD = "ggpt.{qf}.embedding_length";   // 768
inline constexpr const char * KEY_QF_N_FF = "ggpt.{qf}.feed_forward_length";  // 3072
inline constexpr const char * KEY_QF_N_HEAD = "ggpt.{qf}.head_count";         // 12 (head_dim 64)
inline constexpr const char * KEY_QF_N_BLOCK = "ggpt.{qf}.block_count";       // 12 / 2 / 2
inline constexpr const char * KEY_QF_CROSS_FREQ =
    "ggpt.{qf}.cross_attention_freq";  // 2 / 1 / 1: cross-attn in blocks i % freq == 0
inline constexpr const char * KEY_QF_N_QUERY = "ggpt.{qf}.query_count";     // 32 / 64 / 8
inline constexpr const char * KEY_QF_KV_WIDTH = "ggpt.{qf}.encoder_width";  // 1408 / 768 / 1024
inline constexpr const char * KEY_QF_EPS = "ggpt.{qf}.layer_norm_epsilon";  // f32 1e-12
inline constexpr const char * QF_QUERY = "{qf}.query_tokens";               // [n_query, n_embd] (1,N,D squeezed)
inline constexpr const char * QF_EMB_LN_W = "{qf}.emb_ln.weight";           // bert.embeddings.LayerNorm
inline constexpr const char * QF_EMB_LN_B = "{qf}.emb_ln.bias";
// bert.encoder.layer.{i}.attention.self.{query,key,value}, attention.output.{dense,LayerNorm}
inline constexpr const char * QF_BLK_Q_W = "{qf}.blk.{i}.attn_q.weight";
inline constexpr const char * QF_BLK_Q_B = "{qf}.blk.{i}.attn_q.bias";
inline constexpr const char * QF_BLK_K_W = "{qf}.blk.{i}.attn_k.weight";
inline constexpr const char * QF_BLK_K_B = "{qf}.blk.{i}.attn_k.bias";
inline constexpr const char * QF_BLK_V_W = "{qf}.blk.{i}.attn_v.weight";
inline constexpr const char * QF_BLK_V_B = "{qf}.blk.{i}.attn_v.bias";
inline constexpr const char * QF_BLK_O_W = "{qf}.blk.{i}.attn_out.weight";
inline constexpr const char * QF_BLK_O_B = "{qf}.blk.{i}.attn_out.bias";
inline constexpr const char * QF_BLK_LN1_W = "{qf}.blk.{i}.attn_ln.weight";
inline constexpr const char * QF_BLK_LN1_B = "{qf}.blk.{i}.attn_ln.bias";
// crossattention.self.{query,key,value} (key/value: [n_embd, kv_width]), crossattention.output.*
// present only in blocks with cross-attention
inline constexpr const char * QF_BLK_XQ_W = "{qf}.blk.{i}.xattn_q.weight";
inline constexpr const char * QF_BLK_XQ_B = "{qf}.blk.{i}.xattn_q.bias";
inline constexpr const char * QF_BLK_XK_W = "{qf}.blk.{i}.xattn_k.weight";
inline constexpr const char * QF_BLK_XK_B = "{qf}.blk.{i}.xattn_k.bias";
inline constexpr const char * QF_BLK_XV_W = "{qf}.blk.{i}.xattn_v.weight";
inline constexpr const char * QF_BLK_XV_B = "{qf}.blk.{i}.xattn_v.bias";
inline constexpr const char * QF_BLK_XO_W = "{qf}.blk.{i}.xattn_out.weight";
inline constexpr const char * QF_BLK_XO_B = "{qf}.blk.{i}.xattn_out.bias";
inline constexpr const char * QF_BLK_XLN_W = "{qf}.blk.{i}.xattn_ln.weight";
inline constexpr const char * QF_BLK_XLN_B = "{qf}.blk.{i}.xattn_ln.bias";
// intermediate_query.dense, output_query.{dense,LayerNorm}
inline constexpr const char * QF_BLK_UP_W = "{qf}.blk.{i}.ffn_up.weight";
inline constexpr const char * QF_BLK_UP_B = "{qf}.blk.{i}.ffn_up.bias";
inline constexpr const char * QF_BLK_DOWN_W = "{qf}.blk.{i}.ffn_down.weight";
inline constexpr const char * QF_BLK_DOWN_B = "{qf}.blk.{i}.ffn_down.bias";
inline constexpr const char * QF_BLK_FFN_LN_W = "{qf}.blk.{i}.ffn_ln.weight";
inline constexpr const char * QF_BLK_FFN_LN_B = "{qf}.blk.{i}.ffn_ln.bias";

// video extras
inline constexpr const char * VIDEO_FRAME_POS =
    "video.frame_pos_embd";  // [max_frames, qf n_embd] video_frame_position_embedding.weight
inline constexpr const char * VIDEO_PROJ_W = "video.proj.weight";  // [llm_n_embd, vqf n_embd] llama_proj
inline constexpr const char * VIDEO_PROJ_B = "video.proj.bias";

// ---- audio tower: ImageBind-Huge audio (audio_encoder.modality_*.audio) -------------------
inline constexpr const char * KEY_IB_N_EMBD = "ggpt.imagebind.embedding_length";     // 768
inline constexpr const char * KEY_IB_N_FF = "ggpt.imagebind.feed_forward_length";    // 3072
inline constexpr const char * KEY_IB_N_HEAD = "ggpt.imagebind.head_count";           // 12 (head_dim 64)
inline constexpr const char * KEY_IB_N_BLOCK = "ggpt.imagebind.block_count";         // 12
inline constexpr const char * KEY_IB_OUT_DIM = "ggpt.imagebind.out_dim";             // 1024
inline constexpr const char * KEY_IB_KERNEL = "ggpt.imagebind.kernel_size";          // 16
inline constexpr const char * KEY_IB_STRIDE = "ggpt.imagebind.stride";               // 10
inline constexpr const char * KEY_IB_N_MELS = "ggpt.imagebind.num_mel_bins";         // 128
inline constexpr const char * KEY_IB_TARGET_LEN = "ggpt.imagebind.target_len";       // 204
inline constexpr const char * KEY_IB_STEM_EPS = "ggpt.imagebind.stem_norm_epsilon";  // f32 1e-5
inline constexpr const char * KEY_IB_EPS = "ggpt.imagebind.layer_norm_epsilon";      // f32 1e-6 (blocks, head)
inline constexpr const char * KEY_IB_LOGIT_SCALE =
    "ggpt.imagebind.logit_scale";  // f32 min(exp(log_logit_scale), 100) = 20
inline constexpr const char * KEY_AUDIO_SAMPLE_RATE = "ggpt.audio.sample_rate";    // 16000
inline constexpr const char * KEY_AUDIO_N_CLIPS = "ggpt.audio.clip_count";         // 3
inline constexpr const char * KEY_AUDIO_CLIP_SECONDS = "ggpt.audio.clip_seconds";  // f32 2
inline constexpr const char * KEY_AUDIO_FBANK_MEAN = "ggpt.audio.fbank_mean";      // f32 -4.268
inline constexpr const char * KEY_AUDIO_FBANK_STD = "ggpt.audio.fbank_std";        // f32 9.138
inline constexpr const char * IB_PATCH_W =
    "imagebind.patch_embd.weight";  // [n_embd, 1, k, k] modality_preprocessors.audio.rgbt_stem.proj (no bias)
inline constexpr const char * IB_STEM_LN_W = "imagebind.stem_ln.weight";  // rgbt_stem.norm_layer
inline constexpr const char * IB_STEM_LN_B = "imagebind.stem_ln.bias";
inline constexpr const char * IB_CLS = "imagebind.class_embd";  // [n_embd] cls_token (1,1,D squeezed)
inline constexpr const char * IB_POS = "imagebind.pos_embd";    // [n_pos, n_embd] pos_embedding_helper.pos_embed
// modality_trunks.audio.blocks.{i}: norm_1, attn (nn.MultiheadAttention add_bias_kv), norm_2, mlp
inline constexpr const char * IB_BLK_LN1_W = "imagebind.blk.{i}.ln1.weight";
inline constexpr const char * IB_BLK_LN1_B = "imagebind.blk.{i}.ln1.bias";
inline constexpr const char * IB_BLK_QKV_W = "imagebind.blk.{i}.attn_qkv.weight";  // [3*n_embd, n_embd] in_proj_weight
inline constexpr const char * IB_BLK_QKV_B = "imagebind.blk.{i}.attn_qkv.bias";    // in_proj_bias
inline constexpr const char * IB_BLK_BIAS_K = "imagebind.blk.{i}.attn_bias_k";     // [n_embd] bias_k (1,1,D squeezed)
inline constexpr const char * IB_BLK_BIAS_V = "imagebind.blk.{i}.attn_bias_v";     // [n_embd] bias_v
inline constexpr const char * IB_BLK_O_W = "imagebind.blk.{i}.attn_out.weight";    // out_proj
inline constexpr const char * IB_BLK_O_B = "imagebind.blk.{i}.attn_out.bias";
inline constexpr const char * IB_BLK_LN2_W = "imagebind.blk.{i}.ln2.weight";
inline constexpr const char * IB_BLK_LN2_B = "imagebind.blk.{i}.ln2.bias";
inline constexpr const char * IB_BLK_UP_W = "imagebind.blk.{i}.ffn_up.weight";  // mlp.fc1
inline constexpr const char * IB_BLK_UP_B = "imagebind.blk.{i}.ffn_up.bias";
inline constexpr const char * IB_BLK_DOWN_W = "imagebind.blk.{i}.ffn_down.weight";  // mlp.fc2
inline constexpr const char * IB_BLK_DOWN_B = "imagebind.blk.{i}.ffn_down.bias";
inline constexpr const char * IB_HEAD_LN_W = "imagebind.head_ln.weight";  // modality_heads.audio.0 (LayerNorm)
inline constexpr const char * IB_HEAD_LN_B = "imagebind.head_ln.bias";
inline constexpr const char * IB_HEAD_PROJ_W =
    "imagebind.head_proj.weight";  // [out_dim, n_embd] modality_heads.audio.2 (no bias)
// audio extras
inline constexpr const char * AUDIO_POS = "audio.pos_embd";  // [n_clips_max, out_dim] audio_position_embedding.weight
inline constexpr const char * AUDIO_PROJ_W = "audio.proj.weight";  // [llm_n_embd, aqf n_embd] audio_llama_proj
inline constexpr const char * AUDIO_PROJ_B = "audio.proj.bias";

}  // namespace ggpt::names
