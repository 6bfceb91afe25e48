// image.h - docs/COMPUTATION.md §2 steps 2-4 (pad to square, Pillow-exact bicubic resize, CLIP normalisation)
// and the docs/COMPUTATION.md §3.3 video-frame normalisation. Pixels in, model inputs out; no decoding here.
//
// Thread safety: every function is pure (no shared state); call from any thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "encoders/hparams.h"

namespace ggpt {

// Where the original image sits in the padded square (docs/COMPUTATION.md §2.2).
struct ImageGeometry {
    int32_t width = 0, height = 0;       // original
    int32_t side = 0;                    // S = max(width, height)
    int32_t offset_x = 0, offset_y = 0;  // (S - W) // 2, (S - H) // 2
};

// Largest accepted width or height. The core never materialises the padded square (padding rows
// share one buffer), so this only bounds the coefficient tables (~4*side/size taps per output)
// and keeps every size product far from int32 overflow.
constexpr int32_t k_image_max_side = 1 << 18;

ImageGeometry image_geometry(int32_t width, int32_t height);

// Pad colour = int(255 * mean[c]) per channel (upstream: tuple(int(x*255) for x in image_mean),
// Python's int() truncates; the product is evaluated in double as Python does).
void image_pad_color(const ImagePreParams & p, uint8_t rgb[3]);

// Pillow's fixed-point bicubic coefficients for one axis, in_size -> out_size (Resample.c,
// precompute_coeffs + normalize_coeffs_8bpc, box = [0, in_size]).
struct PillowAxis {
    int32_t in_size = 0, out_size = 0;
    int32_t ksize = 0;           // taps stored per output (some trailing ones are 0)
    std::vector<int32_t> first;  // [out_size] first input index used
    std::vector<int32_t> count;  // [out_size] number of input indices used
    std::vector<int32_t> coeff;  // [out_size][ksize], fixed point with k_pillow_precision bits
};
constexpr int k_pillow_precision = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

void pillow_axis_init(PillowAxis & axis, int32_t in_size, int32_t out_size);

// docs/COMPUTATION.md §2.2-2.3: pads the image (RGB8, `stride` bytes per row) to the square with the pad colour
// and resizes it to p.size x p.size like Pillow's Image.resize(BICUBIC) on 8-bit RGB.
// resized: p.size*p.size*3 bytes, HWC. n_threads: 0 = image_auto_threads (the result does not
// depend on it). Returns false with `err` set on invalid input; may throw std::bad_alloc.
bool image_pad_resize(const ImagePreParams & p, const uint8_t * rgb, int32_t width, int32_t height, int32_t stride,
                      uint8_t * resized, ImageGeometry * geometry, std::string & err, int32_t n_threads = 0);

// Threads image_pad_resize uses by default: 1 below 2 Mpixel (thread start-up does not pay),
// else the hardware concurrency, at most 8.
int32_t image_auto_threads(int32_t width, int32_t height);

// docs/COMPUTATION.md §2.4: CHW floats, ((u8 * (1/255) in double, cast to float) - mean) / std in float
// (transformers' rescale + normalize). resized: HWC, size*size*3; pixels: 3*size*size.
void image_normalize(const ImagePreParams & p, const uint8_t * resized, float * pixels);

// docs/COMPUTATION.md §3.3: one frame, HWC RGB8 size*size*3 (stride 3*size) -> CHW floats,
// ((u8 / 255f) - mean) / std all in float (the upstream video transform).
void video_frame_normalize(const VideoPreParams & p, const uint8_t * rgb, float * out);

// Checks ImagePreParams (size in [1, 4096], std > 0, finite mean/std). Returns false + err.
bool image_params_check(const ImagePreParams & p, std::string & err);

}  // namespace ggpt
