// generate.cpp - ggpt_generate: sampling after the current sequence, stop strings, streaming.
//
// Upstream (lego/serve/cli.py) stops when the decoded new text contains "###"
// (KeywordsStoppingCriteria) or on EOS, then strips the stop string. Here: the text is cut at the
// first occurrence of any stop string; streaming holds back a tail that could still grow into a
// stop string, and never ends a piece inside a UTF-8 character.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.h"
#include "core/model.h"
#include "llama.h"

namespace {

using clock_type = std::chrono::steady_clock;

struct SamplerFree {
    void operator()(llama_sampler * s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerFree>;

ggpt_status validate(ggpt_context * ctx, const ggpt_generate_params & p) {
    if (p.max_tokens < 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "max_tokens must be >= 0");
    if (!std::isfinite(p.temperature) || p.temperature < 0)
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "temperature must be a finite number >= 0");
    if (p.top_k < 0) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "top_k must be >= 0");
    if (!(p.top_p > 0 && p.top_p <= 1)) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1]");
    if (!(p.min_p >= 0 && p.min_p < 1)) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "min_p must be in [0, 1)");
    if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty))
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "repeat_penalty must be a finite number > 0");
    if (p.repeat_last_n < -1) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "repeat_last_n must be >= -1");
    if (p.n_stop > 0 && !p.stop) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "stop is NULL");
    for (size_t i = 0; i < p.n_stop; i++) {
        if (!p.stop[i] || !p.stop[i][0]) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "stop string %zu is empty", i);
    }
    if (!ctx->have_logits || ctx->cells.empty())
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "nothing to continue: run ggpt_prompt first");
    return GGPT_OK;
}

