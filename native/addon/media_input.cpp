// media_input.cpp (addon) - see media_input.h.
#include "media_input.h"

#include <cstring>
#include <string>

#include "args.h"
#include "model.h"

namespace ggpt::addon {

ggpt_status MediaInput::prepare(const ggpt_model * model, std::string & err) {
    if (media != GGPT_MEDIA_AUDIO || pcm.empty()) return GGPT_OK;
    std::vector<const float *> ch;
    for (int32_t c = 0; c < n_channels; ++c) ch.push_back(pcm.data() + (size_t)c * (size_t)n_samples);
    ggpt_model_info mi;
    ggpt_model_get_info(model, &mi);
    fbank.resize((size_t)mi.audio_n_clips * (size_t)mi.audio_n_mels * (size_t)mi.audio_n_frames);
    char msg[512] = {0};
    const ggpt_status st = ggpt_audio_preprocess(model, ch.data(), n_channels, n_samples, sample_rate, fbank.data(),
                                                 nullptr, 0, &audio_info, msg, sizeof msg);
    if (st != GGPT_OK) {
        err = msg;
        return st;
    }
    n_items = audio_info.n_clips;
    fbank.resize((size_t)n_items * (size_t)mi.audio_n_mels * (size_t)mi.audio_n_frames);
    std::vector<float>().swap(pcm);  // the PCM is no longer needed
    return GGPT_OK;
}

ggpt_status MediaInput::encode(ggpt_context * ctx, float * out, const ggpt_encode_params * p) const {
    switch (media) {
        case GGPT_MEDIA_IMAGE: return ggpt_encode_image(ctx, &image, out, p);
        case GGPT_MEDIA_VIDEO: return ggpt_encode_video(ctx, frames.data(), n_items, out, p);
        case GGPT_MEDIA_AUDIO: return ggpt_encode_audio(ctx, fbank.data(), n_items, out, p);
    }
    return GGPT_ERR_INVALID_ARGUMENT;
}

const void * MediaInput::probe_input() const {
    switch (media) {
        case GGPT_MEDIA_IMAGE: return &image;
        case GGPT_MEDIA_VIDEO: return frames.data();
        case GGPT_MEDIA_AUDIO: return fbank.data();
    }
    return nullptr;
}

ggpt_model_info model_info(Napi::Env env, const NativeModel & self) {
    self.check_alive(env);
    ggpt_model_info mi;
    ggpt_model_get_info(self.model(), &mi);
    return mi;
}

static const char * media_name(ggpt_media m) {
    return m == GGPT_MEDIA_IMAGE ? "image" : m == GGPT_MEDIA_VIDEO ? "video" : "audio";
}

void require_tower(Napi::Env env, const ggpt_model_info & mi, ggpt_media m, const char * what) {
    if (!mi.has_media[m])
        throw make_error(env, "UNSUPPORTED",
                         std::string(what) + ": this model has no " + media_name(m) +
                             " tower (load it with an encoders file that holds one)");
}

ggpt_media media_kind(Napi::Env env, const Napi::Value & v, const char * what) {
    const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (s == "image") return GGPT_MEDIA_IMAGE;
    if (s == "video") return GGPT_MEDIA_VIDEO;
    if (s == "audio") return GGPT_MEDIA_AUDIO;
    throw invalid(env, std::string(what) + ": media must be 'image', 'video' or 'audio'");
}

std::shared_ptr<MediaInput> image_input(Napi::Env env, const Napi::Value & rgbv, const Napi::Value & wv,
                                        const Napi::Value & hv, const Napi::Value & sv) {
    if (!rgbv.IsTypedArray() || rgbv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw invalid(env, "image: rgb must be a Uint8Array");
    Napi::Uint8Array rgb = rgbv.As<Napi::Uint8Array>();
    const int32_t w = int_arg(env, wv, "image width", 0, 1 << 20);
    const int32_t h = int_arg(env, hv, "image height", 0, 1 << 20);
    const int32_t stride = int_arg(env, sv, "image stride", 0, INT32_MAX);
    if (w == 0 || h == 0)
        throw invalid(env, "image: size " + std::to_string(w) + "x" + std::to_string(h) + " has no pixels");
    if ((int64_t)stride < 3 * (int64_t)w)
        throw invalid(env, "image: stride " + std::to_string(stride) +
                               " is less than 3 * width = " + std::to_string(3 * (int64_t)w));
    const size_t need = (size_t)stride * (size_t)(h - 1) + 3 * (size_t)w;
    if (rgb.ElementLength() < need)
        throw invalid(env, "image: rgb holds " + std::to_string(rgb.ElementLength()) + " bytes, a " +
                               std::to_string(w) + "x" + std::to_string(h) + " image with stride " +
                               std::to_string(stride) + " needs " + std::to_string(need));
    auto c = std::make_shared<MediaInput>();
    c->media = GGPT_MEDIA_IMAGE;
    const size_t row = 3 * (size_t)w;
    c->bytes.resize(row * (size_t)h);
    for (int32_t y = 0; y < h; ++y) std::memcpy(c->bytes.data() + y * row, rgb.Data() + (size_t)y * stride, row);
    c->image = {c->bytes.data(), w, h, (int32_t)row};
    return c;
}

std::shared_ptr<MediaInput> video_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Value & v) {
    if (!v.IsArray()) throw invalid(env, "video: frames must be an array of Uint8Array");
    Napi::Array arr = v.As<Napi::Array>();
    const uint32_t n = arr.Length();
    if (n < 1 || (int64_t)n > mi.video_max_frames)
        throw invalid(env,
                      "video: " + std::to_string(n) + " frames, expected 1 to " + std::to_string(mi.video_max_frames));
    const size_t side = (size_t)mi.video_frame_size, bytes = side * side * 3;
    auto c = std::make_shared<MediaInput>();
    c->media = GGPT_MEDIA_VIDEO;
    c->bytes.resize(bytes * n);
    for (uint32_t t = 0; t < n; ++t) {
        Napi::Value fv = arr.Get(t);
        if (!fv.IsTypedArray() || fv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
            throw invalid(env, "video: frame " + std::to_string(t) + " is not a Uint8Array");
        Napi::Uint8Array f = fv.As<Napi::Uint8Array>();
        if (f.ElementLength() != bytes)
            throw invalid(env, "video: frame " + std::to_string(t) + " holds " + std::to_string(f.ElementLength()) +
                                   " bytes, expected " + std::to_string(side) + "x" + std::to_string(side) +
                                   " RGB = " + std::to_string(bytes));
        std::memcpy(c->bytes.data() + t * bytes, f.Data(), bytes);
    }
    for (uint32_t t = 0; t < n; ++t) c->frames.push_back(c->bytes.data() + t * bytes);
    c->n_items = (int32_t)n;
    return c;
}

std::shared_ptr<MediaInput> audio_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Value & v,
                                        const Napi::Value & cv) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw invalid(env, "audio: fbank must be a Float32Array");
    Napi::Float32Array fb = v.As<Napi::Float32Array>();
    const int32_t n_clips = int_arg(env, cv, "audio clips", 1, mi.audio_max_clips);
    const size_t per_clip = (size_t)mi.audio_n_mels * (size_t)mi.audio_n_frames;
    if (fb.ElementLength() != per_clip * (size_t)n_clips)
        throw invalid(env, "audio: fbank holds " + std::to_string(fb.ElementLength()) + " floats, expected " +
                               std::to_string(n_clips) + " clips x " + std::to_string(mi.audio_n_mels) + " mels x " +
                               std::to_string(mi.audio_n_frames) + " frames = " + std::to_string(per_clip * n_clips));
    auto c = std::make_shared<MediaInput>();
    c->media = GGPT_MEDIA_AUDIO;
    c->fbank.assign(fb.Data(), fb.Data() + fb.ElementLength());
    c->n_items = n_clips;
    return c;
}

