// resident.cpp - pages of file mappings in this process (resident.h).
#include "core/resident.h"

#include <cstdio>

#if defined(__linux__)
#  include <sys/mman.h>
#  include <sys/stat.h>
#  include <sys/sysmacros.h>
#endif

namespace ggpt {

AddressRanges mappings_of(const std::string & path) {
    AddressRanges out;
#if defined(__linux__)
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return out;
    FILE * f = fopen("/proc/self/maps", "r");
    if (!f) return out;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b, off, ino;
        unsigned maj, mnr;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &a, &b, perms, &off, &maj, &mnr, &ino) != 7) continue;
        if (ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) && mnr == minor(st.st_dev))
            out.emplace_back((uintptr_t)a, (uintptr_t)b);
    }
    fclose(f);
#else
    (void)path;
#endif
    return out;
}

void drop_pages(const AddressRanges & ranges) {
#if defined(__linux__)
    for (const auto & [a, b] : ranges) madvise((void *)a, b - a, MADV_DONTNEED);
#else
    (void)ranges;
#endif
}

int64_t mapped_rss(const AddressRanges & ranges) {
#if defined(__linux__)
    if (ranges.empty()) return 0;
    FILE * f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[4096];
    bool in = false;
    int64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        char c;
        if (sscanf(line, "%llx-%llx %c", &a, &b, &c) == 3) {  // a mapping's header
            in = false;
            for (const auto & [ra, rb] : ranges) in = in || ((uintptr_t)a >= ra && (uintptr_t)b <= rb);
            continue;
        }
        long long v;
        if (in && sscanf(line, "Rss: %lld kB", &v) == 1) kb += v;
    }
    fclose(f);
    return kb * 1024;
#else
    (void)ranges;
    return -1;
#endif
}

}  // namespace ggpt
