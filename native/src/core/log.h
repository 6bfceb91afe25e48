// log.h - internal logging into the sink installed with ggpt_log_set.
#pragma once
#include "groundinggpt.h"

namespace ggpt {
void log(ggpt_log_level level, const char * fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
}  // namespace ggpt

#define GGPT_LOG_D(...) ::ggpt::log(GGPT_LOG_DEBUG, __VA_ARGS__)
#define GGPT_LOG_I(...) ::ggpt::log(GGPT_LOG_INFO, __VA_ARGS__)
#define GGPT_LOG_W(...) ::ggpt::log(GGPT_LOG_WARN, __VA_ARGS__)
#define GGPT_LOG_E(...) ::ggpt::log(GGPT_LOG_ERROR, __VA_ARGS__)
