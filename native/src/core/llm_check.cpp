// llm_check.cpp - the LLM GGUF checks (llm_check.h). Each check names the libllama/ggml assert
// it keeps the file away from, or the later call it would break; docs/LLM-FILE-CHECKS.md has
// the list with the source locations. (Over 500 lines: one check per assert, in the order of that
// list, so the file and the audit can be read side by side.)
#include "core/llm_check.h"

#include "core/gguf_util.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "ggml.h"
#include "gguf.h"
#include "names.h"

namespace ggpt {

namespace {

namespace N = names;

constexpr uint32_t kMaxLayers = 512;       // LLAMA_MAX_LAYERS (llama-hparams.h)
constexpr uint64_t kTensorAlignment = 32;  // TENSOR_ALIGNMENT (ggml-impl.h), asserted on the mmap path
constexpr uint32_t kMaxWidth = 1u << 16;   // embedding_length
constexpr uint32_t kMaxFF = 1u << 20;      // feed_forward_length
constexpr uint32_t kMaxHeads = 4096;
constexpr uint32_t kMaxCtx = 1u << 24;  // context_length
constexpr uint32_t kMinCtx = 8;         // the smallest context ggpt_context_init accepts
constexpr uint32_t kMaxVocab = 1u << 22;

const char * const kMediaKeys[9] = {
    N::KEY_TOK_IM_PATCH, N::KEY_TOK_IM_START, N::KEY_TOK_IM_END,   N::KEY_TOK_VI_PATCH, N::KEY_TOK_VI_START,
    N::KEY_TOK_VI_END,   N::KEY_TOK_SO_PATCH, N::KEY_TOK_SO_START, N::KEY_TOK_SO_END,
};

// Token-id keys libllama reads (llama-vocab.cpp, special_token_types): out-of-range ids are
// silently replaced there; a file that has one is broken, so it is refused here.
const char * const kSpecialIdKeys[] = {
    "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",     "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",     "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",     "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
    "tokenizer.ggml.prefix_token_id",  "tokenizer.ggml.suffix_token_id",  "tokenizer.ggml.middle_token_id",
};

// Weight types of the matrices: the types llama-quantize produces whose CPU mul_mat has a dot
// product and whose rows convert to float (get_rows of token_embd, ggpt_token_embeddings). ggml's
// CPU supports_op accepts any type for MUL_MAT and the kernel then has no dot product to call.
bool matrix_type_ok(int t) {
    switch (t) {
        case GGML_TYPE_F32:
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q5_1:
        case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K:
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
        case GGML_TYPE_IQ1_S:
        case GGML_TYPE_IQ1_M:
        case GGML_TYPE_IQ2_XXS:
        case GGML_TYPE_IQ2_XS:
        case GGML_TYPE_IQ2_S:
        case GGML_TYPE_IQ3_XXS:
        case GGML_TYPE_IQ3_S:
        case GGML_TYPE_IQ4_NL:
        case GGML_TYPE_IQ4_XS: return true;
        default: return false;
    }
}

std::string type_name(int t) {
    return (t >= 0 && t < GGML_TYPE_COUNT) ? ggml_type_name((ggml_type)t) : ("type " + std::to_string(t));
}

std::string fmt_f(float v) {
    char b[48];
    snprintf(b, sizeof b, "%g", (double)v);
    return b;
}

class Checker {
public:
    Checker(const gguf_context * g, const std::string & path, std::string & err) : g_(g), path_(path), err_(err) {}

    bool fail(const std::string & msg) {
        err_ = path_ + ": " + msg;
        return false;
    }

    int64_t find(const char * key) const { return gguf_find_key(g_, key); }

    // The id of `key` when it has type `want` (ARRAY: any array); -1 when absent and optional.
    bool typed(const char * key, gguf_type want, bool required, int64_t & id) {
        id = gguf_find_key(g_, key);
        if (id < 0) {
            if (required) return fail(std::string("missing key '") + key + "'");
            return true;
        }
        const gguf_type t = gguf_get_kv_type(g_, id);
        if (t != want) {
            return fail(std::string("key '") + key + "' has type " + gguf_type_name(t) + ", expected " +
                        gguf_type_name(want));
        }
        return true;
    }

