// context.h - per-conversation state: libllama context (KV cache), what the cache holds, the
// towers' compute state, the last error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "groundinggpt.h"

struct llama_context;

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
        return is_embd == o.is_embd && (is_embd ? (embd_id != 0 && embd_id == o.embd_id && row == o.row)
                                                : token == o.token);
    }
};

}  // namespace ggpt

struct ggpt_context {
    ggpt_model * model = nullptr;
    llama_context * lctx = nullptr;
    ggpt_context_params params{};
    std::string last_error;

    std::vector<ggpt::Cell> cells;   // what positions 0..cells.size() of the KV cache hold
    bool have_logits = false;        // logits of the last cell are current

    std::unique_ptr<ggpt::EncoderState, ggpt::EncoderStateDeleter> enc_state;

    // Sets last_error (printf-style) and returns status, for `return ctx->fail(...)`.
    ggpt_status fail(ggpt_status status, const char * fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
};
