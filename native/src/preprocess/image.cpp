// image.cpp - docs/COMPUTATION.md §2 steps 2-4: pad to square, Pillow-exact bicubic resize, normalisation.
// (Over 500 lines: the scalar, SSE2 and AVX2 passes of one fixed-point resize must stay
// bit-identical to each other, so they sit next to the weights they share.)
//
// The resize reproduces Pillow's ImagingResample for 8-bit images (libImaging/Resample.c):
// separable, horizontal pass then vertical pass, each with double-precision bicubic (a = -0.5)
// weights over a support scaled by the downscale factor, normalised to sum 1, converted to
// fixed point with 22 fractional bits, accumulated in int32 from a rounding offset of 0.5 and
// clamped to uint8 after each pass. Integer sums do not depend on the summation order, so the
// result is bit-identical to Pillow whatever the order: a scalar path, an SSE2 path and an AVX2
// path (chosen at run time) compute the same sums. The padded square is virtual: padding rows
// share one horizontally-resized row, and rows that the vertical pass does not read are never
// computed. Large images split both passes over threads (image_auto_threads).
#include "preprocess/image.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <memory>
#include <new>
#include <system_error>
#include <thread>

#if !defined(GGPT_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#  define GGPT_PRE_SSE2 1
#  include <emmintrin.h>
#endif
// AVX2 variants of the two passes, chosen at run time (GCC/Clang on x86; same integer results)
#if defined(GGPT_PRE_SSE2) && !defined(GGPT_NO_AVX2) && (defined(__GNUC__) || defined(__clang__)) &&                   \
    (defined(__x86_64__) || defined(__i386__))
#  define GGPT_PRE_AVX2 1
#  include <immintrin.h>
#  define GGPT_AVX2_FN __attribute__((target("avx2")))
#endif

namespace ggpt {

ImageGeometry image_geometry(int32_t width, int32_t height) {
    ImageGeometry g;
    g.width = width;
    g.height = height;
    g.side = std::max(width, height);
    g.offset_x = (g.side - width) / 2;  // both non-negative: floor == truncation
    g.offset_y = (g.side - height) / 2;
    return g;
}

void image_pad_color(const ImagePreParams & p, uint8_t rgb[3]) {
    for (int c = 0; c < 3; ++c) {
        const double v = (double)p.mean[c] * 255.0;
        rgb[c] = (uint8_t)std::min(255.0, std::max(0.0, std::trunc(v)));
    }
}

bool image_params_check(const ImagePreParams & p, std::string & err) {
    if (p.size < 1 || p.size > 4096) {
        err = "image size " + std::to_string(p.size) + " out of range [1, 4096]";
        return false;
    }
    for (int c = 0; c < 3; ++c) {
        if (!std::isfinite(p.mean[c]) || p.mean[c] < 0.0f || p.mean[c] > 1.0f || !std::isfinite(p.std[c]) ||
            !(p.std[c] > 0.0f)) {
            err = "image mean must be in [0, 1] and std > 0 (channel " + std::to_string(c) + ")";
            return false;
        }
    }
    return true;
}

// ---- Pillow bicubic coefficients ----------------------------------------------------------

// Resample.c bicubic_filter, a = -0.5 (Keys' cubic convolution), support 2.
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

void pillow_axis_init(PillowAxis & axis, int32_t in_size, int32_t out_size) {
    const double support_base = 2.0;  // bicubic support
    // Resample.c precompute_coeffs with box = [0, in_size]: in0 = 0, in1 = in_size (floats).
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = support_base * filterscale;
    const int32_t ksize = (int32_t)std::ceil(support) * 2 + 1;

    axis.in_size = in_size;
    axis.out_size = out_size;
    axis.ksize = ksize;
    axis.first.assign(out_size, 0);
    axis.count.assign(out_size, 0);
    axis.coeff.assign((size_t)out_size * ksize, 0);

    std::vector<double> k(ksize);
    for (int32_t xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        // "Round the value": C truncation toward zero of center -/+ support + 0.5
        int32_t xmin = (int32_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int32_t x = 0; x < xmax; ++x) {
            const double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t * kk = &axis.coeff[(size_t)xx * ksize];
        for (int32_t x = 0; x < xmax; ++x) {
            const double w = ww != 0.0 ? k[x] / ww : k[x];
            // normalize_coeffs_8bpc: round half away from zero, via C truncation
            kk[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << k_pillow_precision))
                          : (int32_t)(0.5 + w * (1 << k_pillow_precision));
        }
        axis.first[xx] = xmin;
        axis.count[xx] = xmax;
    }
}

// Resample.c clip8: the fixed-point sum back to a byte.
static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << k_pillow_precision) << 8) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> k_pillow_precision);
}

