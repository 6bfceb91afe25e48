// fuzz_common.h - shared pieces of the GGUF libFuzzer targets (docs/RELIABILITY.md "Fuzzing").
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "ggml.h"
#include "gguf.h"
#include "groundinggpt.h"

#include "fuzz_reader.h"

namespace fuzz {

// The input as a file the loaders can open by path: an anonymous memory file (no disk, nothing
// left behind when the process dies), reached through /proc/self/fd.
class MemFile {
public:
    MemFile(const uint8_t * data, size_t size) {
        fd_ = memfd_create("ggpt-fuzz", 0);
        if (fd_ < 0) {
            perror("memfd_create");
            abort();
        }
        size_t off = 0;
        while (off < size) {
            ssize_t w = write(fd_, data + off, size - off);
            if (w <= 0) {
                perror("write");
                abort();
            }
            off += (size_t)w;
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() { close(fd_); }
    MemFile(const MemFile &) = delete;
    MemFile & operator=(const MemFile &) = delete;
    const std::string & path() const { return path_; }
    void extend_to(size_t size) {
        if (ftruncate(fd_, (off_t)size) != 0) {
            perror("ftruncate");
            abort();
        }
    }

private:
    int fd_ = -1;
    std::string path_;
};

// When the input parses as a GGUF whose tensor data lies (partly) past its end, the file is
// extended with zero bytes up to the end of the last tensor (at most max_size): inputs can then be
// the metadata alone and still reach the checks that follow the data-size check, and mutations
// are spent on the metadata. Returns the file size.
inline size_t pad_gguf(MemFile & f, size_t size, size_t max_size = (size_t)64 << 20) {
    gguf_init_params gp = {/*no_alloc*/ true, /*ctx*/ nullptr};
    gguf_context * g = gguf_init_from_file(f.path().c_str(), gp);
    if (!g) {
        // ggml's reader also refuses a file that ends inside the alignment gap before the data
        f.extend_to(size + 4096);
        g = gguf_init_from_file(f.path().c_str(), gp);
        if (!g) {
            f.extend_to(size);
            return size;
        }
    }
    size_t need = gguf_get_data_offset(g);
    for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
        const size_t end = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i);
        if (end > need) need = end;
    }
    gguf_free(g);
    if (need > size && need <= max_size) {
        f.extend_to(need);
        return need;
    }
    f.extend_to(size);
    return size;
}

// ggml/libllama logs go to our sink, which prints nothing unless FUZZ_VERBOSE is set.
inline void init() {
    ggpt_backend_init();
    if (getenv("FUZZ_VERBOSE")) {
        ggpt_log_set([](ggpt_log_level, const char * text, void *) { fputs(text, stderr); }, nullptr, GGPT_LOG_DEBUG);
    }
}

}  // namespace fuzz
