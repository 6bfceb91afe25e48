// quantize.cpp (addon) - converter support: quantizeLlm (async, libllama's quantiser),
// rowSize and quantizeRows (synchronous, ggml row quantisation). See src/native.ts.
#include <napi.h>

#include <string>
#include <vector>

#include "groundinggpt.h"
#include "args.h"   // invalid()
#include "model.h"  // status_error()

namespace ggpt::addon {

namespace {

class QuantizeLlmWorker : public Napi::AsyncWorker {
public:
    QuantizeLlmWorker(Napi::Env env, std::string in, std::string out, ggpt_ftype ftype, int32_t threads)
        : Napi::AsyncWorker(env, "groundinggpt.quantizeLlm"), deferred_(Napi::Promise::Deferred::New(env)),
          in_(std::move(in)), out_(std::move(out)), ftype_(ftype), threads_(threads) {}

    Napi::Promise Promise() const { return deferred_.Promise(); }

    void Execute() override {
        char err[1024] = {0};
        status_ = ggpt_quantize_llm(in_.c_str(), out_.c_str(), ftype_, threads_, err, sizeof err);
        message_ = err;
    }
    // Nothing may throw out of these: at an environment's teardown (a Worker ended while this ran)
    // JS cannot run, settling fails, and an exception would reach Node and abort the process.
    void OnOK() override {
        try {
            Napi::Env env = Env();
            if (status_ == GGPT_OK) {
                deferred_.Resolve(env.Undefined());
            } else {
                deferred_.Reject(status_error(env, status_, message_).Value());
            }
        } catch (...) {}
    }
    void OnError(const Napi::Error & e) override {
        try {
            deferred_.Reject(e.Value());
        } catch (...) {}
    }

private:
    Napi::Promise::Deferred deferred_;
    std::string in_, out_;
    ggpt_ftype ftype_;
    int32_t threads_;
    ggpt_status status_ = GGPT_OK;
    std::string message_;
};

// quantizeLlm(inPath, outPath, ftype: 'f32' | 'f16' | 'q8_0' | 'q4_k_m', threads): Promise<void>
Napi::Value QuantizeLlm(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsNumber()) {
        throw invalid(env, "quantizeLlm(inPath, outPath, ftype, threads)");
    }
    const std::string ft = info[2].As<Napi::String>().Utf8Value();
    ggpt_ftype ftype;
    if (ft == "f32") ftype = GGPT_FTYPE_F32;
    else if (ft == "f16") ftype = GGPT_FTYPE_F16;
    else if (ft == "q8_0") ftype = GGPT_FTYPE_Q8_0;
    else if (ft == "q4_k_m") ftype = GGPT_FTYPE_Q4_K_M;
    else throw invalid(env, "quantizeLlm: unknown ftype " + ft);
    auto * w =
        new QuantizeLlmWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                              ftype, info[3].As<Napi::Number>().Int32Value());
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
}

// rowSize(ggmlType, nPerRow): number (-1 when the type cannot hold such rows)
Napi::Value RowSize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
        throw invalid(env, "rowSize(ggmlType, nPerRow)");
    return Napi::Number::New(
        env, (double)ggpt_row_size(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int64Value()));
}

// quantizeRows(ggmlType, data: Float32Array, nRows, nPerRow): Buffer
Napi::Value QuantizeRows(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
        !info[3].IsNumber()) {
        throw invalid(env, "quantizeRows(ggmlType, data: Float32Array, nRows, nPerRow)");
    }
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array) throw invalid(env, "quantizeRows: data must be a Float32Array");
    Napi::Float32Array data = info[1].As<Napi::Float32Array>();
    const int32_t type = info[0].As<Napi::Number>().Int32Value();
    const int64_t n_rows = info[2].As<Napi::Number>().Int64Value();
    const int64_t n_per_row = info[3].As<Napi::Number>().Int64Value();
    if (n_rows < 0 || n_per_row <= 0 || (double)n_rows * (double)n_per_row > (double)data.ElementLength()) {
        throw invalid(env, "quantizeRows: data holds " + std::to_string(data.ElementLength()) +
                               " values, fewer than nRows * nPerRow");
    }
    const int64_t row = ggpt_row_size(type, n_per_row);
    if (row < 0) {
        throw invalid(env, "quantizeRows: ggml type " + std::to_string(type) + " cannot hold rows of " +
                               std::to_string(n_per_row));
    }
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, (size_t)(row * n_rows));
    const int64_t written = ggpt_quantize_rows(type, data.Data(), out.Data(), n_rows, n_per_row);
    if (written != row * n_rows) throw status_error(env, GGPT_ERR_INTERNAL, "quantizeRows failed");
    return out;
}

}  // namespace

void RegisterQuantize(Napi::Env env, Napi::Object exports) {
    exports.Set("quantizeLlm", Napi::Function::New(env, QuantizeLlm, "quantizeLlm"));
    exports.Set("rowSize", Napi::Function::New(env, RowSize, "rowSize"));
    exports.Set("quantizeRows", Napi::Function::New(env, QuantizeRows, "quantizeRows"));
}

}  // namespace ggpt::addon
