/*
 * groundinggpt.h - C API of the GroundingGPT inference core.
 * (Over 500 lines: one public header is the whole contract, as llama.h is; its length is comments.)
 *
 * GroundingGPT (Li et al., ACL 2024) is a Vicuna-7B LLM whose prompt embeds image, video and
 * sound features in place of placeholder tokens. This core runs the LLM in libllama and the
 * three towers as ggml graphs; it takes decoded pixels and PCM (no media decoding in here).
 *
 * Objects
 *   ggpt_model    weights: the LLM GGUF and (optionally) the encoders GGUF, whose towers are read
 *                 when first needed (ggpt_model_load_towers; thread-safe).
 *                 Safe to share between threads once loaded.
 *   ggpt_context  the KV cache of n_seq sequences (one per conversation running at once), what
 *                 each sequence holds, the compute buffers of the towers. One thread at a time.
 *   ggpt_task     one request on one sequence: a prompt, then optionally generation. The tasks
 *                 of a context advance together, one llama_decode per ggpt_step (continuous
 *                 batching). ggpt_prompt / ggpt_generate are one task on sequence 0, stepped
 *                 to its end.
 *
 * Errors
 *   Every fallible function returns a ggpt_status. The message of the last failure is kept per
 *   handle (ggpt_context_last_error); functions that have no handle yet (loading) write it into
 *   a caller buffer. No C++ exception crosses this API; nothing a caller or a file controls may
 *   reach a ggml assertion: inputs are validated first.
 *
 * Threads
 *   ggpt_log_set, ggpt_backend_init: any thread, idempotent.
 *   ggpt_model_*: load/free from one thread; the const getters from any thread once loaded.
 *   ggpt_tokenize / ggpt_detokenize / ggpt_token_to_piece: any thread (read-only model state).
 *   ggpt_context_*: one thread at a time per context (callers serialise); several contexts of one
 *   model may run on different threads at once.
 *   Callbacks (progress, abort, token) run on the thread that called the function.
 */
#ifndef GROUNDINGGPT_H
#define GROUNDINGGPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(GGPT_SHARED)
#  ifdef GGPT_BUILD
#    define GGPT_API __declspec(dllexport)
#  else
#    define GGPT_API __declspec(dllimport)
#  endif
#elif defined(GGPT_SHARED)
#  define GGPT_API __attribute__((visibility("default")))
#else
#  define GGPT_API
#endif

typedef struct ggpt_model ggpt_model;
typedef struct ggpt_context ggpt_context;

typedef enum ggpt_status {
    GGPT_OK = 0,
    GGPT_ERR_INVALID_ARGUMENT = 1, /* bad parameter or bad media data from the caller          */
    GGPT_ERR_IO = 2,               /* a file cannot be opened or read                          */
    GGPT_ERR_FORMAT = 3,           /* a file is not what it should be (truncated, bad key/shape)*/
    GGPT_ERR_UNSUPPORTED = 4,      /* a valid request this build/model cannot serve            */
    GGPT_ERR_ABORTED = 5,          /* the abort callback asked to stop                         */
    GGPT_ERR_CONTEXT_FULL = 6,     /* the sequence does not fit in the context size            */
    GGPT_ERR_OUT_OF_MEMORY = 7,
    GGPT_ERR_BACKEND = 8, /* the compute backend failed                               */
    GGPT_ERR_INTERNAL = 9,
    GGPT_ERR_REMOTE = 10, /* an RPC server is unreachable or its connection failed: the model is
                             unusable from then on (ggpt_model_usable)                        */
} ggpt_status;

/* Short stable name of a status ("ok", "invalid_argument", ...). */
GGPT_API const char * ggpt_status_name(ggpt_status status);

/* ------------------------------------------------------------------------------------------ */
/* Global                                                                                     */

typedef enum ggpt_log_level {
    GGPT_LOG_DEBUG = 0,
    GGPT_LOG_INFO = 1,
    GGPT_LOG_WARN = 2,
    GGPT_LOG_ERROR = 3,
} ggpt_log_level;

/* Receives every log line of the core, ggml and libllama (text without trailing newline).
 * May be called from any thread; must not call back into this API. */
typedef void (*ggpt_log_fn)(ggpt_log_level level, const char * text, void * user);

/* Installs the log sink (NULL: logs go nowhere) and the minimum level passed to it. */
GGPT_API void ggpt_log_set(ggpt_log_fn fn, void * user, ggpt_log_level min_level);

/* Loads the ggml backends (CPU always; CUDA when built). Idempotent, thread-safe; called by
 * ggpt_model_load when needed. */
GGPT_API void ggpt_backend_init(void);

/* Human-readable build/system info: compiled backends, CPU features. Static string. */
GGPT_API const char * ggpt_system_info(void);

/* Returns true (continue) or false (stop). */
typedef bool (*ggpt_progress_fn)(float progress /* 0..1 */, void * user);
/* Returns true to abort the running operation. Polled between batches / tokens and inside graph
 * compute, possibly from ggml's worker threads: it must be thread-safe (read an atomic flag). */
typedef bool (*ggpt_abort_fn)(void * user);

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                      */