// ---- the two passes --------------------------------------------------------------------------
//
// Scalar reference: acc = 2^21 + sum(pixel * k) in int32, clip8. The SSE2 path computes the same
// integer sums with pmaddwd on 16-bit operands: k = kh * 2^15 + kl with kl = k & 0x7fff and
// kh = k >> 15 (both fit int16), sum = (sum(p*kh) << 15) + sum(p*kl) in wrapping int32 arithmetic,
// which equals Pillow's int32 sum exactly (the true sum fits int32, so the modular result is it).

namespace {

// 0 scalar, 1 SSE2, 2 AVX2: the best this build and CPU have, capped by the environment variable
// GGPT_PREPROCESS_SIMD (tests run every path; all give the same bytes).
[[maybe_unused]] int simd_level() {
    static const int level = [] {
        int l = 0;
#ifdef GGPT_PRE_SSE2
        l = 1;
#endif
#ifdef GGPT_PRE_AVX2
        if (__builtin_cpu_supports("avx2")) l = 2;
#endif
        if (const char * e = std::getenv("GGPT_PREPROCESS_SIMD")) {
            const int cap = std::atoi(e);
            if (cap >= 0 && cap < l) l = cap;
        }
        return l;
    }();
    return level;
}

#ifdef GGPT_PRE_SSE2
struct V128 {  // std::vector<__m128i> drops the vector type's attributes (GCC warns)
    __m128i v;
};

// (k0, k1) as two broadcast int16 pairs: low 15 bits, and the rest (k >> 15).
inline void split_pair(int32_t k0, int32_t k1, V128 & lo, V128 & hi) {
    lo.v = _mm_set1_epi32((int32_t)((uint32_t)(k0 & 0x7fff) | ((uint32_t)(k1 & 0x7fff) << 16)));
    const uint32_t h0 = (uint16_t)(int16_t)(k0 >> 15), h1 = (uint16_t)(int16_t)(k1 >> 15);
    hi.v = _mm_set1_epi32((int32_t)(h0 | (h1 << 16)));
}

// 2^21 + (hi << 15) + lo, >> 22, clamped to [0, 255] by the saturating packs (= clip8)
inline __m128i finish(__m128i lo, __m128i hi) {
    const __m128i v =
        _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(hi, 15), lo), _mm_set1_epi32(1 << (k_pillow_precision - 1)));
    return _mm_srai_epi32(v, k_pillow_precision);
}
#endif

#ifdef GGPT_PRE_AVX2

GGPT_AVX2_FN inline __m256i finish256(__m256i lo, __m256i hi) {
    const __m256i v = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, 15), lo),
                                       _mm256_set1_epi32(1 << (k_pillow_precision - 1)));
    return _mm256_srai_epi32(v, k_pillow_precision);
}

