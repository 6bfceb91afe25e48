// encode.h - internal entry points of the towers beyond the C API (tests, benchmarks).
#pragma once
#include <cstdint>
#include <vector>

#include "groundinggpt.h"

namespace ggpt {

// The image tower on already preprocessed pixels (3 x S x S floats, CHW, docs/COMPUTATION.md §2.4).
ggpt_status encode_image_pixels(ggpt_context * ctx, const float * pixels, float * out,
                                const ggpt_encode_params * params);

// ggpt_encode_probe for the image tower on already preprocessed pixels. out receives the values,
// shape the dims (outermost first).
ggpt_status encode_probe_pixels(ggpt_context * ctx, const float * pixels, const char * name, std::vector<float> & out,
                                std::vector<int64_t> & shape, const ggpt_encode_params * params);

}  // namespace ggpt
