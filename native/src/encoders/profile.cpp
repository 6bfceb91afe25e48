// profile.cpp - per-node times of the towers' graphs (see profile.h).
#include "encoders/profile.h"

#include <chrono>
#include <cstdio>

namespace ggpt {

namespace {

double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void NodeProfiler::start() { t_last_ = now_us(); }

void NodeProfiler::report() {
    double total = 0;
    for (auto & kv : prof_) total += kv.second.first;
    for (auto & kv : prof_)
        fprintf(stderr, "[profile] %-32s %6d x %10.1f ms (%4.1f%%)\n", kv.first.c_str(), kv.second.second,
                kv.second.first / 1000, 100 * kv.second.first / total);
    fprintf(stderr, "[profile] total %.1f ms\n", total / 1000);
    prof_.clear();
}

// Every node is asked for, so the scheduler computes one node at a time and the time since the
// previous call is this node's.
bool NodeProfiler::eval_cb(ggml_tensor * t, bool ask, void * data) {
    NodeProfiler * s = (NodeProfiler *)data;
    if (ask) return true;
    const double now = now_us();
    std::string key = ggml_op_desc(t);
    if (t->op == GGML_OP_MUL_MAT)
        key += std::string(" ") + ggml_type_name(t->src[0]->type) + (ggml_is_contiguous(t->src[0]) ? "" : " nc0") +
               (ggml_is_contiguous(t->src[1]) ? "" : " nc1");
    if (t->op == GGML_OP_MUL_MAT && s->shapes_) {
        char b[128];
        snprintf(b, sizeof b, " %lldx%lld @ %lldx%lldx%lldx%lld", (long long)t->src[0]->ne[0],
                 (long long)t->src[0]->ne[1], (long long)t->src[1]->ne[0], (long long)t->src[1]->ne[1],
                 (long long)t->src[1]->ne[2], (long long)t->src[1]->ne[3]);
        key += b;
    }
    if (t->op == GGML_OP_CUSTOM && s->shapes_) {
        char b[160];  // our AMX ops, by the name they were given (amx_linear, ...) unless renamed since
        snprintf(b, sizeof b, " %s %lldx%lld <- %lldx%lld", t->name, (long long)t->ne[0], (long long)t->ne[1],
                 (long long)t->src[0]->ne[0], (long long)t->src[0]->ne[1]);
        key += b;
    }
    auto & e = s->prof_[key];
    e.first += now - s->t_last_;
    e.second += 1;
    s->t_last_ = now;
    return true;
}

}  // namespace ggpt
