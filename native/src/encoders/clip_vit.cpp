// clip_vit.cpp - CLIP ViT-L/14-336 vision tower (transformers CLIPVisionModel) up to the selected
// layer, and GroundingGPT's image projector mm_vision_projector = Linear, GELU, Linear (docs/COMPUTATION.md §2.5-6).
#include "encoders/graphs.h"

namespace ggpt {

ggml_tensor * build_clip(Graph & g, const ClipTower & c, ggml_tensor * pixels) {
    ggml_context * ctx = g.ctx;
    g.weights_like(c.blocks.empty() ? nullptr : c.blocks[0].q.w);
    const ClipHParams & hp = c.hp;
    // quick_gelu exactly with f32 weights; with f16 / q8_0 weights the MLP's down projection rounds
    // its input to f16 / q8_0 anyway, so ggml's faster lookup-table version costs no real accuracy
    const bool f32_down = c.blocks.empty() || c.blocks[0].down.w->type == GGML_TYPE_F32;
    const Act act = !hp.quick_gelu ? Act::gelu_erf : f32_down ? Act::quick_gelu : Act::quick_gelu_lut;

    // CLIPVisionEmbeddings: patch conv (no bias), class token first, learned positions
    ggml_tensor * x = patch_embed(g, pixels, c.patch_w, hp.patch_size);  // [W, n_patches, 1]
    x = prepend_cls(ctx, x, c.cls);                                      // [W, n_patches + 1, 1]
    x = ggml_add(ctx, x, as_f32(ctx, c.pos));
    x = layer_norm(ctx, x, c.pre_ln, hp.eps);  // pre_layrnorm
    g.mark(x);

    // encoder layers 0 .. n_block-1; the file holds exactly the layers up to hidden_states[-2]
    for (size_t i = 0; i < c.blocks.size(); ++i) {
        x = vit_block(g, x, c.blocks[i], hp.n_head, hp.eps, act);
        ggml_format_name(x, "clip.blk.%zu", i);
        g.mark(x);
    }
    const int64_t W = x->ne[0], T = x->ne[1];
    x = ggml_reshape_2d(ctx, x, W, T);
    ggml_set_name(x, "clip_select_hidden");  // no post_layernorm

    // select_feature 'patch': drop the class token (rows 1..T-1 are contiguous)
    ggml_tensor * feat = ggml_view_2d(ctx, x, W, T - 1, x->nb[1], x->nb[1]);
    ggml_tensor * y = ffn(g, feat, c.proj0, c.proj2, Act::gelu_erf);  // [llm_n_embd, n_patches]
    ggml_set_name(y, "projected");
    return y;
}

}  // namespace ggpt
