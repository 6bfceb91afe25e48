// context.cpp - ggpt_context lifetime, errors, the token functions of the C API, and the token
// embedding rows read from the LLM file.
#include "core/context.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/model.h"
#include "core/resident.h"
#include "core/rpc.h"
#include "encoders/encoders.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"
// libllama's staging API (llama_get_memory_breakdown), next to llama.h's directory in the pinned tree
#include "../src/llama-ext.h"

ggpt_status ggpt_context::fail(ggpt_status status, const char * fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    last_error = buf;
    return status;
}

namespace {

// Physical cores, roughly: hardware threads, halved when there are enough of them to be SMT
// siblings (generation is memory-bound; SMT siblings only contend).
int32_t default_threads() {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return (int32_t)(hw > 4 ? hw / 2 : hw);
}

bool abort_trampoline(void * user) {
    const auto * ctx = (const ggpt_context *)user;
    return ctx->op_abort && ctx->op_abort(ctx->op_abort_user);
}

ggpt_status init_impl(ggpt_model * model, const ggpt_context_params * in, ggpt_context ** out, std::string & err) {
    if (!model) {
        err = "model is NULL";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (ggpt::rpc_check(model, err) != GGPT_OK) return GGPT_ERR_REMOTE;  // docs/RELIABILITY.md "RPC devices"
    ggpt_context_params p = in ? *in : ggpt_context_default_params();
    const uint32_t n_ctx_train = (uint32_t)std::max(1, llama_model_n_ctx_train(model->llm));
    // 2048: upstream's context; the longest one-media prompt is ~730 positions (docs/ARCHITECTURE.md
    // "Memory defaults")
    if (p.n_ctx == 0) p.n_ctx = std::min<uint32_t>(2048, n_ctx_train);
    if (p.n_ctx < 8 || p.n_ctx > n_ctx_train) {
        err = "n_ctx " + std::to_string(p.n_ctx) + " is outside [8, " + std::to_string(n_ctx_train) +
              "] (the model was trained with " + std::to_string(n_ctx_train) + " positions)";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (p.n_batch == 0) p.n_batch = 512;
    p.n_batch = std::min(p.n_batch, p.n_ctx);
    if (p.n_ubatch == 0) p.n_ubatch = 512;
    p.n_ubatch = std::min(p.n_ubatch, p.n_batch);
    if (p.n_seq == 0) p.n_seq = 1;
    if (p.n_seq > 64) {
        err = "n_seq must be at most 64";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (p.n_batch_shared == 0) p.n_batch_shared = std::max<uint32_t>(32, p.n_batch / 4);
    p.n_batch_shared = std::min(p.n_batch_shared, p.n_batch);
    if (p.n_threads <= 0) p.n_threads = default_threads();
    if (p.n_threads_batch <= 0) p.n_threads_batch = p.n_threads;
    if (p.n_threads > 512 || p.n_threads_batch > 512) {
        err = "n_threads must be at most 512";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    ggml_type kv;
    switch (p.kv_type) {
        case GGPT_KV_F16: kv = GGML_TYPE_F16; break;
        case GGPT_KV_F32: kv = GGML_TYPE_F32; break;
        case GGPT_KV_Q8_0: kv = GGML_TYPE_Q8_0; break;
        default: err = "kv_type is not a ggpt_kv_type"; return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (p.flash_attn < -1 || p.flash_attn > 1) {
        err = "flash_attn must be -1 (auto), 0 (off) or 1 (on)";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    // An F32 cache is for exact comparisons: ggml's CPU flash-attention kernel rounds Q to F16
    // (~5e-4 on the tiny model's logits), so "auto" means off there.
    if (kv == GGML_TYPE_F32 && p.flash_attn == -1) p.flash_attn = 0;
    if (kv == GGML_TYPE_Q8_0 && p.flash_attn == 0) {
        err = "a q8_0 KV cache needs flash attention (flash_attn auto or on)";
        return GGPT_ERR_INVALID_ARGUMENT;
    }

    if (kv == GGML_TYPE_Q8_0) {
        const int32_t head_dim = llama_model_n_embd(model->llm) / std::max(1, llama_model_n_head(model->llm));
        if (head_dim % (int32_t)ggml_blck_size(GGML_TYPE_Q8_0) != 0) {
            err = "a q8_0 KV cache needs a head size that is a multiple of 32 (this model's is " +
                  std::to_string(head_dim) + ")";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
    }

    std::unique_ptr<ggpt_context, void (*)(ggpt_context *)> ctx(new ggpt_context(), ggpt_context_free);
    ctx->model = model;
    ctx->params = p;

    llama_context_params lp = llama_context_default_params();
    // one stream of n_ctx positions per sequence: attention reads only its own sequence's cells
    lp.n_ctx = p.n_ctx * p.n_seq;
    lp.n_batch = p.n_batch;
    lp.n_ubatch = p.n_ubatch;
    lp.n_seq_max = p.n_seq;
    lp.kv_unified = false;
    lp.n_threads = p.n_threads;
    lp.n_threads_batch = p.n_threads_batch;
    lp.type_k = kv;
    lp.type_v = kv;
    lp.flash_attn_type = (llama_flash_attn_type)p.flash_attn;
    lp.abort_callback = abort_trampoline;
    lp.abort_callback_data = ctx.get();
    lp.no_perf = true;
    {
        ggpt::LogCapture capture;
        ctx->lctx = llama_init_from_model(model->llm, lp);
        if (ggpt::rpc_check(model, err) != GGPT_OK) return GGPT_ERR_REMOTE;  // the context's buffers are remote
        if (!ctx->lctx) {
            err = "libllama cannot create the context" +
                  (capture.first_error().empty() ? std::string() : " (" + capture.first_error() + ")");
            return GGPT_ERR_BACKEND;
        }
    }
    ctx->n_ctx = llama_n_ctx_seq(ctx->lctx);
    // libllama's own breakdown per buffer type (weights, KV cache, compute buffers as reserved)
    for (const auto & [buft, d] : llama_get_memory_breakdown(ctx->lctx)) {
        ctx->llm_memory.llm_weights += (int64_t)d.model;
        if (buft && strcmp(ggml_backend_buft_name(buft), "CPU_Mapped") == 0) ctx->llm_mapped += (int64_t)d.model;
        ctx->llm_memory.kv_cache += (int64_t)d.context;
        ctx->llm_memory.llm_compute += (int64_t)d.compute;
        // a GPU's or an RPC server's memory (CPU buffer types, repacked weights included, are ours)
        ggml_backend_dev_t dev = buft ? ggml_backend_buft_get_device(buft) : nullptr;
        if (dev && ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU)
            ctx->llm_memory.device += (int64_t)d.total();
    }
    ctx->batch_tok = llama_batch_init((int32_t)p.n_batch, 0, 1);
    ctx->batch_embd = llama_batch_init((int32_t)p.n_batch, model->n_embd, 1);
    ctx->seqs.resize(p.n_seq);
    ctx->seqs[0].cells.reserve(ctx->n_ctx);
    ctx->candidates.reserve(llama_vocab_n_tokens(model->vocab));
    *out = ctx.release();
    return GGPT_OK;
}

}  // namespace

extern "C" {

ggpt_context_params ggpt_context_default_params(void) {
    ggpt_context_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_batch = 512;
    p.n_ubatch = 512;
    p.n_seq = 1;
    p.n_batch_shared = 0;
    p.n_threads = 0;
    p.n_threads_batch = 0;
    p.kv_type = GGPT_KV_F16;
    p.flash_attn = -1;
    return p;
}

ggpt_status ggpt_context_init(ggpt_model * model, const ggpt_context_params * params, ggpt_context ** out, char * err,
                              size_t err_len) {
    if (!out) {
        ggpt::copy_error(err, err_len, "out is NULL");
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    std::string msg;
    ggpt_status st;
    try {
        st = init_impl(model, params, out, msg);
    } catch (const std::bad_alloc &) {
        st = GGPT_ERR_OUT_OF_MEMORY;
        msg = "out of memory while creating the context";
    } catch (const std::exception & e) {
        st = GGPT_ERR_INTERNAL;
        msg = std::string("internal error while creating the context: ") + e.what();
    }
    ggpt::copy_error(err, err_len, st == GGPT_OK ? std::string() : msg);
    return st;
}

void ggpt_context_free(ggpt_context * ctx) {
    if (!ctx) return;
    // tasks not freed by the caller (they point at this context): freed with it
    while (!ctx->tasks.empty()) ggpt_task_free(ctx->tasks.back());
    ctx->enc_state.reset();
    if (ctx->batch_tok.pos) llama_batch_free(ctx->batch_tok);
    if (ctx->batch_embd.pos) llama_batch_free(ctx->batch_embd);
    if (ctx->lctx) llama_free(ctx->lctx);
    delete ctx;
}

const char * ggpt_context_last_error(const ggpt_context * ctx) {
    return ctx ? ctx->last_error.c_str() : "context is NULL";
}

uint32_t ggpt_context_n_ctx(const ggpt_context * ctx) { return ctx ? ctx->n_ctx : 0; }

uint32_t ggpt_context_n_seq(const ggpt_context * ctx) { return ctx ? (uint32_t)ctx->seqs.size() : 0; }

int32_t ggpt_context_n_past(const ggpt_context * ctx) {
    return ctx && !ctx->seqs.empty() ? (int32_t)ctx->seqs[0].cells.size() : 0;
}

void ggpt_context_clear(ggpt_context * ctx) {
    if (!ctx) return;
    llama_memory_clear(llama_get_memory(ctx->lctx), true);
    for (ggpt::Seq & s : ctx->seqs) {
        s.cells.clear();
        s.logits_i = -1;
    }
}

int64_t ggpt_context_kv_bytes(const ggpt_context * ctx) {
    if (!ctx) return 0;
    const llama_model * m = ctx->model->llm;
    const int64_t n_head = std::max(1, llama_model_n_head(m));
    const int64_t head_dim = llama_model_n_embd(m) / n_head;
    const int64_t width = head_dim * llama_model_n_head_kv(m);  // n_embd_k_gqa = n_embd_v_gqa for llama
    ggml_type kv = ctx->params.kv_type == GGPT_KV_F32    ? GGML_TYPE_F32
                   : ctx->params.kv_type == GGPT_KV_Q8_0 ? GGML_TYPE_Q8_0
                                                         : GGML_TYPE_F16;
    return 2 * (int64_t)llama_model_n_layer(m) * (int64_t)ctx->n_ctx * (int64_t)ctx->seqs.size() *
           (int64_t)ggml_row_size(kv, width);
}

ggpt_status ggpt_context_memory(const ggpt_context * ctx, ggpt_memory_info * out) {
    if (!ctx || !out) return GGPT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    *out = ctx->llm_memory;
    // the mapping of llm.gguf counts what of it is resident now (its pages are read as weights
    // are used in place; the repacked ones are in libllama's own buffers)
    if (ctx->llm_mapped > 0) {
        const int64_t rss = ggpt::mapped_rss(ctx->model->llm_maps);
        if (rss >= 0 && !ctx->model->llm_maps.empty()) out->llm_weights += rss - ctx->llm_mapped;
    }
    if (const ggpt::Encoders * e = ctx->model->enc.get()) {
        const bool on_device = e->dev && ggml_backend_dev_type(e->dev) != GGML_BACKEND_DEVICE_TYPE_CPU;
        for (int m = 0; m < 3; m++) {
            out->towers[m] = e->towers[m].resident_bytes;
            if (on_device) out->device += out->towers[m];
        }
    }
    out->tower_compute = ctx->tower_compute_bytes;
    out->device += ctx->tower_compute_device;
    return GGPT_OK;
}

ggpt_status ggpt_token_embeddings(ggpt_context * ctx, const int32_t * tokens, int32_t n, float * out) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    if (n < 0 || (n > 0 && (!tokens || !out)))
        return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "tokens/out are NULL or n < 0");
    const ggpt_model * model = ctx->model;
    const ggpt::TokenEmbdRows & te = model->token_embd;
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= te.n_rows) {
            return ctx->fail(GGPT_ERR_INVALID_ARGUMENT, "token %d at index %d is not in [0, %d)", tokens[i], i,
                             te.n_rows);
        }
    }
    if (n == 0) return GGPT_OK;
    FILE * f = fopen(model->llm_path.c_str(), "rb");
    if (!f) return ctx->fail(GGPT_ERR_IO, "%s: cannot open (%s)", model->llm_path.c_str(), strerror(errno));
    std::vector<uint8_t> row(te.row_bytes);
    const auto * traits = ggml_get_type_traits((ggml_type)te.type);
    ggpt_status st = GGPT_OK;
    for (int32_t i = 0; i < n && st == GGPT_OK; i++) {
        const uint64_t off = te.offset + (uint64_t)tokens[i] * te.row_bytes;
#ifdef _WIN32
        const bool seek_ok = _fseeki64(f, (__int64)off, SEEK_SET) == 0;
#else
        const bool seek_ok = fseeko(f, (off_t)off, SEEK_SET) == 0;
#endif
        if (!seek_ok || fread(row.data(), 1, row.size(), f) != row.size()) {
            st = ctx->fail(GGPT_ERR_IO, "%s: cannot read token_embd row %d", model->llm_path.c_str(), tokens[i]);
            break;
        }
        float * dst = out + (size_t)i * te.n_embd;
        if (te.type == GGML_TYPE_F32) memcpy(dst, row.data(), (size_t)te.n_embd * sizeof(float));
        else traits->to_float(row.data(), dst, te.n_embd);
    }
    fclose(f);
    return st;
}

int32_t ggpt_tokenize(const ggpt_model * model, const char * text, size_t text_len, bool add_bos, bool parse_media,
                      int32_t * out, int32_t n_max) {
    if (!model || (!text && text_len > 0) || n_max < 0 || (!out && n_max > 0)) return INT32_MIN;
    std::vector<int32_t> ids;
    try {
        model->tok.tokenize(std::string_view(text ? text : "", text_len), add_bos, llama_vocab_bos(model->vocab),
                            parse_media, ids);
    } catch (const std::exception &) {
        return INT32_MIN;
    }
    if (ids.size() > (size_t)INT32_MAX) return INT32_MIN;
    const int32_t n = (int32_t)ids.size();
    if (n > n_max) return -n;
    std::copy(ids.begin(), ids.end(), out);
    return n;
}

int32_t ggpt_detokenize(const ggpt_model * model, const int32_t * tokens, int32_t n, bool strip_leading_space,
                        char * out, int32_t cap) {
    if (!model || n < 0 || (!tokens && n > 0) || cap < 0 || (!out && cap > 0)) return INT32_MIN;
    std::string s;
    try {
        bool first = true;
        for (int32_t i = 0; i < n; i++) {
            const size_t before = s.size();
            model->tok.append_piece(tokens[i], s);
            if (first && s.size() > before) {
                first = false;
                // SentencePiece drops the dummy-prefix space of the first piece
                if (strip_leading_space && s[0] == ' ' && model->tok.kind[tokens[i]] != ggpt::Vocab::BYTE)
                    s.erase(0, 1);
            }
        }
    } catch (const std::exception &) {
        return INT32_MIN;
    }
    if (s.size() > (size_t)INT32_MAX) return INT32_MIN;
    if ((int32_t)s.size() > cap) return -(int32_t)s.size();
    memcpy(out, s.data(), s.size());
    if ((int32_t)s.size() < cap) out[s.size()] = '\0';
    return (int32_t)s.size();
}

int32_t ggpt_token_to_piece(const ggpt_model * model, int32_t token, char * out, int32_t cap) {
    if (!model || cap < 0 || (!out && cap > 0)) return INT32_MIN;
    if (token < 0 || token >= llama_vocab_n_tokens(model->vocab)) return INT32_MIN;
    char small[1];
    return llama_token_to_piece(model->vocab, token, out ? out : small, cap, 0, true);
}

}  // extern "C"
