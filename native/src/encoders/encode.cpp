// encode.cpp - the tower entry points of the C API (ggpt_encode_image / video / audio / probe) and
// the per-context compute state: a ggml_backend_sched over [GPU?, CPU] whose buffers are kept and
// reused across calls, progress per block, abort through the CPU backend and between chunks.
// Every argument is validated here, before anything reaches ggml. (Over 500 lines: the compute
// state and the three entry points share the scheduler and the validation; the graphs themselves
// are in one file per tower.)
//
// Tuning knobs are fields of ggpt_context_params (encoders_*) and ggpt_model_params
// (encoders_matmul); the core reads no environment variables.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <chrono>
#include <map>
#include <memory>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"

#include "core/context.h"
#include "core/log.h"
#include "core/model.h"
#include "core/rpc.h"
#include "encoders/encode.h"
#include "encoders/graphs.h"
#include "encoders/profile.h"

namespace ggpt {

struct EncoderState {
    ggml_backend_t gpu = nullptr;  // when the weights live on a GPU
    ggml_backend_t cpu = nullptr;
    ggml_backend_sched_t sched = nullptr;
    size_t graph_size = 0;
    std::vector<uint8_t> graph_mem;  // metadata of the graph being built
    int n_threads = 1;
    int frames_per_batch = 0;      // EVA frames per graph (0 = from the memory budget)
    bool flash_attn = false;       // fused attention (CPU only: the GPU kernels want f16 K/V)
    bool fuse = true;              // AMX path fusions, see Graph::fuse (encoders_fuse < 0: off)
    std::unique_ptr<OpHook> hook;  // the AMX kernels' when the CPU weights were repacked for them

    // encoders_profile: per-node times instead of the progress callback (profile.h), else null
    std::unique_ptr<NodeProfiler> profiler;

    // the call in progress
    const ggpt_encode_params * params = nullptr;
    const Graph * graph = nullptr;
    float p0 = 0.0f, p1 = 1.0f;        // progress range of the running graph
    std::atomic<bool> aborted{false};  // set from ggml's worker threads too

    // wall times of the last ggpt_encode_* call (ggpt_encode_last_timings)
    double last_preprocess_ms = 0.0, last_tower_ms = 0.0;

