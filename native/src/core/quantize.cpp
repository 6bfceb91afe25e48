// quantize.cpp - converter support: libllama's quantiser for the LLM GGUF, ggml row quantisation
// for the encoders GGUF and synthetic models (groundinggpt.h "Quantisation").
#include "groundinggpt.h"

#include "ggml.h"
#include "llama.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/llm_check.h"
#include "core/log.h"

namespace {

bool file_readable(const char * path) {
    FILE * f = std::fopen(path, "rb");
    if (!f) return false;
    std::fclose(f);
    return true;
}

// The ggml types a caller may ask for: float types and the quantisations that need no importance
// matrix (ggml_quantize_chunk asserts on the others).
bool row_type_supported(int32_t type) {
    switch (type) {
        case GGML_TYPE_F32:
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q5_1:
        case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K:
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K: return true;
        default: return false;
    }
}

}  // namespace

extern "C" {

ggpt_status ggpt_quantize_llm(const char * in_path, const char * out_path, ggpt_ftype ftype, int32_t n_threads,
                              char * err, size_t err_len) {
    if (!in_path || !out_path) {
        ggpt::copy_error(err, err_len, "in_path and out_path are required");
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    llama_ftype lf;
    switch (ftype) {
        case GGPT_FTYPE_F32: lf = LLAMA_FTYPE_ALL_F32; break;
        case GGPT_FTYPE_F16: lf = LLAMA_FTYPE_MOSTLY_F16; break;
        case GGPT_FTYPE_Q8_0: lf = LLAMA_FTYPE_MOSTLY_Q8_0; break;
        case GGPT_FTYPE_Q4_K_M: lf = LLAMA_FTYPE_MOSTLY_Q4_K_M; break;
        default:
            ggpt::copy_error(err, err_len, "unsupported ftype " + std::to_string((int)ftype));
            return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (!file_readable(in_path)) {
        ggpt::copy_error(err, err_len, std::string(in_path) + ": cannot open");
        return GGPT_ERR_IO;
    }
    {
        // libllama's quantiser reads the hyper-parameters as the loader does (same asserts)
        std::string why;
        const ggpt_status st = ggpt::check_llm_file(in_path, why);
        if (st != GGPT_OK) {
            ggpt::copy_error(err, err_len, why);
            return st;
        }
    }
    ggpt_backend_init();
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.nthread = n_threads > 0 ? n_threads : 0;  // 0: hardware concurrency
    p.ftype = lf;
    try {
        // llama_model_quantize catches its own exceptions and returns non-zero (details in the log)
        if (llama_model_quantize(in_path, out_path, &p) != 0) {
            ggpt::copy_error(err, err_len, std::string("libllama could not quantize ") + in_path + " (see the log)");
            return GGPT_ERR_FORMAT;
        }
    } catch (const std::exception & e) {
        ggpt::copy_error(err, err_len, e.what());
        return GGPT_ERR_INTERNAL;
    }
    GGPT_LOG_I("quantized %s -> %s", in_path, out_path);
    return GGPT_OK;
}

int64_t ggpt_row_size(int32_t type, int64_t n_per_row) {
    if (!row_type_supported(type) || n_per_row <= 0) return -1;
    const int64_t blck = ggml_blck_size((ggml_type)type);
    if (n_per_row % blck != 0) return -1;
    return (int64_t)ggml_row_size((ggml_type)type, n_per_row);
}

int64_t ggpt_quantize_rows(int32_t type, const float * src, void * out, int64_t n_rows, int64_t n_per_row) {
    const int64_t row = ggpt_row_size(type, n_per_row);
    if (row < 0 || !src || !out || n_rows < 0) return -1;
    if (n_rows == 0) return 0;
    if (type == GGML_TYPE_F32) {
        std::memcpy(out, src, (size_t)(n_rows * n_per_row) * sizeof(float));
        return n_rows * row;
    }
    // Rows are independent: large inputs are split over threads (same bytes as one call).
    const int64_t n = n_rows * n_per_row;
    const int n_threads = n >= (1 << 20) ? (int)std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()),
                                                                  std::min<int64_t>(8, n_rows))
                                         : 1;
    try {
        ggml_quantize_init((ggml_type)type);
        if (n_threads <= 1)
            return (int64_t)ggml_quantize_chunk((ggml_type)type, src, out, 0, n_rows, n_per_row, nullptr);
        std::vector<std::thread> workers;
        std::vector<size_t> done((size_t)n_threads, 0);
        const int64_t per = (n_rows + n_threads - 1) / n_threads;
        for (int t = 0; t < n_threads; t++) {
            const int64_t r0 = t * per;
            const int64_t nr = std::min(per, n_rows - r0);
            if (nr <= 0) break;
            workers.emplace_back([=, &done] {
                done[(size_t)t] = ggml_quantize_chunk((ggml_type)type, src + r0 * n_per_row, (char *)out + r0 * row, 0,
                                                      nr, n_per_row, nullptr);
            });
        }
        int64_t total = 0;
        for (auto & w : workers) w.join();
        for (size_t d : done) total += (int64_t)d;
        return total;
    } catch (...) {
        return -1;
    }
}

}  // extern "C"