    // u32 in [lo, hi]; `present` tells whether the key was there (v untouched when not).
    bool u32(const char * key, bool required, uint32_t lo, uint32_t hi, uint32_t & v, bool * present = nullptr,
             const char * why = nullptr) {
        int64_t id;
        if (!typed(key, GGUF_TYPE_UINT32, required, id)) return false;
        if (present) *present = id >= 0;
        if (id < 0) return true;
        const uint32_t x = gguf_get_val_u32(g_, id);
        if (x < lo || x > hi) return out_of_range(key, std::to_string(x), std::to_string(lo), std::to_string(hi), why);
        v = x;
        return true;
    }

    // A u32 that must equal `want` when present (a feature GroundingGPT's LLM does not have).
    bool u32_eq(const char * key, uint32_t want, const char * why) {
        int64_t id;
        if (!typed(key, GGUF_TYPE_UINT32, false, id)) return false;
        if (id < 0) return true;
        const uint32_t x = gguf_get_val_u32(g_, id);
        if (x != want)
            return fail(std::string("key '") + key + "' = " + std::to_string(x) + ", expected " + std::to_string(want) +
                        " (" + why + ")");
        return true;
    }

    // f32 (type checked; range by the caller through `ok`).
    bool f32(const char * key, bool required, float & v, bool * present, bool (*ok)(float), const char * range) {
        int64_t id;
        if (!typed(key, GGUF_TYPE_FLOAT32, required, id)) return false;
        if (present) *present = id >= 0;
        if (id < 0) return true;
        const float x = gguf_get_val_f32(g_, id);
        if (!ok(x)) return fail(std::string("key '") + key + "' = " + fmt_f(x) + " must be " + range);
        v = x;
        return true;
    }

    bool str(const char * key, bool required, std::string & v) {
        int64_t id;
        if (!typed(key, GGUF_TYPE_STRING, required, id)) return false;
        if (id >= 0) v = gguf_get_val_str(g_, id);
        return true;
    }

    bool boolean(const char * key, bool & v) {
        int64_t id;
        if (!typed(key, GGUF_TYPE_BOOL, false, id)) return false;
        if (id >= 0) v = gguf_get_val_bool(g_, id);
        return true;
    }

    // A per-layer value: a u32, or an array (u32/i32) of n_layer equal values, in [lo, hi].
    // libllama takes either (get_key_or_arr); per-layer values that differ would give tensors
    // of one layer's shape and a KV cache of another's (ggml asserts on the view sizes).
    bool per_layer(const char * key, bool required, uint32_t n_layer, uint32_t lo, uint32_t hi, uint32_t & v,
                   bool * present = nullptr) {
        const int64_t id = gguf_find_key(g_, key);
        if (present) *present = id >= 0;
        if (id < 0) return required ? fail(std::string("missing key '") + key + "'") : true;
        if (gguf_get_kv_type(g_, id) != GGUF_TYPE_ARRAY) return u32(key, required, lo, hi, v);
        const gguf_type at = gguf_get_arr_type(g_, id);
        const size_t n = gguf_get_arr_n(g_, id);
        if ((at != GGUF_TYPE_UINT32 && at != GGUF_TYPE_INT32) || n != n_layer) {
            return fail(std::string("key '") + key + "' is an array of " + std::to_string(n) + " " +
                        gguf_type_name(at) + ": a per-layer value must be a u32 or an array of block_count (" +
                        std::to_string(n_layer) + ") u32");
        }
        const uint8_t * data = (const uint8_t *)gguf_get_arr_data(g_, id);
        uint32_t first = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t x;
            memcpy(&x, data + 4 * i, 4);
            if (i == 0) first = x;
            if (at == GGUF_TYPE_INT32 && (int32_t)x < 0) {
                return out_of_range(key, std::to_string((int32_t)x) + " (layer " + std::to_string(i) + ")",
                                    std::to_string(lo), std::to_string(hi), nullptr);
            }
            if (x < lo || x > hi) {
                return out_of_range(key, std::to_string(x) + " (layer " + std::to_string(i) + ")", std::to_string(lo),
                                    std::to_string(hi), nullptr);
            }
            if (x != first) {
                return fail(std::string("key '") + key + "' differs between layers (" + std::to_string(first) +
                            " in layer 0, " + std::to_string(x) + " in layer " + std::to_string(i) +
                            "): every layer of a LLaMA model has the same shape");
            }
        }
        v = first;
        return true;
    }

    bool out_of_range(const char * key, const std::string & value, const std::string & lo, const std::string & hi,
                      const char * why) {
        return fail(std::string("key '") + key + "' = " + value + " is outside [" + lo + ", " + hi + "]" +
                    (why ? std::string(" (") + why + ")" : std::string()));
    }

