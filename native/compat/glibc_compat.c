/* glibc_compat.c - portable x86-64 and aarch64 Linux prebuilds only (CMakeLists.txt,
 * GROUNDINGGPT_PORTABLE; docs/BUILDING.md, "Prebuilds and platforms").
 *
 * Built against a recent glibc, a library references some functions at versions newer than 2.28
 * (Node 20's floor): pthread and dl functions moved into libc in 2.34 and got new default versions,
 * the stat family became functions in 2.33, exp/log/pow got new versions in 2.29. This file is
 * linked into every library of the prebuild and defines each such name as a hidden function that
 * jumps to the same function at its old version (which glibc keeps for compatibility, so it works
 * on new and old glibc alike). Definitions in the link win over the shared libc's, so every
 * reference in our code, ggml, libllama and the static libstdc++ binds to them.
 * scripts/check-prebuild.mjs verifies that no GLIBC_ version above 2.28 is left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The old versions: x86-64's glibc ABI starts at 2.2.5 (some names at 2.3.x/2.4), aarch64's at 2.17
 * (every name). The stat wrappers' version argument (_STAT_VER) is 1 on x86-64, 0 on aarch64. */
#if defined(__x86_64__)
#  define GGPT_V(x86)    x86
#  define GGPT_STAT_VER  1
#  define GGPT_TAIL_CALL "jmp"
#  define GGPT_PLT       "@PLT"
#elif defined(__aarch64__)
#  define GGPT_V(x86)    "2.17"
#  define GGPT_STAT_VER  0
#  define GGPT_TAIL_CALL "b"
#  define GGPT_PLT       ""
#else
#  error "glibc_compat.c: x86-64 and aarch64 only (native/compat/glibc_compat.cmake)"
#endif

/* NAME (hidden, in this library) -> NAME@GLIBC_VER */
#define GGPT_REDIRECT(name, x86ver)                                                                                    \
  __asm__(".pushsection .text\n"                                                                                       \
          ".globl " #name "\n"                                                                                         \
          ".hidden " #name "\n"                                                                                        \
          ".type " #name ",%function\n" #name ":\n"                                                                    \
          "  " GGPT_TAIL_CALL " ggpt_glibc_" #name GGPT_PLT "\n"                                                       \
          ".size " #name ",.-" #name "\n"                                                                              \
          ".symver ggpt_glibc_" #name "," #name "@GLIBC_" GGPT_V(x86ver) "\n"                                          \
                                                                         ".popsection\n");

/* libpthread -> libc in 2.34 */
GGPT_REDIRECT(pthread_create, "2.2.5")
GGPT_REDIRECT(pthread_join, "2.2.5")
GGPT_REDIRECT(pthread_detach, "2.2.5")
GGPT_REDIRECT(pthread_once, "2.2.5")
GGPT_REDIRECT(pthread_key_create, "2.2.5")
GGPT_REDIRECT(pthread_key_delete, "2.2.5")
GGPT_REDIRECT(pthread_getspecific, "2.2.5")
GGPT_REDIRECT(pthread_setspecific, "2.2.5")
GGPT_REDIRECT(pthread_mutex_trylock, "2.2.5")
GGPT_REDIRECT(pthread_attr_setstacksize, "2.2.5")
GGPT_REDIRECT(pthread_setaffinity_np, "2.3.4")
GGPT_REDIRECT(pthread_getaffinity_np, "2.3.4")
/* libdl -> libc in 2.34 */
GGPT_REDIRECT(dlopen, "2.2.5")
GGPT_REDIRECT(dlsym, "2.2.5")
GGPT_REDIRECT(dlclose, "2.2.5")
GGPT_REDIRECT(dlerror, "2.2.5")
GGPT_REDIRECT(dladdr, "2.2.5")
GGPT_REDIRECT(dladdr1, "2.3.3")
GGPT_REDIRECT(dlvsym, "2.2.5")
GGPT_REDIRECT(dlinfo, "2.3.3")
/* libm: new versions in 2.29 (no errno/SVID wrapper changes that matter here) */
GGPT_REDIRECT(exp, "2.2.5")
GGPT_REDIRECT(exp2, "2.2.5")
GGPT_REDIRECT(log, "2.2.5")
GGPT_REDIRECT(log2, "2.2.5")
GGPT_REDIRECT(pow, "2.2.5")

