// prompt.cpp - ggpt_prompt: make the KV cache hold a sequence of token and embedding spans,
// reusing the longest common prefix already there.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "core/context.h"
#include "core/log.h"
#include "core/model.h"
#include "llama.h"

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

ggpt_status validate_spans(ggpt_context * ctx, const ggpt_span * spans, size_t n_spans, size_t & total) {
    const int32_t n_vocab = ctx->model->tok.n_vocab;
    if (n_spans > 0 && !spans) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "spans is NULL");
    total = 0;
    for (size_t s = 0; s < n_spans; s++) {
        const ggpt_span & sp = spans[s];
        if (sp.n <= 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "span %zu is empty (n = %d)", s, sp.n);
        if (sp.type == GGPT_SPAN_TOKENS) {
            if (!sp.tokens) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "span %zu: tokens is NULL", s);
            for (int32_t i = 0; i < sp.n; i++) {
                if (sp.tokens[i] < 0 || sp.tokens[i] >= n_vocab) {
                    return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "span %zu: token %d at index %d is not in [0, %d)", s,
                                     sp.tokens[i], i, n_vocab);
                }
            }
        } else if (sp.type == GGPT_SPAN_EMBD) {
            if (!sp.embd) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "span %zu: embd is NULL", s);
        } else {
            return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "span %zu has an unknown type %d", s, (int)sp.type);
        }
        total += (size_t)sp.n;
    }
    if (total == 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "the prompt is empty");
    if (total > ctx->n_ctx) {
        return ctx->fail(GGPT_ERR_CONTEXT_FULL, "the prompt has %zu positions but the context holds %u", total,
                         ctx->n_ctx);
    }
    return GGPT_OK;
}

// Removes positions [n_keep, end) from the KV cache and the cell list.
void truncate_cache(ggpt_context * ctx, size_t n_keep) {
    llama_memory_seq_rm(llama_get_memory(ctx->lctx), 0, (llama_pos)n_keep, -1);
    if (ctx->cells.size() > n_keep) ctx->cells.resize(n_keep);
}

