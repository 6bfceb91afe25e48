// blocks.cpp - shared graph pieces (see blocks.h).
#include "encoders/blocks.h"

#include <cmath>

namespace ggpt {

void Graph::mark(ggml_tensor * t) { marks[t] = n_marks++; }

ggml_tensor * as_f32(ggml_context * ctx, ggml_tensor * t) {
    return t->type == GGML_TYPE_F32 ? t : ggml_cast(ctx, t, GGML_TYPE_F32);
}

ggml_tensor * layer_norm(ggml_context * ctx, ggml_tensor * x, const NormW & n, float eps) {
    x = ggml_norm(ctx, x, eps);
    x = ggml_mul(ctx, x, n.w);
    return ggml_add(ctx, x, n.b);
}

namespace {

// LayerNorm, straight to bf16 through the hook when its result only feeds the hook's matmuls
// (to_hook) and the hook takes it, else the ggml ops.
ggml_tensor * layer_norm_for(Graph & g, ggml_tensor * x, const NormW & n, float eps, bool to_hook) {
    ggml_tensor * y = to_hook && g.hook ? g.hook->layer_norm_bf16(g, x, n, eps) : nullptr;
    return y ? y : layer_norm(g.ctx, x, n, eps);
}

// Linear with, through the hook, an activation fused into the matmul (fuse_act), a bf16 result
// (bf16_out) for a next matmul of the hook, and res (or null) added at the end (a residual
// connection; in the matmul when the hook can). *fused says whether the activation was applied.
ggml_tensor * linear_impl(Graph & g, ggml_tensor * x, const LinearW & l, const Act * fuse_act, bool bf16_out,
                          bool * fused, ggml_tensor * res = nullptr) {
    ggml_context * ctx = g.ctx;
    if (fused) *fused = false;
    // one [n_in, T*B] matmul rather than B matmuls of T rows (the CPU sgemm runs per 2-D slice)
    ggml_tensor * const x_in = x;
    const int64_t T = x->ne[1], B = x->ne[2];
    const bool flat = B > 1 && x->ne[3] == 1 && ggml_is_contiguous(x);
    if (flat) x = ggml_reshape_2d(ctx, x, x->ne[0], T * B);
    ggml_tensor * y = g.hook ? g.hook->linear(g, x, x_in, l.w, l.b, fuse_act, bf16_out, &res) : nullptr;
    if (y) {
        x = y;
        if (fused) *fused = fuse_act != nullptr;  // bias and activation applied by the hook
    } else {
        if (x->type != GGML_TYPE_F32) x = ggml_cast(ctx, x, GGML_TYPE_F32);
        x = ggml_mul_mat(ctx, l.w, x);
        if (l.b) x = ggml_add(ctx, x, l.b);
    }
    if (flat) x = ggml_reshape_3d(ctx, x, x->ne[0], T, B);
    return res ? ggml_add(ctx, res, x) : x;
}

}  // namespace

ggml_tensor * linear(Graph & g, ggml_tensor * x, const LinearW & l, ggml_tensor * res) {
    return linear_impl(g, x, l, nullptr, false, nullptr, res);
}

ggml_tensor * activation(ggml_context * ctx, ggml_tensor * x, Act act) {
    switch (act) {
        case Act::gelu_erf: return ggml_gelu_erf(ctx, x);
        case Act::quick_gelu:
            // x * sigmoid(1.702 x) = silu(1.702 x) / 1.702. ggml_gelu_quick would round its input to
            // f16 for a table lookup on the CPU (about 5e-4 relative): too coarse for the golden.
            x = ggml_scale(ctx, x, 1.702f);
            x = ggml_silu(ctx, x);
            return ggml_scale(ctx, x, 1.0f / 1.702f);
        case Act::quick_gelu_lut: return ggml_gelu_quick(ctx, x);
    }
    return x;
}

ggml_tensor * attention(Graph & g, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head, float scale,
                        ggml_tensor * bias_k, ggml_tensor * bias_v, bool bf16_out) {
    ggml_context * ctx = g.ctx;
    const int64_t W = q->ne[0], Tq = q->ne[1], B = q->ne[2];
    const int64_t Tk = k->ne[1] + (bias_k ? 1 : 0);
    const int64_t D = W / n_head;
    // split heads: [W, T, B] -> [D, H, T, B] -> [D, T, H, B]
    auto heads = [&](ggml_tensor * t, int64_t T) {
        t = ggml_view_4d(ctx, t, D, n_head, T, B, D * t->nb[0], t->nb[1], t->nb[2], 0);
        return ggml_permute(ctx, t, 0, 2, 1, 3);
    };
    if (g.hook) {
        if (ggml_tensor * o = g.hook->attention(g, q, k, v, n_head, scale, bias_k, bias_v, bf16_out)) return o;
    }
    // (the ggml paths below take f32)
    if (q->type != GGML_TYPE_F32) q = ggml_cast(ctx, q, GGML_TYPE_F32);
    if (k->type != GGML_TYPE_F32) k = ggml_cast(ctx, k, GGML_TYPE_F32);
    if (v->type != GGML_TYPE_F32) v = ggml_cast(ctx, v, GGML_TYPE_F32);
    if (bias_k) {
        // the learned key / value row after the Tk projected ones, for every batch item
        k = ggml_concat(ctx, k, ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, bias_k, W, 1, 1), W, 1, B, 1), 1);
        v = ggml_concat(ctx, v, ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, bias_v, W, 1, 1), W, 1, B, 1), 1);
    }
    // ggml's CPU flash attention has a tiled kernel only for head sizes that are a multiple of the
    // SIMD width (16 floats with AVX-512); others (EVA's 88) take a row-at-a-time loop ~10x slower
    // than the matmul path below (zero-padding the heads to 96 for the tiled kernel measured
    // slower than the matmul path too)
    if (g.flash_attn && D % 16 == 0) {
        ggml_tensor *kh = heads(k, Tk), *vh = heads(v, Tk);
        if (g.kv_f16) {
            kh = ggml_cast(ctx, kh, GGML_TYPE_F16);
            vh = ggml_cast(ctx, vh, GGML_TYPE_F16);
        }
        // fused softmax(q k^T * scale) v with f32 accumulation; result [D, H, Tq, B]
        ggml_tensor * o = ggml_flash_attn_ext(ctx, heads(q, Tq), kh, vh, nullptr, scale, 0.0f, 0.0f);
        ggml_flash_attn_ext_set_prec(o, GGML_PREC_F32);
        return ggml_reshape_3d(ctx, o, W, Tq, B);
    }
    // q contiguous per head so the CPU matmul can take its tiled sgemm path (it needs src1 contiguous)
    ggml_tensor * qh = ggml_cont(ctx, heads(q, Tq));
    ggml_tensor * kh = heads(k, Tk);
    ggml_tensor * kq = ggml_mul_mat(ctx, kh, qh);  // [Tk, Tq, H, B]
    kq = ggml_soft_max_ext(ctx, kq, nullptr, scale, 0.0f);
    // values transposed: [D, H, Tk, B] -> [Tk, D, H, B]
    ggml_tensor * vt = ggml_view_4d(ctx, v, D, n_head, Tk, B, D * v->nb[0], v->nb[1], v->nb[2], 0);
    vt = ggml_cont(ctx, ggml_permute(ctx, vt, 1, 2, 0, 3));
    ggml_tensor * o = ggml_mul_mat(ctx, vt, kq);  // [D, Tq, H, B]
    o = ggml_permute(ctx, o, 0, 2, 1, 3);         // [D, H, Tq, B]
    return ggml_cont_3d(ctx, o, W, Tq, B);
}

