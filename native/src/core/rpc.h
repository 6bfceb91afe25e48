// rpc.h - the LLM's and the towers' remote devices: ggml's RPC backend talking to llama.cpp's
// ggml-rpc-server (README "Several machines (RPC)", docs/RELIABILITY.md "RPC devices").
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "groundinggpt.h"

struct ggpt_model;

namespace ggpt {

struct RpcState {
    std::vector<std::string> endpoints;       // "host:port", as given
    std::vector<ggml_backend_dev_t> devices;  // every device of every server, in server order
    std::vector<size_t> device_server;        // devices[i] belongs to endpoints[device_server[i]]
    std::vector<uint64_t> failures_at_load;   // ggml_backend_rpc_endpoint_failures per endpoint
    // Set once a connection failed; never cleared (the weights and caches on that server are gone
    // or unknown). Read from any thread.
    std::atomic<bool> broken{false};
    std::mutex mu;
    std::string reason;  // under mu
};

// Reaches every server of params (connect + one round trip each, bounded), registers their
// devices and fills model->rpc. GGPT_ERR_REMOTE naming the server that failed;
// GGPT_ERR_UNSUPPORTED when this build has no RPC backend.
ggpt_status rpc_connect(ggpt_model * model, const ggpt_model_params & params, std::string & err);

// The LLM's device list for llama_model_params.devices (RPC devices, then local GPUs; NULL
// terminated) and the split libllama is given: params.tensor_split, else each device's free memory
// (as libllama would compute it, done here so that rpc_layout reports what libllama does).
ggpt_status rpc_llm_devices(const ggpt_model * model, const ggpt_model_params & params,
                            std::vector<ggml_backend_dev_t> & devices, std::vector<float> & split, std::string & err);

// GGPT_OK while no connection of the model failed; else GGPT_ERR_REMOTE with the reason in err
// ("RPC server 10.0.0.5:50052 failed: ... ; the model is unusable: load it again"). The first
// failure seen is kept for good. Cheap: call it after every compute that may have used a server.
ggpt_status rpc_check(const ggpt_model * model, std::string & err);

}  // namespace ggpt
