// prompt.cpp - ggpt_prompt and ggpt_generate: one task on sequence 0 (task.cpp), stepped to its
// end; the defaults of their parameters.
#include <cstring>
#include <new>

#include "core/context.h"
#include "core/task.h"

namespace {

// Runs one task on sequence 0 to its end. Refused while other tasks run (they would be stepped
// too, and sequence 0 may be theirs).
ggpt_status run_alone(ggpt_context * ctx, const ggpt_task_params & p, ggpt_eval_result * eval,
                      ggpt_generate_result * result) {
    if (!ctx->tasks.empty()) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "tasks are running on this context");
    ggpt_task * task = nullptr;
    ggpt_status st = ggpt_task_start(ctx, &p, &task);
    if (st != GGPT_OK) return st;
    int32_t running = 1;
    while (running > 0) ggpt_step(ctx, &running);
    st = ggpt_task_status(task);
    if (st == GGPT_OK || st == GGPT_ERR_ABORTED) {
        const ggpt_status rst = ggpt_task_result(task, eval, result);
        if (rst != GGPT_OK) {
            ggpt_task_free(task);
            return ctx->fail(rst, "out of memory");
        }
    } else if (eval) {
        ggpt_task_result(task, eval, nullptr);
    }
    if (st != GGPT_OK) ctx->fail(st, "%s", ggpt_task_error(task));
    ggpt_task_free(task);
    return st;
}

}  // namespace

extern "C" {

ggpt_eval_params ggpt_eval_default_params(void) {
    ggpt_eval_params p;
    memset(&p, 0, sizeof p);
    return p;
}

ggpt_status ggpt_prompt(ggpt_context * ctx, const ggpt_span * spans, size_t n_spans, const ggpt_eval_params * params,
                        ggpt_eval_result * result) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (result) memset(result, 0, sizeof *result);
    ctx->last_error.clear();
    if (n_spans == 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "the prompt is empty");
    ggpt_task_params p;
    memset(&p, 0, sizeof p);
    p.seq = 0;
    p.spans = spans;
    p.n_spans = n_spans;
    p.eval = params ? *params : ggpt_eval_default_params();
    return run_alone(ctx, p, result, nullptr);
}

const float * ggpt_get_logits(ggpt_context * ctx) {
    if (!ctx || ctx->seqs.empty() || ctx->seqs[0].logits_i < 0) return nullptr;
    return llama_get_logits_ith(ctx->lctx, ctx->seqs[0].logits_i);
}

ggpt_generate_params ggpt_generate_default_params(void) {
    ggpt_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 512;
    p.temperature = 0.0f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0xFFFFFFFFu;
    p.stop = nullptr;
    p.n_stop = 0;
    p.stop_at_eos = true;
    return p;
}

ggpt_status ggpt_generate(ggpt_context * ctx, const ggpt_generate_params * params, ggpt_generate_result * result) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (!result) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "result is NULL");
    memset(result, 0, sizeof *result);
    ctx->last_error.clear();
    const ggpt_generate_params gp = params ? *params : ggpt_generate_default_params();
    ggpt_task_params p;
    memset(&p, 0, sizeof p);
    p.seq = 0;
    p.generate = &gp;
    return run_alone(ctx, p, nullptr, result);
}

void ggpt_generate_result_free(ggpt_generate_result * result) {
    if (!result) return;
    free(result->tokens);
    free(result->text);
    result->tokens = nullptr;
    result->text = nullptr;
    result->n_tokens = 0;
    result->text_len = 0;
}

}  // extern "C"