    ~EncoderState() {
        if (sched) ggml_backend_sched_free(sched);
        if (gpu) ggml_backend_free(gpu);
        if (cpu) ggml_backend_free(cpu);
    }
};

void encoder_state_free(EncoderState * s) { delete s; }

namespace {

ggpt_status fail(ggpt_context * ctx, ggpt_status st, const char * fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

ggpt_status fail(ggpt_context * ctx, ggpt_status st, const char * fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->last_error = buf;
    return st;
}

const char * media_name(ggpt_media m) {
    return m == GGPT_MEDIA_IMAGE ? "image" : m == GGPT_MEDIA_VIDEO ? "video" : "audio";
}

// ---- compute state --------------------------------------------------------------------------

size_t graph_size_for(const Encoders & e) {
    // generous per-block node budgets (a ViT block is ~40 nodes, a Q-Former block ~80)
    size_t blocks = e.clip.blocks.size() + e.video.blocks.size() + e.audio.blocks.size();
    size_t qblocks = e.video.qf.blocks.size() + e.video.vqf.blocks.size() + e.audio.aqf.blocks.size();
    return 1024 + 64 * blocks + 128 * qblocks;
}

bool cpu_abort_cb(void * data) {
    EncoderState * s = (EncoderState *)data;
    if (!s->aborted && s->params && s->params->abort && s->params->abort(s->params->abort_user)) s->aborted = true;
    return s->aborted;
}

double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool eval_cb(ggml_tensor * t, bool ask, void * data) {
    EncoderState * s = (EncoderState *)data;
    auto it = s->graph->marks.find(t);
    if (ask) return it != s->graph->marks.end();
    if (it == s->graph->marks.end()) return true;
    const ggpt_encode_params * p = s->params;
    if (p->abort && p->abort(p->abort_user)) s->aborted = true;
    if (!s->aborted && p->progress) {
        const float f = s->p0 + (s->p1 - s->p0) * (float)(it->second + 1) / (float)std::max(1, s->graph->n_marks);
        if (!p->progress(f, p->progress_user)) s->aborted = true;
    }
    return !s->aborted;
}

ggpt_status ensure_state(ggpt_context * ctx) {
    if (ctx->enc_state) return GGPT_OK;
    const Encoders & e = *ctx->model->enc;
    std::unique_ptr<EncoderState, EncoderStateDeleter> s(new EncoderState());
    if (ggml_backend_dev_type(e.dev) != GGML_BACKEND_DEVICE_TYPE_CPU) {
        s->gpu = ggml_backend_dev_init(e.dev, nullptr);
        if (!s->gpu)
            return fail(ctx, GGPT_ERR_BACKEND, "encoders: cannot initialise the %s backend", e.backend_name.c_str());
    }
    // The CPU backend through the registry only: in portable builds it is a module chosen at run
    // time (one per instruction-set level), so its own functions cannot be linked directly.
    ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    s->cpu = cpu_dev ? ggml_backend_dev_init(cpu_dev, nullptr) : nullptr;
    if (!s->cpu) return fail(ctx, GGPT_ERR_BACKEND, "encoders: cannot initialise the CPU backend");
    int nt = ctx->params.n_threads_batch > 0 ? ctx->params.n_threads_batch : ctx->params.n_threads;
    if (nt <= 0) nt = (int)std::max(1u, std::thread::hardware_concurrency());
    s->n_threads = nt;
    ggml_backend_reg_t cpu_reg = ggml_backend_dev_backend_reg(cpu_dev);
    auto set_n_threads =
        (ggml_backend_set_n_threads_t)ggml_backend_reg_get_proc_address(cpu_reg, "ggml_backend_set_n_threads");
    auto set_abort = (void (*)(ggml_backend_t, ggml_abort_callback, void *))ggml_backend_reg_get_proc_address(
        cpu_reg, "ggml_backend_set_abort_callback");
    if (!set_n_threads || !set_abort)
        return fail(ctx, GGPT_ERR_BACKEND, "encoders: the CPU backend lacks thread/abort controls");
    set_n_threads(s->cpu, nt);
    set_abort(s->cpu, cpu_abort_cb, s.get());
    ggml_backend_t backends[2];
    int n = 0;
    if (s->gpu) backends[n++] = s->gpu;
    backends[n++] = s->cpu;
    s->graph_size = graph_size_for(e);
    s->sched = ggml_backend_sched_new(backends, nullptr, n, s->graph_size, false, false);
    if (!s->sched) return fail(ctx, GGPT_ERR_BACKEND, "encoders: cannot create the backend scheduler");
    // (+ the parameters of each AMX op, kept in the graph's context)
    s->graph_mem.resize((ggml_tensor_overhead() + amx_op_overhead()) * s->graph_size +
                        ggml_graph_overhead_custom(s->graph_size, false));
    if (!s->gpu && e.amx_on) s->hook = make_amx_hook(&e.amx);  // filled as each tower loads
    const ggpt_context_params & cp = ctx->params;
    if (cp.encoders_profile > 0) s->profiler.reset(new NodeProfiler(cp.encoders_profile >= 2));
    // CPU: fused attention (f32 K/V, f32 accumulation) is about 20% faster over a whole CLIP encode
    // than matmul + softmax + matmul here, at the same accuracy. GPU kernels want f16 K/V: off.
    s->flash_attn = !s->gpu && cp.encoders_flash_attn >= 0;
    s->fuse = cp.encoders_fuse >= 0;
    s->frames_per_batch = std::max(0, cp.encoders_frames_per_batch);
    ctx->enc_state = std::move(s);
    return GGPT_OK;
}

// A graph being built in the state's metadata memory (one at a time per context).
struct GraphScope {
    Graph g;
    explicit GraphScope(EncoderState & s) {
        ggml_init_params ip = {s.graph_mem.size(), s.graph_mem.data(), /*no_alloc*/ true};
        g.ctx = ggml_init(ip);
        g.gf = ggml_new_graph_custom(g.ctx, s.graph_size, false);
        g.flash_attn = s.flash_attn;
        g.hook = s.hook.get();
        g.fuse = s.fuse;
    }
    ~GraphScope() { ggml_free(g.ctx); }
};

// Marks a named tensor as a graph output (so the allocator keeps it) and returns it.
ggml_tensor * want(Graph & g, const char * name) {
    ggml_tensor * t = ggml_graph_get_tensor(g.gf, name);
    if (!t) return nullptr;
    ggml_set_output(t);
    if (t->view_src) ggml_set_output(t->view_src);  // a view's memory belongs to its source
    return t;
}

ggml_tensor * new_input(Graph & g, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, const char * name) {
    ggml_tensor * t = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, ne0, ne1, ne2, ne3);
    ggml_set_name(t, name);
    ggml_set_input(t);
    return t;
}

struct Input {
    ggml_tensor * t;
    const float * data;
};

// Allocates, uploads the inputs, computes. Progress over [p0, p1] of the call.
ggpt_status compute(ggpt_context * ctx, Graph & g, std::initializer_list<Input> inputs, float p0, float p1) {
    EncoderState & s = *ctx->enc_state;
    if (s.aborted || (s.params->abort && s.params->abort(s.params->abort_user)))
        return fail(ctx, GGPT_ERR_ABORTED, "encode aborted");
    if (ggml_graph_n_nodes(g.gf) >= (int)s.graph_size)
        return fail(ctx, GGPT_ERR_INTERNAL, "encoders: graph too large (%d nodes)", ggml_graph_n_nodes(g.gf));
    ggml_backend_sched_reset(s.sched);
    // plan the allocation for this graph: the allocator would otherwise reuse the previous plan of a
    // same-shaped graph whose output flags (probes) differ, and compute in place over an output.
    // Reserving splits the graph, which points every source that crosses backends (the input, on
    // the CPU, under the first GPU op) at a copy made in the scheduler's own context; the next
    // split frees that context. So the graph's own sources are put back before the real split:
    // otherwise, with weights on a GPU, the towers read a stale copy instead of their input.
    const int n_nodes = ggml_graph_n_nodes(g.gf);
    std::vector<ggml_tensor *> srcs((size_t)n_nodes * GGML_MAX_SRC);
    for (int i = 0; i < n_nodes; ++i)
        std::copy_n(ggml_graph_node(g.gf, i)->src, GGML_MAX_SRC, srcs.begin() + (size_t)i * GGML_MAX_SRC);
    const bool reserved = ggml_backend_sched_reserve(s.sched, g.gf);
    for (int i = 0; i < n_nodes; ++i)
        std::copy_n(srcs.begin() + (size_t)i * GGML_MAX_SRC, GGML_MAX_SRC, ggml_graph_node(g.gf, i)->src);
    if (!reserved) return fail(ctx, GGPT_ERR_OUT_OF_MEMORY, "encoders: cannot allocate the compute buffers");
    ggml_backend_sched_reset(s.sched);
    if (!ggml_backend_sched_alloc_graph(s.sched, g.gf))
        return fail(ctx, GGPT_ERR_OUT_OF_MEMORY, "encoders: cannot allocate the compute buffers");
    {  // the buffers' sizes for ggpt_context_memory (read from other threads)
        const int64_t gpu = s.gpu ? (int64_t)ggml_backend_sched_get_buffer_size(s.sched, s.gpu) : 0;
        ctx->tower_compute_bytes = (int64_t)ggml_backend_sched_get_buffer_size(s.sched, s.cpu) + gpu;
        ctx->tower_compute_device = gpu;
    }
    for (const Input & in : inputs) ggml_backend_tensor_set(in.t, in.data, 0, ggml_nbytes(in.t));
    s.graph = &g;
    s.p0 = p0;
    s.p1 = p1;
    if (s.profiler) {
        ggml_backend_sched_set_eval_callback(s.sched, NodeProfiler::eval_cb, s.profiler.get());
        s.profiler->start();
    } else {
        const bool watch = s.params->progress || s.params->abort;
        ggml_backend_sched_set_eval_callback(s.sched, watch ? eval_cb : nullptr, &s);
    }
    const ggml_status st = ggml_backend_sched_graph_compute(s.sched, g.gf);
    if (s.profiler) s.profiler->report();
    ggml_backend_sched_set_eval_callback(s.sched, nullptr, nullptr);
    s.graph = nullptr;
    // towers on an RPC device whose connection failed (docs/RELIABILITY.md "RPC devices")
    std::string rpc_err;
    if (rpc_check(ctx->model, rpc_err) != GGPT_OK) return fail(ctx, GGPT_ERR_REMOTE, "%s", rpc_err.c_str());
    if (s.aborted || st == GGML_STATUS_ABORTED) return fail(ctx, GGPT_ERR_ABORTED, "encode aborted");
    if (st != GGML_STATUS_SUCCESS)
        return fail(ctx, GGPT_ERR_BACKEND, "encoders: compute failed (ggml status %d)", (int)st);
    return GGPT_OK;
}

// Copies a computed output (contiguous f32) into dst.
ggpt_status read_out(ggpt_context * ctx, ggml_tensor * t, float * dst) {
    if (!t || t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t))
        return fail(ctx, GGPT_ERR_INTERNAL, "encoders: output '%s' is not readable", t ? ggml_get_name(t) : "?");
    ggml_backend_tensor_get(t, dst, 0, ggml_nbytes(t));
    std::string rpc_err;  // zeros, not features, when an RPC connection failed during the read
    if (rpc_check(ctx->model, rpc_err) != GGPT_OK) return fail(ctx, GGPT_ERR_REMOTE, "%s", rpc_err.c_str());
    return GGPT_OK;
}

// ---- probes ---------------------------------------------------------------------------------

// A requested intermediate: its name, its shape (outermost first) and where it is gathered.
struct Probe {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

const char * const IMAGE_PROBES = "pixel_values,clip_select_hidden,image_features,projected";
const char * const VIDEO_PROBES = "pixel_values,eva_ln_vision,qformer,video_qformer,projected";
const char * const AUDIO_PROBES = "imagebind_feature,imagebind_out,audio_qformer,projected";

// Shape of a probe for an input of n_items (frames or clips); empty when the name is unknown.
std::vector<int64_t> probe_shape(const Encoders & e, ggpt_media m, const std::string & name, int64_t n_items) {
    const int64_t llm = e.llm_n_embd;
    if (m == GGPT_MEDIA_IMAGE) {
        const ClipHParams & hp = e.clip.hp;
        const int64_t np = hp.n_patches();
        if (name == "pixel_values") return {3, hp.image_size, hp.image_size};
        if (name == "clip_select_hidden") return {np + 1, hp.n_embd};
        if (name == "image_features") return {np, hp.n_embd};
        if (name == "projected") return {np, llm};
    } else if (m == GGPT_MEDIA_VIDEO) {
        const VideoTower & v = e.video;
        if (name == "pixel_values") return {n_items, 3, v.hp.image_size, v.hp.image_size};
        if (name == "eva_ln_vision") return {n_items, v.hp.n_patches() + 1, v.hp.n_embd};
        if (name == "qformer") return {n_items, v.qf.hp.n_query, v.qf.hp.n_embd};
        if (name == "video_qformer") return {v.vqf.hp.n_query, v.vqf.hp.n_embd};
        if (name == "projected") return {v.vqf.hp.n_query, llm};
    } else {
        const AudioTower & a = e.audio;
        if (name == "imagebind_feature") return {n_items, a.hp.n_embd};
        if (name == "imagebind_out") return {n_items, a.hp.out_dim};
        if (name == "audio_qformer") return {a.aqf.hp.n_query, a.aqf.hp.n_embd};
        if (name == "projected") return {a.aqf.hp.n_query, llm};
    }
    return {};
}

// ---- towers ---------------------------------------------------------------------------------

// pixels: 3 x S x S floats (CHW). out: n_patches x llm_n_embd, may be null when probing.
ggpt_status run_image(ggpt_context * ctx, const float * pixels, float * out, Probe * probe) {
    const Encoders & e = *ctx->model->enc;
    const ClipTower & c = e.clip;
    const int64_t S = c.hp.image_size;
    if (probe && probe->name == "pixel_values") {
        probe->data.assign(pixels, pixels + 3 * S * S);
        return GGPT_OK;
    }
    GraphScope gs(*ctx->enc_state);
    Graph & g = gs.g;
    ggml_tensor * inp = new_input(g, S, S, 3, 1, "pixels");
    ggml_tensor * y = build_clip(g, c, inp);
    ggml_build_forward_expand(g.gf, y);
    ggml_tensor * proj = want(g, "projected");
    ggml_tensor * pt = nullptr;
    if (probe) pt = want(g, probe->name == "image_features" ? "clip_select_hidden" : probe->name.c_str());
    ggpt_status st = compute(ctx, g, {{inp, pixels}}, 0.0f, 1.0f);
    if (st != GGPT_OK) return st;
    if (out && (st = read_out(ctx, proj, out)) != GGPT_OK) return st;
    if (probe) {
        std::vector<float> buf(ggml_nelements(pt));
        if ((st = read_out(ctx, pt, buf.data())) != GGPT_OK) return st;
        if (probe->name == "image_features") buf.erase(buf.begin(), buf.begin() + c.hp.n_embd);  // drop CLS
        probe->data = std::move(buf);
    }
    return GGPT_OK;
}

// Frames per EVA graph: bounded activation memory (CPU ~0.5 GiB, GPU ~2 GiB).
int frames_per_batch(const EncoderState & s, const VideoTower & v) {
    if (s.frames_per_batch > 0) return s.frames_per_batch;
    const double T = v.hp.n_patches() + 1, W = v.hp.n_embd, F = v.hp.n_ff, H = v.hp.n_head;
    const double per_frame = 4.0 * T * (6.0 * W + 2.0 * F + 2.0 * H * T);
    const double budget = s.gpu ? 2.0 * (1 << 30) : 0.5 * (1 << 30);
    return (int)std::max(1.0, std::floor(budget / per_frame));
}

// frames: n RGB8 frames of S x S (HWC). out: n_query x llm_n_embd, may be null when probing.
ggpt_status run_video(ggpt_context * ctx, const uint8_t * const * frames, int32_t n, float * out, Probe * probe) {
    const Encoders & e = *ctx->model->enc;
    const VideoTower & v = e.video;
    const VideoPreParams & pre = ctx->model->video_pre;
    EncoderState & s = *ctx->enc_state;
    const int64_t S = v.hp.image_size, plane = S * S;
    const int64_t QW = v.qf.hp.n_embd, NQ = v.qf.hp.n_query;

    // docs/COMPUTATION.md §3.3: ((u8 / 255) - mean) / std in float32, HWC -> CHW
    auto normalise = [&](const uint8_t * src, float * dst) {
        for (int c = 0; c < 3; ++c) {
            const float m = pre.mean[c], sd = pre.std[c];
            float * d = dst + c * plane;
            for (int64_t i = 0; i < plane; ++i) d[i] = ((float)src[3 * i + c] / 255.0f - m) / sd;
        }
    };
    if (probe && probe->name == "pixel_values") {
        probe->data.resize((size_t)n * 3 * plane);
        for (int t = 0; t < n; ++t) normalise(frames[t], probe->data.data() + (size_t)t * 3 * plane);
        return GGPT_OK;
    }
    const bool probe_eva = probe && (probe->name == "eva_ln_vision" || probe->name == "qformer");
    if (probe_eva) probe->data.clear();

    const int fpb = std::min<int>(n, frames_per_batch(s, v));
    const int n_chunks = (n + fpb - 1) / fpb;
    const float share = probe_eva ? 1.0f : 0.95f;  // progress: frames, then the video Q-Former
    std::vector<float> frame_q((size_t)n * NQ * QW);
    std::vector<float> pixels;
    ggpt_status st;
    for (int c = 0; c < n_chunks; ++c) {
        const int t0 = c * fpb, nb = std::min(fpb, n - t0);
        pixels.resize((size_t)nb * 3 * plane);
        for (int t = 0; t < nb; ++t) normalise(frames[t0 + t], pixels.data() + (size_t)t * 3 * plane);
        GraphScope gs(s);
        Graph & g = gs.g;
        ggml_tensor * inp = new_input(g, S, S, 3, nb, "frames");
        ggml_tensor * q = build_eva_qformer(g, v, inp);
        ggml_build_forward_expand(g.gf, q);
        want(g, "qformer");
        ggml_tensor * pt = probe_eva ? want(g, probe->name.c_str()) : nullptr;
        st = compute(ctx, g, {{inp, pixels.data()}}, share * c / n_chunks, share * (c + 1) / n_chunks);
        if (st != GGPT_OK) return st;
        if ((st = read_out(ctx, q, frame_q.data() + (size_t)t0 * NQ * QW)) != GGPT_OK) return st;
        if (pt) {
            const size_t off = probe->data.size();
            probe->data.resize(off + ggml_nelements(pt));
            if ((st = read_out(ctx, pt, probe->data.data() + off)) != GGPT_OK) return st;
        }
    }
    if (probe_eva) return GGPT_OK;

    GraphScope gs(s);
    Graph & g = gs.g;
    ggml_tensor * inp = new_input(g, QW, NQ, n, 1, "frame_queries");
    ggml_tensor * y = build_video_tail(g, v, ggml_reshape_3d(g.ctx, inp, QW, NQ, n));
    ggml_build_forward_expand(g.gf, y);
    ggml_tensor * proj = want(g, "projected");
    ggml_tensor * pt = probe ? want(g, probe->name.c_str()) : nullptr;
    if ((st = compute(ctx, g, {{inp, frame_q.data()}}, share, 1.0f)) != GGPT_OK) return st;
    if (out && (st = read_out(ctx, proj, out)) != GGPT_OK) return st;
    if (pt) {
        probe->data.resize(ggml_nelements(pt));
        if ((st = read_out(ctx, pt, probe->data.data())) != GGPT_OK) return st;
    }
    return GGPT_OK;
}

// fbank: n_clips x n_mels x target_len floats. out: n_query x llm_n_embd, may be null when probing.
ggpt_status run_audio(ggpt_context * ctx, const float * fbank, int32_t n_clips, float * out, Probe * probe) {
    const AudioTower & a = ctx->model->enc->audio;
    GraphScope gs(*ctx->enc_state);
    Graph & g = gs.g;
    ggml_tensor * inp = new_input(g, a.hp.target_len, a.hp.n_mels, 1, n_clips, "fbank");
    ggml_tensor * y = build_audio_tail(g, a, build_imagebind(g, a, inp));
    ggml_build_forward_expand(g.gf, y);
    ggml_tensor * proj = want(g, "projected");
    ggml_tensor * pt = probe ? want(g, probe->name.c_str()) : nullptr;
    ggpt_status st = compute(ctx, g, {{inp, fbank}}, 0.0f, 1.0f);
    if (st != GGPT_OK) return st;
    if (out && (st = read_out(ctx, proj, out)) != GGPT_OK) return st;
    if (pt) {
        probe->data.resize(ggml_nelements(pt));
        if ((st = read_out(ctx, pt, probe->data.data())) != GGPT_OK) return st;
    }
    return GGPT_OK;
}

// ---- validation -----------------------------------------------------------------------------

using TowerLock = std::shared_lock<std::shared_mutex>;

// The tower is there, the compute state made, and the tower's weights resident and held (read
// now if they were not: docs/ARCHITECTURE.md "Towers on demand") while `use` lives.
ggpt_status check_tower(ggpt_context * ctx, ggpt_media m, TowerLock & use, const ggpt_encode_params * params) {
    if ((int)m < 0 || (int)m > 2) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "unknown media %d", (int)m);
    if (!ctx->model || !ctx->model->enc || !ctx->model->enc->has_media[m])
        return fail(ctx, GGPT_ERR_UNSUPPORTED,
                    "this model has no %s tower (load it with an encoders file that holds one)", media_name(m));
    std::string rpc_err;
    if (rpc_check(ctx->model, rpc_err) != GGPT_OK) return fail(ctx, GGPT_ERR_REMOTE, "%s", rpc_err.c_str());
    ggpt_status st = ensure_state(ctx);
    if (st != GGPT_OK) return st;
    std::string err;
    if ((st = tower_use(*ctx->model->enc, m, params, use, err)) != GGPT_OK) return fail(ctx, st, "%s", err.c_str());
    return GGPT_OK;
}

ggpt_status check_video(ggpt_context * ctx, const uint8_t * const * frames, int32_t n) {
    const VideoTower & v = ctx->model->enc->video;
    if (n < 1 || n > v.max_frames)
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT,
                    "video: %d frames, expected 1 to %d (the frame position table size)", n, v.max_frames);
    if (!frames) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "video: frames is NULL");
    for (int32_t t = 0; t < n; ++t)
        if (!frames[t]) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "video: frame %d is NULL", t);
    return GGPT_OK;
}

