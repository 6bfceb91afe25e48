// model.cpp (addon) - NativeModel: loadModel, tokens, prompt, generate, dispose.
// (Over 500 lines: loadModel's option parsing, RPC servers included, and every synchronous method
// of the class in one place.)
#include "model.h"
#include "scheduler.h"

#include "args.h"
#include "features.h"

#include <cmath>
#include <cstring>

namespace ggpt::addon {

// with the cancel flag the environment's teardown sets; on_error may add properties to the
// rejection error of a failed work (util.cpp)
Napi::Value run_detached(Napi::Env env, std::shared_ptr<Executor> exec, NativeModel::Work work, NativeModel::Done done,
                         std::vector<std::shared_ptr<Stream>> streams,
                         std::function<void(Napi::Env, Napi::Object)> on_error, CancelFlag cancel);
void register_cancel(Napi::Env env, Napi::Object exports);

namespace {

std::vector<std::pair<std::string, ExtensionMethod>> & extensions() {
    static std::vector<std::pair<std::string, ExtensionMethod>> list;  // filled by static initialisers
    return list;
}

// Loaded handles waiting to become a NativeModel (freed if that never happens).
struct Loaded {
    ggpt_model * model = nullptr;
    ggpt_context * ctx = nullptr;
    std::shared_ptr<Executor> exec;
    ~Loaded() {
        ggpt_context_free(ctx);
        ggpt_model_free(model);
    }
};

}  // namespace

MethodRegistrar::MethodRegistrar(const char * name, ExtensionMethod fn) { extensions().emplace_back(name, fn); }

// ---- lifetime -------------------------------------------------------------------------------------

Napi::Function NativeModel::define_class(Napi::Env env) {
    std::vector<PropertyDescriptor> props = {
        InstanceMethod<&NativeModel::info>("info"),
        InstanceMethod<&NativeModel::unusable>("unusable"),
        InstanceMethod<&NativeModel::tokenize>("tokenize"),
        InstanceMethod<&NativeModel::detokenize>("detokenize"),
        InstanceMethod<&NativeModel::token_to_piece>("tokenToPiece"),
        InstanceMethod<&NativeModel::prompt>("prompt"),
        InstanceMethod<&NativeModel::logits>("logits"),
        InstanceMethod<&NativeModel::token_embeddings>("tokenEmbeddings"),
        InstanceMethod<&NativeModel::generate>("generate"),
        InstanceMethod<&NativeModel::n_past>("nPast"),
        InstanceMethod<&NativeModel::clear>("clear"),
        InstanceMethod<&NativeModel::dispose>("dispose"),
    };
    for (auto & [name, fn] : extensions()) {
        props.push_back(InstanceMethod(name.c_str(), &NativeModel::call_extension, napi_default, (void *)fn));
    }
    return DefineClass(env, "NativeModel", props);
}

NativeModel::NativeModel(const Napi::CallbackInfo & info) : Napi::ObjectWrap<NativeModel>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
        throw Napi::TypeError::New(info.Env(), "NativeModel is created by loadModel()");
    }
    auto * loaded = info[0].As<Napi::External<Loaded>>().Data();
    model_ = loaded->model;
    ctx_ = loaded->ctx;
    exec_ = std::move(loaded->exec);
    sched_ = std::make_shared<Scheduler>(ctx_);
    loaded->model = nullptr;
    loaded->ctx = nullptr;
    state_ = env_state(info.Env());
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->models.insert(this);
}

NativeModel::~NativeModel() {
    // garbage-collected without dispose() (or after the environment's teardown freed the handles):
    // no operation can be running (each holds a reference)
    if (state_) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->models.erase(this);
    }
    ggpt_context_free(ctx_);
    ggpt_model_free(model_);
}

void NativeModel::check_alive(Napi::Env env) const {
    if (disposed_) throw make_error(env, "DISPOSED", "the model has been disposed");
}

void NativeModel::check_idle(Napi::Env env) const {
    check_alive(env);
    if (busy()) throw make_error(env, "BUSY", "another operation is running on this model");
}

Napi::Value NativeModel::call_extension(const Napi::CallbackInfo & info) {
    auto fn = (ExtensionMethod)info.Data();
    return fn(*this, info);
}

void NativeModel::op_finished(Napi::Env env, bool turn) {
    if (turn) active_turns_--;
    else busy_ = false;
    if (disposed_ && !freeing_ && !busy()) start_free(env);
}

