// loader.cpp - reads the encoders GGUF (names.h): every hyper-parameter through a typed, range-checked
// getter and every tensor with its expected shape and allowed types, all before any weight is read
// or any graph is built. A file a user controls can only produce GGPT_ERR_FORMAT / GGPT_ERR_IO with
// the file and the key or tensor named, never a ggml assertion. (Over 500 lines: the checks of
// all three towers' keys and tensors, kept in one place so that none is skipped.)
#include <algorithm>
#include <atomic>
#include <thread>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#if !defined(_WIN32)
#  include <fcntl.h>
#  include <sys/mman.h>
#  include <sys/stat.h>
#  include <unistd.h>
#endif

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"

#include "core/log.h"
#include "core/model.h"
#include "encoders/encoders.h"
#include "names.h"
#include "preprocess/audio.h"

namespace ggpt {

namespace {

namespace N = names;

// Drops the whole pages inside [data, data + n) of a read-only file mapping from this process's
// memory (a later read faults them back in from the file); returns the bytes released.
size_t release_pages(const void * data, size_t n) {
#if defined(__linux__)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)data + page - 1) & ~(page - 1);
    const uintptr_t b = ((uintptr_t)data + n) & ~(page - 1);
    if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) == 0) return b - a;
#else
    (void)data, (void)n;
#endif
    return 0;
}

// What a tensor may be stored as.
enum class Kind {
    vec,    // norms, biases, class tokens, bias_k/v: f32 (they are tiny and added, not multiplied)
    mat,    // Linear weights: f32, f16 or q8_0 (ggml_mul_mat takes each with f32 activations)
    table,  // position tables, query tokens: f32 or f16 (added after a cast)
    conv,   // patch-embedding kernels: f32 or f16 (im2col + matmul; 588 columns cannot be q8_0 blocks)
};

std::string subst(const char * tmpl, const char * qf, int i) {
    std::string s = tmpl;
    size_t p;
    if (qf && (p = s.find("{qf}")) != std::string::npos) s.replace(p, 4, qf);
    if ((p = s.find("{i}")) != std::string::npos) s.replace(p, 3, std::to_string(i));
    return s;
}

std::string shape_str(const int64_t * ne, int n) {  // PyTorch order (outermost first)
    std::string s = "[";
    for (int i = n - 1; i >= 0; --i) {
        s += std::to_string(ne[i]);
        if (i) s += ", ";
    }
    return s + "]";
}

struct Loader {
    std::string path;
    gguf_context * gguf = nullptr;
    ggml_context * meta = nullptr;                           // tensor infos of the file (no data)
    ggml_context * ctx = nullptr;                            // our copies of the expected tensors
    std::vector<std::pair<int64_t, ggml_tensor *>> tensors;  // gguf tensor id -> ours
    std::set<std::string> used;
    std::vector<ggml_tensor *> mats;  // Linear weights and conv kernels (candidates for the AMX repack)
    std::string err;
    ggpt_status status = GGPT_OK;

    ~Loader() {
        if (gguf) gguf_free(gguf);
        if (meta) ggml_free(meta);
    }

    bool ok() const { return status == GGPT_OK; }

