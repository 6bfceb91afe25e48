// turn.cpp (addon) - NativeModel.turn (src/native.ts): one request as one operation on the model's
// compute thread, the way mtmd_helper_eval_chunks evaluates a prompt of text and media chunks:
//
//   turn({ media, spans, generate? }, cancel, onEvent?)
//     media[i]: { kind: 'image', rgb, width, height, stride } | { kind: 'video', frames }
//               | { kind: 'audio', fbank, clips } | { kind: 'audio', channels, sampleRate }
//                                                                 encoded by the towers now (PCM is
//                                                                 preprocessed first), or
//               { features: NativeFeatures }                      encoded before (the feature cache)
//     spans:    { tokens: Int32Array } | { media: i, id?: bigint }  the prompt; a media span is the rows
//               of media[i] (id: their identity for KV-cache reuse); empty: no prompt
//     generate: generation options (as generate()); absent: no generation
//     onEvent:  every progress and token of the turn through one stream, in order:
//               (i, fraction) for media[i] in a tower (i < 16), (16, fraction) for the prompt,
//               (17, token, piece) for each generated token, (32 + i, fraction) while the tower
//               of media[i] is read (its first use: docs/ARCHITECTURE.md "Towers on demand")
//   -> { media: [{ features?: NativeFeatures (when encoded now), preprocessMs, towerMs,
//                  audio?: { samples16k, duration, clips, padded } (PCM given) }],
//        prompt?: { nPrompt, nReused, nEvaluated, ms }, generate?: { tokens, text, stopReason, ms } }
//
// Features encoded here go to the prompt as they are (no copy) and come back as handles
// (features.h) for the caller's cache. Timings come back with the result. A cancel during the
// towers or the prompt rejects with ABORTED; during generation it resolves with stopReason
// 'aborted', like generate().
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "features.h"
#include "media_input.h"
#include "model.h"
#include "scheduler.h"

namespace ggpt::addon {

namespace {

constexpr uint32_t kMaxMedia = 16;
constexpr int32_t kPromptTag = 16, kTokenTag = 17;  // event tags after the media indexes
constexpr int32_t kLoadTag = 32;                    // + i: reading the tower media[i] needs (first use)

struct Item {
    std::shared_ptr<MediaInput> input;        // to encode, or
    std::shared_ptr<const FeatureRows> rows;  // encoded (given, or made by this turn)
    std::shared_ptr<Progress> progress;
    std::shared_ptr<Progress> load_progress;  // the tower's weights, when not resident yet
    bool encoded = false;
    bool shared = false;  // the rows of an identical item another turn encoded just before
    double preprocess_ms = 0, tower_ms = 0;
    int32_t held_rows = 0;   // neither: rows a restored snapshot holds (plan.restore)
    bool has_audio = false;  // a sound given as PCM: what its preprocessing found
    ggpt_audio_info audio{};
};

struct SpanArg {
    std::vector<int32_t> tokens;
    int32_t media = -1;
    uint64_t id = 0;
};

struct Baton {
    std::vector<Item> items;
    // the KV cache on disk (src/kvcache.ts): a snapshot to restore and the positions it keeps;
    // after the answer, a snapshot of the first `snapshot` positions to hand back
    std::vector<uint8_t> restore;
    int32_t restore_keep = 0;
    bool restored = false;
    int32_t snapshot = 0;
    uint8_t * state = nullptr;
    size_t state_len = 0;
    std::vector<SpanArg> spans;
    bool generate = false;
    GenerateArgs gen;
    ggpt_eval_result eval{};
    ggpt_generate_result result{};
    ~Baton() {
        ggpt_generate_result_free(&result);
        free(state);
    }
};

// The turn on the compute thread (scheduler.h): the towers item by item, then the task.
struct TurnRun : TurnJob {
    std::shared_ptr<Baton> b;
    ggpt_model * model = nullptr;
    CancelFlag cancel;
    std::shared_ptr<Progress> prompt_progress;
    int32_t n_embd = 0;
    int32_t n_rows[3] = {0, 0, 0};
    NativeModel::Complete complete;
    std::vector<ggpt_span> spans;  // the prompt, pointing into b (valid until finish)

    bool cancelled() const override { return cancel->load(); }

    // The identity the prompt gives media item i (0: none).
    uint64_t id_of(size_t i) const {
        for (const SpanArg & s : b->spans)
            if (s.media == (int32_t)i) return s.id;
        return 0;
    }

