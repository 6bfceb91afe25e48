// fuzz_reader.h - decoding of the fuzz input into parameters (docs/RELIABILITY.md "Fuzzing").
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fuzz {

// Little-endian fields read from the front of the input; past the end they read as zero, so
// every input decodes to some parameters.
struct Reader {
    const uint8_t * p;
    size_t n, pos = 0;
    Reader(const uint8_t * data, size_t size) : p(data), n(size) {}
    uint8_t u8() { return pos < n ? p[pos++] : 0; }
    uint16_t u16() {
        uint16_t v = u8();
        return (uint16_t)(v | (uint16_t)u8() << 8);
    }
    uint32_t u32() {
        uint32_t v = u16();
        return v | (uint32_t)u16() << 16;
    }
    float f32() {
        uint32_t b = u32();
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
    const uint8_t * rest() const { return p + (pos < n ? pos : n); }
    size_t rest_size() const { return pos < n ? n - pos : 0; }
};

}  // namespace fuzz
