// task.h - sequences and tasks: what one sequence of the KV cache holds, the sampling state of
// one generation (sampling.cpp), and one request on one sequence (task.cpp: ggpt_task_start,
// ggpt_step). docs/ARCHITECTURE.md, "Parallel sequences", draws how a step is made.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "groundinggpt.h"
#include "llama.h"

namespace ggpt {

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

// One sequence of the context: its own stream of the KV cache.
struct Seq {
    std::vector<Cell> cells;     // what positions 0..cells.size() hold
    int32_t logits_i = -1;       // row of the last cell's logits in the latest decode; -1: not current
    ggpt_task * task = nullptr;  // the task running on it
};

// The cells a list of spans makes (tokens, or rows of an embedding span).
void spans_to_cells(const ggpt_span * spans, size_t n_spans, std::vector<Cell> & out);

// Checks spans against the model's vocabulary and the context size; total = positions.
// On failure returns the status and sets err.
ggpt_status validate_spans(const ggpt_context * ctx, const ggpt_span * spans, size_t n_spans, size_t & total,
                           std::string & err);

struct SamplerFree {
    void operator()(llama_sampler * s) const { llama_sampler_free(s); }
};

// Sampling, stop strings and streaming of one generation (sampling.cpp). Upstream
// (lego/serve/cli.py) stops when the decoded new text contains "###" or on EOS and strips the
// stop string: the text is cut at the first occurrence of any stop string; streaming holds back
// a tail that could still grow into one and never ends a piece inside a UTF-8 character.
class Generator {
public:
    // Checks the parameters and copies them (stop strings included). false: err says why.
    bool init(const ggpt_generate_params & p, std::string & err);
    // Builds the sampler chain; the penalties see what the sequence already holds, as HF's
    // repetition_penalty looks at the whole input_ids.
    void begin(const ggpt_model * model, const std::vector<Cell> & held, uint32_t n_ctx);
    // Samples the next token from logits, appends its text, applies the stop conditions and
    // streams. Returns the stop reason: NONE means tok must be evaluated and generation goes on.
    // n_held: positions the sequence holds. On failure st/err are set and the reason is ABORTED.
    ggpt_stop_reason next(const ggpt_model * model, const float * logits, size_t n_held, uint32_t n_ctx,
                          std::vector<llama_token_data> & candidates, int32_t & tok, ggpt_status & st,
                          std::string & err);

    ggpt_generate_params p{};  // stop points into stop_storage_
    std::vector<int32_t> tokens;
    std::string text;

private:
    std::vector<std::string> stop_storage_;
    std::vector<const char *> stop_ptrs_;
    std::vector<std::string_view> stops_;
    size_t max_stop_ = 0;
    std::unique_ptr<llama_sampler, SamplerFree> chain_;
    size_t released_ = 0;  // bytes of text handed to on_token
    bool first_piece_ = true;
};

}  // namespace ggpt

struct ggpt_task {
    using clock = std::chrono::steady_clock;
    enum class Phase { QUEUED, PROMPT, GENERATE, DONE };

    ggpt_context * ctx = nullptr;
    int32_t seq = 0;
    Phase phase = Phase::QUEUED;

    // the prompt
    std::vector<ggpt_span> spans;    // the caller's array, copied (the data stays the caller's)
    std::vector<size_t> span_start;  // position of each span's first row
    std::vector<ggpt::Cell> want;    // the cells the prompt makes
    bool any_embd = false;           // the prompt goes in as embedding rows throughout
    size_t pos = 0;                  // next position to evaluate
    size_t n_eval = 0, n_done = 0;   // positions to evaluate / evaluated
    ggpt_eval_params ep{};
    ggpt_eval_result eval{};
    clock::time_point t_begin{};

    // generation
    bool generate = false;
    ggpt::Generator gen;
    bool need_sample = false;  // the sequence's logits are current and not sampled yet
    int32_t pending = -1;      // a sampled token to evaluate in the next step
    ggpt_stop_reason reason = GGPT_STOP_NONE;
    clock::time_point t_gen{};
    double gen_ms = 0;

    ggpt_status status = GGPT_OK;
    std::string error;
    bool result_taken = false;

    bool done() const { return phase == Phase::DONE; }
};
