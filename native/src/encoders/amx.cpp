// amx.cpp - AMX-BF16 Linear layers (see amx.h). x86-64 Linux only; elsewhere amx_bf16_available()
// is false and nothing here runs. The kernels carry their own target attributes, so the rest of the
// core keeps the build's baseline instruction set (portable builds dispatch at run time).
#include "encoders/amx.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#  define GGPT_AMX 1
#  include <cpuid.h>
#  include <immintrin.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif

namespace ggpt {

// f32 -> bf16, round to nearest even (NaN kept quiet)
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

// outputs: the last dimension; inputs: all the others
static int64_t amx_outputs(const ggml_tensor * w) { return w->ne[ggml_n_dims(w) - 1]; }

bool amx_can_pack(const ggml_tensor * w, bool int8) {
    if (!w || ggml_n_dims(w) < 2 || !ggml_is_contiguous(w)) return false;
    const int64_t M = amx_outputs(w), K = ggml_nelements(w) / M;
    return K % (int8 ? 64 : 32) == 0 && M % 16 == 0 &&
           (w->type == GGML_TYPE_F32 || w->type == GGML_TYPE_F16 || w->type == GGML_TYPE_BF16);
}

void amx_pack(const ggml_tensor * w, AmxWeight & out, bool int8) {
    const int64_t M = amx_outputs(w), K = ggml_nelements(w) / M, KC = K / 32;
    out.K = K;
    out.M = M;
    out.int8 = int8;
    for (int i = 0; i < 12; ++i) out.ops[i] = AmxOp{&out, (AmxAct)(i / 4), (i & 2) != 0, (i & 1) != 0};
    out.data.resize(int8 ? (size_t)M * K / 2 : (size_t)M * K);
    if (int8) out.scale.resize(M);
    std::vector<float> rows((size_t)16 * K);
    std::vector<uint16_t> rb((size_t)16 * K);
    std::vector<int8_t> rq(int8 ? (size_t)16 * K : 0);
    uint16_t * dst = out.data.data();
    int8_t * dst8 = (int8_t *)out.data.data();
    // per block of 16 outputs: its 16 weight rows in f32, then tiles (mb, kc) written in order;
    // bf16 tile row r = k pair (k = 32 kc + 2r, +1), int8 tile row r = k quad (k = 64 kc + 4r ..
    // + 3); column c = output 16 mb + c
    for (int64_t mb = 0; mb < M / 16; ++mb) {
        for (int64_t c = 0; c < 16; ++c) {
            const int64_t m = mb * 16 + c;
            float * row = rows.data() + c * K;
            switch (w->type) {
                case GGML_TYPE_F16: ggml_fp16_to_fp32_row((const ggml_fp16_t *)w->data + m * K, row, K); break;
                case GGML_TYPE_BF16: ggml_bf16_to_fp32_row((const ggml_bf16_t *)w->data + m * K, row, K); break;
                default: std::memcpy(row, (const float *)w->data + m * K, K * sizeof(float)); break;
            }
        }
        if (int8) {
            for (int64_t c = 0; c < 16; ++c) {
                const float * row = rows.data() + c * K;
                float amax = 0.0f;
                for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(row[k]));
                const float scale = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
                out.scale[mb * 16 + c] = scale;
                for (int64_t k = 0; k < K; ++k) rq[c * K + k] = (int8_t)std::lrint(std::min(127.0f, std::max(-127.0f, row[k] * inv)));
            }
            for (int64_t kc = 0; kc < K / 64; ++kc)
                for (int64_t r = 0; r < 16; ++r)
                    for (int64_t c = 0; c < 16; ++c)
                        for (int64_t j = 0; j < 4; ++j) *dst8++ = rq[c * K + kc * 64 + 4 * r + j];
            continue;
        }
        for (size_t i = 0; i < rb.size(); ++i) rb[i] = to_bf16(rows[i]);
        for (int64_t kc = 0; kc < KC; ++kc)
            for (int64_t r = 0; r < 16; ++r)
                for (int64_t c = 0; c < 16; ++c) {
                    const uint16_t * src = rb.data() + c * K + kc * 32 + 2 * r;
                    *dst++ = src[0];
                    *dst++ = src[1];
                }
    }
}

#if GGPT_AMX

bool amx_bf16_available() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
        if (!tile || !bf16) return false;
        // Linux hands out the 8 KiB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA)
        return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    }();
    return ok;
}

bool amx_int8_available() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        return amx_bf16_available() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 25));
    }();
    return ok;
}

