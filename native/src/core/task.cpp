// task.cpp - tasks and steps: several sequences decoded together (continuous batching).
// (Over 500 lines: a step's phases, from admission to the bookkeeping after the decode, in order.)
//
// A task is one request on one sequence: a prompt (the whole sequence the task makes the
// sequence hold; the longest prefix it already holds is kept) and, optionally, generation.
// ggpt_step makes one llama_batch of every task that is not done: one position per generating
// task (its last sampled token), then chunks of the prompts, in n_batch positions; the batch is
// ordered by sequence id (libllama splits a batch over several sequence streams into ubatches of
// consecutive ids). After the decode, the tasks whose logits came out sample their next token.
// docs/ARCHITECTURE.md, "Parallel sequences".
#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "core/context.h"
#include "core/model.h"
#include "core/rpc.h"
#include "core/task.h"
#include "llama.h"

namespace ggpt {

void spans_to_cells(const ggpt_span * spans, size_t n_spans, std::vector<Cell> & out) {
    out.clear();
    for (size_t s = 0; s < n_spans; s++) {
        const ggpt_span & sp = spans[s];
        for (int32_t i = 0; i < sp.n; i++) {
            Cell c;
            if (sp.type == GGPT_SPAN_TOKENS) {
                c.token = sp.tokens[i];
            } else {
                c.is_embd = true;
                c.embd_id = sp.embd_id;
                c.row = i;
            }
            out.push_back(c);
        }
    }
}

ggpt_status validate_spans(const ggpt_context * ctx, const ggpt_span * spans, size_t n_spans, size_t & total,
                           std::string & err) {
    const int32_t n_vocab = ctx->model->tok.n_vocab;
    char buf[256];
    auto fail = [&](ggpt_status st) {
        err = buf;
        return st;
    };
    if (n_spans > 0 && !spans) return snprintf(buf, sizeof buf, "spans is NULL"), fail(GGPT_ERR_INVALID_ARGUMENT);
    total = 0;
    for (size_t s = 0; s < n_spans; s++) {
        const ggpt_span & sp = spans[s];
        if (sp.n <= 0)
            return snprintf(buf, sizeof buf, "span %zu is empty (n = %d)", s, sp.n), fail(GGPT_ERR_INVALID_ARGUMENT);
        if (sp.type == GGPT_SPAN_TOKENS) {
            if (!sp.tokens)
                return snprintf(buf, sizeof buf, "span %zu: tokens is NULL", s), fail(GGPT_ERR_INVALID_ARGUMENT);
            for (int32_t i = 0; i < sp.n; i++) {
                if (sp.tokens[i] < 0 || sp.tokens[i] >= n_vocab) {
                    snprintf(buf, sizeof buf, "span %zu: token %d at index %d is not in [0, %d)", s, sp.tokens[i], i,
                             n_vocab);
                    return fail(GGPT_ERR_INVALID_ARGUMENT);
                }
            }
        } else if (sp.type == GGPT_SPAN_EMBD) {
            // NULL rows are allowed for a span the sequence already holds (begin() checks)
            if (!sp.embd && sp.embd_id == 0)
                return snprintf(buf, sizeof buf, "span %zu: embd is NULL", s), fail(GGPT_ERR_INVALID_ARGUMENT);
        } else {
            snprintf(buf, sizeof buf, "span %zu has an unknown type %d", s, (int)sp.type);
            return fail(GGPT_ERR_INVALID_ARGUMENT);
        }
        total += (size_t)sp.n;
    }
    if (total == 0) return snprintf(buf, sizeof buf, "the prompt is empty"), fail(GGPT_ERR_INVALID_ARGUMENT);
    if (total > ctx->n_ctx) {
        snprintf(buf, sizeof buf, "the prompt has %zu positions but the context holds %u", total, ctx->n_ctx);
        return fail(GGPT_ERR_CONTEXT_FULL);
    }
    return GGPT_OK;
}

}  // namespace ggpt