ggpt_status prompt_impl(ggpt_context * ctx, const ggpt_span * spans, size_t n_spans, const ggpt_eval_params * params,
                        ggpt_eval_result * result) {
    const auto t0 = clock_type::now();
    size_t total = 0;
    ggpt_status st = validate_spans(ctx, spans, n_spans, total);
    if (st != GGPT_OK) return st;
    const ggpt_eval_params ep = params ? *params : ggpt_eval_default_params();
    if (ep.abort && ep.abort(ep.abort_user)) return ctx->fail(GGPT_ERR_ABORTED, "aborted");

    // the requested sequence as cells
    std::vector<ggpt::Cell> & want = ctx->scratch_cells;
    want.clear();
    for (size_t s = 0; s < n_spans; s++) {
        const ggpt_span & sp = spans[s];
        for (int32_t i = 0; i < sp.n; i++) {
            ggpt::Cell c;
            if (sp.type == GGPT_SPAN_TOKENS) {
                c.token = sp.tokens[i];
            } else {
                c.is_embd = true;
                c.embd_id = sp.embd_id;
                c.row = i;
            }
            want.push_back(c);
        }
    }

    // longest common prefix with the cache
    size_t keep = 0;
    const size_t limit = std::min(want.size(), ctx->cells.size());
    while (keep < limit && want[keep] == ctx->cells[keep]) keep++;
    if (keep == want.size()) {
        if (ctx->cells.size() == want.size() && ctx->have_logits) {
            // nothing to do: the cache holds exactly this and the logits are current
            if (result) *result = {(int32_t)total, (int32_t)keep, 0, ms_since(t0)};
            return GGPT_OK;
        }
        keep--;  // re-evaluate the last position for its logits
    }
    truncate_cache(ctx, keep);
    ctx->have_logits = false;

    // evaluate want[keep..) in batches of at most n_batch positions, one span type per batch
    const int32_t n_batch = (int32_t)ctx->params.n_batch;
    const int32_t n_embd = ctx->model->n_embd;
    const size_t n_eval = want.size() - keep;
    size_t done = 0;
    ctx->op_abort = ep.abort;
    ctx->op_abort_user = ep.abort_user;
    struct ClearAbort {
        ggpt_context * ctx;
        ~ClearAbort() { ctx->op_abort = nullptr, ctx->op_abort_user = nullptr; }
    } clear_abort{ctx};

    // With media in the sequence every position goes in as an embedding (text rows dequantised
    // from token_embd exactly as libllama's own lookup does), so a batch runs across span
    // boundaries: an image prompt of ~725 positions is 2 ubatches of 512 + 213 instead of 4
    // (system text, 512 + 64 image rows, question), and small ubatches are the slow ones.
    bool any_embd = false;
    for (size_t s = 0; s < n_spans; s++) any_embd = any_embd || spans[s].type == GGPT_SPAN_EMBD;

    size_t span = 0, span_start = 0;  // span holding position `pos`
    size_t pos = keep;
    while (pos < want.size()) {
        while (pos >= span_start + (size_t)spans[span].n) span_start += (size_t)spans[span++].n;
        int32_t n;
        llama_batch * bp;
        if (any_embd) {
            n = (int32_t)std::min<size_t>((size_t)n_batch, want.size() - pos);
            bp = &ctx->batch_embd;
            // rows [pos, pos + n) span by span (span / span_start follow along)
            size_t p = pos;
            while (p < pos + (size_t)n) {
                while (p >= span_start + (size_t)spans[span].n) span_start += (size_t)spans[span++].n;
                const ggpt_span & sp = spans[span];
                const size_t in_span = p - span_start;
                const size_t cnt = std::min<size_t>(pos + (size_t)n - p, (size_t)sp.n - in_span);
                float * dst = bp->embd + (p - pos) * (size_t)n_embd;
                if (sp.type == GGPT_SPAN_EMBD) {
                    memcpy(dst, sp.embd + in_span * (size_t)n_embd, cnt * (size_t)n_embd * sizeof(float));
                } else {
                    st = ggpt_token_embeddings(ctx, sp.tokens + in_span, (int32_t)cnt, dst);
                    if (st != GGPT_OK) break;
                }
                p += cnt;
            }
            if (st != GGPT_OK) break;
        } else {
            const ggpt_span & sp = spans[span];
            const size_t in_span = pos - span_start;
            n = (int32_t)std::min<size_t>((size_t)n_batch, (size_t)sp.n - in_span);
            bp = &ctx->batch_tok;
            memcpy(bp->token, sp.tokens + in_span, (size_t)n * sizeof(int32_t));
        }
        llama_batch & b = *bp;
        b.n_tokens = n;
        for (int32_t i = 0; i < n; i++) {
            b.pos[i] = (llama_pos)(pos + i);
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = (pos + i == want.size() - 1) ? 1 : 0;
        }

        if (ep.abort && ep.abort(ep.abort_user)) {
            st = ctx->fail(GGPT_ERR_ABORTED, "aborted");
            break;
        }
        const int32_t ret = llama_decode(ctx->lctx, b);
        if (ret != 0) {
            if (ret == 2) st = ctx->fail(GGPT_ERR_ABORTED, "aborted");
            else if (ret == 1) st = ctx->fail(GGPT_ERR_CONTEXT_FULL, "no room in the KV cache for %d positions", n);
            else st = ctx->fail(GGPT_ERR_BACKEND, "llama_decode failed (%d) at position %zu", ret, pos);
            break;
        }
        ctx->cells.insert(ctx->cells.end(), want.begin() + (ptrdiff_t)pos, want.begin() + (ptrdiff_t)pos + n);
        pos += (size_t)n;
        done += (size_t)n;
        if (ep.progress && !ep.progress((float)((double)done / (double)n_eval), ep.progress_user)) {
            if (pos < want.size()) {
                st = ctx->fail(GGPT_ERR_ABORTED, "aborted");
                break;
            }
        }
    }
    if (st != GGPT_OK) {
        // keep the positions of the batches that completed (a later call reuses them); drop
        // whatever the failed llama_decode left behind
        truncate_cache(ctx, ctx->cells.size());
        if (result) *result = {(int32_t)total, (int32_t)keep, (int32_t)done, ms_since(t0)};
        return st;
    }
    ctx->have_logits = true;
    if (result) *result = {(int32_t)total, (int32_t)keep, (int32_t)done, ms_since(t0)};
    return GGPT_OK;
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
    try {
        return prompt_impl(ctx, spans, n_spans, params, result);
    } catch (const std::bad_alloc &) {
        truncate_cache(ctx, ctx->cells.size());
        return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory while evaluating the prompt");
    } catch (const std::exception & e) {
        truncate_cache(ctx, ctx->cells.size());
        return ctx->fail(GGPT_ERR_INTERNAL, "internal error while evaluating the prompt: %s", e.what());
    }
}

const float * ggpt_get_logits(ggpt_context * ctx) {
    if (!ctx || !ctx->have_logits) return nullptr;
    return llama_get_logits_ith(ctx->lctx, -1);
}

}  // extern "C"