// Length of the longest suffix of text that is a proper prefix of a stop string (text that may
// still become a stop string and so must not be streamed yet).
size_t stop_holdback(std::string_view text, const std::vector<std::string_view> & stops) {
    size_t hold = 0;
    for (std::string_view s : stops) {
        for (size_t k = std::min(s.size() - 1, text.size()); k > hold; k--) {
            if (text.compare(text.size() - k, k, s.substr(0, k)) == 0) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

ggpt_status generate_impl(ggpt_context * ctx, const ggpt_generate_params & p, ggpt_generate_result * result,
                          std::vector<int32_t> & tokens, std::string & text) {
    ggpt_status st = validate(ctx, p);
    if (st != GGPT_OK) return st;
    const ggpt_model * model = ctx->model;
    const int32_t n_vocab = model->tok.n_vocab;
    std::vector<std::string_view> stops;
    size_t max_stop = 0;
    for (size_t i = 0; i < p.n_stop; i++) {
        stops.emplace_back(p.stop[i]);
        max_stop = std::max(max_stop, stops.back().size());
    }

    // sampler chain (none for plain greedy: argmax over the logits, no candidate array)
    const bool penalties = p.repeat_penalty != 1.0f && p.repeat_last_n != 0;
    SamplerPtr chain;
    if (p.temperature > 0 || penalties) {
        chain.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
        if (penalties) {
            const int32_t last_n = p.repeat_last_n < 0 ? (int32_t)ctx->n_ctx : p.repeat_last_n;
            llama_sampler_chain_add(chain.get(), llama_sampler_init_penalties(n_vocab, last_n, p.repeat_penalty, 0, 0));
        }
        if (p.temperature > 0) {
            if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
            if (p.top_p < 1) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
            if (p.min_p > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
            llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
            llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(p.seed));
        } else {
            llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
        }
        // the penalties look at what the context already holds, as HF's repetition_penalty
        // looks at the whole input_ids
        if (penalties) {
            const size_t last_n = p.repeat_last_n < 0 ? ctx->cells.size() : (size_t)p.repeat_last_n;
            const size_t from = ctx->cells.size() > last_n ? ctx->cells.size() - last_n : 0;
            for (size_t i = from; i < ctx->cells.size(); i++) {
                if (!ctx->cells[i].is_embd) llama_sampler_accept(chain.get(), ctx->cells[i].token);
            }
        }
    }

    ctx->op_abort = p.abort;
    ctx->op_abort_user = p.abort_user;
    struct ClearAbort {
        ggpt_context * ctx;
        ~ClearAbort() { ctx->op_abort = nullptr, ctx->op_abort_user = nullptr; }
    } clear_abort{ctx};

    ggpt_stop_reason reason = GGPT_STOP_NONE;
    size_t released = 0;  // bytes of text handed to on_token
    bool first_piece = true;
    if (p.max_tokens == 0) reason = GGPT_STOP_MAX_TOKENS;
    while (reason == GGPT_STOP_NONE) {
        if (p.abort && p.abort(p.abort_user)) {
            reason = GGPT_STOP_ABORTED;
            st = ctx->fail(GGPT_ERR_ABORTED, "aborted");
            break;
        }
        // sample
        const float * logits = llama_get_logits_ith(ctx->lctx, -1);
        if (!logits) return ctx->fail(GGPT_ERR_INTERNAL, "no logits for the last position");
        int32_t tok;
        if (!chain) {
            tok = 0;
            for (int32_t i = 1; i < n_vocab; i++) {
                if (logits[i] > logits[tok]) tok = i;
            }
        } else {
            auto & cand = ctx->candidates;
            cand.resize((size_t)n_vocab);
            for (int32_t i = 0; i < n_vocab; i++) cand[i] = {i, logits[i], 0.0f};
            llama_token_data_array arr = {cand.data(), cand.size(), -1, false};
            llama_sampler_apply(chain.get(), &arr);
            if (arr.selected < 0 || arr.selected >= (int64_t)arr.size)
                return ctx->fail(GGPT_ERR_INTERNAL, "the sampler selected nothing");
            tok = arr.data[arr.selected].id;
            llama_sampler_accept(chain.get(), tok);
        }
        tokens.push_back(tok);

        // text and stop conditions
        const size_t old_len = text.size();
        model->tok.append_piece(tok, text);
        if (first_piece && text.size() > old_len) {
            first_piece = false;
            if (text[0] == ' ' && model->tok.kind[tok] != ggpt::Vocab::BYTE) text.erase(0, 1);  // SentencePiece decode
        }
        if (!stops.empty() && text.size() > old_len) {
            const size_t from = old_len >= max_stop ? old_len - (max_stop - 1) : 0;
            size_t cut = std::string::npos;
            for (std::string_view s : stops) cut = std::min(cut, text.find(s.data(), from, s.size()));
            if (cut != std::string::npos) {
                text.resize(cut);
                reason = GGPT_STOP_STRING;
            }
        }
        if (reason == GGPT_STOP_NONE) {
            if (p.stop_at_eos && llama_vocab_is_eog(model->vocab, tok)) reason = GGPT_STOP_EOS;
            else if ((int32_t)tokens.size() >= p.max_tokens) reason = GGPT_STOP_MAX_TOKENS;
            else if (ctx->cells.size() >= ctx->n_ctx) reason = GGPT_STOP_CONTEXT_FULL;
        }

        // stream what can no longer change
        if (p.on_token) {
            size_t safe = text.size();
            if (reason == GGPT_STOP_NONE) {
                safe -= stop_holdback(text, stops);
                safe -= ggpt::utf8_incomplete_tail(std::string_view(text).substr(0, safe));
            }
            safe = std::max(safe, released);
            const bool go_on = p.on_token(tok, text.data() + released, safe - released, p.on_token_user);
            released = safe;
            if (!go_on && reason == GGPT_STOP_NONE) {
                reason = GGPT_STOP_ABORTED;
                st = ctx->fail(GGPT_ERR_ABORTED, "aborted by the token callback");
            }
        }
        if (reason != GGPT_STOP_NONE) break;

        // evaluate the sampled token: its KV joins the cache and gives the next logits
        llama_batch & b = ctx->batch_tok;
        b.n_tokens = 1;
        b.token[0] = tok;
        b.pos[0] = (llama_pos)ctx->cells.size();
        b.n_seq_id[0] = 1;
        b.seq_id[0][0] = 0;
        b.logits[0] = 1;
        ctx->have_logits = false;
        const int32_t ret = llama_decode(ctx->lctx, b);
        if (ret != 0) {
            llama_memory_seq_rm(llama_get_memory(ctx->lctx), 0, (llama_pos)ctx->cells.size(), -1);
            if (ret == 2) {
                reason = GGPT_STOP_ABORTED;
                st = ctx->fail(GGPT_ERR_ABORTED, "aborted");
            } else {
                st = ctx->fail(GGPT_ERR_BACKEND, "llama_decode failed (%d) at position %zu", ret, ctx->cells.size());
            }
            break;
        }
        ggpt::Cell c;
        c.token = tok;
        ctx->cells.push_back(c);
        ctx->have_logits = true;
    }
    result->stop_reason = reason;
    return st;
}

}  // namespace

extern "C" {

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
    const auto t0 = clock_type::now();
    const ggpt_generate_params p = params ? *params : ggpt_generate_default_params();
    std::vector<int32_t> tokens;
    std::string text;
    ggpt_status st;
    try {
        tokens.reserve((size_t)std::min(std::max(p.max_tokens, 0), 4096));
        st = generate_impl(ctx, p, result, tokens, text);
    } catch (const std::bad_alloc &) {
        st = ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory while generating");
    } catch (const std::exception & e) {
        st = ctx->fail(GGPT_ERR_INTERNAL, "internal error while generating: %s", e.what());
    }
    if (st != GGPT_OK && st != GGPT_ERR_ABORTED) return st;
    result->tokens = (int32_t *)malloc(std::max<size_t>(1, tokens.size()) * sizeof(int32_t));
    result->text = (char *)malloc(text.size() + 1);
    if (!result->tokens || !result->text) {
        ggpt_generate_result_free(result);
        return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!tokens.empty()) memcpy(result->tokens, tokens.data(), tokens.size() * sizeof(int32_t));
    result->n_tokens = (int32_t)tokens.size();
    memcpy(result->text, text.data(), text.size());
    result->text[text.size()] = '\0';
    result->text_len = text.size();
    result->t_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    return st;
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