namespace {

using ggpt::Cell;
using Phase = ggpt_task::Phase;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

llama_memory_t memory(ggpt_context * ctx) { return llama_get_memory(ctx->lctx); }

// Removes positions [n_keep, end) of a sequence from the KV cache and its cell list.
void truncate_seq(ggpt_context * ctx, int32_t seq, size_t n_keep) {
    ggpt::Seq & s = ctx->seqs[(size_t)seq];
    llama_memory_seq_rm(memory(ctx), seq, (llama_pos)n_keep, -1);
    if (s.cells.size() > n_keep) s.cells.resize(n_keep);
}

void finish(ggpt_task * t, ggpt_status st, const std::string & err = std::string()) {
    if (t->done()) return;
    if (t->phase == Phase::GENERATE) {
        t->gen_ms = ms_since(t->t_gen);
        if (st == GGPT_ERR_ABORTED && t->reason == GGPT_STOP_NONE) t->reason = GGPT_STOP_ABORTED;
    } else if (t->phase == Phase::PROMPT) {
        t->eval = {(int32_t)t->want.size(), (int32_t)(t->pos - t->n_done), (int32_t)t->n_done, ms_since(t->t_begin)};
    }
    t->status = st;
    t->error = st == GGPT_OK ? std::string() : (err.empty() ? std::string(ggpt_status_name(st)) : err);
    t->phase = Phase::DONE;
    t->pending = -1;
    t->need_sample = false;
    ggpt::Seq & s = t->ctx->seqs[(size_t)t->seq];
    if (s.task == t) s.task = nullptr;
}

bool wants_abort(const ggpt_task * t) {
    if (t->ep.abort && t->ep.abort(t->ep.abort_user)) return true;
    return t->phase == Phase::GENERATE && t->gen.p.abort && t->gen.p.abort(t->gen.p.abort_user);
}

void start_generation(ggpt_task * t) {
    t->phase = Phase::GENERATE;
    t->t_gen = clock_type::now();
    ggpt_context * ctx = t->ctx;
    t->gen.begin(ctx->model, ctx->seqs[(size_t)t->seq].cells, ctx->n_ctx);
    t->need_sample = true;
}

// A queued task enters: its sequence keeps the common prefix, the rest goes.
void begin(ggpt_task * t) {
    ggpt_context * ctx = t->ctx;
    ggpt::Seq & s = ctx->seqs[(size_t)t->seq];
    t->t_begin = clock_type::now();
    if (t->spans.empty()) {  // continue after what the sequence holds
        start_generation(t);
        return;
    }
    t->phase = Phase::PROMPT;
    size_t keep = 0;
    const size_t limit = std::min(t->want.size(), s.cells.size());
    while (keep < limit && t->want[keep] == s.cells[keep]) keep++;
    if (keep == t->want.size()) {
        if (s.cells.size() == t->want.size() && s.logits_i >= 0) {
            // the sequence holds exactly this and its logits are current
            t->pos = keep;
            t->eval = {(int32_t)t->want.size(), (int32_t)keep, 0, ms_since(t->t_begin)};
            if (t->generate) start_generation(t);
            else finish(t, GGPT_OK);
            return;
        }
        keep--;  // re-evaluate the last position for its logits
    }
    // an embedding span without rows must lie in what is kept (a restored snapshot)
    for (size_t i = 0; i < t->spans.size(); i++) {
        if (t->spans[i].type == GGPT_SPAN_EMBD && !t->spans[i].embd &&
            t->span_start[i] + (size_t)t->spans[i].n > keep) {
            char buf[160];
            snprintf(buf, sizeof buf, "span %zu has no rows and the sequence does not hold it", i);
            t->phase = Phase::PROMPT;
            finish(t, GGPT_ERR_INVALID_ARGUMENT, buf);
            return;
        }
    }
    truncate_seq(ctx, t->seq, keep);
    s.logits_i = -1;
    t->pos = keep;
    t->n_eval = t->want.size() - keep;
}

// Samples the next token of a task whose logits are current.
void sample(ggpt_task * t) {
    t->need_sample = false;
    ggpt_context * ctx = t->ctx;
    ggpt::Seq & s = ctx->seqs[(size_t)t->seq];
    const float * logits = nullptr;
    if (t->gen.p.max_tokens > 0) {
        if (s.logits_i < 0) {
            finish(t, GGPT_ERR_INTERNAL, "no logits for the last position");
            return;
        }
        logits = llama_get_logits_ith(ctx->lctx, s.logits_i);
    }
    int32_t tok = -1;
    ggpt_status st = GGPT_OK;
    std::string err;
    t->reason = t->gen.next(ctx->model, logits, s.cells.size(), ctx->n_ctx, ctx->candidates, tok, st, err);
    if (t->reason == GGPT_STOP_NONE) t->pending = tok;
    else finish(t, st, err);
}

// The positions a task puts into one batch.
struct Entry {
    ggpt_task * task;
    size_t from, n;  // positions [from, from + n) of the task's sequence
};

// Fills batch rows [row, row + e.n) with a prompt task's positions (tokens or embedding rows).
ggpt_status fill_prompt(ggpt_context * ctx, const Entry & e, llama_batch & b, int32_t row, bool embd) {
    const ggpt_task * t = e.task;
    const int32_t n_embd = ctx->model->n_embd;
    size_t p = e.from;
    size_t span = (size_t)(std::upper_bound(t->span_start.begin(), t->span_start.end(), p) - t->span_start.begin()) - 1;
    while (p < e.from + e.n) {
        while (p >= t->span_start[span] + (size_t)t->spans[span].n) span++;
        const ggpt_span & sp = t->spans[span];
        const size_t in_span = p - t->span_start[span];
        const size_t cnt = std::min(e.from + e.n - p, (size_t)sp.n - in_span);
        const size_t at = (size_t)row + (p - e.from);
        if (!embd) {
            memcpy(b.token + at, sp.tokens + in_span, cnt * sizeof(int32_t));
        } else if (sp.type == GGPT_SPAN_EMBD) {
            memcpy(b.embd + at * (size_t)n_embd, sp.embd + in_span * (size_t)n_embd,
                   cnt * (size_t)n_embd * sizeof(float));
        } else {
            const ggpt_status st =
                ggpt_token_embeddings(ctx, sp.tokens + in_span, (int32_t)cnt, b.embd + at * (size_t)n_embd);
            if (st != GGPT_OK) return st;
        }
        p += cnt;
    }
    return GGPT_OK;
}

// libllama's abort callback during a step: stop only when every task in it asks to.
bool step_abort(void * user) {
    const auto * entries = (const std::vector<Entry> *)user;
    for (const Entry & e : *entries)
        if (!wants_abort(e.task)) return false;
    return !entries->empty();
}

void step_impl(ggpt_context * ctx) {
    // 1. queued tasks enter; tasks that ask to stop end (before anything of theirs changes)
    std::vector<ggpt_task *> live(ctx->tasks);
    for (ggpt_task * t : live) {
        if (t->done()) continue;
        if (wants_abort(t)) {
            finish(t, GGPT_ERR_ABORTED, "aborted");
            continue;
        }
        if (t->phase == Phase::QUEUED) begin(t);
    }
    // 2. tasks whose logits are current sample (generation continuing, a prompt reused whole)
    for (ggpt_task * t : live)
        if (!t->done() && t->need_sample) sample(t);

    // 3. the batch: generating tasks first (one position each), then prompt chunks
    const size_t n_batch = ctx->params.n_batch;
    std::vector<Entry> entries;
    size_t budget = n_batch, n_generating = 0;
    for (ggpt_task * t : live) {
        if (t->done() || t->pending < 0 || budget == 0) continue;
        entries.push_back({t, ctx->seqs[(size_t)t->seq].cells.size(), 1});
        budget--;
        n_generating++;
    }
    bool embd = false;
    for (ggpt_task * t : live) {
        if (t->done() || t->phase != Phase::PROMPT || budget == 0) continue;
        const size_t chunk = n_generating > 0 ? (size_t)ctx->params.n_batch_shared : budget;
        const size_t n = std::min({t->want.size() - t->pos, chunk, budget});
        entries.push_back({t, t->pos, n});
        budget -= n;
        embd = embd || t->any_embd;
    }
    if (entries.empty()) return;
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry & a, const Entry & b) { return a.task->seq < b.task->seq; });

    llama_batch & b = embd ? ctx->batch_embd : ctx->batch_tok;
    int32_t row = 0;
    ggpt_status st = GGPT_OK;
    for (const Entry & e : entries) {
        ggpt_task * t = e.task;
        const bool generating = t->phase == Phase::GENERATE;
        if (generating) {
            if (embd)
                st = ggpt_token_embeddings(ctx, &t->pending, 1, b.embd + (size_t)row * (size_t)ctx->model->n_embd);
            else b.token[row] = t->pending;
        } else {
            st = fill_prompt(ctx, e, b, row, embd);
        }
        if (st != GGPT_OK) {
            // ggpt_token_embeddings reads the LLM file: a failure ends every task of the step
            const std::string err = ctx->last_error;
            for (const Entry & x : entries) finish(x.task, st, err);
            return;
        }
        for (size_t i = 0; i < e.n; i++, row++) {
            b.pos[row] = (llama_pos)(e.from + i);
            b.n_seq_id[row] = 1;
            b.seq_id[row][0] = t->seq;
            b.logits[row] = generating || e.from + i == t->want.size() - 1;
        }
    }
    b.n_tokens = row;

    // 4. decode
    ctx->op_abort = step_abort;
    ctx->op_abort_user = &entries;
    const int32_t ret = llama_decode(ctx->lctx, b);
    ctx->op_abort = nullptr;
    ctx->op_abort_user = nullptr;
    for (ggpt::Seq & s : ctx->seqs) s.logits_i = -1;
    // An RPC connection that failed during the decode (docs/RELIABILITY.md "RPC devices"): the
    // decode may even have returned 0 (the RPC backend computes asynchronously: its results are
    // read at the next synchronisation, done here so that no token is sampled from logits a
    // failed connection zero-filled), but nothing it produced can be trusted and the model is
    // unusable from now on.
    if (ctx->model->rpc) llama_synchronize(ctx->lctx);
    std::string rpc_err;
    if (ggpt::rpc_check(ctx->model, rpc_err) != GGPT_OK) {
        for (const Entry & e : entries) {
            truncate_seq(ctx, e.task->seq, ctx->seqs[(size_t)e.task->seq].cells.size());
            finish(e.task, GGPT_ERR_REMOTE, rpc_err);
        }
        return;
    }
    if (ret != 0) {
        // each sequence keeps what it held before; whatever the decode left behind goes
        char buf[256];
        ggpt_status fst;
        if (ret == 2) {
            fst = GGPT_ERR_ABORTED;
            snprintf(buf, sizeof buf, "aborted");
        } else if (ret == 1) {
            fst = GGPT_ERR_CONTEXT_FULL;
            snprintf(buf, sizeof buf, "no room in the KV cache for %d positions", row);
        } else {
            fst = GGPT_ERR_BACKEND;
            snprintf(buf, sizeof buf, "llama_decode failed (%d)", ret);
        }
        for (const Entry & e : entries) {
            truncate_seq(ctx, e.task->seq, ctx->seqs[(size_t)e.task->seq].cells.size());
            finish(e.task, fst, buf);
        }
        return;
    }

    // 5. what the sequences hold now; prompts advance; logits to sample
    row = 0;
    for (const Entry & e : entries) {
        ggpt_task * t = e.task;
        ggpt::Seq & s = ctx->seqs[(size_t)t->seq];
        if (t->phase == Phase::GENERATE) {
            Cell c;
            c.token = t->pending;
            s.cells.push_back(c);
            s.logits_i = row++;
            t->pending = -1;
            t->need_sample = true;
            continue;
        }
        s.cells.insert(s.cells.end(), t->want.begin() + (ptrdiff_t)e.from, t->want.begin() + (ptrdiff_t)(e.from + e.n));
        row += (int32_t)e.n;
        t->pos += e.n;
        t->n_done += e.n;
        const bool complete = t->pos == t->want.size();
        if (complete) s.logits_i = row - 1;
        if (t->ep.progress && !t->ep.progress((float)((double)t->n_done / (double)t->n_eval), t->ep.progress_user) &&
            !complete) {
            finish(t, GGPT_ERR_ABORTED, "aborted");
            continue;
        }
        if (complete) {
            t->eval = {(int32_t)t->want.size(), (int32_t)(t->want.size() - t->n_eval), (int32_t)t->n_done,
                       ms_since(t->t_begin)};
            if (t->generate) start_generation(t);
            else finish(t, GGPT_OK);
        }
    }
    for (const Entry & e : entries)
        if (!e.task->done() && e.task->need_sample) sample(e.task);
}

