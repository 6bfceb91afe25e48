// features.h (addon) - NativeFeatures: a tower's output kept in native memory, handed to JS as a
// handle (src/native.ts). A turn (turn.cpp) creates one per media item it encodes and takes one
// in place of an input to reuse it; the rows go to the prompt without a copy. JS reads them only
// when asked (data(), a copy) and frees them with release() or by dropping the handle (the
// garbage collector then frees them; V8 is told their size).
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "groundinggpt.h"

namespace ggpt::addon {

// Immutable once made: shared between the handle and the operations that read it.
struct FeatureRows {
    ggpt_media media = GGPT_MEDIA_IMAGE;
    int32_t rows = 0, width = 0;
    std::vector<float> data;  // rows x width
};

// Features the towers made recently, by the identity their prompt spans give them (the content
// hash), while some handle or turn still holds them: a turn that needs the same image or video as
// one encoded a moment ago (concurrent calls, before either reached the feature cache of
// src/features.ts) takes those rows instead of running the tower again. Compute thread only.
struct FeatureMemo {
    std::unordered_map<uint64_t, std::weak_ptr<const FeatureRows>> rows;
    std::shared_ptr<const FeatureRows> find(uint64_t id, ggpt_media media) const {
        auto it = rows.find(id);
        if (id == 0 || it == rows.end()) return nullptr;
        auto r = it->second.lock();
        return r && r->media == media ? r : nullptr;
    }
    void add(uint64_t id, const std::shared_ptr<const FeatureRows> & r) {
        if (id == 0) return;
        if (rows.size() >= 64) {
            for (auto it = rows.begin(); it != rows.end();) it = it->second.expired() ? rows.erase(it) : std::next(it);
        }
        rows[id] = r;
    }
};

class NativeFeatures : public Napi::ObjectWrap<NativeFeatures> {
public:
    // Defines the class of this environment (RegisterModel).
    static void define(Napi::Env env);
    // A handle for rows.
    static Napi::Object wrap(Napi::Env env, std::shared_ptr<const FeatureRows> rows);
    // The rows behind a handle argument; throws INVALID_ARGUMENT for anything else or a released one.
    static std::shared_ptr<const FeatureRows> rows_of(Napi::Env env, const Napi::Value & v, const std::string & what);

    explicit NativeFeatures(const Napi::CallbackInfo & info);
    ~NativeFeatures() override;

private:
    Napi::Value kind(const Napi::CallbackInfo & info);
    Napi::Value rows(const Napi::CallbackInfo & info);
    Napi::Value width(const Napi::CallbackInfo & info);
    Napi::Value bytes(const Napi::CallbackInfo & info);
    Napi::Value released(const Napi::CallbackInfo & info);
    Napi::Value data(const Napi::CallbackInfo & info);
    Napi::Value release(const Napi::CallbackInfo & info);
    void drop(napi_env env);

    std::shared_ptr<const FeatureRows> rows_;
    int64_t external_ = 0;  // bytes reported to V8 as external memory
};

}  // namespace ggpt::addon
