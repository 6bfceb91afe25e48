// matmul.cpp - the AMX Linear layer (amx_mul_mat, see amx.h): activations packed into tile panels
// (bf16, or int8 per row), 32 x 32 output blocks on the tiles (or, on CPUs without AMX, on
// AVX512-BF16 dot products: dot.h), bias / activation / residual in the epilogue.
#include "amx/amx.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

// One activation row (K bf16) -> int8 with its own symmetric scale (returned), written as the
// row's 64-byte slices of consecutive 2 KiB panels (dst: the row's slice in the first one). U8:
// as q + 128 (unsigned bytes, for vpdpbusd: dot.h).
template <bool U8> GGPT_AVX512_TARGET float quantize_row_i8(const uint16_t * x, int64_t K, int8_t * dst) {
    __m512 amax = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(load_bf16x16(x + k)));
    const float m = _mm512_reduce_max_ps(amax);
    const __m512 inv = _mm512_set1_ps(m > 0.0f ? 127.0f / m : 0.0f);
    for (int64_t k = 0; k < K; k += 16) {
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(load_bf16x16(x + k), inv));  // nearest even, |q| <= 127
        __m128i b = _mm512_cvtsepi32_epi8(q);
        if constexpr (U8) b = _mm_xor_si128(b, _mm_set1_epi8((char)0x80));
        _mm_storeu_si128((__m128i *)(dst + (k / 64) * 2048 + k % 64), b);
    }
    return m / 127.0f;
}

// ---- the op -------------------------------------------------------------------------------------