ggpt_status start_impl(ggpt_context * ctx, const ggpt_task_params & p, ggpt_task ** out) {
    std::string rpc_err;
    if (ggpt::rpc_check(ctx->model, rpc_err) != GGPT_OK) return ctx->fail(GGPT_ERR_REMOTE, "%s", rpc_err.c_str());
    if (p.seq < 0 || (size_t)p.seq >= ctx->seqs.size())
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "sequence %d is not in [0, %zu)", p.seq, ctx->seqs.size());
    ggpt::Seq & s = ctx->seqs[(size_t)p.seq];
    if (s.task) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "sequence %d already runs a task", p.seq);
    auto t = std::make_unique<ggpt_task>();
    t->ctx = ctx;
    t->seq = p.seq;
    t->ep = p.eval;
    std::string err;
    if (p.n_spans > 0) {
        size_t total = 0;
        const ggpt_status st = ggpt::validate_spans(ctx, p.spans, p.n_spans, total, err);
        if (st != GGPT_OK) return ctx->fail(st, "%s", err.c_str());
        t->spans.assign(p.spans, p.spans + p.n_spans);
        size_t at = 0;
        for (const ggpt_span & sp : t->spans) {
            t->span_start.push_back(at);
            at += (size_t)sp.n;
            t->any_embd = t->any_embd || sp.type == GGPT_SPAN_EMBD;
        }
        ggpt::spans_to_cells(p.spans, p.n_spans, t->want);
    } else if (!p.generate) {
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "a task needs a prompt or generation");
    } else if (s.logits_i < 0 || s.cells.empty()) {
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "nothing to continue: run ggpt_prompt first");
    }
    if (p.generate) {
        t->generate = true;
        if (!t->gen.init(*p.generate, err)) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "%s", err.c_str());
    }
    s.task = t.get();
    ctx->tasks.push_back(t.get());
    *out = t.release();
    return GGPT_OK;
}

}  // namespace