/* How the towers' Linear layers multiply on the CPU (f16 weights; f32 weights always stay f32). */
typedef enum ggpt_encoders_matmul {
    GGPT_ENC_MATMUL_AUTO = 0, /* bf16 kernels where the CPU has AMX-BF16, else AVX512-BF16 dot
                                  products (bf16 rounding, ~5e-3 relative), else ggml's kernels.
                                  Default.                                                        */
    GGPT_ENC_MATMUL_GGML = 1, /* ggml's f16 kernels only (~1e-3 relative)                        */
    GGPT_ENC_MATMUL_INT8 = 2, /* experimental: int8 on AMX-INT8, else AVX512-VNNI (int8 weights
                                  per output row, int8 activation rows) where K is a multiple of
                                  64, at ~4x the error of bf16; AUTO on CPUs with neither. Speeds
                                  of the three: docs/BENCHMARKS.md                                */
} ggpt_encoders_matmul;

typedef struct ggpt_model_params {
    const char * llm_path;      /* LLM GGUF (llama architecture). Required.                   */
    const char * encoders_path; /* encoders GGUF, or NULL for a text-only model.              */
    int32_t n_gpu_layers;       /* LLM layers offloaded to the GPU; -1 = all. Default 0 when
                                     the build has no GPU backend, else -1.                     */
    bool encoders_on_gpu;       /* put the tower weights on the GPU when one exists (def true)*/
    bool use_mmap;              /* default true                                               */
    int32_t encoders_matmul;    /* ggpt_encoders_matmul: the towers' Linear layers on the CPU  */
    ggpt_progress_fn progress;  /* load progress (LLM then encoders), may be NULL             */
    void * progress_user;
    /* Remote devices: ggml's RPC servers (llama.cpp's ggml-rpc-server, "host:port"; README
     * "Several machines (RPC)", docs/RELIABILITY.md "RPC devices"). Their devices come first in
     * the LLM's device list (then the local GPUs); n_gpu_layers of the LLM's layers are spread
     * over that list, the rest stays on the local CPU. Each server is reached (connect + one
     * round trip, bounded by the timeouts) before anything is loaded: an unreachable one is
     * GGPT_ERR_REMOTE naming it. A connection that fails later makes the model unusable: every
     * later call returns GGPT_ERR_REMOTE (ggpt_model_usable). The build must have the RPC
     * backend (ggpt_system_info lists it), else GGPT_ERR_UNSUPPORTED.                          */
    const char * const * rpc_servers; /* n_rpc_servers endpoints, or NULL                    */
    int32_t n_rpc_servers;            /* 0..GGPT_MAX_RPC_SERVERS                                */
    const float * tensor_split;       /* share of the offloaded layers per device of the list
                                         (RPC devices in order, then local GPUs), NULL: by free
                                         memory as libllama does                               */
    int32_t n_tensor_split;           /* entries of tensor_split: the number of devices        */
    int32_t encoders_rpc_device;      /* >= 0: the towers' weights and graphs on that RPC device
                                         (index into the RPC devices, server order); -1 (default):
                                         local (encoders_on_gpu decides)                         */
    uint32_t rpc_timeout_ms;          /* bound of each send/receive on an RPC connection, which
                                         includes the longest graph a server computes; 0 = 120000.
                                         Process-wide: the last load sets it                      */
    uint32_t rpc_connect_timeout_ms;  /* bound of a connect; 0 = 5000                           */
    uint32_t towers;                  /* towers read at load (bit 1 << ggpt_media each,
                                         GGPT_TOWERS_ALL); the others are read when a call first
                                         needs them (ggpt_model_load_towers). Default 0: all on
                                         demand (docs/ARCHITECTURE.md "Towers on demand")         */
} ggpt_model_params;

/* ggpt_model_params.towers, ggpt_model_load_towers, ggpt_model_release_towers: one bit per tower. */
#define GGPT_TOWERS_ALL 7u /* (1 << GGPT_MEDIA_IMAGE) | (1 << GGPT_MEDIA_VIDEO) | (1 << GGPT_MEDIA_AUDIO) */

#define GGPT_MAX_RPC_SERVERS 16

GGPT_API ggpt_model_params ggpt_model_default_params(void);

/* Loads a model. On failure *out is NULL and a message is written to err (if err_len > 0).
 * GGPT_ERR_ABORTED when progress returned false. */
GGPT_API ggpt_status ggpt_model_load(const ggpt_model_params * params, ggpt_model ** out, char * err, size_t err_len);

/* The file a failed load was reading. */
typedef enum ggpt_model_file {
    GGPT_MODEL_FILE_NONE = 0,     /* not a file's fault: bad parameters, aborted, out of memory  */
    GGPT_MODEL_FILE_LLM = 1,      /* params->llm_path                                            */
    GGPT_MODEL_FILE_ENCODERS = 2, /* params->encoders_path                                       */
} ggpt_model_file;

typedef struct ggpt_load_error {
    ggpt_model_file file; /* which file the failure is about                            */
    char message[1024];   /* as ggpt_model_load's err (names the file and key or tensor) */
} ggpt_load_error;

