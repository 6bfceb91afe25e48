// scheduler.h (addon) - the turns of one model on its compute thread: up to n_seq at once,
// decoded together (the core's tasks and steps: ggpt_task_start, ggpt_step).
//
// A turn first runs its towers, one media item at a time (a tower has the compute thread to
// itself: between two items the running tasks take a step); then, when it has a prompt, it gets
// a free sequence (choose_seq: the one that keeps most of what the sequences hold) and becomes a
// task; every loop turn makes one ggpt_step over all tasks. docs/ARCHITECTURE.md,
// "Parallel sequences".
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "features.h"
#include "groundinggpt.h"

namespace ggpt::addon {

class Executor;

// One turn as the scheduler runs it (turn.cpp makes them). Every method runs on the compute thread.
struct TurnJob {
    virtual ~TurnJob() = default;
    // Whether the turn was cancelled (its flag: a user abort, dispose, teardown).
    virtual bool cancelled() const = 0;
    // Runs the tower for the next media item not encoded yet. Returns true when an item ran
    // (more may remain), false when none is left or on failure (st/err set).
    // memo: features made by recent turns, shared instead of encoding the same content twice.
    virtual bool encode_one(ggpt_context * ctx, FeatureMemo & memo, ggpt_status & st, std::string & err) = 0;
    // The task of the turn (after its towers): seq is filled in by the scheduler; n_spans = 0
    // means the turn has no prompt and ends after its towers. Pointers stay valid until finish.
    virtual ggpt_task_params task_params() = 0;
    // A snapshot (ggpt_seq_snapshot bytes) to restore into the task's sequence first, unless
    // the sequence already holds its n_keep positions; null: none. restored() says how it went.
    virtual const std::vector<uint8_t> * snapshot_to_restore(int32_t & n_keep) = 0;
    virtual void restored(bool ok) = 0;
    // The task has ended: its result is read here (the task is freed right after).
    virtual void take_result(ggpt_context * ctx, ggpt_task * task) = 0;
    // The end: calls the operation's completion, so nothing of the job may be used afterwards.
    virtual void finish(ggpt_status st, const std::string & err) = 0;
};

class Scheduler : public std::enable_shared_from_this<Scheduler> {
public:
    explicit Scheduler(ggpt_context * ctx) : ctx_(ctx) {}

    // Main thread: the turn joins; the loop is started on exec when it is not running.
    void submit(std::shared_ptr<TurnJob> job, Executor & exec);

    // What the loop did, for tests and measurements (any thread): decode steps, steps shared by
    // two or more tasks, the most tasks in one step.
    std::atomic<int64_t> steps{0}, shared_steps{0}, max_running{0};

private:
    struct Running {
        std::shared_ptr<TurnJob> job;
        ggpt_task * task;
        int32_t seq;
    };
    void loop();  // compute thread, until nothing is left
    bool take_inbox();
    void start_task(const std::shared_ptr<TurnJob> & job);
    int32_t choose_seq(const ggpt_task_params & p) const;

    ggpt_context * ctx_;
    std::mutex mutex_;
    std::deque<std::shared_ptr<TurnJob>> inbox_;  // mutex_
    bool looping_ = false;                        // mutex_: a loop job is posted or running
    // compute thread only
    std::deque<std::shared_ptr<TurnJob>> encoding_;  // towers to run, in arrival order
    FeatureMemo memo_;
    std::vector<Running> running_;
    std::vector<uint64_t> last_used_;  // per sequence: when a task last started on it
    uint64_t clock_ = 0;
};

}  // namespace ggpt::addon
