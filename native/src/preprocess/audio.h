// audio.h - docs/COMPUTATION.md §4 steps 1-4: torchaudio-exact resampling to 16 kHz, pytorchvideo clip
// timepoints, the in-place clip mean subtraction, Kaldi fbank (torchaudio.compliance.kaldi),
// pad/crop and normalisation. PCM in, fbank out; no decoding here.
//
// Thread safety: the free functions are pure; SincResampler and KaldiFbank are immutable after
// construction and may be shared between threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "encoders/hparams.h"

namespace ggpt {

// Accepted input sample rates. Below 1 kHz there is no speech or sound content worth a model
// (and no common format uses it); 768 kHz is the highest rate real converters produce. The upper
// bound also bounds the resampler: its kernel holds new' phases of ~12*orig'/new' taps
// (rates reduced by their gcd), at most ~9 M floats for two coprime rates below 768 kHz.
constexpr int32_t k_audio_min_rate = 1000;
constexpr int32_t k_audio_max_rate = 768000;
constexpr int32_t k_audio_max_channels = 8;

// ---- resampling (torchaudio.functional.resample, sinc_interp_hann) -------------------------

// The polyphase kernel torchaudio builds for orig -> new (both reduced by their gcd), computed
// step by step in float32 as torchaudio does for a float32 waveform. Only the taps whose argument
// lies inside the window support are kept: the others are the float32 residue of cos(pi/2)^2
// (~1e-22, mathematically zero) and contribute nothing measurable.
class SincResampler {
public:
    // lowpass_filter_width 6, rolloff 0.99 (torchaudio's defaults, docs/COMPUTATION.md §4.1).
    SincResampler(int32_t orig_rate, int32_t new_rate, int32_t lowpass_filter_width = 6, double rolloff = 0.99);

    int32_t orig() const { return orig_; }  // reduced rates
    int32_t next() const { return new_; }
    bool identity() const { return orig_ == new_; }

    // ceil(new * n / orig) (torchaudio's target_length, evaluated in double like Python).
    int64_t out_len(int64_t n_in) const;

    // Output samples [j0, j1) of the resampled signal of x (n_in samples) into out[0 .. j1-j0).
    // Identity rates copy. Accumulates in double and rounds once to float.
    void process(const float * x, int64_t n_in, int64_t j0, int64_t j1, float * out) const;

private:
    int32_t orig_ = 1, new_ = 1, width_ = 0;
    std::vector<int32_t> tap0_;  // [new] first kept tap of each phase (index into the padded input)
    std::vector<int32_t> ntap_;  // [new]
    std::vector<int64_t> off_;   // [new] start of each phase in coef_
    std::vector<float> coef_;
};

// ---- clip timepoints (pytorchvideo 0.1.5 ConstantClipsPerVideoSampler) --------------------

struct AudioClip {
    int64_t start = 0, end = 0;     // [start, end) in samples at p.sample_rate, truncated to the signal
    double t_start = 0, t_end = 0;  // seconds (the exact fractions, rounded to double)
};

// D = n / rate in double; step = Fraction(max(D - clip, 0)) / n_clips exactly (the float subtraction
// happens in double, as `float - Fraction` does in Python); clip k covers
// [floor(rate*k*step), floor(rate*(k*step + clip))) cut at n. Requires rate*clip_seconds integral.
bool audio_clip_timepoints(const AudioPreParams & p, int64_t n_samples, std::vector<AudioClip> & clips,
                           std::string & err);

// ---- Kaldi fbank -------------------------------------------------------------------------

// torchaudio.compliance.kaldi.fbank(htk_compat=True, sample_frequency=rate, use_energy=False,
// window_type='hanning', num_mel_bins=n_mels, dither=0, frame_length=25, frame_shift=10), then
// transpose, pad/crop to target_len and (x - fbank_mean) / fbank_std. Window, mel filters and FFT
// tables are built here from the parameters.
class KaldiFbank {
public:
    explicit KaldiFbank(const AudioPreParams & p);

    int32_t window() const { return win_len_; }  // 400 at 16 kHz
    int32_t shift() const { return shift_; }     // 160
    int32_t n_fft() const { return n_fft_; }     // 512

    // x: n samples of one channel. out: [n_mels][target_len]. Fewer than window() samples are
    // zero-padded to one window and *padded is set (upstream raises; docs/COMPUTATION.md §4.3 decision).
    void compute(const float * x, int64_t n, float * out, bool * padded) const;

    // The raw log-mel frames (before transpose/pad/normalise): [n_frames][n_mels] (tests, probes).
    void log_mel(const float * x, int64_t n_frames, float * out) const;
    static int64_t n_frames(int64_t n, int32_t win, int32_t shift) { return n < win ? 0 : 1 + (n - win) / shift; }

private:
    void fft(double * re, double * im) const;

    AudioPreParams p_;
    int32_t win_len_ = 0, shift_ = 0, n_fft_ = 0;
    std::vector<float> window_;             // [win_len] symmetric Hann (Kaldi "hanning")
    std::vector<int32_t> mel_k0_, mel_nk_;  // per mel bin: first FFT bin and count of non-zero weights
    std::vector<float> mel_w_;              // [n_mels][n_fft/2] (dense, zeros outside the triangle)
    std::vector<double> cos_, sin_;         // [n_fft/2] twiddles
    std::vector<int32_t> bitrev_;           // [n_fft]
};

// ---- whole front end ---------------------------------------------------------------------

struct AudioPreInfo {
    int64_t n_samples_out = 0;  // samples per channel at p.sample_rate after resampling
    double duration = 0;        // n_samples_out / p.sample_rate
    std::vector<AudioClip> clips;
    bool padded = false;  // some clip had fewer samples than one fbank window
};

bool audio_params_check(const AudioPreParams & p, std::string & err);

// Validates the input: 1..k_audio_max_channels channels, rate in [k_audio_min_rate, k_audio_max_rate],
// n_samples > 0, every sample finite. Returns false with err set.
bool audio_input_check(const float * const * channels, int32_t n_channels, int64_t n_samples, int32_t sample_rate,
                       std::string & err);

// Samples per channel after resampling n_samples at sample_rate to target_rate (-1 if invalid).
int64_t audio_resampled_len(int64_t n_samples, int32_t sample_rate, int32_t target_rate);

// docs/COMPUTATION.md §4.1-4.4. fbank (may be null): [n_clips][n_mels][target_len]. wave (may be null):
// n_channels * n_samples_out floats, channel-major: the resampled signal *before* the clip mean
// subtraction (upstream's waveform after resample). Without `wave`, only the samples inside the
// clips are resampled, so the cost does not grow with the duration (validation aside).
bool audio_preprocess(const AudioPreParams & p, const float * const * channels, int32_t n_channels, int64_t n_samples,
                      int32_t sample_rate, float * fbank, float * wave, AudioPreInfo & info, std::string & err);

}  // namespace ggpt