namespace {

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

#  define GGPT_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512bf16,avx512vl")))

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
#  define GGPT_TILE_DP(i8, c, a, b)                \
      do {                                         \
          if constexpr (i8) _tile_dpbssd(c, a, b); \
          else _tile_dpbf16ps(c, a, b);            \
      } while (0)

// ---- the epilogue: bias, activation, f32 or bf16 store, 16 floats at a time -----------------------

// GCC 12 reports the _mm512_undefined_ps() inside its own min/max/scalef/roundscale intrinsics
// as maybe-uninitialized at -O3 (a false positive of the header)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

#  define GGPT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl")))

// 2^x (below -127: 0; above 128: +inf): 2^n 2^r, n = round(x), r in [-1/2, 1/2], 2^r by its
// degree-6 Taylor polynomial (relative error <= 2e-7). The softmax's and quick GELU's exponential.
GGPT_AVX512_TARGET inline __m512 exp2_16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.5403530393381608e-4f);  // ln2^k / k!, k = 6 .. 0
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3333558146428443e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.6181291076284772e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.5504108664821580e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.4022650695910071e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.9314718055994531e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// GELU(x) = x Phi(x) with q(a) = Phi(-a) = erfc(a / sqrt 2) / 2 for a = |x| < 6 in 16 pieces of
// width 3/8: piece i a degree-5 polynomial in u = 8a/3 - i - 1/2 in [-1/2, 1/2], interpolating q
// at the 6 Chebyshev points (from std::erfc in double, once per process). |q error| <= 4e-8, about
// f32 rounding; q(6) = 1e-9, so q = 0 beyond. Then x Phi(x) = x q for x < 0 and x - x q otherwise:
// the negative tail is computed directly, not as 1 + erf (which cancels), and no division or
// exponential: the coefficients come from the 16-entry tables by a lane permute.
struct GeluTable {
    alignas(64) float c[6][16];  // c[j][i]: coefficient of u^j in piece i
    GeluTable() {
        constexpr int n = 6;
        for (int i = 0; i < 16; ++i) {
            double v[n][n + 1];  // Vandermonde rows at the Chebyshev points, q appended
            for (int k = 0; k < n; ++k) {
                const double u = 0.5 * std::cos((2 * k + 1) * 3.14159265358979323846 / (2 * n)), a = (i + 0.5 + u) * 0.375;
                for (int j = 0; j < n; ++j) v[k][j] = std::pow(u, j);
                v[k][n] = 0.5 * std::erfc(a / std::sqrt(2.0));
            }
            for (int col = 0; col < n; ++col) {  // Gauss-Jordan with partial pivoting
                int piv = col;
                for (int r = col + 1; r < n; ++r)
                    if (std::fabs(v[r][col]) > std::fabs(v[piv][col])) piv = r;
                for (int j = 0; j <= n; ++j) std::swap(v[col][j], v[piv][j]);
                for (int r = 0; r < n; ++r) {
                    if (r == col) continue;
                    const double f = v[r][col] / v[col][col];
                    for (int j = col; j <= n; ++j) v[r][j] -= f * v[col][j];
                }
            }
            for (int j = 0; j < n; ++j) c[j][i] = (float)(v[j][n] / v[j][j]);
        }
    }
};
const GeluTable gelu_table;

GGPT_AVX512_TARGET inline __m512 gelu_erf16(__m512 x) {
    const __m512 a = _mm512_abs_ps(x);
    // piece index i = floor(t) (clamped: a >= 6 is masked out below), u = t - i - 1/2
    const __m512 t = _mm512_min_ps(_mm512_mul_ps(a, _mm512_set1_ps(16.0f / 6.0f)), _mm512_set1_ps(15.999999f));
    const __m512 f = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512i i = _mm512_cvttps_epi32(f);
    const __m512 u = _mm512_sub_ps(t, _mm512_add_ps(f, _mm512_set1_ps(0.5f)));
    const GeluTable & g = gelu_table;
    __m512 q = _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[5]));
    q = _mm512_fmadd_ps(q, u, _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[4])));
    q = _mm512_fmadd_ps(q, u, _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[3])));
    q = _mm512_fmadd_ps(q, u, _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[2])));
    q = _mm512_fmadd_ps(q, u, _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[1])));
    q = _mm512_fmadd_ps(q, u, _mm512_permutexvar_ps(i, _mm512_load_ps(g.c[0])));
    // x q, 0 where |x| >= 6; x - x q where x >= 0 (and for NaN, which then stays NaN)
    const __m512 xq = _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(6.0f), _CMP_LT_OQ), x, q);
    return _mm512_mask_sub_ps(xq, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NLT_UQ), x, xq);
}