ggml_tensor * ffn(Graph & g, ggml_tensor * x, const LinearW & up, const LinearW & down, Act act, ggml_tensor * res) {
    // through the hook the activation runs in the up projection's matmul, and its result stays
    // bf16 when the hook takes the down projection too (it would round its input to bf16 anyway)
    bool fused = false;
    x = linear_impl(g, x, up, &act, g.hooked(down.w), &fused);
    if (!fused) x = activation(g.ctx, x, act);
    return linear(g, x, down, res);
}

ggml_tensor * vit_block(Graph & g, ggml_tensor * x, const VitBlockW & b, int n_head, float eps, Act act,
                        bool first_only) {
    ggml_context * ctx = g.ctx;
    const int64_t W = x->ne[0], T = x->ne[1], B = x->ne[2];
    // with the hook's matmuls (and fusion on) the LayerNorms write bf16, and q, k, v and the
    // attention output stay bf16: the rounding the hook's matmuls and attention would do anyway,
    // in half the memory
    const bool amx_qkv =
        g.fuse && (b.qkv.w ? g.hooked(b.qkv.w) : g.hooked(b.q.w) && g.hooked(b.k.w) && g.hooked(b.v.w));
    const bool bf16_attn_out = amx_qkv && g.hooked(b.out.w);
    ggml_tensor * h = layer_norm_for(g, x, b.ln1, eps, amx_qkv);
    ggml_tensor *q, *k, *v;
    if (b.qkv.w) {
        ggml_tensor * qkv = linear_impl(g, h, b.qkv, nullptr, amx_qkv, nullptr);  // [3W, T, B]
        const size_t es = ggml_element_size(qkv);
        q = ggml_view_3d(ctx, qkv, W, T, B, qkv->nb[1], qkv->nb[2], 0);
        k = ggml_view_3d(ctx, qkv, W, T, B, qkv->nb[1], qkv->nb[2], W * es);
        v = ggml_view_3d(ctx, qkv, W, T, B, qkv->nb[1], qkv->nb[2], 2 * W * es);
    } else {
        q = linear_impl(g, h, b.q, nullptr, amx_qkv, nullptr);
        k = linear_impl(g, h, b.k, nullptr, amx_qkv, nullptr);
        v = linear_impl(g, h, b.v, nullptr, amx_qkv, nullptr);
    }
    // nn.MultiheadAttention(add_bias_kv=True): one learned key/value row after the T projected ones
    const float scale = 1.0f / std::sqrt((float)(W / n_head));
    if (first_only) {
        q = ggml_view_3d(ctx, q, W, 1, B, q->nb[1], q->nb[2], 0);
        x = ggml_view_3d(ctx, x, W, 1, B, x->nb[1], x->nb[2], 0);
    }
    ggml_tensor * a = attention(g, q, k, v, n_head, scale, b.bias_k, b.bias_v, bf16_attn_out);
    x = linear(g, a, b.out, x);
    h = layer_norm_for(g, x, b.ln2, eps, g.fuse && g.hooked(b.up.w));
    return ffn(g, h, b.up, b.down, act, x);
}

