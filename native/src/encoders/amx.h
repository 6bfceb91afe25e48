// amx.h - an AMX-BF16 matrix multiply for the towers' Linear layers on x86 CPUs that have it
// (Sapphire Rapids and later): weights repacked once into bf16 tiles, activations rounded to bf16,
// products accumulated in f32 by the tile unit. Several times the throughput of ggml's AVX-512
// f16/f32 matmul; the price is bf16 rounding (8-bit mantissa) of both operands.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "ggml.h"

namespace ggpt {

// True when the CPU has AMX-TILE + AMX-BF16 and the OS granted this process the tile state.
bool amx_bf16_available();
// True when it also has AMX-INT8 (every AMX CPU so far).
bool amx_int8_available();

// What the matmul does to its output block while it is in cache: + bias, then this activation.
enum class AmxAct : uint8_t { none, gelu_erf, quick_gelu };

// Storage on 64-byte boundaries for tile operands: a tile row (64 bytes) then sits in one cache
// line instead of straddling two (glibc starts large blocks 16 bytes past a page boundary), which
// halves the cache lines that every tile load touches.
template <class T> struct CacheAligned {
    using value_type = T;
    CacheAligned() = default;
    template <class U> CacheAligned(const CacheAligned<U> &) {}
    T * allocate(size_t n) { return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T * p, size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <class U> bool operator==(const CacheAligned<U> &) const { return true; }
    template <class U> bool operator!=(const CacheAligned<U> &) const { return false; }
};
template <class T> using AlignedVector = std::vector<T, CacheAligned<T>>;

struct AmxWeight;
// The custom op's parameters (one per activation x bias x residual, stored in the weight).
struct AmxOp {
    const AmxWeight * w = nullptr;
    AmxAct act = AmxAct::none;
    bool has_bias = false, has_res = false;
};

// A Linear weight repacked for amx_mul_mat. bf16: [M/16][K/32] tiles of 16 k-pairs x 16 outputs
// x 2. int8: [M/16][K/64] tiles of 16 k-quads x 16 outputs x 4, symmetric per output (row of W),
// W ~ scale[m] * q. Both are 1 KiB per tile, so data holds either. Packed in place (amx_pack)
// and never moved: the ops point at it.
struct AmxWeight {
    int64_t K = 0, M = 0;  // inputs (multiple of 32; 64 for int8), outputs (multiple of 16)
    bool int8 = false;
    AlignedVector<uint16_t> data;
    std::vector<float> scale;  // int8: per output
    AmxOp ops[12];  // [act][bias][residual]

    AmxWeight() = default;
    AmxWeight(const AmxWeight &) = delete;
    AmxWeight & operator=(const AmxWeight &) = delete;
};

// Whether a weight (ne [K, M], f32 / f16 / bf16, contiguous; or a conv kernel [k, k, C, M] as the
// matrix [k k C, M] that im2col multiplies) can be packed (as int8: K a multiple of 64).
bool amx_can_pack(const ggml_tensor * w, bool int8 = false);

// Packs w, whose data is readable on the host, as bf16 or, with int8, as 8-bit integers per
// output row. An int8 weight's matmul also rounds each activation row to 8 bits (symmetric, its
// own scale) and multiplies on the tile unit's int8 path: about twice the bf16 throughput, at
// ~1e-2 relative error instead of ~5e-3.
void amx_pack(const ggml_tensor * w, AmxWeight & out, bool int8 = false);

// y = act(W xb + bias) + res for xb [K, N] bf16 (contiguous), bias [M] f32 or null and res [M, N]
// f32 (contiguous) or null -> [M, N] of type out (f32, or bf16 when the next consumer is another
// amx_mul_mat: the rounding it would do anyway). A CPU custom op (ggml_custom_4d) over the
// context's threads. gelu_erf is erf-exact to ~2e-7 absolute; quick_gelu is x * sigmoid(1.702 x)
// in f32 (no f16 table).
ggml_tensor * amx_mul_mat(ggml_context * ctx, const AmxWeight * w, ggml_tensor * xb, ggml_tensor * bias,
                          AmxAct act = AmxAct::none, ggml_type out = GGML_TYPE_F32, ggml_tensor * res = nullptr);

// LayerNorm over rows (ne[0]) of x (f32, rows contiguous) with weight w and bias b ([ne0] f32),
// statistics in f32 (two passes), result rounded to bf16 ([ne0, ne1, ne2] contiguous): the input
// of the next amx_mul_mat, in one pass instead of ggml's norm, mul, add and cast.
ggml_tensor * amx_layer_norm_bf16(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b, float eps);

// softmax(scale q k^T) v per head for q [W, Tq, B], k and v [W, Tk, B] (all f32 or all bf16, rows
// contiguous: views of a fused qkv are fine), W = n_head x head size (any head size) -> [W, Tq, B]
// of type out (f32, or bf16 for a next amx_mul_mat), heads side by side in each row. q, k, P and v
// are rounded to bf16 for the tile products; the softmax and the normalisation are f32. No mask.
// bias_k / bias_v ([W] f32, both or neither): one extra key / value row after the Tk given
// (nn.MultiheadAttention's add_bias_kv). A CPU custom op over the context's threads.
ggml_tensor * amx_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head,
                            float scale, ggml_tensor * bias_k = nullptr, ggml_tensor * bias_v = nullptr,
                            ggml_type out = GGML_TYPE_F32);

}  // namespace ggpt