/* ggpt_model_load that also reports which file failed (error may be NULL). The LLM file is
 * checked before libllama reads it (docs/LLM-FILE-CHECKS.md). */
GGPT_API ggpt_status ggpt_model_load_ex(const ggpt_model_params * params, ggpt_model ** out, ggpt_load_error * error);
GGPT_API void ggpt_model_free(ggpt_model * model);

typedef enum ggpt_media {
    GGPT_MEDIA_IMAGE = 0,
    GGPT_MEDIA_VIDEO = 1,
    GGPT_MEDIA_AUDIO = 2,
} ggpt_media;

typedef struct ggpt_model_info {
    int32_t n_vocab;
    int32_t n_embd; /* LLM width: the width of every feature row */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_ctx_train;
    int32_t token_bos, token_eos;
    /* media token ids: [media][0] = patch, [1] = start, [2] = end; and feature rows per item */
    int32_t media_tokens[3][3];
    int32_t media_n_tokens[3]; /* 576 / 64 / 8 for the released model                       */
    bool has_media[3];         /* the encoders GGUF holds that tower                         */
    int64_t llm_n_params, llm_size_bytes;
    int64_t encoders_n_params, encoders_size_bytes;
    char llm_desc[128]; /* libllama's model description ("llama 7B Q4_K - Medium")   */
    char backend[64];   /* device the weights live on ("CPU", "CUDA0")                */
    /* geometry the caller needs for media preparation */
    int32_t image_size;        /* CLIP input side (336)                                      */
    int32_t video_frame_size;  /* EVA input side (224)                                       */
    int32_t video_max_frames;  /* 64                                                         */
    int32_t audio_sample_rate; /* 16000                                                      */
    int32_t audio_n_clips;     /* 3                                                          */
    float audio_clip_seconds;  /* 2                                                          */
    /* the audio tower's input (0 without one): fbank of audio_n_mels x audio_n_frames per clip,
     * at most audio_max_clips clips (128, 204, 3 for the released model)                         */
    int32_t audio_n_mels, audio_n_frames, audio_max_clips;
    /* where the LLM's layers live: one entry per device that holds any (the local CPU included),
     * in the order of the device list; layers [layer_begin, layer_end) and, when output is true,
     * the output layer. description is the server's "host:port" for RPC devices.               */
    int32_t n_devices;
    struct {
        char name[32];
        char description[96];
        int32_t layer_begin, layer_end;
        bool output;
    } devices[GGPT_MAX_RPC_SERVERS + 2];
    char encoders_device[128]; /* where the towers run ("CPU", "CUDA0", "RPC1 127.0.0.1:50052") */
} ggpt_model_info;

GGPT_API ggpt_status ggpt_model_get_info(const ggpt_model * model, ggpt_model_info * out);

/* GGPT_OK while the model can be used; GGPT_ERR_REMOTE (and the reason in err) once a connection
 * to one of its RPC servers failed: then every call on the model and its contexts returns
 * GGPT_ERR_REMOTE; free it and load again. A model without RPC servers is always usable. */
GGPT_API ggpt_status ggpt_model_usable(const ggpt_model * model, char * err, size_t err_len);

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */

/* Tokenises text as upstream's slow LLaMA tokenizer does (docs/COMPUTATION.md §5): when parse_media is true the
 * text is split at HF's added tokens - the nine media tokens ("<im_patch>" ... "<so_end>"), which
 * strip the whitespace (Python str.isspace) on both sides, and the literal texts "<s>", "</s>",
 * "<unk>", which do not - and each remaining non-empty chunk is encoded on its own by
 * SentencePiece (BPE by piece score, dummy prefix, byte fallback; our implementation over the
 * GGUF vocabulary, see core/vocab.h for where it differs from llama_tokenize). parse_media false:
 * the whole text is one chunk. add_bos prepends BOS. Returns the number of tokens; if n_max is
 * too small, returns -(number needed) and writes nothing; INT32_MIN for invalid arguments. */
GGPT_API int32_t ggpt_tokenize(const ggpt_model * model, const char * text, size_t text_len, bool add_bos,
                               bool parse_media, int32_t * out, int32_t n_max);

/* Text of a token sequence as upstream decodes it with skip_special_tokens (SentencePiece
 * detokenisation: '▁' -> ' ', byte tokens joined as raw bytes; control, unknown and media tokens
 * give nothing). strip_leading_space drops the dummy-prefix space of the first piece. Returns the
 * byte length; if cap is too small returns -(length needed); INT32_MIN for invalid arguments.
 * The text is not NUL-terminated when it fills cap. */
GGPT_API int32_t ggpt_detokenize(const ggpt_model * model, const int32_t * tokens, int32_t n, bool strip_leading_space,
                                 char * out, int32_t cap);

/* Raw piece of one token (bytes, as libllama renders it, special tokens included). Same return
 * convention (INT32_MIN for a token outside the vocabulary). */
GGPT_API int32_t ggpt_token_to_piece(const ggpt_model * model, int32_t token, char * out, int32_t cap);

/* ------------------------------------------------------------------------------------------ */
/* Context                                                                                    */

