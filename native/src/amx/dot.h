// dot.h - the 32-row block product of tiles.h (kernel) on AVX512-BF16 dot products (vdpbf16ps),
// for CPUs with AVX512-BF16 and no AMX (AMD Zen 4/5, Intel Cooper Lake): the same operands (a
// packed weight, activation rows or panels), the same f32 result block and the same pending
// epilogue, so matmul.cpp and attention.cpp run either unit (docs/ARCHITECTURE.md). Internal to
// native/src/amx (GGPT_AMX builds only).
#pragma once
#include "amx/tiles.h"

#if GGPT_AMX

#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

namespace ggpt::amx_detail {

// In place of a TileScope where the block products run on dot products
struct NoTiles {};

// dot.h's functions: AVX-512 with BF16 and VNNI (the int8 products)
#  define GGPT_DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl,avx512vnni")))

// Rows [0, R) of the block: c[r][16 h + j] = sum over k of a[r][k] W[16 h + j][k] for h < MT.
// A packed weight tile row (64 bytes: one k pair of 16 outputs, pack.h) is one vector operand;
// a row's k pair (one dword) is broadcast to the 16 lanes. R x MT accumulators (at most 24 of the
// 32 vector registers), each vdpbf16ps independent of the others within a k pair.
// I8: k quads of int8 instead of bf16 pairs (the same dword addressing: KC = K / 64), the rows
// as q + 128 (unsigned bytes, vpdpbusd), and c receives the int32 sums less comp (pack.h).
template <int R, int MT, bool PACKED, bool I8>
GGPT_DOT_TARGET inline void dot_rows(const uint16_t * a, int64_t lda, const uint16_t * b0, const uint16_t * b1,
                                     int64_t KC, float * c, int64_t ldc, const int32_t * comp) {
    __m512i acc[R][MT];
    for (int r = 0; r < R; ++r)
        for (int h = 0; h < MT; ++h) acc[r][h] = _mm512_setzero_si512();
    // row r's k pair (quad) p of chunk kc: a[(PACKED ? kc * 1024 + r * 32 : r * lda + kc * 32) + 2 p]
    const int64_t sa = PACKED ? 32 : lda, sk = PACKED ? 1024 : 32;
    for (int64_t kc = 0; kc < KC; ++kc) {
        const uint16_t * ak = a + kc * sk;
        const uint16_t * w0 = b0 + kc * 512;
        const uint16_t * w1 = b1 + kc * 512;
#  pragma GCC unroll 16
        for (int p = 0; p < 16; ++p) {
            __m512i w[MT];
            w[0] = _mm512_loadu_si512(w0 + p * 32);
            if constexpr (MT == 2) w[1] = _mm512_loadu_si512(w1 + p * 32);
            for (int r = 0; r < R; ++r) {
                int32_t pair;
                std::memcpy(&pair, ak + r * sa + 2 * p, 4);
                const __m512i x = _mm512_set1_epi32(pair);
                for (int h = 0; h < MT; ++h) {
                    if constexpr (I8) acc[r][h] = _mm512_dpbusd_epi32(acc[r][h], x, w[h]);
                    else acc[r][h] = (__m512i)_mm512_dpbf16_ps((__m512)acc[r][h], (__m512bh)x, (__m512bh)w[h]);
                }
            }
        }
    }
    for (int h = 0; h < MT; ++h) {
        const __m512i cm = I8 ? _mm512_loadu_si512(comp + h * 16) : _mm512_setzero_si512();
        for (int r = 0; r < R; ++r) {
            const __m512i v = I8 ? _mm512_sub_epi32(acc[r][h], cm) : acc[r][h];
            _mm512_storeu_si512(c + r * ldc + h * 16, v);
        }
    }
}

// kernel<MT, PACKED, I8> (tiles.h) on dot products, for the first `rows` rows of the block (the
// others of c are left as they are); I8 takes the weight's comp at this block's first output. The
// pending epilogue runs first: there is no second unit to overlap it with.
template <int MT, bool PACKED = false, bool I8 = false>
GGPT_DOT_TARGET void dot_kernel(const uint16_t * a, int64_t lda, const uint16_t * b0, const uint16_t * b1, int64_t KC,
                                float * c, int64_t ldc, const Pending * pend = nullptr, int64_t rows = 32,
                                const int32_t * comp = nullptr) {
    if (pend) epilogue(*pend, 0, pend->rows);
    const int64_t sa = PACKED ? 32 : lda;
    // 12 + 12 + 8 rows of 2 vectors, or 16 + 16 rows of one; row groups past `rows` skipped
    constexpr int G = MT == 2 ? 12 : 16;
    int64_t r0 = 0;
    for (; r0 + G <= 32 && r0 < rows; r0 += G)
        dot_rows<G, MT, PACKED, I8>(a + r0 * sa, lda, b0, b1, KC, c + r0 * ldc, ldc, comp);
    if constexpr (32 % G != 0) {
        if (r0 < rows && r0 < 32)
            dot_rows<32 % G, MT, PACKED, I8>(a + r0 * sa, lda, b0, b1, KC, c + r0 * ldc, ldc, comp);
    }
}

}  // namespace ggpt::amx_detail

#  pragma GCC diagnostic pop

#endif  // GGPT_AMX