// Work split: rows are swept in chunks of ~512 KiB of activations, so a weight block is reused
// across a whole chunk of rows from L2 instead of being streamed from L3 / memory once per 32 rows.
// Two threads (at least 4 row blocks) share work items of a chunk x 8 column blocks from both ends
// (WorkShare): each starts on its half of the rows, which it mostly wrote itself in the op before
// (LayerNorm, the previous matmul, the residual) and finds in its own core's cache, and the faster
// core takes over the slower one's rest. Otherwise each thread owns a contiguous range of row blocks
// and of column blocks: with at least 2 row blocks per thread, shared evenly, the rows only (same
// locality); else (a class token, a Q-Former's queries, a row count that does not share evenly)
// the columns (at least 2 blocks each), and the rest of the threads the rows.
// AMX: the block products on the tile unit; else on AVX512-BF16 / AVX512-VNNI dot products (no
// tile instruction runs).
template <bool AMX> GGPT_AMX_TARGET void linear_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    LinearOpParams * op = (LinearOpParams *)ud;
    const AmxWeight * w = op->w;
    const ggml_tensor * x = dst->src[0];                                             // bf16 [K, N], contiguous
    const float * bias = op->has_bias ? (const float *)dst->src[1]->data : nullptr;  // [M] or none
    // [M, N] f32 added after the activation (a residual connection), or none
    const float * res = op->has_res ? (const float *)dst->src[op->has_bias ? 2 : 1]->data : nullptr;
    const bool out_bf16 = dst->type == GGML_TYPE_BF16;
    const int64_t K = w->K, M = w->M, N = x->ne[1], KC = K / (w->int8 ? 64 : 32);
    const uint16_t * xa = (const uint16_t *)x->data;
    const int64_t NB = (N + 31) / 32, MB = (M + 31) / 32;                     // 32x32 output blocks
    const int64_t chunk = std::max<int64_t>(1, (512 * 1024) / (32 * K * 2));  // row blocks per chunk
    std::conditional_t<AMX, TileScope, NoTiles> tiles;
    // each chunk of rows is first copied into 32x32 panels (contiguous tile loads; rows past N zero)
    // per-thread scratch; one reference, so the module's dynamic TLS is looked up once per call
    // (int8: half the elements, and one scale per row)
    thread_local AlignedVector<uint16_t> tls_apack;
    thread_local std::vector<float> tls_ascale;
    AlignedVector<uint16_t> & apack = tls_apack;
    std::vector<float> & ascale = tls_ascale;
    const int64_t pan_elems = KC * 1024;  // one 32-row panel, in uint16 units (2 KiB per k chunk)
    apack.resize((size_t)chunk * pan_elems);
    if (w->int8) ascale.resize((size_t)chunk * 32);
    // two result buffers: a block's epilogue runs during the next block's products
    alignas(64) float cbuf[2][32 * 32];
    int cur = 0;
    Pending pend;
    // 32 or 16 (the last block of an M that is not a multiple of 32) output columns at a time
    auto * const kern2 = w->int8 ? kernel<2, true, true> : kernel<2, true>;
    auto * const kern1 = w->int8 ? kernel<1, true, true> : kernel<1, true>;
    (void)tiles;
    // row blocks [nc, nc1) (at most a chunk) into the panels
    auto pack = [&](int64_t nc, int64_t nc1) {
        for (int64_t nb = nc; nb < nc1; ++nb) {
            uint16_t * pan = apack.data() + (size_t)(nb - nc) * pan_elems;
            for (int64_t r = 0; r < 32; ++r) {
                const int64_t n = nb * 32 + r;
                if (w->int8) {
                    float & scale = ascale[(nb - nc) * 32 + r];
                    if (n < N) {
                        scale = quantize_row_i8<!AMX>(xa + n * K, K, (int8_t *)pan + r * 64);
                    } else {
                        scale = 0.0f;
                        for (int64_t kc = 0; kc < KC; ++kc) std::memset((int8_t *)pan + kc * 2048 + r * 64, 0, 64);
                    }
                    continue;
                }
                for (int64_t kc = 0; kc < KC; ++kc) {
                    uint16_t * d = pan + kc * 1024 + r * 32;
                    if (n < N) std::memcpy(d, xa + n * K + kc * 32, 64);
                    else std::memset(d, 0, 64);
                }
            }
        }
    };
    // output blocks [nc, nc1) x [mb0, mb1), rows nc.. packed; the last epilogue before returning
    auto run = [&](int64_t nc, int64_t nc1, int64_t mb0, int64_t mb1) {
        for (int64_t mb = mb0; mb < mb1; ++mb) {
            const int64_t m0 = mb * 32;
            const int MT = M - m0 >= 32 ? 2 : 1;
            const uint16_t * b0 = w->data.data() + (size_t)(2 * mb) * KC * 512;
            const uint16_t * b1 = b0 + (size_t)KC * 512;
            for (int64_t nb = nc; nb < nc1; ++nb) {
                const int64_t n0 = nb * 32, rows = std::min<int64_t>(32, N - n0);
                const uint16_t * a = apack.data() + (size_t)(nb - nc) * pan_elems;
                if constexpr (AMX)
                    (MT == 2 ? kern2 : kern1)(a, K, b0, b1, KC, cbuf[cur], 32, pend.rows ? &pend : nullptr);
                else if (w->int8)
                    (MT == 2 ? dot_kernel<2, true, true> : dot_kernel<1, true, true>)(a, K, b0, b1, KC, cbuf[cur], 32,
                                                                                      pend.rows ? &pend : nullptr, rows,
                                                                                      w->comp.data() + m0);
                else
                    (MT == 2 ? dot_kernel<2, true> : dot_kernel<1, true>)(a, K, b0, b1, KC, cbuf[cur], 32,
                                                                          pend.rows ? &pend : nullptr, rows, nullptr);
                pend.c = cbuf[cur];
                pend.rows = rows;
                pend.MT = MT;
                pend.bias = bias ? bias + m0 : nullptr;
                pend.act = op->act;
                pend.y = out_bf16 ? (void *)((uint16_t *)dst->data + n0 * M + m0)
                                  : (void *)((float *)dst->data + n0 * M + m0);
                pend.bf16 = out_bf16;
                pend.ldy = M;
                pend.rs = w->int8 ? ascale.data() + (nb - nc) * 32 : nullptr;
                pend.ws = w->int8 ? w->scale.data() + m0 : nullptr;
                pend.res = res ? res + n0 * M + m0 : nullptr;
                cur ^= 1;
            }
        }
        epilogue(pend, 0, pend.rows);
        pend.rows = 0;
    };
    if (nth == 2 && NB >= 4) {
        // two threads: work items of a chunk of row blocks x G column blocks, thread 0 from the
        // front of the first half of the rows, thread 1 from the back of the second (WorkShare; the
        // halves need not be even: the sharing evens them out)
        const int64_t G = 8, n_groups = (MB + G - 1) / G;
        const int64_t half = NB / 2;
        const int64_t nch0 = (half + chunk - 1) / chunk, nch1 = (NB - half + chunk - 1) / chunk;
        const int64_t cb0 = (half + nch0 - 1) / nch0, cb1 = (NB - half + nch1 - 1) / nch1;
        WorkShare share(&op->share, (nch0 + nch1) * n_groups, ith, nth);
        int64_t packed = -1;
        for (int64_t it; (it = share.next()) >= 0;) {
            const int64_t c = it / n_groups, g = it % n_groups;  // chunk (of both halves), column group
            const int64_t nc = c < nch0 ? c * cb0 : half + (c - nch0) * cb1;
            const int64_t nc1 = c < nch0 ? std::min(half, nc + cb0) : std::min(NB, nc + cb1);
            if (c != packed) pack(nc, nc1);
            packed = c;
            run(nc, nc1, g * G, std::min(MB, (g + 1) * G));
        }
        return;
    }
    // else threads as a tm x tn grid: rows only (tm = 1) when every thread gets at least 2 row
    // blocks and the busiest at most 5% more than an even share; else tm (a divisor of nth) column
    // groups of at least 2 blocks each
    const bool by_rows = NB >= 2 * nth && 20 * ((NB + nth - 1) / nth) * nth <= 21 * NB;
    int tm = 1;
    for (int d = 1; d <= nth && !by_rows; ++d)
        if (nth % d == 0 && MB >= 2 * d) tm = d;
    const int tn = nth / tm, im = ith % tm, in = ith / tm;
    const int64_t mb0 = MB * im / tm, mb1 = MB * (im + 1) / tm;
    const int64_t nb0 = NB * in / tn, nb1 = NB * (in + 1) / tn;
    if (mb0 >= mb1 || nb0 >= nb1) return;
    for (int64_t nc = nb0; nc < nb1; nc += chunk) {
        const int64_t nc1 = std::min(nb1, nc + chunk);
        pack(nc, nc1);
        run(nc, nc1, mb0, mb1);
    }
}

}  // namespace
}  // namespace amx_detail