    const gguf_context * g() const { return g_; }

private:
    const gguf_context * g_;
    const std::string & path_;
    std::string & err_;
};

// Expected shape (ggml order) and kind of each tensor name a LLaMA file may hold.
struct Expect {
    int64_t ne0, ne1;
    bool vec;  // 1-D: norm weights, biases, rope_freqs (used by MUL / ADD / ROPE: f32 only)
    bool seen = false;
};

bool check_impl(const gguf_context * g, const std::string & path, int64_t file_size, LlmFileInfo & x,
                std::string & err) {
    Checker c(g, path, err);

    // ---- identity ---------------------------------------------------------------------------
    std::string arch;
    if (!c.str("general.architecture", true, arch)) return false;
    if (arch != "llama") {
        return c.fail("general.architecture is '" + arch +
                      "', expected 'llama' (GroundingGPT's LLM is a LLaMA/Vicuna model; is this the encoders file?)");
    }
    uint32_t ver = N::FORMAT_VERSION;
    if (!c.u32(N::KEY_FORMAT_VERSION, false, 0, UINT32_MAX, ver)) return false;
    if (ver != N::FORMAT_VERSION) {
        return c.fail(std::string("key '") + N::KEY_FORMAT_VERSION + "' = " + std::to_string(ver) +
                      " is not a format version this build reads (" + std::to_string(N::FORMAT_VERSION) +
                      "): reconvert the model");
    }
    // libllama casts general.file_type into its llama_ftype enum: a value outside the enum is
    // undefined behaviour (UBSan finding F2, docs/RELIABILITY.md). Only the values llama.h names.
    {
        uint32_t ft = 0;
        bool has_ft = false;
        if (!c.u32("general.file_type", false, 0, 41, ft, &has_ft, "a llama_ftype value of llama.h")) return false;
        if (has_ft && (ft == 4 || ft == 5 || ft == 6 || (ft >= 33 && ft <= 35))) {
            return c.fail("key 'general.file_type' = " + std::to_string(ft) +
                          " names a file type libllama no longer supports");
        }
    }
    // libllama follows split.count to other files and reads their split.no with an asserting getter
    if (c.find("split.count") >= 0) {
        int64_t id;
        if (!c.typed("split.count", GGUF_TYPE_UINT16, true, id)) return false;
        if (gguf_get_val_u16(g, id) > 1) return c.fail("key 'split.count' > 1: split GGUF files are not supported");
    }

    // ---- hyper-parameters (llama-model.cpp load_hparams, models/llama.cpp) --------------------
    uint32_t n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_ctx = 0;
    if (!c.u32("llama.block_count", true, 1, kMaxLayers, n_layer, nullptr, "libllama asserts 0 < block_count <= 512"))
        return false;
    if (!c.u32("llama.embedding_length", true, 1, kMaxWidth, n_embd)) return false;
    if (!c.u32("llama.context_length", true, kMinCtx, kMaxCtx, n_ctx, nullptr, "positions the model was trained with"))
        return false;
    if (!c.per_layer("llama.feed_forward_length", true, n_layer, 1, kMaxFF, n_ff)) return false;
    if (!c.per_layer("llama.attention.head_count", true, n_layer, 1, kMaxHeads, n_head)) return false;
    bool has_kv = false;
    if (!c.per_layer("llama.attention.head_count_kv", false, n_layer, 1, kMaxHeads, n_head_kv, &has_kv)) return false;
    if (!has_kv) n_head_kv = n_head;
    if (n_embd % n_head != 0) {
        return c.fail("key 'llama.attention.head_count' = " + std::to_string(n_head) +
                      " does not divide 'llama.embedding_length' = " + std::to_string(n_embd));
    }
    const uint32_t head_dim = n_embd / n_head;
    if (head_dim % 2 != 0) {
        return c.fail(
            "the head size 'llama.embedding_length' / 'llama.attention.head_count' = " + std::to_string(head_dim) +
            " is odd: RoPE rotates pairs of dimensions (ggml asserts n_dims % 2 == 0)");
    }
    if (n_head_kv > n_head || n_head % n_head_kv != 0) {
        return c.fail("key 'llama.attention.head_count_kv' = " + std::to_string(n_head_kv) +
                      " does not divide 'llama.attention.head_count' = " + std::to_string(n_head));
    }
    // head sizes and RoPE dimensions other than embedding_length / head_count: the llama graph
    // asserts n_embd_head_k == n_embd_head_v == n_rot
    for (const char * key :
         {"llama.attention.key_length", "llama.attention.value_length", "llama.rope.dimension_count"}) {
        uint32_t v = 0;
        bool present = false;
        if (!c.u32(key, false, 0, UINT32_MAX, v, &present)) return false;
        if (present && v != head_dim) {
            return c.fail(std::string("key '") + key + "' = " + std::to_string(v) +
                          " differs from embedding_length / head_count = " + std::to_string(head_dim));
        }
    }
    float eps = 0;
    if (!c.f32(
            "llama.attention.layer_norm_rms_epsilon", true, eps, nullptr,
            [](float v) { return std::isfinite(v) && v > 0.0f && v <= 1.0f; }, "in (0, 1] (ggml asserts eps >= 0)"))
        return false;
    float base = 10000.0f;
    if (!c.f32(
            "llama.rope.freq_base", false, base, nullptr, [](float v) { return std::isfinite(v) && v >= 1.0f; },
            "finite and >= 1 (RoPE frequencies are base^(-2i/d))"))
        return false;
    std::string scaling = "linear";
    if (!c.str("llama.rope.scaling.type", false, scaling)) return false;
    if (scaling != "none" && scaling != "linear") {
        return c.fail("key 'llama.rope.scaling.type' is '" + scaling +
                      "': only 'none' and 'linear' are supported (libllama asserts on unknown types; "
                      "LLaMA/Vicuna uses plain RoPE)");
    }
    for (const char * key : {"llama.rope.scaling.factor", "llama.rope.scale_linear"}) {
        float f = 0;
        if (!c.f32(
                key, false, f, nullptr,
                [](float v) { return v == 0.0f || (std::isfinite(v) && v >= 1.0f && v <= 1e6f); },
                "0 (none) or in [1, 1e6] (positions are divided by it)"))
            return false;
    }
    float attn_factor = 1.0f;
    if (!c.f32(
            "llama.rope.scaling.attn_factor", false, attn_factor, nullptr,
            [](float v) { return std::isfinite(v) && v > 0.0f && v <= 100.0f; },
            "in (0, 100] (it scales every rotated value)"))
        return false;
    {
        uint32_t v = 0;
        if (!c.u32("llama.rope.scaling.original_context_length", false, 1, UINT32_MAX, v)) return false;
        bool b = true;
        if (!c.boolean("llama.rope.scaling.finetuned", b)) return false;
    }
    // features of other models that take other graph paths
    {
        bool causal = true;
        if (!c.boolean("llama.attention.causal", causal)) return false;
        if (!causal) {
            return c.fail("key 'llama.attention.causal' is false: a decoder-only LLM attends causally "
                          "(libllama asserts n_ubatch >= n_tokens for non-causal batches)");
        }
    }
    if (!c.u32_eq("llama.embedding_length_out", n_embd, "the output width is embedding_length")) return false;
    if (!c.u32_eq("llama.pooling_type", 0, "no pooling: the LLM generates text")) return false;
    if (!c.u32_eq("llama.nextn_predict_layers", 0,
                  "no multi-token prediction layers; libllama asserts it <= block_count"))
        return false;
    for (const char * key : {"llama.expert_count", "llama.expert_used_count", "llama.expert_group_count",
                             "llama.expert_group_used_count"}) {
        if (c.find(key) >= 0 && gguf_get_kv_type(g, c.find(key)) == GGUF_TYPE_ARRAY) {
            return c.fail(std::string("key '") + key + "' is set: mixture-of-experts models are not supported");
        }
        if (!c.u32_eq(key, 0, "mixture-of-experts models are not supported; libllama asserts on inconsistent counts"))
            return false;
    }

    // ---- vocabulary (llama-vocab.cpp load) ------------------------------------------------------
    std::string tok_model;
    if (!c.str("tokenizer.ggml.model", true, tok_model)) return false;
    if (tok_model != "llama") {
        return c.fail("tokenizer.ggml.model is '" + tok_model +
                      "', expected 'llama' (GroundingGPT uses LLaMA's SentencePiece tokenizer)");
    }
    if (!c.boolean("tokenizer.ggml.add_space_prefix", x.add_space_prefix)) return false;
    for (const char * key : {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
        bool b = false;
        if (!c.boolean(key, b)) return false;
    }
    int64_t tok_id;
    if (!c.typed("tokenizer.ggml.tokens", GGUF_TYPE_ARRAY, true, tok_id)) return false;
    if (gguf_get_arr_type(g, tok_id) != GGUF_TYPE_STRING)
        return c.fail("tokenizer.ggml.tokens is not an array of strings");
    const size_t n_tok = gguf_get_arr_n(g, tok_id);
    if (n_tok < 3 || n_tok > kMaxVocab) {
        return c.fail("tokenizer.ggml.tokens has " + std::to_string(n_tok) + " tokens, expected [3, " +
                      std::to_string(kMaxVocab) + "]");
    }
    const uint32_t n_vocab = (uint32_t)n_tok;
    {
        // libllama keys its piece -> id map by the C string of each piece (an empty one becomes
        // "[EMPTY_<id>]") and asserts that every piece is unique
        std::unordered_set<std::string> seen;
        seen.reserve(n_tok);
        for (size_t i = 0; i < n_tok; i++) {
            const char * p = gguf_get_arr_str(g, tok_id, i);
            std::string piece = p ? p : "";
            if (piece.empty()) piece = "[EMPTY_" + std::to_string(i) + "]";
            if (!seen.insert(piece).second) {
                return c.fail("tokenizer.ggml.tokens repeats the piece '" + piece + "' (token " + std::to_string(i) +
                              "): every piece must be unique");
            }
        }
    }
    {
        const int64_t id = c.find("tokenizer.ggml.scores");
        if (id >= 0) {
            const gguf_type at =
                gguf_get_kv_type(g, id) == GGUF_TYPE_ARRAY ? gguf_get_arr_type(g, id) : GGUF_TYPE_COUNT;
            if (at != GGUF_TYPE_FLOAT32 && at != GGUF_TYPE_INT32) {
                return c.fail("tokenizer.ggml.scores is not an array of float32 (or int32)");
            }
            if (gguf_get_arr_n(g, id) != n_tok) {
                return c.fail("tokenizer.ggml.scores has " + std::to_string(gguf_get_arr_n(g, id)) +
                              " entries but tokenizer.ggml.tokens has " + std::to_string(n_tok));
            }
            if (at == GGUF_TYPE_FLOAT32) {
                const uint8_t * d = (const uint8_t *)gguf_get_arr_data(g, id);
                for (size_t i = 0; i < n_tok; i++) {
                    float s;
                    memcpy(&s, d + 4 * i, 4);
                    if (std::isnan(s)) {
                        return c.fail("tokenizer.ggml.scores[" + std::to_string(i) +
                                      "] is NaN (the tokenizer orders merges by score)");
                    }
                }
            }
        }
    }
    {
        const int64_t id = c.find("tokenizer.ggml.token_type");
        if (id >= 0) {
            if (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, id) != GGUF_TYPE_INT32) {
                return c.fail("tokenizer.ggml.token_type is not an array of int32");
            }
            if (gguf_get_arr_n(g, id) != n_tok) {
                return c.fail("tokenizer.ggml.token_type has " + std::to_string(gguf_get_arr_n(g, id)) +
                              " entries but tokenizer.ggml.tokens has " + std::to_string(n_tok));
            }
        }
    }
    {
        uint32_t v = 0;
        if (!c.u32("llama.vocab_size", false, n_vocab, n_vocab, v, nullptr, "the length of tokenizer.ggml.tokens"))
            return false;
    }
    uint32_t bos = 1, eos = 2;  // libllama's SentencePiece defaults
    for (const char * key : kSpecialIdKeys) {
        uint32_t v = 0;
        bool present = false;
        if (!c.u32(key, false, 0, n_vocab - 1, v, &present, "a token id")) return false;
        if (present && !strcmp(key, "tokenizer.ggml.bos_token_id")) bos = v;
        if (present && !strcmp(key, "tokenizer.ggml.eos_token_id")) eos = v;
    }

    // ---- our keys ---------------------------------------------------------------------------------
    for (int i = 0; i < 9; i++) {
        uint32_t v = 0;
        bool present = false;
        x.media_ids[i] = -1;
        if (!c.u32(kMediaKeys[i], false, 0, UINT32_MAX, v, &present)) return false;
        if (!present) continue;
        if (v >= n_vocab) {
            return c.fail(std::string("key '") + kMediaKeys[i] + "' = " + std::to_string(v) +
                          " is not a token id (n_vocab " + std::to_string(n_vocab) + ")");
        }
        if (v == bos || v == eos) {
            return c.fail(std::string("key '") + kMediaKeys[i] + "' = " + std::to_string(v) + " is the " +
                          (v == bos ? "BOS" : "EOS") + " token: a media placeholder needs its own token");
        }
        for (int j = 0; j < i; j++) {
            if (x.media_ids[j] == (int32_t)v) {
                return c.fail(std::string("keys '") + kMediaKeys[j] + "' and '" + kMediaKeys[i] +
                              "' name the same token " + std::to_string(v));
            }
        }
        x.media_ids[i] = (int32_t)v;
    }
    const char * len_keys[3] = {N::KEY_IMAGE_TOKEN_LEN, N::KEY_VIDEO_TOKEN_LEN, N::KEY_SOUND_TOKEN_LEN};
    for (int m = 0; m < 3; m++) {
        if (!c.u32(len_keys[m], false, 1, 65536, x.n_rows[m], nullptr, "feature rows per media item")) return false;
    }

    // ---- tensors (llama-model-loader.cpp create_tensor, models/llama.cpp load_arch_tensors) ------
    const int64_t E = n_embd, F = n_ff, V = n_vocab;
    const int64_t Q = (int64_t)head_dim * n_head, KV = (int64_t)head_dim * n_head_kv;
    std::unordered_map<std::string, Expect> want;
    want.reserve(8 + 16 * (size_t)n_layer);
    want["token_embd.weight"] = {E, V, false};
    want["output_norm.weight"] = {E, 1, true};
    want["output.weight"] = {E, V, false};
    want["rope_freqs.weight"] = {head_dim / 2, 1, true};
    const char * const kLayerNames[] = {"attn_norm.weight", "attn_q.weight",      "attn_k.weight",    "attn_v.weight",
                                        "attn_qkv.weight",  "attn_output.weight", "ffn_norm.weight",  "ffn_gate.weight",
                                        "ffn_down.weight",  "ffn_up.weight",      "attn_q.bias",      "attn_k.bias",
                                        "attn_v.bias",      "attn_qkv.bias",      "attn_output.bias", "ffn_gate.bias",
                                        "ffn_down.bias",    "ffn_up.bias"};
    const Expect kLayerShapes[] = {
        {E, 1, true},  {E, Q, false},         {E, KV, false}, {E, KV, false}, {E, Q + 2 * KV, false}, {Q, E, false},
        {E, 1, true},  {E, F, false},         {F, E, false},  {E, F, false},  {Q, 1, true},           {KV, 1, true},
        {KV, 1, true}, {Q + 2 * KV, 1, true}, {E, 1, true},   {F, 1, true},   {E, 1, true},           {F, 1, true}};
    static_assert(sizeof kLayerNames / sizeof kLayerNames[0] == sizeof kLayerShapes / sizeof kLayerShapes[0], "");
    for (uint32_t il = 0; il < n_layer; il++) {
        const std::string pre = "blk." + std::to_string(il) + ".";
        for (size_t k = 0; k < sizeof kLayerNames / sizeof kLayerNames[0]; k++)
            want[pre + kLayerNames[k]] = kLayerShapes[k];
    }

    const int64_t n_tensors = gguf_get_n_tensors(g);
    const uint64_t data_offset = gguf_get_data_offset(g);
    for (int64_t i = 0; i < n_tensors; i++) {
        const char * name = gguf_get_tensor_name(g, i);
        auto it = want.find(name);
        if (it == want.end()) {
            return c.fail(std::string("unexpected tensor '") + name + "': not part of a LLaMA model with " +
                          std::to_string(n_layer) + " blocks");
        }
        Expect & e = it->second;
        e.seen = true;
        const int type = (int)gguf_get_tensor_type(g, i);
        const int64_t * ne = gguf_get_tensor_ne(g, i);
        if (ne[0] != e.ne0 || ne[1] != e.ne1 || ne[2] != 1 || ne[3] != 1) {
            char buf[160];
            snprintf(buf, sizeof buf,
                     "has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64
                     "]",
                     ne[0], ne[1], ne[2], ne[3], e.ne0, e.ne1);
            return c.fail(std::string("tensor '") + name + "' " + buf + " (ggml order) from the keys");
        }
        if (e.vec ? type != GGML_TYPE_F32 : !matrix_type_ok(type)) {
            return c.fail(
                std::string("tensor '") + name + "' has type " + type_name(type) +
                (e.vec
                     ? ": norm weights, biases and rope_freqs must be f32 (ggml's MUL/ADD/ROPE take f32)"
                     : ": not a weight type this build multiplies (f32, f16, bf16, q4_0..q8_0, k-quants, iq-quants)"));
        }
        const uint64_t off = data_offset + gguf_get_tensor_offset(g, i);
        const uint64_t nbytes = gguf_get_tensor_size(g, i);
        if (off > (uint64_t)file_size || nbytes > (uint64_t)file_size - off) {
            return c.fail(std::string("tensor '") + name + "' extends past the end of the file (truncated?)");
        }
        if (off % kTensorAlignment != 0) x.mmap_aligned = false;
        if (!strcmp(name, "token_embd.weight")) {
            x.token_embd_type = type;
            x.token_embd_offset = off;
            x.token_embd_row_bytes = ggml_row_size((ggml_type)type, ne[0]);
        }
    }
    auto seen = [&](const std::string & n) { return want[n].seen; };
    for (const char * n : {"token_embd.weight", "output_norm.weight"}) {
        if (!seen(n)) return c.fail(std::string("missing tensor '") + n + "'");
    }
    for (uint32_t il = 0; il < n_layer; il++) {
        const std::string pre = "blk." + std::to_string(il) + ".";
        for (const char * n : {"attn_norm.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
                               "ffn_down.weight", "ffn_up.weight"}) {
            if (!seen(pre + n)) return c.fail("missing tensor '" + pre + n + "'");
        }
        const bool fused = seen(pre + "attn_qkv.weight");
        const bool q = seen(pre + "attn_q.weight"), k = seen(pre + "attn_k.weight"), v = seen(pre + "attn_v.weight");
        if (fused ? (q || k || v) : !(q && k && v)) {
            return c.fail("block " + std::to_string(il) +
                          " needs either attn_qkv.weight or all of attn_q/attn_k/attn_v.weight (and not both)");
        }
        // libllama reads only the biases of the projections it uses: another one would be left over
        // and fail its tensor count
        if (fused ? (seen(pre + "attn_q.bias") || seen(pre + "attn_k.bias") || seen(pre + "attn_v.bias"))
                  : seen(pre + "attn_qkv.bias")) {
            return c.fail("block " + std::to_string(il) + " has a bias of a projection it does not have");
        }
    }

    x.n_vocab = (int32_t)n_vocab;
    x.n_embd = (int32_t)n_embd;
    x.n_layer = (int32_t)n_layer;
    x.bos = (int32_t)bos;
    x.eos = (int32_t)eos;
    return true;
}

}  // namespace

