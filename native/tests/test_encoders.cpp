// test_encoders - the towers against the golden outputs (../shared/golden/expected), and the
// encoders loader against broken files. Usage:
//   test_encoders <encoders.gguf> [golden expected dir] [tolerance scale] [--bad-files] [--frames-per-batch N]
// (the towers' tuning knobs from GGPT_ENC_* environment variables: see main)
// Prints max abs / rel errors per probe; exits 1 when a probe is outside
// |got - want| <= scale * (atol + rtol * |want|) with the manifest's atol 1e-4, rtol 1e-3.
// (Over 500 lines: one test program per area of the core, as native/tests has for all of them.)
#include <chrono>
#include <sys/resource.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "ggml.h"
#include "gguf.h"
#include "groundinggpt.h"

#include "core/context.h"
#include "core/model.h"
#include "encoders/encode.h"
#include "amx/amx.h"
#include "amx/ops.h"
#include "encoders/encoders.h"
#include "encoders/graphs.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

// default: ../shared/golden/expected from the repository root (run it from there)
#define GGPT_GOLDEN_DIR std::string("../shared/golden/expected")

namespace {

struct Npy {
    std::string descr;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
    int64_t numel() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    const float * f32() const { return (const float *)bytes.data(); }
};

// Minimal .npy reader: v1/v2 headers, C order, little-endian <f4 or |u1.
bool read_npy(const std::string & path, Npy & out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::vector<char> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (all.size() < 12 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0) return false;
    const int major = (uint8_t)all[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (uint8_t)all[8] | ((uint8_t)all[9] << 8);
        hstart = 10;
    } else {
        hlen = (uint8_t)all[8] | ((uint8_t)all[9] << 8) | ((uint8_t)all[10] << 16) | ((size_t)(uint8_t)all[11] << 24);
        hstart = 12;
    }
    std::string h(all.data() + hstart, hlen);
    auto d = h.find("'descr': '");
    if (d == std::string::npos || h.find("'fortran_order': False") == std::string::npos) return false;
    out.descr = h.substr(d + 10, h.find('\'', d + 10) - d - 10);
    auto s = h.find("'shape': (");
    auto e = h.find(')', s);
    std::string dims = h.substr(s + 10, e - s - 10);
    out.shape.clear();
    for (size_t p = 0; p < dims.size();) {
        while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
        if (p >= dims.size()) break;
        out.shape.push_back(std::strtoll(dims.c_str() + p, nullptr, 10));
        while (p < dims.size() && dims[p] != ',') ++p;
    }
    out.bytes.assign(all.begin() + hstart + hlen, all.end());
    return true;
}

int g_failures = 0;
std::string g_only;
double g_scale = 1.0;

void compare(const char * what, const float * got, const float * want, int64_t n) {
    double max_abs = 0, max_rel = 0, worst = 0, se = 0, ss = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double a = got[i], b = want[i], diff = std::fabs(a - b);
        se += diff * diff;
        ss += b * b;
        max_abs = std::max(max_abs, diff);
        max_rel = std::max(max_rel, diff / std::max(1e-6, std::fabs(b)));
        const double lim = g_scale * (1e-4 + 1e-3 * std::fabs(b));
        worst = std::max(worst, diff / lim);
        if (!(diff <= lim)) ++bad;
    }
    if (const char * dump = getenv("GGPT_TEST_DUMP")) {  // raw f32 of each compared output, for debugging
        std::string f = std::string(dump) + "/" + what + ".f32";
        std::ofstream(f, std::ios::binary).write((const char *)got, n * sizeof(float));
    }
    printf("  %-28s n=%-8lld max_abs=%.3g max_rel=%.3g rms_err/rms=%.2g worst/tol=%.3f %s\n", what, (long long)n,
           max_abs, max_rel, std::sqrt(se / std::max(ss, 1e-30)), worst, bad ? "FAIL" : "ok");
    if (bad) ++g_failures;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Npy load(const std::string & dir, const char * file) {
    Npy a;
    if (!read_npy(dir + "/" + file, a)) {
        fprintf(stderr, "cannot read %s/%s\n", dir.c_str(), file);
        exit(2);
    }
    return a;
}

void check(ggpt_status st, ggpt_context & ctx, const char * what) {
    if (st != GGPT_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, ggpt_status_name(st), ctx.last_error.c_str());
        exit(1);
    }
}

std::vector<float> probe(ggpt_context & ctx, ggpt_media m, const void * input, int n, const char * name) {
    int64_t n_out = 0, shape[4];
    int32_t nd = 0;
    std::vector<float> out;
    ggpt_status st = ggpt_encode_probe(&ctx, m, input, n, name, nullptr, 0, &n_out, shape, &nd, nullptr);
    if (st != GGPT_ERR_INVALID_ARGUMENT || n_out <= 0) check(st, ctx, name);
    out.resize(n_out);
    check(ggpt_encode_probe(&ctx, m, input, n, name, out.data(), n_out, &n_out, shape, &nd, nullptr), ctx, name);
    return out;
}

void test_image(ggpt_context & ctx, const std::string & dir) {
    for (const char * id : {"dog_image", "test1_jpeg"}) {
        printf("image %s\n", id);
        std::string p = std::string("image_") + id + "_";
        Npy pix = load(dir, (p + "pixel_values.npy").c_str());
        std::vector<float> out, shape;
        std::vector<int64_t> sh;
        double t0 = now_ms();
        check(ggpt::encode_probe_pixels(&ctx, pix.f32(), "clip_select_hidden", out, sh, nullptr), ctx,
              "clip_select_hidden");
        Npy want = load(dir, (p + "clip_hidden_layer_m2.npy").c_str());
        compare("clip_select_hidden", out.data(), want.f32(), want.numel());
        check(ggpt::encode_probe_pixels(&ctx, pix.f32(), "image_features", out, sh, nullptr), ctx, "image_features");
        want = load(dir, (p + "clip_patch_features.npy").c_str());
        compare("image_features", out.data(), want.f32(), want.numel());
        want = load(dir, (p + "projected.npy").c_str());
        out.assign(want.numel(), 0.0f);
        double t1 = now_ms();
        check(ggpt::encode_image_pixels(&ctx, pix.f32(), out.data(), nullptr), ctx, "encode_image_pixels");
        double t2 = now_ms();
        compare("projected", out.data(), want.f32(), want.numel());
        printf("  time: encode %.1f ms (first probe call %.1f ms)\n", t2 - t1, t1 - t0);
    }
}