extern "C" {

ggpt_status ggpt_task_start(ggpt_context * ctx, const ggpt_task_params * params, ggpt_task ** out) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (!params || !out) return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "params/out is NULL");
    *out = nullptr;
    ctx->last_error.clear();
    try {
        return start_impl(ctx, *params, out);
    } catch (const std::bad_alloc &) {
        return ctx->fail(GGPT_ERR_OUT_OF_MEMORY, "out of memory while starting a task");
    }
}

ggpt_status ggpt_step(ggpt_context * ctx, int32_t * n_running) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    try {
        step_impl(ctx);
    } catch (const std::exception & e) {
        // bad_alloc and the like: the tasks of this step cannot go on; the sequences keep what
        // they held before it
        const bool oom = dynamic_cast<const std::bad_alloc *>(&e) != nullptr;
        ctx->op_abort = nullptr;
        ctx->op_abort_user = nullptr;
        for (ggpt_task * t : ctx->tasks) {
            if (t->done()) continue;
            truncate_seq(ctx, t->seq, ctx->seqs[(size_t)t->seq].cells.size());
            finish(t, oom ? GGPT_ERR_OUT_OF_MEMORY : GGPT_ERR_INTERNAL,
                   oom ? "out of memory while decoding" : std::string("internal error while decoding: ") + e.what());
        }
    }
    if (n_running) {
        int32_t n = 0;
        for (const ggpt_task * t : ctx->tasks) n += t->done() ? 0 : 1;
        *n_running = n;
    }
    return GGPT_OK;
}