ggpt_status check_audio(ggpt_context * ctx, const float * fbank, int32_t n_clips) {
    const AudioTower & a = ctx->model->enc->audio;
    const int32_t n_pos = (int32_t)a.clip_pos->ne[1];
    if (n_clips < 1 || n_clips > n_pos)
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT,
                    "audio: %d clips, expected 1 to %d (the clip position table size; %d is usual)", n_clips, n_pos,
                    a.n_clips);
    if (!fbank) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "audio: fbank is NULL");
    const int64_t n = (int64_t)n_clips * a.hp.n_mels * a.hp.target_len;
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(fbank[i]))
            return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "audio: fbank value %lld is not finite", (long long)i);
    return GGPT_OK;
}

// docs/COMPUTATION.md §2 preprocessing (ggpt_image_preprocess) into CHW pixels.
ggpt_status image_pixels(ggpt_context * ctx, const ggpt_image_u8 * image, std::vector<float> & pixels) {
    if (!image || !image->data)
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "image: %s is NULL", image ? "image->data" : "image");
    if (image->width <= 0 || image->height <= 0)
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "image: size %dx%d, expected at least 1x1", image->width,
                    image->height);
    const int64_t S = ctx->model->enc->clip.hp.image_size;
    pixels.resize(3 * S * S);
    char err[512] = "";
    ggpt_status st = ggpt_image_preprocess(ctx->model, image, nullptr, pixels.data(), nullptr, err, sizeof err);
    if (st != GGPT_OK) return fail(ctx, st, "%s", err[0] ? err : "image preprocessing failed");
    return GGPT_OK;
}

