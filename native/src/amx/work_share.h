// work_share.h - items of a custom op handed out to ggml's threads. Internal to native/src/amx.
#pragma once
#include <cstdint>

namespace ggpt::amx_detail {

// The counters two threads share items through: items taken (low half: from the front, high
// half: from the back) and threads done. One pair per graph node, in the node's parameters (ops.h).
struct WorkShareCounters {
    uint64_t taken = 0;
    int32_t done = 0;
};

// Items 0 .. n - 1 of an op handed out to its threads. With two threads, through the node's
// counters: thread 0 takes items 0, 1, 2, ... and thread 1 items n - 1, n - 2, ..., so each
// starts on its own half and, where they meet, the one that is ahead takes over what is left. On a
// shared host the tile unit's rate varies per core (by 4x on the machine we measure on), and a
// static split waits for the slower core. The last thread to finish resets the counters for the
// next run of the graph. With any other thread count, a contiguous range per thread.
class WorkShare {
public:
    WorkShare(WorkShareCounters * counters, int64_t n, int ith, int nth) : n_(n), ith_(ith) {
        if (nth == 2) {
            taken_ = &counters->taken;
            done_ = &counters->done;
        } else {
            next_ = n * ith / nth;
            end_ = n * (ith + 1) / nth;
        }
    }
    WorkShare(const WorkShare &) = delete;
    WorkShare & operator=(const WorkShare &) = delete;
    ~WorkShare() {
        if (taken_ && __atomic_add_fetch(done_, 1, __ATOMIC_ACQ_REL) == 2) {
            __atomic_store_n(taken_, 0, __ATOMIC_RELAXED);
            __atomic_store_n(done_, 0, __ATOMIC_RELEASE);
        }
    }
    // the next item, or -1 when none is left
    int64_t next() {
        if (!taken_) return next_ < end_ ? next_++ : -1;
        // low half: items taken from the front, high half: from the back
        const uint64_t old = __atomic_fetch_add(taken_, ith_ == 0 ? 1ull : 1ull << 32, __ATOMIC_RELAXED);
        const int64_t front = (int64_t)(old & 0xffffffffu), back = (int64_t)(old >> 32);
        if (front + back >= n_) return -1;
        return ith_ == 0 ? front : n_ - 1 - back;
    }

private:
    uint64_t * taken_ = nullptr;
    int32_t * done_ = nullptr;
    int64_t n_, next_ = 0, end_ = 0;
    int ith_;
};

}  // namespace ggpt::amx_detail
