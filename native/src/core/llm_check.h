// llm_check.h - validation of the LLM GGUF before libllama sees it. libllama and ggml end the
// process (GGML_ASSERT / GGML_ABORT) on several values a file controls: block_count 0, an
// unknown rope scaling type, a negative RMS epsilon, a misaligned tensor on the mmap path, ...
// check_llm_file checks every key and tensor that can reach one of them, and every value that
// would load but break each later call. docs/LLM-FILE-CHECKS.md lists each assert, the value
// that reaches it and the check here.
#pragma once
#include <cstdint>
#include <string>

#include "groundinggpt.h"

struct gguf_context;

namespace ggpt {

// What the core needs from the LLM file beyond libllama (filled by a successful check).
struct LlmFileInfo {
    int32_t media_ids[9];               // ggpt.token.* in names.h order, -1 when absent
    uint32_t n_rows[3] = {576, 64, 8};  // ggpt.{image,video,sound}_token_len
    bool add_space_prefix = true;       // tokenizer.ggml.add_space_prefix
    int32_t n_vocab = 0, n_embd = 0, n_layer = 0;
    int32_t bos = -1, eos = -1;  // as libllama resolves them (key, else 1 / 2)
    // token_embd.weight: where its rows are in the file (ggpt_token_embeddings reads them)
    uint64_t token_embd_offset = 0, token_embd_row_bytes = 0;
    int32_t token_embd_type = -1;
    // every tensor's data starts 32-byte aligned in the file: libllama's mmap path may be used
    // (it wraps the mapping in a CPU buffer, which asserts that alignment; ggml-impl.h
    // TENSOR_ALIGNMENT). When false the model is loaded without mmap.
    bool mmap_aligned = true;
};

// Checks an LLM GGUF file (docs/LLM-FILE-CHECKS.md). Returns GGPT_OK, GGPT_ERR_IO (cannot open)
// or GGPT_ERR_FORMAT with err naming the file and the key or tensor. Never asserts, whatever the
// bytes: it is the libFuzzer target's entry point (native/fuzz).
ggpt_status check_llm_file(const std::string & path, std::string & err);
ggpt_status check_llm_file(const std::string & path, LlmFileInfo & info, std::string & err);

// The same over an already parsed file (gguf_init_from_file, no_alloc); file_size bounds the
// tensor data.
ggpt_status check_llm_gguf(const gguf_context * g, const std::string & path, int64_t file_size, LlmFileInfo & info,
                           std::string & err);

}  // namespace ggpt