struct CallScope {  // installs the call's params in the state for the callbacks
    EncoderState & s;
    CallScope(EncoderState & st, const ggpt_encode_params * p, const ggpt_encode_params & defaults) : s(st) {
        s.params = p ? p : &defaults;
        s.aborted = false;
    }
    ~CallScope() { s.params = nullptr; }
};

}  // namespace

ggpt_status encode_image_pixels(ggpt_context * ctx, const float * pixels, float * out,
                                const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, GGPT_MEDIA_IMAGE, use, params);
    if (st != GGPT_OK) return st;
    if (!pixels || !out) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "image: pixels or out is NULL");
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    return run_image(ctx, pixels, out, nullptr);
}

ggpt_status encode_probe_pixels(ggpt_context * ctx, const float * pixels, const char * name, std::vector<float> & out,
                                std::vector<int64_t> & shape, const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, GGPT_MEDIA_IMAGE, use, params);
    if (st != GGPT_OK) return st;
    if (!pixels || !name) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "probe: pixels or name is NULL");
    Probe probe;
    probe.name = name;
    probe.shape = probe_shape(*ctx->model->enc, GGPT_MEDIA_IMAGE, probe.name, 1);
    if (probe.shape.empty()) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "probe: unknown image probe '%s'", name);
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    if ((st = run_image(ctx, pixels, nullptr, &probe)) != GGPT_OK) return st;
    out = std::move(probe.data);
    shape = probe.shape;
    return GGPT_OK;
}

}  // namespace ggpt