typedef enum ggpt_kv_type {
    GGPT_KV_F16 = 0,
    GGPT_KV_F32 = 1,
    GGPT_KV_Q8_0 = 2,
} ggpt_kv_type;

typedef struct ggpt_context_params {
    uint32_t n_ctx;          /* context size in positions; 0 = 2048 capped at n_ctx_train;
                                    else 8..n_ctx_train                                        */
    uint32_t n_batch;        /* prompt positions per llama_decode call (default 512; capped
                                    at n_ctx). Also the granularity of abort during prompts.    */
    uint32_t n_ubatch;       /* physical batch (default 512; capped at n_batch)            */
    uint32_t n_seq;          /* sequences held at once (0 = 1; at most 64). Each has its own
                                    n_ctx positions (the cache is n_seq * n_ctx positions,
                                    one stream per sequence, so attention reads only its own) */
    uint32_t n_batch_shared; /* prompt positions one step gives a task while other tasks are
                                    generating (0 = n_batch / 4, at least 32): a newcomer's
                                    prompt is evaluated in chunks and delays the others' next
                                    token by one chunk at a time                                */
    int32_t n_threads;       /* generation threads; <= 0 = physical cores                  */
    int32_t n_threads_batch; /* prompt/tower threads; <= 0 = n_threads                      */
    ggpt_kv_type kv_type;    /* default F16; F32 for bit-faithful comparisons              */
    int32_t flash_attn;      /* -1 auto (default; off with an F32 cache, whose point is
                                    exactness), 0 off, 1 on. Q8_0 needs it on/auto.            */
    /* The towers' compute on this context (development and measurements: the defaults, all 0,
     * are the tuned choices; docs/ARCHITECTURE.md). */
    int32_t encoders_flash_attn;       /* attention through ggml's fused kernel on the CPU where
                                          the head size suits it: 0 default (on), > 0 on, < 0
                                          off (matmul + softmax + matmul). GPUs: never.         */
    int32_t encoders_fuse;             /* with AMX matmuls (ggpt_encoders_matmul): LayerNorms
                                          write bf16, q/k/v and the attention output stay bf16,
                                          residual adds run in the matmul's epilogue. 0 default
                                          (on), > 0 on, < 0 off (to measure the difference).    */
    int32_t encoders_frames_per_batch; /* video frames per EVA graph; <= 0 default (from a
                                          ~0.5 GiB activation budget on the CPU)                */
    int32_t encoders_profile;          /* 0 off (default); 1: time every graph node and print a
                                          per-op summary to stderr after each graph (slows small
                                          ops; progress and abort are not polled meanwhile);
                                          2: matmuls and the AMX ops keyed by shape too         */
} ggpt_context_params;

GGPT_API ggpt_context_params ggpt_context_default_params(void);

GGPT_API ggpt_status ggpt_context_init(ggpt_model * model, const ggpt_context_params * params, ggpt_context ** out,
                                       char * err, size_t err_len);
GGPT_API void ggpt_context_free(ggpt_context * ctx);

/* Message of the last failed call on this context ("" if none). Valid until the next call. */
GGPT_API const char * ggpt_context_last_error(const ggpt_context * ctx);

/* Positions one sequence holds (libllama may round params.n_ctx up). */
GGPT_API uint32_t ggpt_context_n_ctx(const ggpt_context * ctx);

/* Sequences the context holds (params.n_seq). */
GGPT_API uint32_t ggpt_context_n_seq(const ggpt_context * ctx);

/* Bytes of the KV cache (K and V, all layers, n_seq * n_ctx positions). */
GGPT_API int64_t ggpt_context_kv_bytes(const ggpt_context * ctx);

/* Memory a model and one of its contexts hold, in bytes, wherever it lives (host or device). */
typedef struct ggpt_memory_info {
    int64_t llm_weights;   /* libllama's model buffers; of its mapping of llm.gguf (Linux),
                              the pages resident now (the first prompt reads the weights used
                              in place; those repacked for the CPU are in their own buffers)   */
    int64_t towers[3];     /* per ggpt_media: the tower's resident weights (0 when not loaded),
                              AMX copies included, released f16 pages excluded                  */
    int64_t kv_cache;      /* libllama's context memory: the KV cache                           */
    int64_t llm_compute;   /* libllama's compute buffers (sized for the largest graph: n_ubatch)  */
    int64_t tower_compute; /* the towers' compute buffers in this context (kept between calls)  */
    int64_t device;        /* of all these, the bytes on a non-host device (GPU, RPC)           */
} ggpt_memory_info;

GGPT_API ggpt_status ggpt_context_memory(const ggpt_context * ctx, ggpt_memory_info * out);

/* ------------------------------------------------------------------------------------------ */
/* Prompt evaluation                                                                          */

typedef enum ggpt_span_type {
    GGPT_SPAN_TOKENS = 0, /* tokens[0..n)                                                   */
    GGPT_SPAN_EMBD = 1,   /* embd[0..n*n_embd): n rows of LLM input embeddings (row-major)  */
} ggpt_span_type;