    void fail(ggpt_status st, const char * fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
    {
        if (!ok()) return;  // keep the first error: later ones are often its consequences
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        status = st;
        err = "encoders file " + path + ": " + buf;
    }

    // ---- keys ------------------------------------------------------------------------------

    bool has(const std::string & key) const { return gguf_find_key(gguf, key.c_str()) >= 0; }

    int64_t find(const std::string & key, gguf_type want) {
        if (!ok()) return -1;
        int64_t id = gguf_find_key(gguf, key.c_str());
        if (id < 0) {
            fail(GGPT_ERR_FORMAT, "missing key '%s'", key.c_str());
            return -1;
        }
        gguf_type t = gguf_get_kv_type(gguf, id);
        if (t != want) {
            fail(GGPT_ERR_FORMAT, "key '%s' has type %s, expected %s", key.c_str(), gguf_type_name(t),
                 gguf_type_name(want));
            return -1;
        }
        return id;
    }

    // u32 in [lo, hi]; `why` completes "must be in [lo, hi]: ..."
    int32_t u32(const std::string & key, int64_t lo, int64_t hi, const char * why) {
        int64_t id = find(key, GGUF_TYPE_UINT32);
        if (id < 0) return lo;
        int64_t v = gguf_get_val_u32(gguf, id);
        if (v < lo || v > hi) {
            fail(GGPT_ERR_FORMAT, "key '%s' = %" PRId64 " must be in [%" PRId64 ", %" PRId64 "]: %s", key.c_str(), v,
                 lo, hi, why);
            return (int32_t)lo;
        }
        return (int32_t)v;
    }

    // f32 in (lo, hi] (lo exclusive: epsilons and scales must be positive)
    float f32(const std::string & key, double lo, double hi, const char * why) {
        int64_t id = find(key, GGUF_TYPE_FLOAT32);
        if (id < 0) return (float)hi;
        float v = gguf_get_val_f32(gguf, id);
        if (!std::isfinite(v) || !(v > lo) || !(v <= hi)) {
            fail(GGPT_ERR_FORMAT, "key '%s' = %g must be in (%g, %g]: %s", key.c_str(), (double)v, lo, hi, why);
            return (float)hi;
        }
        return v;
    }

    // finite f32 without range
    float f32_any(const std::string & key) {
        int64_t id = find(key, GGUF_TYPE_FLOAT32);
        if (id < 0) return 0.0f;
        float v = gguf_get_val_f32(gguf, id);
        if (!std::isfinite(v)) fail(GGPT_ERR_FORMAT, "key '%s' is not finite", key.c_str());
        return v;
    }

    // f32[3] normalisation constants (std entries must be > 0)
    void rgb(const std::string & key, float out[3], bool positive) {
        int64_t id = find(key, GGUF_TYPE_ARRAY);
        if (id < 0) return;
        if (gguf_get_arr_type(gguf, id) != GGUF_TYPE_FLOAT32 || gguf_get_arr_n(gguf, id) != 3) {
            fail(GGPT_ERR_FORMAT, "key '%s' must be an array of 3 f32 (one per RGB channel)", key.c_str());
            return;
        }
        const float * v = (const float *)gguf_get_arr_data(gguf, id);
        for (int c = 0; c < 3; ++c) {
            if (!std::isfinite(v[c]) || (positive && !(v[c] > 0.0f))) {
                fail(GGPT_ERR_FORMAT, "key '%s'[%d] = %g is not %s", key.c_str(), c, (double)v[c],
                     positive ? "a positive number (it divides the pixels)" : "finite");
                return;
            }
            out[c] = v[c];
        }
    }

    std::string str(const std::string & key) {
        int64_t id = find(key, GGUF_TYPE_STRING);
        return id < 0 ? std::string() : std::string(gguf_get_val_str(gguf, id));
    }

    // ---- tensors ---------------------------------------------------------------------------

    // Looks up `name` with the PyTorch-order shape `shape` (outermost first) and an allowed type.
    ggml_tensor * tensor(const std::string & name, std::initializer_list<int64_t> shape, Kind kind) {
        if (!ok()) return nullptr;
        ggml_tensor * mt = ggml_get_tensor(meta, name.c_str());
        if (!mt) {
            fail(GGPT_ERR_FORMAT, "missing tensor '%s'", name.c_str());
            return nullptr;
        }
        int64_t ne[GGML_MAX_DIMS] = {1, 1, 1, 1};
        const int n = (int)shape.size();
        int i = n - 1;
        for (int64_t d : shape) ne[i--] = d;
        bool same = true;
        for (int d = 0; d < GGML_MAX_DIMS; ++d) same = same && mt->ne[d] == ne[d];
        if (!same) {
            fail(GGPT_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", name.c_str(),
                 shape_str(mt->ne, std::max(n, ggml_n_dims(mt))).c_str(), shape_str(ne, n).c_str());
            return nullptr;
        }
        const ggml_type t = mt->type;
        bool allowed = false;
        const char * allowed_str = "";
        switch (kind) {
            case Kind::vec:
                allowed = t == GGML_TYPE_F32;
                allowed_str = "f32";
                break;
            case Kind::mat:
                allowed = t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_Q8_0;
                allowed_str = "f32, f16 or q8_0";
                break;
            case Kind::table:
            case Kind::conv:
                allowed = t == GGML_TYPE_F32 || t == GGML_TYPE_F16;
                allowed_str = "f32 or f16";
                break;
        }
        if (!allowed) {
            fail(GGPT_ERR_FORMAT, "tensor '%s' has type %s, allowed: %s", name.c_str(), ggml_type_name(t), allowed_str);
            return nullptr;
        }
        ggml_tensor * t2 = ggml_dup_tensor(ctx, mt);
        ggml_set_name(t2, name.c_str());
        tensors.emplace_back(gguf_find_tensor(gguf, name.c_str()), t2);
        used.insert(name);
        if (kind == Kind::mat || kind == Kind::conv) mats.push_back(t2);
        return t2;
    }

    ggml_tensor * t(const char * tmpl, const char * qf, int i, std::initializer_list<int64_t> shape, Kind kind) {
        return tensor(subst(tmpl, qf, i), shape, kind);
    }

    NormW norm(const char * tw, const char * tb, const char * qf, int i, int64_t n) {
        return {t(tw, qf, i, {n}, Kind::vec), t(tb, qf, i, {n}, Kind::vec)};
    }

    LinearW linear(const char * tw, const char * tb, const char * qf, int i, int64_t n_out, int64_t n_in) {
        LinearW l;
        l.w = t(tw, qf, i, {n_out, n_in}, Kind::mat);
        if (tb) l.b = t(tb, qf, i, {n_out}, Kind::vec);
        return l;
    }
};

constexpr int64_t MAX_WIDTH = 65536;  // larger layers would overflow the int32 row counts of ggml ops

void load_clip(Loader & L, ClipTower & c, int32_t llm_n_embd) {
    ClipHParams & hp = c.hp;
    hp.image_size = L.u32(N::KEY_CLIP_IMAGE_SIZE, 14, 4096, "the input side in pixels");
    hp.patch_size = L.u32(N::KEY_CLIP_PATCH_SIZE, 1, 64, "the patch convolution kernel in pixels");
    hp.n_embd = L.u32(N::KEY_CLIP_N_EMBD, 1, MAX_WIDTH, "the tower width");
    hp.n_ff = L.u32(N::KEY_CLIP_N_FF, 1, 4 * MAX_WIDTH, "the MLP width");
    hp.n_head = L.u32(N::KEY_CLIP_N_HEAD, 1, 1024, "the attention head count");
    hp.n_block = L.u32(N::KEY_CLIP_N_BLOCK, 1, 1024, "the blocks up to the selected layer");
    hp.eps = L.f32(N::KEY_CLIP_EPS, 0.0, 0.1, "a LayerNorm epsilon");
    std::string act = L.str(N::KEY_CLIP_ACT);
    if (L.ok()) {
        if (act == "quick_gelu") hp.quick_gelu = true;
        else if (act == "gelu") hp.quick_gelu = false;
        else
            L.fail(GGPT_ERR_FORMAT, "key '%s' = '%s': supported activations are quick_gelu and gelu", N::KEY_CLIP_ACT,
                   act.c_str());
    }
    if (!L.ok()) return;
    if (hp.image_size % hp.patch_size != 0)
        return L.fail(GGPT_ERR_FORMAT,
                      "'%s' = %d is not a multiple of '%s' = %d: the image must split into whole patches",
                      N::KEY_CLIP_IMAGE_SIZE, hp.image_size, N::KEY_CLIP_PATCH_SIZE, hp.patch_size);
    if (hp.n_embd % hp.n_head != 0)
        return L.fail(GGPT_ERR_FORMAT, "'%s' = %d does not divide '%s' = %d: heads split the width evenly",
                      N::KEY_CLIP_N_HEAD, hp.n_head, N::KEY_CLIP_N_EMBD, hp.n_embd);
    const int64_t W = hp.n_embd, F = hp.n_ff, p = hp.patch_size;
    c.patch_w = L.tensor(N::CLIP_PATCH, {W, 3, p, p}, Kind::conv);
    c.cls = L.tensor(N::CLIP_CLS, {W}, Kind::vec);
    c.pos = L.tensor(N::CLIP_POS, {hp.n_patches() + 1, W}, Kind::table);
    c.pre_ln = L.norm(N::CLIP_PRE_LN_W, N::CLIP_PRE_LN_B, nullptr, 0, W);
    c.blocks.resize(hp.n_block);
    for (int i = 0; i < hp.n_block && L.ok(); ++i) {
        VitBlockW & b = c.blocks[i];
        b.ln1 = L.norm(N::CLIP_BLK_LN1_W, N::CLIP_BLK_LN1_B, nullptr, i, W);
        b.q = L.linear(N::CLIP_BLK_Q_W, N::CLIP_BLK_Q_B, nullptr, i, W, W);
        b.k = L.linear(N::CLIP_BLK_K_W, N::CLIP_BLK_K_B, nullptr, i, W, W);
        b.v = L.linear(N::CLIP_BLK_V_W, N::CLIP_BLK_V_B, nullptr, i, W, W);
        b.out = L.linear(N::CLIP_BLK_O_W, N::CLIP_BLK_O_B, nullptr, i, W, W);
        b.ln2 = L.norm(N::CLIP_BLK_LN2_W, N::CLIP_BLK_LN2_B, nullptr, i, W);
        b.up = L.linear(N::CLIP_BLK_UP_W, N::CLIP_BLK_UP_B, nullptr, i, F, W);
        b.down = L.linear(N::CLIP_BLK_DOWN_W, N::CLIP_BLK_DOWN_B, nullptr, i, W, F);
    }
    c.proj0 = L.linear(N::MMPROJ_0_W, N::MMPROJ_0_B, nullptr, 0, llm_n_embd, W);
    c.proj2 = L.linear(N::MMPROJ_2_W, N::MMPROJ_2_B, nullptr, 0, llm_n_embd, llm_n_embd);
}

void load_qformer(Loader & L, QFormerW & q, const char * qf, int32_t kv_width_expected, const char * kv_from) {
    QFormerHParams & hp = q.hp;
    auto key = [&](const char * tmpl) { return subst(tmpl, qf, 0); };
    hp.n_embd = L.u32(key(N::KEY_QF_N_EMBD), 1, MAX_WIDTH, "the Q-Former width");
    hp.n_ff = L.u32(key(N::KEY_QF_N_FF), 1, 4 * MAX_WIDTH, "the query FFN width");
    hp.n_head = L.u32(key(N::KEY_QF_N_HEAD), 1, 1024, "the attention head count");
    hp.n_block = L.u32(key(N::KEY_QF_N_BLOCK), 1, 1024, "the BERT layer count");
    hp.cross_freq = L.u32(key(N::KEY_QF_CROSS_FREQ), 1, 1024, "cross-attention runs in blocks i % freq == 0");
    hp.n_query = L.u32(key(N::KEY_QF_N_QUERY), 1, 4096, "the learned query count (feature rows)");
    hp.kv_width = L.u32(key(N::KEY_QF_KV_WIDTH), 1, MAX_WIDTH, "the width of the features it attends to");
    hp.eps = L.f32(key(N::KEY_QF_EPS), 0.0, 0.1, "a LayerNorm epsilon");
    if (!L.ok()) return;
    if (hp.n_embd % hp.n_head != 0)
        return L.fail(GGPT_ERR_FORMAT, "'%s' = %d does not divide '%s' = %d: heads split the width evenly",
                      key(N::KEY_QF_N_HEAD).c_str(), hp.n_head, key(N::KEY_QF_N_EMBD).c_str(), hp.n_embd);
    if (hp.kv_width != kv_width_expected)
        return L.fail(GGPT_ERR_FORMAT, "'%s' = %d but the %s it attends to has width %d",
                      key(N::KEY_QF_KV_WIDTH).c_str(), hp.kv_width, kv_from, kv_width_expected);
    const int64_t W = hp.n_embd, F = hp.n_ff, KV = hp.kv_width;
    q.query = L.t(N::QF_QUERY, qf, 0, {hp.n_query, W}, Kind::table);
    q.emb_ln = L.norm(N::QF_EMB_LN_W, N::QF_EMB_LN_B, qf, 0, W);
    q.blocks.resize(hp.n_block);
    for (int i = 0; i < hp.n_block && L.ok(); ++i) {
        QFormerBlockW & b = q.blocks[i];
        b.q = L.linear(N::QF_BLK_Q_W, N::QF_BLK_Q_B, qf, i, W, W);
        b.k = L.linear(N::QF_BLK_K_W, N::QF_BLK_K_B, qf, i, W, W);
        b.v = L.linear(N::QF_BLK_V_W, N::QF_BLK_V_B, qf, i, W, W);
        b.o = L.linear(N::QF_BLK_O_W, N::QF_BLK_O_B, qf, i, W, W);
        b.ln = L.norm(N::QF_BLK_LN1_W, N::QF_BLK_LN1_B, qf, i, W);
        b.has_cross = i % hp.cross_freq == 0;
        if (b.has_cross) {
            b.xq = L.linear(N::QF_BLK_XQ_W, N::QF_BLK_XQ_B, qf, i, W, W);
            b.xk = L.linear(N::QF_BLK_XK_W, N::QF_BLK_XK_B, qf, i, W, KV);
            b.xv = L.linear(N::QF_BLK_XV_W, N::QF_BLK_XV_B, qf, i, W, KV);
            b.xo = L.linear(N::QF_BLK_XO_W, N::QF_BLK_XO_B, qf, i, W, W);
            b.xln = L.norm(N::QF_BLK_XLN_W, N::QF_BLK_XLN_B, qf, i, W);
        }
        b.up = L.linear(N::QF_BLK_UP_W, N::QF_BLK_UP_B, qf, i, F, W);
        b.down = L.linear(N::QF_BLK_DOWN_W, N::QF_BLK_DOWN_B, qf, i, W, F);
        b.ffn_ln = L.norm(N::QF_BLK_FFN_LN_W, N::QF_BLK_FFN_LN_B, qf, i, W);
    }
}

void load_video(Loader & L, VideoTower & v, VideoPreParams & pre, int32_t llm_n_embd) {
    EvaHParams & hp = v.hp;
    hp.image_size = L.u32(N::KEY_EVA_IMAGE_SIZE, 14, 4096, "the frame side in pixels");
    hp.patch_size = L.u32(N::KEY_EVA_PATCH_SIZE, 1, 64, "the patch convolution kernel in pixels");
    hp.n_embd = L.u32(N::KEY_EVA_N_EMBD, 1, MAX_WIDTH, "the tower width");
    hp.n_ff = L.u32(N::KEY_EVA_N_FF, 1, 4 * MAX_WIDTH, "the MLP width");
    hp.n_head = L.u32(N::KEY_EVA_N_HEAD, 1, 1024, "the attention head count");
    hp.n_block = L.u32(N::KEY_EVA_N_BLOCK, 1, 1024, "the block count");
    hp.eps = L.f32(N::KEY_EVA_EPS, 0.0, 0.1, "a LayerNorm epsilon");
    hp.ln_vision_eps = L.f32(N::KEY_EVA_LN_VISION_EPS, 0.0, 0.1, "a LayerNorm epsilon");
    v.max_frames = L.u32(N::KEY_VIDEO_MAX_FRAMES, 1, 1024, "frames sampled per video (frame position table)");
    L.rgb(N::KEY_EVA_MEAN, pre.mean, false);
    L.rgb(N::KEY_EVA_STD, pre.std, true);
    if (!L.ok()) return;
    pre.size = hp.image_size;
    pre.max_frames = v.max_frames;
    if (hp.image_size % hp.patch_size != 0)
        return L.fail(GGPT_ERR_FORMAT,
                      "'%s' = %d is not a multiple of '%s' = %d: the frame must split into whole patches",
                      N::KEY_EVA_IMAGE_SIZE, hp.image_size, N::KEY_EVA_PATCH_SIZE, hp.patch_size);
    if (hp.n_embd % hp.n_head != 0)
        return L.fail(GGPT_ERR_FORMAT, "'%s' = %d does not divide '%s' = %d: heads split the width evenly",
                      N::KEY_EVA_N_HEAD, hp.n_head, N::KEY_EVA_N_EMBD, hp.n_embd);
    const int64_t W = hp.n_embd, F = hp.n_ff, p = hp.patch_size;
    v.patch_w = L.tensor(N::EVA_PATCH_W, {W, 3, p, p}, Kind::conv);
    v.patch_b = L.tensor(N::EVA_PATCH_B, {W}, Kind::vec);
    v.cls = L.tensor(N::EVA_CLS, {W}, Kind::vec);
    v.pos = L.tensor(N::EVA_POS, {hp.n_patches() + 1, W}, Kind::table);
    v.blocks.resize(hp.n_block);
    for (int i = 0; i < hp.n_block && L.ok(); ++i) {
        VitBlockW & b = v.blocks[i];
        b.ln1 = L.norm(N::EVA_BLK_LN1_W, N::EVA_BLK_LN1_B, nullptr, i, W);
        b.qkv = L.linear(N::EVA_BLK_QKV_W, N::EVA_BLK_QKV_B, nullptr, i, 3 * W, W);
        b.out = L.linear(N::EVA_BLK_O_W, N::EVA_BLK_O_B, nullptr, i, W, W);
        b.ln2 = L.norm(N::EVA_BLK_LN2_W, N::EVA_BLK_LN2_B, nullptr, i, W);
        b.up = L.linear(N::EVA_BLK_UP_W, N::EVA_BLK_UP_B, nullptr, i, F, W);
        b.down = L.linear(N::EVA_BLK_DOWN_W, N::EVA_BLK_DOWN_B, nullptr, i, W, F);
    }
    v.ln_vision = L.norm(N::EVA_LN_VISION_W, N::EVA_LN_VISION_B, nullptr, 0, W);
    load_qformer(L, v.qf, N::QF_PREFIXES[0], hp.n_embd, "EVA ViT");
    if (!L.ok()) return;
    load_qformer(L, v.vqf, N::QF_PREFIXES[1], v.qf.hp.n_embd, "frame Q-Former");
    if (!L.ok()) return;
    v.frame_pos = L.tensor(N::VIDEO_FRAME_POS, {v.max_frames, v.qf.hp.n_embd}, Kind::table);
    v.proj = L.linear(N::VIDEO_PROJ_W, N::VIDEO_PROJ_B, nullptr, 0, llm_n_embd, v.vqf.hp.n_embd);
}

void load_audio(Loader & L, AudioTower & a, AudioPreParams & pre, int32_t llm_n_embd) {
    ImageBindHParams & hp = a.hp;
    hp.n_embd = L.u32(N::KEY_IB_N_EMBD, 1, MAX_WIDTH, "the tower width");
    hp.n_ff = L.u32(N::KEY_IB_N_FF, 1, 4 * MAX_WIDTH, "the MLP width");
    hp.n_head = L.u32(N::KEY_IB_N_HEAD, 1, 1024, "the attention head count");
    hp.n_block = L.u32(N::KEY_IB_N_BLOCK, 1, 1024, "the block count");
    hp.out_dim = L.u32(N::KEY_IB_OUT_DIM, 1, MAX_WIDTH, "the embedding width of the head");
    hp.kernel = L.u32(N::KEY_IB_KERNEL, 1, 64, "the patch convolution kernel");
    hp.stride = L.u32(N::KEY_IB_STRIDE, 1, 64, "the patch convolution stride");
    hp.n_mels = L.u32(N::KEY_IB_N_MELS, 1, 1024, "mel bins per fbank frame");
    hp.target_len = L.u32(N::KEY_IB_TARGET_LEN, 1, 16384, "fbank frames per clip");
    hp.stem_eps = L.f32(N::KEY_IB_STEM_EPS, 0.0, 0.1, "a LayerNorm epsilon");
    hp.eps = L.f32(N::KEY_IB_EPS, 0.0, 0.1, "a LayerNorm epsilon");
    hp.logit_scale = L.f32(N::KEY_IB_LOGIT_SCALE, 0.0, 100.0, "ImageBind clamps its logit scale at 100");
    pre.sample_rate = L.u32(N::KEY_AUDIO_SAMPLE_RATE, 1000, 384000, "the fbank sample rate in Hz");
    a.n_clips = L.u32(N::KEY_AUDIO_N_CLIPS, 1, 8, "clips per sound (ggpt_audio_info holds at most 8)");
    pre.clip_seconds = L.f32(N::KEY_AUDIO_CLIP_SECONDS, 0.0, 600.0, "the clip length in seconds");
    pre.fbank_mean = L.f32_any(N::KEY_AUDIO_FBANK_MEAN);
    pre.fbank_std = L.f32(N::KEY_AUDIO_FBANK_STD, 0.0, 1e6, "it divides the fbank");
    if (!L.ok()) return;
    pre.n_clips = a.n_clips;
    pre.n_mels = hp.n_mels;
    pre.target_len = hp.target_len;
    // the front end's own limits (sample rate a multiple of 100 in [8000, 192000], whole-sample
    // clips, 4-512 mel bins, std > 0): values outside them would load and fail every audio call
    if (std::string why; !audio_params_check(pre, why))
        return L.fail(GGPT_ERR_FORMAT,
                      "the audio preprocessing keys (ggpt.audio.*, '%s', '%s') do not fit the fbank front end: %s",
                      N::KEY_IB_N_MELS, N::KEY_IB_TARGET_LEN, why.c_str());
    if (hp.kernel > hp.n_mels || hp.kernel > hp.target_len)
        return L.fail(GGPT_ERR_FORMAT,
                      "'%s' = %d exceeds the fbank size %d x %d: the convolution needs one whole window",
                      N::KEY_IB_KERNEL, hp.kernel, hp.n_mels, hp.target_len);
    if (hp.n_embd % hp.n_head != 0)
        return L.fail(GGPT_ERR_FORMAT, "'%s' = %d does not divide '%s' = %d: heads split the width evenly",
                      N::KEY_IB_N_HEAD, hp.n_head, N::KEY_IB_N_EMBD, hp.n_embd);
    const int64_t W = hp.n_embd, F = hp.n_ff, k = hp.kernel;
    a.patch_w = L.tensor(N::IB_PATCH_W, {W, 1, k, k}, Kind::conv);
    a.stem_ln = L.norm(N::IB_STEM_LN_W, N::IB_STEM_LN_B, nullptr, 0, W);
    a.cls = L.tensor(N::IB_CLS, {W}, Kind::vec);
    a.pos = L.tensor(N::IB_POS, {a.n_tokens() + 1, W}, Kind::table);
    a.blocks.resize(hp.n_block);
    for (int i = 0; i < hp.n_block && L.ok(); ++i) {
        VitBlockW & b = a.blocks[i];
        b.ln1 = L.norm(N::IB_BLK_LN1_W, N::IB_BLK_LN1_B, nullptr, i, W);
        b.qkv = L.linear(N::IB_BLK_QKV_W, N::IB_BLK_QKV_B, nullptr, i, 3 * W, W);
        b.bias_k = L.t(N::IB_BLK_BIAS_K, nullptr, i, {W}, Kind::vec);
        b.bias_v = L.t(N::IB_BLK_BIAS_V, nullptr, i, {W}, Kind::vec);
        b.out = L.linear(N::IB_BLK_O_W, N::IB_BLK_O_B, nullptr, i, W, W);
        b.ln2 = L.norm(N::IB_BLK_LN2_W, N::IB_BLK_LN2_B, nullptr, i, W);
        b.up = L.linear(N::IB_BLK_UP_W, N::IB_BLK_UP_B, nullptr, i, F, W);
        b.down = L.linear(N::IB_BLK_DOWN_W, N::IB_BLK_DOWN_B, nullptr, i, W, F);
    }
    a.head_ln = L.norm(N::IB_HEAD_LN_W, N::IB_HEAD_LN_B, nullptr, 0, W);
    a.head_proj = L.tensor(N::IB_HEAD_PROJ_W, {hp.out_dim, W}, Kind::mat);
    load_qformer(L, a.aqf, N::QF_PREFIXES[2], hp.out_dim, "ImageBind head");
    if (!L.ok()) return;
    // audio_position_embedding has one row per clip position (8 upstream; 3 are used)
    ggml_tensor * mt = ggml_get_tensor(L.meta, N::AUDIO_POS);
    const int64_t n_pos = mt ? mt->ne[1] : a.n_clips;
    if (mt && (n_pos < a.n_clips || n_pos > 4096))
        return L.fail(GGPT_ERR_FORMAT, "tensor '%s' has %" PRId64 " rows: it needs one per clip (%d) and at most 4096",
                      N::AUDIO_POS, n_pos, a.n_clips);
    a.clip_pos = L.tensor(N::AUDIO_POS, {n_pos, hp.out_dim}, Kind::table);
    a.proj = L.linear(N::AUDIO_PROJ_W, N::AUDIO_PROJ_B, nullptr, 0, llm_n_embd, a.aqf.hp.n_embd);
}

#if !defined(_WIN32)
// Maps the whole file read-only (nothing is read: a tower's pages are read when it loads);
// returns null on failure.
void * map_file(const std::string & path, size_t size) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return nullptr;
    void * p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return nullptr;
    return p;
}
#endif

}  // namespace

