// util.cpp (addon) - errors, cancel objects, worker->JS streams, operations on the compute threads,
// environment teardown and process exit. (Over 500 lines: the teardown protocol, docs/RELIABILITY.md
// "Environment teardown", spans the streams, the operations and the environment state; kept in one
// file so that it can be read and checked in one place.)
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

#include "model.h"

namespace ggpt::addon {

// ---- errors ------------------------------------------------------------------------------------

Napi::Error make_error(Napi::Env env, const std::string & code, const std::string & message) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, code));
    return e;
}

std::string status_code(ggpt_status status) {
    std::string s = ggpt_status_name(status);
    for (char & c : s) c = (char)toupper((unsigned char)c);
    return s;
}

Napi::Error status_error(Napi::Env env, ggpt_status status, const std::string & message) {
    return make_error(env, status_code(status), message.empty() ? std::string(ggpt_status_name(status)) : message);
}

// ---- cancel objects ------------------------------------------------------------------------------

namespace {

class Cancel : public Napi::ObjectWrap<Cancel> {
public:
    static Napi::Function define_class(Napi::Env env) {
        return DefineClass(
            env, "NativeCancel",
            {InstanceMethod<&Cancel::cancel>("cancel"), InstanceAccessor<&Cancel::cancelled>("cancelled")});
    }
    explicit Cancel(const Napi::CallbackInfo & info)
        : Napi::ObjectWrap<Cancel>(info), flag(std::make_shared<std::atomic<bool>>(false)) {}
    CancelFlag flag;

private:
    Napi::Value cancel(const Napi::CallbackInfo & info) {
        flag->store(true);
        return info.Env().Undefined();
    }
    Napi::Value cancelled(const Napi::CallbackInfo & info) { return Napi::Boolean::New(info.Env(), flag->load()); }
};

Napi::Value CreateCancel(const Napi::CallbackInfo & info) { return addon_data(info.Env()).cancel_ctor.New({}); }

}  // namespace

CancelFlag cancel_flag(Napi::Env env, const Napi::Value & value) {
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(addon_data(env).cancel_ctor.Value())) {
        throw make_error(env, "INVALID_ARGUMENT", "expected a NativeCancel from createCancel()");
    }
    return Cancel::Unwrap(value.As<Napi::Object>())->flag;
}

bool cancel_abort_fn(void * user) { return user && ((std::atomic<bool> *)user)->load(); }

void register_cancel(Napi::Env env, Napi::Object exports) {
    addon_data(env).cancel_ctor = Napi::Persistent(Cancel::define_class(env));
    exports.Set("createCancel", Napi::Function::New(env, CreateCancel, "createCancel"));
}

AddonData & addon_data(Napi::Env env) {
    AddonData * d = env.GetInstanceData<AddonData>();
    if (!d) {
        d = new AddonData();
        env.SetInstanceData(d);
    }
    return *d;
}

// ---- streams -------------------------------------------------------------------------------------

std::shared_ptr<Stream> Stream::create(Napi::Env env, const Napi::Value & fn, const char * name) {
    if (fn.IsUndefined() || fn.IsNull()) return nullptr;
    if (!fn.IsFunction()) throw make_error(env, "INVALID_ARGUMENT", std::string("expected a function for ") + name);
    auto s = std::make_shared<Stream>();
    s->fn_ = Napi::Persistent(fn.As<Napi::Function>());
    // the thread-safe function keeps its Stream until Node finalizes it
    auto * holder = new std::shared_ptr<Stream>(s);
    napi_status st = napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, name), 0, 1, holder,
                                                     &Stream::finalize, holder, &Stream::call_js, &s->tsfn_);
    if (st != napi_ok) {
        delete holder;
        throw make_error(env, "INTERNAL", std::string("could not create the thread-safe function for ") + name);
    }
    napi_unref_threadsafe_function(env, s->tsfn_);
    return s;
}