// Vertical pass, 16 output bytes per step (see vertical_pass).
GGPT_AVX2_FN void vertical_rows_avx2(const uint8_t * const * r, const V128 * kl, const V128 * kh, int32_t np,
                                     size_t row_bytes, uint8_t * dst) {
    const __m256i zero = _mm256_setzero_si256();
    for (size_t i = 0; i < row_bytes; i += 16) {
        __m256i alo0 = zero, alo1 = zero, ahi0 = zero, ahi1 = zero;
        for (int32_t j = 0; j < np; ++j) {
            const __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r[2 * j] + i)));
            const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r[2 * j + 1] + i)));
            const __m256i p0 = _mm256_unpacklo_epi16(a, b),
                          p1 = _mm256_unpackhi_epi16(a, b);  // bytes 0-3|8-11, 4-7|12-15
            const __m256i l = _mm256_broadcastsi128_si256(kl[j].v), h = _mm256_broadcastsi128_si256(kh[j].v);
            alo0 = _mm256_add_epi32(alo0, _mm256_madd_epi16(p0, l));
            alo1 = _mm256_add_epi32(alo1, _mm256_madd_epi16(p1, l));
            ahi0 = _mm256_add_epi32(ahi0, _mm256_madd_epi16(p0, h));
            ahi1 = _mm256_add_epi32(ahi1, _mm256_madd_epi16(p1, h));
        }
        const __m256i w = _mm256_packs_epi32(finish256(alo0, ahi0), finish256(alo1, ahi1));  // 0-7 | 8-15 as int16
        const __m256i b8 = _mm256_packus_epi16(w, w);
        const __m128i v = _mm256_castsi256_si128(_mm256_permute4x64_epi64(b8, 0x08));  // qwords 0, 2
        if (i + 16 <= row_bytes) {
            _mm_storeu_si128((__m128i *)(dst + i), v);
        } else {
            alignas(16) uint8_t tail[16];
            _mm_store_si128((__m128i *)tail, v);
            std::memcpy(dst + i, tail, row_bytes - i);
        }
    }
}
#endif

// Coefficients of the horizontal pass in the form the row loop wants (shared by all threads).
struct HorizontalTables {
    const PillowAxis & ax;
#ifdef GGPT_PRE_SSE2
    int32_t npair = 0;           // tap pairs per output (ceil(ksize / 2))
    std::vector<V128> klo, khi;  // [out][npair]
#endif
    explicit HorizontalTables(const PillowAxis & a) : ax(a) {
#ifdef GGPT_PRE_SSE2
        npair = (ax.ksize + 1) / 2;
        npair += npair & 1;  // even: the AVX2 loop reads pairs two at a time
        klo.resize((size_t)ax.out_size * npair);
        khi.resize((size_t)ax.out_size * npair);
        for (int32_t xx = 0; xx < ax.out_size; ++xx) {
            const int32_t * k = &ax.coeff[(size_t)xx * ax.ksize];
            for (int32_t j = 0; j < npair; ++j) {
                const int32_t k0 = 2 * j < ax.count[xx] ? k[2 * j] : 0;
                const int32_t k1 = 2 * j + 1 < ax.count[xx] ? k[2 * j + 1] : 0;
                split_pair(k0, k1, klo[(size_t)xx * npair + j], khi[(size_t)xx * npair + j]);
            }
        }
#endif
    }
};

// Per-thread buffers of the horizontal pass: one padded row as RGB bytes (`px`, side + 2 pixels
// and 32 bytes of zero slack) and, for the SIMD paths, that row as interleaved 16-bit pixel pairs.
struct HorizontalRow {
    const HorizontalTables & t;
    int32_t side;
    std::vector<uint8_t> px;
    std::vector<int16_t> line;  // [side + 2][4] RGBX (scalar and SSE2-only paths)
#ifdef GGPT_PRE_SSE2
    std::vector<V128> even, odd;  // pixel pairs (2j, 2j+1) and (2j+1, 2j+2): [r r g g b b 0 0]
#endif
    HorizontalRow(const HorizontalTables & tables, int32_t side_)
        : t(tables), side(side_), px(((size_t)side_ + 2) * 3 + 32, 0), line(((size_t)side_ + 2) * 4, 0) {
#ifdef GGPT_PRE_SSE2
        even.resize(((size_t)side + 2) / 2 + 2);  // + slack for the AVX2 loop's last (zero-weight) pair
        odd.resize(even.size());
#endif
    }

