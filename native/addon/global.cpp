// global.cpp (addon) - process-wide functions: system info, the log sink.
#include <napi.h>

#include <mutex>
#include <string>

#include "groundinggpt.h"
#include "model.h"

namespace ggpt::addon {

namespace {

// The JS log sink: core lines (any thread) go through an unref'd thread-safe function.
struct LogSink {
    Napi::ThreadSafeFunction tsfn;
    bool active = false;
};
std::mutex g_sink_mutex;
LogSink * g_sink = nullptr;  // one sink per process (the core's log sink is process-wide)

void on_log(ggpt_log_level level, const char * text, void * user) {
    auto * sink = (LogSink *)user;
    auto * line = new std::pair<int, std::string>((int)level, text ? text : "");
    const napi_status st = sink->tsfn.NonBlockingCall(line, [](Napi::Env env, Napi::Function fn, std::pair<int, std::string> * l) {
        if (env) {
            try {
                fn.Call({Napi::Number::New(env, l->first), Napi::String::New(env, l->second)});
            } catch (const Napi::Error &) {
                // a throwing logger must not take the process down; the line is lost
            }
        }
        delete l;
    });
    if (st != napi_ok) delete line;
}

void release_sink() {
    // after ggpt_log_set(NULL) returns no call is in flight (the core holds its lock while calling)
    ggpt_log_set(nullptr, nullptr, GGPT_LOG_WARN);
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    if (g_sink) {
        g_sink->tsfn.Release();
        delete g_sink;
        g_sink = nullptr;
    }
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
    release_sink();
    if (!info[0].IsFunction()) return env.Undefined();
    auto * sink = new LogSink();
    sink->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "groundinggpt.log", 0, 1);
    sink->tsfn.Unref(env);
    {
        std::lock_guard<std::mutex> lock(g_sink_mutex);
        g_sink = sink;
    }
    ggpt_log_set(on_log, sink, (ggpt_log_level)min_level);
    return env.Undefined();
}

void RegisterGlobal(Napi::Env env, Napi::Object exports) {
    ggpt_backend_init();
    exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
    exports.Set("setLogger", Napi::Function::New(env, SetLogger, "setLogger"));
    env.AddCleanupHook([] { release_sink(); });
}

}  // namespace ggpt::addon
