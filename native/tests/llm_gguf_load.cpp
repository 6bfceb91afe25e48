// llm_gguf_load.cpp - stock libllama loads the converter's LLM GGUF.
//
//   llm_gguf_load <llm.gguf> [n_vocab] [ids.txt logits.f32]
//   llm_gguf_load --check <file.gguf> [<expected error substring>]
//
// --check runs the core's LLM file check alone (core/llm_check.h, docs/LLM-FILE-CHECKS.md):
// without an expected substring the file must pass (prints whether the mmap path is usable);
// with one it must be refused with GGPT_ERR_FORMAT and a message containing it.
//
// With ids.txt (whitespace-separated token ids), those ids are evaluated instead of a tokenised
// string and the last position's logits are written as raw float32 to logits.f32 (for comparing
// with the golden outputs).
// Otherwise: checks the file with ggpt::check_llm_file, loads it with llama_model_load_from_file (CPU), checks the vocabulary size, that the
// ggpt.* media-token keys are there, that tokenisation works, and decodes a few tokens so the
// llama graph is built and run over every tensor. Exit code 0 on success.
#include "core/llm_check.h"
#include "llama.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static int fail(const char * what) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    return 1;
}

static int check_only(const char * path, const char * expect) {
    ggpt::LlmFileInfo info;
    std::string err;
    const ggpt_status st = ggpt::check_llm_file(path, info, err);
    if (!expect) {
        if (st != GGPT_OK) {
            std::fprintf(stderr, "FAIL: %s refused: %s\n", path, err.c_str());
            return 1;
        }
        std::printf("ok: %s n_vocab=%d n_embd=%d n_layer=%d bos=%d eos=%d mmap_aligned=%d\n", path, info.n_vocab,
                    info.n_embd, info.n_layer, info.bos, info.eos, info.mmap_aligned ? 1 : 0);
        return 0;
    }
    if (st != GGPT_ERR_FORMAT || err.find(expect) == std::string::npos || err.rfind(path, 0) != 0) {
        std::fprintf(stderr, "FAIL: %s: status %s, message '%s', expected FORMAT naming the file and '%s'\n", path,
                     ggpt_status_name(st), err.c_str(), expect);
        return 1;
    }
    std::printf("refused: %s\n", err.c_str());
    return 0;
}

int main(int argc, char ** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "--check") == 0) return check_only(argv[2], argc > 3 ? argv[3] : nullptr);
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <llm.gguf> [n_vocab] [ids.txt logits.f32] | --check <file> [expected]\n",
                     argv[0]);
        return 2;
    }
    ggpt::LlmFileInfo info;
    {
        std::string err;
        if (ggpt::check_llm_file(argv[1], info, err) != GGPT_OK) {
            std::fprintf(stderr, "FAIL: check_llm_file: %s\n", err.c_str());
            return 1;
        }
    }
    llama_log_set(
        [](ggml_log_level level, const char * text, void *) {
            if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
        },
        nullptr);
    llama_backend_init();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    if (!info.mmap_aligned) mp.load_mode = LLAMA_LOAD_MODE_NONE;  // as ggpt_model_load does
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fail("llama_model_load_from_file returned null");
    const llama_vocab * vocab = llama_model_get_vocab(model);

    const int n_vocab = llama_vocab_n_tokens(vocab);
    if (argc > 2 && n_vocab != std::atoi(argv[2])) return fail("n_vocab differs");
    char buf[256];
    if (llama_model_meta_val_str(model, "ggpt.token.im_patch", buf, sizeof buf) < 0)
        return fail("ggpt.token.im_patch missing");
    const int im_patch = std::atoi(buf);
    if (im_patch <= 0 || im_patch >= n_vocab) return fail("ggpt.token.im_patch out of range");
    if (llama_vocab_bos(vocab) != 1 || llama_vocab_eos(vocab) != 2) return fail("bos/eos ids");

    const std::string text = "Hello world";
    std::vector<llama_token> toks(64);
    int n = llama_tokenize(vocab, text.c_str(), (int)text.size(), toks.data(), (int)toks.size(), true, false);
    if (n <= 1) return fail("tokenize");
    toks.resize(n);
    if (argc > 4) {
        FILE * f = std::fopen(argv[3], "r");
        if (!f) return fail("cannot open ids file");
        toks.clear();
        int id;
        while (std::fscanf(f, "%d", &id) == 1) toks.push_back(id);
        std::fclose(f);
        n = (int)toks.size();
    }

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_threads = 2;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return fail("llama_init_from_model");
    if (llama_decode(ctx, llama_batch_get_one(toks.data(), (int)toks.size())) != 0) return fail("llama_decode");
    const float * logits = llama_get_logits_ith(ctx, -1);
    for (int i = 0; i < n_vocab; i++) {
        if (!std::isfinite(logits[i])) return fail("non-finite logits");
    }
    if (argc > 4) {
        FILE * f = std::fopen(argv[4], "wb");
        if (!f || std::fwrite(logits, sizeof(float), (size_t)n_vocab, f) != (size_t)n_vocab)
            return fail("cannot write logits");
        std::fclose(f);
    }
    std::printf("ok: %s n_vocab=%d n_embd=%d n_layer=%d tokens=%d im_patch=%d logit[0]=%g\n", argv[1], n_vocab,
                llama_model_n_embd(model), llama_model_n_layer(model), n, im_patch, logits[0]);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
