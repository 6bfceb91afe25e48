// audio.cpp - docs/COMPUTATION.md §4 steps 1-4 (upstream: ImageBind data.py load_and_transform_audio_data).
//
//   waveform [C, N] at rate r --torchaudio.functional.resample--> [C, N16] at 16 kHz
//   3 clips (pytorchvideo 0.1.5 ConstantClipsPerVideoSampler, exact fractions)
//   per clip k = 0, 1, 2: waveform[:, clip] -= mean (in place, all channels) ->
//       kaldi.fbank(channel 0) [frames, 128] -> transpose -> pad/crop 204 -> (x + 4.268) / 9.138
//
// The float32 steps of torch are repeated in float32 here (kernel, window, mel filters,
// normalisation); sums (convolution, FFT, filterbank) run in double, which is at least as exact
// as torch's float32 reductions, so outputs agree to float32 rounding.
#include "preprocess/audio.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>

namespace ggpt {

static const double k_pi = 3.14159265358979323846;  // Python's math.pi

// ---- resampling ----------------------------------------------------------------------------

SincResampler::SincResampler(int32_t orig_rate, int32_t new_rate, int32_t lowpass_filter_width, double rolloff) {
    const int32_t g = std::gcd(orig_rate, new_rate);
    orig_ = orig_rate / g;
    new_ = new_rate / g;
    if (orig_ == new_) return;

    // torchaudio.functional._get_sinc_resample_kernel with dtype = float32:
    //   base_freq = min(orig, new) * rolloff                         (Python double)
    //   width = ceil(lowpass_filter_width * orig / base_freq)        (Python double)
    //   idx = arange(-width, width + orig, f32) / orig
    //   t = arange(0, -new, -1, f32)[:, None] / new + idx;  t *= base_freq; clamp(±lpw)
    //   window = cos(t * pi / lpw / 2) ** 2;  t *= pi
    //   kernel = where(t == 0, 1, sin(t) / t);  kernel *= window * scale   (scale = base_freq / orig)
    const double base_freq = std::min(orig_, new_) * rolloff;
    width_ = (int32_t)std::ceil(lowpass_filter_width * (double)orig_ / base_freq);
    const int32_t n_taps = 2 * width_ + orig_;  // full kernel length (idx = -width .. width+orig-1)
    const float f_orig = (float)orig_, f_new = (float)new_, f_base = (float)base_freq;
    const float f_lpw = (float)lowpass_filter_width, f_pi = (float)k_pi;
    const float f_scale = (float)(base_freq / orig_);
    const double half = lowpass_filter_width * (double)orig_ / base_freq;  // support in taps

    tap0_.resize(new_);
    ntap_.resize(new_);
    off_.resize(new_);
    auto t_of = [&](int32_t i, int32_t tap) {
        const float idx = (float)(tap - width_) / f_orig;
        const float t = (float)(-i) / f_new + idx;
        return t * f_base;
    };
    for (int32_t i = 0; i < new_; ++i) {
        // t crosses zero at tap = width + i*orig/new; only |t| < lpw gives a non-residue weight
        const double center = width_ + (double)i * orig_ / new_;
        int32_t lo = std::max<int32_t>(0, (int32_t)std::floor(center - half) - 2);
        int32_t hi = std::min<int32_t>(n_taps - 1, (int32_t)std::ceil(center + half) + 2);
        while (lo <= hi && !(std::fabs(t_of(i, lo)) < f_lpw)) ++lo;
        while (hi >= lo && !(std::fabs(t_of(i, hi)) < f_lpw)) --hi;
        tap0_[i] = lo;
        ntap_[i] = hi - lo + 1;
        off_[i] = (int64_t)coef_.size();
        for (int32_t tap = lo; tap <= hi; ++tap) {
            float t = t_of(i, tap);
            t = std::min(f_lpw, std::max(-f_lpw, t));
            float w = std::cos(t * f_pi / f_lpw / 2.0f);
            w = w * w;
            t *= f_pi;
            float k = t == 0.0f ? 1.0f : std::sin(t) / t;
            k *= w * f_scale;
            coef_.push_back(k);
        }
    }
}

int64_t SincResampler::out_len(int64_t n_in) const {
    if (orig_ == new_) return n_in;
    // torch.ceil(torch.as_tensor(new * length / orig)): Python's true division, correctly rounded
    return (int64_t)std::ceil((double)((int64_t)new_ * n_in) / (double)orig_);
}

void SincResampler::process(const float * x, int64_t n_in, int64_t j0, int64_t j1, float * out) const {
    if (orig_ == new_) {
        std::memcpy(out, x + j0, (size_t)(j1 - j0) * sizeof(float));
        return;
    }
    // conv1d(pad(x, (width, width + orig)), kernel, stride=orig): output j = b*new + i reads padded
    // samples b*orig + tap, i.e. x[b*orig + tap - width].
    for (int64_t j = j0; j < j1; ++j) {
        const int64_t b = j / new_;
        const int32_t i = (int32_t)(j - b * new_);
        const float * k = &coef_[off_[i]];
        const int32_t nt = ntap_[i];
        const int64_t m0 = b * orig_ + tap0_[i] - width_;
        double acc = 0.0;
        if (m0 >= 0 && m0 + nt <= n_in) {
            const float * s = x + m0;
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int32_t t = 0;
            for (; t + 4 <= nt; t += 4) {
                a0 += (double)k[t + 0] * s[t + 0];
                a1 += (double)k[t + 1] * s[t + 1];
                a2 += (double)k[t + 2] * s[t + 2];
                a3 += (double)k[t + 3] * s[t + 3];
            }
            for (; t < nt; ++t) a0 += (double)k[t] * s[t];
            acc = (a0 + a1) + (a2 + a3);
        } else {
            for (int32_t t = 0; t < nt; ++t) {
                const int64_t m = m0 + t;
                if (m >= 0 && m < n_in) acc += (double)k[t] * x[m];
            }
        }
        out[j - j0] = (float)acc;
    }
}

// ---- clip timepoints -------------------------------------------------------------------------

// floor(q * m / 2^s) for q < 2^32, m < 2^53, s >= 0, when the result fits in 63 bits.
static uint64_t mul_shr(uint64_t q, uint64_t m, int s) {
    const uint64_t a = q * (m >> 32);          // < 2^53
    const uint64_t b = q * (m & 0xffffffffu);  // < 2^64
    if (s >= 32) {
        const int r = s - 32;  // floor((a*2^32 + b) / 2^32) = a + (b >> 32)
        return r >= 64 ? 0 : (a + (b >> 32)) >> r;
    }
    return (a << (32 - s)) + (b >> s);
}

bool audio_clip_timepoints(const AudioPreParams & p, int64_t n_samples, std::vector<AudioClip> & clips,
                           std::string & err) {
    clips.clear();
    const double clip_len_d = (double)p.sample_rate * (double)p.clip_seconds;
    const int64_t clip_len = (int64_t)clip_len_d;
    if (clip_len_d != (double)clip_len || clip_len <= 0) {
        err = "clip length sample_rate * clip_seconds must be a positive integer";
        return false;
    }
    if (n_samples <= 0 || n_samples > ((int64_t)1 << 50)) {
        err = "audio sample count out of range";
        return false;
    }
    // get_clip_timepoints(sampler, waveform.size(1) / sample_rate): D is a Python float;
    // Fraction(max(D - clip_duration, 0)) is exact, then divided by clips_per_video.
    const double D = (double)n_samples / (double)p.sample_rate;
    double dm = D - (double)p.clip_seconds;
    if (!(dm > 0.0)) dm = 0.0;
    // dm = mant * 2^-shift exactly
    int e = 0;
    const double f = std::frexp(dm, &e);                // dm = f * 2^e, f in [0.5, 1)
    const uint64_t mant = (uint64_t)std::ldexp(f, 53);  // exact: 53-bit integer
    const int shift = 53 - e;                           // >= 1 since dm < 2^50
    for (int32_t k = 0; k < p.n_clips; ++k) {
        AudioClip c;
        // int(Fraction(k * dm / n_clips) * rate) = floor(rate * k * mant / (n_clips * 2^shift))
        const uint64_t q = (uint64_t)p.sample_rate * (uint64_t)k;
        const int64_t start = dm == 0.0 ? 0 : (int64_t)(mul_shr(q, mant, shift) / (uint64_t)p.n_clips);
        c.start = std::min(start, n_samples);
        c.end = std::min(start + clip_len, n_samples);  // floor(rate*(t + clip)) = floor(rate*t) + clip_len
        c.t_start = (double)k * dm / p.n_clips;
        c.t_end = c.t_start + (double)p.clip_seconds;
        clips.push_back(c);
    }
    return true;
}

// ---- Kaldi fbank -------------------------------------------------------------------------------

KaldiFbank::KaldiFbank(const AudioPreParams & p) : p_(p) {
    // _get_waveform_and_window_properties: int(sample_frequency * frame_length * 0.001), etc.
    const double sr = (double)p.sample_rate;
    win_len_ = (int32_t)(sr * 25.0 * 0.001);
    shift_ = (int32_t)(sr * 10.0 * 0.001);
    n_fft_ = 1;
    while (n_fft_ < win_len_) n_fft_ *= 2;  // round_to_power_of_two

    // torch.hann_window(L, periodic=False) = hamming_window(alpha=0.5, beta=0.5) in float32:
    // arange(L).mul_(2*pi/(L-1)).cos_().mul_(-0.5).add_(0.5). Kaldi's "hanning" is the same
    // symmetric window 0.5 - 0.5*cos(2*pi*n/(L-1)).
    window_.resize(win_len_);
    const float step = (float)(k_pi * 2.0 / (double)(win_len_ - 1));
    for (int32_t i = 0; i < win_len_; ++i) {
        float w = std::cos((float)i * step);
        window_[i] = w * -0.5f + 0.5f;
    }

    // get_mel_banks(num_bins, padded_window_size, sample_freq, low_freq=20, high_freq=0 -> nyquist):
    // Python-double scalars, then float32 tensors; mel(f) = 1127 * ln(1 + f / 700).
    const int32_t n_bins = n_fft_ / 2;
    const double nyquist = 0.5 * sr;
    const double low_freq = 20.0, high_freq = nyquist;
    const double fft_bin_width = sr / n_fft_;
    const double mel_low = 1127.0 * std::log(1.0 + low_freq / 700.0);
    const double mel_high = 1127.0 * std::log(1.0 + high_freq / 700.0);
    const double mel_delta = (mel_high - mel_low) / (p.n_mels + 1);
    std::vector<float> mel(n_bins);
    for (int32_t k = 0; k < n_bins; ++k) {
        const float f = (float)fft_bin_width * (float)k;
        mel[k] = 1127.0f * std::log(1.0f + f / 700.0f);
    }
    mel_w_.assign((size_t)p.n_mels * n_bins, 0.0f);
    mel_k0_.assign(p.n_mels, 0);
    mel_nk_.assign(p.n_mels, 0);
    for (int32_t m = 0; m < p.n_mels; ++m) {
        const float bin = (float)m;
        const float left = bin * (float)mel_delta + (float)mel_low;
        const float center = (bin + 1.0f) * (float)mel_delta + (float)mel_low;
        const float right = (bin + 2.0f) * (float)mel_delta + (float)mel_low;
        int32_t k0 = -1, k1 = -1;
        for (int32_t k = 0; k < n_bins; ++k) {
            const float up = (mel[k] - left) / (center - left);
            const float down = (right - mel[k]) / (right - center);
            const float w = std::max(0.0f, std::min(up, down));
            mel_w_[(size_t)m * n_bins + k] = w;
            if (w > 0.0f) {
                if (k0 < 0) k0 = k;
                k1 = k;
            }
        }
        mel_k0_[m] = k0 < 0 ? 0 : k0;
        mel_nk_[m] = k0 < 0 ? 0 : k1 - k0 + 1;
    }

    // radix-2 FFT tables
    cos_.resize(n_fft_ / 2);
    sin_.resize(n_fft_ / 2);
    for (int32_t k = 0; k < n_fft_ / 2; ++k) {
        cos_[k] = std::cos(2.0 * k_pi * k / n_fft_);
        sin_[k] = -std::sin(2.0 * k_pi * k / n_fft_);
    }
    bitrev_.resize(n_fft_);
    int32_t bits = 0;
    while ((1 << bits) < n_fft_) ++bits;
    for (int32_t i = 0; i < n_fft_; ++i) {
        int32_t r = 0;
        for (int32_t b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
        bitrev_[i] = r;
    }
}

// In-place iterative radix-2 DIT FFT, X[k] = sum x[n] e^{-2 pi i k n / N}.
void KaldiFbank::fft(double * re, double * im) const {
    const int32_t n = n_fft_;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t j = bitrev_[i];
        if (j > i) {
            std::swap(re[i], re[j]);
            std::swap(im[i], im[j]);
        }
    }
    for (int32_t len = 2; len <= n; len <<= 1) {
        const int32_t half = len >> 1, tstep = n / len;
        for (int32_t s = 0; s < n; s += len) {
            for (int32_t k = 0; k < half; ++k) {
                const double wr = cos_[k * tstep], wi = sin_[k * tstep];
                const int32_t a = s + k, b = a + half;
                const double xr = re[b] * wr - im[b] * wi;
                const double xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
    }
}

void KaldiFbank::log_mel(const float * x, int64_t n_frames, float * out) const {
    const int32_t n_bins = n_fft_ / 2;
    std::vector<float> frame(win_len_);
    std::vector<double> re(n_fft_), im(n_fft_), power(n_bins + 1);
    const float eps = FLT_EPSILON;  // torch.finfo(torch.float).eps
    for (int64_t f = 0; f < n_frames; ++f) {
        const float * s = x + f * shift_;
        // remove_dc_offset: row mean (float32 result)
        double sum = 0.0;
        for (int32_t j = 0; j < win_len_; ++j) sum += s[j];
        const float mean = (float)(sum / win_len_);
        for (int32_t j = 0; j < win_len_; ++j) frame[j] = s[j] - mean;
        // pre-emphasis with replicate padding: y[j] = x[j] - 0.97 * x[max(j-1, 0)], then window
        for (int32_t j = win_len_ - 1; j >= 0; --j) {
            const float prev = frame[j > 0 ? j - 1 : 0];
            const float y = frame[j] - 0.97f * prev;
            re[j] = (double)(y * window_[j]);
        }
        for (int32_t j = win_len_; j < n_fft_; ++j) re[j] = 0.0;
        std::fill(im.begin(), im.end(), 0.0);
        fft(re.data(), im.data());
        for (int32_t k = 0; k <= n_bins; ++k) power[k] = re[k] * re[k] + im[k] * im[k];
        // mel energies (the Nyquist bin has weight 0), log(max(e, eps))
        for (int32_t m = 0; m < p_.n_mels; ++m) {
            const float * w = &mel_w_[(size_t)m * n_bins];
            double e = 0.0;
            for (int32_t k = mel_k0_[m], k1 = mel_k0_[m] + mel_nk_[m]; k < k1; ++k) e += power[k] * w[k];
            out[f * p_.n_mels + m] = std::log(std::max((float)e, eps));
        }
    }
}

void KaldiFbank::compute(const float * x, int64_t n, float * out, bool * padded) const {
    std::vector<float> tmp;
    if (n < win_len_) {
        // docs/COMPUTATION.md §4.3 decision: upstream raises; pad with zeros to one window and warn
        tmp.assign(win_len_, 0.0f);
        if (n > 0) std::memcpy(tmp.data(), x, (size_t)n * sizeof(float));
        x = tmp.data();
        n = win_len_;
        if (padded) *padded = true;
    }
    const int32_t T = p_.target_len, M = p_.n_mels;
    const int64_t frames = std::min<int64_t>(n_frames(n, win_len_, shift_), T);  // crop: later frames unused
    std::vector<float> lm((size_t)frames * M);
    log_mel(x, frames, lm.data());
    // transpose to [mels][frames], pad right with 0, then transforms.Normalize(mean, std) in float32
    const float pad_v = (0.0f - p_.fbank_mean) / p_.fbank_std;
    for (int32_t m = 0; m < M; ++m) {
        float * row = out + (size_t)m * T;
        for (int64_t f = 0; f < frames; ++f) row[f] = (lm[(size_t)f * M + m] - p_.fbank_mean) / p_.fbank_std;
        for (int64_t f = frames; f < T; ++f) row[f] = pad_v;
    }
}

// ---- front end ---------------------------------------------------------------------------------

bool audio_params_check(const AudioPreParams & p, std::string & err) {
    if (p.sample_rate < 8000 || p.sample_rate > 192000 || p.sample_rate % 100 != 0) {
        err = "audio target sample_rate " + std::to_string(p.sample_rate) +
              " must be a multiple of 100 in [8000, 192000]";
        return false;
    }
    if (p.n_clips < 1 || p.n_clips > 8) {
        err = "audio n_clips " + std::to_string(p.n_clips) + " out of range [1, 8]";
        return false;
    }
    if (!(p.clip_seconds > 0.0f) || p.clip_seconds > 600.0f) {
        err = "audio clip_seconds out of range (0, 600]";
        return false;
    }
    const double cl = (double)p.sample_rate * p.clip_seconds;
    if (cl != std::floor(cl)) {
        err = "audio clip_seconds * sample_rate must be a whole number of samples";
        return false;
    }
    if (p.n_mels < 4 || p.n_mels > 512 || p.target_len < 1 || p.target_len > 100000) {
        err = "audio n_mels must be in [4, 512] and target_len in [1, 100000]";
        return false;
    }
    if (!std::isfinite(p.fbank_mean) || !std::isfinite(p.fbank_std) || !(p.fbank_std > 0.0f)) {
        err = "audio fbank normalisation needs a finite mean and std > 0";
        return false;
    }
    return true;
}

bool audio_input_check(const float * const * channels, int32_t n_channels, int64_t n_samples, int32_t sample_rate,
                       std::string & err) {
    if (n_channels < 1 || n_channels > k_audio_max_channels) {
        err = "audio has " + std::to_string(n_channels) + " channels; 1 to " + std::to_string(k_audio_max_channels) +
              " are supported";
        return false;
    }
    if (sample_rate < k_audio_min_rate || sample_rate > k_audio_max_rate) {
        err = "audio sample rate " + std::to_string(sample_rate) + " Hz is outside [" +
              std::to_string(k_audio_min_rate) + ", " + std::to_string(k_audio_max_rate) + "] Hz";
        return false;
    }
    if (n_samples <= 0) {
        err = "audio has no samples";
        return false;
    }
    if (n_samples > ((int64_t)1 << 36)) {  // keeps new*n exact in double (torchaudio's length formula)
        err = "audio has too many samples (" + std::to_string(n_samples) + "; at most 2^36)";
        return false;
    }
    if (!channels) {
        err = "audio channel array is NULL";
        return false;
    }
    for (int32_t c = 0; c < n_channels; ++c) {
        const float * x = channels[c];
        if (!x) {
            err = "audio channel " + std::to_string(c) + " is NULL";
            return false;
        }
        bool bad = false;
        for (int64_t i = 0; i < n_samples; ++i) bad |= !(std::fabs(x[i]) <= FLT_MAX);  // NaN or Inf
        if (bad) {
            int64_t i = 0;
            while (std::fabs(x[i]) <= FLT_MAX) ++i;
            err = "audio sample " + std::to_string(i) + " of channel " + std::to_string(c) + " is " +
                  (std::isnan(x[i]) ? "NaN" : "infinite") + "; samples must be finite";
            return false;
        }
    }
    return true;
}

int64_t audio_resampled_len(int64_t n_samples, int32_t sample_rate, int32_t target_rate) {
    if (n_samples < 0 || sample_rate < k_audio_min_rate || sample_rate > k_audio_max_rate || target_rate <= 0)
        return -1;
    if (sample_rate == target_rate) return n_samples;
    const int32_t g = std::gcd(sample_rate, target_rate);
    const int64_t o = sample_rate / g, nw = target_rate / g;
    return (int64_t)std::ceil((double)(nw * n_samples) / (double)o);
}

bool audio_preprocess(const AudioPreParams & p, const float * const * channels, int32_t n_channels, int64_t n_samples,
                      int32_t sample_rate, float * fbank, float * wave, AudioPreInfo & info, std::string & err) {
    if (!audio_params_check(p, err)) return false;
    if (!audio_input_check(channels, n_channels, n_samples, sample_rate, err)) return false;

    const SincResampler rs(sample_rate, p.sample_rate);
    const int64_t n16 = rs.out_len(n_samples);
    info = AudioPreInfo{};
    info.n_samples_out = n16;
    info.duration = (double)n16 / p.sample_rate;
    if (!audio_clip_timepoints(p, n16, info.clips, err)) return false;

    if (wave) {
        for (int32_t c = 0; c < n_channels; ++c) rs.process(channels[c], n_samples, 0, n16, wave + (size_t)c * n16);
    }
    if (!fbank) return true;

    // Working copy of the resampled signal, only where clips are: merged clip intervals.
    struct Seg {
        int64_t start, end;
        size_t off;
    };
    std::vector<Seg> segs;
    for (const AudioClip & c : info.clips) {  // starts are non-decreasing
        if (!segs.empty() && c.start <= segs.back().end) segs.back().end = std::max(segs.back().end, c.end);
        else segs.push_back({c.start, c.end, 0});
    }
    size_t total = 0;
    for (Seg & s : segs) {
        s.off = total;
        total += (size_t)(s.end - s.start);
    }
    std::vector<std::vector<float>> work(n_channels, std::vector<float>(total));
    for (int32_t c = 0; c < n_channels; ++c) {
        for (const Seg & s : segs) {
            float * dst = work[c].data() + s.off;
            if (wave) std::memcpy(dst, wave + (size_t)c * n16 + s.start, (size_t)(s.end - s.start) * sizeof(float));
            else rs.process(channels[c], n_samples, s.start, s.end, dst);
        }
    }

    const KaldiFbank fb(p);
    const size_t clip_floats = (size_t)p.n_mels * p.target_len;
    for (size_t k = 0; k < info.clips.size(); ++k) {
        const AudioClip & c = info.clips[k];
        const Seg * seg = nullptr;
        for (const Seg & s : segs) {
            if (c.start >= s.start && c.end <= s.end) seg = &s;
        }
        const size_t off = seg ? seg->off + (size_t)(c.start - seg->start) : 0;
        const int64_t len = c.end - c.start;
        if (len > 0) {
            // waveform -= waveform.mean(): float32 mean over every channel of the clip, in place
            double sum = 0.0;
            for (int32_t ch = 0; ch < n_channels; ++ch) {
                const float * x = work[ch].data() + off;
                for (int64_t i = 0; i < len; ++i) sum += x[i];
            }
            const float mean = (float)(sum / ((double)len * n_channels));
            for (int32_t ch = 0; ch < n_channels; ++ch) {
                float * x = work[ch].data() + off;
                for (int64_t i = 0; i < len; ++i) x[i] -= mean;
            }
        }
        fb.compute(len > 0 ? work[0].data() + off : nullptr, std::max<int64_t>(len, 0), fbank + k * clip_floats,
                   &info.padded);
    }
    return true;
}

}  // namespace ggpt