int32_t Encoders::n_rows(ggpt_media m) const {
    switch (m) {
        case GGPT_MEDIA_IMAGE: return has_media[m] ? clip.hp.n_patches() : 0;
        case GGPT_MEDIA_VIDEO: return has_media[m] ? video.vqf.hp.n_query : 0;
        case GGPT_MEDIA_AUDIO: return has_media[m] ? audio.aqf.hp.n_query : 0;
    }
    return 0;
}

void encoders_fill_info(const ggpt_model * model, ggpt_model_info * info) {
    const Encoders & e = *model->enc;
    for (int m = 0; m < 3; ++m) info->has_media[m] = e.has_media[m];
    info->encoders_n_params = e.n_params;
    info->encoders_size_bytes = e.n_bytes;
    snprintf(info->encoders_device, sizeof info->encoders_device, "%s", e.backend_name.c_str());
    if (e.has_media[GGPT_MEDIA_AUDIO]) {
        info->audio_n_mels = e.audio.hp.n_mels;
        info->audio_n_frames = e.audio.hp.target_len;
        info->audio_max_clips = (int32_t)e.audio.clip_pos->ne[1];
    }
}

// ---- towers on demand (docs/ARCHITECTURE.md "Towers on demand") -----------------------------

namespace {

// The encoders file's size now (it may have been cut short since the model was loaded); -1 on error.
int64_t current_size(FILE * f) {
#if defined(_WIN32)
    struct _stat64 st;
    if (_fstat64(_fileno(f), &st) != 0) return -1;
#else
    struct stat st;
    if (fstat(fileno(f), &st) != 0) return -1;
#endif
    return (int64_t)st.st_size;
}

// Merged byte ranges of a tower's tensors inside the mapping (the gaps between them are alignment
// padding): what tower_release drops, whole pages only.
void release_mapped(const Encoders & e, const TowerWeights & tw) {
    const uint8_t * base = (const uint8_t *)e.mapping;
    uint64_t a = 0, b = 0;
    for (const auto & [off, t] : tw.tensors) {
        const uint64_t end = off + ggml_nbytes(t);
        if (b != 0 && off <= b + 64) {
            b = std::max(b, end);
            continue;
        }
        if (b > a) release_pages(base + a, b - a);
        a = off, b = end;
    }
    if (b > a) release_pages(base + a, b - a);
}

// Frees what tower m holds (caller holds e.mu exclusively).
void unload_locked(Encoders & e, int m) {
    TowerWeights & tw = e.towers[m];
    for (ggml_tensor * w : tw.mats) e.amx.erase(w);
    if (tw.buf) {
        ggml_backend_buffer_free(tw.buf);
        tw.buf = nullptr;
        for (const auto & [off, t] : tw.tensors) {
            t->data = nullptr;
            t->buffer = nullptr;
        }
    } else if (e.mapping) {
        release_mapped(e, tw);
    }
    tw.resident = false;
    tw.resident_bytes = 0;
}

// Reads tower m's weights (caller holds e.mu exclusively). done/total: bytes over the whole call.
ggpt_status load_locked(Encoders & e, int m, const ggpt_encode_params & p, int64_t & done, int64_t total,
                        std::string & err) {
    TowerWeights & tw = e.towers[m];
    const char * name = m == GGPT_MEDIA_IMAGE ? "image" : m == GGPT_MEDIA_VIDEO ? "video" : "audio";
    auto aborted = [&] {
        if (p.abort && p.abort(p.abort_user)) return true;
        return p.progress && !p.progress((float)done / (float)std::max<int64_t>(1, total), p.progress_user);
    };
    // a file cut short after the model was loaded: a typed error, never a read past its end
    // (which, through the mapping, would be a SIGBUS)
    const int64_t now = current_size(e.file);
    if (now < 0) {
        err = "encoders file " + e.path + ": cannot stat (" + strerror(errno) + ")";
        return GGPT_ERR_IO;
    }
    if ((uint64_t)now < tw.end) {
        for (const auto & [off, t] : tw.tensors)
            if (off + ggml_nbytes(t) > (uint64_t)now) {
                err = "encoders file " + e.path + ": truncated since the model was loaded: the " + name +
                      " tower's tensor '" + ggml_get_name(t) + "' ends at byte " +
                      std::to_string(off + ggml_nbytes(t)) + " but the file has " + std::to_string(now) + " bytes";
                break;
            }
        return GGPT_ERR_FORMAT;
    }
    // the f16 weights repacked for the bf16 kernels (read once by the repack, not again)
    std::vector<ggml_tensor *> todo;
    if (e.amx_on)
        for (ggml_tensor * w : tw.mats)
            if (w->type == GGML_TYPE_F16 && amx_can_pack(w)) todo.push_back(w);
    if (e.mapping) {
        // fault the pages in (a read of each page) so that the tower's first encode does not;
        // the weights to repack are read by the repack, one at a time, and then dropped
        const uint8_t * base = (const uint8_t *)e.mapping;
        const size_t page = 4096;
        for (const auto & [off, t] : tw.tensors) {
            if (std::find(todo.begin(), todo.end(), t) != todo.end()) continue;
            const size_t n = ggml_nbytes(t);
            const volatile uint8_t * q = base + off;
            uint8_t acc = 0;
            for (size_t i = 0; i < n; i += page) acc ^= q[i];
            if (n) acc ^= q[n - 1];
            (void)acc;
            done += (int64_t)n;
            if (aborted()) {
                unload_locked(e, m);
                err = "encoders: loading the " + std::string(name) + " tower aborted";
                return GGPT_ERR_ABORTED;
            }
        }
    } else {
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(e.dev);
        const size_t align = ggml_backend_buft_get_alignment(buft);
        size_t size = align;
        for (const auto & [off, t] : tw.tensors) size += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, t), align);
        tw.buf = ggml_backend_buft_alloc_buffer(buft, size);
        if (!tw.buf) {
            err = "encoders: cannot allocate " + std::to_string(size >> 20) + " MiB for the " + name +
                  " tower's weights on " + e.backend_name;
            return GGPT_ERR_OUT_OF_MEMORY;
        }
        ggml_backend_buffer_set_usage(tw.buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        ggml_tallocr ta = ggml_tallocr_new(tw.buf);
        for (const auto & [off, t] : tw.tensors) {
            if (ggml_tallocr_alloc(&ta, t) != GGML_STATUS_SUCCESS) {
                unload_locked(e, m);
                err = "encoders: cannot place tensor '" + std::string(ggml_get_name(t)) + "'";
                return GGPT_ERR_INTERNAL;
            }
        }
        const bool host = ggml_backend_buffer_is_host(tw.buf);
        std::vector<uint8_t> staging;
        for (const auto & [off, t] : tw.tensors) {
            const size_t n = ggml_nbytes(t);
            uint8_t * dst = (uint8_t *)t->data;
            if (!host) {
                staging.resize(n);
                dst = staging.data();
            }
#if defined(_WIN32)
            const bool seek_ok = _fseeki64(e.file, (int64_t)off, SEEK_SET) == 0;
#else
            const bool seek_ok = fseeko(e.file, (off_t)off, SEEK_SET) == 0;
#endif
            if (!seek_ok || fread(dst, 1, n, e.file) != n) {
                unload_locked(e, m);
                err = "encoders file " + e.path + ": read error in tensor '" + ggml_get_name(t) + "'";
                return GGPT_ERR_IO;
            }
            if (!host) ggml_backend_tensor_set(t, dst, 0, n);
            done += (int64_t)n;
            if (aborted()) {
                unload_locked(e, m);
                err = "encoders: loading the " + std::string(name) + " tower aborted";
                return GGPT_ERR_ABORTED;
            }
        }
    }
    int64_t bytes = tw.n_bytes;
    if (!todo.empty()) {
        for (ggml_tensor * w : todo) e.amx[w];  // the map is filled before the threads write into it
        // The f16 originals of repacked weights are not read again: with the mapping, each one's
        // pages are dropped from memory right after its repack (they are file-backed, so a later
        // read would simply fault them back in), so the peak holds the bf16 copies and only a few
        // f16 tensors.
        const bool drop = tw.buf == nullptr && e.mapping != nullptr;
        std::atomic<size_t> next{0}, dropped{0};
        std::atomic<int64_t> packed{0};
        std::atomic<bool> stop{false};
        auto work = [&](bool report) {
            for (size_t i; !stop && (i = next++) < todo.size();) {
                amx_pack(todo[i], e.amx[todo[i]], e.amx_int8 && amx_can_pack(todo[i], true));
                if (drop) dropped += release_pages(todo[i]->data, ggml_nbytes(todo[i]));
                packed += (int64_t)ggml_nbytes(todo[i]);
                if (p.abort && p.abort(p.abort_user)) stop = true;  // thread-safe by contract
                // progress from the calling thread only (with the mapping, the repack is the read)
                if (report && drop && p.progress &&
                    !p.progress((float)(done + packed) / (float)std::max<int64_t>(1, total), p.progress_user))
                    stop = true;
            }
        };
        std::vector<std::thread> pool;
        const unsigned nt = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
        for (unsigned t = 1; t < nt; ++t) pool.emplace_back(work, false);
        work(true);
        for (auto & th : pool) th.join();
        if (drop) done += packed;
        if (stop) {
            unload_locked(e, m);
            err = "encoders: loading the " + std::string(name) + " tower aborted";
            return GGPT_ERR_ABORTED;
        }
        for (ggml_tensor * w : todo) {
            const AmxWeight & a = e.amx[w];
            bytes += (int64_t)(a.data.size() * sizeof(uint16_t) + a.scale.size() * sizeof(float));
        }
        bytes -= (int64_t)dropped.load();
        GGPT_LOG_I("encoders: %s tower: %zu f16 Linear weights repacked for %s-%s, %.1f MiB of f16 pages released",
                   name, todo.size(), amx_bf16_available() ? "AMX" : "AVX512", e.amx_int8 ? "INT8" : "BF16",
                   dropped / 1048576.0);
    }
    tw.resident_bytes = bytes;
    tw.resident = true;
    GGPT_LOG_I("encoders: %s tower loaded (%.1f MiB resident)", name, bytes / 1048576.0);
    return GGPT_OK;
}

}  // namespace

