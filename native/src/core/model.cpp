// model.cpp - ggpt_model: the LLM through libllama, our extra GGUF keys, the tokenizer tables,
// where the token_embd rows live, then the towers (encoders_load).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_set>

#include "core/gguf_util.h"
#include "core/log.h"
#include "core/model.h"
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

int64_t file_size(const std::string & path, std::string & err) {
    FILE * f = fopen(path.c_str(), "rb");
    if (!f) {
        err = path + ": cannot open (" + strerror(errno) + ")";
        return -1;
    }
#ifdef _WIN32
    _fseeki64(f, 0, SEEK_END);
    const int64_t size = _ftelli64(f);
#else
    fseeko(f, 0, SEEK_END);
    const int64_t size = (int64_t)ftello(f);
#endif
    fclose(f);
    return size;
}

// Progress of the whole load: the LLM file maps to [0, llm_share], the encoders to the rest.
struct LoadProgress {
    ggpt_progress_fn fn = nullptr;
    void * user = nullptr;
    float llm_share = 1.0f;
    bool aborted = false;
};

bool llm_progress(float p, void * user) {
    auto * lp = (LoadProgress *)user;
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

// Our keys of the LLM GGUF and the token_embd geometry, read before libllama loads the file.
struct LlmExtras {
    int32_t media_ids[9];  // ggpt.token.* in names.h order, -1 when absent
    uint32_t n_rows[3] = {576, 64, 8};
    bool add_space_prefix = true;
    std::string tokenizer_model;
    ggpt::TokenEmbdRows token_embd;
};

const char * const kMediaKeys[9] = {
    ggpt::names::KEY_TOK_IM_PATCH, ggpt::names::KEY_TOK_IM_START, ggpt::names::KEY_TOK_IM_END,
    ggpt::names::KEY_TOK_VI_PATCH, ggpt::names::KEY_TOK_VI_START, ggpt::names::KEY_TOK_VI_END,
    ggpt::names::KEY_TOK_SO_PATCH, ggpt::names::KEY_TOK_SO_START, ggpt::names::KEY_TOK_SO_END,
};
// Token texts used when a file has no ggpt.token.* keys (e.g. a GGUF made by another converter).
const char * const kMediaTexts[9] = {
    "<im_patch>", "<im_start>", "<im_end>", "<vi_patch>", "<vi_start>",
    "<vi_end>",   "<so_patch>", "<so_start>", "<so_end>",
};

ggpt_status read_llm_extras(const std::string & path, int64_t fsize, LlmExtras & x, std::string & err) {
    ggpt::LogCapture capture;
    gguf_init_params gp = {/*no_alloc =*/true, /*ctx =*/nullptr};
    gguf_context * g = gguf_init_from_file(path.c_str(), gp);
    if (!g) {
        err = path + ": not a valid GGUF file" +
              (capture.first_error().empty() ? std::string() : " (" + capture.first_error() + ")");
        return GGPT_ERR_FORMAT;
    }
    struct Free {
        gguf_context * g;
        ~Free() { gguf_free(g); }
    } free_g{g};
    ggpt::GgufKeys keys(g, path);

    if (!keys.str("tokenizer.ggml.model", x.tokenizer_model, err)) return GGPT_ERR_FORMAT;
    if (x.tokenizer_model != "llama") {
        err = path + ": tokenizer.ggml.model is '" + x.tokenizer_model +
              "', expected 'llama' (GroundingGPT uses LLaMA's SentencePiece tokenizer)";
        return GGPT_ERR_FORMAT;
    }
    if (!keys.opt_bool("tokenizer.ggml.add_space_prefix", x.add_space_prefix, true, err)) return GGPT_ERR_FORMAT;

    // libllama asserts (aborting the process) on a vocabulary with repeated pieces: refuse it here.
    {
        const int64_t tok_id = gguf_find_key(g, "tokenizer.ggml.tokens");
        if (tok_id < 0 || gguf_get_kv_type(g, tok_id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, tok_id) != GGUF_TYPE_STRING) {
            err = path + ": tokenizer.ggml.tokens is missing or not an array of strings";
            return GGPT_ERR_FORMAT;
        }
        const size_t n_tok = gguf_get_arr_n(g, tok_id);
        if (n_tok == 0) {
            err = path + ": tokenizer.ggml.tokens is empty";
            return GGPT_ERR_FORMAT;
        }
        std::unordered_set<std::string> seen;
        seen.reserve(n_tok);
        for (size_t i = 0; i < n_tok; i++) {
            const char * piece = gguf_get_arr_str(g, tok_id, i);
            if (!seen.insert(piece ? piece : "").second) {
                err = path + ": tokenizer.ggml.tokens repeats the piece '" + std::string(piece ? piece : "") + "' (token " +
                      std::to_string(i) + "): every piece must be unique";
                return GGPT_ERR_FORMAT;
            }
        }
    }

    for (int i = 0; i < 9; i++) {
        uint32_t v;
        x.media_ids[i] = -1;
        if (!keys.has(kMediaKeys[i])) continue;
        if (!keys.u32(kMediaKeys[i], v, 0, INT32_MAX, err)) return GGPT_ERR_FORMAT;
        x.media_ids[i] = (int32_t)v;
    }
    const char * len_keys[3] = {ggpt::names::KEY_IMAGE_TOKEN_LEN, ggpt::names::KEY_VIDEO_TOKEN_LEN,
                                ggpt::names::KEY_SOUND_TOKEN_LEN};
    const uint32_t len_default[3] = {576, 64, 8};
    for (int m = 0; m < 3; m++) {
        if (!keys.opt_u32(len_keys[m], x.n_rows[m], len_default[m], 1, 65536, err,
                          "feature rows per media item"))
            return GGPT_ERR_FORMAT;
    }

    // token_embd: where its rows are, so ggpt_token_embeddings can read them
    const int64_t tid = gguf_find_tensor(g, "token_embd.weight");
    if (tid < 0) {
        err = path + ": missing tensor 'token_embd.weight'";
        return GGPT_ERR_FORMAT;
    }
    const ggml_type type = gguf_get_tensor_type(g, tid);
    const int64_t * ne = gguf_get_tensor_ne(g, tid);
    if ((int)type < 0 || (int)type >= GGML_TYPE_COUNT || ggml_blck_size(type) <= 0 || ne[2] != 1 || ne[3] != 1 ||
        ne[0] <= 0 || ne[1] <= 0 || ne[0] % ggml_blck_size(type) != 0) {
        err = path + ": tensor 'token_embd.weight' has an unexpected type or shape";
        return GGPT_ERR_FORMAT;
    }
    auto & te = x.token_embd;
    te.type = (int32_t)type;
    te.n_embd = (int32_t)ne[0];
    te.n_rows = (int32_t)ne[1];
    te.row_bytes = ggml_row_size(type, ne[0]);
    te.offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, tid);
    if ((int64_t)(te.offset + te.row_bytes * (uint64_t)te.n_rows) > fsize) {
        err = path + ": tensor 'token_embd.weight' extends past the end of the file (truncated?)";
        return GGPT_ERR_FORMAT;
    }
    return GGPT_OK;
}

