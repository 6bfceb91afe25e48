// gguf_util.h - typed, range-checked reads of GGUF keys. gguf_get_val_* asserts (and so kills the
// host process) when a key has another type than asked; these check the type first and turn
// every mismatch into a message naming the file and the key.
#pragma once
#include <cstdint>
#include <string>

#include "gguf.h"

namespace ggpt {

// Size of a file in bytes, or -1 with err = "<path>: cannot open (<reason>)".
int64_t file_size(const std::string & path, std::string & err);

class GgufKeys {
public:
    GgufKeys(const gguf_context * ctx, std::string path) : ctx_(ctx), path_(std::move(path)) {}

    bool has(const char * key) const { return gguf_find_key(ctx_, key) >= 0; }

    // Each reader: returns false and sets err when the key is missing (unless a default is
    // given: optional readers), has another type, or is out of [min, max]. `why` explains the
    // range in the message.
    bool u32(const char * key, uint32_t & out, uint32_t min, uint32_t max, std::string & err,
             const char * why = nullptr) const;
    bool opt_u32(const char * key, uint32_t & out, uint32_t fallback, uint32_t min, uint32_t max, std::string & err,
                 const char * why = nullptr) const;
    bool f32(const char * key, float & out, float min, float max, std::string & err, const char * why = nullptr) const;
    bool opt_bool(const char * key, bool & out, bool fallback, std::string & err) const;
    bool str(const char * key, std::string & out, std::string & err) const;
    // An array of exactly n f32.
    bool f32_array(const char * key, float * out, size_t n, std::string & err) const;

    const std::string & path() const { return path_; }

private:
    bool typed(const char * key, gguf_type want, int64_t & id, std::string & err) const;

    const gguf_context * ctx_;
    std::string path_;
};

}  // namespace ggpt
