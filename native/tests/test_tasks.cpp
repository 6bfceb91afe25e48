// test_tasks.cpp - the C API's tasks and steps (core/task.cpp) and sequence snapshots
// (core/state.cpp) on the tiny LLM at f32: three prompts decoded together give the greedy tokens
// each gives alone; a task that aborts leaves the others unchanged; the rules (one task per
// sequence, ggpt_prompt refused while tasks run, rows-less spans only over what a sequence holds);
// a snapshot restored into another sequence continues as the original; a damaged one is refused
// and leaves the sequence empty. Exit code 0 = pass.
//   build/cmake/test_tasks <llm.gguf>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "groundinggpt.h"

#include "check.h"

namespace {

const int kTokens = 12;

std::vector<int32_t> tokenize(const ggpt_model * m, const std::string & s) {
    std::vector<int32_t> out(s.size() + 8);
    const int32_t n = ggpt_tokenize(m, s.data(), s.size(), true, false, out.data(), (int32_t)out.size());
    out.resize(n < 0 ? 0 : (size_t)n);
    return out;
}

ggpt_context * context(ggpt_model * m, uint32_t n_seq) {
    ggpt_context_params cp = ggpt_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 64;
    cp.n_seq = n_seq;
    cp.n_threads = 2;
    cp.kv_type = GGPT_KV_F32;
    ggpt_context * ctx = nullptr;
    char err[512];
    if (ggpt_context_init(m, &cp, &ctx, err, sizeof err) != GGPT_OK) {
        std::printf("context: %s\n", err);
        std::exit(2);
    }
    return ctx;
}

ggpt_generate_params greedy() {
    ggpt_generate_params g = ggpt_generate_default_params();
    g.max_tokens = kTokens;
    g.stop_at_eos = false;
    return g;
}

std::vector<int32_t> tokens_of(ggpt_generate_result & r) {
    std::vector<int32_t> v(r.tokens, r.tokens + r.n_tokens);
    ggpt_generate_result_free(&r);
    return v;
}

std::vector<int32_t> alone(ggpt_model * m, const std::vector<int32_t> & prompt) {
    ggpt_context * ctx = context(m, 1);
    ggpt_span sp{GGPT_SPAN_TOKENS, (int32_t)prompt.size(), prompt.data(), nullptr, 0};
    CHECK(ggpt_prompt(ctx, &sp, 1, nullptr, nullptr) == GGPT_OK, "prompt: %s", ggpt_context_last_error(ctx));
    const ggpt_generate_params g = greedy();
    ggpt_generate_result r{};
    CHECK(ggpt_generate(ctx, &g, &r) == GGPT_OK, "generate: %s", ggpt_context_last_error(ctx));
    std::vector<int32_t> out = tokens_of(r);
    ggpt_context_free(ctx);
    return out;
}

bool flag_abort(void * user) { return ((std::atomic<bool> *)user)->load(); }

// One task per prompt, prompt i on sequence i (spans: filled here, must outlive the tasks); the
// task on sequence abort_seq polls `stop`.
std::vector<ggpt_task *> start_all(ggpt_context * ctx, const std::vector<std::vector<int32_t>> & prompts,
                                   const ggpt_generate_params & g, std::vector<ggpt_span> & spans, int abort_seq = -1,
                                   std::atomic<bool> * stop = nullptr) {
    spans.resize(prompts.size());
    std::vector<ggpt_task *> tasks(prompts.size(), nullptr);
    for (size_t i = 0; i < prompts.size(); i++) {
        spans[i] = ggpt_span{GGPT_SPAN_TOKENS, (int32_t)prompts[i].size(), prompts[i].data(), nullptr, 0};
        ggpt_task_params p{};
        p.seq = (int32_t)i;
        p.spans = &spans[i];
        p.n_spans = 1;
        p.generate = &g;
        p.eval = ggpt_eval_default_params();
        if ((int)i == abort_seq) {
            p.eval.abort = flag_abort;
            p.eval.abort_user = stop;
        }
        CHECK(ggpt_task_start(ctx, &p, &tasks[i]) == GGPT_OK, "start %zu: %s", i, ggpt_context_last_error(ctx));
    }
    return tasks;
}

}  // namespace

