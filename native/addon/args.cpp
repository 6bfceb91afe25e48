// args.cpp (addon) - see args.h.
#include "args.h"

#include <cmath>
#include <cstring>

namespace ggpt::addon {

Napi::Error invalid(Napi::Env env, const std::string & msg) { return make_error(env, "INVALID_ARGUMENT", msg); }

Napi::Value rejected(Napi::Env env, const Napi::Error & e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
}

double num(Napi::Env env, const Napi::Object & o, const char * key, double fallback) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
        throw invalid(env, std::string("option ") + key + " must be a finite number");
    return v.As<Napi::Number>().DoubleValue();
}

bool flag(Napi::Env env, const Napi::Object & o, const char * key, bool fallback) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsBoolean()) throw invalid(env, std::string("option ") + key + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
}

std::string str(Napi::Env env, const Napi::Object & o, const char * key, const char * fallback) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() && fallback) return fallback;
    if (!v.IsString()) throw invalid(env, std::string("option ") + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
}

Napi::Int32Array int32_array(Napi::Env env, const Napi::Value & v, const char * name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        throw invalid(env, std::string("expected an Int32Array for ") + name);
    return v.As<Napi::Int32Array>();
}

int32_t int_arg(Napi::Env env, const Napi::Value & v, const char * name, int64_t lo, int64_t hi) {
    if (!v.IsNumber()) throw invalid(env, std::string(name) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d) || d < (double)lo || d > (double)hi)
        throw invalid(env, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "], got " + v.ToString().Utf8Value());
    return (int32_t)d;
}

uint64_t span_id(Napi::Env env, const Napi::Object & span, const std::string & what) {
    Napi::Value v = span.Get("id");
    if (v.IsUndefined()) return 0;
    if (!v.IsBigInt()) throw invalid(env, what + ": id must be a bigint");
    bool lossless = true;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

ggpt_encode_params encode_params(const CancelFlag & cancel, Progress * progress) {
    ggpt_encode_params p = ggpt_encode_default_params();
    p.abort = cancel_abort_fn;
    p.abort_user = cancel.get();
    if (progress) {
        p.progress = Progress::progress_fn;
        p.progress_user = progress;
    }
    return p;
}

void GenerateArgs::parse(Napi::Env env, const Napi::Object & o) {
    p = ggpt_generate_default_params();
    p.max_tokens = (int32_t)num(env, o, "maxTokens", p.max_tokens);
    p.temperature = (float)num(env, o, "temperature", p.temperature);
    p.top_k = (int32_t)num(env, o, "topK", p.top_k);
    p.top_p = (float)num(env, o, "topP", p.top_p);
    p.min_p = (float)num(env, o, "minP", p.min_p);
    p.repeat_penalty = (float)num(env, o, "repeatPenalty", p.repeat_penalty);
    p.repeat_last_n = (int32_t)num(env, o, "repeatLastN", p.repeat_last_n);
    p.seed = (uint32_t)(int64_t)num(env, o, "seed", (double)p.seed);
    p.stop_at_eos = flag(env, o, "stopAtEos", true);
    Napi::Value sv = o.Get("stop");
    if (!sv.IsUndefined()) {
        if (!sv.IsArray()) throw invalid(env, "option stop must be an array of strings");
        Napi::Array sa = sv.As<Napi::Array>();
        for (uint32_t i = 0; i < sa.Length(); i++) {
            if (!sa.Get(i).IsString()) throw invalid(env, "option stop must be an array of strings");
            stop.push_back(sa.Get(i).As<Napi::String>().Utf8Value());
        }
    }
    for (auto & s : stop) stop_ptrs.push_back(s.c_str());
    p.stop = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    p.n_stop = stop_ptrs.size();
}

void GenerateArgs::stream_tokens(const std::shared_ptr<Stream> & stream, const CancelFlag & cancel, int32_t tag) {
    stream_ = stream;
    cancel_ = cancel;
    tag_ = tag;
    // abort when cancelled or when the token callback threw
    p.abort = [](void * user) {
        auto * a = (GenerateArgs *)user;
        return a->cancel_->load() || (a->stream_ && a->stream_->failed.load());
    };
    p.abort_user = this;
    if (!stream) return;
    p.on_token = [](int32_t token, const char * text, size_t len, void * user) {
        auto * a = (GenerateArgs *)user;
        std::string piece(text, len);
        a->stream_->push(
            [token, tag = a->tag_, piece = std::move(piece)](napi_env env, std::vector<napi_value> & args) {
                napi_value g, t, s;
                if (napi_create_int32(env, tag, &g) != napi_ok || napi_create_int32(env, token, &t) != napi_ok ||
                    napi_create_string_utf8(env, piece.data(), piece.size(), &s) != napi_ok)
                    return false;
                if (tag >= 0) args = {g, t, s};
                else args = {t, s};
                return true;
            });
        return !a->stream_->failed.load();
    };
    p.on_token_user = this;
}

Napi::Object generate_result(Napi::Env env, const ggpt_generate_result & r) {
    Napi::Object o = Napi::Object::New(env);
    Napi::Int32Array t = Napi::Int32Array::New(env, (size_t)r.n_tokens);
    if (r.n_tokens > 0) memcpy(t.Data(), r.tokens, (size_t)r.n_tokens * sizeof(int32_t));
    o.Set("tokens", t);
    o.Set("text", Napi::String::New(env, r.text ? r.text : "", r.text_len));
    const char * reason = "max_tokens";
    switch (r.stop_reason) {
        case GGPT_STOP_EOS: reason = "eos"; break;
        case GGPT_STOP_STRING: reason = "stop"; break;
        case GGPT_STOP_MAX_TOKENS: reason = "max_tokens"; break;
        case GGPT_STOP_ABORTED: reason = "aborted"; break;
        case GGPT_STOP_CONTEXT_FULL: reason = "context_full"; break;
        case GGPT_STOP_NONE: break;
    }
    o.Set("stopReason", reason);
    o.Set("ms", r.t_ms);
    return o;
}

Napi::Object eval_result(Napi::Env env, const ggpt_eval_result & r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("nPrompt", r.n_prompt);
    o.Set("nReused", r.n_reused);
    o.Set("nEvaluated", r.n_evaluated);
    o.Set("ms", r.t_ms);
    return o;
}

}  // namespace ggpt::addon
