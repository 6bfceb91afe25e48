// model.h (addon) - NativeModel: a ggpt_model plus its ggpt_context (n_seq sequences) behind N-API, and the
// pieces other addon files use to add methods to it (encode*, probe):
//
//   - NativeModel::run_op  runs a lambda on the model's compute thread (Executor) while the model
//                          is marked busy and settles a Promise on the main thread;
//   - Stream / Progress    deliver values from the worker to a JS callback through an unref'd
//                          thread-safe function, all of them before the Promise settles;
//   - CancelFlag           the atomic flag behind a createCancel() object, polled by the core;
//   - MethodRegistrar      adds an instance method from another file:
//
//       static Napi::Value EncodeImage(NativeModel & self, const Napi::CallbackInfo & info);
//       static ggpt::addon::MethodRegistrar reg_encode_image("encodeImage", EncodeImage);
//
// Conventions (src/native.ts): errors carry `code` = the core's status name upper-cased, or
// 'BUSY' / 'DISPOSED'; async methods never throw synchronously, they reject.
//
// Environment teardown (docs/RELIABILITY.md, "Environment teardown"): a Worker ended by
// terminate(), a Worker that returns without dispose(), an Electron renderer closing, all tear
// down their Node-API environment while an operation may run. Nothing here may throw into Node
// then, nor call JS: an EnvState per environment knows its models and running operations, and its
// cleanup hook cancels the operations, waits for their jobs, frees the models and joins their
// compute threads. process.exit() runs no cleanup hooks: an atexit handler cancels and waits.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "groundinggpt.h"

namespace ggpt::addon {

// ---- errors ------------------------------------------------------------------------------------

// An Error with a `code` property.
Napi::Error make_error(Napi::Env env, const std::string & code, const std::string & message);
// code = ggpt_status_name(status) upper-cased ("INVALID_ARGUMENT", ...).
Napi::Error status_error(Napi::Env env, ggpt_status status, const std::string & message);
std::string status_code(ggpt_status status);

// ---- cancellation ------------------------------------------------------------------------------

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// The flag of a createCancel() object (argument check included: throws INVALID_ARGUMENT).
CancelFlag cancel_flag(Napi::Env env, const Napi::Value & value);
// ggpt_abort_fn over a CancelFlag (user = std::atomic<bool>*).
bool cancel_abort_fn(void * user);

// ---- worker -> JS callbacks ----------------------------------------------------------------------

// Values pushed on a worker thread and delivered to a JS function on the main thread, in order.
// The thread-safe function is unref'd (never keeps the process alive) and push never blocks.
// The operation drains what is left before it settles, so every value arrives before the Promise.
// The thread-safe function owns a reference to its Stream until Node finalizes it (after close(),
// or when the environment is torn down); after that push() is a no-op.
class Stream : public std::enable_shared_from_this<Stream> {
public:
    // Fills the arguments of one call (plain Node-API values); false: no call.
    using Item = std::function<bool(napi_env, std::vector<napi_value> & args)>;
    // nullptr when fn is undefined/null; throws INVALID_ARGUMENT when it is not a function.
    static std::shared_ptr<Stream> create(Napi::Env env, const Napi::Value & fn, const char * name);

    // worker thread: queue a call
    void push(Item item);
    // main thread: make every queued call now (never throws: a throwing callback sets failed and
    // its exception is cleared and kept as error(); when JS cannot run, failed is set too)
    void drain(Napi::Env env);
    // main thread: no more items (after a final drain)
    void close();

    // Set when the JS callback threw: the operation should stop (the error rejects its Promise).
    std::atomic<bool> failed{false};
    Napi::Value error(Napi::Env env) const { return error_.IsEmpty() ? env.Undefined() : error_.Value(); }

private:
    static void call_js(napi_env env, napi_value fn, void * context, void * data);
    static void finalize(napi_env env, void * data, void * hint);

