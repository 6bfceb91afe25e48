// pack.h - Linear weights repacked once into AMX tile operands (bf16 or int8), and the aligned
// storage they live in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "ggml.h"

#include "amx/detect.h"

namespace ggpt {

// What the matmul does to its output block while it is in cache: + bias, then this activation.
enum class AmxAct : uint8_t { none, gelu_erf, quick_gelu };

// Which unit multiplies a packed bf16 weight: the AMX tiles, or AVX512-BF16 dot products
// (vdpbf16ps, amx/dot.h) on CPUs without AMX. Both read the same packed layout.
enum class Bf16Kernel : uint8_t { amx, avx512 };
// AMX where the CPU has it, else AVX512-BF16 (only to be run where tower_bf16_available())
inline Bf16Kernel default_bf16_kernel() { return amx_bf16_available() ? Bf16Kernel::amx : Bf16Kernel::avx512; }

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

// A Linear weight repacked for amx_mul_mat. bf16: [M/16][K/32] tiles of 16 k-pairs x 16 outputs
// x 2. int8: [M/16][K/64] tiles of 16 k-quads x 16 outputs x 4, symmetric per output (row of W),
// W ~ scale[m] * q. Both are 1 KiB per tile, so data holds either. Packed in place (amx_pack)
// and never moved: the ops' parameters point at it.
struct AmxWeight {
    int64_t K = 0, M = 0;  // inputs (multiple of 32; 64 for int8), outputs (multiple of 16)
    bool int8 = false;
    // amx_pack chooses AMX where the CPU has it (int8: AMX-INT8), else AVX512-BF16 (int8:
    // AVX512-VNNI); the weight may be switched to avx512 afterwards (to compare the two on an AMX
    // CPU)
    Bf16Kernel kernel = Bf16Kernel::amx;
    AlignedVector<uint16_t> data;
    std::vector<float> scale;  // int8: per output
    // int8: 128 x the sum of each output's q over k. The dot-product unit multiplies unsigned by
    // signed bytes (vpdpbusd), so it takes activation q + 128 and subtracts this afterwards.
    std::vector<int32_t> comp;

    AmxWeight() = default;
    AmxWeight(const AmxWeight &) = delete;
    AmxWeight & operator=(const AmxWeight &) = delete;
};

// Whether a weight (ne [K, M], f32 / f16 / bf16, contiguous; or a conv kernel [k, k, C, M] as the
// matrix [k k C, M] that im2col multiplies) can be packed (as int8: K a multiple of 64).
bool amx_can_pack(const ggml_tensor * w, bool int8 = false);

// Packs w, whose data is readable on the host, as bf16 or, with int8, as 8-bit integers per
// output row. An int8 weight's matmul also rounds each activation row to 8 bits (symmetric, its
// own scale) and multiplies on the int8 path of the tile unit (or of AVX512-VNNI): about twice
// the bf16 throughput, at ~1e-2 relative error instead of ~5e-3.
void amx_pack(const ggml_tensor * w, AmxWeight & out, bool int8 = false);

// f32 -> bf16, round to nearest even (NaN kept quiet)
inline uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace ggpt
