// ops.h - the parameters of the module's custom ops, one scheme for all of them.
//
// Every op (amx_mul_mat, amx_attention, amx_layer_norm_bf16) is a ggml_custom_4d whose userdata
// points to its parameter struct below. new_op_params places that struct in the graph's own ggml
// context (ggml_new_buffer), so each graph node has its own copy, living exactly as long as the
// node. Each struct starts with the node's work-sharing counters (work_share.h). The module does
// not read or write the tensor's op_params: their layout (ggml_custom_op_params, in ggml's private
// ggml-impl.h) belongs to ggml. Internal to native/src/amx.
#pragma once
#include <new>
#include <type_traits>

#include "ggml.h"

#include "amx/pack.h"
#include "amx/work_share.h"

namespace ggpt::amx_detail {

// the largest parameter struct below (amx_op_overhead() counts on it)
inline constexpr size_t kMaxOpParamsSize = 64;

// amx_mul_mat: y = act(W x + bias) + res. The sources are x, then bias when has_bias, then res
// when has_res.
struct LinearOpParams {
    WorkShareCounters share;
    const AmxWeight * w = nullptr;
    AmxAct act = AmxAct::none;
    bool has_bias = false, has_res = false;
};

// amx_attention: softmax(scale q k^T) v over n_head heads. The sources are q, k, v, then bias_k
// and bias_v when given.
struct AttentionOpParams {
    WorkShareCounters share;
    int n_head = 1;
    float scale = 1.0f;
};

// amx_layer_norm_bf16: (x - mean) / sqrt(var + eps) * w + b. The sources are x, w, b.
struct LayerNormOpParams {
    WorkShareCounters share;
    float eps = 0.0f;
};

// A copy of init in ctx's memory pool (freed with ctx). ctx must have room for it: amx_op_overhead()
// bytes per op beyond its tensors (amx.h).
template <class T> T * new_op_params(ggml_context * ctx, const T & init) {
    static_assert(std::is_trivially_destructible<T>::value, "freed with the context, never destroyed");
    static_assert(alignof(T) <= GGML_MEM_ALIGN, "ggml aligns the objects of a context to GGML_MEM_ALIGN");
    static_assert(sizeof(T) <= kMaxOpParamsSize, "amx_op_overhead() budgets kMaxOpParamsSize bytes per op");
    return new (ggml_new_buffer(ctx, sizeof(T))) T(init);
}

}  // namespace ggpt::amx_detail