Napi::Value NativeModel::dispose(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    if (disposed_ && !busy()) {
        d.Resolve(env.Undefined());  // already freed: no-op
        return d.Promise();
    }
    dispose_waiters_.push_back(d);
    if (!disposed_) {
        disposed_ = true;
        if (!busy()) start_free(env);  // else op_finished starts it
    }
    return d.Promise();
}

Napi::Value NativeModel::load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        if (!info[0].IsObject()) throw invalid(env, "expected an options object");
        Napi::Object o = info[0].As<Napi::Object>();
        CancelFlag cancel = cancel_flag(env, info[1]);
        auto stream = Stream::create(env, info[2], "groundinggpt.loadProgress");
        auto progress = std::make_shared<Progress>(stream, cancel);

        struct Baton {
            std::string llm, encoders;
            std::string failed_file;  // the path a failed load names (ggpt_load_error.file)
            ggpt_model_params mp;
            ggpt_context_params cp;
            Loaded loaded;
            std::vector<std::string> rpc;  // RPC servers (README "Several machines (RPC)")
            std::vector<const char *> rpc_ptrs;
            std::vector<float> split;
        };
        auto b = std::make_shared<Baton>();
        b->loaded.exec = std::make_shared<Executor>();
        b->llm = str(env, o, "llm", nullptr);
        if (o.Has("encoders") && !o.Get("encoders").IsUndefined()) b->encoders = str(env, o, "encoders", nullptr);
        b->mp = ggpt_model_default_params();
        b->mp.n_gpu_layers = (int32_t)num(env, o, "gpuLayers", b->mp.n_gpu_layers);
        b->mp.encoders_on_gpu = flag(env, o, "encodersOnGpu", true);
        b->mp.use_mmap = flag(env, o, "useMmap", true);
        const std::string tm = str(env, o, "towerMatmul", "auto");
        if (tm != "auto" && tm != "ggml" && tm != "int8")
            throw invalid(env, "towerMatmul must be 'auto', 'ggml' or 'int8'");
        b->mp.encoders_matmul = tm == "ggml"   ? GGPT_ENC_MATMUL_GGML
                                : tm == "int8" ? GGPT_ENC_MATMUL_INT8
                                               : GGPT_ENC_MATMUL_AUTO;
        // towers read at load (bit 1 << media kind); the others when first needed (towers.cpp)
        const double towers = num(env, o, "towers", 0);
        if (!(towers >= 0 && towers <= GGPT_TOWERS_ALL && towers == std::floor(towers)))
            throw invalid(env, "towers must be a mask of 0-7");
        b->mp.towers = (uint32_t)towers;
        b->mp.progress = Progress::progress_fn;
        b->mp.progress_user = progress.get();
        // remote devices: rpc: ['host:port', ...], tensorSplit: number[], towerRpcDevice, rpcTimeoutMs
        if (o.Has("rpc") && o.Get("rpc").IsArray()) {
            Napi::Array a = o.Get("rpc").As<Napi::Array>();
            if (a.Length() > GGPT_MAX_RPC_SERVERS) throw invalid(env, "too many RPC servers");
            for (uint32_t i = 0; i < a.Length(); i++) {
                if (!a.Get(i).IsString()) throw invalid(env, "rpc entries must be 'host:port' strings");
                b->rpc.push_back(a.Get(i).As<Napi::String>().Utf8Value());
            }
        }
        if (o.Has("tensorSplit") && o.Get("tensorSplit").IsArray()) {
            Napi::Array a = o.Get("tensorSplit").As<Napi::Array>();
            if (a.Length() > 64) throw invalid(env, "tensorSplit has too many entries");
            for (uint32_t i = 0; i < a.Length(); i++) {
                if (!a.Get(i).IsNumber()) throw invalid(env, "tensorSplit entries must be numbers");
                b->split.push_back(a.Get(i).As<Napi::Number>().FloatValue());
            }
        }
        b->mp.encoders_rpc_device = (int32_t)num(env, o, "towerRpcDevice", -1);
        b->mp.rpc_timeout_ms = (uint32_t)num(env, o, "rpcTimeoutMs", 0);
        b->cp = ggpt_context_default_params();
        b->cp.n_ctx = (uint32_t)num(env, o, "contextSize", 0);
        b->cp.n_batch = (uint32_t)num(env, o, "batchSize", 512);
        b->cp.n_ubatch = std::min<uint32_t>(b->cp.n_batch, 512);
        b->cp.n_seq = (uint32_t)num(env, o, "parallel", 1);
        b->cp.n_threads = (int32_t)num(env, o, "threads", 0);
        b->cp.n_threads_batch = (int32_t)num(env, o, "threadsBatch", 0);
        const std::string kv = str(env, o, "kvType", "f16");
        b->cp.kv_type = kv == "f32" ? GGPT_KV_F32 : kv == "q8_0" ? GGPT_KV_Q8_0 : GGPT_KV_F16;
        if (kv != "f16" && kv != "f32" && kv != "q8_0") throw invalid(env, "kvType must be 'f16', 'f32' or 'q8_0'");
        const std::string fa = str(env, o, "flashAttn", "auto");
        b->cp.flash_attn = fa == "on" ? 1 : fa == "off" ? 0 : -1;

        Work work = [b, progress, cancel](std::string & err) {
            b->mp.llm_path = b->llm.c_str();
            b->mp.encoders_path = b->encoders.empty() ? nullptr : b->encoders.c_str();
            for (const std::string & e : b->rpc) b->rpc_ptrs.push_back(e.c_str());
            b->mp.rpc_servers = b->rpc_ptrs.empty() ? nullptr : b->rpc_ptrs.data();
            b->mp.n_rpc_servers = (int32_t)b->rpc_ptrs.size();
            b->mp.tensor_split = b->split.empty() ? nullptr : b->split.data();
            b->mp.n_tensor_split = (int32_t)b->split.size();
            char msg[1024];
            ggpt_load_error le;
            ggpt_status st = ggpt_model_load_ex(&b->mp, &b->loaded.model, &le);
            if (st != GGPT_OK) {
                err = le.message;
                b->failed_file = le.file == GGPT_MODEL_FILE_LLM        ? b->llm
                                 : le.file == GGPT_MODEL_FILE_ENCODERS ? b->encoders
                                                                       : "";
                return st;
            }
            if (cancel->load()) {
                err = "loading was aborted";
                return GGPT_ERR_ABORTED;
            }
            st = ggpt_context_init(b->loaded.model, &b->cp, &b->loaded.ctx, msg, sizeof msg);
            if (st != GGPT_OK) err = msg;
            return st;
        };
        Done done = [b](Napi::Env env) -> Napi::Value {
            return addon_data(env).model_ctor.New({Napi::External<Loaded>::New(env, &b->loaded)});
        };
        // the rejection names the file that failed as `file` (the path as given; absent when no file is at fault)
        auto on_error = [b](Napi::Env env, Napi::Object e) {
            if (!b->failed_file.empty()) e.Set("file", Napi::String::New(env, b->failed_file));
        };
        return run_detached(env, b->loaded.exec, work, done, {stream}, on_error, cancel);
    } catch (const Napi::Error & e) {
        auto d = Napi::Promise::Deferred::New(env);
        d.Reject(e.Value());
        return d.Promise();
    }
}

