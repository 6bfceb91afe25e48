// api.cpp - C API of the media front ends (groundinggpt.h "Media preprocessing").
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/model.h"
#include "preprocess/audio.h"
#include "core/log.h"
#include "preprocess/image.h"

static ggpt_status set_err(char * err, size_t err_len, ggpt_status st, const std::string & msg) {
    ggpt::copy_error(err, err_len, msg);
    return st;
}

ggpt_status ggpt_image_preprocess(const ggpt_model * model, const ggpt_image_u8 * image, uint8_t * resized,
                                  float * pixels, ggpt_image_geometry * geometry, char * err, size_t err_len) {
    try {
        const ggpt::ImagePreParams p = model ? model->image_pre : ggpt::ImagePreParams{};
        if (!image) return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, "image is NULL");
        std::string msg;
        if (!ggpt::image_params_check(p, msg)) return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, msg);
        std::vector<uint8_t> tmp;
        uint8_t * out = resized;
        if (!out) {
            tmp.resize((size_t)p.size * p.size * 3);
            out = tmp.data();
        }
        ggpt::ImageGeometry g;
        if (!ggpt::image_pad_resize(p, image->data, image->width, image->height, image->stride, out, &g, msg)) {
            return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, msg);
        }
        if (pixels) ggpt::image_normalize(p, out, pixels);
        if (geometry) {
            geometry->width = g.width;
            geometry->height = g.height;
            geometry->side = g.side;
            geometry->offset_x = g.offset_x;
            geometry->offset_y = g.offset_y;
        }
        return GGPT_OK;
    } catch (const std::bad_alloc &) {
        return set_err(err, err_len, GGPT_ERR_OUT_OF_MEMORY, "out of memory in image preprocessing");
    } catch (const std::exception & e) {
        return set_err(err, err_len, GGPT_ERR_INTERNAL, e.what());
    }
}

int64_t ggpt_audio_resampled_len(int64_t n_samples, int32_t sample_rate) {
    return ggpt::audio_resampled_len(n_samples, sample_rate, ggpt::AudioPreParams{}.sample_rate);
}

ggpt_status ggpt_audio_preprocess(const ggpt_model * model, const float * const * channels, int32_t n_channels,
                                  int64_t n_samples, int32_t sample_rate, float * fbank, float * wave16k,
                                  int64_t wave16k_cap, ggpt_audio_info * info, char * err, size_t err_len) {
    try {
        const ggpt::AudioPreParams p = model ? model->audio_pre : ggpt::AudioPreParams{};
        std::string msg;
        if (!ggpt::audio_params_check(p, msg)) return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, msg);
        if (!ggpt::audio_input_check(channels, n_channels, n_samples, sample_rate, msg)) {
            return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, msg);
        }
        if (wave16k) {
            const int64_t need = ggpt::audio_resampled_len(n_samples, sample_rate, p.sample_rate) * n_channels;
            if (wave16k_cap < need) {
                return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT,
                               "wave16k holds " + std::to_string(wave16k_cap) + " floats; " + std::to_string(need) +
                                   " are needed");
            }
        }
        ggpt::AudioPreInfo ai;
        if (!ggpt::audio_preprocess(p, channels, n_channels, n_samples, sample_rate, fbank, wave16k, ai, msg)) {
            return set_err(err, err_len, GGPT_ERR_INVALID_ARGUMENT, msg);
        }
        if (info) {
            std::memset(info, 0, sizeof *info);
            info->n_samples_16k = ai.n_samples_out;
            info->duration = ai.duration;
            info->n_clips = (int32_t)ai.clips.size();
            for (size_t k = 0; k < ai.clips.size() && k < 8; ++k) {
                info->clips[k].sample_start = ai.clips[k].start;
                info->clips[k].sample_end = ai.clips[k].end;
                info->clips[k].t_start = ai.clips[k].t_start;
                info->clips[k].t_end = ai.clips[k].t_end;
            }
            info->padded = ai.padded;
        }
        return GGPT_OK;
    } catch (const std::bad_alloc &) {
        return set_err(err, err_len, GGPT_ERR_OUT_OF_MEMORY, "out of memory in audio preprocessing");
    } catch (const std::exception & e) {
        return set_err(err, err_len, GGPT_ERR_INTERNAL, e.what());
    }
}
