// detect.h - whether this build and this CPU can run the AMX kernels (docs/ARCHITECTURE.md).
// GGPT_AMX is 1 where the kernels are compiled (x86-64 Linux, GCC): they carry their own target
// attributes, so the rest of the core keeps the build's baseline instruction set (portable builds
// dispatch at run time). Elsewhere amx_bf16_available() is false and nothing of the module runs.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#  define GGPT_AMX 1
#endif

namespace ggpt {

// True when the CPU has AMX-TILE + AMX-BF16 and the OS granted this process the tile state (and
// avx512_bf16_available(): the kernels use AVX-512 around the tiles).
bool amx_bf16_available();
// True when it also has AMX-INT8 (every AMX CPU so far).
bool amx_int8_available();
// True when the CPU has AVX-512 F/BW/VL, AVX512-BF16 (vdpbf16ps, e.g. AMD Zen 4/5) and AVX512-VNNI
// (vpdpbusd; amx/dot.h is compiled for both) and the OS saves the AVX-512 state: the towers' bf16
// kernels then run on dot-product instructions where there is no AMX (docs/ARCHITECTURE.md).
bool avx512_bf16_available();
// The int8 tower mode on dot products (vpdpbusd): the same as avx512_bf16_available().
bool avx512_vnni_available();
// Whether the towers' bf16 kernels run here at all: AMX-BF16 or AVX512-BF16.
inline bool tower_bf16_available() { return amx_bf16_available() || avx512_bf16_available(); }
// Whether their int8 mode does: AMX-INT8, or AVX512-BF16 with AVX512-VNNI.
inline bool tower_int8_available() { return amx_int8_available() || avx512_vnni_available(); }

}  // namespace ggpt