// Node calls this on the main thread for each wake-up, and with env == nullptr for wake-ups still
// queued when the environment goes away.
void Stream::call_js(napi_env env, napi_value, void * context, void *) {
    if (!env) return;
    try {
        (*(std::shared_ptr<Stream> *)context)->drain(Napi::Env(env));
    } catch (...) {
        // nothing may unwind into Node (the environment may be stopping)
    }
}

void Stream::finalize(napi_env, void * data, void *) {
    auto * holder = (std::shared_ptr<Stream> *)data;
    {
        std::lock_guard<std::mutex> lock((*holder)->mutex_);
        (*holder)->tsfn_ = nullptr;
        (*holder)->closed_ = true;
        (*holder)->items_.clear();
    }
    delete holder;
}

void Stream::push(Item item) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || !tsfn_ || failed.load()) return;
    items_.push_back(std::move(item));
    if (scheduled_) return;  // one wake-up drains everything queued until then
    scheduled_ = true;
    // under the lock: finalize() (which also takes it) cannot free the function meanwhile
    if (napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking) != napi_ok) {
        items_.clear();  // the environment is closing: nobody will read them
    }
}

void Stream::drain(Napi::Env env) {
    std::vector<Item> items;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        items.swap(items_);
        scheduled_ = false;
    }
    if (items.empty() || fn_.IsEmpty()) return;
    // Plain Node-API calls: node-addon-api's Function::Call turns a failed call into a Napi::Error,
    // which aborts the process when the environment is being torn down.
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
        failed.store(true);
        return;
    }
    napi_value fn = nullptr, undefined = nullptr;
    if (napi_get_reference_value(env, fn_.operator napi_ref(), &fn) != napi_ok || !fn ||
        napi_get_undefined(env, &undefined) != napi_ok)
        failed.store(true);
    std::vector<napi_value> args;
    for (Item & item : items) {
        if (failed.load()) break;
        args.clear();
        bool call = false;
        try {
            call = item(env, args);
        } catch (...) {
            failed.store(true);
            break;
        }
        if (!call) continue;
        napi_value result;
        if (napi_call_function(env, undefined, fn, args.size(), args.data(), &result) == napi_ok) continue;
        // the callback threw (its exception becomes the operation's error), or JS cannot run
        failed.store(true);
        bool pending = false;
        napi_value exc;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
            napi_ref ref;
            if (napi_create_reference(env, exc, 1, &ref) == napi_ok) error_ = Napi::Reference<Napi::Value>(env, ref);
        }
    }
    napi_close_handle_scope(env, scope);
}

void Stream::close() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    items_.clear();
    if (tsfn_) napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
}

bool Progress::progress_fn(float fraction, void * user) {
    auto * p = (Progress *)user;
    if (p->cancel_ && p->cancel_->load()) return false;
    if (!p->stream_) return true;
    if (p->stream_->failed.load()) return false;
    std::lock_guard<std::mutex> lock(p->mutex_);
    if (std::fabs(fraction - p->last_) < 1e-3f && fraction < 1.0f) return true;
    p->last_ = fraction;
    const bool queued = p->pending_ >= 0;
    p->pending_ = fraction;
    if (!queued) {
        p->stream_->push([p](napi_env env, std::vector<napi_value> & args) {
            float f;
            {
                std::lock_guard<std::mutex> lock(p->mutex_);
                f = p->pending_;
                p->pending_ = -1.0f;
            }
            napi_value v;
            if (f < 0 || napi_create_double(env, f, &v) != napi_ok) return false;
            if (p->tag_ >= 0) {
                napi_value t;
                if (napi_create_int32(env, p->tag_, &t) != napi_ok) return false;
                args.push_back(t);
            }
            args.push_back(v);
            return true;
        });
    }
    return true;
}

// ---- the compute thread --------------------------------------------------------------------------

Executor::Executor() : thread_([this] { loop(); }) {}

Executor::~Executor() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();  // never join oneself
    else thread_.join();
}

void Executor::post(std::function<void()> fn) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_.push_back(std::move(fn));
    }
    cv_.notify_all();
}

void Executor::loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ and nothing left
        std::function<void()> fn = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        fn();
        fn = nullptr;  // its captures go here, on this thread, before the next job
        lock.lock();
    }
}