    // pixels [x0, x1) of the row = colour c
    void fill(int32_t x0, int32_t x1, const uint8_t c[3]) {
        for (int32_t x = x0; x < x1; ++x) std::memcpy(&px[(size_t)x * 3], c, 3);
    }
    uint8_t * at(int32_t x) { return &px[(size_t)x * 3]; }

#ifdef GGPT_PRE_SSE2
    void make_pairs() {
#  ifdef GGPT_PRE_AVX2
        if (simd_level() >= 2) {
            make_pairs_avx2();
            return;
        }
#  endif
        // SSE2 only: widen to RGBX int16 (one pixel = 64 bits), then interleave neighbours
        const size_t n = (size_t)side + 2;  // pixels, the last two are zero
        for (size_t x = 0; x < (size_t)side; ++x) {
            int16_t * q = &line[x * 4];
            q[0] = px[x * 3 + 0], q[1] = px[x * 3 + 1], q[2] = px[x * 3 + 2];
        }
        const int64_t * l64 = (const int64_t *)line.data();
        for (size_t j = 0; 2 * j + 1 < n; ++j) {
            const __m128i a = _mm_loadl_epi64((const __m128i *)(l64 + 2 * j));
            const __m128i b = _mm_loadl_epi64((const __m128i *)(l64 + 2 * j + 1));
            even[j].v = _mm_unpacklo_epi16(a, b);
            if (2 * j + 2 < n) odd[j].v = _mm_unpacklo_epi16(b, _mm_loadl_epi64((const __m128i *)(l64 + 2 * j + 2)));
        }
    }
#  ifdef GGPT_PRE_AVX2
    // pshufb: 4 pixels -> two even pairs and two odd pairs per step
    GGPT_AVX2_FN void make_pairs_avx2() {
        const int8_t z = -1;  // pshufb: zero
        const __m256i me = _mm256_setr_epi8(0, z, 3, z, 1, z, 4, z, 2, z, 5, z, z, z, z, z, 6, z, 9, z, 7, z, 10, z, 8,
                                            z, 11, z, z, z, z, z);
        const __m256i mo = _mm256_setr_epi8(3, z, 6, z, 4, z, 7, z, 5, z, 8, z, z, z, z, z, 9, z, 12, z, 10, z, 13, z,
                                            11, z, 14, z, z, z, z, z);
        const uint8_t * p = px.data();
        const size_t n_pairs = ((size_t)side + 2) / 2;  // even pairs fully inside the row
        size_t j = 0;
        for (; j + 2 <= n_pairs && 6 * j + 16 <= px.size(); j += 2) {
            const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + 6 * j)));
            _mm256_storeu_si256((__m256i *)&even[j], _mm256_shuffle_epi8(v, me));
            _mm256_storeu_si256((__m256i *)&odd[j], _mm256_shuffle_epi8(v, mo));
        }
        for (; j < n_pairs; ++j) {
            const uint8_t * a = p + 6 * j;
            even[j].v = _mm_setr_epi16(a[0], a[3], a[1], a[4], a[2], a[5], 0, 0);
            odd[j].v = _mm_setr_epi16(a[3], a[6], a[4], a[7], a[5], a[8], 0, 0);
        }
    }
#  endif
#endif

    // the padded row (px) -> out_size * 3 bytes
    void run(uint8_t * out) {
#ifdef GGPT_PRE_SSE2
        if (simd_level() >= 1) {
            make_pairs();
#  ifdef GGPT_PRE_AVX2
            if (simd_level() >= 2) return run_avx2(out);
#  endif
            return run_sse2(out);
        }
#endif
        run_scalar(out);
    }

    void run_scalar(uint8_t * out) {
        const PillowAxis & ax = t.ax;
        const int32_t half = 1 << (k_pillow_precision - 1);
        for (int32_t x = 0; x < side; ++x) {
            int16_t * q = &line[(size_t)x * 4];
            q[0] = px[x * 3 + 0], q[1] = px[x * 3 + 1], q[2] = px[x * 3 + 2], q[3] = 0;
        }
        for (int32_t xx = 0; xx < ax.out_size; ++xx) {
            const int32_t * k = &ax.coeff[(size_t)xx * ax.ksize];
            const int16_t * src = &line[(size_t)ax.first[xx] * 4];
            const int32_t n = ax.count[xx];
            int32_t acc[4] = {half, half, half, half};
            for (int32_t x = 0; x < n; ++x) {
                const int32_t w = k[x];
                for (int c = 0; c < 4; ++c) acc[c] += src[x * 4 + c] * w;
            }
            out[xx * 3 + 0] = clip8(acc[0]);
            out[xx * 3 + 1] = clip8(acc[1]);
            out[xx * 3 + 2] = clip8(acc[2]);
        }
    }