    bool encode_one(ggpt_context * ctx, FeatureMemo & memo, ggpt_status & st, std::string & err) override {
        for (size_t i = 0; i < b->items.size(); i++) {
            Item & item = b->items[i];
            if (!item.input) continue;
            // a sound's preprocessing reports its clips: not shared, always run
            const uint64_t id = item.input->media == GGPT_MEDIA_AUDIO ? 0 : id_of(i);
            if (auto same = memo.find(id, item.input->media)) {
                item.input.reset();
                item.rows = std::move(same);
                item.encoded = item.shared = true;
                return true;
            }
            // a sound's preprocessing first, then the tower
            const auto t0 = std::chrono::steady_clock::now();
            st = item.input->prepare(model, err);
            if (st != GGPT_OK) return false;
            item.audio = item.input->audio_info;
            item.has_audio = item.input->media == GGPT_MEDIA_AUDIO && item.audio.n_clips > 0;
            const double prep_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            auto rows = std::make_shared<FeatureRows>();
            rows->media = item.input->media;
            rows->rows = n_rows[rows->media];
            rows->width = n_embd;
            rows->data.resize((size_t)rows->rows * (size_t)n_embd);
            // the tower's weights, read now when no call has needed them yet (docs/ARCHITECTURE.md
            // "Towers on demand"): its own progress stage; a failure fails this turn only
            const uint32_t bit = 1u << item.input->media;
            if (!(ggpt_model_towers_resident(model) & bit)) {
                const ggpt_encode_params lp = encode_params(cancel, item.load_progress.get());
                char msg[1024] = "";
                st = ggpt_model_load_towers(model, bit, &lp, msg, sizeof msg);
                if (st != GGPT_OK) {
                    err = msg;
                    return false;
                }
            }
            const ggpt_encode_params p = encode_params(cancel, item.progress.get());
            st = item.input->encode(ctx, rows->data.data(), &p);
            if (st != GGPT_OK) {
                err = ggpt_context_last_error(ctx);
                return false;
            }
            ggpt_encode_last_timings(ctx, &item.preprocess_ms, &item.tower_ms);
            item.preprocess_ms += prep_ms;
            item.input.reset();  // the copy of the input is no longer needed
            memo.add(id, rows);
            item.rows = std::move(rows);
            item.encoded = true;
            return true;
        }
        return false;
    }

    ggpt_task_params task_params() override {
        ggpt_task_params p{};
        spans.resize(b->spans.size());
        for (size_t i = 0; i < spans.size(); i++) {
            const SpanArg & a = b->spans[i];
            ggpt_span & s = spans[i];
            s = ggpt_span{};
            if (a.media < 0) {
                s.type = GGPT_SPAN_TOKENS;
                s.n = (int32_t)a.tokens.size();
                s.tokens = a.tokens.data();
            } else if (const Item & item = b->items[(size_t)a.media]; item.rows) {
                s.type = GGPT_SPAN_EMBD;
                s.n = item.rows->rows;
                s.embd = item.rows->data.data();
                s.embd_id = a.id;
            } else {  // held: rows the restored snapshot has in the KV cache
                s.type = GGPT_SPAN_EMBD;
                s.n = item.held_rows;
                s.embd = nullptr;
                s.embd_id = a.id;
            }
        }
        p.spans = spans.data();
        p.n_spans = spans.size();
        p.generate = b->generate ? &b->gen.p : nullptr;
        p.eval = ggpt_eval_default_params();
        p.eval.abort = cancel_abort_fn;
        p.eval.abort_user = cancel.get();
        p.eval.progress = Progress::progress_fn;
        p.eval.progress_user = prompt_progress.get();
        return p;
    }

    const std::vector<uint8_t> * snapshot_to_restore(int32_t & n_keep) override {
        n_keep = b->restore_keep;
        return b->restore.empty() ? nullptr : &b->restore;
    }
    void restored(bool ok) override {
        b->restored = ok;
        std::vector<uint8_t>().swap(b->restore);  // no longer needed
    }

    void take_result(ggpt_context * ctx, ggpt_task * task) override {
        ggpt_task_result(task, &b->eval, b->generate ? &b->result : nullptr);
        // a snapshot for the disk cache: only of a prompt evaluated whole and answered
        if (b->snapshot > 0 && !b->restored && ggpt_task_status(task) == GGPT_OK &&
            ggpt_seq_n_past(ctx, ggpt_task_seq(task)) >= b->snapshot) {
            if (ggpt_seq_snapshot(ctx, ggpt_task_seq(task), b->snapshot, &b->state, &b->state_len) != GGPT_OK) {
                b->state = nullptr;  // not fatal: the answer stands, nothing is cached
                b->state_len = 0;
            }
        }
    }

