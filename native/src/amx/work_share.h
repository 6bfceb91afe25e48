// work_share.h - items of a custom op handed out to ggml's threads. Internal to native/src/amx.
#pragma once
#include <cstdint>

#include "ggml.h"

namespace ggpt::amx_detail {

// Items 0 .. n - 1 of an op handed out to its threads. With two threads, through a counter pair
// kept in the op's own parameters (the last 16 bytes of op_params; ggml's custom-op parameters take
// the first 24): thread 0 takes items 0, 1, 2, ... and thread 1 items n - 1, n - 2, ..., so each
// starts on its own half and, where they meet, the one that is ahead takes over what is left. On a
// shared host the tile unit's rate varies per core (by 4x on the machine we measure on), and a
// static split waits for the slower core. The last thread to finish resets the counters for the
// next run of the graph. With any other thread count, a contiguous range per thread.
class WorkShare {
  public:
    WorkShare(ggml_tensor * dst, int64_t n, int ith, int nth) : n_(n), ith_(ith) {
        if (nth == 2) {
            char * const spare = (char *)&dst->op_params[12];
            taken_ = (uint64_t *)(((uintptr_t)spare + 7) & ~(uintptr_t)7);
            done_ = (int32_t *)(taken_ + 1);
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
