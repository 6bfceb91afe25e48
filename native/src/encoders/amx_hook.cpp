// amx_hook.cpp - the towers' OpHook for the bf16 kernels (native/src/amx: AMX tiles, or AVX512-BF16
// dot products on CPUs without AMX): which Linear weights, attentions and LayerNorms they take,
// and the bf16 casts and fusions around them (blocks.h).
#include <memory>
#include <unordered_map>

#include "amx/amx.h"
#include "encoders/blocks.h"

namespace ggpt {

namespace {

AmxAct amx_act(Act act) { return act == Act::gelu_erf ? AmxAct::gelu_erf : AmxAct::quick_gelu; }

class AmxHook final : public OpHook {
public:
    explicit AmxHook(const std::unordered_map<const ggml_tensor *, AmxWeight> * weights) : weights_(weights) {}

    bool takes(const ggml_tensor * w) const override { return weight(w) != nullptr; }

    ggml_tensor * linear(Graph & g, ggml_tensor * x, ggml_tensor * x_src, ggml_tensor * w, ggml_tensor * b,
                         const Act * act, bool bf16_out, ggml_tensor ** res) override {
        const AmxWeight * aw = weight(w);
        if (!aw || !ggml_is_contiguous(x) || x->ne[2] != 1 || x->ne[3] != 1) return nullptr;
        ggml_context * ctx = g.ctx;
        ggml_tensor *& xb = g.bf16_of[x_src];
        if (!xb) xb = x->type == GGML_TYPE_BF16 ? x : ggml_cast(ctx, x, GGML_TYPE_BF16);
        // the residual in the epilogue: f32, contiguous, the output's shape
        ggml_tensor * r = *res;
        const bool fuse_res = r && g.fuse && !bf16_out && r->type == GGML_TYPE_F32 && ggml_is_contiguous(r) &&
                              r->ne[0] == aw->M && ggml_nelements(r) == aw->M * x->ne[1];
        // bias (and the activation) applied in the kernel
        ggml_tensor * y =
            amx_mul_mat(ctx, aw, xb, b, act ? amx_act(*act) : AmxAct::none, bf16_out ? GGML_TYPE_BF16 : GGML_TYPE_F32,
                        fuse_res ? ggml_reshape_2d(ctx, r, aw->M, x->ne[1]) : nullptr);
        if (fuse_res) *res = nullptr;
        return y;
    }

    // where the Linear layers are AMX (the same precision trade-off; towerMatmul 'ggml' turns both off)
    ggml_tensor * attention(Graph & g, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head, float scale,
                            ggml_tensor * bias_k, ggml_tensor * bias_v, bool bf16_out) override {
        const int64_t W = q->ne[0], B = q->ne[2];
        const bool f32_or_bf16 = q->type == GGML_TYPE_F32 || q->type == GGML_TYPE_BF16;
        if (f32_or_bf16 && k->type == q->type && v->type == q->type && q->nb[0] == ggml_type_size(q->type) &&
            k->nb[0] == q->nb[0] && v->nb[0] == q->nb[0] && q->ne[3] == 1 && k->ne[2] == B && v->ne[1] == k->ne[1] &&
            (!bias_k ||
             (bias_k->type == GGML_TYPE_F32 && bias_v->type == GGML_TYPE_F32 && ggml_nelements(bias_k) == W &&
              ggml_nelements(bias_v) == W && ggml_is_contiguous(bias_k) && ggml_is_contiguous(bias_v)))) {
            return amx_attention(g.ctx, q, k, v, n_head, scale, bias_k, bias_v,
                                 bf16_out ? GGML_TYPE_BF16 : GGML_TYPE_F32, unit());
        }
        return nullptr;
    }

    ggml_tensor * layer_norm_bf16(Graph & g, ggml_tensor * x, const NormW & n, float eps) override {
        const bool ok = x->type == GGML_TYPE_F32 && x->nb[0] == sizeof(float) && n.w && n.b &&
                        n.w->type == GGML_TYPE_F32 && n.b->type == GGML_TYPE_F32 && ggml_is_contiguous(n.w) &&
                        ggml_is_contiguous(n.b) && ggml_nelements(n.w) == x->ne[0] && ggml_nelements(n.b) == x->ne[0];
        return ok ? amx_layer_norm_bf16(g.ctx, x, n.w, n.b, eps) : nullptr;
    }

private:
    // the unit the Linear weights were packed for (the attention runs on the same one)
    Bf16Kernel unit() const { return weights_->empty() ? default_bf16_kernel() : weights_->begin()->second.kernel; }

    const AmxWeight * weight(const ggml_tensor * w) const {
        if (!w) return nullptr;
        auto it = weights_->find(w);
        return it != weights_->end() ? &it->second : nullptr;
    }

    const std::unordered_map<const ggml_tensor *, AmxWeight> * weights_;
};

}  // namespace

std::unique_ptr<OpHook> make_amx_hook(const std::unordered_map<const ggml_tensor *, AmxWeight> * weights) {
    return std::unique_ptr<OpHook>(new AmxHook(weights));
}

}  // namespace ggpt