ggml_tensor * patch_embed(Graph & g, ggml_tensor * img, ggml_tensor * kernel, int stride) {
    ggml_context * ctx = g.ctx;
    const int64_t k0 = kernel->ne[0], k1 = kernel->ne[1], C = kernel->ne[2], OC = kernel->ne[3];
    // [C*k1*k0, OW, OH, B], rows ordered like the flattened kernel (c, ky, kx)
    ggml_tensor * cols = ggml_im2col(ctx, kernel, img, stride, stride, 0, 0, 1, 1, true, GGML_TYPE_F32);
    const int64_t n_tok = cols->ne[1] * cols->ne[2], B = cols->ne[3];
    cols = ggml_reshape_2d(ctx, cols, cols->ne[0], n_tok * B);
    // through the hook when it takes the kernel (AMX: repacked when k k C is a multiple of 32,
    // ImageBind's 16 x 16)
    ggml_tensor * no_res = nullptr;
    ggml_tensor * y = g.hook ? g.hook->linear(g, cols, cols, kernel, nullptr, nullptr, false, &no_res) : nullptr;
    if (!y) y = ggml_mul_mat(ctx, ggml_reshape_2d(ctx, kernel, k0 * k1 * C, OC), cols);
    return ggml_reshape_3d(ctx, y, OC, n_tok, B);
}

ggml_tensor * prepend_cls(ggml_context * ctx, ggml_tensor * x, ggml_tensor * cls) {
    const int64_t W = x->ne[0], B = x->ne[2];
    ggml_tensor * c = ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, cls, W, 1, 1), W, 1, B, 1);
    return ggml_concat(ctx, c, x, 1);
}

}  // namespace ggpt
