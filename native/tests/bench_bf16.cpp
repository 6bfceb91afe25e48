// bench_bf16.cpp - the towers' bf16 Linear (native/src/amx), and its int8 mode where the CPU has
// AVX512-VNNI, against ggml's f16 matmul on the
// towers' real shapes, and the unit's peak: a loop of independent bf16 dot products (vdpbf16ps,
// or tdpbf16ps tiles on AMX CPUs are not measured here) in registers, per thread. Built with the
// C tests; not run by the test suite (docs/BENCHMARKS.md, "Towers on AVX512-BF16 CPUs").
//
//   build/cmake/bench_bf16 [threads 2] [reps 5] [shape name filter]
//
// GFLOPS = 2 K M N / best time. Both sides get the same random f16 weights; ours packs them once
// (as the loader does) and takes bf16 activations (as the towers hand them over), ggml's takes
// f32 activations (it converts them to f16 itself, inside the timed call).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "amx/amx.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#if GGPT_AMX
#  include <immintrin.h>
#endif

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

#if GGPT_AMX
// GFLOPS of one thread issuing vdpbf16ps on 24 independent accumulators (16 lanes x 2 products x
// 2 operations each), no memory operands
__attribute__((target("avx512f,avx512bf16"))) double peak_thread(long iters) {
    __m512 acc[24];
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_setzero_ps();
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    const double t0 = now_s();
    for (long n = 0; n < iters; ++n) {
#  pragma GCC unroll 24
        for (int i = 0; i < 24; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));  // keeps the loop from being folded
    }
    const double s = now_s() - t0;
    float sum = 0;
    for (int i = 0; i < 24; ++i) sum += _mm512_reduce_add_ps(acc[i]);
    if (sum == 1.25f) printf(" ");
    return 24.0 * iters * 64 / s / 1e9;
}
#endif

}  // namespace

int main(int argc, char ** argv) {
    const int nth = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    const char * only = argc > 3 ? argv[3] : "";
    if (!ggpt::avx512_bf16_available()) {
        printf("bench_bf16: this CPU has no AVX512-BF16 (skipped)\n");
        return 0;
    }
#if GGPT_AMX
    std::vector<double> peak(nth);
    std::vector<std::thread> pool;
    for (int t = 0; t < nth; ++t)
        pool.emplace_back([&peak, t] { peak[t] = std::max(peak_thread(2000000), peak_thread(30000000)); });
    for (auto & th : pool) th.join();
    double total = 0;
    for (double p : peak) total += p;
    printf("vdpbf16ps peak: %.1f GFLOPS on %d threads (per thread:", total, nth);
    for (double p : peak) printf(" %.1f", p);
    printf(")\n");
#endif
    struct Shape {
        const char * name;
        int K, M, N;
    };
    // CLIP ViT-L/336 (577 tokens), EVA ViT-g (4 frames x 257 tokens), ImageBind audio (3 clips x
    // 229 tokens), a Q-Former layer (32 queries)
    const Shape shapes[] = {{"clip qkv", 1024, 3072, 577}, {"clip fc1", 1024, 4096, 577}, {"clip fc2", 4096, 1024, 577},
                            {"eva qkv", 1408, 4224, 1028}, {"eva fc1", 1408, 6144, 1028}, {"eva fc2", 6144, 1408, 1028},
                            {"audio qkv", 768, 2304, 687}, {"audio fc2", 3072, 768, 687}, {"qformer 32", 768, 768, 32}};
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, nth);
    for (const Shape & s : shapes) {
        if (*only && !strstr(s.name, only)) continue;
        ggml_init_params ip = {(size_t)1 << 30, nullptr, false};
        ggml_context * ctx = ggml_init(ip);
        ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, s.K, s.M);
        ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, s.K, s.N);
        ggml_tensor * xb = ggml_new_tensor_2d(ctx, GGML_TYPE_BF16, s.K, s.N);
        ggml_tensor * b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, s.M);
        uint32_t seed = 1;
        auto rnd = [&] {
            seed = seed * 1664525u + 1013904223u;
            return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        };
        for (int64_t i = 0; i < ggml_nelements(w); ++i) ((ggml_fp16_t *)w->data)[i] = ggml_fp32_to_fp16(rnd());
        for (int64_t i = 0; i < ggml_nelements(x); ++i) {
            ((float *)x->data)[i] = rnd();
            ((ggml_bf16_t *)xb->data)[i] = ggml_fp32_to_bf16(((float *)x->data)[i]);
        }
        for (int i = 0; i < s.M; ++i) ((float *)b->data)[i] = rnd();
        ggpt::AmxWeight aw;
        ggpt::amx_pack(w, aw);
        aw.kernel = ggpt::Bf16Kernel::avx512;  // the dot-product unit (also on an AMX CPU)
        ggml_tensor * ours = ggpt::amx_mul_mat(ctx, &aw, xb, b);
        const bool i8 = ggpt::avx512_vnni_available() && ggpt::amx_can_pack(w, true);
        ggpt::AmxWeight aw8;
        if (i8) {
            ggpt::amx_pack(w, aw8, true);
            aw8.kernel = ggpt::Bf16Kernel::avx512;
        }
        ggml_tensor * ours8 = i8 ? ggpt::amx_mul_mat(ctx, &aw8, xb, b) : nullptr;
        ggml_cgraph * g_ours8 = ggml_new_graph(ctx);
        if (i8) ggml_build_forward_expand(g_ours8, ours8);
        ggml_tensor * theirs = ggml_add(ctx, ggml_mul_mat(ctx, w, x), b);
        ggml_cgraph * g_ours = ggml_new_graph(ctx);
        ggml_build_forward_expand(g_ours, ours);
        ggml_cgraph * g_theirs = ggml_new_graph(ctx);
        ggml_build_forward_expand(g_theirs, theirs);
        double t_ours = 1e9, t_theirs = 1e9, t_ours8 = 1e9;
        for (int r = 0; r < reps; ++r) {  // alternating
            double t0 = now_s();
            ggml_backend_graph_compute(be, g_theirs);
            t_theirs = std::min(t_theirs, now_s() - t0);
            t0 = now_s();
            ggml_backend_graph_compute(be, g_ours);
            t_ours = std::min(t_ours, now_s() - t0);
            if (!i8) continue;
            t0 = now_s();
            ggml_backend_graph_compute(be, g_ours8);
            t_ours8 = std::min(t_ours8, now_s() - t0);
        }
        const double fl = 2.0 * s.K * s.M * s.N;
        printf("%-10s K=%5d M=%5d N=%5d  ggml f16 %8.2f ms %6.1f GFLOPS | avx512-bf16 %8.2f ms %6.1f GFLOPS | %.2fx\n",
               s.name, s.K, s.M, s.N, t_theirs * 1e3, fl / t_theirs / 1e9, t_ours * 1e3, fl / t_ours / 1e9,
               t_theirs / t_ours);
        if (i8)
            printf("%-10s int8 (vpdpbusd) %8.2f ms %6.1f GOPS | %.2fx ggml\n", "", t_ours8 * 1e3, fl / t_ours8 / 1e9,
                   t_theirs / t_ours8);
        ggml_free(ctx);
    }
    ggml_backend_free(be);
    return 0;
}