#  pragma GCC diagnostic pop

ggml_tensor * amx_mul_mat(ggml_context * ctx, const AmxWeight * w, ggml_tensor * xb, ggml_tensor * bias, AmxAct act,
                          ggml_type out, ggml_tensor * res) {
    ggml_tensor * args[3] = {xb};
    int n = 1;
    if (bias) args[n++] = bias;
    if (res) args[n++] = res;
    amx_detail::LinearOpParams init;
    init.w = w;
    init.act = act;
    init.has_bias = bias != nullptr;
    init.has_res = res != nullptr;
    amx_detail::LinearOpParams * op = amx_detail::new_op_params(ctx, init);
    const bool avx512 = w->kernel == Bf16Kernel::avx512;
    ggml_tensor * y = ggml_custom_4d(ctx, out == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F32, w->M, xb->ne[1], 1, 1,
                                     args, n, avx512 ? amx_detail::linear_op<false> : amx_detail::linear_op<true>,
                                     GGML_N_TASKS_MAX, (void *)op);
    return ggml_set_name(y, avx512 ? (w->int8 ? "avx512_linear_i8" : "avx512_linear")
                                   : (w->int8 ? "amx_linear_i8" : "amx_linear"));
}

#else

ggml_tensor * amx_mul_mat(ggml_context *, const AmxWeight *, ggml_tensor *, ggml_tensor *, AmxAct, ggml_type,
                          ggml_tensor *) {
    return nullptr;
}

#endif

}  // namespace ggpt