#ifdef GGPT_PRE_SSE2
    void run_sse2(uint8_t * out) {
        const PillowAxis & ax = t.ax;
        for (int32_t xx = 0; xx < ax.out_size; ++xx) {
            const int32_t x0 = ax.first[xx];
            const V128 * src = (x0 & 1) ? &odd[x0 >> 1] : &even[x0 >> 1];
            const V128 * kl = &t.klo[(size_t)xx * t.npair];
            const V128 * kh = &t.khi[(size_t)xx * t.npair];
            const int32_t np = (ax.count[xx] + 1) / 2;
            __m128i alo = _mm_setzero_si128(), ahi = _mm_setzero_si128();
            for (int32_t j = 0; j < np; ++j) {
                alo = _mm_add_epi32(alo, _mm_madd_epi16(src[j].v, kl[j].v));
                ahi = _mm_add_epi32(ahi, _mm_madd_epi16(src[j].v, kh[j].v));
            }
            __m128i acc = finish(alo, ahi);
            acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
            const uint32_t v = (uint32_t)_mm_cvtsi128_si32(acc);
            out[xx * 3 + 0] = (uint8_t)v;
            out[xx * 3 + 1] = (uint8_t)(v >> 8);
            out[xx * 3 + 2] = (uint8_t)(v >> 16);
        }
    }
#endif

#ifdef GGPT_PRE_AVX2
    // Two tap pairs per instruction: even/odd and klo/khi are contiguous pair arrays.
    GGPT_AVX2_FN void run_avx2(uint8_t * out) {
        const PillowAxis & ax = t.ax;
        for (int32_t xx = 0; xx < ax.out_size; ++xx) {
            const int32_t x0 = ax.first[xx];
            const V128 * src = (x0 & 1) ? &odd[x0 >> 1] : &even[x0 >> 1];
            const V128 * kl = &t.klo[(size_t)xx * t.npair];
            const V128 * kh = &t.khi[(size_t)xx * t.npair];
            const int32_t n2 = (ax.count[xx] + 3) / 4;  // 256-bit steps of two pairs
            __m256i alo = _mm256_setzero_si256(), ahi = _mm256_setzero_si256();
            for (int32_t j = 0; j < n2; ++j) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(src + 2 * j));
                alo = _mm256_add_epi32(alo, _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(kl + 2 * j))));
                ahi = _mm256_add_epi32(ahi, _mm256_madd_epi16(v, _mm256_loadu_si256((const __m256i *)(kh + 2 * j))));
            }
            const __m128i lo = _mm_add_epi32(_mm256_castsi256_si128(alo), _mm256_extracti128_si256(alo, 1));
            const __m128i hi = _mm_add_epi32(_mm256_castsi256_si128(ahi), _mm256_extracti128_si256(ahi, 1));
            __m128i acc = finish(lo, hi);
            acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
            const uint32_t v = (uint32_t)_mm_cvtsi128_si32(acc);
            out[xx * 3 + 0] = (uint8_t)v;
            out[xx * 3 + 1] = (uint8_t)(v >> 8);
            out[xx * 3 + 2] = (uint8_t)(v >> 16);
        }
    }
#endif
};

