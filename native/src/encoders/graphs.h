// graphs.h - the tower graphs (one file each). Each builder adds its nodes to g and names the
// tensors that ggpt_encode_probe can return (ggml ne order given; probes report them reversed).
#pragma once
#include "encoders/blocks.h"

namespace ggpt {

// clip_vit.cpp - docs/COMPUTATION.md §2.5-2.6. pixels [S, S, 3, 1] (CHW) -> projected [llm_n_embd, n_patches].
// Names "clip_select_hidden" [W, n_patches + 1] (last stored block = hidden_states[-2], CLS first)
// and "projected".
ggml_tensor * build_clip(Graph & g, const ClipTower & c, ggml_tensor * pixels);

// eva_vit.cpp - docs/COMPUTATION.md §3.4-3.5 for a batch of B frames. frames [S, S, 3, B] -> per-frame Q-Former
// output [qf n_embd, n_query, B] named "qformer"; "eva_ln_vision" [W, n_patches + 1, B].
ggml_tensor * build_eva_qformer(Graph & g, const VideoTower & v, ggml_tensor * frames);

// qformer.cpp - BLIP-2 Q-Former on its learned queries: enc [kv_width, Tk, B] -> [n_embd, n_query, B].
ggml_tensor * qformer(Graph & g, const QFormerW & q, ggml_tensor * enc, const char * name);

// qformer.cpp - docs/COMPUTATION.md §3.6-3.7. frame_q [qf n_embd, n_query, T] (frame Q-Former outputs of frames
// 0..T-1) -> projected [llm_n_embd, vqf n_query]; names "video_qformer" and "projected".
ggml_tensor * build_video_tail(Graph & g, const VideoTower & v, ggml_tensor * frame_q);

// imagebind_audio.cpp - docs/COMPUTATION.md §4.5. fbank [target_len, n_mels, 1, n_clips] -> [out_dim, n_clips]
// named "imagebind_out" (normalised x logit scale); "imagebind_feature" [W, n_clips] (head LN, CLS).
ggml_tensor * build_imagebind(Graph & g, const AudioTower & a, ggml_tensor * fbank);

// qformer.cpp - docs/COMPUTATION.md §4.6. clips [out_dim, n_clips] -> projected [llm_n_embd, aqf n_query]; names
// "audio_qformer" and "projected".
ggml_tensor * build_audio_tail(Graph & g, const AudioTower & a, ggml_tensor * clips);

}  // namespace ggpt