// the first min(max(n, 0), 16) lanes
inline __mmask16 lanes(int64_t n) {
    return n <= 0 ? (__mmask16)0 : n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

// x sigmoid(1.702 x) = x / (1 + e^{-1.702 x}), e^{-1.702 x} = 2^{-1.702 log2(e) x}
GGPT_AVX512_TARGET inline __m512 quick_gelu16(__m512 x) {
    const __m512 e = exp2_16(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f * 1.44269504088896341f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

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
    const float * rs = nullptr, * ws = nullptr, * res = nullptr;
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

// 16 bf16 (the lanes of m; the rest 0) -> f32
GGPT_AVX512_TARGET inline __m512 load_bf16x16(const uint16_t * p, __mmask16 m = 0xffff) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// r[i][j] -> r[j][i] for 16 x 16 dwords: pairs within 128-bit lanes, then quads, then the lanes
GGPT_AVX512_TARGET inline void transpose16x16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);      // per lane: r_i[0] r_i+1[0] r_i[1] r_i+1[1]
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);  // r_i[2] r_i+1[2] r_i[3] r_i+1[3]
    }
    __m512i u[16];  // u[4g + k], lane l: element 4l + k of rows 4g .. 4g + 3
    for (int g = 0; g < 4; ++g) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int k = 0; k < 4; ++k) {
        const __m512i lo01 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x44), hi01 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xee);
        const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x44), hi23 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xee);
        r[k] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
        r[4 + k] = _mm512_shuffle_i32x4(lo01, lo23, 0xdd);
        r[8 + k] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
        r[12 + k] = _mm512_shuffle_i32x4(hi01, hi23, 0xdd);
    }
}

// One activation row (K bf16) -> int8 with its own symmetric scale (returned), written as the
// row's 64-byte slices of consecutive 2 KiB panels (dst: the row's slice in the first one).
GGPT_AVX512_TARGET float quantize_row_i8(const uint16_t * x, int64_t K, int8_t * dst) {
    __m512 amax = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(load_bf16x16(x + k)));
    const float m = _mm512_reduce_max_ps(amax);
    const __m512 inv = _mm512_set1_ps(m > 0.0f ? 127.0f / m : 0.0f);
    for (int64_t k = 0; k < K; k += 16) {
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(load_bf16x16(x + k), inv));  // nearest even, |q| <= 127
        _mm_storeu_si128((__m128i *)(dst + (k / 64) * 2048 + k % 64), _mm512_cvtsepi32_epi8(q));
    }
    return m / 127.0f;
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

// Items 0 .. n - 1 of an op handed out to its threads. With two threads, through a counter pair
// kept in the op's own parameters (the last 16 bytes of op_params; ggml's custom-op parameters take
// the first 24): thread 0 takes items 0, 1, 2, ... and thread 1 items n - 1, n - 2, ..., so each
// starts on its own half and, where they meet, the one that is ahead takes over what is left. On a
// shared host the tile unit's rate varies per core (by 4x on the machine we measure on), and a
// static split waits for the slower core. The last thread to finish resets the counters for the
// next run of the graph. With any other thread count, a contiguous range per thread.
class WorkShare {
  public:
    WorkShare(ggml_tensor * dst, int64_t n, int ith, int nth) : n_(n), ith_(ith) {
        if (nth == 2) {
            char * const spare = (char *)&dst->op_params[12];
            taken_ = (uint64_t *)(((uintptr_t)spare + 7) & ~(uintptr_t)7);
            done_ = (int32_t *)(taken_ + 1);
        } else {
            next_ = n * ith / nth;
            end_ = n * (ith + 1) / nth;
        }
    }
    WorkShare(const WorkShare &) = delete;
    WorkShare & operator=(const WorkShare &) = delete;
    ~WorkShare() {
        if (taken_ && __atomic_add_fetch(done_, 1, __ATOMIC_ACQ_REL) == 2) {
            __atomic_store_n(taken_, 0, __ATOMIC_RELAXED);
            __atomic_store_n(done_, 0, __ATOMIC_RELEASE);
        }
    }
    // the next item, or -1 when none is left
    int64_t next() {
        if (!taken_) return next_ < end_ ? next_++ : -1;
        // low half: items taken from the front, high half: from the back
        const uint64_t old = __atomic_fetch_add(taken_, ith_ == 0 ? 1ull : 1ull << 32, __ATOMIC_RELAXED);
        const int64_t front = (int64_t)(old & 0xffffffffu), back = (int64_t)(old >> 32);
        if (front + back >= n_) return -1;
        return ith_ == 0 ? front : n_ - 1 - back;
    }

