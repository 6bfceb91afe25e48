// context.h - per-conversation state: libllama context (KV cache), what the cache holds, the
// towers' compute state, the last error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "groundinggpt.h"
#include "llama.h"

namespace ggpt {

struct EncoderState;  // encoders/encoders.h: backend scheduler + compute buffers of the towers
void encoder_state_free(EncoderState * s);
struct EncoderStateDeleter {
    void operator()(EncoderState * s) const { encoder_state_free(s); }
};

// One KV-cache position: a token id, or row `row` of an embedding span with identity `id`.
struct Cell {
    bool is_embd = false;
    int32_t token = -1;
    uint64_t embd_id = 0;
    int32_t row = 0;
    bool operator==(const Cell & o) const {
        return is_embd == o.is_embd &&
               (is_embd ? (embd_id != 0 && embd_id == o.embd_id && row == o.row) : token == o.token);
    }
};

}  // namespace ggpt

struct ggpt_context {
    ggpt_model * model = nullptr;
    llama_context * lctx = nullptr;
    ggpt_context_params params{};
    std::string last_error;

    std::vector<ggpt::Cell> cells;  // what positions 0..cells.size() of the KV cache hold
    bool have_logits = false;       // logits of the last cell are current
    uint32_t n_ctx = 0;             // llama_n_ctx (may be rounded up from params.n_ctx)

    // Reused between calls (no per-call or per-token allocation): one token batch and one
    // embedding batch of n_batch positions, the prompt's cell list, sampling candidates.
    llama_batch batch_tok{};
    llama_batch batch_embd{};
    std::vector<ggpt::Cell> scratch_cells;
    std::vector<llama_token_data> candidates;

    // The abort function of the running operation; libllama's abort_callback (set once at
    // init) forwards to it, from ggml's compute threads.
    ggpt_abort_fn op_abort = nullptr;
    void * op_abort_user = nullptr;

    std::unique_ptr<ggpt::EncoderState, ggpt::EncoderStateDeleter> enc_state;

    // Sets last_error (printf-style) and returns status, for `return ctx->fail(...)`.
    ggpt_status fail(ggpt_status status, const char * fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
};
