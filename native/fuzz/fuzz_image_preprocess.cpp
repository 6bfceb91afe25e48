// fuzz_image_preprocess - the image front end (native/src/preprocess/image.cpp: parameter check,
// pad to square, Pillow bicubic resize, normalisation), the functions ggpt_image_preprocess
// (native/src/preprocess/api.cpp) calls, with image size, row stride, output size, mean/std and
// threads decoded from the input. Sizes are bounded so that one run stays fast. Linked without
// ggml/libllama (only the preprocessing sources). docs/RELIABILITY.md "Fuzzing".
//
// Input: u16 width, u16 height, u8 stride slack, u8 size, u8 flags, 6 x f32 mean/std, pixels.
//   width, height: 1 + v % 4096, then height cut so that width*height <= 65536 (extreme aspect
//   ratios stay reachable); stride = 3*width + slack % 32 - 4 (too small ones must be refused);
//   size: 1 + v (1..256); flags bit 0: take mean/std from the input (else the model defaults),
//   bits 1-2: threads 0..3.
//   Pixels: the rest of the input, repeated over the stride*height bytes (zeros when empty).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_reader.h"
#include "preprocess/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz::Reader r(data, size);
    const int32_t width = 1 + r.u16() % 4096;
    int32_t height = 1 + r.u16() % 4096;
    if ((int64_t)width * height > 65536) height = 65536 / width;
    const int32_t stride = 3 * width + (int32_t)(r.u8() % 32) - 4;
    ggpt::ImagePreParams p;
    p.size = 1 + r.u8();
    const uint8_t flags = r.u8();
    float mv[6];
    for (float & v : mv) v = r.f32();
    if (flags & 1) {
        for (int c = 0; c < 3; ++c) {
            p.mean[c] = mv[c];
            p.std[c] = mv[3 + c];
        }
    }
    const int32_t threads = (flags >> 1) & 3;

    // exactly the bytes the caller promises: ASan catches any read past them
    const size_t n_bytes = stride > 0 ? (size_t)stride * height : 1;
    std::vector<uint8_t> pixels(n_bytes);
    const uint8_t * src = r.rest();
    const size_t n_src = r.rest_size();
    for (size_t i = 0; i < n_bytes && n_src; ++i) pixels[i] = src[i % n_src];

    std::string err;
    if (!ggpt::image_params_check(p, err)) {
        if (err.empty()) abort();
        return 0;
    }
    std::vector<uint8_t> resized((size_t)p.size * p.size * 3);
    ggpt::ImageGeometry g;
    const bool ok = ggpt::image_pad_resize(p, pixels.data(), width, height, stride, resized.data(), &g, err, threads);
    if (!ok) {
        if (err.empty() || stride >= 3 * width) abort();  // only the short stride is invalid here
        return 0;
    }
    if (g.side != (width > height ? width : height)) abort();
    std::vector<float> chw((size_t)3 * p.size * p.size);
    ggpt::image_normalize(p, resized.data(), chw.data());
    for (float v : chw)
        if (!(v == v)) abort();  // finite mean/std > 0 never give NaN
    return 0;
}