void vertical_scalar(const PillowAxis & ax, const std::vector<const uint8_t *> & rows, int32_t y_first,
                     size_t row_bytes, uint8_t * dst_img, int32_t yy0, int32_t yy1) {
    const int32_t half = 1 << (k_pillow_precision - 1);
    std::vector<int32_t> acc(row_bytes);
    for (int32_t yy = yy0; yy < yy1; ++yy) {
        const int32_t * k = &ax.coeff[(size_t)yy * ax.ksize];
        const int32_t y0 = ax.first[yy] - y_first;
        std::fill(acc.begin(), acc.end(), half);
        for (int32_t y = 0; y < ax.count[yy]; ++y) {
            const uint8_t * row = rows[y0 + y];
            const int32_t w = k[y];
            for (size_t i = 0; i < row_bytes; ++i) acc[i] += row[i] * w;
        }
        uint8_t * dst = dst_img + (size_t)yy * row_bytes;
        for (size_t i = 0; i < row_bytes; ++i) dst[i] = clip8(acc[i]);
    }
}

#ifdef GGPT_PRE_SSE2
void vertical_sse2(const PillowAxis & ax, const std::vector<const uint8_t *> & rows, int32_t y_first, size_t row_bytes,
                   uint8_t * dst_img, int32_t yy0, int32_t yy1) {
    const __m128i zero = _mm_setzero_si128();
    const int32_t max_np = (ax.ksize + 1) / 2;
    // scratch sized once per call
    std::vector<const uint8_t *> r(2 * (size_t)max_np);
    std::vector<V128> kl(max_np), kh(max_np);
    for (int32_t yy = yy0; yy < yy1; ++yy) {
        const int32_t * k = &ax.coeff[(size_t)yy * ax.ksize];
        const int32_t n = ax.count[yy], np = (n + 1) / 2;
        const int32_t y0 = ax.first[yy] - y_first;
        for (int32_t j = 0; j < np; ++j) {
            const bool has1 = 2 * j + 1 < n;
            r[2 * j] = rows[y0 + 2 * j];
            r[2 * j + 1] = has1 ? rows[y0 + 2 * j + 1] : rows[y0 + 2 * j];  // weight 0 when absent
            split_pair(k[2 * j], has1 ? k[2 * j + 1] : 0, kl[j], kh[j]);
        }
        uint8_t * dst = dst_img + (size_t)yy * row_bytes;
#  ifdef GGPT_PRE_AVX2
        if (simd_level() >= 2) {
            vertical_rows_avx2(r.data(), kl.data(), kh.data(), np, row_bytes, dst);
            continue;
        }
#  endif
        for (size_t i = 0; i < row_bytes; i += 8) {
            __m128i alo0 = zero, alo1 = zero, ahi0 = zero, ahi1 = zero;
            for (int32_t j = 0; j < np; ++j) {
                const __m128i a = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(r[2 * j] + i)), zero);
                const __m128i b = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(r[2 * j + 1] + i)), zero);
                const __m128i p0 = _mm_unpacklo_epi16(a, b), p1 = _mm_unpackhi_epi16(a, b);
                alo0 = _mm_add_epi32(alo0, _mm_madd_epi16(p0, kl[j].v));
                alo1 = _mm_add_epi32(alo1, _mm_madd_epi16(p1, kl[j].v));
                ahi0 = _mm_add_epi32(ahi0, _mm_madd_epi16(p0, kh[j].v));
                ahi1 = _mm_add_epi32(ahi1, _mm_madd_epi16(p1, kh[j].v));
            }
            const __m128i b8 = _mm_packus_epi16(_mm_packs_epi32(finish(alo0, ahi0), finish(alo1, ahi1)), zero);
            if (i + 8 <= row_bytes) {
                _mm_storel_epi64((__m128i *)(dst + i), b8);
            } else {
                alignas(16) uint8_t tail[16];
                _mm_store_si128((__m128i *)tail, b8);
                std::memcpy(dst + i, tail, row_bytes - i);
            }
        }
    }
}
#endif

