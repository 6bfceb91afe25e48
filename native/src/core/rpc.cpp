// rpc.cpp - remote devices through ggml's RPC backend (README "Several machines (RPC)").
//
// ggml-rpc, as upstream ships it, aborts the process on any network failure and waits without
// bound. patches/ggml-rpc-recoverable.patch makes its failures recoverable: every socket wait is
// bounded (connect, each send/receive, TCP keepalive), a failed connection is recorded instead of
// aborting (later commands on it are skipped, graph computes report GGML_STATUS_FAILED) and two
// functions tell us about it: ggml_backend_rpc_probe and ggml_backend_rpc_endpoint_failures. They
// are found through the RPC registry's proc addresses, which works in static and in portable
// (GGML_BACKEND_DL) builds alike. What a failure means for the model: docs/RELIABILITY.md.
#include "core/rpc.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "core/model.h"

namespace ggpt {

namespace {

using set_timeouts_fn = void (*)(uint32_t connect_ms, uint32_t io_ms);
using probe_fn = bool (*)(const char * endpoint, char * err, size_t err_len);
using failures_fn = uint64_t (*)(const char * endpoint, char * err, size_t err_len);
using add_server_fn = ggml_backend_reg_t (*)(const char * endpoint);

struct RpcApi {
    set_timeouts_fn set_timeouts = nullptr;
    probe_fn probe = nullptr;
    failures_fn failures = nullptr;
    add_server_fn add_server = nullptr;
    bool ok() const { return set_timeouts && probe && failures && add_server; }
};

const RpcApi & api() {
    static const RpcApi a = [] {
        RpcApi r;
        ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
        if (!reg) return r;
        r.set_timeouts = (set_timeouts_fn)ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_set_timeouts");
        r.probe = (probe_fn)ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_probe");
        r.failures = (failures_fn)ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_endpoint_failures");
        r.add_server = (add_server_fn)ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_add_server");
        return r;
    }();
    return a;
}

// "host:port" with a non-empty host and a port in 1..65535 (ggml-rpc parses it with stoi and
// would accept "h:12abc")
bool valid_endpoint(const std::string & e) {
    const size_t colon = e.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= e.size() || e.size() > 255) return false;
    if (e.find(':') != colon) return false;  // IPv6 literals: not supported by ggml-rpc's IPv4 sockets
    long port = 0;
    for (size_t i = colon + 1; i < e.size(); i++) {
        if (e[i] < '0' || e[i] > '9') return false;
        port = port * 10 + (e[i] - '0');
        if (port > 65535) return false;
    }
    return port >= 1;
}

}  // namespace

