// global.cpp (addon) - process-wide functions: system info, the log sink.
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>

#include "groundinggpt.h"
#include "model.h"

namespace ggpt::addon {

namespace {

// The JS log sink: core lines (any thread) go through an unref'd thread-safe function.
struct LogSink {
    napi_threadsafe_function tsfn = nullptr;
    napi_env env = nullptr;  // the environment that installed it
};
std::mutex g_sink_mutex;
LogSink * g_sink = nullptr;  // one sink per process (the core's log sink is process-wide)

// Main thread of the sink's environment; env == nullptr: the line is dropped (the environment is
// going away). Nothing may unwind into Node: plain Node-API calls, the logger's exception cleared.
void call_log(napi_env env, napi_value fn, void *, void * data) {
    std::unique_ptr<std::pair<int, std::string>> line((std::pair<int, std::string> *)data);
    if (!env || !fn || !line) return;
    napi_value args[2], undefined, result;
    if (napi_create_int32(env, line->first, &args[0]) != napi_ok ||
        napi_create_string_utf8(env, line->second.data(), line->second.size(), &args[1]) != napi_ok ||
        napi_get_undefined(env, &undefined) != napi_ok)
        return;
    if (napi_call_function(env, undefined, fn, 2, args, &result) != napi_ok) {
        // a throwing logger must not take the process down; the line is lost
        bool pending = false;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
            napi_value e;
            napi_get_and_clear_last_exception(env, &e);
        }
    }
}

void on_log(ggpt_log_level level, const char * text, void * user) {
    auto * sink = (LogSink *)user;
    auto * line = new std::pair<int, std::string>((int)level, text ? text : "");
    if (napi_call_threadsafe_function(sink->tsfn, line, napi_tsfn_nonblocking) != napi_ok) delete line;
}

// Uninstalls the sink (only if env installed it, unless env is nullptr).
void release_sink(napi_env env) {
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    if (!g_sink || (env && g_sink->env != env)) return;
    // after ggpt_log_set(NULL) returns no call is in flight (the core holds its lock while calling)
    ggpt_log_set(nullptr, nullptr, GGPT_LOG_WARN);
    napi_release_threadsafe_function(g_sink->tsfn, napi_tsfn_release);
    delete g_sink;
    g_sink = nullptr;
}

}  // namespace

static Napi::Value SystemInfo(const Napi::CallbackInfo & info) {
    return Napi::String::New(info.Env(), ggpt_system_info());
}

// setLogger(fn | null, minLevel)
static Napi::Value SetLogger(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNull() && !info[0].IsUndefined() && !info[0].IsFunction())
        throw make_error(env, "INVALID_ARGUMENT", "expected a function or null");
    int min_level = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : GGPT_LOG_WARN;
    min_level = std::max(0, std::min(3, min_level));
    release_sink(nullptr);
    if (!info[0].IsFunction()) return env.Undefined();
    auto sink = std::make_unique<LogSink>();
    sink->env = env;
    if (napi_create_threadsafe_function(env, info[0], nullptr, Napi::String::New(env, "groundinggpt.log"), 0, 1,
                                        nullptr, nullptr, nullptr, call_log, &sink->tsfn) != napi_ok)
        throw make_error(env, "INTERNAL", "could not create the log thread-safe function");
    napi_unref_threadsafe_function(env, sink->tsfn);
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    g_sink = sink.release();
    ggpt_log_set(on_log, g_sink, (ggpt_log_level)min_level);
    return env.Undefined();
}

void RegisterGlobal(Napi::Env env, Napi::Object exports) {
    ggpt_backend_init();
    exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
    exports.Set("setLogger", Napi::Function::New(env, SetLogger, "setLogger"));
    // at the environment's teardown: a sink it installed goes (another environment's stays)
    napi_add_env_cleanup_hook(
        env, [](void * arg) { release_sink((napi_env)arg); }, (napi_env)env);
}

}  // namespace ggpt::addon
