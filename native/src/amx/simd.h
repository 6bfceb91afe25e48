// simd.h - AVX-512 helpers of the AMX kernels: exp2, the erf GELU and the quick GELU on 16 floats,
// bf16 loads, a 16x16 dword transpose. Internal to native/src/amx (GGPT_AMX builds only).
#pragma once
#include "amx/detect.h"

#if GGPT_AMX
#  include <immintrin.h>

#  include <algorithm>
#  include <cmath>
#  include <cstdint>

#  include "amx/pack.h"

// GCC 12 reports the _mm512_undefined_ps() inside its own min/max/scalef/roundscale intrinsics
// as maybe-uninitialized at -O3 (a false positive of the header); each file of the module that
// uses these helpers repeats this around its kernels
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"

#  define GGPT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl")))

namespace ggpt::amx_detail {

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
                const double u = 0.5 * std::cos((2 * k + 1) * 3.14159265358979323846 / (2 * n)),
                             a = (i + 0.5 + u) * 0.375;
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
inline const GeluTable gelu_table;

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
        const __m512i lo01 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x44),
                      hi01 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xee);
        const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x44),
                      hi23 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xee);
        r[k] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
        r[4 + k] = _mm512_shuffle_i32x4(lo01, lo23, 0xdd);
        r[8 + k] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
        r[12 + k] = _mm512_shuffle_i32x4(hi01, hi23, 0xdd);
    }
}

}  // namespace ggpt::amx_detail

#  pragma GCC diagnostic pop

#endif  // GGPT_AMX
