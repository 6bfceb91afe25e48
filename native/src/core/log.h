// log.h - internal logging into the sink installed with ggpt_log_set.
#pragma once
#include <string>

#include "groundinggpt.h"

#include <cstddef>
#include <string>

namespace ggpt {
// Writes msg into a caller's error buffer (truncated, NUL-terminated; nothing when err is NULL or
// err_len is 0), for the C API functions that have no handle to keep a last error on.
void copy_error(char * err, size_t err_len, const std::string & msg);

void log(ggpt_log_level level, const char * fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Records the error lines logged on the calling thread while it lives (nested
// captures: the innermost one records), so a failure inside libllama/ggml can be reported with
// libllama's own reason ("tensor 'x' data is not within the file bounds").
class LogCapture {
public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture &) = delete;
    LogCapture & operator=(const LogCapture &) = delete;
    // The first error line (the most specific one: later lines say "failed to load model"),
    // "" if none.
    const std::string & first_error() const { return first_error_; }
    void record(ggpt_log_level level, const std::string & line);

private:
    LogCapture * outer_;
    std::string first_error_;
};

}  // namespace ggpt

#define GGPT_LOG_D(...) ::ggpt::log(GGPT_LOG_DEBUG, __VA_ARGS__)
#define GGPT_LOG_I(...) ::ggpt::log(GGPT_LOG_INFO, __VA_ARGS__)
#define GGPT_LOG_W(...) ::ggpt::log(GGPT_LOG_WARN, __VA_ARGS__)
#define GGPT_LOG_E(...) ::ggpt::log(GGPT_LOG_ERROR, __VA_ARGS__)