    void finish(ggpt_status st, const std::string & err) override {
        // a cancel during the towers or the prompt rejects; during generation the turn resolves
        // with stopReason 'aborted' (the partial answer), like generate()
        if (st == GGPT_ERR_ABORTED && b->generate && b->result.stop_reason == GGPT_STOP_ABORTED) st = GGPT_OK;
        NativeModel::Complete done = std::move(complete);
        done(st, err);
    }
};

Napi::Value Turn(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        const ggpt_model_info mi = model_info(env, self);
        if (!info[0].IsObject()) throw invalid(env, "turn: expected a plan object");
        Napi::Object plan = info[0].As<Napi::Object>();
        CancelFlag cancel = cancel_flag(env, info[1]);
        auto events = Stream::create(env, info[2], "groundinggpt.turnEvents");
        auto prompt_progress = std::make_shared<Progress>(events, cancel, kPromptTag);

        auto b = std::make_shared<Baton>();
        Napi::Value mv = plan.Get("media");
        if (!mv.IsUndefined()) {
            if (!mv.IsArray()) throw invalid(env, "turn: media must be an array");
            Napi::Array ma = mv.As<Napi::Array>();
            if (ma.Length() > kMaxMedia) throw invalid(env, "turn: at most 16 media items");
            for (uint32_t i = 0; i < ma.Length(); i++) {
                const std::string what = "turn: media " + std::to_string(i);
                if (!ma.Get(i).IsObject()) throw invalid(env, what + " is not an object");
                Napi::Object mo = ma.Get(i).As<Napi::Object>();
                Item item;
                if (mo.Has("held")) {  // in the snapshot to restore (plan.restore)
                    const int64_t kind = int_arg(env, mo.Get("held"), (what + " held").c_str(), 0, 2);
                    item.held_rows = mi.media_n_tokens[kind];
                } else if (mo.Has("features")) {
                    item.rows = NativeFeatures::rows_of(env, mo.Get("features"), what);
                    if (item.rows->width != mi.n_embd || item.rows->rows != mi.media_n_tokens[item.rows->media])
                        throw invalid(env, what + ": the features do not fit this model");
                } else {
                    item.input = media_input(env, mi, mo);
                    item.progress = std::make_shared<Progress>(events, cancel, (int32_t)i);
                    item.load_progress = std::make_shared<Progress>(events, cancel, kLoadTag + (int32_t)i);
                }
                b->items.push_back(std::move(item));
            }
        }
        Napi::Value sv = plan.Get("spans");
        if (!sv.IsUndefined()) {
            if (!sv.IsArray()) throw invalid(env, "turn: spans must be an array");
            Napi::Array sa = sv.As<Napi::Array>();
            for (uint32_t i = 0; i < sa.Length(); i++) {
                const std::string what = "turn: span " + std::to_string(i);
                if (!sa.Get(i).IsObject()) throw invalid(env, what + " is not an object");
                Napi::Object so = sa.Get(i).As<Napi::Object>();
                SpanArg span;
                if (so.Has("tokens")) {
                    Napi::Int32Array t = int32_array(env, so.Get("tokens"), "span tokens");
                    if (t.ElementLength() == 0) throw invalid(env, what + " has no tokens");
                    span.tokens.assign(t.Data(), t.Data() + t.ElementLength());
                } else {
                    span.media =
                        int_arg(env, so.Get("media"), (what + " media").c_str(), 0, (int64_t)b->items.size() - 1);
                    span.id = span_id(env, so, what);
                }
                b->spans.push_back(std::move(span));
            }
        }
        Napi::Value gv = plan.Get("generate");
        if (!gv.IsUndefined()) {
            if (!gv.IsObject()) throw invalid(env, "turn: generate must be an options object");
            if (b->spans.empty()) throw invalid(env, "turn: generate needs a prompt (spans)");
            b->generate = true;
            b->gen.parse(env, gv.As<Napi::Object>());
            b->gen.stream_tokens(events, cancel, kTokenTag);
        }

        Napi::Value rv = plan.Get("restore");
        if (!rv.IsUndefined()) {
            if (!rv.IsTypedArray() || rv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
                throw invalid(env, "turn: restore must be a Uint8Array");
            Napi::Uint8Array u = rv.As<Napi::Uint8Array>();
            b->restore.assign(u.Data(), u.Data() + u.ElementLength());
            b->restore_keep = (int32_t)int_arg(env, plan.Get("restoreKeep"), "turn: restoreKeep", 1, 1 << 30);
        }
        Napi::Value snv = plan.Get("snapshot");
        if (!snv.IsUndefined()) b->snapshot = (int32_t)int_arg(env, snv, "turn: snapshot", 1, 1 << 30);
        for (const Item & item : b->items) {
            if (!item.rows && !item.input && b->restore.empty())
                throw invalid(env, "turn: a held media item needs a snapshot to restore");
        }

        auto job = std::make_shared<TurnRun>();
        job->b = b;
        job->model = self.model();
        job->cancel = cancel;
        job->prompt_progress = prompt_progress;
        job->n_embd = mi.n_embd;
        for (int k = 0; k < 3; k++) job->n_rows[k] = mi.media_n_tokens[k];
        std::shared_ptr<Scheduler> sched = self.scheduler();
        std::shared_ptr<Executor> exec = self.executor();
        NativeModel::AsyncWork work = [job, sched, exec](NativeModel::Complete complete) {
            job->complete = std::move(complete);
            sched->submit(job, *exec);
        };
        NativeModel * owner = &self;  // alive until the operation settles
        NativeModel::Done done = [b, owner](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            Napi::Array media = Napi::Array::New(env, b->items.size());
            for (size_t i = 0; i < b->items.size(); i++) {
                const Item & item = b->items[i];
                Napi::Object m = Napi::Object::New(env);
                if (item.encoded) {
                    m.Set("features", NativeFeatures::wrap(env, item.rows));
                    if (!item.shared) {
                        owner->counters.features += 1;
                        owner->counters.feature_bytes += (double)(item.rows->data.size() * sizeof(float));
                    }
                }
                m.Set("preprocessMs", item.preprocess_ms);
                if (item.has_audio) {
                    Napi::Object a = Napi::Object::New(env);
                    a.Set("samples16k", (double)item.audio.n_samples_16k);
                    a.Set("duration", item.audio.duration);
                    Napi::Array clips = Napi::Array::New(env, (size_t)item.audio.n_clips);
                    for (int32_t c = 0; c < item.audio.n_clips; ++c) {
                        Napi::Object co = Napi::Object::New(env);
                        co.Set("sampleStart", (double)item.audio.clips[c].sample_start);
                        co.Set("sampleEnd", (double)item.audio.clips[c].sample_end);
                        co.Set("start", item.audio.clips[c].t_start);
                        co.Set("end", item.audio.clips[c].t_end);
                        clips.Set((uint32_t)c, co);
                    }
                    a.Set("clips", clips);
                    a.Set("padded", item.audio.padded);
                    m.Set("audio", a);
                }
                m.Set("towerMs", item.tower_ms);
                media.Set((uint32_t)i, m);
            }
            o.Set("media", media);
            if (!b->spans.empty()) o.Set("prompt", eval_result(env, b->eval));
            if (b->generate) o.Set("generate", generate_result(env, b->result));
            o.Set("restored", b->restored);
            if (b->state) {
                // a copy: Electron refuses ArrayBuffers over external memory
                Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, b->state_len);
                memcpy(ab.Data(), b->state, b->state_len);
                free(b->state);
                b->state = nullptr;
                o.Set("state", Napi::Uint8Array::New(env, b->state_len, ab, 0));
            }
            return o;
        };
        return self.run_turn(env, work, done, {events}, cancel);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// counters(): { operations, features, featureBytes } (NativeModel::Counters) and the scheduler's
// { steps, sharedSteps, maxRunning }
Napi::Value Counters(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("operations", self.counters.operations);
    o.Set("features", self.counters.features);
    o.Set("featureBytes", self.counters.feature_bytes);
    const auto & sched = self.scheduler();
    o.Set("steps", (double)(sched ? sched->steps.load() : 0));
    o.Set("sharedSteps", (double)(sched ? sched->shared_steps.load() : 0));
    o.Set("maxRunning", (double)(sched ? sched->max_running.load() : 0));
    return o;
}

MethodRegistrar reg_turn("turn", Turn);
MethodRegistrar reg_counters("counters", Counters);

}  // namespace

}  // namespace ggpt::addon
