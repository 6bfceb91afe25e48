// model_encode.cpp (addon) - NativeModel.encodeImage / encodeVideo / encodeAudio / probe
// (src/native.ts): one tower call per operation, the result copied into a Float32Array. These are
// the raw tower entry points for tests and research; the library's calls encode inside a turn
// (turn.cpp), where the features stay native. Inputs are checked and copied by media_input.h.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "media_input.h"
#include "model.h"

namespace ggpt::addon {

namespace {

// Runs one tower call on the compute thread and resolves with a Float32Array of rows x n_embd.
Napi::Value run_encode(Napi::Env env, NativeModel & self, const ggpt_model_info & mi, std::shared_ptr<MediaInput> input,
                       const Napi::Value & cancelv, const Napi::Value & progressv) {
    CancelFlag cancel = cancel_flag(env, cancelv);
    auto stream = Stream::create(env, progressv, "groundinggpt.encodeProgress");
    auto progress = std::make_shared<Progress>(stream, cancel);
    auto out = std::make_shared<std::vector<float>>((size_t)mi.media_n_tokens[input->media] * (size_t)mi.n_embd);
    ggpt_context * ctx = self.ctx();
    NativeModel::Work work = [ctx, cancel, progress, out, input](std::string & err) {
        const ggpt_encode_params p = encode_params(cancel, progress.get());
        const ggpt_status st = input->encode(ctx, out->data(), &p);
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
        const ggpt_model_info mi = model_info(env, self);
        require_tower(env, mi, GGPT_MEDIA_IMAGE, "encodeImage");
        return run_encode(env, self, mi, image_input(env, info[0], info[1], info[2], info[3]), info[4], info[5]);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// encodeVideo(frames, cancel, onProgress?)
Napi::Value EncodeVideo(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const ggpt_model_info mi = model_info(env, self);
        require_tower(env, mi, GGPT_MEDIA_VIDEO, "encodeVideo");
        return run_encode(env, self, mi, video_input(env, mi, info[0]), info[1], info[2]);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// encodeAudio(fbank, clips, cancel, onProgress?)
Napi::Value EncodeAudio(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const ggpt_model_info mi = model_info(env, self);
        require_tower(env, mi, GGPT_MEDIA_AUDIO, "encodeAudio");
        return run_encode(env, self, mi, audio_input(env, mi, info[0], info[1]), info[2], info[3]);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// probe(media, input, name, cancel) -> { data: Float32Array, shape: number[] }
Napi::Value Probe(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const ggpt_media m = media_kind(env, info[0], "probe");
        const ggpt_model_info mi = model_info(env, self);
        require_tower(env, mi, m, "probe");
        if (!info[1].IsObject()) throw invalid(env, "probe: input must be an object");
        Napi::Object in = info[1].As<Napi::Object>();
        if (!info[2].IsString()) throw invalid(env, "probe: name must be a string");
        const std::string name = info[2].As<Napi::String>().Utf8Value();
        CancelFlag cancel = cancel_flag(env, info[3]);

        struct Baton {
            std::shared_ptr<MediaInput> input;
            std::vector<float> data;
            int64_t shape[4] = {0, 0, 0, 0};
            int32_t n_dims = 0;
        };
        auto b = std::make_shared<Baton>();
        if (m == GGPT_MEDIA_IMAGE)
            b->input = image_input(env, in.Get("rgb"), in.Get("width"), in.Get("height"), in.Get("stride"));
        else if (m == GGPT_MEDIA_VIDEO) b->input = video_input(env, mi, in.Get("frames"));
        else b->input = audio_input(env, mi, in.Get("fbank"), in.Get("clips"));
        ggpt_context * ctx = self.ctx();
        NativeModel::Work work = [ctx, cancel, b, m, name](std::string & err) {
            const ggpt_encode_params p = encode_params(cancel, nullptr);
            int64_t n = 0;
            const void * input = b->input->probe_input();
            // size first (validates the name and the input without computing)
            ggpt_status st = ggpt_encode_probe(ctx, m, input, b->input->n_items, name.c_str(), nullptr, 0, &n, b->shape,
                                               &b->n_dims, &p);
            if (st == GGPT_ERR_INVALID_ARGUMENT && n > 0) {
                b->data.resize((size_t)n);
                st = ggpt_encode_probe(ctx, m, input, b->input->n_items, name.c_str(), b->data.data(), n, &n, b->shape,
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

MethodRegistrar reg_encode_image("encodeImage", EncodeImage);
MethodRegistrar reg_encode_video("encodeVideo", EncodeVideo);
MethodRegistrar reg_encode_audio("encodeAudio", EncodeAudio);
MethodRegistrar reg_probe("probe", Probe);

}  // namespace

}  // namespace ggpt::addon
