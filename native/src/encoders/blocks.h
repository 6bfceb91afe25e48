// blocks.h - graph pieces shared by the towers, written once: LayerNorm, Linear, multi-head
// attention (self / cross, ImageBind's add_bias_kv), FFN, the pre-LN ViT block and the post-LN
// BERT Q-Former. Activations are [width, tokens, batch] (ggml ne order); nothing here allocates.
#pragma once
#include <unordered_map>
#include <vector>

#include "ggml.h"

#include "amx/amx.h"
#include "encoders/encoders.h"

namespace ggpt {

enum class Act {
    gelu_erf,    // 0.5 x (1 + erf(x / sqrt 2)): nn.GELU(), BERT "gelu"
    quick_gelu,  // x * sigmoid(1.702 x): CLIP
    quick_gelu_lut,  // the same through ggml_gelu_quick (on the CPU an f16 lookup table, ~1e-3 relative):
                     // used when the next matmul rounds its input to f16 / q8_0 anyway
};

// A graph under construction: the ggml context it lives in and the tensors that mark progress
// (block outputs, in execution order) for the scheduler's eval callback.
struct Graph {
    ggml_context * ctx = nullptr;
    ggml_cgraph * gf = nullptr;
    std::unordered_map<const ggml_tensor *, int> marks;  // tensor -> index
    int n_marks = 0;
    bool flash_attn = false;  // attention through ggml_flash_attn_ext (CPU graphs)
    bool kv_f16 = false;      // flash attention on f16 copies of K and V (set when the weights are
                              // not f32: their matmuls already round activations to f16 / q8_0)

    // Linear weights repacked for the AMX-BF16 matmul (CPU graphs when enabled), else null
    const std::unordered_map<const ggml_tensor *, AmxWeight> * amx = nullptr;
    std::unordered_map<const ggml_tensor *, ggml_tensor *> bf16_of;  // activations already cast (q/k/v share one)
    // with amx: LayerNorms that feed AMX matmuls write bf16 directly, q, k, v and the attention
    // output stay bf16 between AMX ops, and residual adds run in the matmul's epilogue (fewer
    // passes over the activations; off only to measure the difference)
    bool fuse = true;

    // Sets kv_f16 from a tower's matmul weight.
    void weights_like(const ggml_tensor * w) { kv_f16 = w && w->type != GGML_TYPE_F32; }

    // Records `t` as a progress point and names it.
    void mark(ggml_tensor * t);
};

// weight tables stored as f16 are cast to f32 before they are added
ggml_tensor * as_f32(ggml_context * ctx, ggml_tensor * t);

ggml_tensor * layer_norm(ggml_context * ctx, ggml_tensor * x, const NormW & n, float eps);

// x [n_in, T, B] -> [n_out, T, B], + res when given (a residual connection, added in the AMX epilogue)
ggml_tensor * linear(Graph & g, ggml_tensor * x, const LinearW & l, ggml_tensor * res = nullptr);

ggml_tensor * activation(ggml_context * ctx, ggml_tensor * x, Act act);

// Multi-head scaled dot-product attention without mask. q [W, Tq, B], k and v [W, Tk, B] (views
// with contiguous rows are fine; f32, or bf16 from an AMX matmul) -> [W, Tq, B]. scale multiplies
// q.k before the softmax. bias_k / bias_v ([W], both or neither): a learned extra key / value row
// after the Tk projected ones. bf16_out: a bf16 result on the AMX path (for an AMX matmul next).
ggml_tensor * attention(Graph & g, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head, float scale,
                        ggml_tensor * bias_k = nullptr, ggml_tensor * bias_v = nullptr, bool bf16_out = false);

// up -> activation -> down, + res when given (a residual connection, added in the AMX epilogue)
ggml_tensor * ffn(Graph & g, ggml_tensor * x, const LinearW & up, const LinearW & down, Act act,
                  ggml_tensor * res = nullptr);

// Pre-LN block: x += out(attn(ln1(x))); x += ffn(ln2(x)). Fused qkv when b.qkv.w is set; the learned
// bias_k/bias_v rows are appended to keys/values after projection when present. first_only: only
// the first token of each item is wanted downstream (a class-token head after the last block):
// keys and values still come from every token, but attention (that row's query), the output
// projection and the MLP run for that row alone, and the result is [W, 1, B] (the same values as
// row 0 of the full block).
ggml_tensor * vit_block(Graph & g, ggml_tensor * x, const VitBlockW & b, int n_head, float eps, Act act,
                        bool first_only = false);

// Conv2d with kernel == stride-sized windows and no padding, as im2col + one matmul (an AMX one
// when the kernel was repacked). img [W, H, C, B], kernel [k, k, C, OC] -> tokens [OC, OW*OH, B]
// (row-major over output rows).
ggml_tensor * patch_embed(Graph & g, ggml_tensor * img, ggml_tensor * kernel, int stride);

// Prepends the class token: x [W, T, B], cls [W] -> [W, T + 1, B].
ggml_tensor * prepend_cls(ggml_context * ctx, ggml_tensor * x, ggml_tensor * cls);

}  // namespace ggpt
