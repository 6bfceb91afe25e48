// encoders.h - the three towers: their weights (in ggpt_model::enc, read and freed per tower on
// demand) and the per-context compute state (ggpt_context::enc_state). Weight fields are
// commented with the upstream module they come from (docs/COMPUTATION.md §2-4); tensor names and
// GGUF keys are in names.h.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "groundinggpt.h"

#include "amx/amx.h"
#include "encoders/hparams.h"

namespace ggpt {

// nn.LayerNorm: weight and bias, ggml ne [n]
struct NormW {
    ggml_tensor * w = nullptr;
    ggml_tensor * b = nullptr;
};

// nn.Linear: weight ne [n_in, n_out], bias ne [n_out] (optional)
struct LinearW {
    ggml_tensor * w = nullptr;
    ggml_tensor * b = nullptr;
};

// A pre-LN transformer block: x += attn(ln1(x)); x += ffn(ln2(x)). Used by CLIP (separate q/k/v),
// EVA (fused qkv, bias = cat(q_bias, 0, v_bias)) and ImageBind (fused qkv + add_bias_kv).
struct VitBlockW {
    NormW ln1, ln2;
    LinearW q, k, v;                 // CLIP: self_attn.{q,k,v}_proj
    LinearW qkv;                     // EVA attn.qkv / ImageBind attn.in_proj: ne [n_embd, 3*n_embd]
    ggml_tensor * bias_k = nullptr;  // ImageBind add_bias_kv: extra key row, ne [n_embd]
    ggml_tensor * bias_v = nullptr;  // extra value row, ne [n_embd]
    LinearW out;                     // attention output projection
    LinearW up, down;                // mlp.fc1, mlp.fc2
};

// A post-LN BERT layer of the BLIP-2 Q-Former with only the query branch (docs/COMPUTATION.md §3.5).
struct QFormerBlockW {
    LinearW q, k, v, o;  // attention.self.{query,key,value}, attention.output.dense
    NormW ln;            // attention.output.LayerNorm
    bool has_cross = false;
    LinearW xq, xk, xv, xo;  // crossattention.*: xk/xv ne [kv_width, n_embd]
    NormW xln;
    LinearW up, down;  // intermediate_query.dense, output_query.dense
    NormW ffn_ln;      // output_query.LayerNorm
};

struct QFormerW {
    QFormerHParams hp;
    ggml_tensor * query = nullptr;  // query_tokens, ne [n_embd, n_query]
    NormW emb_ln;                   // bert.embeddings.LayerNorm
    std::vector<QFormerBlockW> blocks;
};

// docs/COMPUTATION.md §2: CLIP ViT-L/14-336 (vision_model.*, blocks up to the selected layer) + MLP projector.
struct ClipTower {
    ClipHParams hp;
    ggml_tensor * patch_w = nullptr;  // embeddings.patch_embedding, ne [p, p, 3, n_embd], no bias
    ggml_tensor * cls = nullptr;      // embeddings.class_embedding, ne [n_embd]
    ggml_tensor * pos = nullptr;      // embeddings.position_embedding, ne [n_embd, n_patches + 1]
    NormW pre_ln;                     // pre_layrnorm
    std::vector<VitBlockW> blocks;
    LinearW proj0, proj2;  // mm_vision_projector.0 / .2 (GELU between)
};

// docs/COMPUTATION.md §3: EVA ViT-g + ln_vision, the per-frame Q-Former, frame positions, video Q-Former,
// llama_proj.
struct VideoTower {
    EvaHParams hp;
    int32_t max_frames = 64;
    ggml_tensor * patch_w = nullptr;  // visual_encoder.patch_embed.proj, ne [p, p, 3, n_embd]
    ggml_tensor * patch_b = nullptr;  // ne [n_embd]
    ggml_tensor * cls = nullptr;      // cls_token, ne [n_embd]
    ggml_tensor * pos = nullptr;      // pos_embed, ne [n_embd, n_patches + 1]
    std::vector<VitBlockW> blocks;
    NormW ln_vision;                    // model.ln_vision
    QFormerW qf;                        // model.Qformer (+ query_tokens)
    ggml_tensor * frame_pos = nullptr;  // video_frame_position_embedding, ne [qf n_embd, max_frames]
    QFormerW vqf;                       // model.video_Qformer (+ video_query_tokens)
    LinearW proj;                       // llama_proj
};

// docs/COMPUTATION.md §4: ImageBind-Huge audio preprocessor/trunk/head/postprocessor, audio Q-Former,
// audio_llama_proj.
struct AudioTower {
    ImageBindHParams hp;
    int32_t n_clips = 3;
    ggml_tensor * patch_w = nullptr;  // rgbt_stem.proj (Conv2d 1->n_embd, no bias), ne [k, k, 1, n_embd]
    NormW stem_ln;                    // rgbt_stem.norm_layer
    ggml_tensor * cls = nullptr;      // cls_token, ne [n_embd]
    ggml_tensor * pos = nullptr;      // pos_embedding_helper.pos_embed, ne [n_embd, n_tokens + 1]
    std::vector<VitBlockW> blocks;
    NormW head_ln;                      // modality_heads.audio.0
    ggml_tensor * head_proj = nullptr;  // modality_heads.audio.2, ne [n_embd, out_dim]
    ggml_tensor * clip_pos = nullptr;   // audio_position_embedding, ne [out_dim, n_pos >= n_clips]
    QFormerW aqf;                       // model.audio_Qformer (+ audio_query_tokens)
    LinearW proj;                       // audio_llama_proj
    int32_t n_tokens() const {
        return ((hp.n_mels - hp.kernel) / hp.stride + 1) * ((hp.target_len - hp.kernel) / hp.stride + 1);
    }
};

// One tower's weights (docs/ARCHITECTURE.md "Towers on demand"): its tensors (metadata in
// Encoders::ctx, checked at model load), where their data lies in the file, and whether they are
// resident. Read (and repacked) by tower_load, dropped by tower_release.
struct TowerWeights {
    std::vector<std::pair<uint64_t, ggml_tensor *>> tensors;  // file offset of each tensor's data
    std::vector<ggml_tensor *> mats;                          // Linear weights and conv kernels
    int64_t n_params = 0, n_bytes = 0;
    uint64_t end = 0;                     // the file size the tower needs
    ggml_backend_buffer_t buf = nullptr;  // its own buffer when not in the file mapping
    std::atomic<bool> resident{false};
    std::atomic<int64_t> resident_bytes{0};  // weight bytes in memory + AMX copies
};

struct Encoders {
    std::string path;
    bool has_media[3] = {false, false, false};  // indexed by ggpt_media
    int32_t llm_n_embd = 0;                     // width of every feature row
    ClipTower clip;
    VideoTower video;
    AudioTower audio;

