// amx.cpp - AMX-BF16 Linear layers (see amx.h). x86-64 Linux only; elsewhere amx_bf16_available()
// is false and nothing here runs. The kernels carry their own target attributes, so the rest of the
// core keeps the build's baseline instruction set (portable builds dispatch at run time).
#include "encoders/amx.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#  define GGPT_AMX 1
#  include <cpuid.h>
#  include <immintrin.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif

namespace ggpt {

bool amx_can_pack(const ggml_tensor * w) {
    return w && ggml_n_dims(w) == 2 && w->ne[0] % 32 == 0 && w->ne[1] % 16 == 0 &&
           (w->type == GGML_TYPE_F32 || w->type == GGML_TYPE_F16 || w->type == GGML_TYPE_BF16);
}

void amx_pack(const ggml_tensor * w, AmxWeight & out) {
    const int64_t K = w->ne[0], M = w->ne[1], KC = K / 32;
    out.K = K;
    out.M = M;
    out.data.resize((size_t)M * K);
    std::vector<float> rows((size_t)16 * K);
    std::vector<uint16_t> rb((size_t)16 * K);
    uint16_t * dst = out.data.data();
    // f32 -> bf16, round to nearest even (NaN kept quiet)
    auto to_bf16 = [](float f) -> uint16_t {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
        return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
    };
    // per block of 16 outputs: its 16 weight rows in f32, then tiles (mb, kc) written in order;
    // tile row r = k pair (k = 32 kc + 2r, +1), column c = output 16 mb + c
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

namespace {

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

#  define GGPT_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f")))

GGPT_AMX_TARGET void load_config() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    // GCC 12 does not see that ldtilecfg reads cfg and may drop the stores (llama.cpp #20824)
    __asm__ __volatile__("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
}

// C[n0:n0+32, m0:m0+16*MT] = A[n0:n0+32, :] W[m0:..]^T. a: 32 rows of K bf16 (stride lda elements);
// b: the packed weight at m-block mb; c: 32 rows x 16*MT floats, stride ldc floats.
template <int MT>
GGPT_AMX_TARGET void kernel(const uint16_t * a, int64_t lda, const uint16_t * b0, const uint16_t * b1, int64_t KC,
                            float * c, int64_t ldc) {
    _tile_zero(0);
    _tile_zero(1);
    if (MT == 2) {
        _tile_zero(2);
        _tile_zero(3);
    }
    const int64_t sa = lda * 2;
    for (int64_t kc = 0; kc < KC; ++kc) {
        _tile_loadd(4, a + kc * 32, sa);
        _tile_loadd(5, a + 16 * lda + kc * 32, sa);
        _tile_loadd(6, b0 + kc * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 5, 6);
        if (MT == 2) {
            _tile_loadd(7, b1 + kc * 512, 64);
            _tile_dpbf16ps(2, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
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

GGPT_AMX_TARGET void amx_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    const AmxWeight * w = (const AmxWeight *)ud;
    const ggml_tensor * x = dst->src[0];  // bf16 [K, N], contiguous
    const float * bias = dst->src[1] ? (const float *)dst->src[1]->data : nullptr;  // [M] or none
    const int64_t K = w->K, M = w->M, N = x->ne[1], KC = K / 32;
    const uint16_t * xa = (const uint16_t *)x->data;
    float * y = (float *)dst->data;
    const int64_t NB = (N + 31) / 32, MB = (M + 31) / 32;  // 32x32 output blocks
    // ggml's own AMX kernels (the LLM's quantised matmuls) configure the tiles once per thread and
    // assume the configuration stays: keep whatever this thread had and put it back afterwards
    TileConfig saved;
    _tile_storeconfig(&saved);
    load_config();
    // rows past N (last block) come from a zero-padded copy; outputs past N go to a scratch
    thread_local std::vector<uint16_t> apad;
    thread_local std::vector<float> cpad;
    for (int64_t job = ith; job < NB * MB; job += nth) {
        const int64_t nb = job / MB, mb = job % MB;
        const int64_t n0 = nb * 32, m0 = mb * 32, rows = std::min<int64_t>(32, N - n0);
        const int MT = M - m0 >= 32 ? 2 : 1;
        const uint16_t * a = xa + n0 * K;
        if (rows < 32) {
            apad.assign((size_t)32 * K, 0);
            std::memcpy(apad.data(), a, (size_t)rows * K * 2);
            a = apad.data();
        }
        const uint16_t * b0 = w->data.data() + (size_t)(2 * mb) * KC * 512;
        const uint16_t * b1 = b0 + (size_t)KC * 512;
        float * c = y + n0 * M + m0;
        int64_t ldc = M;
        if (rows < 32) {
            cpad.assign(32 * 32, 0.0f);
            c = cpad.data();
            ldc = 32;
        }
        if (MT == 2) kernel<2>(a, K, b0, b1, KC, c, ldc);
        else kernel<1>(a, K, b0, b1, KC, c, ldc);
        if (rows < 32) {
            for (int64_t r = 0; r < rows; ++r)
                std::memcpy(y + (n0 + r) * M + m0, cpad.data() + r * 32, (size_t)MT * 16 * sizeof(float));
        }
        if (bias) {  // while the block is in cache
            for (int64_t r = 0; r < rows; ++r) {
                float * yr = y + (n0 + r) * M + m0;
                for (int j = 0; j < MT * 16; ++j) yr[j] += bias[m0 + j];
            }
        }
    }
    if (saved.palette != 0) {
        __asm__ __volatile__("" : : "r"(&saved) : "memory");
        _tile_loadconfig(&saved);
    } else {
        _tile_release();
    }
}

}  // namespace

ggml_tensor * amx_mul_mat(ggml_context * ctx, const AmxWeight * w, ggml_tensor * xb, ggml_tensor * bias) {
    ggml_tensor * args[2] = {xb, bias};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, w->M, xb->ne[1], 1, 1, args, bias ? 2 : 1, amx_op, GGML_N_TASKS_MAX,
                          (void *)w);
}

#else

bool amx_bf16_available() { return false; }

ggml_tensor * amx_mul_mat(ggml_context *, const AmxWeight *, ggml_tensor *, ggml_tensor *) { return nullptr; }

#endif

}  // namespace ggpt