bool ggpt_task_done(const ggpt_task * task) { return !task || task->done(); }

ggpt_status ggpt_task_status(const ggpt_task * task) {
    if (!task) return GGPT_ERR_INVALID_ARGUMENT;
    return task->done() ? task->status : GGPT_OK;
}

const char * ggpt_task_error(const ggpt_task * task) { return task ? task->error.c_str() : "task is NULL"; }

ggpt_status ggpt_task_result(ggpt_task * task, ggpt_eval_result * eval, ggpt_generate_result * result) {
    if (!task || !task->done()) return GGPT_ERR_INVALID_ARGUMENT;
    if (eval) *eval = task->eval;
    if (!result) return GGPT_OK;
    memset(result, 0, sizeof *result);
    if (!task->generate || task->result_taken) return GGPT_OK;
    const std::vector<int32_t> & tokens = task->gen.tokens;
    const std::string & text = task->gen.text;
    result->tokens = (int32_t *)malloc(std::max<size_t>(1, tokens.size()) * sizeof(int32_t));
    result->text = (char *)malloc(text.size() + 1);
    if (!result->tokens || !result->text) {
        ggpt_generate_result_free(result);
        return GGPT_ERR_OUT_OF_MEMORY;
    }
    if (!tokens.empty()) memcpy(result->tokens, tokens.data(), tokens.size() * sizeof(int32_t));
    result->n_tokens = (int32_t)tokens.size();
    memcpy(result->text, text.data(), text.size());
    result->text[text.size()] = '\0';
    result->text_len = text.size();
    result->stop_reason = task->reason;
    result->t_ms = task->gen_ms;
    task->result_taken = true;
    return GGPT_OK;
}