// ---- operations ------------------------------------------------------------------------------------

// One operation: created on the main thread, its work runs as a job on the compute thread, then
// a ref'd thread-safe function (it keeps the process alive meanwhile) brings it back to the main
// thread to be settled. Owned by its EnvState's op list until then; deleted by complete() or by
// the environment's cleanup hook (abandon()).
struct Op {
    Op(const std::shared_ptr<EnvState> & st, const char * kind) : state(st), kind(kind) {}
    virtual ~Op() = default;

    std::shared_ptr<EnvState> state;
    const char * kind;
    std::shared_ptr<Executor> exec;
    CancelFlag cancel;  // set at teardown / exit
    napi_threadsafe_function tsfn = nullptr;
    bool finished = false;  // state->mutex: the job has returned

    virtual void run() = 0;                  // compute thread; must not throw
    virtual void settle(Napi::Env env) = 0;  // main thread, JS may fail: may throw, caught
    virtual void abandon() {}                // teardown: drop references without calling JS
    // Main thread, once registered: posts the job (run, then job_done) to the compute thread.
    // An operation that hands its work to the model's scheduler instead (turns) calls job_done
    // itself, on the compute thread, when the work has ended.
    virtual void launch();
    // Compute thread: the work has ended; the operation is settled on the main thread. The
    // operation may be deleted as soon as this returns.
    void job_done();

    void cancel_for_teardown() {
        if (cancel) cancel->store(true);
    }

    // Main thread: registers the operation and posts its job. false (the operation deleted) when
    // the environment is already closing.
    static bool start(Napi::Env env, Op * op);

private:
    static void complete(napi_env env, napi_value, void * context, void * data);
};

// ---- environments: teardown and process exit -------------------------------------------------------

namespace {

std::mutex g_states_mutex;
std::unordered_set<EnvState *> * g_states = new std::unordered_set<EnvState *>();  // never freed: used at exit

// process.exit() (or an uncaught exception) runs no cleanup hooks of the main environment: Node
// calls exit() while the compute threads may still run an operation, and exit() then destroys
// static objects that they use (ggml's backend registry, libllama's tables, ...). This handler
// (std::atexit runs it before the destructors of the statics constructed before it was
// registered) stops every running operation through its cancel flag and waits until its job has
// returned. The threads stay, idle; the models are not freed (the process is ending). Workers
// are torn down before (Node stops them first), through their own cleanup hooks.
bool teardown_debug();

void on_process_exit() {
    std::lock_guard<std::mutex> g(g_states_mutex);
    size_t running = 0;
    for (EnvState * st : *g_states) {
        std::lock_guard<std::mutex> lock(st->mutex);
        st->closing = true;
        for (Op * op : st->ops) {
            if (!op->finished) running++;
            op->cancel_for_teardown();
        }
    }
    for (EnvState * st : *g_states) {
        std::unique_lock<std::mutex> lock(st->mutex);
        st->cv.wait(lock, [st] {
            for (Op * op : st->ops)
                if (!op->finished) return false;
            return true;
        });
    }
    if (running && teardown_debug())
        fprintf(stderr, "groundinggpt: process exit: %zu operation(s) were running, stopped\n", running);
}

// Registers on_process_exit again after each of the first operations has settled, so that it
// also runs before the destructors of the function-local statics those operations constructed.
void register_exit_handler() {
    static std::atomic<int> registered{0};
    if (registered.load(std::memory_order_relaxed) >= 64) return;
    if (registered.fetch_add(1) < 64) std::atexit(on_process_exit);
}

bool teardown_debug() {
    static const bool on = [] {
        const char * v = std::getenv("GGPT_DEBUG_TEARDOWN");
        return v && *v && *v != '0';
    }();
    return on;
}

// The environment's cleanup hook: JS can no longer run. The operations' thread-safe functions
// were created after this hook was registered, so Node has already marked them closing (their
// hooks run first) and frees them only after this returns.
void env_cleanup(void * arg) {
    auto * st = (EnvState *)arg;
    std::vector<Op *> ops;
    std::vector<NativeModel *> models;
    size_t running = 0;
    {
        std::unique_lock<std::mutex> lock(st->mutex);
        st->closing = true;
        for (Op * op : st->ops) {
            if (!op->finished) running++;
            op->cancel_for_teardown();
        }
        st->cv.wait(lock, [st] {
            for (Op * op : st->ops)
                if (!op->finished) return false;
            return true;
        });
        ops.assign(st->ops.begin(), st->ops.end());
        st->ops.clear();
        models.assign(st->models.begin(), st->models.end());
    }
    if (teardown_debug())
        fprintf(stderr, "groundinggpt: environment teardown: %zu operation(s) running, %zu unsettled, %zu model(s)\n",
                running, ops.size(), models.size());
    // Deleting an operation frees what its work owned (a model being loaded, batons) and drops
    // its references; the models' compute threads are idle now and joined by env_teardown.
    for (Op * op : ops) {
        try {
            op->abandon();
        } catch (...) {}
        delete op;
    }
    for (NativeModel * m : models) m->env_teardown();
}

}  // namespace