    napi_threadsafe_function tsfn_ = nullptr;  // null once Node finalized it
    Napi::FunctionReference fn_;
    Napi::Reference<Napi::Value> error_;
    std::mutex mutex_;
    std::vector<Item> items_;
    bool scheduled_ = false;
    bool closed_ = false;
};

// Progress fractions through a Stream, coalesced: at most one pending value (the newest) and
// only changes of at least 1/1000. progress_fn is a ggpt_progress_fn (user = Progress*): it
// returns false when the cancel flag is set or the callback threw.
// With a tag >= 0 the call is (tag, fraction): several sources share one stream, in order (turn.cpp).
class Progress {
public:
    Progress(std::shared_ptr<Stream> stream, CancelFlag cancel, int32_t tag = -1)
        : stream_(std::move(stream)), cancel_(std::move(cancel)), tag_(tag) {}
    static bool progress_fn(float fraction, void * user);
    const std::shared_ptr<Stream> & stream() const { return stream_; }

private:
    std::shared_ptr<Stream> stream_;
    CancelFlag cancel_;
    int32_t tag_;
    std::mutex mutex_;
    float last_ = -1.0f;
    float pending_ = -1.0f;
};

// ---- the model's compute thread ----------------------------------------------------------------

// One native thread that runs every blocking operation of one model, from loading to freeing.
// ggml's CPU backend parallelises with OpenMP, and libgomp keeps one thread team per *calling*
// thread: were the operations run on whichever libuv pool thread is free, a process would soon
// hold a team per pool thread, more OpenMP threads than CPUs, and libgomp would switch to its
// throttled spin mode where every barrier inside a graph sleeps on a futex (measured: ~11,000
// context switches for 16 generated tokens instead of 2, prompt processing ~10 % slower).
// Operations post their job here and return; no libuv pool thread waits for it, so neither
// process.exit() (which joins the pool) nor a Worker's teardown (which waits for pool work) is
// held up by a long generation: both cancel it instead (EnvState).
class Executor {
public:
    Executor();
    ~Executor();  // runs what is queued, then joins the thread (detaches when called on it)
    Executor(const Executor &) = delete;
    Executor & operator=(const Executor &) = delete;

    // Queues fn to run on the compute thread after the jobs before it. fn must not throw.
    void post(std::function<void()> fn);

private:
    void loop();
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stop_ = false;
    std::thread thread_;
};

// ---- the model -------------------------------------------------------------------------------

class NativeModel;
class Scheduler;  // scheduler.h
struct Op;        // util.cpp: one operation between its start and its settling

// The models and running operations of one Node-API environment (util.cpp). Created with the
// module (RegisterModel), which registers its cleanup hook; kept in a process-wide list for the
// atexit handler.
struct EnvState {
    EnvState();
    ~EnvState();
    std::mutex mutex;
    std::condition_variable cv;                // an operation's job finished
    bool closing = false;                      // teardown or process exit began: nothing settles
    std::unordered_set<Op *> ops;              // started and not settled (or abandoned)
    std::unordered_set<NativeModel *> models;  // alive (NativeModel registers itself)
};
std::shared_ptr<EnvState> env_state(Napi::Env env);

class NativeModel : public Napi::ObjectWrap<NativeModel> {
public:
    // Builds the class (own methods + registered extensions); called once per environment.
    static Napi::Function define_class(Napi::Env env);
    // loadModel(options, cancel, onProgress?) -> Promise<NativeModel>
    static Napi::Value load(const Napi::CallbackInfo & info);

    explicit NativeModel(const Napi::CallbackInfo & info);
    ~NativeModel() override;

    ggpt_model * model() const { return model_; }
    const std::shared_ptr<Executor> & executor() const { return exec_; }
    ggpt_context * ctx() const { return ctx_; }

    // Work run on the compute thread: returns a status; on failure sets err (for a context call,
    // ggpt_context_last_error(ctx) is the usual message).
    using Work = std::function<ggpt_status(std::string & err)>;
    // Builds the resolved value on the main thread after Work succeeded.
    using Done = std::function<Napi::Value(Napi::Env)>;

    // Starts an operation: rejects with DISPOSED after dispose(), BUSY while another operation
    // runs; else runs work on the compute thread (the model's JS object is kept alive meanwhile),
    // drains the streams, then resolves with done(env) or rejects with the status (or with the
    // error a stream callback threw). cancel is the flag the work's abort callbacks poll: the
    // environment's teardown sets it. Returns the Promise.
    Napi::Value run_op(Napi::Env env, Work work, Done done, std::vector<std::shared_ptr<Stream>> streams = {},
                       CancelFlag cancel = nullptr);