void test_video(ggpt_context & ctx, const std::string & dir) {
    printf("video test3_mp4\n");
    Npy fr = load(dir, "video_test3_mp4_frames_u8.npy");  // [3, T, H, W]
    const int64_t C = fr.shape[0], T = fr.shape[1], H = fr.shape[2], W = fr.shape[3];
    std::vector<std::vector<uint8_t>> frames(T, std::vector<uint8_t>(H * W * 3));
    for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < H * W; ++i) frames[t][i * 3 + c] = fr.bytes[(c * T + t) * H * W + i];
    std::vector<const uint8_t *> ptrs;
    for (auto & f : frames) ptrs.push_back(f.data());

    Npy want = load(dir, "video_test3_mp4_eva_ln_vision_first2.npy");
    auto got = probe(ctx, GGPT_MEDIA_VIDEO, ptrs.data(), 2, "eva_ln_vision");
    compare("eva_ln_vision (2 frames)", got.data(), want.f32(), want.numel());
    want = load(dir, "video_test3_mp4_qformer_first2.npy");
    got = probe(ctx, GGPT_MEDIA_VIDEO, ptrs.data(), 2, "qformer");
    compare("qformer (2 frames)", got.data(), want.f32(), want.numel());
    want = load(dir, "video_test3_mp4_video_qformer.npy");
    double t0 = now_ms();
    got = probe(ctx, GGPT_MEDIA_VIDEO, ptrs.data(), (int)T, "video_qformer");
    double t1 = now_ms();
    compare("video_qformer", got.data(), want.f32(), want.numel());
    want = load(dir, "video_test3_mp4_embeds.npy");
    got.assign(want.numel(), 0.0f);
    check(ggpt_encode_video(&ctx, ptrs.data(), (int)T, got.data(), nullptr), ctx, "encode_video");
    double t2 = now_ms();
    compare("projected", got.data(), want.f32(), want.numel());
    printf("  time: %lld frames: probe %.1f ms, encode %.1f ms\n", (long long)T, t1 - t0, t2 - t1);
}

void test_audio(ggpt_context & ctx, const std::string & dir) {
    printf("audio dog_audio\n");
    Npy fb = load(dir, "audio_dog_audio_fbank.npy");  // [3, 1, 128, 204]
    const int n = (int)fb.shape[0];
    Npy want = load(dir, "audio_dog_audio_imagebind_feature.npy");
    auto got = probe(ctx, GGPT_MEDIA_AUDIO, fb.f32(), n, "imagebind_feature");
    compare("imagebind_feature", got.data(), want.f32(), want.numel());
    want = load(dir, "audio_dog_audio_imagebind_finalout.npy");
    got = probe(ctx, GGPT_MEDIA_AUDIO, fb.f32(), n, "imagebind_out");
    compare("imagebind_out", got.data(), want.f32(), want.numel());
    want = load(dir, "audio_dog_audio_embeds.npy");
    got.assign(want.numel(), 0.0f);
    double t0 = now_ms();
    check(ggpt_encode_audio(&ctx, fb.f32(), n, got.data(), nullptr), ctx, "encode_audio");
    double t1 = now_ms();
    compare("projected", got.data(), want.f32(), want.numel());
    printf("  time: encode %.1f ms\n", t1 - t0);
}

// ---- broken files ---------------------------------------------------------------------------

// Writes a copy of src with one change applied to its metadata/tensors (data copied as is).
template <class Edit> void write_variant(const std::string & src, const std::string & dst, Edit edit) {
    ggml_context * data_ctx = nullptr;
    gguf_init_params gp = {false, &data_ctx};
    gguf_context * in = gguf_init_from_file(src.c_str(), gp);
    gguf_context * out = gguf_init_empty();
    gguf_set_kv(out, in);
    ggml_init_params ip = {ggml_tensor_overhead() * 4096, nullptr, true};
    ggml_context * meta = ggml_init(ip);
    for (int64_t i = 0; i < gguf_get_n_tensors(in); ++i) {
        ggml_tensor * t = ggml_get_tensor(data_ctx, gguf_get_tensor_name(in, i));
        ggml_tensor * t2 = edit(out, meta, t);
        if (t2) gguf_add_tensor(out, t2);
    }
    gguf_write_to_file(out, dst.c_str(), false);
    gguf_free(out);
    gguf_free(in);
    ggml_free(meta);
    ggml_free(data_ctx);
}

void expect_load_error(const std::string & path, ggpt_status want, const char * must_contain) {
    ggpt_model m;
    std::string err;
    ggpt_status st = ggpt::encoders_load(&m, path.c_str(), false, nullptr, nullptr, err);
    const bool ok = st == want && err.find(must_contain) != std::string::npos && err.find(path) != std::string::npos;
    printf("  %-4s %s -> %s: %s\n", ok ? "ok" : "FAIL", path.substr(path.rfind('/') + 1).c_str(), ggpt_status_name(st),
           err.c_str());
    if (!ok) ++g_failures;
}