typedef struct ggpt_span {
    ggpt_span_type type;
    int32_t n;
    const int32_t * tokens;
    const float * embd;
    /* identity of the embedding rows for KV-cache reuse (e.g. a hash of the media and the tower
     * that made them): equal ids mean equal rows. 0 = never reuse. Ignored for tokens. embd may
     * be NULL (with an id) for a span the sequence already holds (a restored snapshot); a task
     * whose such span is not held fails with GGPT_ERR_INVALID_ARGUMENT, nothing changed. */
    uint64_t embd_id;
} ggpt_span;

typedef struct ggpt_eval_params {
    ggpt_abort_fn abort; /* polled between batches and during graph compute           */
    void * abort_user;
    ggpt_progress_fn progress; /* fraction of the prompt evaluated; may be NULL              */
    void * progress_user;
} ggpt_eval_params;

GGPT_API ggpt_eval_params ggpt_eval_default_params(void);

typedef struct ggpt_eval_result {
    int32_t n_prompt;    /* positions in the prompt                                       */
    int32_t n_reused;    /* positions kept from the KV cache (common prefix)             */
    int32_t n_evaluated; /* positions evaluated now                                      */
    double t_ms;         /* wall time                                                    */
} ggpt_eval_result;

/* Makes sequence 0 hold exactly the given spans (in order) and the logits of its last
 * position (a task on sequence 0 stepped to its end; GGPT_ERR_INVALID_ARGUMENT while other
 * tasks run). The longest prefix already in the KV cache (same tokens, same embd_id rows) is
 * kept; the rest is removed and evaluated in batches of at most n_batch positions. A sequence of
 * tokens only goes through llama_batch.token; one with an embedding span goes through
 * llama_batch.embd throughout (token rows dequantised from token_embd, as libllama's own lookup
 * does), so its batches run across span boundaries.
 * If every position matches, the last one is evaluated again for its logits (unless they are
 * still current). Checked first (nothing touched on failure): span sizes and pointers, token
 * ids, total <= n_ctx (GGPT_ERR_CONTEXT_FULL). On abort (GGPT_ERR_ABORTED: the abort function,
 * or progress returning false) or failure the cache keeps the common prefix plus the batches
 * that completed, so the context stays usable and a retry reuses them. */
GGPT_API ggpt_status ggpt_prompt(ggpt_context * ctx, const ggpt_span * spans, size_t n_spans,
                                 const ggpt_eval_params * params, ggpt_eval_result * result);

/* Positions sequence 0 holds in the KV cache. */
GGPT_API int32_t ggpt_context_n_past(const ggpt_context * ctx);

/* Forgets everything (KV cache cleared, every sequence). Not while tasks run. */
GGPT_API void ggpt_context_clear(ggpt_context * ctx);

/* Logits (n_vocab floats) of sequence 0's last position, or NULL if they are not current. Valid
 * until the next call on the context. */
GGPT_API const float * ggpt_get_logits(ggpt_context * ctx);

/* Input embeddings the LLM would use for a token sequence (token_embd rows, dequantised):
 * out = n * n_embd floats. For tests and for callers that splice features themselves. */
GGPT_API ggpt_status ggpt_token_embeddings(ggpt_context * ctx, const int32_t * tokens, int32_t n, float * out);

/* ------------------------------------------------------------------------------------------ */
/* Generation                                                                                 */

typedef enum ggpt_stop_reason {
    GGPT_STOP_NONE = 0,
    GGPT_STOP_EOS = 1,    /* end-of-sequence token                                        */
    GGPT_STOP_STRING = 2, /* a stop string completed (it is stripped from the text)       */
    GGPT_STOP_MAX_TOKENS = 3,
    GGPT_STOP_ABORTED = 4,
    GGPT_STOP_CONTEXT_FULL = 5,
} ggpt_stop_reason;

/* Streaming: called once per sampled token with the text that token released: text is held back
 * while it could still become a stop string and never ends inside a UTF-8 character; the call
 * for the last token releases everything left (the stop string itself is never released), so
 * the pieces concatenated equal result.text. Return false to stop (reason ABORTED). text may be
 * empty. */
typedef bool (*ggpt_token_fn)(int32_t token, const char * text, size_t text_len, void * user);

typedef struct ggpt_generate_params {
    int32_t max_tokens;        /* default 512                                             */
    float temperature;         /* 0 = greedy (default)                                    */
    int32_t top_k;             /* 0 = off (default 40 when sampling)                      */
    float top_p;               /* 1 = off (default 0.95 when sampling)                    */
    float min_p;               /* 0 = off (default)                                       */
    float repeat_penalty;      /* 1 = off (default)                                       */
    int32_t repeat_last_n;     /* default 64                                              */
    uint32_t seed;             /* sampling seed (default 0xFFFFFFFF = random)              */
    const char * const * stop; /* stop strings (default none: the caller passes "###")    */
    size_t n_stop;
    bool stop_at_eos; /* default true                                            */
    ggpt_token_fn on_token;
    void * on_token_user;
    ggpt_abort_fn abort;
    void * abort_user;
} ggpt_generate_params;

GGPT_API ggpt_generate_params ggpt_generate_default_params(void);

