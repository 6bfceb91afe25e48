// hparams.h - hyper-parameters of the towers and of media preprocessing, as read from the
// encoders GGUF (names.h). Defaults are the released GroundingGPT-7B values; the loader
// overwrites every field from the file and range-checks it.
#pragma once
#include <cstdint>

namespace ggpt {

// docs/COMPUTATION.md §2: pad colour, Pillow bicubic resize, CLIP normalisation.
struct ImagePreParams {
    int32_t size = 336;
    float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    // pad colour = int(255 * mean) per channel = (122, 116, 104)
};

// docs/COMPUTATION.md §3.2-3.3: frames arrive scaled to size x size RGB8; normalisation only.
struct VideoPreParams {
    int32_t size = 224;
    int32_t max_frames = 64;
    float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
};

// docs/COMPUTATION.md §4.1-4.4: resampling, clip sampling, Kaldi fbank, normalisation.
struct AudioPreParams {
    int32_t sample_rate = 16000;
    int32_t n_clips = 3;
    float clip_seconds = 2.0f;
    int32_t n_mels = 128;
    int32_t target_len = 204;    // fbank frames per clip after pad/crop
    float fbank_mean = -4.268f;  // (x - mean) / std
    float fbank_std = 9.138f;
};

struct ClipHParams {
    int32_t image_size = 336, patch_size = 14;
    int32_t n_embd = 1024, n_ff = 4096, n_head = 16, n_block = 23;
    float eps = 1e-5f;
    bool quick_gelu = true;  // MLP activation: quick_gelu x*sigmoid(1.702x) (CLIP), else exact GELU
    int32_t n_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct EvaHParams {
    int32_t image_size = 224, patch_size = 14;
    int32_t n_embd = 1408, n_ff = 6144, n_head = 16, n_block = 39;
    float eps = 1e-6f, ln_vision_eps = 1e-5f;
    int32_t n_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct QFormerHParams {
    int32_t n_embd = 768, n_ff = 3072, n_head = 12, n_block = 12;
    int32_t cross_freq = 2;  // cross-attention in blocks with i % cross_freq == 0
    int32_t n_query = 32;
    int32_t kv_width = 1408;
    float eps = 1e-12f;
};

struct ImageBindHParams {
    int32_t n_embd = 768, n_ff = 3072, n_head = 12, n_block = 12, out_dim = 1024;
    int32_t kernel = 16, stride = 10, n_mels = 128, target_len = 204;
    float stem_eps = 1e-5f, eps = 1e-6f, logit_scale = 20.0f;
};

}  // namespace ggpt