    // A turn (turn.cpp): up to n_seq run at once, through the model's scheduler (scheduler.h).
    // work is called on the main thread with `complete`, which the compute thread calls once
    // when the turn has ended. Rejects with DISPOSED, or BUSY while an exclusive operation runs or
    // every sequence is in use; then like run_op.
    using Complete = std::function<void(ggpt_status status, const std::string & err)>;
    using AsyncWork = std::function<void(Complete complete)>;
    Napi::Value run_turn(Napi::Env env, AsyncWork work, Done done, std::vector<std::shared_ptr<Stream>> streams,
                         CancelFlag cancel);
    const std::shared_ptr<Scheduler> & scheduler() const { return sched_; }

    // Environment teardown (EnvState's cleanup hook, no operation running): frees the handles and
    // joins the compute thread. The object stays, disposed.
    void env_teardown();

    // For synchronous methods that touch the context: throws DISPOSED / BUSY.
    void check_idle(Napi::Env env) const;
    // For synchronous methods that only read the model: throws DISPOSED.
    void check_alive(Napi::Env env) const;

    bool busy() const { return busy_ || active_turns_ > 0; }
    bool disposed() const { return disposed_; }

    // What the model did, for tests and measurements (counters(), turn.cpp): operations started,
    // and feature rows made by the towers inside turns (count and bytes). Main thread only.
    struct Counters {
        double operations = 0, features = 0, feature_bytes = 0;
    } counters;

private:
    friend struct Op;
    friend class CallOp;
    friend class FreeOp;
    void op_finished(Napi::Env env, bool turn);
    void start_free(Napi::Env env);

    Napi::Value info(const Napi::CallbackInfo & info);
    Napi::Value unusable(const Napi::CallbackInfo & info);  // RPC: why the model cannot be used, or null
    Napi::Value tokenize(const Napi::CallbackInfo & info);
    Napi::Value detokenize(const Napi::CallbackInfo & info);
    Napi::Value token_to_piece(const Napi::CallbackInfo & info);
    Napi::Value prompt(const Napi::CallbackInfo & info);
    Napi::Value logits(const Napi::CallbackInfo & info);
    Napi::Value token_embeddings(const Napi::CallbackInfo & info);
    Napi::Value generate(const Napi::CallbackInfo & info);
    Napi::Value n_past(const Napi::CallbackInfo & info);
    Napi::Value clear(const Napi::CallbackInfo & info);
    Napi::Value dispose(const Napi::CallbackInfo & info);
    Napi::Value call_extension(const Napi::CallbackInfo & info);

    ggpt_model * model_ = nullptr;
    ggpt_context * ctx_ = nullptr;
    std::shared_ptr<Executor> exec_;    // the thread that loaded the model runs all its work
    bool busy_ = false;                 // an exclusive operation is running
    int32_t active_turns_ = 0;          // turns started and not settled
    std::shared_ptr<Scheduler> sched_;  // runs the turns on the compute thread
    bool disposed_ = false;             // dispose() was called (the handles may still be being freed)
    bool freeing_ = false;
    std::vector<Napi::Promise::Deferred> dispose_waiters_;
    std::shared_ptr<EnvState> state_;
};

// Extension methods (other addon files): registered before the module initialises (static
// initialisers), installed on NativeModel.prototype by define_class.
using ExtensionMethod = Napi::Value (*)(NativeModel & self, const Napi::CallbackInfo & info);
struct MethodRegistrar {
    MethodRegistrar(const char * name, ExtensionMethod fn);
};

// Module functions of this area (addon.cpp calls it).
void RegisterModel(Napi::Env env, Napi::Object exports);

// Per-environment data: constructors, models and operations.
struct AddonData {
    Napi::FunctionReference model_ctor;
    Napi::FunctionReference cancel_ctor;
    Napi::FunctionReference features_ctor;  // NativeFeatures (features.h)
    std::shared_ptr<EnvState> state;
};
AddonData & addon_data(Napi::Env env);

}  // namespace ggpt::addon
