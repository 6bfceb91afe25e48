// amx.h - the AMX kernels of the towers (x86 CPUs with AMX, Sapphire Rapids and later), as ggml
// CPU custom ops: an AMX-BF16 (or INT8) matrix multiply for the Linear layers, attention, and a
// LayerNorm that writes the matmul's bf16 input. Weights are repacked once (pack.h), activations
// are rounded to bf16 and products accumulated in f32 by the tile unit; the price is bf16 rounding
// (8-bit mantissa) of both operands. On CPUs with AVX512-BF16 and no AMX the same ops run on
// vdpbf16ps dot products instead of the tiles (dot.h; the weight's Bf16Kernel decides). Where the
// build has no AMX (detect.h) the op builders return null; on a CPU without either unit
// (tower_bf16_available() false) they must not be used.
#pragma once
#include "ggml.h"

#include "amx/detect.h"
#include "amx/pack.h"

namespace ggpt {

// y = act(W xb + bias) + res for xb [K, N] bf16 (contiguous), bias [M] f32 or null and res [M, N]
// f32 (contiguous) or null -> [M, N] of type out (f32, or bf16 when the next consumer is another
// amx_mul_mat: the rounding it would do anyway). A CPU custom op (ggml_custom_4d) over the
// context's threads. gelu_erf is erf-exact to ~2e-7 absolute; quick_gelu is x * sigmoid(1.702 x)
// in f32 (no f16 table).
ggml_tensor * amx_mul_mat(ggml_context * ctx, const AmxWeight * w, ggml_tensor * xb, ggml_tensor * bias,
                          AmxAct act = AmxAct::none, ggml_type out = GGML_TYPE_F32, ggml_tensor * res = nullptr);

// LayerNorm over rows (ne[0]) of x (f32, rows contiguous) with weight w and bias b ([ne0] f32),
// statistics in f32 (two passes), result rounded to bf16 ([ne0, ne1, ne2] contiguous): the input
// of the next amx_mul_mat, in one pass instead of ggml's norm, mul, add and cast.
ggml_tensor * amx_layer_norm_bf16(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b, float eps);

// softmax(scale q k^T) v per head for q [W, Tq, B], k and v [W, Tk, B] (all f32 or all bf16, rows
// contiguous: views of a fused qkv are fine), W = n_head x head size (any head size) -> [W, Tq, B]
// of type out (f32, or bf16 for a next amx_mul_mat), heads side by side in each row. q, k, P and v
// are rounded to bf16 for the tile products; the softmax and the normalisation are f32. No mask.
// bias_k / bias_v ([W] f32, both or neither): one extra key / value row after the Tk given
// (nn.MultiheadAttention's add_bias_kv). The products on `unit`. A CPU custom op over the
// context's threads.
ggml_tensor * amx_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, int n_head,
                            float scale, ggml_tensor * bias_k = nullptr, ggml_tensor * bias_v = nullptr,
                            ggml_type out = GGML_TYPE_F32, Bf16Kernel unit = default_bf16_kernel());

// Each op above keeps its parameters in ctx's memory pool (amx/ops.h): a graph context needs this
// many bytes per op beyond ggml_tensor_overhead() per tensor.
size_t amx_op_overhead();

}  // namespace ggpt