std::shared_ptr<MediaInput> pcm_input(Napi::Env env, const Napi::Value & v, const Napi::Value & rv) {
    if (!v.IsArray()) throw invalid(env, "audio: channels must be an array of Float32Array");
    Napi::Array arr = v.As<Napi::Array>();
    const uint32_t n_ch = arr.Length();
    if (n_ch < 1 || n_ch > 8) throw invalid(env, "audio: " + std::to_string(n_ch) + " channels; 1 to 8 are supported");
    std::vector<Napi::Float32Array> chans;
    for (uint32_t c = 0; c < n_ch; ++c) {
        Napi::Value cv = arr.Get(c);
        if (!cv.IsTypedArray() || cv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
            throw invalid(env, "audio: channel " + std::to_string(c) + " is not a Float32Array");
        chans.push_back(cv.As<Napi::Float32Array>());
        if (chans.back().ElementLength() != chans[0].ElementLength())
            throw invalid(env, "audio: channels have different lengths (" + std::to_string(chans[0].ElementLength()) +
                                   " and " + std::to_string(chans.back().ElementLength()) + ")");
    }
    const int32_t rate = int_arg(env, rv, "audio sampleRate", 1, INT32_MAX);
    const int64_t n = (int64_t)chans[0].ElementLength();
    if (n == 0) throw invalid(env, "audio: no samples");
    if (ggpt_audio_resampled_len(n, rate) < 0)
        throw invalid(env, "audio: sample rate " + std::to_string(rate) + " Hz is not supported");
    auto c = std::make_shared<MediaInput>();
    c->media = GGPT_MEDIA_AUDIO;
    c->n_channels = (int32_t)n_ch;
    c->n_samples = n;
    c->sample_rate = rate;
    c->pcm.resize((size_t)n_ch * (size_t)n);
    for (uint32_t k = 0; k < n_ch; ++k)
        std::memcpy(c->pcm.data() + (size_t)k * (size_t)n, chans[k].Data(), (size_t)n * sizeof(float));
    return c;
}

std::shared_ptr<MediaInput> media_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Object & o) {
    const ggpt_media m = media_kind(env, o.Get("kind"), "media input");
    require_tower(env, mi, m, "media input");
    switch (m) {
        case GGPT_MEDIA_IMAGE: return image_input(env, o.Get("rgb"), o.Get("width"), o.Get("height"), o.Get("stride"));
        case GGPT_MEDIA_VIDEO: return video_input(env, mi, o.Get("frames"));
        case GGPT_MEDIA_AUDIO:
            if (o.Has("channels")) return pcm_input(env, o.Get("channels"), o.Get("sampleRate"));
            return audio_input(env, mi, o.Get("fbank"), o.Get("clips"));
    }
    return nullptr;
}

}  // namespace ggpt::addon