ggpt_status tower_load(Encoders & e, uint32_t mask, const ggpt_encode_params * params, std::string & err) {
    const ggpt_encode_params p = params ? *params : ggpt_encode_default_params();
    std::unique_lock<std::shared_mutex> lock(e.mu);
    int64_t total = 0, done = 0;
    for (int m = 0; m < 3; ++m)
        if ((mask & (1u << m)) && e.has_media[m] && !e.towers[m].resident) total += e.towers[m].n_bytes;
    for (int m = 0; m < 3; ++m) {
        if (!(mask & (1u << m)) || !e.has_media[m] || e.towers[m].resident) continue;
        try {
            const ggpt_status st = load_locked(e, m, p, done, total, err);
            if (st != GGPT_OK) return st;
        } catch (...) {
            unload_locked(e, m);
            throw;
        }
    }
    if (p.progress) p.progress(1.0f, p.progress_user);
    return GGPT_OK;
}

void tower_release(Encoders & e, uint32_t mask) {
    std::unique_lock<std::shared_mutex> lock(e.mu);
    for (int m = 0; m < 3; ++m)
        if ((mask & (1u << m)) && e.towers[m].resident) unload_locked(e, m);
}

ggpt_status tower_use(Encoders & e, ggpt_media m, const ggpt_encode_params * params,
                      std::shared_lock<std::shared_mutex> & lock, std::string & err) {
    for (;;) {
        std::shared_lock<std::shared_mutex> l(e.mu);
        if (e.towers[m].resident) {
            lock = std::move(l);
            return GGPT_OK;
        }
        l.unlock();
        // the call's abort applies; its progress is the tower's compute, not the read
        ggpt_encode_params lp = ggpt_encode_default_params();
        if (params) lp.abort = params->abort, lp.abort_user = params->abort_user;
        const ggpt_status st = tower_load(e, 1u << m, &lp, err);
        if (st != GGPT_OK) return st;
    }
}