    ggml_context * ctx = nullptr;         // tensor metadata of the weights (all towers)
    ggml_backend_buffer_t buf = nullptr;  // the file mapping as a CPU buffer (mmap), else null
    ggml_backend_dev_t dev = nullptr;     // device that holds them (CPU or a GPU)
    void * mapping = nullptr;             // mmap of the file when the weights live in it
    size_t mapping_size = 0;
    FILE * file = nullptr;  // kept open: a tower is read from it when first needed
    int64_t file_size = 0;  // at model load (a later load checks it still holds)
    int64_t n_params = 0, n_bytes = 0;
    std::string backend_name;  // "CPU", "CUDA0", ...
    TowerWeights towers[3];    // indexed by ggpt_media
    // load and release hold it exclusively, a running encode shared (encoders/loader.cpp)
    std::shared_mutex mu;
    // f16 Linear weights repacked for the AMX-BF16 matmul (CPU weights, AMX CPU, when enabled),
    // filled per tower as it loads; amx_on: the model has such weights (the AMX hook is used)
    bool amx_on = false, amx_int8 = false;
    std::unordered_map<const ggml_tensor *, AmxWeight> amx;

    // feature rows one item produces: 576 / 64 / 8 for the released model
    int32_t n_rows(ggpt_media m) const;
};

// Makes the towers in `mask` (bit 1 << ggpt_media) resident: reads their weights from the file
// (checking it was not cut short since the model was loaded) and repacks them for AMX when on.
// Thread-safe (Encoders::mu); waits for encodes running on other contexts. params: progress over
// the bytes to read and abort (may be NULL). On failure (GGPT_ERR_ABORTED, _FORMAT, _IO,
// _OUT_OF_MEMORY) the failed tower is left not resident and the others as they were.
ggpt_status tower_load(Encoders & e, uint32_t mask, const ggpt_encode_params * params, std::string & err);
// Frees the towers in `mask` (weights and AMX copies); waits for running encodes.
void tower_release(Encoders & e, uint32_t mask);
// Loads tower m if needed, then holds it shared (no release while the encode runs) until `lock`
// is destroyed.
ggpt_status tower_use(Encoders & e, ggpt_media m, const ggpt_encode_params * params,
                      std::shared_lock<std::shared_mutex> & lock, std::string & err);

}  // namespace ggpt
