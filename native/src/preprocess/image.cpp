// image.cpp - SPEC §2 steps 2-4: pad to square, Pillow-exact bicubic resize, normalisation.
//
// The resize reproduces Pillow's ImagingResample for 8-bit images (libImaging/Resample.c):
// separable, horizontal pass then vertical pass, each with double-precision bicubic (a = -0.5)
// weights over a support scaled by the downscale factor, normalised to sum 1, converted to
// fixed point with 22 fractional bits, accumulated in int32 from a rounding offset of 0.5 and
// clamped to uint8 after each pass. Integer sums do not depend on the summation order, so the
// result is bit-identical to Pillow. The padded square is virtual: padding rows share one
// horizontally-resized row, and rows that the vertical pass does not read are never computed.
#include "preprocess/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ggpt {

ImageGeometry image_geometry(int32_t width, int32_t height) {
    ImageGeometry g;
    g.width = width;
    g.height = height;
    g.side = std::max(width, height);
    g.offset_x = (g.side - width) / 2;   // both non-negative: floor == truncation
    g.offset_y = (g.side - height) / 2;
    return g;
}

void image_pad_color(const ImagePreParams & p, uint8_t rgb[3]) {
    for (int c = 0; c < 3; ++c) {
        const double v = (double) p.mean[c] * 255.0;
        rgb[c] = (uint8_t) std::min(255.0, std::max(0.0, std::trunc(v)));
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
    const double scale = (double) in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = support_base * filterscale;
    const int32_t ksize = (int32_t) std::ceil(support) * 2 + 1;

    axis.in_size = in_size;
    axis.out_size = out_size;
    axis.ksize = ksize;
    axis.first.assign(out_size, 0);
    axis.count.assign(out_size, 0);
    axis.coeff.assign((size_t) out_size * ksize, 0);

    std::vector<double> k(ksize);
    for (int32_t xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        // "Round the value": C truncation toward zero of center -/+ support + 0.5
        int32_t xmin = (int32_t) (center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int32_t xmax = (int32_t) (center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int32_t x = 0; x < xmax; ++x) {
            const double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t * kk = &axis.coeff[(size_t) xx * ksize];
        for (int32_t x = 0; x < xmax; ++x) {
            const double w = ww != 0.0 ? k[x] / ww : k[x];
            // normalize_coeffs_8bpc: round half away from zero, via C truncation
            kk[x] = w < 0 ? (int32_t) (-0.5 + w * (1 << k_pillow_precision))
                          : (int32_t) (0.5 + w * (1 << k_pillow_precision));
        }
        axis.first[xx] = xmin;
        axis.count[xx] = xmax;
    }
}

// Resample.c clip8: the fixed-point sum back to a byte.
static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << k_pillow_precision) << 8) return 255;
    if (v <= 0) return 0;
    return (uint8_t) (v >> k_pillow_precision);
}

// One horizontal pass over a padded row held as int32 RGBX quads ([side][4]) -> out_size*3 bytes.
static void resample_row_h(const PillowAxis & ax, const int32_t * line, uint8_t * out) {
    const int32_t half = 1 << (k_pillow_precision - 1);
    for (int32_t xx = 0; xx < ax.out_size; ++xx) {
        const int32_t * k = &ax.coeff[(size_t) xx * ax.ksize];
        const int32_t * src = line + (size_t) ax.first[xx] * 4;
        const int32_t n = ax.count[xx];
        int32_t acc[4] = {half, half, half, half};
        for (int32_t x = 0; x < n; ++x) {
            const int32_t w = k[x];
            for (int c = 0; c < 4; ++c) acc[c] += src[x * 4 + c] * w;  // 4 lanes: vectorises
        }
        out[xx * 3 + 0] = clip8(acc[0]);
        out[xx * 3 + 1] = clip8(acc[1]);
        out[xx * 3 + 2] = clip8(acc[2]);
    }
}

