// preprocess.cpp (addon) - imagePreprocess (synchronous) and audioPreprocess (Promise, AsyncWorker)
// over the core's media front ends. JS arguments are checked here; the numeric work is the core's.
#include <napi.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "groundinggpt.h"
#include "preprocess/audio.h"
#include "preprocess/image.h"

namespace ggpt::addon {

// Error with `code` = the core's status name upper-cased (src/native.ts conventions).
static Napi::Error status_error(Napi::Env env, ggpt_status st, const std::string & msg) {
    std::string code = ggpt_status_name(st);
    for (char & c : code) c = (char)std::toupper((unsigned char)c);
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    return e;
}

static bool is_int(const Napi::Value & v, double lo, double hi) {
    if (!v.IsNumber()) return false;
    const double d = v.As<Napi::Number>().DoubleValue();
    return std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi;
}

// imagePreprocess(rgb: Uint8Array, width, height, stride, params?: {size, mean[3], std[3]})
//   -> { resized: Uint8Array (HWC), pixels: Float32Array (CHW), geometry }
static Napi::Value ImagePreprocess(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto bad = [&](const std::string & m) { return status_error(env, GGPT_ERR_INVALID_ARGUMENT, m); };
    if (info.Length() < 4 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw bad("imagePreprocess: expected (rgb: Uint8Array, width, height, stride, params?)");
    }
    for (int i = 1; i <= 3; ++i) {
        if (!is_int(info[i], 0, 2147483647.0))
            throw bad("imagePreprocess: width, height and stride must be integers >= 0");
    }
    Napi::Uint8Array rgb = info[0].As<Napi::Uint8Array>();
    const int32_t width = info[1].As<Napi::Number>().Int32Value();
    const int32_t height = info[2].As<Napi::Number>().Int32Value();
    const int32_t stride = info[3].As<Napi::Number>().Int32Value();

    ImagePreParams p;
    if (info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull()) {
        if (!info[4].IsObject()) throw bad("imagePreprocess: params must be an object {size, mean, std}");
        Napi::Object o = info[4].As<Napi::Object>();
        if (!is_int(o.Get("size"), 1, 4096)) throw bad("imagePreprocess: params.size must be an integer in [1, 4096]");
        p.size = o.Get("size").As<Napi::Number>().Int32Value();
        for (const char * key : {"mean", "std"}) {
            Napi::Value v = o.Get(key);
            if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) {
                throw bad(std::string("imagePreprocess: params.") + key + " must be an array of 3 numbers");
            }
            Napi::Array a = v.As<Napi::Array>();
            for (uint32_t c = 0; c < 3; ++c) {
                if (!a.Get(c).IsNumber())
                    throw bad(std::string("imagePreprocess: params.") + key + " must hold numbers");
                (key[0] == 'm' ? p.mean : p.std)[c] = (float)a.Get(c).As<Napi::Number>().DoubleValue();
            }
        }
    }
    if (width > 0 && height > 0 && (int64_t)stride >= 3 * (int64_t)width) {
        const uint64_t need = (uint64_t)stride * (uint64_t)(height - 1) + 3ull * (uint64_t)width;
        if (rgb.ByteLength() < need) {
            throw bad("imagePreprocess: rgb holds " + std::to_string(rgb.ByteLength()) + " bytes; " +
                      std::to_string(need) + " are needed for " + std::to_string(width) + "x" + std::to_string(height) +
                      " with stride " + std::to_string(stride));
        }
    }
    std::string err;
    if (!image_params_check(p, err)) throw bad("imagePreprocess: " + err);

    const size_t n = (size_t)p.size * p.size;
    Napi::Uint8Array resized = Napi::Uint8Array::New(env, n * 3);
    Napi::Float32Array pixels = Napi::Float32Array::New(env, n * 3);
    ImageGeometry g;
    if (!image_pad_resize(p, rgb.Data(), width, height, stride, resized.Data(), &g, err)) {
        throw bad("imagePreprocess: " + err);
    }
    image_normalize(p, resized.Data(), pixels.Data());

