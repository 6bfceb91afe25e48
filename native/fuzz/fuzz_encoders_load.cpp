// fuzz_encoders_load - the encoders GGUF loader (native/src/encoders/loader.cpp) on arbitrary
// files: every input must load or fail with a status and a message, never crash, read out of
// bounds or leak. The input is the whole file. Inputs of odd length are loaded through the mmap
// path (weights point into the file), even ones are read into a backend buffer, so both paths
// are covered and each input reproduces on its own. Tensor data missing at the end is supplied as
// zeros (fuzz_common.h pad_gguf), so the seeds are the metadata alone. docs/RELIABILITY.md "Fuzzing".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/model.h"
#include "encoders/encoders.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz::MemFile file(data, size);
    fuzz::pad_gguf(file, size);
    ggpt_model model;
    model.params.use_mmap = (size & 1) != 0;
    std::string err;
    const ggpt_status st = ggpt::encoders_load(&model, file.path().c_str(), false, nullptr, nullptr, err);
    if (st == GGPT_OK) {
        // a file that loads must describe at least one tower of the width it declares
        if (!model.enc || model.enc->llm_n_embd <= 0) abort();
    } else if (err.empty() || model.enc) {
        fprintf(stderr, "failure without a message or with towers kept: %s\n", ggpt_status_name(st));
        abort();
    }
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s: %s\n", ggpt_status_name(st), err.c_str());
    return 0;
}
