// blocks.h - graph pieces shared by the towers, written once: LayerNorm, Linear, multi-head
// attention (self / cross, ImageBind's add_bias_kv), FFN, the pre-LN ViT block and the post-LN
// BERT Q-Former. Activations are [width, tokens, batch] (ggml ne order); nothing here allocates.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "ggml.h"

#include "amx/amx.h"
#include "encoders/encoders.h"

namespace ggpt {

enum class Act {
    gelu_erf,        // 0.5 x (1 + erf(x / sqrt 2)): nn.GELU(), BERT "gelu"
    quick_gelu,      // x * sigmoid(1.702 x): CLIP
    quick_gelu_lut,  // the same through ggml_gelu_quick (on the CPU an f16 lookup table, ~1e-3 relative):
                     // used when the next matmul rounds its input to f16 / q8_0 anyway
};

struct Graph;

// Where the graph pieces below get a faster kernel for their Linear, attention and LayerNorm ops
// (compare clip_graph::build_mm in llama.cpp's tools/mtmd/clip.cpp): the pieces ask the graph's
// hook first and build ggml's ops for what it declines (returns null for, adding nothing). The
// hook alone decides what it can take (weights, types, layouts); the towers never see it. Graphs
// on the CPU with AMX weights get make_amx_hook's; others have none.
struct OpHook {
    virtual ~OpHook() = default;
    // Whether linear() takes the Linear weight w (then its input may be bf16, and a LayerNorm or
    // the op before may write bf16 for it).
    virtual bool takes(const ggml_tensor * w) const = 0;
    // act(x w^T + b) + *res for x [n_in, N] (x_src: the tensor x was reshaped from, for sharing a
    // cast among the ops that read it), b [n_out] or null, act null for none; of type bf16 with
    // bf16_out (for a next op of this hook), else f32. *res (or null) is added when the hook can
    // (then *res is set to null; else the caller adds it).
    virtual ggml_tensor * linear(Graph & g, ggml_tensor * x, ggml_tensor * x_src, ggml_tensor * w, ggml_tensor * b,
                                 const Act * act, bool bf16_out, ggml_tensor ** res) = 0;
    // attention() below (without its ggml fallback)
    virtual ggml_tensor * attention(Graph & g, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head,
                                    float scale, ggml_tensor * bias_k, ggml_tensor * bias_v, bool bf16_out) = 0;
    // LayerNorm with a bf16 result, for ops of this hook only
    virtual ggml_tensor * layer_norm_bf16(Graph & g, ggml_tensor * x, const NormW & n, float eps) = 0;
};

// The hook of the AMX kernels (amx_hook.cpp) over the weights repacked for them.
std::unique_ptr<OpHook> make_amx_hook(const std::unordered_map<const ggml_tensor *, AmxWeight> * weights);

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

    // faster kernels for some ops (see OpHook), or null
    OpHook * hook = nullptr;
    std::unordered_map<const ggml_tensor *, ggml_tensor *> bf16_of;  // activations already cast (q/k/v share one)
    // with a hook: LayerNorms that feed its matmuls write bf16 directly, q, k, v and the attention
    // output stay bf16 between its ops, and residual adds run in its matmul (fewer passes over the
    // activations; off only to measure the difference)
    bool fuse = true;

    // Whether the hook takes Linear weight w.
    bool hooked(const ggml_tensor * w) const { return hook && w && hook->takes(w); }

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