// Vertical pass over output rows [yy0, yy1): out row yy = clip8(2^21 + sum_y rows[first + y] * k[y]).
// Rows hold `row_bytes` bytes and are readable up to a multiple of 16.
void vertical_pass(const PillowAxis & ax, const std::vector<const uint8_t *> & rows, int32_t y_first, size_t row_bytes,
                   uint8_t * dst_img, int32_t yy0, int32_t yy1) {
#ifdef GGPT_PRE_SSE2
    if (simd_level() >= 1) return vertical_sse2(ax, rows, y_first, row_bytes, dst_img, yy0, yy1);
#endif
    vertical_scalar(ax, rows, y_first, row_bytes, dst_img, yy0, yy1);
}

// Runs fn(begin, end) over [0, n) split in n_threads contiguous parts; a part that throws makes
// the whole call throw std::bad_alloc after every thread has joined.
template <typename F> void parallel_for(int32_t n_threads, int32_t n, F fn) {
    if (n_threads <= 1 || n < 2) {
        fn(0, n);
        return;
    }
    n_threads = std::min(n_threads, n);
    std::vector<std::thread> th;
    th.reserve(n_threads - 1);
    std::atomic<bool> failed{false};
    for (int32_t i = 1; i < n_threads; ++i) {
        const int32_t b = (int32_t)((int64_t)n * i / n_threads), e = (int32_t)((int64_t)n * (i + 1) / n_threads);
        try {
            th.emplace_back([=, &failed] {
                try {
                    fn(b, e);
                } catch (...) {  // an exception must not leave a thread (std::terminate)
                    failed = true;
                }
            });
        } catch (const std::system_error &) {  // no thread available: do the part here
            fn(b, e);
        }
    }
    fn(0, (int32_t)((int64_t)n / n_threads));
    for (auto & t : th) t.join();
    if (failed) throw std::bad_alloc();
}

}  // namespace

int32_t image_auto_threads(int32_t width, int32_t height) {
    const int64_t px = (int64_t)width * height;
    if (px < 2000000) return 1;  // ~10 ms of work or less: threads do not pay
    const unsigned hc = std::thread::hardware_concurrency();
    return (int32_t)std::max(1u, std::min(hc == 0 ? 1u : hc, 8u));
}