// ---- synchronous methods --------------------------------------------------------------------------

Napi::Value NativeModel::info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_alive(env);
    ggpt_model_info mi;
    ggpt_model_get_info(model_, &mi);
    Napi::Object o = Napi::Object::New(env);
    o.Set("nVocab", mi.n_vocab);
    o.Set("nEmbd", mi.n_embd);
    o.Set("nLayer", mi.n_layer);
    o.Set("nHead", mi.n_head);
    o.Set("nCtxTrain", mi.n_ctx_train);
    o.Set("nCtx", (double)ggpt_context_n_ctx(ctx_));
    o.Set("nSeq", (double)ggpt_context_n_seq(ctx_));
    o.Set("kvBytes", (double)ggpt_context_kv_bytes(ctx_));
    o.Set("tokenBos", mi.token_bos);
    o.Set("tokenEos", mi.token_eos);
    Napi::Array media = Napi::Array::New(env, 3);
    Napi::Array rows = Napi::Array::New(env, 3);
    Napi::Array has = Napi::Array::New(env, 3);
    for (uint32_t m = 0; m < 3; m++) {
        Napi::Array t = Napi::Array::New(env, 3);
        for (uint32_t k = 0; k < 3; k++) t.Set(k, mi.media_tokens[m][k]);
        media.Set(m, t);
        rows.Set(m, mi.media_n_tokens[m]);
        has.Set(m, mi.has_media[m]);
    }
    o.Set("mediaTokens", media);
    o.Set("mediaRows", rows);
    o.Set("hasMedia", has);
    o.Set("llmParams", (double)mi.llm_n_params);
    o.Set("llmBytes", (double)mi.llm_size_bytes);
    o.Set("encodersParams", (double)mi.encoders_n_params);
    o.Set("encodersBytes", (double)mi.encoders_size_bytes);
    o.Set("llmDescription", mi.llm_desc);
    o.Set("backend", mi.backend);
    o.Set("imageSize", mi.image_size);
    o.Set("videoFrameSize", mi.video_frame_size);
    o.Set("videoMaxFrames", mi.video_max_frames);
    o.Set("audioSampleRate", mi.audio_sample_rate);
    o.Set("audioClips", mi.audio_n_clips);
    o.Set("audioClipSeconds", mi.audio_clip_seconds);
    // where each part runs (RPC devices: README "Several machines (RPC)")
    Napi::Array devices = Napi::Array::New(env, (size_t)mi.n_devices);
    for (int32_t i = 0; i < mi.n_devices; i++) {
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", mi.devices[i].name);
        d.Set("description", mi.devices[i].description);
        d.Set("layerBegin", mi.devices[i].layer_begin);
        d.Set("layerEnd", mi.devices[i].layer_end);
        d.Set("output", mi.devices[i].output);
        devices.Set((uint32_t)i, d);
    }
    o.Set("devices", devices);
    o.Set("towerDevice", mi.encoders_device);
    return o;
}

