// args.h (addon) - reading the raw interface's arguments (src/native.ts) into the C API's
// parameter structs, and its results back into JS values, for the methods that share them
// (prompt, generate, encode*, turn). src/ validated every value already; these checks only keep a
// wrong type from reaching the core.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "groundinggpt.h"
#include "model.h"

namespace ggpt::addon {

// An Error with code INVALID_ARGUMENT.
Napi::Error invalid(Napi::Env env, const std::string & msg);
// A Promise rejected with e (async methods never throw synchronously).
Napi::Value rejected(Napi::Env env, const Napi::Error & e);

// Option readers: the fallback when the key is undefined.
double num(Napi::Env env, const Napi::Object & o, const char * key, double fallback);
bool flag(Napi::Env env, const Napi::Object & o, const char * key, bool fallback);
std::string str(Napi::Env env, const Napi::Object & o, const char * key, const char * fallback);
Napi::Int32Array int32_array(Napi::Env env, const Napi::Value & v, const char * name);
// An integer argument in [lo, hi].
int32_t int_arg(Napi::Env env, const Napi::Value & v, const char * name, int64_t lo, int64_t hi);
// A span's `id` (its rows' identity for KV-cache reuse): a bigint, or 0 (never reuse) when absent.
uint64_t span_id(Napi::Env env, const Napi::Object & span, const std::string & what);
// Encode parameters polling cancel and reporting to progress (may be null).
ggpt_encode_params encode_params(const CancelFlag & cancel, Progress * progress);

// Generation options -> ggpt_generate_params: the core's defaults for absent fields
// (ggpt_generate_default_params), the stop strings owned here. Not copyable: params point into it.
struct GenerateArgs {
    ggpt_generate_params p{};
    std::vector<std::string> stop;
    std::vector<const char *> stop_ptrs;
    GenerateArgs() = default;
    GenerateArgs(const GenerateArgs &) = delete;
    GenerateArgs & operator=(const GenerateArgs &) = delete;
    void parse(Napi::Env env, const Napi::Object & o);
    // Streams each token through stream as (token id, text piece), or (tag, token id, text piece)
    // with a tag >= 0; aborts on cancel or when the callback threw.
    void stream_tokens(const std::shared_ptr<Stream> & stream, const CancelFlag & cancel, int32_t tag = -1);

private:
    std::shared_ptr<Stream> stream_;
    CancelFlag cancel_;
    int32_t tag_ = -1;
};

// { tokens: Int32Array, text, stopReason, ms }
Napi::Object generate_result(Napi::Env env, const ggpt_generate_result & r);
// { nPrompt, nReused, nEvaluated, ms }
Napi::Object eval_result(Napi::Env env, const ggpt_eval_result & r);

}  // namespace ggpt::addon