void test_bad_files(const std::string & good) {
    printf("bad encoders files\n");
    const std::string tmp = "/tmp/ggpt_test_enc_" + std::to_string((long long)now_ms());
    // truncated: the tensor data section cut short
    {
        std::ifstream f(good, std::ios::binary);
        std::vector<char> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::ofstream(tmp + "_trunc.gguf", std::ios::binary).write(all.data(), all.size() - 1000);
        expect_load_error(tmp + "_trunc.gguf", GGPT_ERR_FORMAT, "truncated");
        std::ofstream(tmp + "_trunc_head.gguf", std::ios::binary).write(all.data(), 100);
        expect_load_error(tmp + "_trunc_head.gguf", GGPT_ERR_FORMAT, "not a valid GGUF");
    }
    auto keep = [](gguf_context *, ggml_context *, ggml_tensor * t) { return t; };
    // wrong shape: an attention weight transposed-size
    write_variant(good, tmp + "_shape.gguf", [](gguf_context *, ggml_context * meta, ggml_tensor * t) {
        if (std::string(t->name) != "eva.blk.0.ffn_up.weight") return t;
        ggml_tensor * r = ggml_new_tensor_2d(meta, t->type, t->ne[1], t->ne[0]);
        ggml_set_name(r, t->name);
        r->data = t->data;
        return r;
    });
    expect_load_error(tmp + "_shape.gguf", GGPT_ERR_FORMAT, "eva.blk.0.ffn_up.weight");
    // missing tensor
    write_variant(good, tmp + "_missing.gguf", [](gguf_context *, ggml_context *, ggml_tensor * t) {
        return std::string(t->name) == "imagebind.blk.1.attn_bias_v" ? nullptr : t;
    });
    expect_load_error(tmp + "_missing.gguf", GGPT_ERR_FORMAT, "missing tensor 'imagebind.blk.1.attn_bias_v'");
    // wrong key type
    write_variant(good, tmp + "_keytype.gguf", [](gguf_context * out, ggml_context *, ggml_tensor * t) {
        gguf_set_val_f32(out, "ggpt.clip.head_count", 2.0f);
        return t;
    });
    expect_load_error(tmp + "_keytype.gguf", GGPT_ERR_FORMAT, "'ggpt.clip.head_count' has type f32");
    // out-of-range key
    write_variant(good, tmp + "_range.gguf", [](gguf_context * out, ggml_context *, ggml_tensor * t) {
        gguf_set_val_u32(out, "ggpt.qformer.head_count", 0);
        return t;
    });
    expect_load_error(tmp + "_range.gguf", GGPT_ERR_FORMAT, "ggpt.qformer.head_count");
    // wrong type for a norm
    write_variant(good, tmp + "_type.gguf", [](gguf_context *, ggml_context * meta, ggml_tensor * t) {
        if (std::string(t->name) != "clip.pre_ln.weight") return t;
        ggml_tensor * r = ggml_new_tensor_1d(meta, GGML_TYPE_F16, t->ne[0]);
        ggml_set_name(r, t->name);
        r->data = t->data;
        return r;
    });
    expect_load_error(tmp + "_type.gguf", GGPT_ERR_FORMAT, "clip.pre_ln.weight");
    // wrong architecture
    write_variant(good, tmp + "_arch.gguf", [](gguf_context * out, ggml_context *, ggml_tensor * t) {
        gguf_set_val_str(out, "general.architecture", "llama");
        return t;
    });
    expect_load_error(tmp + "_arch.gguf", GGPT_ERR_FORMAT, "general.architecture");
    write_variant(good, tmp + "_ok.gguf", keep);
    {
        ggpt_model m;
        std::string err;
        ggpt_status st = ggpt::encoders_load(&m, (tmp + "_ok.gguf").c_str(), false, nullptr, nullptr, err);
        printf("  %-4s unchanged copy loads: %s %s\n", st == GGPT_OK ? "ok" : "FAIL", ggpt_status_name(st),
               err.c_str());
        if (st != GGPT_OK) ++g_failures;
    }
    expect_load_error(tmp + "_does_not_exist.gguf", GGPT_ERR_IO, "cannot open");
    for (const char * s :
         {"_trunc", "_trunc_head", "_shape", "_missing", "_keytype", "_range", "_type", "_arch", "_ok"})
        std::remove((tmp + s + ".gguf").c_str());
}