void encoders_free(Encoders * enc) {
    if (!enc) return;
    for (TowerWeights & tw : enc->towers)
        if (tw.buf) ggml_backend_buffer_free(tw.buf);
    enc->amx.clear();
    if (enc->buf) ggml_backend_buffer_free(enc->buf);
    if (enc->ctx) ggml_free(enc->ctx);
#if !defined(_WIN32)
    if (enc->mapping) munmap(enc->mapping, enc->mapping_size);
#endif
    if (enc->file) fclose(enc->file);
    delete enc;
}

static ggpt_status encoders_load_impl(ggpt_model * model, const char * path, bool on_gpu, ggpt_progress_fn progress,
                                      void * progress_user, std::string & err, int matmul, ggml_backend_dev_t want_dev,
                                      uint32_t towers) {
    Loader L;
    L.path = path ? path : "";
    FILE * f = path ? fopen(path, "rb") : nullptr;
    if (!f) {
        err = "encoders file " + L.path + ": cannot open (" + strerror(errno) + ")";
        return GGPT_ERR_IO;
    }
    fseek(f, 0, SEEK_END);
    const int64_t file_size = ftell(f);
    fclose(f);

    gguf_init_params gp = {/*no_alloc*/ true, /*ctx*/ &L.meta};
    L.gguf = gguf_init_from_file(path, gp);
    if (!L.gguf) {
        err = "encoders file " + L.path + ": not a valid GGUF file (bad header, truncated metadata or bad tensor info)";
        return GGPT_ERR_FORMAT;
    }

    // ---- identity and version
    {
        int64_t id = L.find(N::KEY_ARCH, GGUF_TYPE_STRING);
        if (id >= 0 && std::string(gguf_get_val_str(L.gguf, id)) != N::ARCH_VALUE)
            L.fail(GGPT_ERR_FORMAT, "'%s' is '%s', expected '%s' (is this the LLM file?)", N::KEY_ARCH,
                   gguf_get_val_str(L.gguf, id), N::ARCH_VALUE);
        int32_t ver = L.u32(N::KEY_FORMAT_VERSION, 1, 1 << 30, "the format version");
        if (L.ok() && ver != (int32_t)N::FORMAT_VERSION)
            L.fail(GGPT_ERR_FORMAT,
                   "format version %d is not supported by this build (it reads version %u): reconvert the model", ver,
                   N::FORMAT_VERSION);
    }
    auto enc = std::unique_ptr<Encoders, EncodersDeleter>(new Encoders());
    enc->path = L.path;
    enc->llm_n_embd = L.u32(N::KEY_LLM_N_EMBD, 1, MAX_WIDTH, "the LLM width the projectors write");
    if (L.ok() && model && model->n_embd > 0 && enc->llm_n_embd != model->n_embd)
        L.fail(GGPT_ERR_FORMAT, "'%s' = %d but the LLM has width %d: the two files do not belong together",
               N::KEY_LLM_N_EMBD, enc->llm_n_embd, model->n_embd);

    // ---- towers present independently (each keyed by its width)
    const size_t n_file_tensors = (size_t)gguf_get_n_tensors(L.gguf);
    ggml_init_params ip = {ggml_tensor_overhead() * (n_file_tensors + 1), nullptr, /*no_alloc*/ true};
    L.ctx = ggml_init(ip);
    enc->ctx = L.ctx;
    ImagePreParams image_pre;
    VideoPreParams video_pre;
    AudioPreParams audio_pre;
    // which of the Loader's tensors and matrices belong to which tower
    std::vector<size_t> tower_of[3];
    std::pair<size_t, size_t> mats_of[3] = {{0, 0}, {0, 0}, {0, 0}};
    auto mark = [&](int m, size_t t0, size_t m0) {
        for (size_t i = t0; i < L.tensors.size(); ++i) tower_of[m].push_back(i);
        mats_of[m] = {m0, L.mats.size()};
    };
    if (L.ok() && L.has(N::KEY_CLIP_N_EMBD)) {
        const size_t t0 = L.tensors.size(), m0 = L.mats.size();
        load_clip(L, enc->clip, enc->llm_n_embd);
        mark(GGPT_MEDIA_IMAGE, t0, m0);
        L.rgb(N::KEY_CLIP_MEAN, image_pre.mean, false);
        L.rgb(N::KEY_CLIP_STD, image_pre.std, true);
        image_pre.size = enc->clip.hp.image_size;
        enc->has_media[GGPT_MEDIA_IMAGE] = true;
    }
    if (L.ok() && L.has(N::KEY_EVA_N_EMBD)) {
        const size_t t0 = L.tensors.size(), m0 = L.mats.size();
        load_video(L, enc->video, video_pre, enc->llm_n_embd);
        mark(GGPT_MEDIA_VIDEO, t0, m0);
        enc->has_media[GGPT_MEDIA_VIDEO] = true;
    }
    if (L.ok() && L.has(N::KEY_IB_N_EMBD)) {
        const size_t t0 = L.tensors.size(), m0 = L.mats.size();
        load_audio(L, enc->audio, audio_pre, enc->llm_n_embd);
        mark(GGPT_MEDIA_AUDIO, t0, m0);
        enc->has_media[GGPT_MEDIA_AUDIO] = true;
    }
    if (L.ok() && !enc->has_media[0] && !enc->has_media[1] && !enc->has_media[2])
        L.fail(GGPT_ERR_FORMAT, "holds no tower (none of '%s', '%s', '%s')", N::KEY_CLIP_N_EMBD, N::KEY_EVA_N_EMBD,
               N::KEY_IB_N_EMBD);
    // the LLM reserves media_n_tokens rows per item; the towers must produce exactly that many
    if (L.ok() && model && model->llm) {
        static const char * keys[3] = {N::KEY_IMAGE_TOKEN_LEN, N::KEY_VIDEO_TOKEN_LEN, N::KEY_SOUND_TOKEN_LEN};
        for (int m = 0; m < 3 && L.ok(); ++m) {
            if (enc->has_media[m] && enc->n_rows((ggpt_media)m) != model->media.n_rows[m])
                L.fail(GGPT_ERR_FORMAT, "the %s tower produces %d rows but the LLM file's '%s' is %d",
                       m == 0   ? "image"
                       : m == 1 ? "video"
                                : "audio",
                       enc->n_rows((ggpt_media)m), keys[m], model->media.n_rows[m]);
        }
    }
    // every tensor of the file must be one we expect (a stray name means a converter mismatch)
    for (int64_t i = 0; i < (int64_t)n_file_tensors && L.ok(); ++i) {
        const char * name = gguf_get_tensor_name(L.gguf, i);
        if (!L.used.count(name)) L.fail(GGPT_ERR_FORMAT, "unexpected tensor '%s'", name);
    }
    // the data of every tensor must lie inside the file (truncated downloads)
    const size_t data_offset = gguf_get_data_offset(L.gguf);
    for (auto & [id, t] : L.tensors) {
        if (!L.ok()) break;
        const size_t end = data_offset + gguf_get_tensor_offset(L.gguf, id) + ggml_nbytes(t);
        if ((int64_t)end > file_size)
            L.fail(GGPT_ERR_FORMAT, "truncated: tensor '%s' ends at byte %zu but the file has %" PRId64 " bytes",
                   ggml_get_name(t), end, file_size);
    }
    if (!L.ok()) {
        enc->ctx = nullptr;
        ggml_free(L.ctx);
        L.ctx = nullptr;
        err = L.err;
        return L.status;
    }

    // ---- where the weights go
    // an RPC device when asked (core/rpc.h), else the first local GPU, else the CPU
    ggml_backend_dev_t dev = want_dev;
    if (!dev && on_gpu) dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
    if (!dev) dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) {
        err = "encoders: no CPU backend (ggpt_backend_init not called?)";
        return GGPT_ERR_BACKEND;
    }
    enc->dev = dev;
    enc->backend_name = ggml_backend_dev_name(dev);
    ggml_backend_reg_t dev_reg = ggml_backend_dev_backend_reg(dev);
    if (dev_reg && strcmp(ggml_backend_reg_name(dev_reg), "RPC") == 0)  // "RPC1 host:port"
        enc->backend_name += std::string(" ") + ggml_backend_dev_description(dev);
    // each tower's tensors, in file order (a tower is read front to back)
    for (int m = 0; m < 3; ++m) {
        TowerWeights & tw = enc->towers[m];
        for (size_t i : tower_of[m]) {
            auto & [id, t] = L.tensors[i];
            const uint64_t off = data_offset + gguf_get_tensor_offset(L.gguf, id);
            tw.tensors.emplace_back(off, t);
            tw.n_params += ggml_nelements(t);
            tw.n_bytes += (int64_t)ggml_nbytes(t);
            tw.end = std::max<uint64_t>(tw.end, off + ggml_nbytes(t));
        }
        std::sort(tw.tensors.begin(), tw.tensors.end(),
                  [](const auto & x, const auto & y) { return x.first < y.first; });
        tw.mats.assign(L.mats.begin() + (ptrdiff_t)mats_of[m].first, L.mats.begin() + (ptrdiff_t)mats_of[m].second);
        enc->n_params += tw.n_params;
        enc->n_bytes += tw.n_bytes;
    }
    enc->file = fopen(path, "rb");
    if (!enc->file) {
        err = "encoders file " + L.path + ": cannot open (" + strerror(errno) + ")";
        return GGPT_ERR_IO;
    }
    enc->file_size = file_size;
    const bool use_mmap = model ? model->params.use_mmap : true;
    const bool is_cpu = ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU;
