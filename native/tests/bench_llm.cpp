// bench_llm.cpp - prompt processing and generation through the C API only (no Node), to compare
// with llama-bench on the same file and with bench/llm.mjs (the same core inside a Node process).
// Built with the C tests; not run by the test suite.
//
//   build/cmake/bench_llm <llm.gguf> [threads 2] [reps 3] [pp 512] [tg 32]
//
// ppN: [BOS, N-1 pseudo-random ids] on an empty cache, t/s = N / ggpt_prompt time; tgN: after
// a 1-token prompt, N+1 greedy tokens, t/s = N / ggpt_generate time. One warm-up of each.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "groundinggpt.h"

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <llm.gguf> [threads] [reps] [pp] [tg]\n", argv[0]);
        return 2;
    }
    const int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 3;
    const int pp = argc > 4 ? atoi(argv[4]) : 512, tg = argc > 5 ? atoi(argv[5]) : 32;
    char err[1024];
    ggpt_model_params mp = ggpt_model_default_params();
    mp.llm_path = argv[1];
    ggpt_model * model = nullptr;
    if (ggpt_model_load(&mp, &model, err, sizeof err) != GGPT_OK) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    ggpt_context_params cp = ggpt_context_default_params();
    cp.n_ctx = (uint32_t)(pp + tg + 64);
    cp.n_batch = 512;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    ggpt_context * ctx = nullptr;
    if (ggpt_context_init(model, &cp, &ctx, err, sizeof err) != GGPT_OK) {
        fprintf(stderr, "context: %s\n", err);
        return 1;
    }
    ggpt_model_info mi;
    ggpt_model_get_info(model, &mi);
    std::vector<int32_t> toks(pp);
    uint32_t seed = 42;
    toks[0] = mi.token_bos;
    for (int i = 1; i < pp; i++) toks[i] = (int32_t)((seed = seed * 1664525u + 1013904223u) % (uint32_t)mi.n_vocab);

    for (int r = -1; r < reps; r++) {
        ggpt_context_clear(ctx);
        ggpt_span sp = {GGPT_SPAN_TOKENS, pp, toks.data(), nullptr, 0};
        ggpt_eval_result res;
        if (ggpt_prompt(ctx, &sp, 1, nullptr, &res) != GGPT_OK) {
            fprintf(stderr, "prompt: %s\n", ggpt_context_last_error(ctx));
            return 1;
        }
        if (r >= 0) printf("pp%d %.2f t/s\n", pp, pp / res.t_ms * 1000.0);
    }
    for (int r = -1; r < reps; r++) {
        ggpt_context_clear(ctx);
        ggpt_span sp = {GGPT_SPAN_TOKENS, 1, toks.data(), nullptr, 0};
        if (ggpt_prompt(ctx, &sp, 1, nullptr, nullptr) != GGPT_OK) return 1;
        ggpt_generate_params gp = ggpt_generate_default_params();
        gp.max_tokens = tg + 1;
        gp.stop_at_eos = false;
        ggpt_generate_result gr;
        if (ggpt_generate(ctx, &gp, &gr) != GGPT_OK) {
            fprintf(stderr, "generate: %s\n", ggpt_context_last_error(ctx));
            return 1;
        }
        const double ms = gr.t_ms;
        ggpt_generate_result_free(&gr);
        if (r >= 0) printf("tg%d %.2f t/s\n", tg, tg / ms * 1000.0);
    }
    ggpt_context_free(ctx);
    ggpt_model_free(model);
    return 0;
}