int main(int argc, char ** argv) {
    const char * path = argc > 1 ? argv[1] : std::getenv("GROUNDINGGPT_TEST_LLM");
    if (!path) {
        std::printf("usage: test_tasks <llm.gguf>\n");
        return 2;
    }
    ggpt_backend_init();
    ggpt_log_set(nullptr, nullptr, GGPT_LOG_ERROR);
    ggpt_model_params mp = ggpt_model_default_params();
    mp.llm_path = path;
    ggpt_model * m = nullptr;
    char err[1024];
    if (ggpt_model_load(&mp, &m, err, sizeof err) != GGPT_OK) {
        std::printf("load: %s\n", err);
        return 2;
    }
    const std::vector<std::vector<int32_t>> prompts = {
        tokenize(m, "The quick brown fox jumps over the lazy dog."),
        tokenize(m, "Where is the dog?"),
        tokenize(m, "Once upon a time, in a land far away, there lived a very old king who"),
    };
    std::vector<std::vector<int32_t>> expected;
    for (const auto & p : prompts) expected.push_back(alone(m, p));

    // three tasks decoded together
    {
        ggpt_context * ctx = context(m, 3);
        CHECK(ggpt_context_n_seq(ctx) == 3, "n_seq");
        const ggpt_generate_params g = greedy();
        std::vector<ggpt_span> spans;
        std::vector<ggpt_task *> tasks = start_all(ctx, prompts, g, spans);
        // the rules while tasks run
        {
            ggpt_task_params p{};
            p.seq = 1;
            p.spans = &spans[1];
            p.n_spans = 1;
            ggpt_task * t = nullptr;
            CHECK(ggpt_task_start(ctx, &p, &t) == GGPT_ERR_INVALID_ARGUMENT, "two tasks on one sequence");
            CHECK(ggpt_prompt(ctx, &spans[0], 1, nullptr, nullptr) == GGPT_ERR_INVALID_ARGUMENT,
                  "ggpt_prompt while tasks run");
            p.seq = 7;
            CHECK(ggpt_task_start(ctx, &p, &t) == GGPT_ERR_INVALID_ARGUMENT, "no such sequence");
        }
        int32_t running = 3, steps = 0;
        while (running > 0 && steps < 1000) {
            ggpt_step(ctx, &running);
            steps++;
        }
        CHECK(steps < 3 * (kTokens + 1), "steps shared: %d steps for 3 x %d tokens", steps, kTokens);
        for (int i = 0; i < 3; i++) {
            CHECK(ggpt_task_done(tasks[i]) && ggpt_task_status(tasks[i]) == GGPT_OK, "task %d: %s", i,
                  ggpt_task_error(tasks[i]));
            ggpt_eval_result ev{};
            ggpt_generate_result r{};
            CHECK(ggpt_task_result(tasks[i], &ev, &r) == GGPT_OK, "result %d", i);
            CHECK(ev.n_prompt == (int32_t)prompts[i].size(), "n_prompt %d", i);
            CHECK(tokens_of(r) == expected[i], "task %d: the greedy tokens of the prompt alone", i);
            CHECK(ggpt_task_seq(tasks[i]) == i, "seq of task %d", i);
            ggpt_task_free(tasks[i]);
        }

        // a snapshot of sequence 2's prompt, restored into sequence 0, continues like the original
        const int32_t n2 = (int32_t)prompts[2].size();
        uint8_t * snap = nullptr;
        size_t snap_len = 0;
        CHECK(ggpt_seq_snapshot(ctx, 2, n2, &snap, &snap_len) == GGPT_OK, "snapshot: %s", ggpt_context_last_error(ctx));
        CHECK(ggpt_seq_restore(ctx, 0, snap, snap_len) == GGPT_OK, "restore: %s", ggpt_context_last_error(ctx));
        CHECK(ggpt_seq_n_past(ctx, 0) == n2, "restored positions %d", ggpt_seq_n_past(ctx, 0));
        CHECK(ggpt_seq_common_prefix(ctx, 0, &spans[2], 1) == n2, "the restored sequence holds the prompt");
        {
            ggpt_task_params p{};
            p.seq = 0;
            p.spans = &spans[2];
            p.n_spans = 1;
            p.generate = &g;
            ggpt_task * t = nullptr;
            CHECK(ggpt_task_start(ctx, &p, &t) == GGPT_OK, "start after restore");
            int32_t left = 1;
            while (left > 0) ggpt_step(ctx, &left);
            ggpt_eval_result ev{};
            ggpt_generate_result r{};
            ggpt_task_result(t, &ev, &r);
            CHECK(ev.n_reused == n2 - 1, "only the last position evaluated again (reused %d of %d)", ev.n_reused, n2);
            CHECK(tokens_of(r) == expected[2], "restored: the original's greedy tokens");
            ggpt_task_free(t);
        }
        // damaged snapshots are refused and leave the sequence empty
        std::vector<uint8_t> bad(snap, snap + snap_len);
        bad[9] ^= 0xff;  // version
        CHECK(ggpt_seq_restore(ctx, 1, bad.data(), bad.size()) == GGPT_ERR_FORMAT, "bad version refused");
        CHECK(ggpt_seq_n_past(ctx, 1) == 0, "sequence empty after a refused snapshot");
        CHECK(ggpt_seq_restore(ctx, 1, snap, snap_len / 2) == GGPT_ERR_FORMAT, "truncated snapshot refused");
        CHECK(ggpt_seq_restore(ctx, 1, nullptr, 0) == GGPT_ERR_FORMAT, "empty snapshot refused");
        free(snap);

        // a span without rows must be held by the sequence
        {
            const float * none = nullptr;
            ggpt_span held[2] = {{GGPT_SPAN_TOKENS, (int32_t)prompts[1].size(), prompts[1].data(), nullptr, 0},
                                 {GGPT_SPAN_EMBD, 4, nullptr, none, 42}};
            ggpt_task_params p{};
            p.seq = 1;
            p.spans = held;
            p.n_spans = 2;
            p.generate = &g;
            ggpt_task * t = nullptr;
            CHECK(ggpt_task_start(ctx, &p, &t) == GGPT_OK, "a rows-less span with an id is accepted at start");
            int32_t left = 1;
            while (left > 0) ggpt_step(ctx, &left);
            CHECK(ggpt_task_status(t) == GGPT_ERR_INVALID_ARGUMENT, "and refused when the sequence does not hold it");
            ggpt_task_free(t);
            held[1].embd_id = 0;
            CHECK(ggpt_task_start(ctx, &p, &t) == GGPT_ERR_INVALID_ARGUMENT, "no rows and no id: refused at once");
        }
        ggpt_context_free(ctx);
    }

    // one task aborts mid-generation: the other two are unchanged
    {
        ggpt_context * ctx = context(m, 3);
        const ggpt_generate_params g = greedy();
        std::atomic<bool> stop{false};
        std::vector<ggpt_span> spans;
        std::vector<ggpt_task *> tasks = start_all(ctx, prompts, g, spans, 1, &stop);
        int32_t running = 3, steps = 0;
        while (running > 0) {
            ggpt_step(ctx, &running);
            if (++steps == 4) stop = true;
        }
        CHECK(ggpt_task_status(tasks[1]) == GGPT_ERR_ABORTED, "the aborted task says so");
        for (int i : {0, 2}) {
            ggpt_generate_result r{};
            ggpt_task_result(tasks[i], nullptr, &r);
            CHECK(tokens_of(r) == expected[i], "task %d unchanged by the other's abort", i);
        }
        ggpt_generate_result r1{};
        ggpt_task_result(tasks[1], nullptr, &r1);
        CHECK(r1.stop_reason == GGPT_STOP_ABORTED && r1.n_tokens < kTokens, "the aborted one stopped early (%d)",
              r1.n_tokens);
        ggpt_generate_result_free(&r1);
        for (ggpt_task * t : tasks) ggpt_task_free(t);
        ggpt_context_free(ctx);
    }

    ggpt_model_free(m);
    if (failures) {
        std::printf("%d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_tasks: ok\n");
    return 0;
}
