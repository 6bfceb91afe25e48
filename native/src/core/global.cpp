// global.cpp - process-wide state: log sink, backend loading, status names, system info.
#include "groundinggpt.h"

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#include <atomic>
#include <cstdarg>
#if defined(GGPT_BACKEND_DL)
#  if defined(_WIN32)
#    include <windows.h>
#  else
#    include <dlfcn.h>
#  endif
#endif
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <string>

#include "core/log.h"

namespace {

std::mutex g_log_mutex;
ggpt_log_fn g_log_fn = nullptr;
void * g_log_user = nullptr;
std::atomic<int> g_log_min{GGPT_LOG_WARN};

ggpt_log_level from_ggml(ggml_log_level level) {
    switch (level) {
        case GGML_LOG_LEVEL_ERROR: return GGPT_LOG_ERROR;
        case GGML_LOG_LEVEL_WARN: return GGPT_LOG_WARN;
        case GGML_LOG_LEVEL_INFO: return GGPT_LOG_INFO;
        default: return GGPT_LOG_DEBUG;
    }
}

// ggml and libllama log in fragments (GGML_LOG_LEVEL_CONT continues the previous line); we
// buffer until a newline so the sink receives whole lines.
thread_local std::string t_line;
thread_local ggpt_log_level t_line_level = GGPT_LOG_INFO;

thread_local ggpt::LogCapture * t_capture = nullptr;

void emit(ggpt_log_level level, const std::string & text) {
    if (t_capture) t_capture->record(level, text);
    std::lock_guard<std::mutex> lock(g_log_mutex);
    if (g_log_fn && (int)level >= g_log_min.load()) g_log_fn(level, text.c_str(), g_log_user);
}

void ggml_sink(ggml_log_level level, const char * text, void *) {
    if (level != GGML_LOG_LEVEL_CONT) t_line_level = from_ggml(level);
    t_line += text ? text : "";
    size_t nl;
    while ((nl = t_line.find('\n')) != std::string::npos) {
        emit(t_line_level, t_line.substr(0, nl));
        t_line.erase(0, nl + 1);
    }
}

std::once_flag g_backend_once;

#if defined(GGPT_BACKEND_DL)
// Folder of the binary this code is linked into (the addon), where the portable build puts the
// CPU-variant modules (libggml-cpu-<level>.so) and, with CUDA, libggml-cuda.
std::string own_dir() {
#  if defined(_WIN32)
    HMODULE mod = nullptr;
    char path[MAX_PATH] = {0};
    if (GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                           reinterpret_cast<LPCSTR>(&own_dir), &mod) &&
        GetModuleFileNameA(mod, path, MAX_PATH) > 0) {
        std::string p(path);
        size_t slash = p.find_last_of("\\/");
        return slash == std::string::npos ? std::string(".") : p.substr(0, slash);
    }
#  else
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&own_dir), &info) && info.dli_fname) {
        std::string p(info.dli_fname);
        size_t slash = p.find_last_of('/');
        return slash == std::string::npos ? std::string(".") : p.substr(0, slash);
    }
#  endif
    return ".";
}
#endif

}  // namespace

namespace ggpt {

void copy_error(char * err, size_t err_len, const std::string & msg) {
    if (!err || err_len == 0) return;
    const size_t n = std::min(msg.size(), err_len - 1);
    memcpy(err, msg.data(), n);
    err[n] = '\0';
}

void log(ggpt_log_level level, const char * fmt, ...) {
    if ((int)level < g_log_min.load()) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(level, buf);
}

LogCapture::LogCapture() : outer_(t_capture) { t_capture = this; }
LogCapture::~LogCapture() { t_capture = outer_; }

void LogCapture::record(ggpt_log_level level, const std::string & line) {
    if (level >= GGPT_LOG_ERROR && first_error_.empty()) first_error_ = line;
}

}  // namespace ggpt

extern "C" {

const char * ggpt_status_name(ggpt_status status) {
    switch (status) {
        case GGPT_OK: return "ok";
        case GGPT_ERR_INVALID_ARGUMENT: return "invalid_argument";
        case GGPT_ERR_IO: return "io";
        case GGPT_ERR_FORMAT: return "format";
        case GGPT_ERR_UNSUPPORTED: return "unsupported";
        case GGPT_ERR_ABORTED: return "aborted";
        case GGPT_ERR_CONTEXT_FULL: return "context_full";
        case GGPT_ERR_OUT_OF_MEMORY: return "out_of_memory";
        case GGPT_ERR_BACKEND: return "backend";
        case GGPT_ERR_INTERNAL: return "internal";
        case GGPT_ERR_REMOTE: return "remote";
    }
    return "unknown";
}

void ggpt_log_set(ggpt_log_fn fn, void * user, ggpt_log_level min_level) {
    {
        std::lock_guard<std::mutex> lock(g_log_mutex);
        g_log_fn = fn;
        g_log_user = user;
        g_log_min.store(min_level);
    }
    ggml_log_set(ggml_sink, nullptr);
    llama_log_set(ggml_sink, nullptr);
}

void ggpt_backend_init(void) {
    std::call_once(g_backend_once, [] {
        // Route ggml/libllama logs through our sink from the start (nothing printed to stderr
        // unless a sink is installed).
        ggml_log_set(ggml_sink, nullptr);
        llama_log_set(ggml_sink, nullptr);
        llama_backend_init();
#if defined(GGPT_BACKEND_DL)
        // portable build: pick the best CPU variant (and GPU backends) shipped next to us
        ggml_backend_load_all_from_path(own_dir().c_str());
#else
        ggml_backend_load_all();
#endif
    });
}

const char * ggpt_system_info(void) {
    ggpt_backend_init();
    static std::string info = [] {
        std::string s = llama_print_system_info();
        s += " | devices:";
        for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            s += " ";
            s += ggml_backend_dev_name(dev);
        }
        if (ggml_backend_reg_by_name("RPC")) s += " | rpc client";  // docs/RELIABILITY.md "RPC devices"
        return s;
    }();
    return info.c_str();
}

}  // extern "C"