  private:
    uint64_t * taken_ = nullptr;
    int32_t * done_ = nullptr;
    int64_t n_, next_ = 0, end_ = 0;
    int ith_;
};

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
GGPT_AMX_TARGET void amx_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    const AmxOp * op = (const AmxOp *)ud;
    const AmxWeight * w = op->w;
    const ggml_tensor * x = dst->src[0];  // bf16 [K, N], contiguous
    const float * bias = op->has_bias ? (const float *)dst->src[1]->data : nullptr;  // [M] or none
    // [M, N] f32 added after the activation (a residual connection), or none
    const float * res = op->has_res ? (const float *)dst->src[op->has_bias ? 2 : 1]->data : nullptr;
    const bool out_bf16 = dst->type == GGML_TYPE_BF16;
    const int64_t K = w->K, M = w->M, N = x->ne[1], KC = K / (w->int8 ? 64 : 32);
    const uint16_t * xa = (const uint16_t *)x->data;
    const int64_t NB = (N + 31) / 32, MB = (M + 31) / 32;  // 32x32 output blocks
    const int64_t chunk = std::max<int64_t>(1, (512 * 1024) / (32 * K * 2));  // row blocks per chunk
    TileScope tiles;
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
    // row blocks [nc, nc1) (at most a chunk) into the panels
    auto pack = [&](int64_t nc, int64_t nc1) {
        for (int64_t nb = nc; nb < nc1; ++nb) {
            uint16_t * pan = apack.data() + (size_t)(nb - nc) * pan_elems;
            for (int64_t r = 0; r < 32; ++r) {
                const int64_t n = nb * 32 + r;
                if (w->int8) {
                    float & scale = ascale[(nb - nc) * 32 + r];
                    if (n < N) {
                        scale = quantize_row_i8(xa + n * K, K, (int8_t *)pan + r * 64);
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
                (MT == 2 ? kern2 : kern1)(a, K, b0, b1, KC, cbuf[cur], 32, pend.rows ? &pend : nullptr);
                pend.c = cbuf[cur];
                pend.rows = rows;
                pend.MT = MT;
                pend.bias = bias ? bias + m0 : nullptr;
                pend.act = op->act;
                pend.y = out_bf16 ? (void *)((uint16_t *)dst->data + n0 * M + m0) : (void *)((float *)dst->data + n0 * M + m0);
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
        WorkShare share(dst, (nch0 + nch1) * n_groups, ith, nth);
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


// ---- attention ------------------------------------------------------------------------------------

// elements i .. i + 15 (the lanes of m, the rest zero) of a row of f32 or (in16) bf16, as f32
GGPT_AMX_TARGET inline __m512 load16_f32_or_bf16(const void * r, int64_t i, __mmask16 m, bool in16) {
    return in16 ? load_bf16x16((const uint16_t *)r + i, m) : _mm512_maskz_loadu_ps(m, (const float *)r + i);
}

struct AttnParams {
    int n_head;
    float scale;
};

// Per (batch, head): K and V packed as tile operands once, then per block of 32 queries
// S = q k^T on the tiles (bf16 q straight from its rows when the head size is a multiple of 32),
// a row softmax in f32 with the scale folded into its exponent (2^(c s - c max)), P rounded to
// bf16 and O = P v on the tiles, normalised by the f32 row sums. Head size and key count are
// zero-padded to multiples of 32 (padded keys are masked out of the softmax).
GGPT_AMX_TARGET void amx_attn_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    const AttnParams * p = (const AttnParams *)ud;
    const ggml_tensor * q = dst->src[0], * k = dst->src[1], * v = dst->src[2];
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
        AlignedVector<float> sb, ob;              // tile results
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
    TileScope tiles;
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
    WorkShare share(dst, H * B, ith, nth);
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
                kernel<2>(qt, direct ? qs : Dp, b0, b0 + (size_t)KCd * 512, KCd, sb.data() + jb * 32, Tkp);
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
                    const __m512 e = _mm512_maskz_mov_ps(m, exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(srow + j), vc2, cmax)));
                    s0 = _mm512_add_ps(s0, e);
                    _mm256_storeu_si256((__m256i *)(prow + j), (__m256i)_mm512_cvtneps_pbh(e));
                }
                inv[r] = 1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
            }
            for (int64_t db = 0; db < Dp / 32; ++db) {
                const uint16_t * b0 = vp.data() + (size_t)(2 * db) * KCk * 512;
                kernel<2>(pa.data(), Tkp, b0, b0 + (size_t)KCk * 512, KCk, ob.data() + db * 32, Dp);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t at = (b * Tq + q0 + r) * W + h * D;
                const float * o = ob.data() + r * Dp;
                const __m512 s = _mm512_set1_ps(inv[r]);
                for (int64_t d = 0; d < D; d += 16) {
                    const __mmask16 m = lanes(D - d);
                    const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(o + d), s);
                    if (out16) _mm256_mask_storeu_epi16((uint16_t *)dst->data + at + d, m, (__m256i)_mm512_cvtneps_pbh(x));
                    else _mm512_mask_storeu_ps((float *)dst->data + at + d, m, x);
                }
            }
        }
    }
}

