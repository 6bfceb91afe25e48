// towers.cpp (addon) - towers on demand and the memory breakdown (docs/ARCHITECTURE.md "Towers on
// demand"):
//
//   loadTowers(mask, cancel, onProgress?) -> Promise<void>   read the towers' weights now
//   releaseTowers(mask) -> Promise<void>                     free them (and the towers' compute
//                                                             buffers); read again when next needed
//   towersResident() -> mask                                 bit 1 << media kind (image 0, video 1, audio 2)
//   memory() -> { llmWeights, towers: [image, video, audio], kvCache, llmCompute, towerCompute, device }
//
// Loading and releasing run as turns without a prompt (scheduler.h): on the compute thread,
// between the towers of other turns, so no encode runs at the same time; a turn whose tower is
// not resident reads it itself (turn.cpp).
#include <memory>
#include <string>

#include "args.h"
#include "model.h"
#include "scheduler.h"

namespace ggpt::addon {

namespace {

struct TowerJob : TurnJob {
    ggpt_model * model = nullptr;
    uint32_t mask = 0;
    bool release = false;
    CancelFlag cancel;
    std::shared_ptr<Progress> progress;
    NativeModel::Complete complete;
    bool done = false;

    bool cancelled() const override { return cancel->load(); }

    bool encode_one(ggpt_context * ctx, FeatureMemo &, ggpt_status & st, std::string & err) override {
        if (done) return false;
        done = true;
        if (release) {
            ggpt_model_release_towers(model, mask);
            ggpt_context_release_tower_buffers(ctx);
            return false;
        }
        const ggpt_encode_params p = encode_params(cancel, progress.get());
        char msg[1024] = "";
        st = ggpt_model_load_towers(model, mask, &p, msg, sizeof msg);
        if (st != GGPT_OK) err = msg;
        return false;
    }
    ggpt_task_params task_params() override { return ggpt_task_params{}; }  // no prompt: ends here
    const std::vector<uint8_t> * snapshot_to_restore(int32_t &) override { return nullptr; }
    void restored(bool) override {}
    void take_result(ggpt_context *, ggpt_task *) override {}
    void finish(ggpt_status st, const std::string & err) override {
        NativeModel::Complete c = std::move(complete);
        c(st, err);
    }
};

uint32_t mask_arg(Napi::Env env, const Napi::Value & v) {
    return (uint32_t)int_arg(env, v, "towers mask", 0, GGPT_TOWERS_ALL);
}

Napi::Value run_tower_job(NativeModel & self, Napi::Env env, std::shared_ptr<TowerJob> job,
                          std::shared_ptr<Stream> stream) {
    job->model = self.model();
    std::shared_ptr<Scheduler> sched = self.scheduler();
    std::shared_ptr<Executor> exec = self.executor();
    NativeModel::AsyncWork work = [job, sched, exec](NativeModel::Complete complete) {
        job->complete = std::move(complete);
        sched->submit(job, *exec);
    };
    NativeModel::Done done = [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
    std::vector<std::shared_ptr<Stream>> streams;
    if (stream) streams.push_back(stream);
    return self.run_turn(env, work, done, streams, job->cancel);
}

Napi::Value LoadTowers(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        self.check_alive(env);
        auto job = std::make_shared<TowerJob>();
        job->mask = mask_arg(env, info[0]);
        job->cancel = cancel_flag(env, info[1]);
        auto stream = Stream::create(env, info[2], "groundinggpt.towerProgress");
        job->progress = std::make_shared<Progress>(stream, job->cancel);
        return run_tower_job(self, env, job, stream);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

Napi::Value ReleaseTowers(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    try {
        self.check_alive(env);
        auto job = std::make_shared<TowerJob>();
        job->mask = mask_arg(env, info[0]);
        job->release = true;
        job->cancel = std::make_shared<std::atomic<bool>>(false);
        return run_tower_job(self, env, job, nullptr);
    } catch (const Napi::Error & e) {
        return rejected(env, e);
    }
}

// atomics and values fixed at load: safe while a turn runs on the compute thread
Napi::Value TowersResident(NativeModel & self, const Napi::CallbackInfo & info) {
    self.check_alive(info.Env());
    return Napi::Number::New(info.Env(), ggpt_model_towers_resident(self.model()));
}

Napi::Value Memory(NativeModel & self, const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    self.check_alive(env);
    ggpt_memory_info m;
    ggpt_context_memory(self.ctx(), &m);
    Napi::Object o = Napi::Object::New(env);
    o.Set("llmWeights", (double)m.llm_weights);
    Napi::Array towers = Napi::Array::New(env, 3);
    for (uint32_t k = 0; k < 3; k++) towers.Set(k, (double)m.towers[k]);
    o.Set("towers", towers);
    o.Set("kvCache", (double)m.kv_cache);
    o.Set("llmCompute", (double)m.llm_compute);
    o.Set("towerCompute", (double)m.tower_compute);
    o.Set("device", (double)m.device);
    return o;
}

MethodRegistrar reg_load_towers("loadTowers", LoadTowers);
MethodRegistrar reg_release_towers("releaseTowers", ReleaseTowers);
MethodRegistrar reg_towers_resident("towersResident", TowersResident);
MethodRegistrar reg_memory("memory", Memory);

}  // namespace

}  // namespace ggpt::addon