void test_bad_inputs(ggpt_context & ctx) {
    printf("bad inputs\n");
    const auto & enc = *ctx.model->enc;
    std::vector<float> out(8 * 4096 * 64);
    auto expect = [&](const char * what, ggpt_status st, ggpt_status want) {
        const bool ok = st == want;
        printf("  %-4s %s -> %s: %s\n", ok ? "ok" : "FAIL", what, ggpt_status_name(st), ctx.last_error.c_str());
        if (!ok) ++g_failures;
    };
    std::vector<uint8_t> frame(enc.video.hp.image_size * enc.video.hp.image_size * 3, 128);
    std::vector<const uint8_t *> frames(enc.video.max_frames + 1, frame.data());
    expect("0 frames", ggpt_encode_video(&ctx, frames.data(), 0, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    expect("too many frames", ggpt_encode_video(&ctx, frames.data(), enc.video.max_frames + 1, out.data(), nullptr),
           GGPT_ERR_INVALID_ARGUMENT);
    frames[1] = nullptr;
    expect("NULL frame", ggpt_encode_video(&ctx, frames.data(), 2, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    frames[1] = frame.data();
    std::vector<float> fb(3 * 128 * 204, 0.0f);
    expect("0 clips", ggpt_encode_audio(&ctx, fb.data(), 0, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    expect("99 clips", ggpt_encode_audio(&ctx, fb.data(), 99, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    fb[77] = NAN;
    expect("NaN fbank", ggpt_encode_audio(&ctx, fb.data(), 3, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    fb[77] = 0;
    ggpt_image_u8 img = {frame.data(), 0, 0, 0};
    expect("0x0 image", ggpt_encode_image(&ctx, &img, out.data(), nullptr), GGPT_ERR_INVALID_ARGUMENT);
    int64_t n_out = 0;
    expect("unknown probe",
           ggpt_encode_probe(&ctx, GGPT_MEDIA_AUDIO, fb.data(), 3, "nope", out.data(), 1, &n_out, nullptr, nullptr,
                             nullptr),
           GGPT_ERR_INVALID_ARGUMENT);
    expect("probe cap too small",
           ggpt_encode_probe(&ctx, GGPT_MEDIA_AUDIO, fb.data(), 3, "projected", out.data(), 1, &n_out, nullptr, nullptr,
                             nullptr),
           GGPT_ERR_INVALID_ARGUMENT);
    // still usable afterwards
    expect("audio after errors", ggpt_encode_audio(&ctx, fb.data(), 3, out.data(), nullptr), GGPT_OK);
    // abort
    ggpt_encode_params p = ggpt_encode_default_params();
    p.abort = [](void *) { return true; };
    expect("aborted video", ggpt_encode_video(&ctx, frames.data(), 2, out.data(), &p), GGPT_ERR_ABORTED);
    int calls = 0;
    p.abort = nullptr;
    p.progress = [](float, void * u) { return ++*(int *)u < 2; };
    p.progress_user = &calls;
    expect("progress returns false", ggpt_encode_audio(&ctx, fb.data(), 3, out.data(), &p), GGPT_ERR_ABORTED);
    expect("video after abort", ggpt_encode_video(&ctx, frames.data(), 2, out.data(), nullptr), GGPT_OK);
}

// The bf16 Linear (AMX tiles, AMX-INT8, and AVX512-BF16 dot products: each where the CPU has it)
// against ggml's f32 matmul on shapes with row and column tails (N = 1, odd N, K a multiple of 32
// but not 64, M a multiple of 16 but not 32), several row chunks and both thread splits (shared
// work items, columns), run twice; its fused activations and bf16 output against ggml's own ops
// applied to its plain output.
// Computes the graphs of `outs` (tensors of a context with memory) on the CPU backend, 2 threads.
void compute_on_cpu(ggml_context * ctx, std::initializer_list<ggml_tensor *> outs) {
    ggml_cgraph * gf = ggml_new_graph(ctx);
    for (ggml_tensor * t : outs) ggml_build_forward_expand(gf, t);
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, 2);
    ggml_backend_graph_compute(be, gf);
    ggml_backend_free(be);
}

// Runs the nodes of y again, their results zeroed first, and says whether y comes out the same
// (the two-thread work sharing of the AMX ops keeps state in each op between runs).
bool same_on_rerun(ggml_context * ctx, ggml_tensor * y) {
    const std::vector<char> first((const char *)y->data, (const char *)y->data + ggml_nbytes(y));
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, y);
    for (int i = 0; i < ggml_graph_n_nodes(gf); ++i) {
        ggml_tensor * t = ggml_graph_node(gf, i);
        if (!t->view_src) std::memset(t->data, 0, ggml_nbytes(t));
    }
    compute_on_cpu(ctx, {y});
    return std::memcmp(first.data(), y->data, ggml_nbytes(y)) == 0;
}

// The AMX ops' work sharing and per-node parameters (amx/ops.h, amx/work_share.h) on any CPU: a
// custom op whose parameters are placed like the AMX ops' hands out n items to ggml's threads
// through WorkShare; every item must be taken exactly once, on two runs of the graph (the counters
// reset for the next run) and with two nodes of the same op (separate counters).
struct ShareTestParams {
    ggpt::amx_detail::WorkShareCounters share;
    int64_t n = 0;
};

void share_test_op(ggml_tensor * dst, int ith, int nth, void * ud) {
    ShareTestParams * p = (ShareTestParams *)ud;
    ggpt::amx_detail::WorkShare share(&p->share, p->n, ith, nth);
    for (int64_t it; (it = share.next()) >= 0;) __atomic_add_fetch((int32_t *)dst->data + it, 1, __ATOMIC_RELAXED);
}

void test_amx_work_share() {
    printf("amx work sharing\n");
    const int64_t n = 1000;
    const size_t mem = ((size_t)8 << 20) + 16 * ggpt::amx_op_overhead();
    ggml_init_params ip = {mem, nullptr, false};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * x = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n);
    ggml_tensor * ys[2];
    ShareTestParams * ps[2];
    for (int k = 0; k < 2; ++k) {
        ShareTestParams init;
        init.n = n;
        ps[k] = ggpt::amx_detail::new_op_params(ctx, init);
        ggml_tensor * args[1] = {x};
        ys[k] = ggml_custom_4d(ctx, GGML_TYPE_I32, n, 1, 1, 1, args, 1, share_test_op, GGML_N_TASKS_MAX, ps[k]);
    }
    if ((uintptr_t)ps[0] % alignof(ShareTestParams) != 0 || ps[0] == ps[1]) {
        printf("  parameters misplaced\n");
        ++g_failures;
    }
    for (int run = 0; run < 2; ++run) {
        for (ggml_tensor * y : ys) std::memset(y->data, 0, ggml_nbytes(y));
        compute_on_cpu(ctx, {ys[0], ys[1]});
        for (int k = 0; k < 2; ++k) {
            int64_t bad = 0;
            for (int64_t i = 0; i < n; ++i) bad += ((const int32_t *)ys[k]->data)[i] != 1;
            const bool reset = ps[k]->share.taken == 0 && ps[k]->share.done == 0;
            if (bad || !reset) {
                printf("  run %d node %d: %lld items not taken exactly once, counters %s\n", run, k, (long long)bad,
                       reset ? "reset" : "not reset");
                ++g_failures;
            }
        }
    }
    ggml_free(ctx);
}

void test_amx() {
    if (!ggpt::amx_bf16_available()) printf("amx: not available on this CPU (skipped)\n");
    if (!ggpt::avx512_bf16_available()) printf("avx512-bf16: not available on this CPU (skipped)\n");
    // 0: AMX-BF16, 1: AMX-INT8, 2: AVX512-BF16, 3: AVX512-VNNI int8
    for (const int kind : {0, 1, 2, 3}) {
        const bool int8 = kind == 1 || kind == 3, avx512 = kind >= 2;
        const bool have = kind == 0   ? ggpt::amx_bf16_available()
                          : kind == 1 ? ggpt::amx_int8_available()
                          : kind == 2 ? ggpt::avx512_bf16_available()
                                      : ggpt::avx512_vnni_available();
        if (!have) continue;
        printf("%s kernel\n", kind == 0   ? "amx-bf16"
                              : kind == 1 ? "amx-int8"
                              : kind == 2 ? "avx512-bf16"
                                          : "avx512-vnni-int8");
        for (auto [K, M, N] : {std::tuple<int, int, int>{96, 48, 37},
                               {64, 32, 1},
                               {160, 16, 1},
                               {1408, 208, 3},
                               {1024, 4096, 77},
                               {32, 16, 33},
                               {768, 3072, 700},
                               {3072, 80, 300}}) {
            if (int8 && K % 64 != 0) continue;
            ggml_init_params ip = {(size_t)512 << 20, nullptr, false};
            ggml_context * ctx = ggml_init(ip);
            ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, K, M);
            ggml_tensor * w32 = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, M);
            ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, N);
            ggml_tensor * b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, M);
            uint32_t seed = 12345;
            auto rnd = [&] {
                seed = seed * 1664525u + 1013904223u;
                return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
            };
            for (int i = 0; i < K * M; ++i) {
                ((ggml_fp16_t *)w->data)[i] = ggml_fp32_to_fp16(rnd());
                ((float *)w32->data)[i] = ggml_fp16_to_fp32(((ggml_fp16_t *)w->data)[i]);
            }
            for (int i = 0; i < K * N; ++i) ((float *)x->data)[i] = rnd();
            for (int i = 0; i < M; ++i) ((float *)b->data)[i] = rnd();
            ggpt::AmxWeight aw;
            ggpt::amx_pack(w, aw, int8);
            if (avx512) aw.kernel = ggpt::Bf16Kernel::avx512;  // the same packed layout
            ggml_tensor * xb = ggml_cast(ctx, x, GGML_TYPE_BF16);
            ggml_tensor * y = ggpt::amx_mul_mat(ctx, &aw, xb, b);
            ggml_tensor * r = ggml_add(ctx, ggml_mul_mat(ctx, w32, x), b);
            // fused epilogues vs ggml on y (the same products): exact GELU, quick GELU, bf16 store
            ggml_tensor * y_gelu = ggpt::amx_mul_mat(ctx, &aw, xb, b, ggpt::AmxAct::gelu_erf);
            ggml_tensor * r_gelu = ggml_gelu_erf(ctx, y);
            ggml_tensor * y_quick = ggpt::amx_mul_mat(ctx, &aw, xb, b, ggpt::AmxAct::quick_gelu);
            ggml_tensor * r_quick = ggml_mul(ctx, y, ggml_sigmoid(ctx, ggml_scale(ctx, y, 1.702f)));
            ggml_tensor * y_bf16 = ggpt::amx_mul_mat(ctx, &aw, xb, b, ggpt::AmxAct::gelu_erf, GGML_TYPE_BF16);
            ggml_tensor * y_bf16_f32 = ggml_cast(ctx, y_bf16, GGML_TYPE_F32);
            // a residual added in the epilogue, after the activation (without a bias too)
            ggml_tensor * res = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, M, N);
            for (int i = 0; i < M * N; ++i) ((float *)res->data)[i] = 4 * rnd();
            ggml_tensor * y_res = ggpt::amx_mul_mat(ctx, &aw, xb, b, ggpt::AmxAct::gelu_erf, GGML_TYPE_F32, res);
            ggml_tensor * r_res = ggml_add(ctx, res, y_gelu);
            ggml_tensor * y_res_nb = ggpt::amx_mul_mat(ctx, &aw, xb, nullptr, ggpt::AmxAct::none, GGML_TYPE_F32, res);
            ggml_tensor * r_res_nb = ggml_add(ctx, res, ggml_sub(ctx, y, ggml_repeat(ctx, b, y)));
            compute_on_cpu(ctx, {y, r, y_gelu, r_gelu, y_quick, r_quick, y_bf16_f32, y_res, r_res, y_res_nb, r_res_nb});
            char what[96];
            snprintf(what, sizeof what, "K=%d M=%d N=%d (rms)", K, M, N);
            double se = 0, ss = 0;
            for (int i = 0; i < M * N; ++i) {
                const double d = ((float *)y->data)[i] - ((float *)r->data)[i];
                se += d * d;
                ss += (double)((float *)r->data)[i] * ((float *)r->data)[i];
            }
            const double rel = std::sqrt(se / ss);
            const bool ok = rel < 1e-2;  // bf16 operands: ~3e-3 expected; int8 rows (uniform data): ~5e-3
            printf("  %-4s %-28s rms_err/rms=%.2g\n", ok ? "ok" : "FAIL", what, rel);
            if (!ok) ++g_failures;
            if (!same_on_rerun(ctx, y)) {
                printf("  FAIL %-28s second run differs\n", what);
                ++g_failures;
            }
            // max |a - b| / (1 + |b|) over the outputs
            auto worst = [&, M = M, N = N](const ggml_tensor * a,
                                           const ggml_tensor * bt) {  // (clang < 16: no capture of structured bindings)
                double m = 0;
                for (int i = 0; i < M * N; ++i) {
                    const double vb = ((const float *)bt->data)[i];
                    m = std::max(m, std::fabs(((const float *)a->data)[i] - vb) / (1.0 + std::fabs(vb)));
                }
                return m;
            };
            const double e_gelu = worst(y_gelu, r_gelu), e_quick = worst(y_quick, r_quick),
                         e_bf16 = worst(y_bf16_f32, y_gelu);
            const double e_res = std::max(worst(y_res, r_res), worst(y_res_nb, r_res_nb));
            // bf16 rounding: at most 2^-8 relative; the residual, one f32 add (bias removed again: ~1e-6)
            const bool ok2 = e_gelu < 1e-6 && e_quick < 1e-6 && e_bf16 < 6e-3 && e_res < 1e-5;
            printf("  %-4s K=%d M=%d N=%d fused gelu %.2g, quick_gelu %.2g, bf16 store %.2g, residual %.2g\n",
                   ok2 ? "ok" : "FAIL", K, M, N, e_gelu, e_quick, e_bf16, e_res);
            if (!ok2) ++g_failures;
            ggml_free(ctx);
        }
    }
}

// The LayerNorm -> bf16 op against ggml's norm, mul, add: widths on and off the 16-lane grid, a
// batch dimension, rows of a non-contiguous view, large offsets (mean >> spread).
void test_amx_layer_norm() {
    if (!ggpt::tower_bf16_available()) return;
    printf("amx layer norm -> bf16\n");
    for (auto [W, T, B] : {std::tuple<int, int, int>{768, 229, 3}, {88, 5, 2}, {16, 1, 1}, {1408, 7, 1}}) {
        ggml_init_params ip = {(size_t)64 << 20, nullptr, false};
        ggml_context * ctx = ggml_init(ip);
        uint32_t seed = 777;
        auto rnd = [&] {
            seed = seed * 1664525u + 1013904223u;
            return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        };
        // x is every other row of a [W, 2T, B] tensor (rows contiguous, the tensor not)
        ggml_tensor * big = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, W, 2 * T, B);
        for (int64_t i = 0; i < ggml_nelements(big); ++i) ((float *)big->data)[i] = 30.0f + 3 * rnd();
        ggml_tensor * x = ggml_view_3d(ctx, big, W, T, B, 2 * big->nb[1], big->nb[2], 0);
        ggml_tensor * w = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, W);
        ggml_tensor * b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, W);
        for (int i = 0; i < W; ++i) {
            ((float *)w->data)[i] = 1 + rnd();
            ((float *)b->data)[i] = rnd();
        }
        ggml_tensor * y = ggml_cast(ctx, ggpt::amx_layer_norm_bf16(ctx, x, w, b, 1e-6f), GGML_TYPE_F32);
        ggml_tensor * r = ggml_add(ctx, ggml_mul(ctx, ggml_norm(ctx, ggml_cont(ctx, x), 1e-6f), w), b);
        compute_on_cpu(ctx, {y, r});
        double m = 0;
        for (int64_t i = 0; i < ggml_nelements(r); ++i) {
            const double vb = ((const float *)r->data)[i];
            m = std::max(m, std::fabs(((const float *)y->data)[i] - vb) / (1.0 + std::fabs(vb)));
        }
        const bool ok = m < 5e-3 && same_on_rerun(ctx, y);  // bf16 rounding of the result: 2^-8 relative at most
        printf("  %-4s W=%d T=%d B=%d max |diff| / (1 + |ref|) = %.2g\n", ok ? "ok" : "FAIL", W, T, B, m);
        if (!ok) ++g_failures;
        ggml_free(ctx);
    }
}