    Napi::Object geo = Napi::Object::New(env);
    geo.Set("width", g.width);
    geo.Set("height", g.height);
    geo.Set("side", g.side);
    geo.Set("offsetX", g.offset_x);
    geo.Set("offsetY", g.offset_y);
    Napi::Object out = Napi::Object::New(env);
    out.Set("resized", resized);
    out.Set("pixels", pixels);
    out.Set("geometry", geo);
    return out;
}

// The work runs on the pool; inputs and outputs are JS typed arrays kept alive by references and
// allocated on the main thread (no copies, no external buffers: Electron forbids those).
class AudioWorker : public Napi::AsyncWorker {
public:
    AudioWorker(Napi::Env env, std::vector<Napi::Float32Array> & inputs, int32_t rate, bool want_wave)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), rate_(rate) {
        for (auto & a : inputs) {
            in_refs_.push_back(Napi::Persistent(a));
            in_.push_back(a.Data());
        }
        n_ = (int64_t)inputs[0].ElementLength();
        const AudioPreParams p;
        p_ = p;
        Napi::Float32Array fb = Napi::Float32Array::New(env, (size_t)p.n_clips * p.n_mels * p.target_len);
        fbank_ptr_ = fb.Data();
        fbank_ = Napi::Persistent(fb);
        if (want_wave) {
            n_out_ = audio_resampled_len(n_, rate, p.sample_rate);
            Napi::Float32Array wv = Napi::Float32Array::New(env, (size_t)n_out_ * inputs.size());
            wave_ptr_ = wv.Data();
            wave_ = Napi::Persistent(wv);
        }
    }
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        try {
            // no JS calls here: only the raw pointers taken on the main thread
            ok_ = audio_preprocess(p_, in_.data(), (int32_t)in_.size(), n_, rate_, fbank_ptr_, wave_ptr_, info_, err_);
            if (!ok_) status_ = GGPT_ERR_INVALID_ARGUMENT;
        } catch (const std::bad_alloc &) {
            ok_ = false;
            status_ = GGPT_ERR_OUT_OF_MEMORY;
            err_ = "out of memory in audio preprocessing";
        } catch (const std::exception & e) {
            ok_ = false;
            status_ = GGPT_ERR_INTERNAL;
            err_ = e.what();
        }
    }
    // Nothing may throw out of these: at an environment's teardown (a Worker ended while this ran)
    // JS cannot run, settling fails, and an exception would reach Node and abort the process.
    void OnOK() override {
        try {
            settle();
        } catch (...) {}
    }
    void OnError(const Napi::Error & e) override {
        try {
            deferred_.Reject(e.Value());
        } catch (...) {}
    }

