// tiles.h - the AMX tile unit: its configuration for the scope of an op (TileScope), and the
// 32 x 32 block product on the tiles (kernel) with the matmul's epilogue interleaved. Internal to
// native/src/amx (GGPT_AMX builds only).
#pragma once
#include "amx/simd.h"

#if GGPT_AMX

#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

#  define GGPT_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512bf16,avx512vl")))

namespace ggpt::amx_detail {

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// Our 16x64-byte tile configuration for the lifetime of the scope. ggml's own AMX kernels (the
// LLM's quantised matmuls) configure the tiles once per thread and assume the configuration
// stays, so whatever this thread had is put back afterwards.
struct TileScope {
    TileConfig saved;
    GGPT_AMX_TARGET TileScope() {
        _tile_storeconfig(&saved);
        TileConfig cfg;
        for (int t = 0; t < 8; ++t) {
            cfg.rows[t] = 16;
            cfg.colsb[t] = 64;
        }
        // GCC 12 does not see that ldtilecfg reads cfg and may drop the stores (llama.cpp #20824)
        __asm__ __volatile__("" : : "r"(&cfg) : "memory");
        _tile_loadconfig(&cfg);
    }
    GGPT_AMX_TARGET ~TileScope() {
        if (saved.palette != 0) {
            __asm__ __volatile__("" : : "r"(&saved) : "memory");
            _tile_loadconfig(&saved);
        } else {
            _tile_release();
        }
    }
};

// tile c += a b: bf16 pairs into f32, or int8 quads into int32 (a macro: the intrinsics paste
// their tile numbers into the instruction text, so they must be literals)
#  define GGPT_TILE_DP(i8, c, a, b)                                                                                    \
    do {                                                                                                               \
      if constexpr (i8) _tile_dpbssd(c, a, b);                                                                         \
      else _tile_dpbf16ps(c, a, b);                                                                                    \
    } while (0)

// A finished rows x (16 * MT) block c (stride 32) on its way to y (row stride ldy elements, f32
// or bf16): + bias, the activation, + res (f32, row stride ldy, or null). With rs and ws (int8),
// c holds int32 sums, scaled by row scale rs[r] times column scale ws[col] first.
struct Pending {
    const float * c = nullptr;
    int64_t rows = 0;
    int MT = 2;
    const float * bias = nullptr;
    AmxAct act = AmxAct::none;
    void * y = nullptr;
    bool bf16 = false;
    int64_t ldy = 0;
    const float *rs = nullptr, *ws = nullptr, *res = nullptr;
};

// rows [r0, r1) of p
GGPT_AVX512_TARGET inline void epilogue(const Pending & p, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        for (int h = 0; h < p.MT; ++h) {
            __m512 v = _mm512_load_ps(p.c + r * 32 + h * 16);
            if (p.rs) {
                const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(p.rs[r]), _mm512_loadu_ps(p.ws + h * 16));
                v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_castps_si512(v)), scale);
            }
            if (p.bias) v = _mm512_add_ps(v, _mm512_loadu_ps(p.bias + h * 16));
            if (p.act == AmxAct::gelu_erf) v = gelu_erf16(v);
            else if (p.act == AmxAct::quick_gelu) v = quick_gelu16(v);
            if (p.res) v = _mm512_add_ps(v, _mm512_loadu_ps(p.res + r * p.ldy + h * 16));
            if (p.bf16) {
                _mm256_storeu_si256((__m256i *)((uint16_t *)p.y + r * p.ldy + h * 16), (__m256i)_mm512_cvtneps_pbh(v));
            } else {
                _mm512_storeu_ps((float *)p.y + r * p.ldy + h * 16, v);
            }
        }
    }
}

// C[n0:n0+32, m0:m0+16*MT] = A[n0:n0+32, :] W[m0:..]^T. a: 32 rows of K bf16, either row-major
// (stride lda elements) or, PACKED, as KC consecutive 32x32 panels (2 KiB each: the two 16-row
// tiles of one k chunk, contiguous); b: the packed weight at m-block mb; c: 32 rows x 16*MT floats,
// stride ldc floats. I8 (PACKED only): the same 2 KiB panels and 1 KiB weight tiles hold 32 rows x
// 64 k int8, KC = K / 64, and c receives int32 sums.
// With pend, the previous block's epilogue runs a few rows per k chunk in between the tile
// products: the vector units work while the tile unit does, instead of after it (the tiles are not
// renamed and the reorder buffer holds only a few hundred instructions, so an epilogue after the
// products would wait for them, and the next block's products for the epilogue).
template <int MT, bool PACKED = false, bool I8 = false>
GGPT_AMX_TARGET void kernel(const uint16_t * a, int64_t lda, const uint16_t * b0, const uint16_t * b1, int64_t KC,
                            float * c, int64_t ldc, const Pending * pend = nullptr) {
    _tile_zero(0);
    _tile_zero(1);
    if (MT == 2) {
        _tile_zero(2);
        _tile_zero(3);
    }
    const int64_t sa = PACKED ? 64 : lda * 2;
    // rows of the pending epilogue per k chunk
    const int64_t prow = pend ? (pend->rows + KC - 1) / KC : 0;
    for (int64_t kc = 0; kc < KC; ++kc) {
        if (PACKED) {
            _tile_loadd(4, a + kc * 1024, sa);
            _tile_loadd(5, a + kc * 1024 + 512, sa);
        } else {
            _tile_loadd(4, a + kc * 32, sa);
            _tile_loadd(5, a + 16 * lda + kc * 32, sa);
        }
        _tile_loadd(6, b0 + kc * 512, 64);
        GGPT_TILE_DP(I8, 0, 4, 6);
        GGPT_TILE_DP(I8, 1, 5, 6);
        if (MT == 2) {
            _tile_loadd(7, b1 + kc * 512, 64);
            GGPT_TILE_DP(I8, 2, 4, 7);
            GGPT_TILE_DP(I8, 3, 5, 7);
        }
        if (pend) {
            const int64_t r0 = kc * prow;
            if (r0 < pend->rows) epilogue(*pend, r0, std::min(pend->rows, r0 + prow));
        }
    }
    const int64_t sc = ldc * 4;
    _tile_stored(0, c, sc);
    _tile_stored(1, c + 16 * ldc, sc);
    if (MT == 2) {
        _tile_stored(2, c + 16, sc);
        _tile_stored(3, c + 16 * ldc + 16, sc);
    }
}

}  // namespace ggpt::amx_detail

#  pragma GCC diagnostic pop

#endif  // GGPT_AMX
