// media_input.h (addon) - the towers' inputs of the raw interface (src/native.ts), checked against
// the model (C API only: ggpt_model_get_info) and copied on the main thread so that the compute
// thread never touches JS memory.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "groundinggpt.h"

namespace ggpt::addon {

class NativeModel;

// One item for a tower: an RGB8 image of any size, sampled video frames, or an audio fbank.
struct MediaInput {
    ggpt_media media = GGPT_MEDIA_IMAGE;
    std::vector<uint8_t> bytes;           // image rows (3*width each) or frames (side*side*3 each)
    ggpt_image_u8 image{};                // image: view of bytes
    std::vector<const uint8_t *> frames;  // video: one pointer per frame into bytes
    std::vector<float> fbank;             // audio: clips x mels x frames
    int32_t n_items = 1;                  // frames (video) or clips (audio)
    // audio as PCM (turns): preprocessed into fbank by prepare() on the compute thread
    std::vector<float> pcm;  // channel-major, n_channels x n_samples
    int32_t n_channels = 0, sample_rate = 0;
    int64_t n_samples = 0;
    ggpt_audio_info audio_info{};  // set by prepare()

    // PCM audio only: resampling, clips and fbank (ggpt_audio_preprocess) into fbank and
    // audio_info; nothing to do for the other inputs. err receives the message of a failure.
    ggpt_status prepare(const ggpt_model * model, std::string & err);
    // Runs the tower on the compute thread: out = media_n_tokens[media] * n_embd floats.
    ggpt_status encode(ggpt_context * ctx, float * out, const ggpt_encode_params * p) const;
    // The input as ggpt_encode_probe takes it.
    const void * probe_input() const;
};

// The model's info; throws DISPOSED after dispose().
ggpt_model_info model_info(Napi::Env env, const NativeModel & self);
// Throws UNSUPPORTED when the model has no tower for m (no encoders file, or none for m).
void require_tower(Napi::Env env, const ggpt_model_info & mi, ggpt_media m, const char * what);
// 'image' | 'video' | 'audio' -> ggpt_media; throws INVALID_ARGUMENT.
ggpt_media media_kind(Napi::Env env, const Napi::Value & v, const char * what);

// (rgb: Uint8Array, width, height, stride): a checked copy (bytes past 3*width per row dropped).
std::shared_ptr<MediaInput> image_input(Napi::Env env, const Napi::Value & rgb, const Napi::Value & width,
                                        const Napi::Value & height, const Napi::Value & stride);
// frames: 1 to video_max_frames Uint8Arrays of video_frame_size^2 * 3 bytes.
std::shared_ptr<MediaInput> video_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Value & frames);
// (fbank: Float32Array, clips): clips x audio_n_mels x audio_n_frames floats.
std::shared_ptr<MediaInput> audio_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Value & fbank,
                                        const Napi::Value & clips);
// (channels: Float32Array[], sampleRate): PCM for prepare(); 1-8 channels of equal, non-zero length
// at a rate ggpt_audio_resampled_len accepts (the samples are checked by the core).
std::shared_ptr<MediaInput> pcm_input(Napi::Env env, const Napi::Value & channels, const Napi::Value & rate);
// { kind: 'image', rgb, width, height, stride } | { kind: 'video', frames } | { kind: 'audio', fbank, clips }
// | { kind: 'audio', channels, sampleRate }, its tower required.
std::shared_ptr<MediaInput> media_input(Napi::Env env, const ggpt_model_info & mi, const Napi::Object & o);

}  // namespace ggpt::addon
