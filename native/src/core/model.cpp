// model.cpp - ggpt_model: the LLM through libllama, our extra GGUF keys, the tokenizer tables,
// where the token_embd rows live, then the towers (encoders_load).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/gguf_util.h"
#include "core/llm_check.h"
#include "core/log.h"
#include "core/model.h"
#include "core/resident.h"
#include "core/rpc.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "names.h"

namespace {

bool has_gpu_device() {
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        const auto type = ggml_backend_dev_type(ggml_backend_dev_get(i));
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) return true;
    }
    return false;
}

// Progress of the whole load: the LLM file maps to [0, llm_share], the encoders to the rest.
struct LoadProgress {
    ggpt_progress_fn fn = nullptr;
    void * user = nullptr;
    float llm_share = 1.0f;
    bool aborted = false;
    const char * drop_path = nullptr;  // llm.gguf while its mapping's pages are dropped as it loads
    float dropped_at = 0.0f;
};

bool llm_progress(float p, void * user) {
    auto * lp = (LoadProgress *)user;
#if defined(__linux__)
    // every 2 % of the load, the pages read so far leave this process (see load_impl): the load's
    // peak then holds the repacked copies and a little of the file, not both
    if (lp->drop_path && p - lp->dropped_at >= 0.02f) {
        ggpt::drop_pages(ggpt::mappings_of(lp->drop_path));
        lp->dropped_at = p;
    }
#endif
    if (lp->fn && !lp->fn(p * lp->llm_share, lp->user)) {
        lp->aborted = true;
        return false;
    }
    return true;
}

bool enc_progress(float p, void * user) {
    auto * lp = (LoadProgress *)user;
    if (lp->fn && !lp->fn(lp->llm_share + p * (1.0f - lp->llm_share), lp->user)) {
        lp->aborted = true;
        return false;
    }
    return true;
}

// Token texts used when a file has no ggpt.token.* keys (e.g. a GGUF made by another converter).
const char * const kMediaKeys[9] = {
    ggpt::names::KEY_TOK_IM_PATCH, ggpt::names::KEY_TOK_IM_START, ggpt::names::KEY_TOK_IM_END,
    ggpt::names::KEY_TOK_VI_PATCH, ggpt::names::KEY_TOK_VI_START, ggpt::names::KEY_TOK_VI_END,
    ggpt::names::KEY_TOK_SO_PATCH, ggpt::names::KEY_TOK_SO_START, ggpt::names::KEY_TOK_SO_END,
};
const char * const kMediaTexts[9] = {
    "<im_patch>", "<im_start>", "<im_end>",   "<vi_patch>", "<vi_start>",
    "<vi_end>",   "<so_patch>", "<so_start>", "<so_end>",
};

