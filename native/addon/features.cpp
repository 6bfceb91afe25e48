// features.cpp (addon) - see features.h.
#include "features.h"

#include <cstring>

#include "args.h"
#include "model.h"

namespace ggpt::addon {

void NativeFeatures::define(Napi::Env env) {
    Napi::Function cls = DefineClass(env, "NativeFeatures",
                                     {
                                         InstanceAccessor<&NativeFeatures::kind>("kind"),
                                         InstanceAccessor<&NativeFeatures::rows>("rows"),
                                         InstanceAccessor<&NativeFeatures::width>("width"),
                                         InstanceAccessor<&NativeFeatures::bytes>("bytes"),
                                         InstanceAccessor<&NativeFeatures::released>("released"),
                                         InstanceMethod<&NativeFeatures::data>("data"),
                                         InstanceMethod<&NativeFeatures::release>("release"),
                                     });
    addon_data(env).features_ctor = Napi::Persistent(cls);
}

Napi::Object NativeFeatures::wrap(Napi::Env env, std::shared_ptr<const FeatureRows> rows) {
    Napi::Object o = addon_data(env).features_ctor.New({});
    NativeFeatures * f = Unwrap(o);
    f->rows_ = std::move(rows);
    f->external_ = (int64_t)(f->rows_->data.size() * sizeof(float));
    int64_t ignored;
    napi_adjust_external_memory(env, f->external_, &ignored);
    return o;
}

std::shared_ptr<const FeatureRows> NativeFeatures::rows_of(Napi::Env env, const Napi::Value & v,
                                                           const std::string & what) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).features_ctor.Value()))
        throw invalid(env, what + " must be a NativeFeatures handle");
    NativeFeatures * f = Unwrap(v.As<Napi::Object>());
    if (!f->rows_) throw invalid(env, what + ": the features were released");
    return f->rows_;
}

NativeFeatures::NativeFeatures(const Napi::CallbackInfo & info) : Napi::ObjectWrap<NativeFeatures>(info) {}

NativeFeatures::~NativeFeatures() { drop(Env()); }

void NativeFeatures::drop(napi_env env) {
    rows_.reset();
    if (external_ > 0) {
        int64_t ignored;
        napi_adjust_external_memory(env, -external_, &ignored);  // status ignored: may run at teardown
        external_ = 0;
    }
}

Napi::Value NativeFeatures::kind(const Napi::CallbackInfo & info) {
    if (!rows_) return info.Env().Undefined();
    const ggpt_media m = rows_->media;
    return Napi::String::New(info.Env(), m == GGPT_MEDIA_IMAGE ? "image" : m == GGPT_MEDIA_VIDEO ? "video" : "audio");
}

Napi::Value NativeFeatures::rows(const Napi::CallbackInfo & info) {
    return Napi::Number::New(info.Env(), rows_ ? rows_->rows : 0);
}

Napi::Value NativeFeatures::width(const Napi::CallbackInfo & info) {
    return Napi::Number::New(info.Env(), rows_ ? rows_->width : 0);
}

Napi::Value NativeFeatures::bytes(const Napi::CallbackInfo & info) {
    return Napi::Number::New(info.Env(), rows_ ? (double)(rows_->data.size() * sizeof(float)) : 0.0);
}

Napi::Value NativeFeatures::released(const Napi::CallbackInfo & info) { return Napi::Boolean::New(info.Env(), !rows_); }

// data(): a copy of the rows as a Float32Array (rows x width).
Napi::Value NativeFeatures::data(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!rows_) {
        invalid(env, "data(): the features were released").ThrowAsJavaScriptException();
        return env.Undefined();
    }
    Napi::Float32Array a = Napi::Float32Array::New(env, rows_->data.size());
    if (!rows_->data.empty()) std::memcpy(a.Data(), rows_->data.data(), rows_->data.size() * sizeof(float));
    return a;
}

// release(): frees the rows now (an operation that holds them keeps them until it ends).
Napi::Value NativeFeatures::release(const Napi::CallbackInfo & info) {
    drop(info.Env());
    return info.Env().Undefined();
}

}  // namespace ggpt::addon