ggpt_status load_impl(const ggpt_model_params * params, ggpt_model ** out, std::string & err) {
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
    const int64_t llm_size = file_size(llm_path, err);
    if (llm_size < 0) return GGPT_ERR_IO;
    int64_t enc_size = 0;
    if (!enc_path.empty()) {
        enc_size = file_size(enc_path, err);
        if (enc_size < 0) return GGPT_ERR_IO;
    }

    LlmExtras x;
    ggpt_status st = read_llm_extras(llm_path, llm_size, x, err);
    if (st != GGPT_OK) return st;

    std::unique_ptr<ggpt_model, void (*)(ggpt_model *)> model(new ggpt_model(), ggpt_model_free);
    model->params = *params;
    model->llm_path = llm_path;
    model->encoders_path = enc_path;
    model->params.llm_path = model->llm_path.c_str();
    model->params.encoders_path = enc_path.empty() ? nullptr : model->encoders_path.c_str();
    model->params.progress = nullptr;
    model->params.progress_user = nullptr;

    LoadProgress lp;
    lp.fn = params->progress;
    lp.user = params->progress_user;
    lp.llm_share = enc_size > 0 ? (float)((double)llm_size / (double)(llm_size + enc_size)) : 1.0f;

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = params->n_gpu_layers;
    mp.load_mode = params->use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    mp.progress_callback = llm_progress;
    mp.progress_callback_user_data = &lp;
    {
        ggpt::LogCapture capture;
        model->llm = llama_model_load_from_file(llm_path.c_str(), mp);
        if (!model->llm) {
            if (lp.aborted) {
                err = "loading was aborted";
                return GGPT_ERR_ABORTED;
            }
            err = llm_path + ": libllama cannot load it" +
                  (capture.first_error().empty() ? std::string() : " (" + capture.first_error() + ")");
            return GGPT_ERR_FORMAT;
        }
    }
    // from here on the unique_ptr's deleter (ggpt_model_free) releases the llama model
    model->vocab = llama_model_get_vocab(model->llm);
    model->n_embd = llama_model_n_embd_inp(model->llm);
    model->gpu_backend = params->n_gpu_layers != 0 && has_gpu_device();
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);

    if (llama_vocab_type(model->vocab) != LLAMA_VOCAB_TYPE_SPM) {
        err = llm_path + ": the vocabulary is not SentencePiece (tokenizer.ggml.model 'llama')";
        return GGPT_ERR_FORMAT;
    }
    if (x.token_embd.n_rows != n_vocab || x.token_embd.n_embd != model->n_embd) {
        err = llm_path + ": token_embd.weight is [" + std::to_string(x.token_embd.n_rows) + ", " +
              std::to_string(x.token_embd.n_embd) + "] but the model has " + std::to_string(n_vocab) +
              " tokens of width " + std::to_string(model->n_embd);
        return GGPT_ERR_FORMAT;
    }
    const auto * traits = ggml_get_type_traits((ggml_type)x.token_embd.type);
    if (x.token_embd.type != GGML_TYPE_F32 && (!traits || !traits->to_float)) {
        err = llm_path + ": token_embd.weight has type " + ggml_type_name((ggml_type)x.token_embd.type) +
              ", which cannot be converted to float";
        return GGPT_ERR_FORMAT;
    }
    model->token_embd = x.token_embd;

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
            if (id >= 0) GGPT_LOG_I("%s: no key %s, using the vocabulary's %s = %d", llm_path.c_str(), kMediaKeys[i], kMediaTexts[i], id);
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
        st = ggpt::encoders_load(model.get(), enc_path.c_str(), params->encoders_on_gpu, enc_progress, &lp, err,
                                 params->encoders_matmul);
        if (st != GGPT_OK) {
            if (lp.aborted) {
                err = "loading was aborted";
                return GGPT_ERR_ABORTED;
            }
            return st;
        }
    }
    if (params->progress) params->progress(1.0f, params->progress_user);
    *out = model.release();
    return GGPT_OK;
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
    return p;
}

ggpt_status ggpt_model_load(const ggpt_model_params * params, ggpt_model ** out, char * err, size_t err_len) {
    if (!out) {
        ggpt::copy_error(err, err_len, "out is NULL");
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    std::string msg;
    ggpt_status st;
    try {
        st = load_impl(params, out, msg);
    } catch (const std::bad_alloc &) {
        st = GGPT_ERR_OUT_OF_MEMORY;
        msg = "out of memory while loading the model";
    } catch (const std::exception & e) {
        st = GGPT_ERR_INTERNAL;
        msg = std::string("internal error while loading the model: ") + e.what();
    }
    if (st != GGPT_OK) ggpt::copy_error(err, err_len, msg);
    else ggpt::copy_error(err, err_len, "");
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
    return GGPT_OK;
}

}  // extern "C"
