// qformer.cpp - the BLIP-2 Q-Former (video_llama/models/Qformer.py, text parts deleted upstream) and
// the two tails that use it: frame positions + video Q-Former + llama_proj (LEGO.py
// encode_videoQformer_visual) and clip positions + audio Q-Former + audio_llama_proj
// (encode_audioQformer).
#include <cmath>

#include "encoders/graphs.h"

namespace ggpt {

// One post-LN BERT layer of the Q-Former (query branch only): video_llama/models/Qformer.py BertLayer
// with query_length == all tokens: self-attention, cross-attention where present, intermediate_query
// / output_query. No masks (all-ones attention masks upstream).
static ggml_tensor * qformer_block(Graph & g, ggml_tensor * h, const QFormerBlockW & b, ggml_tensor * enc, int n_head,
                                   float eps) {
    ggml_context * ctx = g.ctx;
    const float scale = 1.0f / std::sqrt((float)(h->ne[0] / n_head));
    ggml_tensor * a = attention(g, linear(g, h, b.q), linear(g, h, b.k), linear(g, h, b.v), n_head, scale);
    h = layer_norm(ctx, linear(g, a, b.o, h), b.ln, eps);
    if (b.has_cross) {
        a = attention(g, linear(g, h, b.xq), linear(g, enc, b.xk), linear(g, enc, b.xv), n_head, scale);
        h = layer_norm(ctx, linear(g, a, b.xo, h), b.xln, eps);
    }
    return layer_norm(ctx, ffn(g, h, b.up, b.down, Act::gelu_erf, h), b.ffn_ln, eps);
}

ggml_tensor * qformer(Graph & g, const QFormerW & q, ggml_tensor * enc, const char * name) {
    ggml_context * ctx = g.ctx;
    const QFormerHParams & hp = q.hp;
    g.weights_like(q.blocks.empty() ? nullptr : q.blocks[0].q.w);
    const int64_t B = enc->ne[2];
    // bert.embeddings with query_embeds only: LayerNorm(query_tokens) (dropout is off)
    ggml_tensor * h = layer_norm(ctx, as_f32(ctx, q.query), q.emb_ln, hp.eps);  // [W, NQ]
    if (B > 1) h = ggml_repeat_4d(ctx, h, hp.n_embd, hp.n_query, B, 1);
    else h = ggml_reshape_3d(ctx, h, hp.n_embd, hp.n_query, 1);
    for (size_t i = 0; i < q.blocks.size(); ++i) {
        h = qformer_block(g, h, q.blocks[i], enc, hp.n_head, hp.eps);
        ggml_format_name(h, "%s.blk.%zu", name, i);
        g.mark(h);
    }
    return h;
}

ggml_tensor * build_video_tail(Graph & g, const VideoTower & v, ggml_tensor * frame_q) {
    ggml_context * ctx = g.ctx;
    const int64_t W = frame_q->ne[0], NQ = frame_q->ne[1], T = frame_q->ne[2];
    // video_frame_position_embedding[t] added to all queries of frame t
    ggml_tensor * pos = as_f32(ctx, v.frame_pos);  // [W, max_frames]
    pos = ggml_view_3d(ctx, pos, W, 1, T, pos->nb[1], pos->nb[1], 0);
    ggml_tensor * x = ggml_add(ctx, frame_q, pos);
    // '(b t) q h -> b (t q) h': frames one after the other as the keys of the video Q-Former
    x = ggml_reshape_3d(ctx, x, W, NQ * T, 1);
    ggml_tensor * h = qformer(g, v.vqf, x, "vqformer");  // [vqf W, vqf n_query, 1]
    h = ggml_reshape_2d(ctx, h, h->ne[0], h->ne[1]);
    ggml_set_name(h, "video_qformer");
    ggml_tensor * out = linear(g, h, v.proj);
    ggml_set_name(out, "projected");
    return out;
}

ggml_tensor * build_audio_tail(Graph & g, const AudioTower & a, ggml_tensor * clips) {
    ggml_context * ctx = g.ctx;
    const int64_t D = clips->ne[0], n = clips->ne[1];
    // audio_position_embedding[k] added to clip k
    ggml_tensor * pos = as_f32(ctx, a.clip_pos);  // [D, n_pos]
    pos = ggml_view_2d(ctx, pos, D, n, pos->nb[1], 0);
    ggml_tensor * x = ggml_reshape_3d(ctx, ggml_add(ctx, clips, pos), D, n, 1);
    ggml_tensor * h = qformer(g, a.aqf, x, "aqformer");
    h = ggml_reshape_2d(ctx, h, h->ne[0], h->ne[1]);
    ggml_set_name(h, "audio_qformer");
    ggml_tensor * out = linear(g, h, a.proj);
    ggml_set_name(out, "projected");
    return out;
}

}  // namespace ggpt