#if !defined(_WIN32)
    // CPU weights stay in a read-only mapping of the file: a tower's pages are read when it loads
    // and dropped when it is released. ggml's CPU buffers need 32-byte aligned bases; GGUF's
    // default alignment is 32, a file may differ (then each tower gets its own buffer).
    if (is_cpu && use_mmap && data_offset % 32 == 0) {
        enc->mapping = map_file(L.path, (size_t)file_size);
        if (enc->mapping) {
            enc->mapping_size = (size_t)file_size;
            uint8_t * base = (uint8_t *)enc->mapping;
            enc->buf = ggml_backend_cpu_buffer_from_ptr(base + data_offset, (size_t)file_size - data_offset);
            for (auto & [id, t] : L.tensors) {
                const ggml_status st =
                    ggml_backend_tensor_alloc(enc->buf, t, base + data_offset + gguf_get_tensor_offset(L.gguf, id));
                if (st != GGML_STATUS_SUCCESS) {
                    err = "encoders: cannot place tensor '" + std::string(ggml_get_name(t)) + "' in the mapping";
                    return GGPT_ERR_INTERNAL;
                }
            }
        }
    }
#endif
    L.ctx = nullptr;  // owned by enc now

    // AMX-BF16 on CPUs that have it, else AVX512-BF16 dot products (amx/dot.h; matmul AUTO; GGML
    // turns it off): f16 Linear weights
    // repacked for the tile unit when their tower loads (speed: docs/BENCHMARKS.md), at bf16
    // rounding of weights and activations (relative RMS error ~5e-3 instead of ~8e-4 on the tiny
    // golden model). f32 weights stay exact; q8_0 keeps ggml's kernels. INT8 (experimental): int8
    // weights and activation rows on the tile unit's int8 path where K is a multiple of 64, at ~4x
    // the bf16 error.
    enc->amx_int8 = matmul == GGPT_ENC_MATMUL_INT8 && tower_int8_available();
    enc->amx_on = is_cpu && matmul != GGPT_ENC_MATMUL_GGML && tower_bf16_available();
    if (enc->amx_on) {
        bool any = false;
        for (ggml_tensor * w : L.mats) any = any || (w->type == GGML_TYPE_F16 && amx_can_pack(w));
        enc->amx_on = any;  // nothing to repack: no AMX path (as ggml's kernels run everything)
    }

    // the towers asked for up front (the others load when a call needs them)
    uint32_t want = 0;
    for (int m = 0; m < 3; ++m)
        if (enc->has_media[m] && (towers & (1u << m))) want |= 1u << m;
    if (want) {
        ggpt_encode_params ep = ggpt_encode_default_params();
        ep.progress = progress;
        ep.progress_user = progress_user;
        const ggpt_status st = tower_load(*enc, want, &ep, err);
        if (st != GGPT_OK) return st;
    } else if (progress && !progress(1.0f, progress_user)) {
        err = "encoders: loading aborted";
        return GGPT_ERR_ABORTED;
    }

    GGPT_LOG_I("encoders: %s: image %s, video %s, audio %s; %.1fM params, %.1f MiB on %s%s", L.path.c_str(),
               enc->has_media[0] ? "yes" : "no", enc->has_media[1] ? "yes" : "no", enc->has_media[2] ? "yes" : "no",
               enc->n_params / 1e6, enc->n_bytes / 1048576.0, enc->backend_name.c_str(),
               want == 0 ? " (towers load when first used)" : "");
    if (model) {
        if (enc->has_media[GGPT_MEDIA_IMAGE]) model->image_pre = image_pre;
        if (enc->has_media[GGPT_MEDIA_VIDEO]) model->video_pre = video_pre;
        if (enc->has_media[GGPT_MEDIA_AUDIO]) model->audio_pre = audio_pre;
        model->enc = std::move(enc);
    }
    return GGPT_OK;
}

