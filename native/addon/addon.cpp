// addon.cpp - module entry: registers each area's functions on the exports object.
#include <napi.h>

#include "groundinggpt.h"

namespace ggpt::addon {
// Each area lives in its own file and adds its functions to `exports`.
void RegisterGlobal(Napi::Env env, Napi::Object exports);
void RegisterPreprocess(Napi::Env env, Napi::Object exports);
void RegisterModel(Napi::Env env, Napi::Object exports);  // model.cpp: createCancel, loadModel
void RegisterNames(Napi::Env env, Napi::Object exports);
void RegisterQuantize(Napi::Env env, Napi::Object exports);
}  // namespace ggpt::addon

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    ggpt::addon::RegisterGlobal(env, exports);
    ggpt::addon::RegisterPreprocess(env, exports);
    ggpt::addon::RegisterModel(env, exports);
    ggpt::addon::RegisterNames(env, exports);
    ggpt::addon::RegisterQuantize(env, exports);
    return exports;
}

NODE_API_MODULE(groundinggpt, Init)