// file: the file the current step reads (reported with a failure, ggpt_load_error.file).
ggpt_status load_impl(const ggpt_model_params * params, ggpt_model ** out, std::string & err, ggpt_model_file & file) {
    file = GGPT_MODEL_FILE_NONE;
    if (!params || !params->llm_path || !*params->llm_path) {
        err = "llm_path is required";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (params->n_gpu_layers < -1) {
        err = "n_gpu_layers must be -1 (all) or >= 0";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (params->encoders_matmul < GGPT_ENC_MATMUL_AUTO || params->encoders_matmul > GGPT_ENC_MATMUL_INT8) {
        err = "encoders_matmul must be GGPT_ENC_MATMUL_AUTO, _GGML or _INT8";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    ggpt_backend_init();

    const std::string llm_path = params->llm_path;
    const std::string enc_path = params->encoders_path ? params->encoders_path : "";
    file = GGPT_MODEL_FILE_LLM;
    const int64_t llm_size = ggpt::file_size(llm_path, err);
    if (llm_size < 0) return GGPT_ERR_IO;
    int64_t enc_size = 0;
    if (!enc_path.empty()) {
        file = GGPT_MODEL_FILE_ENCODERS;
        enc_size = ggpt::file_size(enc_path, err);
        if (enc_size < 0) return GGPT_ERR_IO;
        file = GGPT_MODEL_FILE_LLM;
    }

    // every value of the file that can reach a libllama/ggml assert, before libllama reads it
    // (docs/LLM-FILE-CHECKS.md)
    ggpt::LlmFileInfo x;
    ggpt_status st = ggpt::check_llm_file(llm_path, x, err);
    if (st != GGPT_OK) return st;

    std::unique_ptr<ggpt_model, void (*)(ggpt_model *)> model(new ggpt_model(), ggpt_model_free);
    model->params = *params;
    model->llm_path = llm_path;
    model->encoders_path = enc_path;
    model->params.llm_path = model->llm_path.c_str();
    model->params.encoders_path = enc_path.empty() ? nullptr : model->encoders_path.c_str();
    model->params.progress = nullptr;
    model->params.progress_user = nullptr;
    // caller-owned arrays: the model keeps its own copies (model->rpc, llm_split)
    model->params.rpc_servers = nullptr;
    model->params.tensor_split = nullptr;

    // remote devices first: an unreachable server fails the load before any file is read
    // (docs/RELIABILITY.md "RPC devices")
    st = ggpt::rpc_connect(model.get(), *params, err);
    if (st != GGPT_OK) return st;
    const bool with_rpc = model->rpc != nullptr;
    if (with_rpc) {
        st = ggpt::rpc_llm_devices(model.get(), *params, model->llm_devices, model->llm_split, err);
        if (st != GGPT_OK) return st;
    } else if (params->tensor_split && params->n_tensor_split > 0) {
        // local GPUs only: the same validation
        st = ggpt::rpc_llm_devices(model.get(), *params, model->llm_devices, model->llm_split, err);
        if (st != GGPT_OK) return st;
    }

    LoadProgress lp;
    lp.fn = params->progress;
    lp.user = params->progress_user;
    // towers not asked for up front cost only their metadata now
    const bool towers_now = (params->towers & GGPT_TOWERS_ALL) != 0;
    lp.llm_share = enc_size > 0 && towers_now ? (float)((double)llm_size / (double)(llm_size + enc_size)) : 1.0f;

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = params->n_gpu_layers;
    // libllama's mmap path wraps the mapping in a CPU buffer, which asserts 32-byte aligned data:
    // a file with a smaller general.alignment is read into allocated buffers instead
    const bool use_mmap = params->use_mmap && x.mmap_aligned;
    if (params->use_mmap && !use_mmap) {
        GGPT_LOG_W("%s: tensor data is not 32-byte aligned (general.alignment): loading without mmap",
                   llm_path.c_str());
    }
    mp.load_mode = use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    mp.progress_callback = llm_progress;
    mp.progress_callback_user_data = &lp;
    if (use_mmap) lp.drop_path = llm_path.c_str();
    std::vector<ggml_backend_dev_t> dev_list;
    if (!model->llm_devices.empty()) {
        dev_list = model->llm_devices;
        dev_list.push_back(nullptr);
        mp.devices = dev_list.data();
        mp.tensor_split = model->llm_split.data();  // as long as the devices (llama_max_devices)
    }
    if (model->llm_devices.size() > llama_max_devices()) {
        err = "too many devices (" + std::to_string(model->llm_devices.size()) + ", libllama takes " +
              std::to_string(llama_max_devices()) + ")";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    {
        ggpt::LogCapture capture;
        model->llm = llama_model_load_from_file(llm_path.c_str(), mp);
        // a server that failed during the load: its weights are not all there
        std::string rpc_err;
        if (ggpt::rpc_check(model.get(), rpc_err) != GGPT_OK) {
            file = GGPT_MODEL_FILE_NONE;
            err = rpc_err;
            return GGPT_ERR_REMOTE;
        }
        if (!model->llm) {
            if (lp.aborted) {
                file = GGPT_MODEL_FILE_NONE;
                err = "loading was aborted";
                return GGPT_ERR_ABORTED;
            }
            err = llm_path + ": libllama cannot load it" +
                  (capture.first_error().empty() ? std::string() : " (" + capture.first_error() + ")");
            return GGPT_ERR_FORMAT;
        }
    }
    // from here on the unique_ptr's deleter (ggpt_model_free) releases the llama model
#if defined(__linux__)
    // Every page of llm.gguf was read during the load, but the weights libllama repacked for the
    // CPU (Q4_K and others: CPU_REPACK) live in their own buffers and their pages in the mapping
    // are not read again: drop them all from this process (file-backed and clean: a later read
    // of a weight that is used in place faults its pages back in). Without this the process holds
    // the repacked weights twice until the kernel reclaims the pages (docs/ARCHITECTURE.md
    // "Memory defaults").
    if (use_mmap) {
        model->llm_maps = ggpt::mappings_of(llm_path);
        ggpt::drop_pages(model->llm_maps);
    }
#endif
    model->vocab = llama_model_get_vocab(model->llm);
    model->n_embd = llama_model_n_embd_inp(model->llm);
    model->gpu_backend = params->n_gpu_layers != 0 && (has_gpu_device() || with_rpc);
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);

    if (llama_vocab_type(model->vocab) != LLAMA_VOCAB_TYPE_SPM) {
        err = llm_path + ": the vocabulary is not SentencePiece (tokenizer.ggml.model 'llama')";
        return GGPT_ERR_FORMAT;
    }
    // the check and libllama read the same file: these hold unless the file changed in between
    if (x.n_vocab != n_vocab || x.n_embd != model->n_embd || llama_vocab_bos(model->vocab) != x.bos ||
        llama_vocab_eos(model->vocab) != x.eos) {
        err = llm_path + ": libllama reads " + std::to_string(n_vocab) + " tokens of width " +
              std::to_string(model->n_embd) + " (BOS " + std::to_string(llama_vocab_bos(model->vocab)) + ", EOS " +
              std::to_string(llama_vocab_eos(model->vocab)) + ") but the file's keys say " + std::to_string(x.n_vocab) +
              " of width " + std::to_string(x.n_embd) + " (BOS " + std::to_string(x.bos) + ", EOS " +
              std::to_string(x.eos) + "): was it changed while loading?";
        return GGPT_ERR_FORMAT;
    }
    const auto * traits = ggml_get_type_traits((ggml_type)x.token_embd_type);
    if (x.token_embd_type != GGML_TYPE_F32 && (!traits || !traits->to_float)) {
        err = llm_path + ": token_embd.weight has type " + ggml_type_name((ggml_type)x.token_embd_type) +
              ", which cannot be converted to float";
        return GGPT_ERR_FORMAT;
    }
    model->token_embd.offset = x.token_embd_offset;
    model->token_embd.row_bytes = x.token_embd_row_bytes;
    model->token_embd.type = x.token_embd_type;
    model->token_embd.n_rows = x.n_vocab;
    model->token_embd.n_embd = x.n_embd;

    // media tokens: our keys, else the tokens' texts in the vocabulary
    for (int i = 0; i < 9; i++) {
        int32_t id = x.media_ids[i];
        if (id < 0) {
            for (int32_t t = 0; t < n_vocab; t++) {
                if (strcmp(llama_vocab_get_text(model->vocab, t), kMediaTexts[i]) == 0) {
                    id = t;
                    break;
                }
            }
            if (id >= 0)
                GGPT_LOG_I("%s: no key %s, using the vocabulary's %s = %d", llm_path.c_str(), kMediaKeys[i],
                           kMediaTexts[i], id);
            if (id >= 0 && (id == x.bos || id == x.eos)) {
                err = llm_path + ": the vocabulary's " + kMediaTexts[i] + " is the " + (id == x.bos ? "BOS" : "EOS") +
                      " token " + std::to_string(id) + ": a media placeholder needs its own token";
                return GGPT_ERR_FORMAT;
            }
        } else if (id >= n_vocab) {
            err = llm_path + ": key '" + kMediaKeys[i] + "' = " + std::to_string(id) + " is not a token id (n_vocab " +
                  std::to_string(n_vocab) + ")";
            return GGPT_ERR_FORMAT;
        }
        for (int j = 0; j < i; j++) {
            if (id >= 0 && x.media_ids[j] == id) {
                err = llm_path + ": keys '" + kMediaKeys[j] + "' and '" + kMediaKeys[i] + "' name the same token " +
                      std::to_string(id);
                return GGPT_ERR_FORMAT;
            }
        }
        x.media_ids[i] = id;
        const int m = i / 3;
        (i % 3 == 0 ? model->media.patch : i % 3 == 1 ? model->media.start : model->media.end)[m] = id;
    }
    for (int m = 0; m < 3; m++) model->media.n_rows[m] = (int32_t)x.n_rows[m];

    model->tok.init(model->vocab, x.add_space_prefix, x.media_ids, 9);

    if (!enc_path.empty()) {
        file = GGPT_MODEL_FILE_ENCODERS;
        ggml_backend_dev_t enc_dev = with_rpc && params->encoders_rpc_device >= 0
                                         ? model->rpc->devices[(size_t)params->encoders_rpc_device]
                                         : nullptr;
        st = ggpt::encoders_load(model.get(), enc_path.c_str(), params->encoders_on_gpu, enc_progress, &lp, err,
                                 params->encoders_matmul, enc_dev, params->towers & GGPT_TOWERS_ALL);
        std::string rpc_err;
        if (ggpt::rpc_check(model.get(), rpc_err) != GGPT_OK) {
            file = GGPT_MODEL_FILE_NONE;
            err = rpc_err;
            return GGPT_ERR_REMOTE;
        }
        if (st != GGPT_OK) {
            if (lp.aborted) {
                file = GGPT_MODEL_FILE_NONE;
                err = "loading was aborted";
                return GGPT_ERR_ABORTED;
            }
            return st;
        }
    }
    file = GGPT_MODEL_FILE_NONE;
    if (params->progress) params->progress(1.0f, params->progress_user);
    *out = model.release();
    return GGPT_OK;
}

// ggpt_model_info.devices: libllama's assignment of layers to devices (llama-model.cpp
// load_tensors), from the device list and split it was given
void fill_layout(const ggpt_model * model, ggpt_model_info * out) {
    const int n_layer = llama_model_n_layer(model->llm);
    const auto & devs = model->llm_devices;
    const int max_entries = (int)(sizeof out->devices / sizeof out->devices[0]);
    auto entry = [&](ggml_backend_dev_t dev) -> int {
        for (int i = 0; i < out->n_devices; i++)
            if (strcmp(out->devices[i].name, ggml_backend_dev_name(dev)) == 0) return i;
        if (out->n_devices >= max_entries) return -1;
        auto & d = out->devices[out->n_devices];
        snprintf(d.name, sizeof d.name, "%s", ggml_backend_dev_name(dev));
        snprintf(d.description, sizeof d.description, "%s", ggml_backend_dev_description(dev));
        d.layer_begin = d.layer_end = -1;
        d.output = false;
        return out->n_devices++;
    };
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (devs.empty()) {  // no explicit list: CPU, or every layer on the first GPU (gpu_backend)
        ggml_backend_dev_t dev = cpu;
        if (model->gpu_backend)
            for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
                const auto type = ggml_backend_dev_type(ggml_backend_dev_get(i));
                if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) {
                    dev = ggml_backend_dev_get(i);
                    break;
                }
            }
        if (!dev) return;
        const int e = entry(dev);
        if (e < 0) return;
        out->devices[e].layer_begin = 0;
        out->devices[e].layer_end = n_layer;
        out->devices[e].output = true;
        return;
    }
    std::vector<float> splits(model->llm_split);
    float sum = 0.0f;
    for (float & v : splits) v = (sum += v);
    for (float & v : splits) v /= sum;
    const int ngl = model->params.n_gpu_layers < 0 ? n_layer + 1 : model->params.n_gpu_layers;
    const int gpu_start = std::max(n_layer + 1 - ngl, 0);
    const int act = std::min(ngl, n_layer + 1);
    for (int il = 0; il <= n_layer; il++) {
        ggml_backend_dev_t dev = cpu;
        if (il >= gpu_start && il - gpu_start < act) {
            const size_t k =
                (size_t)(std::upper_bound(splits.begin(), splits.end(), float(il - gpu_start) / act) - splits.begin());
            dev = devs[std::min(k, devs.size() - 1)];
        }
        if (!dev) continue;
        const int e = entry(dev);
        if (e < 0) continue;
        auto & d = out->devices[e];
        if (il == n_layer) {
            d.output = true;
        } else {
            if (d.layer_begin < 0) d.layer_begin = il;
            d.layer_end = il + 1;
        }
    }
    for (int i = 0; i < out->n_devices; i++)  // a device with only the output layer
        if (out->devices[i].layer_begin < 0) out->devices[i].layer_begin = out->devices[i].layer_end = 0;
}

}  // namespace