typedef struct ggpt_generate_result {
    int32_t * tokens; /* generated ids (the stop/EOS token included); owned      */
    int32_t n_tokens;
    char * text; /* generated text, stop string stripped, NUL-terminated   */
    size_t text_len;
    ggpt_stop_reason stop_reason;
    double t_ms; /* wall time of the generation loop                       */
} ggpt_generate_result;

/* Generates after what sequence 0 holds (ggpt_prompt must have run; a task stepped to its
 * end, as ggpt_prompt). Sampling: greedy (argmax)
 * when temperature is 0, else llama.cpp's chain penalties -> top_k -> top_p -> min_p -> temp ->
 * dist(seed); repeat_penalty applies in both cases and also sees the prompt's tokens. Stops on
 * EOS (stop_at_eos), when the text contains a stop string (the text is cut before it), at
 * max_tokens, or when the context is full. Each sampled token except the last is evaluated and
 * appended to the context, so a later ggpt_prompt reuses it. Abort returns GGPT_ERR_ABORTED with
 * the partial result filled in (free it); the context keeps the tokens evaluated so far. */
GGPT_API ggpt_status ggpt_generate(ggpt_context * ctx, const ggpt_generate_params * params,
                                   ggpt_generate_result * result);
GGPT_API void ggpt_generate_result_free(ggpt_generate_result * result);

/* ------------------------------------------------------------------------------------------ */
/* Tasks: several sequences decoded together                                                  */

typedef struct ggpt_task ggpt_task;

typedef struct ggpt_task_params {
    int32_t seq; /* the sequence, in [0, n_seq); one task per sequence at a time           */
    /* The prompt: the whole sequence the task makes the sequence hold, as ggpt_prompt (the
     * longest prefix already there is kept). The spans and the memory they point to must stay
     * valid until the task ends. n_spans = 0: no prompt, generation continues after what the
     * sequence holds (its logits must be current: nothing else decoded since). */
    const ggpt_span * spans;
    size_t n_spans;
    /* NULL: prompt only. Copied (stop strings included); its callbacks run inside ggpt_step. */
    const ggpt_generate_params * generate;
    ggpt_eval_params eval; /* the prompt's abort and progress; abort is polled by every step */
} ggpt_task_params;

/* Checks the task (spans, token ids, positions, generation parameters: nothing changes on
 * failure) and queues it; it starts at the next ggpt_step. */
GGPT_API ggpt_status ggpt_task_start(ggpt_context * ctx, const ggpt_task_params * params, ggpt_task ** out);

/* One decode over every task that is not done: each generating task's next token and a chunk of
 * each prompt (n_batch positions in all; n_batch_shared per prompt while others generate), in
 * one llama_batch (token ids, or embedding rows when a prompt in it has embedding spans); then
 * sampling for the tasks whose logits came out. Tasks whose abort function says stop end first
 * (the decode itself is interrupted only when every task in it asks to stop). A failure of the
 * decode ends the tasks in it with that status; each sequence keeps what completed. Returns
 * GGPT_OK unless the arguments are wrong; *n_running (may be NULL): tasks not done after it. */
GGPT_API ggpt_status ggpt_step(ggpt_context * ctx, int32_t * n_running);

/* Whether the task has ended, and how: GGPT_OK, GGPT_ERR_ABORTED (generation: the partial
 * result is kept, stop_reason ABORTED), or the failure. */
GGPT_API bool ggpt_task_done(const ggpt_task * task);
GGPT_API ggpt_status ggpt_task_status(const ggpt_task * task);
GGPT_API const char * ggpt_task_error(const ggpt_task * task);
/* The prompt's figures and, with generation, its result (moved out: free it with
 * ggpt_generate_result_free). Either may be NULL. Only once the task is done. */
GGPT_API ggpt_status ggpt_task_result(ggpt_task * task, ggpt_eval_result * eval, ggpt_generate_result * result);
/* Frees a task; one not done is ended (its sequence keeps what was evaluated). */
GGPT_API void ggpt_task_free(ggpt_task * task);

/* Positions at the start of sequence seq that a task with these spans would keep (to choose the
 * sequence that already holds most of a prompt). 0 on bad arguments. */
GGPT_API int32_t ggpt_seq_common_prefix(const ggpt_context * ctx, int32_t seq, const ggpt_span * spans, size_t n_spans);
/* Positions sequence seq holds; -1 when seq is out of range. */
GGPT_API int32_t ggpt_seq_n_past(const ggpt_context * ctx, int32_t seq);

/* The sequence a task runs on. */
GGPT_API int32_t ggpt_task_seq(const ggpt_task * task);

/* Snapshots: what a sequence holds (its cells and their KV), as bytes, so that another process
 * with the same model files and context parameters can skip evaluating that prefix again (the
 * library's KV cache on disk). ggpt_seq_snapshot copies sequence seq whole and records that its
 * first n positions (0 < n <= what it holds) are the ones to keep; *out is malloc'd (free()).
 * ggpt_seq_restore makes sequence seq (no task on it) hold those n positions, replacing what it
 * held; the bytes are checked (sizes, header, this model's width and layers, the KV type) and on
 * any failure the sequence is left empty (GGPT_ERR_FORMAT). A snapshot is not a security
 * boundary: callers verify where the bytes come from (the library keeps a checksum). */