// null while the model is usable; the reason once a connection to one of its RPC servers failed
// (ggpt_model_usable: an atomic flag and a lookup, safe while a turn runs on the model's thread)
Napi::Value NativeModel::unusable(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_alive(env);
    char why[1024] = "";
    if (ggpt_model_usable(model_, why, sizeof why) == GGPT_OK) return env.Null();
    return Napi::String::New(env, why);
}

Napi::Value NativeModel::tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_alive(env);
    if (!info[0].IsString()) throw invalid(env, "expected a string");
    const std::string text = info[0].As<Napi::String>().Utf8Value();
    const bool add_bos = info[1].ToBoolean();
    const bool parse_media = info[2].ToBoolean();
    // SentencePiece gives at most one token per byte, plus the dummy prefix and BOS
    std::vector<int32_t> ids(text.size() + 2);
    int32_t n = ggpt_tokenize(model_, text.data(), text.size(), add_bos, parse_media, ids.data(), (int32_t)ids.size());
    if (n < 0 && n != INT32_MIN) {
        ids.resize((size_t)-n);
        n = ggpt_tokenize(model_, text.data(), text.size(), add_bos, parse_media, ids.data(), (int32_t)ids.size());
    }
    if (n < 0) throw make_error(env, "INTERNAL", "tokenization failed");
    Napi::Int32Array out = Napi::Int32Array::New(env, (size_t)n);
    if (n > 0) memcpy(out.Data(), ids.data(), (size_t)n * sizeof(int32_t));
    return out;
}

Napi::Value NativeModel::detokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_alive(env);
    Napi::Int32Array tokens = int32_array(env, info[0], "tokens");
    const bool strip = info[1].ToBoolean();
    std::string s(tokens.ElementLength() * 8 + 16, '\0');
    int32_t n =
        ggpt_detokenize(model_, tokens.Data(), (int32_t)tokens.ElementLength(), strip, s.data(), (int32_t)s.size());
    if (n < 0 && n != INT32_MIN) {
        s.resize((size_t)-n);
        n = ggpt_detokenize(model_, tokens.Data(), (int32_t)tokens.ElementLength(), strip, s.data(), (int32_t)s.size());
    }
    if (n < 0) throw make_error(env, "INTERNAL", "detokenization failed");
    return Napi::String::New(env, s.data(), (size_t)n);
}