ggpt_status rpc_connect(ggpt_model * model, const ggpt_model_params & p, std::string & err) {
    if (p.n_rpc_servers < 0 || p.n_rpc_servers > GGPT_MAX_RPC_SERVERS || (p.n_rpc_servers > 0 && !p.rpc_servers)) {
        err = "n_rpc_servers must be 0.." + std::to_string(GGPT_MAX_RPC_SERVERS) + " with rpc_servers set";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    if (p.n_rpc_servers == 0) {
        if (p.encoders_rpc_device >= 0) {
            err = "encoders_rpc_device needs RPC servers";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
        return GGPT_OK;
    }
    const RpcApi & a = api();
    if (!a.ok()) {
        err = "this build has no RPC backend (GGML_RPC); rebuild the addon with it (README \"Several machines (RPC)\")";
        return GGPT_ERR_UNSUPPORTED;
    }
    auto st = std::make_unique<RpcState>();
    for (int32_t i = 0; i < p.n_rpc_servers; i++) {
        const char * e = p.rpc_servers[i];
        if (!e || !valid_endpoint(e)) {
            err = std::string("RPC server '") + (e ? e : "(null)") + "' is not host:port";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
        if (std::find(st->endpoints.begin(), st->endpoints.end(), e) != st->endpoints.end()) {
            err = std::string("RPC server ") + e + " is listed twice";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
        st->endpoints.push_back(e);
    }
    a.set_timeouts(p.rpc_connect_timeout_ms ? p.rpc_connect_timeout_ms : 5000,
                   p.rpc_timeout_ms ? p.rpc_timeout_ms : 120000);
    for (size_t s = 0; s < st->endpoints.size(); s++) {
        const char * e = st->endpoints[s].c_str();
        char why[512] = "";
        // before ggml_backend_rpc_add_server, whose registry entry is kept for the process's life
        if (!a.probe(e, why, sizeof why)) {
            err = std::string("RPC server ") + e + " cannot be reached: " + why;
            return GGPT_ERR_REMOTE;
        }
        // failures from now on are this model's (the count is per process and endpoint)
        st->failures_at_load.push_back(a.failures(e, nullptr, 0));
        ggml_backend_reg_t reg = a.add_server(e);
        if (!reg || ggml_backend_reg_dev_count(reg) == 0) {
            err = std::string("RPC server ") + e + " offers no device";
            return GGPT_ERR_REMOTE;
        }
        for (size_t d = 0; d < ggml_backend_reg_dev_count(reg); d++) {
            st->devices.push_back(ggml_backend_reg_dev_get(reg, d));
            st->device_server.push_back(s);
        }
        GGPT_LOG_I("RPC server %s: %zu device(s)", e, ggml_backend_reg_dev_count(reg));
    }
    if (p.encoders_rpc_device >= (int32_t)st->devices.size()) {
        err = "encoders_rpc_device " + std::to_string(p.encoders_rpc_device) + " does not exist (the servers offer " +
              std::to_string(st->devices.size()) + " device(s))";
        return GGPT_ERR_INVALID_ARGUMENT;
    }
    model->rpc.reset(st.release());
    return GGPT_OK;
}

ggpt_status rpc_llm_devices(const ggpt_model * model, const ggpt_model_params & p,
                            std::vector<ggml_backend_dev_t> & devices, std::vector<float> & split, std::string & err) {
    devices.clear();
    split.clear();
    if (model->rpc) devices = model->rpc->devices;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const auto type = ggml_backend_dev_type(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) devices.push_back(dev);
    }
    if (p.tensor_split && p.n_tensor_split > 0) {
        if (p.n_tensor_split != (int32_t)devices.size()) {
            err = "tensor_split has " + std::to_string(p.n_tensor_split) + " entries but there are " +
                  std::to_string(devices.size()) + " devices (RPC devices, then local GPUs)";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
        double sum = 0;
        for (int32_t i = 0; i < p.n_tensor_split; i++) {
            const float v = p.tensor_split[i];
            if (!(v >= 0.0f) || !(v <= 1e9f)) {
                err = "tensor_split entries must be finite and >= 0";
                return GGPT_ERR_INVALID_ARGUMENT;
            }
            sum += v;
        }
        if (!(sum > 0)) {
            err = "tensor_split must have a positive entry";
            return GGPT_ERR_INVALID_ARGUMENT;
        }
        split.assign(p.tensor_split, p.tensor_split + p.n_tensor_split);
        return GGPT_OK;
    }
    // libllama's default split (llama-model.cpp load_tensors): free memory, the host's for a device
    // that reports none
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    for (ggml_backend_dev_t dev : devices) {
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        if (free == 0 && total == 0 && cpu) ggml_backend_dev_memory(cpu, &free, &total);
        split.push_back((float)free);
    }
    if (std::all_of(split.begin(), split.end(), [](float v) { return v == 0.0f; }))
        std::fill(split.begin(), split.end(), 1.0f);
    return rpc_check(model, err);  // the memory queries were round trips
}

ggpt_status rpc_check(const ggpt_model * model, std::string & err) {
    if (!model || !model->rpc) return GGPT_OK;
    RpcState & st = *model->rpc;
    if (!st.broken.load()) {
        const RpcApi & a = api();
        for (size_t i = 0; i < st.endpoints.size(); i++) {
            const std::string & e = st.endpoints[i];
            char why[512] = "";
            if (a.failures(e.c_str(), why, sizeof why) > st.failures_at_load[i]) {
                std::lock_guard<std::mutex> lock(st.mu);
                if (st.reason.empty()) st.reason = "RPC server " + e + " failed (" + why + ")";
                st.broken = true;
                break;
            }
        }
        if (!st.broken.load()) return GGPT_OK;
    }
    std::lock_guard<std::mutex> lock(st.mu);
    err = st.reason + "; the model is unusable: dispose it and load it again";
    return GGPT_ERR_REMOTE;
}

}  // namespace ggpt

void ggpt::RpcStateDeleter::operator()(RpcState * s) const { delete s; }