void ggpt_task_free(ggpt_task * task) {
    if (!task) return;
    ggpt_context * ctx = task->ctx;
    if (!task->done()) {
        // a sampled token not evaluated yet is simply dropped: the sequence holds what it held
        finish(task, GGPT_ERR_ABORTED, "aborted");
    }
    auto & v = ctx->tasks;
    v.erase(std::remove(v.begin(), v.end(), task), v.end());
    delete task;
}

int32_t ggpt_seq_common_prefix(const ggpt_context * ctx, int32_t seq, const ggpt_span * spans, size_t n_spans) {
    if (!ctx || seq < 0 || (size_t)seq >= ctx->seqs.size() || (n_spans > 0 && !spans)) return 0;
    const std::vector<Cell> & held = ctx->seqs[(size_t)seq].cells;
    size_t i = 0;
    for (size_t s = 0; s < n_spans; s++) {
        const ggpt_span & sp = spans[s];
        for (int32_t r = 0; r < sp.n; r++, i++) {
            if (i >= held.size()) return (int32_t)i;
            Cell c;
            if (sp.type == GGPT_SPAN_TOKENS) {
                if (!sp.tokens) return (int32_t)i;
                c.token = sp.tokens[r];
            } else {
                c.is_embd = true;
                c.embd_id = sp.embd_id;
                c.row = r;
            }
            if (!(c == held[i])) return (int32_t)i;
        }
    }
    return (int32_t)i;
}

int32_t ggpt_seq_n_past(const ggpt_context * ctx, int32_t seq) {
    if (!ctx || seq < 0 || (size_t)seq >= ctx->seqs.size()) return -1;
    return (int32_t)ctx->seqs[(size_t)seq].cells.size();
}

}  // extern "C"