Napi::Value NativeModel::token_to_piece(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_alive(env);
    if (!info[0].IsNumber()) throw invalid(env, "expected a token id");
    const int32_t token = info[0].As<Napi::Number>().Int32Value();
    char buf[256];
    int32_t n = ggpt_token_to_piece(model_, token, buf, sizeof buf);
    if (n == INT32_MIN) throw invalid(env, "token " + std::to_string(token) + " is not in the vocabulary");
    if (n < 0) {
        std::vector<char> big((size_t)-n);
        n = ggpt_token_to_piece(model_, token, big.data(), (int32_t)big.size());
        return Napi::Buffer<char>::Copy(env, big.data(), (size_t)std::max(n, 0));
    }
    return Napi::Buffer<char>::Copy(env, buf, (size_t)n);
}

Napi::Value NativeModel::logits(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_idle(env);
    const float * l = ggpt_get_logits(ctx_);
    if (!l) throw invalid(env, "no logits: evaluate a prompt first");
    ggpt_model_info mi;
    ggpt_model_get_info(model_, &mi);
    Napi::Float32Array out = Napi::Float32Array::New(env, (size_t)mi.n_vocab);
    memcpy(out.Data(), l, (size_t)mi.n_vocab * sizeof(float));
    return out;
}

Napi::Value NativeModel::token_embeddings(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    check_idle(env);
    Napi::Int32Array tokens = int32_array(env, info[0], "tokens");
    ggpt_model_info mi;
    ggpt_model_get_info(model_, &mi);
    Napi::Float32Array out = Napi::Float32Array::New(env, tokens.ElementLength() * (size_t)mi.n_embd);
    const ggpt_status st = ggpt_token_embeddings(ctx_, tokens.Data(), (int32_t)tokens.ElementLength(), out.Data());
    if (st != GGPT_OK) throw status_error(env, st, ggpt_context_last_error(ctx_));
    return out;
}

Napi::Value NativeModel::n_past(const Napi::CallbackInfo & info) {
    check_idle(info.Env());
    return Napi::Number::New(info.Env(), ggpt_context_n_past(ctx_));
}

Napi::Value NativeModel::clear(const Napi::CallbackInfo & info) {
    check_idle(info.Env());
    ggpt_context_clear(ctx_);
    return info.Env().Undefined();
}

// ---- asynchronous methods -------------------------------------------------------------------------