// ---- LayerNorm -> bf16 ------------------------------------------------------------------------------

// Rows in pieces shared by the threads; per row: mean, then the variance of (x - mean) (two passes
// over a row that is in L1), then (x - mean) / sqrt(var + eps) * w + b rounded to bf16.
GGPT_AMX_TARGET void amx_ln_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    const ggml_tensor * x = dst->src[0];
    const float * w = (const float *)dst->src[1]->data;
    const float * b = (const float *)dst->src[2]->data;
    float eps;
    const uintptr_t bits = (uintptr_t)ud;
    std::memcpy(&eps, &bits, sizeof eps);
    const int64_t W = x->ne[0], rows = ggml_nrows(x), n1 = x->ne[1], n2 = x->ne[2];
    // rows in pieces of 16 (WorkShare)
    constexpr int64_t piece = 16;
    WorkShare share(dst, (rows + piece - 1) / piece, ith, nth);
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

#  pragma GCC diagnostic pop

}  // namespace

ggml_tensor * amx_mul_mat(ggml_context * ctx, const AmxWeight * w, ggml_tensor * xb, ggml_tensor * bias, AmxAct act,
                          ggml_type out, ggml_tensor * res) {
    ggml_tensor * args[3] = {xb};
    int n = 1;
    if (bias) args[n++] = bias;
    if (res) args[n++] = res;
    const AmxOp * op = &w->ops[(int)act * 4 + (bias ? 2 : 0) + (res ? 1 : 0)];
    ggml_tensor * y = ggml_custom_4d(ctx, out == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F32, w->M, xb->ne[1], 1, 1,
                                     args, n, amx_op, GGML_N_TASKS_MAX, (void *)op);
    return ggml_set_name(y, w->int8 ? "amx_linear_i8" : "amx_linear");
}

ggml_tensor * amx_layer_norm_bf16(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b, float eps) {
    static_assert(sizeof(float) == sizeof(int32_t), "eps travels as the op's userdata bits");
    uintptr_t bits = 0;
    std::memcpy(&bits, &eps, sizeof eps);
    ggml_tensor * args[3] = {x, w, b};
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_BF16, x->ne[0], x->ne[1], x->ne[2], x->ne[3], args, 3, amx_ln_op,
                                        GGML_N_TASKS_MAX, (void *)bits),
                         "amx_layer_norm");
}

ggml_tensor * amx_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head, float scale,
                            ggml_tensor * bias_k, ggml_tensor * bias_v, ggml_type out) {
    // the op's parameters live as long as the process: one entry per (heads, scale) pair in use
    static std::mutex mutex;
    static std::map<std::pair<int, float>, std::unique_ptr<AttnParams>> params;
    AttnParams * p;
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto & slot = params[{n_head, scale}];
        if (!slot) slot.reset(new AttnParams{n_head, scale});
        p = slot.get();
    }
    ggml_tensor * args[5] = {q, k, v, bias_k, bias_v};
    return ggml_set_name(ggml_custom_4d(ctx, out == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F32, q->ne[0], q->ne[1],
                                        q->ne[2], 1, args, bias_k ? 5 : 3, amx_attn_op, GGML_N_TASKS_MAX, p),
                         "amx_attention");
}

#else

bool amx_bf16_available() { return false; }
bool amx_int8_available() { return false; }

ggml_tensor * amx_mul_mat(ggml_context *, const AmxWeight *, ggml_tensor *, ggml_tensor *, AmxAct, ggml_type,
                          ggml_tensor *) {
    return nullptr;
}

ggml_tensor * amx_layer_norm_bf16(ggml_context *, ggml_tensor *, ggml_tensor *, ggml_tensor *, float) {
    return nullptr;
}

ggml_tensor * amx_attention(ggml_context *, ggml_tensor *, ggml_tensor *, ggml_tensor *, int, float, ggml_tensor *,
                            ggml_tensor *, ggml_type) {
    return nullptr;
}

#endif

}  // namespace ggpt
