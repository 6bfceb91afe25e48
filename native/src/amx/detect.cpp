// detect.cpp - CPU and OS support for AMX (see detect.h).
#include "amx/detect.h"

#if GGPT_AMX
#  include <cpuid.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#endif

namespace ggpt {

#if GGPT_AMX

bool amx_bf16_available() {
    static const bool ok = [] {
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

#else

bool amx_bf16_available() { return false; }
bool amx_int8_available() { return false; }

#endif

}  // namespace ggpt
