// layer_norm.cpp - LayerNorm straight to bf16, the input of the next AMX matmul (amx_layer_norm_bf16,
// see amx.h).
#include "amx/amx.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "amx/ops.h"
#include "amx/simd.h"  // GGPT_AVX512_TARGET
#include "amx/work_share.h"

namespace ggpt {

#if GGPT_AMX

#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

namespace amx_detail {
namespace {

// Rows in pieces shared by the threads; per row: mean, then the variance of (x - mean) (two passes
// over a row that is in L1), then (x - mean) / sqrt(var + eps) * w + b rounded to bf16.
// (AVX-512 and AVX512-BF16 only: runs on either kind of CPU.)
GGPT_AVX512_TARGET void amx_ln_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    const ggml_tensor * x = dst->src[0];
    const float * w = (const float *)dst->src[1]->data;
    const float * b = (const float *)dst->src[2]->data;
    LayerNormOpParams * p = (LayerNormOpParams *)ud;
    const float eps = p->eps;
    const int64_t W = x->ne[0], rows = ggml_nrows(x), n1 = x->ne[1], n2 = x->ne[2];
    // rows in pieces of 16 (WorkShare)
    constexpr int64_t piece = 16;
    WorkShare share(&p->share, (rows + piece - 1) / piece, ith, nth);
    for (int64_t pc; (pc = share.next()) >= 0;) {
        for (int64_t r = pc * piece; r < std::min(rows, (pc + 1) * piece); ++r) {
            const int64_t i1 = r % n1, i2 = (r / n1) % n2, i3 = r / (n1 * n2);
            const float * xr = (const float *)((const char *)x->data + i1 * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3]);
            uint16_t * y = (uint16_t *)dst->data + r * W;
            // 16 lanes at a time, the last step masked (lanes past W are 0 and stay out of the sums)
            __m512 acc = _mm512_setzero_ps();
            for (int64_t k = 0; k < W; k += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(lanes(W - k), xr + k));
            const __m512 vm = _mm512_set1_ps(_mm512_reduce_add_ps(acc) / (float)W);
            acc = _mm512_setzero_ps();
            for (int64_t k = 0; k < W; k += 16) {
                const __mmask16 m = lanes(W - k);
                const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, xr + k), vm);
                acc = _mm512_fmadd_ps(d, d, acc);
            }
            const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(_mm512_reduce_add_ps(acc) / (float)W + eps));
            for (int64_t k = 0; k < W; k += 16) {
                const __mmask16 m = lanes(W - k);
                const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + k), vm), inv);
                const __m512 v = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, b + k));
                _mm256_mask_storeu_epi16((__m256i *)(y + k), m, (__m256i)_mm512_cvtneps_pbh(v));
            }
        }
    }
}

}  // namespace
}  // namespace amx_detail

#  pragma GCC diagnostic pop

ggml_tensor * amx_layer_norm_bf16(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b, float eps) {
    amx_detail::LayerNormOpParams init;
    init.eps = eps;
    amx_detail::LayerNormOpParams * p = amx_detail::new_op_params(ctx, init);
    ggml_tensor * args[3] = {x, w, b};
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_BF16, x->ne[0], x->ne[1], x->ne[2], x->ne[3], args, 3,
                                        amx_detail::amx_ln_op, GGML_N_TASKS_MAX, p),
                         "amx_layer_norm");
}

#else

ggml_tensor * amx_layer_norm_bf16(ggml_context *, ggml_tensor *, ggml_tensor *, ggml_tensor *, float) {
    return nullptr;
}

#endif

}  // namespace ggpt