EnvState::EnvState() {
    std::lock_guard<std::mutex> g(g_states_mutex);
    g_states->insert(this);
}

EnvState::~EnvState() {
    std::lock_guard<std::mutex> g(g_states_mutex);
    g_states->erase(this);
}

std::shared_ptr<EnvState> env_state(Napi::Env env) {
    AddonData & d = addon_data(env);
    if (!d.state) {
        d.state = std::make_shared<EnvState>();
        napi_add_env_cleanup_hook(env, env_cleanup, d.state.get());
        register_exit_handler();
    }
    return d.state;
}

bool Op::start(Napi::Env env, Op * op) {
    std::shared_ptr<EnvState> st = op->state;
    {
        std::lock_guard<std::mutex> lock(st->mutex);
        if (st->closing) {
            delete op;
            return false;
        }
    }
    napi_value name;
    if (napi_create_string_utf8(env, op->kind, NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, st.get(), &Op::complete,
                                        &op->tsfn) != napi_ok) {
        delete op;
        return false;
    }
    {
        std::lock_guard<std::mutex> lock(st->mutex);
        st->ops.insert(op);
    }
    op->launch();
    return true;
}

void Op::launch() {
    exec->post([this] {
        run();
        job_done();
    });
}

void Op::job_done() {
    std::shared_ptr<EnvState> st = state;  // the operation may be gone once the lock is released
    std::lock_guard<std::mutex> lock(st->mutex);
    finished = true;
    // under the lock: the cleanup hook (which takes it) cannot free the operation or let Node
    // free the thread-safe function meanwhile
    if (!st->closing) napi_call_threadsafe_function(tsfn, this, napi_tsfn_nonblocking);
    st->cv.notify_all();
}

// The completion, on the main thread (env == nullptr: the environment is going away and its
// cleanup hook has freed or will free the operation).
void Op::complete(napi_env env, napi_value, void * context, void * data) {
    if (!env || !data) return;
    auto * st = (EnvState *)context;
    auto * op = (Op *)data;
    {
        std::lock_guard<std::mutex> lock(st->mutex);
        if (!st->ops.erase(op)) return;
    }
    napi_threadsafe_function tsfn = op->tsfn;
    try {
        Napi::Env e(env);
        Napi::HandleScope scope(e);
        op->settle(e);
    } catch (...) {
        // JS cannot run (the environment is stopping): the Promise stays pending
    }
    delete op;
    napi_release_threadsafe_function(tsfn, napi_tsfn_release);
    register_exit_handler();
}

// on_error: adds properties to the rejection error of a failed work (loadModel: `file`)
using ErrorDecorator = std::function<void(Napi::Env, Napi::Object)>;

