// fuzz_audio_preprocess - the audio front end (native/src/preprocess/audio.cpp: resampling to the
// model rate, clip timepoints, Kaldi fbank, pad/crop, normalisation) with the input rate,
// channels, length and the model's audio parameters decoded from the input: the functions
// ggpt_audio_preprocess (native/src/preprocess/api.cpp) calls, with the same checks first. Work per
// run is bounded (rates up to 96 kHz, at most 50000 input and 2M output samples) so that one run
// stays fast. Linked without ggml/libllama (only the preprocessing sources).
// docs/RELIABILITY.md "Fuzzing".
//
// Input: u8 flags, u32 rate, u8 channels, u32 length, u8 target choice, u32 raw target, u8 n_clips,
//   f32 clip_seconds, u16 n_mels, u16 target_len, f32 fbank mean, f32 fbank std, samples.
//   flags bit 0: rate as given (else 1000 + v % 95001), bit 1: audio parameters as given, else
//   bit 6: the model defaults, else small valid ones (1-8 clips of k/16 s, k = 1 + (target_len >> 8)
//   % 16; 4-128 mels, 1-256 frames); bit 2: ask for the resampled wave, bit 3: ask for the fbank, bit 4:
//   samples are f32 (else s16). Target rate: choice 0-3 = 16, 8, 44.1, 48 kHz, 4 = raw, else 16 kHz.
//   channels: v % 10 (0 and 9 must be refused); length: 1 + v % 50000; samples: the rest of the
//   input repeated over channels*length values (zeros when empty).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_reader.h"
#include "preprocess/audio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz::Reader r(data, size);
    const uint8_t flags = r.u8();
    const uint32_t rate_raw = r.u32();
    const int32_t rate = (flags & 1) ? (int32_t)rate_raw : 1000 + (int32_t)(rate_raw % 95001);
    const int32_t n_channels = r.u8() % 10;
    const int64_t n_samples = 1 + r.u32() % 50000;
    const uint8_t target_choice = r.u8();
    const uint32_t target_raw = r.u32();
    ggpt::AudioPreParams p;
    static const int32_t targets[4] = {16000, 8000, 44100, 48000};
    p.sample_rate = target_choice < 4 ? targets[target_choice] : target_choice == 4 ? (int32_t)target_raw : 16000;
    const int8_t n_clips = (int8_t)r.u8();
    const float clip_seconds = r.f32();
    const uint16_t n_mels = r.u16(), target_len = r.u16();
    const float fmean = r.f32(), fstd = r.f32();
    if (flags & 2) {  // as given: mostly refused by the parameter check
        p.n_clips = n_clips;
        p.clip_seconds = clip_seconds;
        p.n_mels = n_mels;
        p.target_len = target_len;
        p.fbank_mean = fmean;
        p.fbank_std = fstd;
    } else if (!(flags & 64)) {  // small valid ones: fast runs, every code path
        p.n_clips = 1 + (uint8_t)n_clips % 8;
        p.clip_seconds = (1 + (target_len >> 8) % 16) / 16.0f;
        p.n_mels = 4 + n_mels % 125;
        p.target_len = 1 + target_len % 256;
    }                                                     // else the model defaults (3 clips of 2 s, 128 x 204)
    if (rate > 96000 || p.sample_rate > 48000) return 0;  // kernel sizes beyond the per-run budget

    // samples: exactly n_channels * n_samples floats (ASan catches reads past them)
    const int32_t n_alloc = n_channels > 0 ? n_channels : 1;
    std::vector<std::vector<float>> ch(n_alloc, std::vector<float>((size_t)n_samples));
    const uint8_t * src = r.rest();
    const size_t n_src = r.rest_size();
    const size_t w = (flags & 16) ? 4 : 2;
    if (n_src >= w) {
        size_t k = 0;
        for (auto & c : ch)
            for (float & v : c) {
                const size_t at = (k++ * w) % (n_src - n_src % w);
                if (w == 4) {
                    std::memcpy(&v, src + at, 4);
                } else {
                    int16_t s;
                    std::memcpy(&s, src + at, 2);
                    v = s / 32768.0f;
                }
            }
    }
    std::vector<const float *> ptrs;
    for (auto & c : ch) ptrs.push_back(c.data());

    std::string err;
    const bool params_ok = ggpt::audio_params_check(p, err);
    const bool input_ok = ggpt::audio_input_check(ptrs.data(), n_channels, n_samples, rate, err);
    if (!params_ok || !input_ok) {
        if (err.empty()) abort();
        ggpt::AudioPreInfo info;
        std::string err2;
        if (ggpt::audio_preprocess(p, ptrs.data(), n_channels, n_samples, rate, nullptr, nullptr, info, err2)) abort();
        return 0;
    }
    const int64_t n_out = ggpt::audio_resampled_len(n_samples, rate, p.sample_rate);
    if (n_out < 1) abort();
    const int64_t n_fbank = (int64_t)p.n_clips * p.n_mels * p.target_len;
    if (n_out * n_channels > 2000000 || n_fbank > 2000000) return 0;  // beyond the per-run budget

    std::vector<float> wave((flags & 4) ? (size_t)(n_out * n_channels) : 0);
    std::vector<float> fbank((flags & 8) ? (size_t)n_fbank : 0);
    ggpt::AudioPreInfo info;
    const bool ok =
        ggpt::audio_preprocess(p, ptrs.data(), n_channels, n_samples, rate, fbank.empty() ? nullptr : fbank.data(),
                               wave.empty() ? nullptr : wave.data(), info, err);
    if (!ok) {
        if (err.empty()) abort();
        return 0;
    }
    if (info.n_samples_out != n_out || (int32_t)info.clips.size() != p.n_clips) abort();
    for (const auto & c : info.clips)
        if (c.start < 0 || c.end < c.start || c.end > n_out) abort();
    // s16 samples with the default normalisation always give finite features (huge f32 samples or
    // a tiny fbank std may overflow, as they do upstream)
    if ((flags & 64) && !(flags & 2) && !(flags & 16))
        for (float v : fbank)
            if (!std::isfinite(v)) abort();

    return 0;
}