bool image_pad_resize(const ImagePreParams & p, const uint8_t * rgb, int32_t width, int32_t height, int32_t stride,
                      uint8_t * resized, ImageGeometry * geometry, std::string & err, int32_t n_threads) {
    if (!image_params_check(p, err)) return false;
    if (width <= 0 || height <= 0) {
        err = "image has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")";
        return false;
    }
    if (width > k_image_max_side || height > k_image_max_side) {
        err = "image " + std::to_string(width) + "x" + std::to_string(height) + " exceeds the " +
              std::to_string(k_image_max_side) + "-pixel side limit";
        return false;
    }
    if ((int64_t)stride < 3 * (int64_t)width) {
        err = "image stride " + std::to_string(stride) + " is less than 3*width (" +
              std::to_string(3 * (int64_t)width) + ")";
        return false;
    }
    if (!rgb || !resized) {
        err = "image data or output is NULL";
        return false;
    }
    if (n_threads <= 0) n_threads = image_auto_threads(width, height);

    const ImageGeometry g = image_geometry(width, height);
    if (geometry) *geometry = g;
    const int32_t S = g.side, out = p.size;
    uint8_t pad[3];
    image_pad_color(p, pad);

    if (S == out) {
        // Image.resize returns a copy when size and box already match: no filtering at all.
        for (int32_t y = 0; y < S; ++y) {
            uint8_t * dst = resized + (size_t)y * S * 3;
            for (int32_t x = 0; x < S; ++x) std::memcpy(dst + (size_t)x * 3, pad, 3);
            if (y >= g.offset_y && y < g.offset_y + height)
                std::memcpy(dst + (size_t)g.offset_x * 3, rgb + (size_t)(y - g.offset_y) * stride, (size_t)width * 3);
        }
        return true;
    }

    PillowAxis ax;  // both axes are S -> out: one table serves the horizontal and vertical pass
    pillow_axis_init(ax, S, out);
    const HorizontalTables tables(ax);

    // Rows of the padded square the vertical pass reads (ImagingResampleInner: ybox_first/last).
    const int32_t y_first = ax.first[0];
    const int32_t y_last = ax.first[out - 1] + ax.count[out - 1];
    const int32_t n_rows = y_last - y_first;

    // Horizontal pass into [n_rows][out*3] bytes (row stride a multiple of 16 for vector loads);
    // padding rows all point at one shared row, computed once.
    const size_t row_bytes = (size_t)out * 3;
    const size_t row_stride = (row_bytes + 15) / 16 * 16;
    const int32_t img_lo = std::max(y_first, g.offset_y), img_hi = std::min(y_last, g.offset_y + height);
    const int32_t n_img = std::max(0, img_hi - img_lo);
    std::vector<uint8_t> pad_row(row_stride, 0), img_rows((size_t)n_img * row_stride, 0);
    std::vector<const uint8_t *> rows(n_rows, pad_row.data());
    for (int32_t y = img_lo; y < img_hi; ++y) rows[y - y_first] = &img_rows[(size_t)(y - img_lo) * row_stride];

    n_threads = std::max(1, std::min(n_threads, n_img / 64));  // at least 64 rows per thread
    std::vector<std::unique_ptr<HorizontalRow>> work;
    for (int32_t i = 0; i < n_threads; ++i) work.emplace_back(new HorizontalRow(tables, S));
    if (n_rows > n_img) {  // some rows are padding
        HorizontalRow & h = *work[0];
        h.fill(0, S, pad);
        h.run(pad_row.data());
    }
    parallel_for(n_threads, n_threads, [&](int32_t t0, int32_t t1) {
        for (int32_t ti = t0; ti < t1; ++ti) {
            HorizontalRow & h = *work[ti];
            h.fill(0, g.offset_x, pad);
            h.fill(g.offset_x + width, S, pad);
            const int32_t b = img_lo + (int32_t)((int64_t)n_img * ti / n_threads);
            const int32_t e = img_lo + (int32_t)((int64_t)n_img * (ti + 1) / n_threads);
            for (int32_t y = b; y < e; ++y) {
                const uint8_t * src = rgb + (size_t)(y - g.offset_y) * stride;
                std::memcpy(h.at(g.offset_x), src, (size_t)width * 3);
                h.run(&img_rows[(size_t)(y - img_lo) * row_stride]);
            }
        }
    });

    parallel_for(out >= 128 ? n_threads : 1, out,
                 [&](int32_t yy0, int32_t yy1) { vertical_pass(ax, rows, y_first, row_bytes, resized, yy0, yy1); });
    return true;
}

void image_normalize(const ImagePreParams & p, const uint8_t * resized, float * pixels) {
    // transformers rescale: image.astype(float64) * (1/255) -> float32; normalize in float32.
    float lut[3][256];
    for (int c = 0; c < 3; ++c) {
        for (int v = 0; v < 256; ++v) {
            const float x = (float)((double)v * (1.0 / 255.0));
            lut[c][v] = (x - p.mean[c]) / p.std[c];
        }
    }
    const size_t n = (size_t)p.size * p.size;
    for (size_t i = 0; i < n; ++i) {
        pixels[i] = lut[0][resized[i * 3 + 0]];
        pixels[n + i] = lut[1][resized[i * 3 + 1]];
        pixels[2 * n + i] = lut[2][resized[i * 3 + 2]];
    }
}

void video_frame_normalize(const VideoPreParams & p, const uint8_t * rgb, float * out) {
    // upstream: ((frames.float() / 255) - mean) / std, every step in float32
    float lut[3][256];
    for (int c = 0; c < 3; ++c) {
        for (int v = 0; v < 256; ++v) lut[c][v] = ((float)v / 255.0f - p.mean[c]) / p.std[c];
    }
    const size_t n = (size_t)p.size * p.size;
    for (size_t i = 0; i < n; ++i) {
        out[i] = lut[0][rgb[i * 3 + 0]];
        out[n + i] = lut[1][rgb[i * 3 + 1]];
        out[2 * n + i] = lut[2][rgb[i * 3 + 2]];
    }
}

}  // namespace ggpt