// The bf16 attention (AMX tiles, AVX512-BF16 dot products: each where the CPU has it) against
// ggml's f32 softmax(q k^T) v: head sizes 64 and 88 (padded), key and query counts off the 32
// grid, batches, q/k/v as views of one fused qkv tensor.
void test_attention_on(ggpt::Bf16Kernel unit);

void test_amx_attention() {
    for (const bool avx512 : {false, true}) {
        if (avx512 ? !ggpt::avx512_bf16_available() : !ggpt::amx_bf16_available()) continue;
        const ggpt::Bf16Kernel unit = avx512 ? ggpt::Bf16Kernel::avx512 : ggpt::Bf16Kernel::amx;
        printf("%s attention (f32 in and out, then bf16 in and out)\n", avx512 ? "avx512-bf16" : "amx-bf16");
        test_attention_on(unit);
    }
}

void test_attention_on(ggpt::Bf16Kernel unit) {
    for (const bool b16 : {false, true})
        for (auto [H, D, Tq, Tk, B, with_bias] : {std::tuple<int, int, int, int, int, bool>{2, 64, 37, 37, 2, false},
                                                  {16, 88, 257, 257, 1, false},
                                                  {12, 64, 32, 257, 3, false},
                                                  {3, 32, 1, 5, 1, false},
                                                  {12, 64, 229, 229, 3, true}}) {
            const int W = H * D;
            ggml_init_params ip = {(size_t)256 << 20, nullptr, false};
            ggml_context * ctx = ggml_init(ip);
            const bool fused = Tq == Tk;
            ggml_tensor * qkv = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, 3 * W, Tk, B);
            ggml_tensor * qs = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, W, Tq, B);
            uint32_t seed = 777;
            auto rnd = [&] {
                seed = seed * 1664525u + 1013904223u;
                return ((seed >> 8) & 0xffff) / 16384.0f - 2.0f;
            };
            for (int64_t i = 0; i < ggml_nelements(qkv); ++i) ((float *)qkv->data)[i] = rnd();
            for (int64_t i = 0; i < ggml_nelements(qs); ++i) ((float *)qs->data)[i] = rnd();
            ggml_tensor * q = fused ? ggml_view_3d(ctx, qkv, W, Tq, B, qkv->nb[1], qkv->nb[2], 0) : qs;
            ggml_tensor * k = ggml_view_3d(ctx, qkv, W, Tk, B, qkv->nb[1], qkv->nb[2], W * 4);
            ggml_tensor * v = ggml_view_3d(ctx, qkv, W, Tk, B, qkv->nb[1], qkv->nb[2], 2 * W * 4);
            const float scale = 1.0f / std::sqrt((float)D);
            ggml_tensor *bk = nullptr, *bv = nullptr;
            if (with_bias) {  // ImageBind's add_bias_kv: one learned row after the projected keys / values
                bk = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, W);
                bv = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, W);
                for (int i = 0; i < W; ++i) ((float *)bk->data)[i] = rnd(), ((float *)bv->data)[i] = rnd();
            }
            ggml_tensor * y;
            if (b16) {  // the same data rounded to bf16 first (a bf16 matmul result), the output bf16 too
                ggml_tensor *qkv16 = ggml_cast(ctx, qkv, GGML_TYPE_BF16), *qs16 = ggml_cast(ctx, qs, GGML_TYPE_BF16);
                ggml_tensor * q16 = fused ? ggml_view_3d(ctx, qkv16, W, Tq, B, qkv16->nb[1], qkv16->nb[2], 0) : qs16;
                ggml_tensor * k16 = ggml_view_3d(ctx, qkv16, W, Tk, B, qkv16->nb[1], qkv16->nb[2], W * 2);
                ggml_tensor * v16 = ggml_view_3d(ctx, qkv16, W, Tk, B, qkv16->nb[1], qkv16->nb[2], 2 * W * 2);
                y = ggml_cast(ctx, ggpt::amx_attention(ctx, q16, k16, v16, H, scale, bk, bv, GGML_TYPE_BF16, unit),
                              GGML_TYPE_F32);
            } else {
                y = ggpt::amx_attention(ctx, q, k, v, H, scale, bk, bv, GGML_TYPE_F32, unit);
            }
            int64_t Tkr = Tk;
            if (with_bias) {
                k = ggml_concat(ctx, k, ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, bk, W, 1, 1), W, 1, B, 1), 1);
                v = ggml_concat(ctx, v, ggml_repeat_4d(ctx, ggml_reshape_3d(ctx, bv, W, 1, 1), W, 1, B, 1), 1);
                Tkr = Tk + 1;
            }
            // reference: [D, H, T, B] -> [D, T, H, B] per head
            auto heads = [&, H = H, D = D, B = B](ggml_tensor * t,
                                                  int64_t T) {  // (clang < 16: no capture of structured bindings)
                return ggml_cont(
                    ctx, ggml_permute(ctx, ggml_view_4d(ctx, t, D, H, T, B, D * 4, t->nb[1], t->nb[2], 0), 0, 2, 1, 3));
            };
            ggml_tensor * kq =
                ggml_soft_max_ext(ctx, ggml_mul_mat(ctx, heads(k, Tkr), heads(q, Tq)), nullptr, scale, 0.0f);
            ggml_tensor * vt = ggml_cont(ctx, ggml_transpose(ctx, heads(v, Tkr)));  // [Tk, D, H, B]
            ggml_tensor * o = ggml_mul_mat(ctx, vt, kq);                            // [D, Tq, H, B]
            ggml_tensor * r = ggml_cont_3d(ctx, ggml_permute(ctx, o, 0, 2, 1, 3), W, Tq, B);
            compute_on_cpu(ctx, {y, r});
            if (!same_on_rerun(ctx, y)) {
                printf("  FAIL attention H=%d D=%d: second run differs\n", H, D);
                ++g_failures;
            }
            double se = 0, ss = 0;
            for (int64_t i = 0; i < ggml_nelements(r); ++i) {
                const double d = ((float *)y->data)[i] - ((float *)r->data)[i];
                se += d * d;
                ss += (double)((float *)r->data)[i] * ((float *)r->data)[i];
            }
            const double rel = std::sqrt(se / ss);
            const bool ok = rel < 2e-2;  // bf16 q, k, P, v with logits up to ~|8|: ~5e-3 expected
            printf("  %-4s %s H=%d D=%d Tq=%d Tk=%d B=%d%s rms_err/rms=%.2g\n", ok ? "ok" : "FAIL",
                   b16 ? "bf16" : "f32 ", H, D, Tq, Tk, B, with_bias ? " +bias_kv" : "", rel);
            if (!ok) ++g_failures;
            ggml_free(ctx);
        }
}

