// bench_preprocess.cpp - timings of the media front ends (by hand, not run in CI):
//   build/cmake/bench_preprocess [iterations]
// image: pad + Pillow bicubic + normalise of a 4000x3000 RGB image; audio: the whole docs/COMPUTATION.md §4
// front end on 10 s of stereo 44.1 kHz (single thread).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "preprocess/audio.h"
#include "preprocess/image.h"

using clk = std::chrono::steady_clock;

static double ms_since(clk::time_point t0) {
    return std::chrono::duration<double, std::milli>(clk::now() - t0).count();
}

int main(int argc, char ** argv) {
    const int iters = argc > 1 ? std::atoi(argv[1]) : 5;
    std::string err;

    {  // image 4000x3000
        const int w = 4000, h = 3000;
        std::vector<uint8_t> rgb((size_t)w * h * 3);
        uint32_t s = 1;
        for (auto & v : rgb) v = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
        ggpt::ImagePreParams p;
        std::vector<uint8_t> resized((size_t)p.size * p.size * 3);
        std::vector<float> pixels(resized.size());
        for (int threads : {1, ggpt::image_auto_threads(w, h)}) {
            double best = 1e30;
            for (int i = 0; i < iters; ++i) {
                auto t0 = clk::now();
                if (!ggpt::image_pad_resize(p, rgb.data(), w, h, w * 3, resized.data(), nullptr, err, threads)) {
                    std::fprintf(stderr, "image: %s\n", err.c_str());
                    return 1;
                }
                ggpt::image_normalize(p, resized.data(), pixels.data());
                best = std::min(best, ms_since(t0));
            }
            std::printf("image 4000x3000 -> 336: %.2f ms (best of %d, %d thread%s)\n", best, iters, threads,
                        threads > 1 ? "s" : "");
        }
    }
    {  // audio 10 s stereo 44.1 kHz
        const int rate = 44100;
        const int64_t n = (int64_t)rate * 10;
        std::vector<float> l(n), r(n);
        for (int64_t i = 0; i < n; ++i) {
            l[i] = 0.5f * (float)std::sin(2 * 3.14159265358979 * 440.0 * i / rate);
            r[i] = 0.25f * (float)std::sin(2 * 3.14159265358979 * 1234.5 * i / rate);
        }
        const float * ch[2] = {l.data(), r.data()};
        ggpt::AudioPreParams p;
        std::vector<float> fbank((size_t)p.n_clips * p.n_mels * p.target_len);
        std::vector<float> wave((size_t)2 * ggpt::audio_resampled_len(n, rate, p.sample_rate));
        for (int want_wave = 0; want_wave < 2; ++want_wave) {
            double best = 1e30;
            for (int i = 0; i < iters; ++i) {
                ggpt::AudioPreInfo info;
                auto t0 = clk::now();
                if (!ggpt::audio_preprocess(p, ch, 2, n, rate, fbank.data(), want_wave ? wave.data() : nullptr, info,
                                            err)) {
                    std::fprintf(stderr, "audio: %s\n", err.c_str());
                    return 1;
                }
                best = std::min(best, ms_since(t0));
            }
            std::printf("audio 10 s stereo 44.1 kHz -> fbank%s: %.2f ms (best of %d, 1 thread)\n",
                        want_wave ? " + full 16 kHz wave" : "", best, iters);
        }
    }
    return 0;
}
