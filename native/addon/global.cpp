// global.cpp (addon) - process-wide functions: system info.
#include <napi.h>

#include "groundinggpt.h"

namespace ggpt::addon {

static Napi::Value SystemInfo(const Napi::CallbackInfo & info) {
    return Napi::String::New(info.Env(), ggpt_system_info());
}

void RegisterGlobal(Napi::Env env, Napi::Object exports) {
    exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
}

}  // namespace ggpt::addon