// An operation with a Promise: work, then done(env) or the error.
class CallOp : public Op {
public:
    CallOp(const std::shared_ptr<EnvState> & st, const char * kind, NativeModel * owner,
           std::shared_ptr<Executor> exec_, CancelFlag cancel_, NativeModel::Work work, NativeModel::Done done,
           std::vector<std::shared_ptr<Stream>> streams, Napi::Promise::Deferred deferred,
           ErrorDecorator on_error = nullptr, NativeModel::AsyncWork async = nullptr)
        : Op(st, kind), owner_(owner), work_(std::move(work)), async_(std::move(async)), done_(std::move(done)),
          streams_(std::move(streams)), deferred_(deferred), on_error_(std::move(on_error)) {
        exec = std::move(exec_);
        cancel = std::move(cancel_);
        if (owner_) owner_ref_ = Napi::Persistent(owner_->Value());
    }

    // A turn: the scheduler runs it and calls back when it has ended.
    void launch() override {
        if (!async_) return Op::launch();
        async_([this](ggpt_status status, const std::string & err) {
            status_ = status;
            err_ = err;
            job_done();
        });
    }

    void run() override {
        try {
            status_ = work_(err_);
        } catch (const std::bad_alloc &) {
            status_ = GGPT_ERR_OUT_OF_MEMORY;
            err_ = "out of memory";
        } catch (const std::exception & e) {
            status_ = GGPT_ERR_INTERNAL;
            err_ = e.what();
        } catch (...) {
            status_ = GGPT_ERR_INTERNAL;
            err_ = "unknown native exception";
        }
    }

    void settle(Napi::Env env) override {
        for (auto & s : streams_) {
            if (!s) continue;
            s->drain(env);
            s->close();
        }
        Napi::Value error, value;
        for (auto & s : streams_) {
            if (s && s->failed.load()) {
                error = s->error(env);
                break;
            }
        }
        if (error.IsEmpty() && status_ == GGPT_OK) {
            try {
                value = done_ ? done_(env) : env.Undefined();
            } catch (const Napi::Error & e) {
                error = e.Value();
            }
        } else if (error.IsEmpty()) {
            Napi::Error e = status_error(env, status_, err_);
            if (on_error_) {
                try {
                    on_error_(env, e.Value());
                } catch (const Napi::Error &) {}
            }
            error = e.Value();
        }
        if (owner_) {
            NativeModel * owner = owner_;
            owner_ = nullptr;
            owner->op_finished(env, async_ != nullptr);  // after done_: it may read the context
        }
        if (error.IsEmpty()) deferred_.Resolve(value);
        else deferred_.Reject(error);
    }

    void abandon() override {
        for (auto & s : streams_)
            if (s) s->close();
        owner_ = nullptr;  // env_teardown frees the model
        owner_ref_.Reset();
    }

    ~CallOp() override {
        // settle() threw before the owner heard of it
        if (owner_) {
            if (async_) owner_->active_turns_--;
            else owner_->busy_ = false;
        }
    }

private:
    friend struct Op;
    NativeModel * owner_;
    Napi::ObjectReference owner_ref_;
    NativeModel::Work work_;
    NativeModel::AsyncWork async_;
    NativeModel::Done done_;
    std::vector<std::shared_ptr<Stream>> streams_;
    Napi::Promise::Deferred deferred_;
    ErrorDecorator on_error_;
    ggpt_status status_ = GGPT_ERR_INTERNAL;
    std::string err_;
};

Napi::Value NativeModel::run_op(Napi::Env env, Work work, Done done, std::vector<std::shared_ptr<Stream>> streams,
                                CancelFlag cancel) {
    auto deferred = Napi::Promise::Deferred::New(env);
    if (disposed_) {
        deferred.Reject(make_error(env, "DISPOSED", "the model has been disposed").Value());
    } else if (busy_ || active_turns_ > 0) {
        deferred.Reject(make_error(env, "BUSY", "another operation is running on this model").Value());
    } else {
        busy_ = true;
        counters.operations += 1;
        auto * op = new CallOp(state_, "groundinggpt", this, exec_, std::move(cancel), std::move(work), std::move(done),
                               std::move(streams), deferred);
        if (!Op::start(env, op)) {
            busy_ = false;
            deferred.Reject(make_error(env, "INTERNAL", "could not start the operation").Value());
        }
    }
    return deferred.Promise();
}

