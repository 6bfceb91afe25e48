// test_preprocess.cpp - table-driven checks of the media front ends that have no JS binding
// (video-frame normalisation, Pillow coefficient tables, clip timepoints). Exit code 0 = pass.
//   node scripts/build.mjs --tests && build/cmake/test_preprocess
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "groundinggpt.h"
#include "preprocess/audio.h"
#include "preprocess/image.h"

#include "check.h"

int main() {
    {  // video frames: ((u8 / 255f) - mean) / std in float32, CHW
        ggpt::VideoPreParams p;
        p.size = 16;
        std::vector<uint8_t> rgb(16 * 16 * 3);
        for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = (uint8_t)(i * 37);
        std::vector<float> out(rgb.size());
        ggpt::video_frame_normalize(p, rgb.data(), out.data());
        for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 256; ++i) {
                const volatile float x = (float)rgb[i * 3 + c] / 255.0f;  // volatile: one rounding per step
                const volatile float d = x - p.mean[c];
                const float want = d / p.std[c];
                CHECK(out[c * 256 + i] == want, "video c=%d i=%d", c, i);
            }
    }
    {  // pad colour = int(255 * mean)
        ggpt::ImagePreParams p;
        uint8_t rgb[3];
        ggpt::image_pad_color(p, rgb);
        CHECK(rgb[0] == 122 && rgb[1] == 116 && rgb[2] == 104, "pad colour %d %d %d", rgb[0], rgb[1], rgb[2]);
    }
    {  // Pillow coefficients: every output's fixed-point weights sum to ~1 << 22
        for (int in : {1, 7, 335, 336, 337, 848, 4000}) {
            ggpt::PillowAxis ax;
            ggpt::pillow_axis_init(ax, in, 336);
            for (int xx = 0; xx < 336; ++xx) {
                long sum = 0;
                for (int k = 0; k < ax.count[xx]; ++k) sum += ax.coeff[(size_t)xx * ax.ksize + k];
                CHECK(std::labs(sum - (1L << 22)) <= ax.count[xx], "in=%d xx=%d sum=%ld", in, xx, sum);
                CHECK(ax.first[xx] >= 0 && ax.first[xx] + ax.count[xx] <= in, "bounds in=%d xx=%d", in, xx);
            }
        }
    }
    {  // clip timepoints (see test/preprocess-audio.test.ts for the arithmetic)
        struct Case {
            int64_t n;
            int64_t starts[3];
            int64_t ends[3];
        };
        const Case cases[] = {
            {160000, {0, 42666, 85333}, {32000, 74666, 117333}}, {120000, {0, 29333, 58666}, {32000, 61333, 90666}},
            {32000, {0, 0, 0}, {32000, 32000, 32000}},           {16000, {0, 0, 0}, {16000, 16000, 16000}},
            {41764, {0, 3254, 6509}, {32000, 35254, 38509}},     {32096, {0, 31, 63}, {32000, 32031, 32063}},
        };
        ggpt::AudioPreParams p;
        for (const Case & c : cases) {
            std::vector<ggpt::AudioClip> clips;
            std::string err;
            CHECK(ggpt::audio_clip_timepoints(p, c.n, clips, err), "%s", err.c_str());
            for (int k = 0; k < 3 && k < (int)clips.size(); ++k) {
                CHECK(clips[k].start == c.starts[k] && clips[k].end == c.ends[k], "n=%lld k=%d: [%lld, %lld)",
                      (long long)c.n, k, (long long)clips[k].start, (long long)clips[k].end);
            }
        }
    }
    {  // resampler identity and length
        ggpt::SincResampler rs(16000, 16000);
        CHECK(rs.identity() && rs.out_len(12345) == 12345, "identity");
        ggpt::SincResampler r2(44100, 16000);
        CHECK(r2.orig() == 441 && r2.next() == 160 && r2.out_len(115110) == 41764, "44.1k length");
    }
    {  // C API: defaults without a model, errors as statuses with messages
        std::vector<uint8_t> rgb(40 * 30 * 3, 200), resized(336 * 336 * 3);
        std::vector<float> pixels(3 * 336 * 336);
        ggpt_image_u8 img = {rgb.data(), 40, 30, 120};
        ggpt_image_geometry geo{};
        char err[256] = "";
        CHECK(ggpt_image_preprocess(nullptr, &img, resized.data(), pixels.data(), &geo, err, sizeof err) == GGPT_OK,
              "%s", err);
        CHECK(geo.side == 40 && geo.offset_x == 0 && geo.offset_y == 5, "geometry");
        CHECK(ggpt_image_preprocess(nullptr, &img, nullptr, pixels.data(), nullptr, err, sizeof err) == GGPT_OK,
              "no resized");
        img.stride = 100;
        CHECK(ggpt_image_preprocess(nullptr, &img, resized.data(), nullptr, nullptr, err, sizeof err) ==
                      GGPT_ERR_INVALID_ARGUMENT &&
                  std::string(err).find("stride") != std::string::npos,
              "stride error: %s", err);

        std::vector<float> a(44100, 0.25f), fbank(3 * 128 * 204);
        const float * ch[1] = {a.data()};
        ggpt_audio_info info{};
        CHECK(ggpt_audio_resampled_len(44100, 44100) == 16000 && ggpt_audio_resampled_len(10, 5) == -1,
              "resampled_len");
        std::vector<float> wave(16000);
        CHECK(ggpt_audio_preprocess(nullptr, ch, 1, 44100, 44100, fbank.data(), wave.data(), 16000, &info, err,
                                    sizeof err) == GGPT_OK,
              "%s", err);
        CHECK(info.n_samples_16k == 16000 && info.n_clips == 3 && info.clips[2].sample_end == 16000 && !info.padded,
              "info");
        CHECK(ggpt_audio_preprocess(nullptr, ch, 1, 44100, 44100, fbank.data(), wave.data(), 15999, &info, err,
                                    sizeof err) == GGPT_ERR_INVALID_ARGUMENT,
              "wave cap");
        a[7] = NAN;
        CHECK(ggpt_audio_preprocess(nullptr, ch, 1, 44100, 44100, fbank.data(), nullptr, 0, &info, err, sizeof err) ==
                      GGPT_ERR_INVALID_ARGUMENT &&
                  std::string(err).find("sample 7 of channel 0 is NaN") != std::string::npos,
              "NaN: %s", err);
    }
    std::printf(failures ? "%d failure(s)\n" : "all preprocess checks passed\n", failures);
    return failures ? 1 : 0;
}
