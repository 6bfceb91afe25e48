// profile.h - per-node times of the towers' graphs, printed to stderr after each graph: a
// development aid, installed as the scheduler's eval callback instead of the progress callback
// only when ggpt_context_params.encoders_profile asks for it (encode.cpp).
#pragma once
#include <map>
#include <string>
#include <utility>

#include "ggml.h"

namespace ggpt {

class NodeProfiler {
public:
    // shapes: matmuls and the AMX ops keyed by shape too
    explicit NodeProfiler(bool shapes) : shapes_(shapes) {}
    // before a graph compute
    void start();
    // after it: the summary on stderr, then the counts start over
    void report();
    // ggml_backend_sched_eval_callback; data is the NodeProfiler
    static bool eval_cb(ggml_tensor * t, bool ask, void * data);

private:
    bool shapes_;
    double t_last_ = 0;
    std::map<std::string, std::pair<double, int>> prof_;  // key -> (microseconds, nodes)
};

}  // namespace ggpt
