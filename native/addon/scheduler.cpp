// scheduler.cpp (addon) - Scheduler (scheduler.h): the turns of one model on its compute thread.
#include "scheduler.h"

#include "model.h"

namespace ggpt::addon {

void Scheduler::submit(std::shared_ptr<TurnJob> job, Executor & exec) {
    bool start;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        inbox_.push_back(std::move(job));
        start = !looping_;
        looping_ = true;
    }
    if (start) {
        std::shared_ptr<Scheduler> self = shared_from_this();
        exec.post([self] { self->loop(); });
    }
}

// Moves new turns to the encoding queue; false (the loop ends) when nothing is left at all.
bool Scheduler::take_inbox() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!inbox_.empty()) {
        encoding_.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
    }
    if (encoding_.empty() && running_.empty()) {
        looping_ = false;
        return false;
    }
    return true;
}

// The free sequence to run a prompt on: one whose whole content is a prefix of the prompt
// (nothing of it is lost: an empty one, or the same conversation's earlier turns), the longest
// such; else the one where reuse minus loss (2 x common prefix - held) is largest, the least
// recently used on a tie. Among equals the lowest id (consecutive ids decode as one ubatch).
int32_t Scheduler::choose_seq(const ggpt_task_params & p) const {
    int32_t best = -1;
    int64_t best_group = -1, best_score = 0;
    uint64_t best_used = 0;
    const int32_t n_seq = (int32_t)ggpt_context_n_seq(ctx_);
    for (int32_t s = 0; s < n_seq; s++) {
        bool used = false;
        for (const Running & r : running_) used = used || r.seq == s;
        if (used) continue;
        const int64_t lcp = ggpt_seq_common_prefix(ctx_, s, p.spans, p.n_spans);
        const int64_t held = ggpt_seq_n_past(ctx_, s);
        const int64_t group = lcp >= held ? 1 : 0;
        const int64_t score = group ? lcp : 2 * lcp - held;
        const uint64_t last = (size_t)s < last_used_.size() ? last_used_[(size_t)s] : 0;
        const bool better = group != best_group   ? group > best_group
                            : score != best_score ? score > best_score
                                                  : !group && last < best_used;
        if (best < 0 || better) best = s, best_group = group, best_score = score, best_used = last;
    }
    return best;
}

void Scheduler::start_task(const std::shared_ptr<TurnJob> & job) {
    ggpt_task_params p = job->task_params();
    if (p.n_spans == 0 && !p.generate) {
        job->finish(GGPT_OK, std::string());
        return;
    }
    p.seq = choose_seq(p);
    if (p.seq < 0) {  // cannot happen: NativeModel::run_turn admits at most n_seq turns
        job->finish(GGPT_ERR_INTERNAL, "no free sequence");
        return;
    }
    int32_t n_keep = 0;
    if (const std::vector<uint8_t> * snap = job->snapshot_to_restore(n_keep)) {
        if (ggpt_seq_common_prefix(ctx_, p.seq, p.spans, p.n_spans) >= n_keep) {
            job->restored(false);  // the sequence holds it already
        } else {
            // a bad snapshot leaves the sequence empty: the task then fails on the rows it lacks
            job->restored(ggpt_seq_restore(ctx_, p.seq, snap->data(), snap->size()) == GGPT_OK);
        }
    }
    ggpt_task * task = nullptr;
    const ggpt_status st = ggpt_task_start(ctx_, &p, &task);
    if (st != GGPT_OK) {
        job->finish(st, ggpt_context_last_error(ctx_));
        return;
    }
    running_.push_back({job, task, p.seq});
    if (last_used_.size() <= (size_t)p.seq) last_used_.resize((size_t)p.seq + 1, 0);
    last_used_[(size_t)p.seq] = ++clock_;
}

void Scheduler::loop() {
    while (take_inbox()) {
        // the towers of the oldest turn that needs them: one item, then a step for the others
        if (!encoding_.empty()) {
            std::shared_ptr<TurnJob> job = encoding_.front();
            ggpt_status st = GGPT_OK;
            std::string err;
            if (job->cancelled()) {
                encoding_.pop_front();
                job->finish(GGPT_ERR_ABORTED, "aborted");
            } else if (!job->encode_one(ctx_, memo_, st, err)) {
                encoding_.pop_front();
                if (st != GGPT_OK) job->finish(st, err);
                else start_task(job);
            }
        }
        if (running_.empty()) continue;
        const int64_t n = (int64_t)running_.size();
        ggpt_step(ctx_, nullptr);
        steps++;
        if (n > 1) shared_steps++;
        if (n > max_running) max_running = n;
        for (size_t i = 0; i < running_.size();) {
            if (!ggpt_task_done(running_[i].task)) {
                i++;
                continue;
            }
            Running r = std::move(running_[i]);
            running_.erase(running_.begin() + (ptrdiff_t)i);
            // the result is read and the task freed before the operation is told: the context
            // may be freed as soon as the last turn has settled
            const ggpt_status st = ggpt_task_status(r.task);
            const std::string err = ggpt_task_error(r.task);
            r.job->take_result(ctx_, r.task);
            ggpt_task_free(r.task);
            r.job->finish(st, err);
        }
    }
}

}  // namespace ggpt::addon
