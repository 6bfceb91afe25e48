// detect.cpp - CPU and OS support for AMX (see detect.h).
#include "amx/detect.h"

#if GGPT_AMX
#  include <cpuid.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif

namespace ggpt {

#if GGPT_AMX

bool avx512_bf16_available() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        // OSXSAVE, then XCR0: SSE, AVX, opmask, upper halves of zmm0-15, zmm16-31 (bits 1, 2, 5-7)
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;
        unsigned lo, hi;
        __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if ((lo & 0xe6u) != 0xe6u) return false;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        // dot.h's block products, the bf16 ones too, are compiled for AVX512-VNNI (leaf 7 ECX bit
        // 11) as well, so it is required here (every AVX512-BF16 CPU so far has it)
        const bool f = b & (1u << 16), bw = b & (1u << 30), vl = b & (1u << 31), vnni = c & (1u << 11);
        if (!f || !bw || !vl || !vnni || a < 1) return false;
        // leaf 7 subleaf 1, EAX bit 5: AVX512_BF16
        return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
    }();
    return ok;
}

bool amx_bf16_available() {
    static const bool ok = [] {
        // the kernels' loads, conversions and epilogues are AVX-512 (with BF16) instructions too,
        // so the OS must also save the AVX-512 state (every AMX CPU so far has AVX512-BF16)
        if (!avx512_bf16_available()) return false;
        unsigned a, b, c, d;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
        if (!tile || !bf16) return false;
        // Linux hands out the 8 KiB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA)
        return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    }();
    return ok;
}

bool amx_int8_available() {
    static const bool ok = [] {
        unsigned a, b, c, d;
        return amx_bf16_available() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 25));
    }();
    return ok;
}

// (avx512_bf16_available() checks AVX512-VNNI too: dot.h)
bool avx512_vnni_available() { return avx512_bf16_available(); }

#else

bool amx_bf16_available() { return false; }
bool amx_int8_available() { return false; }
bool avx512_bf16_available() { return false; }
bool avx512_vnni_available() { return false; }

#endif

}  // namespace ggpt