// Times each tower on synthetic inputs (any model size; no comparison).
void bench(ggpt_context & ctx, int n_frames, int reps) {
    const auto & enc = *ctx.model->enc;
    std::vector<float> out((size_t)4096 * 8192);
    // wall time, and CPU time of the process (less sensitive to other load on a shared machine)
    auto cpu_ms = [] {
        rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    };
    auto timeit = [&](const char * what, auto fn) {
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < reps; ++r) {
            double t0 = now_ms(), c0 = cpu_ms();
            check(fn(), ctx, what);
            best = std::min(best, now_ms() - t0);
            best_cpu = std::min(best_cpu, cpu_ms() - c0);
        }
        printf("  bench %-24s wall %10.1f ms, cpu %10.1f ms (best of %d)\n", what, best, best_cpu, reps);
    };
    if (enc.has_media[GGPT_MEDIA_IMAGE] && (g_only.empty() || g_only == "image")) {
        const int64_t S = enc.clip.hp.image_size;
        std::vector<float> px(3 * S * S);
        for (size_t i = 0; i < px.size(); ++i) px[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        out.resize(std::max<size_t>(out.size(), (size_t)enc.clip.hp.n_patches() * enc.llm_n_embd));
        timeit("image (CLIP + proj)", [&] { return ggpt::encode_image_pixels(&ctx, px.data(), out.data(), nullptr); });
    }
    if (enc.has_media[GGPT_MEDIA_VIDEO] && (g_only.empty() || g_only == "video")) {
        const int64_t S = enc.video.hp.image_size;
        std::vector<std::vector<uint8_t>> frames(n_frames, std::vector<uint8_t>(S * S * 3));
        std::vector<const uint8_t *> ptrs;
        for (int t = 0; t < n_frames; ++t) {
            for (size_t i = 0; i < frames[t].size(); ++i) frames[t][i] = (uint8_t)((i * 7 + t * 13) & 255);
            ptrs.push_back(frames[t].data());
        }
        char what[64];
        snprintf(what, sizeof what, "video (%d frames)", n_frames);
        timeit(what, [&] { return ggpt_encode_video(&ctx, ptrs.data(), n_frames, out.data(), nullptr); });
    }
    if (enc.has_media[GGPT_MEDIA_AUDIO] && (g_only.empty() || g_only == "audio")) {
        std::vector<float> fb((size_t)enc.audio.n_clips * enc.audio.hp.n_mels * enc.audio.hp.target_len);
        for (size_t i = 0; i < fb.size(); ++i) fb[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        timeit("audio (ImageBind + QF)",
               [&] { return ggpt_encode_audio(&ctx, fb.data(), enc.audio.n_clips, out.data(), nullptr); });
    }
}

// --compare-gpu: the image and audio graphs of a CPU-loaded model computed node by node on the CPU
// and on the GPU backend (ggml_backend_compare_graph_backend); prints the first nodes whose results
// differ (relative RMS above 1e-2: TF32 alone gives ~2e-3), with their sources' layouts; then
// checks the weights the loader places on the GPU against the CPU load. A tool for finding which
// op a GPU backend computes differently (without a GPU it compares the CPU with itself). It needs
// an f32 model (no AMX, no flash attention: the GPU graph's settings).
struct CompareState {
    int printed = 0;
    int n_checked = 0;
};

void describe(const char * label, const ggml_tensor * t) {
    printf("    %s %-14s %-24s %s ne [%lld %lld %lld %lld] nb [%zu %zu %zu %zu]%s\n", label, ggml_op_desc(t),
           ggml_get_name(t), ggml_type_name(t->type), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
           (long long)t->ne[3], t->nb[0], t->nb[1], t->nb[2], t->nb[3],
           ggml_is_contiguous(t) ? "" : " (non-contiguous)");
}

bool compare_cb(int i, ggml_tensor * t1, ggml_tensor * t2, void * ud) {
    CompareState & st = *(CompareState *)ud;
    if (t1->type != GGML_TYPE_F32 || !ggml_is_contiguous(t1)) return true;
    const int64_t n = ggml_nelements(t1);
    std::vector<float> a(n), b(n);
    ggml_backend_tensor_get(t1, a.data(), 0, n * 4);
    ggml_backend_tensor_get(t2, b.data(), 0, n * 4);
    double se = 0, sr = 0;
    for (int64_t j = 0; j < n; ++j) {
        se += (a[j] - b[j]) * (double)(a[j] - b[j]);
        sr += a[j] * (double)a[j];
    }
    const double rel = std::sqrt(se / std::max(sr, 1e-30));
    ++st.n_checked;
    if (!(rel <= 1e-2)) {  // TF32 matmuls on CUDA differ by ~2e-3
        printf("  node %d: rms err / rms %.3g\n", i, rel);
        describe("node", t1);
        for (int k = 0; k < GGML_MAX_SRC && t1->src[k]; ++k)
            describe(k == 0 ? "src0" : k == 1 ? "src1" : "srcN", t1->src[k]);
        ++g_failures;
        return ++st.printed < 4;
    }
    return true;
}

void compare_gpu(const std::string & path, const std::string & dir) {
    ggml_backend_dev_t gdev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
    if (!gdev) {
        printf("compare-gpu: no GPU device: the CPU against itself (checks the tool)\n");
        gdev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    }
    ggpt_model model;
    model.params.use_mmap = true;
    std::string err;
    if (ggpt::encoders_load(&model, path.c_str(), false, nullptr, nullptr, err) != GGPT_OK) {
        printf("compare-gpu: load: %s\n", err.c_str());
        ++g_failures;
        return;
    }
    const ggpt::Encoders & e = *model.enc;
    ggml_backend_t cpu = ggml_backend_cpu_init(), gpu = ggml_backend_dev_init(gdev, nullptr);
    for (const char * which : {"audio", "image"}) {
        Npy in;
        const std::string file =
            std::string(which) == "audio" ? "audio_dog_audio_fbank.npy" : "image_dog_image_pixel_values.npy";
        if (!read_npy(dir + "/" + file, in)) {
            printf("compare-gpu: cannot read %s\n", file.c_str());
            ++g_failures;
            continue;
        }
        const size_t n_nodes = 16384;
        std::vector<uint8_t> mem(ggml_tensor_overhead() * n_nodes + ggml_graph_overhead_custom(n_nodes, false));
        ggml_init_params ip = {mem.size(), mem.data(), true};
        ggpt::Graph g;
        g.ctx = ggml_init(ip);
        g.gf = ggml_new_graph_custom(g.ctx, n_nodes, false);
        ggml_tensor * inp;
        ggml_tensor * y;
        if (std::string(which) == "audio") {
            inp = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, e.audio.hp.target_len, e.audio.hp.n_mels, 1, 3);
            y = ggpt::build_audio_tail(g, e.audio, ggpt::build_imagebind(g, e.audio, inp));
        } else {
            const int64_t S = e.clip.hp.image_size;
            inp = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, S, S, 3, 1);
            y = ggpt::build_clip(g, e.clip, inp);
        }
        ggml_set_input(inp);
        ggml_set_output(y);
        ggml_build_forward_expand(g.gf, y);
        ggml_gallocr_t ga = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
        if (!ggml_gallocr_alloc_graph(ga, g.gf) || (size_t)ggml_nbytes(inp) != in.bytes.size()) {
            printf("compare-gpu %s: cannot allocate the graph or input size mismatch\n", which);
            ++g_failures;
        } else {
            std::memcpy(inp->data, in.bytes.data(), in.bytes.size());
            CompareState st;
            printf("compare-gpu %s: %d nodes\n", which, ggml_graph_n_nodes(g.gf));
            ggml_backend_compare_graph_backend(cpu, gpu, g.gf, compare_cb, &st, nullptr, 0);
            printf("compare-gpu %s: %d nodes checked, %d differ\n", which, st.n_checked, st.printed);
        }
        ggml_gallocr_free(ga);
        ggml_free(g.ctx);
    }
    ggml_backend_free(gpu);
    ggml_backend_free(cpu);

    // the weights as the loader placed them on the GPU, against the CPU load
    ggpt_model gmodel;
    gmodel.params.use_mmap = true;
    if (ggpt::encoders_load(&gmodel, path.c_str(), true, nullptr, nullptr, err) != GGPT_OK) {
        printf("compare-gpu: GPU load: %s\n", err.c_str());
        ++g_failures;
        return;
    }
    int n_w = 0, bad_w = 0;
    for (ggml_tensor * t = ggml_get_first_tensor(e.ctx); t; t = ggml_get_next_tensor(e.ctx, t)) {
        ggml_tensor * u = ggml_get_tensor(gmodel.enc->ctx, ggml_get_name(t));
        const size_t n = ggml_nbytes(t);
        std::vector<uint8_t> a(n), b(n);
        ggml_backend_tensor_get(t, a.data(), 0, n);
        if (u && ggml_nbytes(u) == n) ggml_backend_tensor_get(u, b.data(), 0, n);
        ++n_w;
        if (!u || ggml_nbytes(u) != n || a != b) {
            if (++bad_w <= 5) printf("  weight %s differs after the GPU load\n", ggml_get_name(t));
        }
    }
    printf("compare-gpu weights on %s: %d tensors, %d differ\n", gmodel.enc->backend_name.c_str(), n_w, bad_w);
    g_failures += bad_w;
}
}  // namespace

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s <encoders.gguf> [golden expected dir] [tolerance scale] [--bad-files] [--compare-gpu] "
                "[--threads N] [--frames-per-batch N] [--only image|video|audio] [--bench N_FRAMES [--reps N]]\n",
                argv[0]);
        return 2;
    }
    std::string path = argv[1];
    std::string dir = argc > 2 && argv[2][0] != '-' ? std::string(argv[2]) : GGPT_GOLDEN_DIR;
    if (argc > 3 && argv[3][0] != '-') g_scale = atof(argv[3]);
    bool bad_files = false, compare = false;
    int threads = 2, fpb = 0;
    std::string only;
    int bench_frames = 0, reps = 1;
    for (int i = 2; i < argc; ++i) {
        if (!strcmp(argv[i], "--bad-files")) bad_files = true;
        if (!strcmp(argv[i], "--compare-gpu")) compare = true;
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        if (!strcmp(argv[i], "--frames-per-batch") && i + 1 < argc) fpb = atoi(argv[++i]);
        if (!strcmp(argv[i], "--only") && i + 1 < argc) g_only = only = argv[++i];
        if (!strcmp(argv[i], "--bench") && i + 1 < argc) bench_frames = atoi(argv[++i]);
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    }
    ggpt_backend_init();
    if (compare) {
        compare_gpu(path, dir);
        printf("%s (%d failures)\n", g_failures ? "FAILED" : "PASSED", g_failures);
        return g_failures ? 1 : 0;
    }
    ggpt_model model;
    model.params.use_mmap = true;
    // The towers' tuning knobs from the environment, for measurements (the core reads none; see
    // ggpt_model_params.encoders_matmul and ggpt_context_params.encoders_* in groundinggpt.h):
    //   GGPT_ENC_AMX=0|int8          encoders_matmul GGML / INT8 (else AUTO)
    //   GGPT_ENC_FLASH_ATTN=0|1      encoders_flash_attn off / on
    //   GGPT_ENC_FUSE=0|1            encoders_fuse off / on
    //   GGPT_ENC_FRAMES_PER_BATCH=N  encoders_frames_per_batch (--frames-per-batch wins)
    //   GGPT_ENC_PROFILE=1|2         encoders_profile
    auto env_int = [](const char * name, int dflt) {
        const char * v = getenv(name);
        return v && *v ? atoi(v) : dflt;
    };
    auto env_switch = [](const char * name) {
        const char * v = getenv(name);
        return !v || !*v ? 0 : atoi(v) != 0 ? 1 : -1;
    };
    if (const char * v = getenv("GGPT_ENC_AMX"); v && *v)
        model.params.encoders_matmul = !strcmp(v, "int8") ? GGPT_ENC_MATMUL_INT8
                                       : atoi(v) != 0     ? GGPT_ENC_MATMUL_AUTO
                                                          : GGPT_ENC_MATMUL_GGML;
    if (fpb <= 0) fpb = env_int("GGPT_ENC_FRAMES_PER_BATCH", 0);
    std::string err;
    double t0 = now_ms();
    ggpt_status st =
        ggpt::encoders_load(&model, path.c_str(), true, nullptr, nullptr, err, model.params.encoders_matmul);
    if (st != GGPT_OK) {
        fprintf(stderr, "load: %s: %s\n", ggpt_status_name(st), err.c_str());
        return 1;
    }
    printf("loaded %s in %.1f ms on %s (%.2fM params)\n", path.c_str(), now_ms() - t0, model.enc->backend_name.c_str(),
           model.enc->n_params / 1e6);
    ggpt_context ctx;
    ctx.model = &model;
    ctx.params.n_threads = threads;
    ctx.params.n_threads_batch = threads;
    ctx.params.encoders_flash_attn = env_switch("GGPT_ENC_FLASH_ATTN");
    ctx.params.encoders_fuse = env_switch("GGPT_ENC_FUSE");
    ctx.params.encoders_frames_per_batch = fpb;  // (the image tower has no frames)
    ctx.params.encoders_profile = env_int("GGPT_ENC_PROFILE", 0);
    if (bench_frames > 0) {
        bench(ctx, bench_frames, reps);
        return 0;
    }
    if (model.enc->has_media[GGPT_MEDIA_IMAGE] && (only.empty() || only == "image")) test_image(ctx, dir);
    if (model.enc->has_media[GGPT_MEDIA_VIDEO] && (only.empty() || only == "video")) test_video(ctx, dir);
    if (model.enc->has_media[GGPT_MEDIA_AUDIO] && (only.empty() || only == "audio")) test_audio(ctx, dir);
    if (bad_files) {
        test_amx_work_share();
        test_amx();
        test_amx_layer_norm();
        test_amx_attention();
        test_bad_inputs(ctx);
        test_bad_files(path);
    }
    printf("%s (%d failures)\n", g_failures ? "FAILED" : "PASSED", g_failures);
    return g_failures ? 1 : 0;
}