extern "C" {

ggpt_model_params ggpt_model_default_params(void) {
    ggpt_backend_init();
    ggpt_model_params p;
    memset(&p, 0, sizeof p);
    p.llm_path = nullptr;
    p.encoders_path = nullptr;
    p.n_gpu_layers = has_gpu_device() ? -1 : 0;
    p.encoders_on_gpu = true;
    p.use_mmap = true;
    p.encoders_matmul = GGPT_ENC_MATMUL_AUTO;
    p.progress = nullptr;
    p.progress_user = nullptr;
    p.rpc_servers = nullptr;
    p.n_rpc_servers = 0;
    p.tensor_split = nullptr;
    p.n_tensor_split = 0;
    p.encoders_rpc_device = -1;
    p.rpc_timeout_ms = 0;
    p.rpc_connect_timeout_ms = 0;
    p.towers = 0;  // all on demand (docs/ARCHITECTURE.md "Towers on demand")
    return p;
}

ggpt_status ggpt_model_load_ex(const ggpt_model_params * params, ggpt_model ** out, ggpt_load_error * error) {
    if (error) {
        error->file = GGPT_MODEL_FILE_NONE;
        error->message[0] = 0;
    }
    if (!out) {
        if (error) ggpt::copy_error(error->message, sizeof error->message, "out is NULL");
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    std::string msg;
    ggpt_status st;
    ggpt_model_file file = GGPT_MODEL_FILE_NONE;
    try {
        st = load_impl(params, out, msg, file);
    } catch (const std::bad_alloc &) {
        st = GGPT_ERR_OUT_OF_MEMORY;
        file = GGPT_MODEL_FILE_NONE;
        msg = "out of memory while loading the model";
    } catch (const std::exception & e) {
        st = GGPT_ERR_INTERNAL;
        msg = std::string("internal error while loading the model: ") + e.what();
    }
    if (error && st != GGPT_OK) {
        error->file = file;
        ggpt::copy_error(error->message, sizeof error->message, msg);
    }
    return st;
}

ggpt_status ggpt_model_load(const ggpt_model_params * params, ggpt_model ** out, char * err, size_t err_len) {
    ggpt_load_error e;
    const ggpt_status st = ggpt_model_load_ex(params, out, &e);
    ggpt::copy_error(err, err_len, st != GGPT_OK ? e.message : "");
    return st;
}

void ggpt_model_free(ggpt_model * model) {
    if (!model) return;
    model->enc.reset();
    if (model->llm) llama_model_free(model->llm);
    model->llm = nullptr;
    delete model;
}

ggpt_status ggpt_model_get_info(const ggpt_model * model, ggpt_model_info * out) {
    if (!model || !out) return GGPT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    out->n_vocab = llama_vocab_n_tokens(model->vocab);
    out->n_embd = model->n_embd;
    out->n_layer = llama_model_n_layer(model->llm);
    out->n_head = llama_model_n_head(model->llm);
    out->n_ctx_train = llama_model_n_ctx_train(model->llm);
    out->token_bos = llama_vocab_bos(model->vocab);
    out->token_eos = llama_vocab_eos(model->vocab);
    for (int m = 0; m < 3; m++) {
        out->media_tokens[m][0] = model->media.patch[m];
        out->media_tokens[m][1] = model->media.start[m];
        out->media_tokens[m][2] = model->media.end[m];
        out->media_n_tokens[m] = model->media.n_rows[m];
    }
    out->llm_n_params = (int64_t)llama_model_n_params(model->llm);
    out->llm_size_bytes = (int64_t)llama_model_size(model->llm);
    llama_model_desc(model->llm, out->llm_desc, sizeof out->llm_desc);
    snprintf(out->backend, sizeof out->backend, "CPU");
    if (model->gpu_backend) {
        for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            const auto type = ggml_backend_dev_type(dev);
            if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) {
                snprintf(out->backend, sizeof out->backend, "%s", ggml_backend_dev_name(dev));
                break;
            }
        }
    }
    out->image_size = model->image_pre.size;
    out->video_frame_size = model->video_pre.size;
    out->video_max_frames = model->video_pre.max_frames;
    out->audio_sample_rate = model->audio_pre.sample_rate;
    out->audio_n_clips = model->audio_pre.n_clips;
    out->audio_clip_seconds = model->audio_pre.clip_seconds;
    if (model->enc) ggpt::encoders_fill_info(model, out);  // has_media, encoders_n_params/size_bytes
    fill_layout(model, out);
    return GGPT_OK;
}

ggpt_status ggpt_model_usable(const ggpt_model * model, char * err, size_t err_len) {
    if (!model) return GGPT_ERR_INVALID_ARGUMENT;
    std::string msg;
    const ggpt_status st = ggpt::rpc_check(model, msg);
    ggpt::copy_error(err, err_len, msg);
    return st;
}

}  // extern "C"
