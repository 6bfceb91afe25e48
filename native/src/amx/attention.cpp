// attention.cpp - softmax(scale q k^T) v per head on the AMX tiles, or on AVX512-BF16 dot products
// (dot.h) on CPUs without AMX (amx_attention, see amx.h).
#include "amx/amx.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "amx/dot.h"
#include "amx/ops.h"
#include "amx/tiles.h"
#include "amx/work_share.h"

namespace ggpt {

#if GGPT_AMX

#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

namespace amx_detail {
namespace {

// elements i .. i + 15 (the lanes of m, the rest zero) of a row of f32 or (in16) bf16, as f32
GGPT_AMX_TARGET inline __m512 load16_f32_or_bf16(const void * r, int64_t i, __mmask16 m, bool in16) {
    return in16 ? load_bf16x16((const uint16_t *)r + i, m) : _mm512_maskz_loadu_ps(m, (const float *)r + i);
}

// Per (batch, head): K and V packed as tile operands once, then per block of 32 queries
// S = q k^T on the tiles (bf16 q straight from its rows when the head size is a multiple of 32),
// a row softmax in f32 with the scale folded into its exponent (2^(c s - c max)), P rounded to
// bf16 and O = P v on the tiles, normalised by the f32 row sums. Head size and key count are
// zero-padded to multiples of 32 (padded keys are masked out of the softmax). AMX: the products
// on the tiles, else on dot products (no tile instruction runs).
template <bool AMX> GGPT_AMX_TARGET void attn_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    AttentionOpParams * p = (AttentionOpParams *)ud;
    const ggml_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2];
    // optional learned extra key / value row after the projected ones ([W] f32 each)
    const float * bias_k = dst->src[3] ? (const float *)dst->src[3]->data : nullptr;
    const float * bias_v = dst->src[4] ? (const float *)dst->src[4]->data : nullptr;
    const int64_t Tk0 = k->ne[1], Tk = Tk0 + (bias_k ? 1 : 0);
    const int64_t W = q->ne[0], Tq = q->ne[1], B = q->ne[2], H = p->n_head, D = W / H;
    // q, k, v all f32 or all bf16 (a bf16 matmul result: the same rounding as below); the output
    // f32 or bf16 (for a next AMX matmul)
    const bool in16 = q->type == GGML_TYPE_BF16, out16 = dst->type == GGML_TYPE_BF16;
    const size_t es = in16 ? 2 : 4;
    const int64_t Dp = (D + 31) / 32 * 32, Tkp = (Tk + 31) / 32 * 32, KCd = Dp / 32, KCk = Tkp / 32;
    // per-thread scratch; references, so the module's dynamic TLS is looked up once per call and not
    // inside the loops
    struct Scratch {
        AlignedVector<uint16_t> kp, vp, qa, pa;  // tile operands
        AlignedVector<float> sb, ob;             // tile results
        std::vector<uint16_t> bias16;
        std::vector<float> inv;
    };
    thread_local Scratch tls;
    AlignedVector<uint16_t> &kp = tls.kp, &vp = tls.vp, &qa = tls.qa, &pa = tls.pa;
    AlignedVector<float> &sb = tls.sb, &ob = tls.ob;
    std::vector<uint16_t> & bias16 = tls.bias16;
    std::vector<float> & inv = tls.inv;
    // with bf16 inputs the learned key / value rows are rounded to bf16 once (so every row has one type)
    if (in16 && bias_k) {
        bias16.resize((size_t)2 * W);
        for (int64_t i = 0; i < W; ++i) {
            bias16[i] = to_bf16(bias_k[i]);
            bias16[W + i] = to_bf16(bias_v[i]);
        }
    }
    const void * bk = in16 && bias_k ? (const void *)bias16.data() : (const void *)bias_k;
    const void * bv = in16 && bias_k ? (const void *)(bias16.data() + W) : (const void *)bias_v;
    kp.assign((size_t)Tkp * Dp, 0);
    vp.assign((size_t)Dp * Tkp, 0);
    qa.assign((size_t)32 * Dp, 0);
    pa.assign((size_t)32 * Tkp, 0);
    sb.resize((size_t)32 * Tkp);
    ob.resize((size_t)32 * Dp);
    inv.resize(32);
    std::conditional_t<AMX, TileScope, NoTiles> tiles;
    (void)tiles;
    // the softmax in base 2: p = 2^(c s - c max) with c = scale log2(e), the same as e^(scale (s - max))
    const float c2 = p->scale * 1.44269504088896341f;
    const __m512 vc2 = _mm512_set1_ps(c2);
    // interleave two 16-word halves: a0 b0 a1 b1 ...
    alignas(64) int16_t ilv_idx[32];
    for (int i = 0; i < 16; ++i) {
        ilv_idx[2 * i] = (int16_t)i;
        ilv_idx[2 * i + 1] = (int16_t)(16 + i);
    }
    const __m512i ilv = _mm512_load_si512(ilv_idx);
    // element h * D of row (i1, i2): head h's slice
    auto row = [es, D](const ggml_tensor * t, int64_t i1, int64_t i2, int64_t h) {
        return (const void *)((const char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + h * D * es);
    };
    // bf16 q with whole 32-dim chunks is a tile operand as it stands: full blocks of 32 queries are
    // loaded from q's rows directly (row stride qs elements); the rest go through qa
    const bool q_direct = in16 && D % 32 == 0;
    const int64_t qs = q->nb[1] / 2;
    // (batch item, head) jobs (WorkShare): a thread mostly reads rows of few batch items, which
    // the matmul before (amx_op) wrote on the same core (~1 % of the audio tower)
    WorkShare share(&p->share, H * B, ith, nth);
    for (int64_t job; (job = share.next()) >= 0;) {
        const int64_t b = job / H, h = job % H;
        auto key = [&](int64_t j) { return j < Tk0 ? row(k, j, b, h) : (const void *)((const char *)bk + h * D * es); };
        auto val = [&](int64_t j) { return j < Tk0 ? row(v, j, b, h) : (const void *)((const char *)bv + h * D * es); };
        // K as the "weight" of S = Q K^T: outputs = keys, reduction = head dims; V as the weight of
        // O = P V: outputs = head dims, reduction = keys (same tile layout as amx_pack). Lanes past
        // D and keys past Tk stay zero.
        // rows of one head are 256 B out of every few KiB (q, k and v interleaved per token): the
        // hardware prefetchers do not follow that, so the rows a few steps ahead are prefetched
        constexpr int64_t ahead = 6;
        auto prefetch = [&](const void * r) {
            for (int64_t d = 0; d < (int64_t)(D * es); d += 64) _mm_prefetch((const char *)r + d, _MM_HINT_T0);
        };
        // K: per 16 keys and 32 head dims, the keys' 16-dword rows (dword r = dims 2r, 2r + 1)
        // transposed in registers into the tile's 16 rows (row r = dims 2r, 2r + 1 of each key)
        int32_t * kd = (int32_t *)kp.data();
        for (int64_t j0 = 0; j0 < Tk; j0 += 16) {
            for (int64_t j = j0 + 16; j < std::min(Tk, j0 + 32); ++j) prefetch(key(j));  // the next 16
            for (int64_t kc = 0; kc < KCd; ++kc) {
                const int64_t d0 = kc * 32, nd = std::min<int64_t>(32, D - d0);  // head dims in this chunk
                const __mmask32 dm = nd >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << nd) - 1);
                __m512i r[16];
                for (int64_t i = 0; i < 16; ++i) {
                    const int64_t j = j0 + i;
                    if (j >= Tk) {
                        r[i] = _mm512_setzero_si512();
                    } else if (in16) {
                        r[i] = _mm512_maskz_loadu_epi16(dm, (const uint16_t *)key(j) + d0);
                    } else {
                        const __m512 lo = load16_f32_or_bf16(key(j), d0, lanes(D - d0), false);
                        const __m512 hi = load16_f32_or_bf16(key(j), d0 + 16, lanes(D - d0 - 16), false);
                        r[i] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
                    }
                }
                transpose16x16(r);
                int32_t * t = kd + ((j0 / 16) * KCd + kc) * 256;
                for (int i = 0; i < 16; ++i) _mm512_store_si512(t + i * 16, r[i]);
            }
        }
        for (int64_t j = 0; j < Tk; j += 2) {
            if (j + ahead < Tk) prefetch(val(j + ahead));
            if (j + ahead + 1 < Tk) prefetch(val(j + ahead + 1));
            const void * s0 = val(j);
            const void * s1 = j + 1 < Tk ? val(j + 1) : nullptr;
            for (int64_t dd = 0; dd < Dp / 16; ++dd) {
                const __mmask16 m = lanes(D - dd * 16);
                const __m512 a = load16_f32_or_bf16(s0, dd * 16, m, in16);
                const __m512 c = s1 ? load16_f32_or_bf16(s1, dd * 16, m, in16) : _mm512_setzero_ps();
                const __m512i w = _mm512_permutexvar_epi16(ilv, (__m512i)_mm512_cvtne2ps_pbh(c, a));
                _mm512_storeu_si512(vp.data() + (((dd * KCk + j / 32) * 16 + (j % 32) / 2) * 32), w);
            }
        }
        for (int64_t q0 = 0; q0 < Tq; q0 += 32) {
            const int64_t rows = std::min<int64_t>(32, Tq - q0);
            const bool direct = q_direct && rows == 32;
            if (!direct) {
                for (int64_t r = 0; r < 32; ++r) {
                    if (r + ahead < rows) prefetch(row(q, q0 + r + ahead, b, h));
                    const void * src = r < rows ? row(q, q0 + r, b, h) : nullptr;
                    for (int64_t d = 0; d < Dp; d += 16) {
                        const __m512 x = src ? load16_f32_or_bf16(src, d, lanes(D - d), in16) : _mm512_setzero_ps();
                        _mm256_storeu_si256((__m256i *)(qa.data() + r * Dp + d), (__m256i)_mm512_cvtneps_pbh(x));
                    }
                }
            }
            const uint16_t * qt = direct ? (const uint16_t *)row(q, q0, b, h) : qa.data();
            for (int64_t jb = 0; jb < Tkp / 32; ++jb) {
                const uint16_t * b0 = kp.data() + (size_t)(2 * jb) * KCd * 512;
                if constexpr (AMX)
                    kernel<2>(qt, direct ? qs : Dp, b0, b0 + (size_t)KCd * 512, KCd, sb.data() + jb * 32, Tkp);
                else
                    dot_kernel<2>(qt, direct ? qs : Dp, b0, b0 + (size_t)KCd * 512, KCd, sb.data() + jb * 32, Tkp,
                                  nullptr, rows);
            }
            // per row: the max (two accumulators), then 2^(c s - c max) rounded to bf16 into P and
            // summed in f32, 32 keys at a time; keys past Tk stay 0 in P
            for (int64_t r = 0; r < 32; ++r) {
                const float * srow = sb.data() + r * Tkp;
                uint16_t * prow = pa.data() + r * Tkp;
                if (r >= rows) {
                    std::memset(prow, 0, (size_t)Tkp * 2);
                    continue;
                }
                __m512 mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0;
                int64_t j = 0;
                for (; j + 32 <= Tk; j += 32) {
                    mx0 = _mm512_max_ps(mx0, _mm512_loadu_ps(srow + j));
                    mx1 = _mm512_max_ps(mx1, _mm512_loadu_ps(srow + j + 16));
                }
                for (; j < Tk; j += 16) {
                    const __mmask16 m = lanes(Tk - j);
                    mx0 = _mm512_mask_max_ps(mx0, m, mx0, _mm512_maskz_loadu_ps(m, srow + j));
                }
                const __m512 cmax = _mm512_set1_ps(c2 * _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1)));
                __m512 s0 = _mm512_setzero_ps(), s1 = s0;
                for (j = 0; j + 32 <= Tk; j += 32) {
                    const __m512 e0 = exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + j), vc2, cmax));
                    const __m512 e1 = exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + j + 16), vc2, cmax));
                    s0 = _mm512_add_ps(s0, e0);
                    s1 = _mm512_add_ps(s1, e1);
                    _mm512_storeu_si512(prow + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
                }
                for (; j < Tk; j += 16) {
                    const __mmask16 m = lanes(Tk - j);
                    const __m512 e =
                        _mm512_maskz_mov_ps(m, exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + j), vc2, cmax)));
                    s0 = _mm512_add_ps(s0, e);
                    _mm256_storeu_si256((__m256i *)(prow + j), (__m256i)_mm512_cvtneps_pbh(e));
                }
                inv[r] = 1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
            }
            for (int64_t db = 0; db < Dp / 32; ++db) {
                const uint16_t * b0 = vp.data() + (size_t)(2 * db) * KCk * 512;
                if constexpr (AMX) kernel<2>(pa.data(), Tkp, b0, b0 + (size_t)KCk * 512, KCk, ob.data() + db * 32, Dp);
                else
                    dot_kernel<2>(pa.data(), Tkp, b0, b0 + (size_t)KCk * 512, KCk, ob.data() + db * 32, Dp, nullptr,
                                  rows);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t at = (b * Tq + q0 + r) * W + h * D;
                const float * o = ob.data() + r * Dp;
                const __m512 s = _mm512_set1_ps(inv[r]);
                for (int64_t d = 0; d < D; d += 16) {
                    const __mmask16 m = lanes(D - d);
                    const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(o + d), s);
                    if (out16)
                        _mm256_mask_storeu_epi16((uint16_t *)dst->data + at + d, m, (__m256i)_mm512_cvtneps_pbh(x));
                    else _mm512_mask_storeu_ps((float *)dst->data + at + d, m, x);
                }
            }
        }
    }
}

}  // namespace
}  // namespace amx_detail

#  pragma GCC diagnostic pop

ggml_tensor * amx_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head,
                            float scale, ggml_tensor * bias_k, ggml_tensor * bias_v, ggml_type out, Bf16Kernel unit) {
    const bool avx512 = unit == Bf16Kernel::avx512;
    amx_detail::AttentionOpParams init;
    init.n_head = n_head;
    init.scale = scale;
    amx_detail::AttentionOpParams * p = amx_detail::new_op_params(ctx, init);
    ggml_tensor * args[5] = {q, k, v, bias_k, bias_v};
    return ggml_set_name(ggml_custom_4d(ctx, out == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F32, q->ne[0], q->ne[1],
                                        q->ne[2], 1, args, bias_k ? 5 : 3,
                                        avx512 ? amx_detail::attn_op<false> : amx_detail::attn_op<true>,
                                        GGML_N_TASKS_MAX, p),
                         avx512 ? "avx512_attention" : "amx_attention");
}

#else

ggml_tensor * amx_attention(ggml_context *, ggml_tensor *, ggml_tensor *, ggml_tensor *, int, float, ggml_tensor *,
                            ggml_tensor *, ggml_type, Bf16Kernel) {
    return nullptr;
}

#endif

}  // namespace ggpt