using namespace ggpt;

// No C++ exception crosses the C API: allocation failures become GGPT_ERR_OUT_OF_MEMORY.
template <class F> static ggpt_status guarded(ggpt_context * ctx, F && f) {
    try {
        return f();
    } catch (const std::bad_alloc &) {
        if (ctx) ctx->last_error = "encoders: out of memory";
        return GGPT_ERR_OUT_OF_MEMORY;
    } catch (const std::exception & e) {
        if (ctx) ctx->last_error = std::string("encoders: ") + e.what();
        return GGPT_ERR_INTERNAL;
    }
}

static ggpt_status ggpt_encode_image_impl(ggpt_context * ctx, const ggpt_image_u8 * image, float * out,
                                          const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, GGPT_MEDIA_IMAGE, use, params);
    if (st != GGPT_OK) return st;
    if (!out) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "image: out is NULL");
    std::vector<float> pixels;
    const double t0 = now_us();
    if ((st = image_pixels(ctx, image, pixels)) != GGPT_OK) return st;
    const double t1 = now_us();
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    st = run_image(ctx, pixels.data(), out, nullptr);
    ctx->enc_state->last_preprocess_ms = (t1 - t0) / 1000.0;
    ctx->enc_state->last_tower_ms = (now_us() - t1) / 1000.0;
    return st;
}