private:
    void settle() {
        Napi::Env env = Env();
        if (!ok_) {
            deferred_.Reject(status_error(env, status_, "audioPreprocess: " + err_).Value());
            return;
        }
        Napi::Object out = Napi::Object::New(env);
        out.Set("fbank", fbank_.Value());
        if (!wave_.IsEmpty()) {
            Napi::Float32Array all = wave_.Value();
            Napi::Array chans = Napi::Array::New(env, in_.size());
            for (size_t c = 0; c < in_.size(); ++c) {
                chans.Set((uint32_t)c, Napi::Float32Array::New(env, (size_t)n_out_, all.ArrayBuffer(),
                                                               all.ByteOffset() + c * (size_t)n_out_ * sizeof(float)));
            }
            out.Set("wave16k", chans);
        }
        Napi::Object inf = Napi::Object::New(env);
        inf.Set("samples16k", (double)info_.n_samples_out);
        inf.Set("duration", info_.duration);
        Napi::Array clips = Napi::Array::New(env, info_.clips.size());
        for (size_t k = 0; k < info_.clips.size(); ++k) {
            Napi::Object c = Napi::Object::New(env);
            c.Set("sampleStart", (double)info_.clips[k].start);
            c.Set("sampleEnd", (double)info_.clips[k].end);
            c.Set("start", info_.clips[k].t_start);
            c.Set("end", info_.clips[k].t_end);
            clips.Set((uint32_t)k, c);
        }
        inf.Set("clips", clips);
        inf.Set("padded", info_.padded);
        out.Set("info", inf);
        deferred_.Resolve(out);
    }

    float * fbank_ptr_ = nullptr;
    float * wave_ptr_ = nullptr;
    Napi::Reference<Napi::Float32Array> fbank_;
    Napi::Promise::Deferred deferred_;
    std::vector<Napi::Reference<Napi::Float32Array>> in_refs_;
    std::vector<const float *> in_;
    int64_t n_ = 0, n_out_ = 0;
    int32_t rate_ = 0;
    AudioPreParams p_;
    Napi::Reference<Napi::Float32Array> wave_;
    AudioPreInfo info_;
    bool ok_ = false;
    ggpt_status status_ = GGPT_OK;
    std::string err_;
};

// audioPreprocess(channels: Float32Array[], sampleRate, wantWave)
//   -> Promise<{ fbank: Float32Array, wave16k?: Float32Array[], info }>
// Argument errors throw synchronously; validation of the samples (NaN/Inf) rejects.
static Napi::Value AudioPreprocess(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto bad = [&](const std::string & m) { return status_error(env, GGPT_ERR_INVALID_ARGUMENT, m); };
    if (info.Length() < 2 || !info[0].IsArray()) {
        throw bad("audioPreprocess: expected (channels: Float32Array[], sampleRate, wantWave)");
    }
    Napi::Array arr = info[0].As<Napi::Array>();
    const uint32_t n_ch = arr.Length();
    if (n_ch < 1 || n_ch > (uint32_t)k_audio_max_channels) {
        throw bad("audioPreprocess: audio has " + std::to_string(n_ch) + " channels; 1 to " +
                  std::to_string(k_audio_max_channels) + " are supported");
    }
    std::vector<Napi::Float32Array> chans;
    for (uint32_t c = 0; c < n_ch; ++c) {
        Napi::Value v = arr.Get(c);
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
            throw bad("audioPreprocess: channel " + std::to_string(c) + " is not a Float32Array");
        }
        chans.push_back(v.As<Napi::Float32Array>());
        if (chans.back().ElementLength() != chans[0].ElementLength()) {
            throw bad("audioPreprocess: channels have different lengths (" + std::to_string(chans[0].ElementLength()) +
                      " and " + std::to_string(chans.back().ElementLength()) + ")");
        }
    }
    if (!is_int(info[1], -2147483648.0, 2147483647.0)) throw bad("audioPreprocess: sampleRate must be an integer");
    const int32_t rate = info[1].As<Napi::Number>().Int32Value();
    if (rate < k_audio_min_rate || rate > k_audio_max_rate) {
        throw bad("audioPreprocess: audio sample rate " + std::to_string(rate) + " Hz is outside [" +
                  std::to_string(k_audio_min_rate) + ", " + std::to_string(k_audio_max_rate) + "] Hz");
    }
    if (chans[0].ElementLength() == 0) throw bad("audioPreprocess: audio has no samples");
    const bool want_wave = info.Length() > 2 && info[2].ToBoolean().Value();

    auto * w = new AudioWorker(env, chans, rate, want_wave);
    Napi::Promise pr = w->promise();
    w->Queue();
    return pr;
}

void RegisterPreprocess(Napi::Env env, Napi::Object exports) {
    exports.Set("imagePreprocess", Napi::Function::New(env, ImagePreprocess, "imagePreprocess"));
    exports.Set("audioPreprocess", Napi::Function::New(env, AudioPreprocess, "audioPreprocess"));
}

}  // namespace ggpt::addon