Napi::Value NativeModel::prompt(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        check_alive(env);
        if (!info[0].IsArray()) throw invalid(env, "expected an array of spans");
        Napi::Array arr = info[0].As<Napi::Array>();
        CancelFlag cancel = cancel_flag(env, info[1]);
        auto stream = Stream::create(env, info[2], "groundinggpt.promptProgress");
        auto progress = std::make_shared<Progress>(stream, cancel);
        const int32_t n_embd = [&] {
            ggpt_model_info mi;
            ggpt_model_get_info(model_, &mi);
            return mi.n_embd;
        }();

        // copies of the inputs: the worker must not touch JS memory
        struct Baton {
            std::vector<std::vector<int32_t>> tokens;
            std::vector<std::vector<float>> embd;
            std::vector<std::shared_ptr<const FeatureRows>> held;  // feature spans point into these
            std::vector<ggpt_span> spans;
            ggpt_eval_result result{};
        };
        auto b = std::make_shared<Baton>();
        const uint32_t n = arr.Length();
        b->spans.resize(n);
        for (uint32_t i = 0; i < n; i++) {
            Napi::Value v = arr.Get(i);
            if (!v.IsObject()) throw invalid(env, "span " + std::to_string(i) + " is not an object");
            Napi::Object so = v.As<Napi::Object>();
            ggpt_span & sp = b->spans[i];
            memset(&sp, 0, sizeof sp);
            if (so.Has("tokens")) {
                Napi::Int32Array t = int32_array(env, so.Get("tokens"), "span tokens");
                b->tokens.emplace_back(t.Data(), t.Data() + t.ElementLength());
                sp.type = GGPT_SPAN_TOKENS;
                sp.n = (int32_t)t.ElementLength();
            } else if (so.Has("features")) {
                // rows kept native (features.h): no copy
                auto rows = NativeFeatures::rows_of(env, so.Get("features"), "span " + std::to_string(i) + " features");
                if (rows->width != n_embd)
                    throw invalid(env, "span " + std::to_string(i) + ": features are " + std::to_string(rows->width) +
                                           " wide, the LLM takes " + std::to_string(n_embd));
                const uint64_t id = span_id(env, so, "span " + std::to_string(i));
                b->held.push_back(rows);
                sp.type = GGPT_SPAN_EMBD;
                sp.n = rows->rows;
                sp.embd = rows->data.data();
                sp.embd_id = id;
            } else if (so.Has("embd")) {
                Napi::Value ev = so.Get("embd");
                if (!ev.IsTypedArray() || ev.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
                    throw invalid(env, "span " + std::to_string(i) + ": embd must be a Float32Array");
                Napi::Float32Array e = ev.As<Napi::Float32Array>();
                const double rows = num(env, so, "rows", -1);
                if (rows < 1 || rows != std::floor(rows) || (size_t)rows * (size_t)n_embd != e.ElementLength())
                    throw invalid(env, "span " + std::to_string(i) + ": embd must hold rows x " +
                                           std::to_string(n_embd) + " floats");
                const uint64_t id = span_id(env, so, "span " + std::to_string(i));
                b->embd.emplace_back(e.Data(), e.Data() + e.ElementLength());
                sp.type = GGPT_SPAN_EMBD;
                sp.n = (int32_t)rows;
                sp.embd_id = id;
            } else {
                throw invalid(env, "span " + std::to_string(i) + " has neither tokens nor embd");
            }
        }
        // pointers after every vector is in place
        size_t ti = 0, ei = 0;
        for (auto & sp : b->spans) {
            if (sp.type == GGPT_SPAN_TOKENS) sp.tokens = b->tokens[ti++].data();
            else if (!sp.embd) sp.embd = b->embd[ei++].data();
        }

        ggpt_context * ctx = ctx_;
        Work work = [b, ctx, cancel, progress](std::string & err) {
            ggpt_eval_params ep = ggpt_eval_default_params();
            ep.abort = cancel_abort_fn;
            ep.abort_user = cancel.get();
            ep.progress = Progress::progress_fn;
            ep.progress_user = progress.get();
            const ggpt_status st = ggpt_prompt(ctx, b->spans.data(), b->spans.size(), &ep, &b->result);
            if (st != GGPT_OK) err = ggpt_context_last_error(ctx);
            return st;
        };
        Done done = [b](Napi::Env env) -> Napi::Value { return eval_result(env, b->result); };
        return run_op(env, work, done, {stream}, cancel);
    } catch (const Napi::Error & e) {
        auto d = Napi::Promise::Deferred::New(env);
        d.Reject(e.Value());
        return d.Promise();
    }
}

Napi::Value NativeModel::generate(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        check_alive(env);
        if (!info[0].IsObject()) throw invalid(env, "expected an options object");
        Napi::Object o = info[0].As<Napi::Object>();
        CancelFlag cancel = cancel_flag(env, info[1]);
        auto stream = Stream::create(env, info[2], "groundinggpt.onToken");

        struct Baton {
            GenerateArgs args;
            ggpt_generate_result result{};
            ~Baton() { ggpt_generate_result_free(&result); }
        };
        auto b = std::make_shared<Baton>();
        b->args.parse(env, o);
        b->args.stream_tokens(stream, cancel);

        ggpt_context * ctx = ctx_;
        Work work = [b, ctx](std::string & err) {
            const ggpt_status st = ggpt_generate(ctx, &b->args.p, &b->result);
            if (st == GGPT_ERR_ABORTED) return GGPT_OK;  // resolves with stopReason 'aborted'
            if (st != GGPT_OK) err = ggpt_context_last_error(ctx);
            return st;
        };
        Done done = [b](Napi::Env env) -> Napi::Value { return generate_result(env, b->result); };
        return run_op(env, work, done, {stream}, cancel);
    } catch (const Napi::Error & e) {
        auto d = Napi::Promise::Deferred::New(env);
        d.Reject(e.Value());
        return d.Promise();
    }
}

// ---- registration ---------------------------------------------------------------------------------

static Napi::Value LoadModel(const Napi::CallbackInfo & info) { return NativeModel::load(info); }

void RegisterModel(Napi::Env env, Napi::Object exports) {
    env_state(env);  // registers the environment's cleanup hook before any thread-safe function exists
    register_cancel(env, exports);
    addon_data(env).model_ctor = Napi::Persistent(NativeModel::define_class(env));
    NativeFeatures::define(env);
    exports.Set("loadModel", Napi::Function::New(env, LoadModel, "loadModel"));
}

}  // namespace ggpt::addon
