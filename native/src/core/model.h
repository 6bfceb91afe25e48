// model.h - the model: libllama's model plus our towers (read on demand: encoders/encoders.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "groundinggpt.h"
#include "core/vocab.h"
#include "encoders/hparams.h"

struct llama_model;
struct llama_vocab;
typedef struct ggml_backend_device * ggml_backend_dev_t;

namespace ggpt {

struct Encoders;  // encoders/encoders.h: tower weights on a backend, hparams, per-tower presence
struct RpcState;  // core/rpc.h: the model's RPC servers and whether a connection failed
struct RpcStateDeleter {
    void operator()(RpcState * s) const;
};
void encoders_free(Encoders * enc);
struct EncodersDeleter {
    void operator()(Encoders * e) const { encoders_free(e); }
};

// The nine media tokens and the feature rows per item (LLM GGUF keys, names.h).
struct MediaTokens {
    int32_t patch[3] = {-1, -1, -1};  // indexed by ggpt_media
    int32_t start[3] = {-1, -1, -1};
    int32_t end[3] = {-1, -1, -1};
    int32_t n_rows[3] = {576, 64, 8};
};

// Where the token_embd rows are in the LLM file (ggpt_token_embeddings reads them from there:
// libllama does not expose its input embeddings).
struct TokenEmbdRows {
    uint64_t offset = 0;  // file offset of row 0
    uint64_t row_bytes = 0;
    int32_t type = -1;   // ggml_type
    int32_t n_rows = 0;  // n_vocab
    int32_t n_embd = 0;
};

}  // namespace ggpt

struct ggpt_model {
    llama_model * llm = nullptr;
    const llama_vocab * vocab = nullptr;
    int32_t n_embd = 0;
    ggpt::MediaTokens media;
    ggpt::Vocab tok;  // upstream tokenizer tables (core/vocab.h)
    ggpt::TokenEmbdRows token_embd;
    bool gpu_backend = false;  // the LLM has layers on a GPU device
    // RPC servers (core/rpc.h), null without any; the LLM's device list and split as libllama got
    // them (for ggpt_model_info's layer layout)
    std::unique_ptr<ggpt::RpcState, ggpt::RpcStateDeleter> rpc;
    std::vector<ggml_backend_dev_t> llm_devices;
    std::vector<float> llm_split;

    // towers (null for a text-only model) and the preprocessing parameters they imply
    std::unique_ptr<ggpt::Encoders, ggpt::EncodersDeleter> enc;
    ggpt::ImagePreParams image_pre;
    ggpt::VideoPreParams video_pre;
    ggpt::AudioPreParams audio_pre;

    std::string llm_path, encoders_path;
    ggpt_model_params params{};

    // the address ranges of libllama's mapping of llm.gguf (Linux, mmap): their pages are dropped
    // after the load (weights repacked into their own buffers are not read there again) and
    // their resident size is what ggpt_context_memory counts (docs/ARCHITECTURE.md "Memory defaults")
    std::vector<std::pair<uintptr_t, uintptr_t>> llm_maps;
};

namespace ggpt {

// Loads the encoders GGUF into model->enc and fills model->{image,video,audio}_pre
// (native/src/encoders/loader.cpp). Checks every key and tensor before anything is built;
// on failure returns a status and sets err (naming the file and the key or tensor).
// matmul: a ggpt_encoders_matmul (CPU Linear layers).
// dev: the device the towers run on (NULL: the first GPU when on_gpu, else the CPU)
// towers: the towers read now (bit 1 << ggpt_media); the others are read when first used
// (tower_load, encoders/encoders.h)
ggpt_status encoders_load(ggpt_model * model, const char * path, bool on_gpu, ggpt_progress_fn progress,
                          void * progress_user, std::string & err, int matmul = GGPT_ENC_MATMUL_AUTO,
                          ggml_backend_dev_t dev = nullptr, uint32_t towers = GGPT_TOWERS_ALL);

// Fills the encoder fields of ggpt_model_get_info (has_media, encoders_n_params,
// encoders_size_bytes) from model->enc; called only when model->enc is set.
void encoders_fill_info(const ggpt_model * model, ggpt_model_info * info);

}  // namespace ggpt
