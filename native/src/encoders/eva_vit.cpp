// eva_vit.cpp - BLIP-2's EVA ViT-g (video_llama/models/eva_vit.py: abs positions, no rel-pos bias,
// no layer scale, no final norm), ln_vision and the per-frame Q-Former, batched over frames
// (docs/COMPUTATION.md §3.4-3.5; LEGO.py encode_videoQformer_visual up to query_output).
#include "encoders/graphs.h"

namespace ggpt {

ggml_tensor * build_eva_qformer(Graph & g, const VideoTower & v, ggml_tensor * frames) {
    ggml_context * ctx = g.ctx;
    g.weights_like(v.blocks.empty() ? nullptr : v.blocks[0].qkv.w);
    const EvaHParams & hp = v.hp;

    // PatchEmbed: Conv2d with bias; then cls_token and pos_embed
    ggml_tensor * x = patch_embed(g, frames, v.patch_w, hp.patch_size);  // [W, n_patches, B]
    x = ggml_add(ctx, x, v.patch_b);
    x = prepend_cls(ctx, x, v.cls);  // [W, n_patches + 1, B]
    x = ggml_add(ctx, x, as_f32(ctx, v.pos));
    g.mark(x);

    // blocks: fused qkv with bias cat(q_bias, 0, v_bias), q scaled by head_dim^-0.5, exact GELU
    for (size_t i = 0; i < v.blocks.size(); ++i) {
        x = vit_block(g, x, v.blocks[i], hp.n_head, hp.eps, Act::gelu_erf);
        ggml_format_name(x, "eva.blk.%zu", i);
        g.mark(x);
    }
    x = layer_norm(ctx, x, v.ln_vision, hp.ln_vision_eps);
    ggml_set_name(x, "eva_ln_vision");

    ggml_tensor * q = qformer(g, v.qf, x, "qformer");  // [qf W, n_query, B]
    ggml_set_name(q, "qformer");
    return q;
}

}  // namespace ggpt
