// sampling.cpp - Generator (core/task.h): the sampler chain, stop strings and streaming of one
// generation. Sampling: greedy (argmax) when temperature is 0, else llama.cpp's chain
// penalties -> top_k -> top_p -> min_p -> temp -> dist(seed).
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/task.h"
#include "llama.h"

namespace ggpt {

namespace {

bool validate(const ggpt_generate_params & p, std::string & err) {
    if (p.max_tokens < 0) err = "max_tokens must be >= 0";
    else if (!std::isfinite(p.temperature) || p.temperature < 0) err = "temperature must be a finite number >= 0";
    else if (p.top_k < 0) err = "top_k must be >= 0";
    else if (!(p.top_p > 0 && p.top_p <= 1)) err = "top_p must be in (0, 1]";
    else if (!(p.min_p >= 0 && p.min_p < 1)) err = "min_p must be in [0, 1)";
    else if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty))
        err = "repeat_penalty must be a finite number > 0";
    else if (p.repeat_last_n < -1) err = "repeat_last_n must be >= -1";
    else if (p.n_stop > 0 && !p.stop) err = "stop is NULL";
    else {
        for (size_t i = 0; i < p.n_stop; i++) {
            if (!p.stop[i] || !p.stop[i][0]) {
                err = "stop string " + std::to_string(i) + " is empty";
                return false;
            }
        }
        return true;
    }
    return false;
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

}  // namespace

bool Generator::init(const ggpt_generate_params & in, std::string & err) {
    if (!validate(in, err)) return false;
    p = in;
    stop_storage_.assign(in.stop, in.stop + in.n_stop);
    for (const std::string & s : stop_storage_) {
        stop_ptrs_.push_back(s.c_str());
        stops_.emplace_back(s);
        max_stop_ = std::max(max_stop_, s.size());
    }
    p.stop = stop_ptrs_.empty() ? nullptr : stop_ptrs_.data();
    tokens.reserve((size_t)std::min(std::max(p.max_tokens, 0), 4096));
    return true;
}

void Generator::begin(const ggpt_model * model, const std::vector<Cell> & held, uint32_t n_ctx) {
    // no chain for plain greedy: argmax over the logits, no candidate array
    const bool penalties = p.repeat_penalty != 1.0f && p.repeat_last_n != 0;
    if (!(p.temperature > 0 || penalties)) return;
    const int32_t n_vocab = model->tok.n_vocab;
    chain_.reset(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    if (penalties) {
        const int32_t last_n = p.repeat_last_n < 0 ? (int32_t)n_ctx : p.repeat_last_n;
        llama_sampler_chain_add(chain_.get(), llama_sampler_init_penalties(n_vocab, last_n, p.repeat_penalty, 0, 0));
    }
    if (p.temperature > 0) {
        if (p.top_k > 0) llama_sampler_chain_add(chain_.get(), llama_sampler_init_top_k(p.top_k));
        if (p.top_p < 1) llama_sampler_chain_add(chain_.get(), llama_sampler_init_top_p(p.top_p, 1));
        if (p.min_p > 0) llama_sampler_chain_add(chain_.get(), llama_sampler_init_min_p(p.min_p, 1));
        llama_sampler_chain_add(chain_.get(), llama_sampler_init_temp(p.temperature));
        llama_sampler_chain_add(chain_.get(), llama_sampler_init_dist(p.seed));
    } else {
        llama_sampler_chain_add(chain_.get(), llama_sampler_init_greedy());
    }
    if (penalties) {
        const size_t last_n = p.repeat_last_n < 0 ? held.size() : (size_t)p.repeat_last_n;
        const size_t from = held.size() > last_n ? held.size() - last_n : 0;
        for (size_t i = from; i < held.size(); i++) {
            if (!held[i].is_embd) llama_sampler_accept(chain_.get(), held[i].token);
        }
    }
}

ggpt_stop_reason Generator::next(const ggpt_model * model, const float * logits, size_t n_held, uint32_t n_ctx,
                                 std::vector<llama_token_data> & candidates, int32_t & tok, ggpt_status & st,
                                 std::string & err) {
    if (p.max_tokens == 0) return GGPT_STOP_MAX_TOKENS;
    const int32_t n_vocab = model->tok.n_vocab;
    if (!logits) {
        st = GGPT_ERR_INTERNAL;
        err = "no logits for the last position";
        return GGPT_STOP_ABORTED;
    }
    if (!chain_) {
        tok = 0;
        for (int32_t i = 1; i < n_vocab; i++) {
            if (logits[i] > logits[tok]) tok = i;
        }
    } else {
        candidates.resize((size_t)n_vocab);
        for (int32_t i = 0; i < n_vocab; i++) candidates[i] = {i, logits[i], 0.0f};
        llama_token_data_array arr = {candidates.data(), candidates.size(), -1, false};
        llama_sampler_apply(chain_.get(), &arr);
        if (arr.selected < 0 || arr.selected >= (int64_t)arr.size) {
            st = GGPT_ERR_INTERNAL;
            err = "the sampler selected nothing";
            return GGPT_STOP_ABORTED;
        }
        tok = arr.data[arr.selected].id;
        llama_sampler_accept(chain_.get(), tok);
    }
    tokens.push_back(tok);

    // text and stop conditions
    ggpt_stop_reason reason = GGPT_STOP_NONE;
    const size_t old_len = text.size();
    model->tok.append_piece(tok, text);
    if (first_piece_ && text.size() > old_len) {
        first_piece_ = false;
        if (text[0] == ' ' && model->tok.kind[tok] != Vocab::BYTE) text.erase(0, 1);  // SentencePiece decode
    }
    if (!stops_.empty() && text.size() > old_len) {
        const size_t from = old_len >= max_stop_ ? old_len - (max_stop_ - 1) : 0;
        size_t cut = std::string::npos;
        for (std::string_view s : stops_) cut = std::min(cut, text.find(s.data(), from, s.size()));
        if (cut != std::string::npos) {
            text.resize(cut);
            reason = GGPT_STOP_STRING;
        }
    }
    if (reason == GGPT_STOP_NONE) {
        if (p.stop_at_eos && llama_vocab_is_eog(model->vocab, tok)) reason = GGPT_STOP_EOS;
        else if ((int32_t)tokens.size() >= p.max_tokens) reason = GGPT_STOP_MAX_TOKENS;
        else if (n_held >= n_ctx) reason = GGPT_STOP_CONTEXT_FULL;
    }

    // stream what can no longer change
    if (p.on_token) {
        size_t safe = text.size();
        if (reason == GGPT_STOP_NONE) {
            safe -= stop_holdback(text, stops_);
            safe -= utf8_incomplete_tail(std::string_view(text).substr(0, safe));
        }
        safe = std::max(safe, released_);
        const bool go_on = p.on_token(tok, text.data() + released_, safe - released_, p.on_token_user);
        released_ = safe;
        if (!go_on && reason == GGPT_STOP_NONE) {
            reason = GGPT_STOP_ABORTED;
            st = GGPT_ERR_ABORTED;
            err = "aborted by the token callback";
        }
    }
    return reason;
}

}  // namespace ggpt