static ggpt_status ggpt_encode_video_impl(ggpt_context * ctx, const uint8_t * const * frames, int32_t n_frames,
                                          float * out, const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, GGPT_MEDIA_VIDEO, use, params);
    if (st != GGPT_OK) return st;
    if (!out) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "video: out is NULL");
    if ((st = check_video(ctx, frames, n_frames)) != GGPT_OK) return st;
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    const double t0 = now_us();
    st = run_video(ctx, frames, n_frames, out, nullptr);
    ctx->enc_state->last_preprocess_ms = 0.0;  // frame normalisation is part of the tower's input stage
    ctx->enc_state->last_tower_ms = (now_us() - t0) / 1000.0;
    return st;
}

static ggpt_status ggpt_encode_audio_impl(ggpt_context * ctx, const float * fbank, int32_t n_clips, float * out,
                                          const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, GGPT_MEDIA_AUDIO, use, params);
    if (st != GGPT_OK) return st;
    if (!out) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "audio: out is NULL");
    if ((st = check_audio(ctx, fbank, n_clips)) != GGPT_OK) return st;
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    const double t0 = now_us();
    st = run_audio(ctx, fbank, n_clips, out, nullptr);
    ctx->enc_state->last_preprocess_ms = 0.0;  // the fbank comes preprocessed (ggpt_audio_preprocess)
    ctx->enc_state->last_tower_ms = (now_us() - t0) / 1000.0;
    return st;
}

