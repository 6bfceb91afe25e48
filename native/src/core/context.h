// context.h - the context: libllama context (KV cache of n_seq sequences), what each sequence
// holds, the running tasks, the towers' compute state, the last error.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/task.h"
#include "groundinggpt.h"
#include "llama.h"

namespace ggpt {

struct EncoderState;  // encoders/encoders.h: backend scheduler + compute buffers of the towers
void encoder_state_free(EncoderState * s);
struct EncoderStateDeleter {
    void operator()(EncoderState * s) const { encoder_state_free(s); }
};

}  // namespace ggpt

struct ggpt_context {
    ggpt_model * model = nullptr;
    llama_context * lctx = nullptr;
    ggpt_context_params params{};
    std::string last_error;

    uint32_t n_ctx = 0;              // positions per sequence (llama_n_ctx_seq: may be rounded up)
    std::vector<ggpt::Seq> seqs;     // params.n_seq sequences: what each holds, its task (core/task.h)
    std::vector<ggpt_task *> tasks;  // started and not freed, in start order (ggpt_step's order)

    // Reused between steps (no per-step or per-token allocation): one token batch and one
    // embedding batch of n_batch positions, sampling candidates.
    llama_batch batch_tok{};
    llama_batch batch_embd{};
    std::vector<llama_token_data> candidates;

    // The abort function of the running decode; libllama's abort_callback (set once at init)
    // forwards to it, from ggml's compute threads.
    ggpt_abort_fn op_abort = nullptr;
    void * op_abort_user = nullptr;

    std::unique_ptr<ggpt::EncoderState, ggpt::EncoderStateDeleter> enc_state;

    // ggpt_context_memory, readable from any thread: libllama's buffers as reserved at init, the
    // towers' compute buffers as the last encode left them (encode.cpp; 0 after a release)
    ggpt_memory_info llm_memory{};
    int64_t llm_mapped = 0;  // of llm_memory.llm_weights, libllama's buffers over its file mapping
    std::atomic<int64_t> tower_compute_bytes{0}, tower_compute_device{0};

    // Sets last_error (printf-style) and returns status, for `return ctx->fail(...)`.
    ggpt_status fail(ggpt_status status, const char * fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
};