Napi::Value NativeModel::run_turn(Napi::Env env, AsyncWork work, Done done,
                                  std::vector<std::shared_ptr<Stream>> streams, CancelFlag cancel) {
    auto deferred = Napi::Promise::Deferred::New(env);
    if (disposed_) {
        deferred.Reject(make_error(env, "DISPOSED", "the model has been disposed").Value());
    } else if (busy_ || active_turns_ >= (int32_t)ggpt_context_n_seq(ctx_)) {
        deferred.Reject(make_error(env, "BUSY", "every sequence of this model is in use").Value());
    } else {
        active_turns_++;
        counters.operations += 1;
        auto * op = new CallOp(state_, "groundinggpt.turn", this, exec_, std::move(cancel), nullptr, std::move(done),
                               std::move(streams), deferred, nullptr, std::move(work));
        if (!Op::start(env, op)) {  // deleted: its destructor gave the turn back
            deferred.Reject(make_error(env, "INTERNAL", "could not start the operation").Value());
        }
    }
    return deferred.Promise();
}

// An operation without an owner (loadModel: exec is the new model's compute thread).
Napi::Value run_detached(Napi::Env env, std::shared_ptr<Executor> exec, NativeModel::Work work, NativeModel::Done done,
                         std::vector<std::shared_ptr<Stream>> streams, ErrorDecorator on_error, CancelFlag cancel) {
    auto deferred = Napi::Promise::Deferred::New(env);
    auto * op = new CallOp(env_state(env), "groundinggpt.load", nullptr, std::move(exec), std::move(cancel),
                           std::move(work), std::move(done), std::move(streams), deferred, std::move(on_error));
    if (!Op::start(env, op)) deferred.Reject(make_error(env, "INTERNAL", "could not start the operation").Value());
    return deferred.Promise();
}

// dispose(): frees the handles on the compute thread, then joins it and resolves the waiters.
class FreeOp : public Op {
public:
    FreeOp(const std::shared_ptr<EnvState> & st, NativeModel * owner, ggpt_model * m, ggpt_context * c)
        : Op(st, "groundinggpt.dispose"), owner_(owner), model_(m), ctx_(c) {
        exec = owner->exec_;
        owner_ref_ = Napi::Persistent(owner->Value());
    }
    void run() override {
        ggpt_context_free(ctx_);
        ggpt_model_free(model_);
        ctx_ = nullptr;
        model_ = nullptr;
    }
    void settle(Napi::Env env) override {
        owner_->busy_ = false;
        exec.reset();
        owner_->exec_.reset();  // idle now: joins the compute thread
        auto waiters = std::move(owner_->dispose_waiters_);
        for (auto & d : waiters) d.Resolve(env.Undefined());
    }
    void abandon() override {
        owner_ = nullptr;
        owner_ref_.Reset();
    }
    ~FreeOp() override {
        // abandoned before its job ran (cannot happen: the hook waits for every job) or settled
        ggpt_context_free(ctx_);
        ggpt_model_free(model_);
    }

private:
    NativeModel * owner_;
    Napi::ObjectReference owner_ref_;
    ggpt_model * model_;
    ggpt_context * ctx_;
};

void NativeModel::start_free(Napi::Env env) {
    freeing_ = true;
    busy_ = true;
    ggpt_model * model = model_;
    ggpt_context * ctx = ctx_;
    model_ = nullptr;
    ctx_ = nullptr;
    if (!Op::start(env, new FreeOp(state_, this, model, ctx))) {
        // not started (the environment is closing): the operation's destructor freed the handles
        busy_ = false;
        exec_.reset();
        auto waiters = std::move(dispose_waiters_);
        for (auto & d : waiters) d.Resolve(env.Undefined());
    }
}

void NativeModel::env_teardown() {
    ggpt_context_free(ctx_);
    ggpt_model_free(model_);
    ctx_ = nullptr;
    model_ = nullptr;
    disposed_ = true;
    busy_ = true;
    exec_.reset();  // idle: joins the compute thread
    dispose_waiters_.clear();
}

}  // namespace ggpt::addon