static ggpt_status ggpt_encode_probe_impl(ggpt_context * ctx, ggpt_media media, const void * input, int32_t n_items,
                                          const char * name, float * out, int64_t cap, int64_t * n_out,
                                          int64_t shape[4], int32_t * n_dims, const ggpt_encode_params * params) {
    if (!ctx) return GGPT_ERR_INVALID_ARGUMENT;
    TowerLock use;
    ggpt_status st = check_tower(ctx, media, use, params);
    if (st != GGPT_OK) return st;
    if (!name) return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "probe: name is NULL");
    const Encoders & e = *ctx->model->enc;
    Probe probe;
    probe.name = name;
    probe.shape = probe_shape(e, media, probe.name, n_items);
    if (probe.shape.empty())
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "probe: unknown %s probe '%s' (known: %s)", media_name(media), name,
                    ggpt_probe_names(media));
    // inputs are validated before the size check so a bad n_items is reported as such
    std::vector<float> pixels;
    if (media == GGPT_MEDIA_IMAGE) st = image_pixels(ctx, (const ggpt_image_u8 *)input, pixels);
    else if (media == GGPT_MEDIA_VIDEO) st = check_video(ctx, (const uint8_t * const *)input, n_items);
    else st = check_audio(ctx, (const float *)input, n_items);
    if (st != GGPT_OK) return st;
    const int64_t numel = probe.numel();
    if (n_out) *n_out = numel;
    if (shape) {
        for (int i = 0; i < 4; ++i) shape[i] = i < (int)probe.shape.size() ? probe.shape[i] : 0;
    }
    if (n_dims) *n_dims = (int32_t)probe.shape.size();
    if (!out || cap < numel)
        return fail(ctx, GGPT_ERR_INVALID_ARGUMENT, "probe '%s': needs %lld floats, cap is %lld", name,
                    (long long)numel, (long long)cap);
    const ggpt_encode_params defaults = ggpt_encode_default_params();
    CallScope scope(*ctx->enc_state, params, defaults);
    if (media == GGPT_MEDIA_IMAGE) st = run_image(ctx, pixels.data(), nullptr, &probe);
    else if (media == GGPT_MEDIA_VIDEO) st = run_video(ctx, (const uint8_t * const *)input, n_items, nullptr, &probe);
    else st = run_audio(ctx, (const float *)input, n_items, nullptr, &probe);
    if (st != GGPT_OK) return st;
    if ((int64_t)probe.data.size() != numel)
        return fail(ctx, GGPT_ERR_INTERNAL, "probe '%s': produced %zu values, expected %lld", name, probe.data.size(),
                    (long long)numel);
    std::memcpy(out, probe.data.data(), numel * sizeof(float));
    return GGPT_OK;
}