GGPT_API ggpt_status ggpt_seq_snapshot(ggpt_context * ctx, int32_t seq, int32_t n, uint8_t ** out, size_t * out_len);
GGPT_API ggpt_status ggpt_seq_restore(ggpt_context * ctx, int32_t seq, const uint8_t * data, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Media preprocessing (pure functions of the model's hyper-parameters; any thread)           */

/* An 8-bit RGB image, rows top to bottom, stride = bytes per row (>= 3*width). */
typedef struct ggpt_image_u8 {
    const uint8_t * data;
    int32_t width, height;
    int32_t stride;
} ggpt_image_u8;

typedef struct ggpt_image_geometry {
    int32_t width, height;      /* original                                                    */
    int32_t side;               /* S = max(width, height): the padded square                   */
    int32_t offset_x, offset_y; /* (S-W)//2, (S-H)//2: where the original sits in the square   */
} ggpt_image_geometry;

/* docs/COMPUTATION.md §2 steps 2-4: pad to the square with the CLIP-mean colour, Pillow-exact bicubic resize
 * to image_size, normalise. resized (image_size^2*3 bytes, HWC) and pixels (3*image_size^2
 * floats, CHW) may each be NULL. model may be NULL (the released parameters: 336, CLIP mean/std).
 * The resize equals Pillow's Image.resize(BICUBIC) byte for byte; pixels are
 * ((u8 * (1/255) in double -> float) - mean) / std in float. Width and height must be in
 * [1, 262144] and stride >= 3*width; images of 2 Mpixel and more use several threads.
 * Errors: GGPT_ERR_INVALID_ARGUMENT (message in err). Any thread. */
GGPT_API ggpt_status ggpt_image_preprocess(const ggpt_model * model, const ggpt_image_u8 * image, uint8_t * resized,
                                           float * pixels, ggpt_image_geometry * geometry, char * err, size_t err_len);

typedef struct ggpt_audio_clip {
    int64_t sample_start, sample_end; /* [start, end) in 16 kHz samples                       */
    double t_start, t_end;            /* seconds                                              */
} ggpt_audio_clip;

typedef struct ggpt_audio_info {
    int64_t n_samples_16k; /* after resampling                                     */
    double duration;       /* seconds                                              */
    int32_t n_clips;
    ggpt_audio_clip clips[8];
    bool padded; /* shorter than one fbank window: zero-padded (warned)  */
} ggpt_audio_info;

/* docs/COMPUTATION.md §4 steps 1-4: resample each channel to 16 kHz (torchaudio's windowed sinc), cut the clips,
 * in-place mean subtraction, Kaldi fbank of channel 0, pad/crop, normalise.
 * channels: n_channels (1..8) pointers to n_samples (> 0) finite floats, nominally in [-1, 1], at
 * sample_rate (1000..768000 Hz: the range real audio uses; it also bounds the resampling kernel).
 * NaN/Inf samples, other channel counts or rates -> GGPT_ERR_INVALID_ARGUMENT naming the problem.
 * fbank: n_clips * n_mels * target_len floats (3*128*204), may be NULL.
 * wave16k: n_channels * n_samples_16k floats (channel-major), the resampled signal before the clip
 * mean subtraction, when non-NULL and wave16k_cap is large enough (else GGPT_ERR_INVALID_ARGUMENT);
 * query the size with ggpt_audio_resampled_len. Without wave16k only the clip windows are
 * resampled (cost independent of the duration). A clip shorter than one 400-sample fbank window
 * is zero-padded and info->padded set (upstream fails; callers warn). model may be NULL (the
 * released parameters). Any thread. */
/* Samples per channel after resampling to 16 kHz: ceil(16000*n/rate) with the rates reduced by
 * their gcd (n itself at 16 kHz); -1 when the rate is out of range. */
GGPT_API int64_t ggpt_audio_resampled_len(int64_t n_samples, int32_t sample_rate);
GGPT_API ggpt_status ggpt_audio_preprocess(const ggpt_model * model, const float * const * channels, int32_t n_channels,
                                           int64_t n_samples, int32_t sample_rate, float * fbank, float * wave16k,
                                           int64_t wave16k_cap, ggpt_audio_info * info, char * err, size_t err_len);

/* ------------------------------------------------------------------------------------------ */
/* Towers                                                                                     */

typedef struct ggpt_encode_params {
    ggpt_abort_fn abort;
    void * abort_user;
    ggpt_progress_fn progress; /* fraction of the tower done (per frame batch / block)       */
    void * progress_user;
} ggpt_encode_params;

GGPT_API ggpt_encode_params ggpt_encode_default_params(void);

/* Image: out = media_n_tokens[IMAGE] * n_embd floats (projected features). The image is any size
 * (preprocessing as ggpt_image_preprocess). */
GGPT_API ggpt_status ggpt_encode_image(ggpt_context * ctx, const ggpt_image_u8 * image, float * out,
                                       const ggpt_encode_params * params);

/* Video: n_frames frames already sampled (docs/COMPUTATION.md §3.1) and scaled to video_frame_size squared, RGB8
 * (stride = 3*side). 1 <= n_frames <= video_max_frames. out = 64 * n_embd floats. */
GGPT_API ggpt_status ggpt_encode_video(ggpt_context * ctx, const uint8_t * const * frames, int32_t n_frames,
                                       float * out, const ggpt_encode_params * params);

/* Audio: fbank as written by ggpt_audio_preprocess (n_clips*128*204). out = 8 * n_embd floats. */
GGPT_API ggpt_status ggpt_encode_audio(ggpt_context * ctx, const float * fbank, int32_t n_clips, float * out,
                                       const ggpt_encode_params * params);

/* Named intermediate outputs of a tower, for tests and research (see ggpt_probe_names). The
 * input is the same as for the ggpt_encode_* function of that media (image: ggpt_image_u8*;
 * video: const uint8_t* const* frames with n_items frames; audio: fbank floats with n_items clips).
 * shape receives up to 4 dims, outermost first (e.g. {577, 1024}); returns the element count
 * through *n_out; when cap (in floats) is too small nothing is written and
 * GGPT_ERR_INVALID_ARGUMENT is returned with *n_out set. */
GGPT_API ggpt_status ggpt_encode_probe(ggpt_context * ctx, ggpt_media media, const void * input, int32_t n_items,
                                       const char * name, float * out, int64_t cap, int64_t * n_out, int64_t shape[4],
                                       int32_t * n_dims, const ggpt_encode_params * params);

/* Wall times of the last successful ggpt_encode_image / _video / _audio on this context, in ms:
 * preprocessing in the core (image pad + resize + normalise; 0 for video and audio, whose inputs
 * come prepared) and the tower itself. Zeros before the first call. */
GGPT_API void ggpt_encode_last_timings(const ggpt_context * ctx, double * preprocess_ms, double * tower_ms);

/* Comma-separated names ggpt_encode_probe accepts for a media (static string). */
GGPT_API const char * ggpt_probe_names(ggpt_media media);

/* Towers on demand (docs/ARCHITECTURE.md): a tower's weights are read (and repacked for AMX)
 * when a ggpt_encode_* call first needs them, or here. towers: bits 1 << ggpt_media (absent
 * towers are ignored). params: progress over the bytes read and abort (may be NULL). Thread-safe:
 * waits for encodes running on other contexts of the model. GGPT_ERR_FORMAT when the file was
 * cut short since the model was loaded, GGPT_ERR_IO, _OUT_OF_MEMORY, _ABORTED: the failed tower
 * stays unloaded (a later call tries again), the model stays usable. */
GGPT_API ggpt_status ggpt_model_load_towers(ggpt_model * model, uint32_t towers, const ggpt_encode_params * params,
                                            char * err, size_t err_len);
/* Frees the towers' weights (they are read again when next needed); waits for running encodes. */
GGPT_API void ggpt_model_release_towers(ggpt_model * model, uint32_t towers);
/* The towers whose weights are resident (bits 1 << ggpt_media). */
GGPT_API uint32_t ggpt_model_towers_resident(const ggpt_model * model);
/* Frees this context's tower compute buffers (made again by the next encode). Not while an encode
 * runs on this context. */
GGPT_API void ggpt_context_release_tower_buffers(ggpt_context * ctx);

/* ------------------------------------------------------------------------------------------ */
/* Quantisation (converter support)                                                            */

typedef enum ggpt_ftype {
    GGPT_FTYPE_F32 = 0,
    GGPT_FTYPE_F16 = 1,
    GGPT_FTYPE_Q8_0 = 7,
    GGPT_FTYPE_Q4_K_M = 15,
} ggpt_ftype;

/* Quantises an LLM GGUF with libllama's quantiser (stock mixes, e.g. Q4_K_M). Writes out_path
 * directly; the caller writes to a temp name and renames. */
GGPT_API ggpt_status ggpt_quantize_llm(const char * in_path, const char * out_path, ggpt_ftype ftype, int32_t n_threads,
                                       char * err, size_t err_len);

/* ggml type ids for ggpt_quantize_rows (ggml's enum values). */
#define GGPT_TYPE_F32  0
#define GGPT_TYPE_F16  1
#define GGPT_TYPE_Q4_K 12
#define GGPT_TYPE_Q6_K 14
#define GGPT_TYPE_Q8_0 8

/* Converts n_rows rows of n_per_row floats to a ggml type; returns the bytes written into out
 * (which must hold ggpt_row_size(type, n_per_row) * n_rows), or -1 when the type cannot hold
 * rows of that length. Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K (the
 * ones that need no importance matrix). Large inputs are split over up to 8 threads (same
 * bytes). Thread-safe. */
GGPT_API int64_t ggpt_row_size(int32_t type, int64_t n_per_row);
GGPT_API int64_t ggpt_quantize_rows(int32_t type, const float * src, void * out, int64_t n_rows, int64_t n_per_row);

#ifdef __cplusplus
}
#endif

#endif /* GROUNDINGGPT_H */
