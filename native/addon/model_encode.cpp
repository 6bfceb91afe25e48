// model_encode.cpp (addon) - NativeModel.encodeImage / encodeVideo / encodeAudio / probe (src/native.ts):
// arguments are checked and copied on the main thread, the towers run on a worker
// (ggpt_encode_* / ggpt_encode_probe), results come back as Float32Arrays.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "model.h"

#include "core/model.h"
#include "encoders/encoders.h"

namespace ggpt::addon {

namespace {

Napi::Error invalid(Napi::Env env, const std::string & msg) { return make_error(env, "INVALID_ARGUMENT", msg); }

Napi::Value rejected(Napi::Env env, const Napi::Error & e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
}

// The tower of a media, or throws UNSUPPORTED (no encoders file / no such tower).
const Encoders & tower(Napi::Env env, NativeModel & self, ggpt_media m, const char * what) {
    self.check_alive(env);
    const ggpt_model * model = self.model();
    if (!model->enc || !model->enc->has_media[m])
        throw make_error(env, "UNSUPPORTED", std::string(what) + ": this model has no " +
                                                 (m == GGPT_MEDIA_IMAGE ? "image" : m == GGPT_MEDIA_VIDEO ? "video" : "audio") +
                                                 " tower (load it with an encoders file that holds one)");
    return *model->enc;
}

int32_t int_arg(Napi::Env env, const Napi::Value & v, const char * name, int64_t lo, int64_t hi) {
    if (!v.IsNumber()) throw invalid(env, std::string(name) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d) || d < (double)lo || d > (double)hi)
        throw invalid(env, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "], got " + v.ToString().Utf8Value());
    return (int32_t)d;
}

// A copy of an RGB8 image and its ggpt_image_u8 view.
struct ImageCopy {
    std::vector<uint8_t> data;
    ggpt_image_u8 img{};
};

// (rgb: Uint8Array, width, height, stride) -> a checked copy (rows beyond width*3 dropped).
std::shared_ptr<ImageCopy> copy_image(Napi::Env env, const Napi::Value & rgbv, const Napi::Value & wv,
                                      const Napi::Value & hv, const Napi::Value & sv) {
    if (!rgbv.IsTypedArray() || rgbv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw invalid(env, "image: rgb must be a Uint8Array");
    Napi::Uint8Array rgb = rgbv.As<Napi::Uint8Array>();
    const int32_t w = int_arg(env, wv, "image width", 0, 1 << 20);
    const int32_t h = int_arg(env, hv, "image height", 0, 1 << 20);
    const int32_t stride = int_arg(env, sv, "image stride", 0, INT32_MAX);
    if (w == 0 || h == 0) throw invalid(env, "image: size " + std::to_string(w) + "x" + std::to_string(h) + " has no pixels");
    if ((int64_t)stride < 3 * (int64_t)w)
        throw invalid(env, "image: stride " + std::to_string(stride) + " is less than 3 * width = " + std::to_string(3 * (int64_t)w));
    const size_t need = (size_t)stride * (size_t)(h - 1) + 3 * (size_t)w;
    if (rgb.ElementLength() < need)
        throw invalid(env, "image: rgb holds " + std::to_string(rgb.ElementLength()) + " bytes, a " + std::to_string(w) + "x" +
                               std::to_string(h) + " image with stride " + std::to_string(stride) + " needs " +
                               std::to_string(need));
    auto c = std::make_shared<ImageCopy>();
    const size_t row = 3 * (size_t)w;
    c->data.resize(row * (size_t)h);
    for (int32_t y = 0; y < h; ++y) std::memcpy(c->data.data() + y * row, rgb.Data() + (size_t)y * stride, row);
    c->img = {c->data.data(), w, h, (int32_t)row};
    return c;
}

// Frames: an array of side*side*3-byte Uint8Arrays -> one contiguous copy.
struct FramesCopy {
    std::vector<uint8_t> data;
    std::vector<const uint8_t *> ptrs;
};

std::shared_ptr<FramesCopy> copy_frames(Napi::Env env, const Encoders & e, const Napi::Value & v) {
    if (!v.IsArray()) throw invalid(env, "video: frames must be an array of Uint8Array");
    Napi::Array arr = v.As<Napi::Array>();
    const uint32_t n = arr.Length();
    const int32_t max_frames = e.video.max_frames;
    if (n < 1 || (int64_t)n > max_frames)
        throw invalid(env, "video: " + std::to_string(n) + " frames, expected 1 to " + std::to_string(max_frames));
    const size_t side = (size_t)e.video.hp.image_size, bytes = side * side * 3;
    auto c = std::make_shared<FramesCopy>();
    c->data.resize(bytes * n);
    for (uint32_t t = 0; t < n; ++t) {
        Napi::Value fv = arr.Get(t);
        if (!fv.IsTypedArray() || fv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
            throw invalid(env, "video: frame " + std::to_string(t) + " is not a Uint8Array");
        Napi::Uint8Array f = fv.As<Napi::Uint8Array>();
        if (f.ElementLength() != bytes)
            throw invalid(env, "video: frame " + std::to_string(t) + " holds " + std::to_string(f.ElementLength()) +
                                   " bytes, expected " + std::to_string(side) + "x" + std::to_string(side) + " RGB = " +
                                   std::to_string(bytes));
        std::memcpy(c->data.data() + t * bytes, f.Data(), bytes);
    }
    for (uint32_t t = 0; t < n; ++t) c->ptrs.push_back(c->data.data() + t * bytes);
    return c;
}

// (fbank: Float32Array, clips) -> a checked copy
std::shared_ptr<std::vector<float>> copy_fbank(Napi::Env env, const Encoders & e, const Napi::Value & v,
                                               const Napi::Value & cv, int32_t * n_clips) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw invalid(env, "audio: fbank must be a Float32Array");
    Napi::Float32Array fb = v.As<Napi::Float32Array>();
    const int32_t n_pos = (int32_t)e.audio.clip_pos->ne[1];
    *n_clips = int_arg(env, cv, "audio clips", 1, n_pos);
    const size_t per_clip = (size_t)e.audio.hp.n_mels * e.audio.hp.target_len;
    if (fb.ElementLength() != per_clip * (size_t)*n_clips)
        throw invalid(env, "audio: fbank holds " + std::to_string(fb.ElementLength()) + " floats, expected " +
                               std::to_string(*n_clips) + " clips x " + std::to_string(e.audio.hp.n_mels) + " mels x " +
                               std::to_string(e.audio.hp.target_len) + " frames = " + std::to_string(per_clip * *n_clips));
    return std::make_shared<std::vector<float>>(fb.Data(), fb.Data() + fb.ElementLength());
}

// Runs one tower call on the worker and resolves with a Float32Array of rows x llm_n_embd.
template <class Call>
Napi::Value run_encode(Napi::Env env, NativeModel & self, ggpt_media m, const Napi::Value & cancelv,
                       const Napi::Value & progressv, const char * stream_name, Call call) {
    const Encoders & e = *self.model()->enc;
    CancelFlag cancel = cancel_flag(env, cancelv);
    auto stream = Stream::create(env, progressv, stream_name);
    auto progress = std::make_shared<Progress>(stream, cancel);
    auto out = std::make_shared<std::vector<float>>((size_t)e.n_rows(m) * e.llm_n_embd);
    ggpt_context * ctx = self.ctx();
    NativeModel::Work work = [ctx, cancel, progress, out, call](std::string & err) {
        ggpt_encode_params p = ggpt_encode_default_params();
        p.abort = cancel_abort_fn;
        p.abort_user = cancel.get();
        p.progress = Progress::progress_fn;
        p.progress_user = progress.get();
        const ggpt_status st = call(ctx, out->data(), &p);
        if (st != GGPT_OK) err = ggpt_context_last_error(ctx);
        return st;
    };
    NativeModel::Done done = [out](Napi::Env env) -> Napi::Value {
        Napi::Float32Array a = Napi::Float32Array::New(env, out->size());
        std::memcpy(a.Data(), out->data(), out->size() * sizeof(float));
        return a;
    };
    return self.run_op(env, work, done, {stream}, cancel);
}

// encodeImage(rgb, width, height, stride, cancel, onProgress?)
Napi::Value EncodeImage(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        tower(env, self, GGPT_MEDIA_IMAGE, "encodeImage");
        auto img = copy_image(env, info[0], info[1], info[2], info[3]);
        return run_encode(env, self, GGPT_MEDIA_IMAGE, info[4], info[5], "groundinggpt.encodeProgress",
                          [img](ggpt_context * ctx, float * out, const ggpt_encode_params * p) {
                              return ggpt_encode_image(ctx, &img->img, out, p);
                          });
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// encodeVideo(frames, cancel, onProgress?)
Napi::Value EncodeVideo(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const Encoders & e = tower(env, self, GGPT_MEDIA_VIDEO, "encodeVideo");
        auto frames = copy_frames(env, e, info[0]);
        return run_encode(env, self, GGPT_MEDIA_VIDEO, info[1], info[2], "groundinggpt.encodeProgress",
                          [frames](ggpt_context * ctx, float * out, const ggpt_encode_params * p) {
                              return ggpt_encode_video(ctx, frames->ptrs.data(), (int32_t)frames->ptrs.size(), out, p);
                          });
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// encodeAudio(fbank, clips, cancel, onProgress?)
Napi::Value EncodeAudio(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const Encoders & e = tower(env, self, GGPT_MEDIA_AUDIO, "encodeAudio");
        int32_t n_clips = 0;
        auto fbank = copy_fbank(env, e, info[0], info[1], &n_clips);
        return run_encode(env, self, GGPT_MEDIA_AUDIO, info[2], info[3], "groundinggpt.encodeProgress",
                          [fbank, n_clips](ggpt_context * ctx, float * out, const ggpt_encode_params * p) {
                              return ggpt_encode_audio(ctx, fbank->data(), n_clips, out, p);
                          });
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// probe(media, input, name, cancel) -> { data: Float32Array, shape: number[] }
Napi::Value Probe(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        if (!info[0].IsString()) throw invalid(env, "probe: media must be 'image', 'video' or 'audio'");
        const std::string ms = info[0].As<Napi::String>().Utf8Value();
        ggpt_media m;
        if (ms == "image") m = GGPT_MEDIA_IMAGE;
        else if (ms == "video") m = GGPT_MEDIA_VIDEO;
        else if (ms == "audio") m = GGPT_MEDIA_AUDIO;
        else throw invalid(env, "probe: media must be 'image', 'video' or 'audio', got '" + ms + "'");
        const Encoders & e = tower(env, self, m, "probe");
        if (!info[1].IsObject()) throw invalid(env, "probe: input must be an object");
        Napi::Object in = info[1].As<Napi::Object>();
        if (!info[2].IsString()) throw invalid(env, "probe: name must be a string");
        const std::string name = info[2].As<Napi::String>().Utf8Value();
        CancelFlag cancel = cancel_flag(env, info[3]);

        // inputs copied now; the worker gets a pointer and an item count
        struct Baton {
            std::shared_ptr<ImageCopy> image;
            std::shared_ptr<FramesCopy> frames;
            std::shared_ptr<std::vector<float>> fbank;
            const void * input = nullptr;
            int32_t n_items = 1;
            std::vector<float> data;
            int64_t shape[4] = {0, 0, 0, 0};
            int32_t n_dims = 0;
        };
        auto b = std::make_shared<Baton>();
        if (m == GGPT_MEDIA_IMAGE) {
            b->image = copy_image(env, in.Get("rgb"), in.Get("width"), in.Get("height"), in.Get("stride"));
            b->input = &b->image->img;
        } else if (m == GGPT_MEDIA_VIDEO) {
            b->frames = copy_frames(env, e, in.Get("frames"));
            b->input = b->frames->ptrs.data();
            b->n_items = (int32_t)b->frames->ptrs.size();
        } else {
            b->fbank = copy_fbank(env, e, in.Get("fbank"), in.Get("clips"), &b->n_items);
            b->input = b->fbank->data();
        }
        ggpt_context * ctx = self.ctx();
        NativeModel::Work work = [ctx, cancel, b, m, name](std::string & err) {
            ggpt_encode_params p = ggpt_encode_default_params();
            p.abort = cancel_abort_fn;
            p.abort_user = cancel.get();
            int64_t n = 0;
            // size first (validates the name and the input without computing)
            ggpt_status st = ggpt_encode_probe(ctx, m, b->input, b->n_items, name.c_str(), nullptr, 0, &n, b->shape,
                                               &b->n_dims, &p);
            if (st == GGPT_ERR_INVALID_ARGUMENT && n > 0) {
                b->data.resize((size_t)n);
                st = ggpt_encode_probe(ctx, m, b->input, b->n_items, name.c_str(), b->data.data(), n, &n, b->shape,
                                       &b->n_dims, &p);
            }
            if (st != GGPT_OK) err = ggpt_context_last_error(ctx);
            return st;
        };
        NativeModel::Done done = [b](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            Napi::Float32Array a = Napi::Float32Array::New(env, b->data.size());
            std::memcpy(a.Data(), b->data.data(), b->data.size() * sizeof(float));
            Napi::Array shape = Napi::Array::New(env, (size_t)b->n_dims);
            for (int32_t i = 0; i < b->n_dims; ++i) shape.Set((uint32_t)i, Napi::Number::New(env, (double)b->shape[i]));
            o.Set("data", a);
            o.Set("shape", shape);
            return o;
        };
        return self.run_op(env, work, done, {}, cancel);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// lastEncodeTimings(): { preprocessMs, towerMs } of the last encode* call (read after it settled).
Napi::Value LastEncodeTimings(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    self.check_alive(env);
    double pre = 0.0, tower = 0.0;
    ggpt_encode_last_timings(self.ctx(), &pre, &tower);
    Napi::Object o = Napi::Object::New(env);
    o.Set("preprocessMs", pre);
    o.Set("towerMs", tower);
    return o;
}

MethodRegistrar reg_encode_image("encodeImage", EncodeImage);
MethodRegistrar reg_last_timings("lastEncodeTimings", LastEncodeTimings);
MethodRegistrar reg_encode_video("encodeVideo", EncodeVideo);
MethodRegistrar reg_encode_audio("encodeAudio", EncodeAudio);
MethodRegistrar reg_probe("probe", Probe);

}  // namespace

}  // namespace ggpt::addon