extern "C" {

ggpt_encode_params ggpt_encode_default_params(void) {
    ggpt_encode_params p;
    p.abort = nullptr;
    p.abort_user = nullptr;
    p.progress = nullptr;
    p.progress_user = nullptr;
    return p;
}

ggpt_status ggpt_encode_image(ggpt_context * ctx, const ggpt_image_u8 * image, float * out,
                              const ggpt_encode_params * params) {
    return guarded(ctx, [&] { return ggpt_encode_image_impl(ctx, image, out, params); });
}

ggpt_status ggpt_encode_video(ggpt_context * ctx, const uint8_t * const * frames, int32_t n_frames, float * out,
                              const ggpt_encode_params * params) {
    return guarded(ctx, [&] { return ggpt_encode_video_impl(ctx, frames, n_frames, out, params); });
}

ggpt_status ggpt_encode_audio(ggpt_context * ctx, const float * fbank, int32_t n_clips, float * out,
                              const ggpt_encode_params * params) {
    return guarded(ctx, [&] { return ggpt_encode_audio_impl(ctx, fbank, n_clips, out, params); });
}

ggpt_status ggpt_encode_probe(ggpt_context * ctx, ggpt_media media, const void * input, int32_t n_items,
                              const char * name, float * out, int64_t cap, int64_t * n_out, int64_t shape[4],
                              int32_t * n_dims, const ggpt_encode_params * params) {
    return guarded(ctx, [&] {
        return ggpt_encode_probe_impl(ctx, media, input, n_items, name, out, cap, n_out, shape, n_dims, params);
    });
}

void ggpt_encode_last_timings(const ggpt_context * ctx, double * preprocess_ms, double * tower_ms) {
    const bool have = ctx && ctx->enc_state;
    if (preprocess_ms) *preprocess_ms = have ? ctx->enc_state->last_preprocess_ms : 0.0;
    if (tower_ms) *tower_ms = have ? ctx->enc_state->last_tower_ms : 0.0;
}

void ggpt_context_release_tower_buffers(ggpt_context * ctx) {
    if (!ctx) return;
    ctx->enc_state.reset();
    ctx->tower_compute_bytes = 0;
    ctx->tower_compute_device = 0;
}

const char * ggpt_probe_names(ggpt_media media) {
    switch (media) {
        case GGPT_MEDIA_IMAGE: return IMAGE_PROBES;
        case GGPT_MEDIA_VIDEO: return VIDEO_PROBES;
        case GGPT_MEDIA_AUDIO: return AUDIO_PROBES;
    }
    return "";
}

}  // extern "C"