bool image_pad_resize(const ImagePreParams & p, const uint8_t * rgb, int32_t width, int32_t height,
                      int32_t stride, uint8_t * resized, ImageGeometry * geometry, std::string & err) {
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
    if ((int64_t) stride < 3 * (int64_t) width) {
        err = "image stride " + std::to_string(stride) + " is less than 3*width (" + std::to_string(3 * (int64_t) width) + ")";
        return false;
    }
    if (!rgb || !resized) {
        err = "image data or output is NULL";
        return false;
    }

    const ImageGeometry g = image_geometry(width, height);
    if (geometry) *geometry = g;
    const int32_t S = g.side, out = p.size;
    uint8_t pad[3];
    image_pad_color(p, pad);

    // A padded row as bytes (only used when no resampling is needed).
    auto padded_row_bytes = [&](int32_t y, uint8_t * dst) {
        for (int32_t x = 0; x < S; ++x) std::memcpy(dst + (size_t) x * 3, pad, 3);
        if (y >= g.offset_y && y < g.offset_y + height)
            std::memcpy(dst + (size_t) g.offset_x * 3, rgb + (size_t) (y - g.offset_y) * stride, (size_t) width * 3);
    };

    if (S == out) {
        // Image.resize returns a copy when size and box already match: no filtering at all.
        for (int32_t y = 0; y < S; ++y) padded_row_bytes(y, resized + (size_t) y * S * 3);
        return true;
    }

    PillowAxis ax;  // both axes are S -> out: one table serves the horizontal and vertical pass
    pillow_axis_init(ax, S, out);

    // Rows of the padded square the vertical pass reads (ImagingResampleInner: ybox_first/last).
    const int32_t y_first = ax.first[0];
    const int32_t y_last = ax.first[out - 1] + ax.count[out - 1];
    const int32_t n_rows = y_last - y_first;

    // Horizontal pass: [n_rows][out*3], padding rows all point at one shared row.
    const size_t row_bytes = (size_t) out * 3;
    std::vector<int32_t> line((size_t) S * 4);
    std::vector<uint8_t> pad_row, img_rows;
    std::vector<const uint8_t *> rows(n_rows);
    const int32_t img_lo = std::max(y_first, g.offset_y), img_hi = std::min(y_last, g.offset_y + height);
    if (img_hi > img_lo) img_rows.resize((size_t) (img_hi - img_lo) * row_bytes);

    auto fill_pad = [&](int32_t x0, int32_t x1) {
        for (int32_t x = x0; x < x1; ++x) {
            int32_t * q = &line[(size_t) x * 4];
            q[0] = pad[0], q[1] = pad[1], q[2] = pad[2], q[3] = 0;
        }
    };
    for (int32_t y = y_first; y < y_last; ++y) {
        const bool in_image = y >= g.offset_y && y < g.offset_y + height;
        if (!in_image) {
            if (pad_row.empty()) {
                pad_row.resize(row_bytes);
                fill_pad(0, S);
                resample_row_h(ax, line.data(), pad_row.data());
            }
            rows[y - y_first] = pad_row.data();
            continue;
        }
        fill_pad(0, g.offset_x);
        fill_pad(g.offset_x + width, S);
        const uint8_t * src = rgb + (size_t) (y - g.offset_y) * stride;
        int32_t * q = &line[(size_t) g.offset_x * 4];
        for (int32_t x = 0; x < width; ++x, q += 4, src += 3) {
            q[0] = src[0], q[1] = src[1], q[2] = src[2], q[3] = 0;
        }
        uint8_t * dst = &img_rows[(size_t) (y - img_lo) * row_bytes];
        resample_row_h(ax, line.data(), dst);
        rows[y - y_first] = dst;
    }

    // Vertical pass: each output row is a weighted sum of whole temp rows (contiguous, vectorises).
    const int32_t half = 1 << (k_pillow_precision - 1);
    std::vector<int32_t> acc(row_bytes);
    for (int32_t yy = 0; yy < out; ++yy) {
        const int32_t * k = &ax.coeff[(size_t) yy * ax.ksize];
        const int32_t y0 = ax.first[yy] - y_first;
        std::fill(acc.begin(), acc.end(), half);
        for (int32_t y = 0; y < ax.count[yy]; ++y) {
            const uint8_t * r = rows[y0 + y];
            const int32_t w = k[y];
            for (size_t i = 0; i < row_bytes; ++i) acc[i] += r[i] * w;
        }
        uint8_t * dst = resized + (size_t) yy * row_bytes;
        for (size_t i = 0; i < row_bytes; ++i) dst[i] = clip8(acc[i]);
    }
    return true;
}

void image_normalize(const ImagePreParams & p, const uint8_t * resized, float * pixels) {
    // transformers rescale: image.astype(float64) * (1/255) -> float32; normalize in float32.
    float lut[3][256];
    for (int c = 0; c < 3; ++c) {
        for (int v = 0; v < 256; ++v) {
            const float x = (float) ((double) v * (1.0 / 255.0));
            lut[c][v] = (x - p.mean[c]) / p.std[c];
        }
    }
    const size_t n = (size_t) p.size * p.size;
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
        for (int v = 0; v < 256; ++v) lut[c][v] = ((float) v / 255.0f - p.mean[c]) / p.std[c];
    }
    const size_t n = (size_t) p.size * p.size;
    for (size_t i = 0; i < n; ++i) {
        out[i] = lut[0][rgb[i * 3 + 0]];
        out[n + i] = lut[1][rgb[i * 3 + 1]];
        out[2 * n + i] = lut[2][rgb[i * 3 + 2]];
    }
}

}  // namespace ggpt
