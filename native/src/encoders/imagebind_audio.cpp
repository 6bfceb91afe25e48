// imagebind_audio.cpp - ImageBind-Huge's audio modality (video_llama/models/ImageBind/models:
// AudioPreprocessor, SimpleTransformer trunk with add_bias_kv, head, postprocessor), for all clips
// of one sound in one batch (docs/COMPUTATION.md §4.5; get_audio_feature).
#include "encoders/graphs.h"

namespace ggpt {

ggml_tensor * build_imagebind(Graph & g, const AudioTower & a, ggml_tensor * fbank) {
    ggml_context * ctx = g.ctx;
    g.weights_like(a.blocks.empty() ? nullptr : a.blocks[0].qkv.w);
    const ImageBindHParams & hp = a.hp;
    const int64_t n_clips = fbank->ne[3];

    // rgbt_stem: Conv2d(1 -> W, kernel k, stride s, no bias) over [n_mels, target_len], tokens
    // row-major over mel rows then time; norm_layer (LayerNorm, stem eps); cls token; positions
    ggml_tensor * x = patch_embed(g, fbank, a.patch_w, hp.stride);  // [W, n_tokens, n_clips]
    x = layer_norm(ctx, x, a.stem_ln, hp.stem_eps);
    x = prepend_cls(ctx, x, a.cls);
    x = ggml_add(ctx, x, as_f32(ctx, a.pos));
    g.mark(x);

    // trunk: no pre-transformer LN for audio; blocks x += MHA(LN1 x); x += MLP(LN2 x). The head
    // reads only the class token, so the last block computes that row alone.
    for (size_t i = 0; i < a.blocks.size(); ++i) {
        x = vit_block(g, x, a.blocks[i], hp.n_head, hp.eps, Act::gelu_erf, i + 1 == a.blocks.size());
        ggml_format_name(x, "imagebind.blk.%zu", i);
        g.mark(x);
    }

    // head: LayerNorm, SelectElement(0) (the class token; x is [W, 1, n_clips] by now), Linear
    // without bias
    x = layer_norm(ctx, x, a.head_ln, hp.eps);
    ggml_tensor * feat = ggml_view_2d(ctx, x, x->ne[0], n_clips, x->nb[2], 0);  // [W, n_clips]
    feat = ggml_cont(ctx, feat);
    ggml_set_name(feat, "imagebind_feature");
    ggml_tensor * y = ggml_mul_mat(ctx, a.head_proj, feat);  // [out_dim, n_clips]
    // postprocessor: Normalize(dim=-1) then LearnableLogitScaling (fixed scale)
    y = ggml_l2_norm(ctx, y, 1e-12f);
    y = ggml_scale(ctx, y, hp.logit_scale);
    ggml_set_name(y, "imagebind_out");
    return y;
}

}  // namespace ggpt