ggpt_status check_llm_gguf(const gguf_context * g, const std::string & path, int64_t file_size, LlmFileInfo & info,
                           std::string & err) {
    info = LlmFileInfo();
    for (int32_t & id : info.media_ids) id = -1;
    if (!g) {
        err = path + ": not a valid GGUF file";
        return GGPT_ERR_FORMAT;
    }
    try {
        return check_impl(g, path, file_size, info, err) ? GGPT_OK : GGPT_ERR_FORMAT;
    } catch (const std::bad_alloc &) {
        err = path + ": out of memory while checking the file";
        return GGPT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception & e) {
        err = path + ": internal error while checking the file: " + e.what();
        return GGPT_ERR_INTERNAL;
    }
}

ggpt_status check_llm_file(const std::string & path, LlmFileInfo & info, std::string & err) {
    info = LlmFileInfo();
    for (int32_t & id : info.media_ids) id = -1;
    const int64_t size = file_size(path, err);
    if (size < 0) return GGPT_ERR_IO;

    LogCapture capture;
    gguf_init_params gp = {/*no_alloc =*/true, /*ctx =*/nullptr};
    gguf_context * g = gguf_init_from_file(path.c_str(), gp);
    if (!g) {
        err = path + ": not a valid GGUF file" +
              (capture.first_error().empty() ? std::string() : " (" + capture.first_error() + ")");
        return GGPT_ERR_FORMAT;
    }
    const ggpt_status st = check_llm_gguf(g, path, size, info, err);
    gguf_free(g);
    return st;
}

ggpt_status check_llm_file(const std::string & path, std::string & err) {
    LlmFileInfo info;
    return check_llm_file(path, info, err);
}

}  // namespace ggpt
