// gguf_util.cpp - typed GGUF key readers (see gguf_util.h).
#include "core/gguf_util.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ggpt {

int64_t file_size(const std::string & path, std::string & err) {
    FILE * f = fopen(path.c_str(), "rb");
    if (!f) {
        err = path + ": cannot open (" + strerror(errno) + ")";
        return -1;
    }
#ifdef _WIN32
    _fseeki64(f, 0, SEEK_END);
    const int64_t size = _ftelli64(f);
#else
    fseeko(f, 0, SEEK_END);
    const int64_t size = (int64_t)ftello(f);
#endif
    fclose(f);
    return size;
}

bool GgufKeys::typed(const char * key, gguf_type want, int64_t & id, std::string & err) const {
    id = gguf_find_key(ctx_, key);
    if (id < 0) {
        err = path_ + ": missing key '" + key + "'";
        return false;
    }
    const gguf_type t = gguf_get_kv_type(ctx_, id);
    if (t != want) {
        err = path_ + ": key '" + key + "' has type " + gguf_type_name(t) + ", expected " + gguf_type_name(want);
        return false;
    }
    return true;
}

bool GgufKeys::u32(const char * key, uint32_t & out, uint32_t min, uint32_t max, std::string & err,
                   const char * why) const {
    int64_t id;
    if (!typed(key, GGUF_TYPE_UINT32, id, err)) return false;
    const uint32_t v = gguf_get_val_u32(ctx_, id);
    if (v < min || v > max) {
        err = path_ + ": key '" + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(min) + ", " +
              std::to_string(max) + "]" + (why ? std::string(" (") + why + ")" : std::string());
        return false;
    }
    out = v;
    return true;
}

bool GgufKeys::opt_u32(const char * key, uint32_t & out, uint32_t fallback, uint32_t min, uint32_t max,
                       std::string & err, const char * why) const {
    if (!has(key)) {
        out = fallback;
        return true;
    }
    return u32(key, out, min, max, err, why);
}

bool GgufKeys::f32(const char * key, float & out, float min, float max, std::string & err, const char * why) const {
    int64_t id;
    if (!typed(key, GGUF_TYPE_FLOAT32, id, err)) return false;
    const float v = gguf_get_val_f32(ctx_, id);
    if (!std::isfinite(v) || v < min || v > max) {
        err = path_ + ": key '" + key + "' = " + std::to_string(v) + " is outside [" + std::to_string(min) + ", " +
              std::to_string(max) + "]" + (why ? std::string(" (") + why + ")" : std::string());
        return false;
    }
    out = v;
    return true;
}

bool GgufKeys::opt_bool(const char * key, bool & out, bool fallback, std::string & err) const {
    if (!has(key)) {
        out = fallback;
        return true;
    }
    int64_t id;
    if (!typed(key, GGUF_TYPE_BOOL, id, err)) return false;
    out = gguf_get_val_bool(ctx_, id);
    return true;
}

bool GgufKeys::str(const char * key, std::string & out, std::string & err) const {
    int64_t id;
    if (!typed(key, GGUF_TYPE_STRING, id, err)) return false;
    out = gguf_get_val_str(ctx_, id);
    return true;
}

bool GgufKeys::f32_array(const char * key, float * out, size_t n, std::string & err) const {
    int64_t id;
    if (!typed(key, GGUF_TYPE_ARRAY, id, err)) return false;
    const gguf_type at = gguf_get_arr_type(ctx_, id);
    if (at != GGUF_TYPE_FLOAT32 || gguf_get_arr_n(ctx_, id) != n) {
        err = path_ + ": key '" + key + "' must be an array of " + std::to_string(n) + " float32, found " +
              std::to_string(gguf_get_arr_n(ctx_, id)) + " of " + gguf_type_name(at);
        return false;
    }
    memcpy(out, gguf_get_arr_data(ctx_, id), n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        if (!std::isfinite(out[i])) {
            err = path_ + ": key '" + key + "' holds a non-finite value";
            return false;
        }
    }
    return true;
}

}  // namespace ggpt
