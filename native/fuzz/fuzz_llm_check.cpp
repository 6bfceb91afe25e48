// fuzz_llm_check - the LLM GGUF validation (native/src/core/llm_check.cpp, docs/LLM-FILE-CHECKS.md)
// on arbitrary files: it must answer OK or a status with a message, never crash. When it
// answers OK, the file is then loaded as a text-only model through ggpt_model_load (libllama):
// a file the check accepts must not reach a GGML_ASSERT there either (set FUZZ_LLM_LOAD=0 to
// fuzz the check alone). The input is the file; tensor data missing at its end is supplied as
// zeros (fuzz_common.h pad_gguf). docs/RELIABILITY.md "Fuzzing".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/llm_check.h"
#include "fuzz_common.h"

static bool g_load = true;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    fuzz::init();
    const char * e = getenv("FUZZ_LLM_LOAD");
    g_load = !(e && e[0] == '0');
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz::MemFile file(data, size);
    fuzz::pad_gguf(file, size);
    std::string err;
    ggpt::LlmFileInfo info;
    const ggpt_status st = ggpt::check_llm_file(file.path(), info, err);
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "check: %s: %s\n", ggpt_status_name(st), err.c_str());
    if (st != GGPT_OK) {
        if (err.empty()) abort();
        return 0;
    }
    if (info.n_vocab <= 0 || info.n_embd <= 0 || info.n_layer <= 0) abort();
    if (!g_load) return 0;
    ggpt_model_params mp = ggpt_model_default_params();
    mp.llm_path = file.path().c_str();
    mp.encoders_path = nullptr;
    mp.n_gpu_layers = 0;
    mp.use_mmap = (size & 1) != 0;  // both load paths, each input reproducible on its own
    ggpt_model * model = nullptr;
    char msg[512] = "";
    const ggpt_status ls = ggpt_model_load(&mp, &model, msg, sizeof msg);
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "load: %s: %s\n", ggpt_status_name(ls), msg);
    if (ls == GGPT_OK) {
        ggpt_model_free(model);
    } else if (model || !msg[0]) {
        abort();
    }
    return 0;
}
