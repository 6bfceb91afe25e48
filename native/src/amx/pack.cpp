// pack.cpp - weight repacking for the AMX matmul (see pack.h).
#include "amx/pack.h"

#include "amx/amx.h"
#include "amx/ops.h"

#include <algorithm>
#include <cmath>

namespace ggpt {

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
    // int8 on the tiles needs AMX-INT8, else AVX512-VNNI (tower_int8_available())
    out.kernel = int8 ? (amx_int8_available() ? Bf16Kernel::amx : Bf16Kernel::avx512) : default_bf16_kernel();
    out.data.resize(int8 ? (size_t)M * K / 2 : (size_t)M * K);
    if (int8) out.scale.resize(M);
    if (int8) out.comp.resize(M);
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
                int32_t sum = 0;
                for (int64_t k = 0; k < K; ++k) {
                    rq[c * K + k] = (int8_t)std::lrint(std::min(127.0f, std::max(-127.0f, row[k] * inv)));
                    sum += rq[c * K + k];
                }
                out.comp[mb * 16 + c] = 128 * sum;
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

// ggml's object header (ggml_tensor_overhead() is the header plus the tensor) plus the largest
// parameter struct
size_t amx_op_overhead() { return ggml_tensor_overhead() - sizeof(ggml_tensor) + amx_detail::kMaxOpParamsSize; }

}  // namespace ggpt