/* stat family: functions since 2.33; before, wrappers around __xstat & co. (GGPT_STAT_VER: the
 * kernel's struct stat, the same layout as today's) */
extern int ggpt_glibc_xstat(int, const char *, struct stat *);
extern int ggpt_glibc_lxstat(int, const char *, struct stat *);
extern int ggpt_glibc_fxstat(int, int, struct stat *);
extern int ggpt_glibc_fxstatat(int, int, const char *, struct stat *, int);
__asm__(".symver ggpt_glibc_xstat,__xstat@GLIBC_" GGPT_V("2.2.5"));
__asm__(".symver ggpt_glibc_lxstat,__lxstat@GLIBC_" GGPT_V("2.2.5"));
__asm__(".symver ggpt_glibc_fxstat,__fxstat@GLIBC_" GGPT_V("2.2.5"));
__asm__(".symver ggpt_glibc_fxstatat,__fxstatat@GLIBC_" GGPT_V("2.4"));

__attribute__((visibility("hidden"))) int ggpt_stat(const char * p, struct stat * b) {
    return ggpt_glibc_xstat(GGPT_STAT_VER, p, b);
}
__attribute__((visibility("hidden"))) int ggpt_lstat(const char * p, struct stat * b) {
    return ggpt_glibc_lxstat(GGPT_STAT_VER, p, b);
}
__attribute__((visibility("hidden"))) int ggpt_fstat(int fd, struct stat * b) {
    return ggpt_glibc_fxstat(GGPT_STAT_VER, fd, b);
}
__attribute__((visibility("hidden"))) int ggpt_fstatat(int d, const char * p, struct stat * b, int f) {
    return ggpt_glibc_fxstatat(GGPT_STAT_VER, d, p, b, f);
}
/* getcpu: new in 2.29; the system call has existed since Linux 2.6.19 */
__attribute__((visibility("hidden"))) int ggpt_getcpu(unsigned * cpu, unsigned * node) {
    return (int)syscall(SYS_getcpu, cpu, node, (void *)0);
}
/* arc4random: new in 2.36 (libstdc++'s std::random_device uses it); getrandom(2) since Linux 3.17,
 * else /dev/urandom */
__attribute__((visibility("hidden"))) uint32_t ggpt_arc4random(void) {
    uint32_t v = 0;
    for (;;) {
        long n = syscall(SYS_getrandom, &v, sizeof v, 0);
        if (n == (long)sizeof v) return v;
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &v, sizeof v);
        (void)n;
        close(fd);
    }
    return v;
}
#define GGPT_ALIAS(name, impl) __asm__(".globl " #name "\n.hidden " #name "\n.set " #name "," #impl "\n");
GGPT_ALIAS(stat, ggpt_stat)
GGPT_ALIAS(stat64, ggpt_stat)
GGPT_ALIAS(lstat, ggpt_lstat)
GGPT_ALIAS(lstat64, ggpt_lstat)
GGPT_ALIAS(fstat, ggpt_fstat)
GGPT_ALIAS(fstat64, ggpt_fstat)
GGPT_ALIAS(fstatat, ggpt_fstatat)
GGPT_ALIAS(fstatat64, ggpt_fstatat)
GGPT_ALIAS(getcpu, ggpt_getcpu)
GGPT_ALIAS(arc4random, ggpt_arc4random)

/* libstdc++'s headers read glibc's __libc_single_threaded (2.32) to skip atomics in a
 * single-threaded process. Our own copy, always 0 (= "use atomics"), is always right. */
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