ggpt_status encoders_load(ggpt_model * model, const char * path, bool on_gpu, ggpt_progress_fn progress,
                          void * progress_user, std::string & err, int matmul, ggml_backend_dev_t dev,
                          uint32_t towers) {
    try {
        return encoders_load_impl(model, path, on_gpu, progress, progress_user, err, matmul, dev, towers);
    } catch (const std::bad_alloc &) {
        err = std::string("encoders file ") + (path ? path : "") + ": out of memory while loading";
        return GGPT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception & e) {
        err = std::string("encoders file ") + (path ? path : "") + ": " + e.what();
        return GGPT_ERR_INTERNAL;
    }
}

}  // namespace ggpt

using namespace ggpt;

extern "C" {

ggpt_status ggpt_model_load_towers(ggpt_model * model, uint32_t towers, const ggpt_encode_params * params, char * err,
                                   size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!model) return GGPT_ERR_INVALID_ARGUMENT;
    if (!model->enc || (towers & GGPT_TOWERS_ALL) == 0) return GGPT_OK;
    std::string msg;
    ggpt_status st;
    try {
        st = tower_load(*model->enc, towers & GGPT_TOWERS_ALL, params, msg);
    } catch (const std::bad_alloc &) {
        st = GGPT_ERR_OUT_OF_MEMORY;
        msg = "encoders: out of memory while loading a tower";
    } catch (const std::exception & e) {
        st = GGPT_ERR_INTERNAL;
        msg = std::string("encoders: ") + e.what();
    }
    if (st != GGPT_OK && err && err_len) snprintf(err, err_len, "%s", msg.c_str());
    return st;
}

void ggpt_model_release_towers(ggpt_model * model, uint32_t towers) {
    if (model && model->enc) tower_release(*model->enc, towers & GGPT_TOWERS_ALL);
}

uint32_t ggpt_model_towers_resident(const ggpt_model * model) {
    uint32_t r = 0;
    if (model && model->enc)
        for (int m = 0; m < 3; ++m)
            if (model->enc->towers[m].resident) r |= 1u << m;
    return r;
}

}  // extern "C"
