// util.cpp (addon) - errors, cancel objects, worker->JS streams, the generic operation worker.
#include <algorithm>
#include <cctype>
#include <cmath>

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
        return DefineClass(env, "NativeCancel",
                           {InstanceMethod<&Cancel::cancel>("cancel"),
                            InstanceAccessor<&Cancel::cancelled>("cancelled")});
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

Napi::Value CreateCancel(const Napi::CallbackInfo & info) {
    return addon_data(info.Env()).cancel_ctor.New({});
}

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
    s->tsfn_ = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), name, 0, 1);
    s->tsfn_.Unref(env);
    return s;
}

Stream::~Stream() {
    if (!closed_) tsfn_.Abort();
}

void Stream::push(Item item) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || failed.load()) return;
    items_.push_back(std::move(item));
    if (scheduled_) return;  // one wake-up drains everything queued until then
    scheduled_ = true;
    auto self = shared_from_this();
    tsfn_.NonBlockingCall([self](Napi::Env env, Napi::Function) {
        if (env) self->drain(env);
    });
}

void Stream::drain(Napi::Env env) {
    std::vector<Item> items;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        items.swap(items_);
        scheduled_ = false;
    }
    if (items.empty() || fn_.IsEmpty()) return;
    Napi::HandleScope scope(env);
    Napi::Function fn = fn_.Value();
    for (Item & item : items) {
        if (failed.load()) break;
        try {
            item(env, fn);
        } catch (const Napi::Error & e) {
            error_ = Napi::Reference<Napi::Value>::New(e.Value(), 1);
            failed.store(true);
        }
    }
}

void Stream::close() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    items_.clear();
    tsfn_.Release();
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
        p->stream_->push([p](Napi::Env env, Napi::Function fn) {
            float f;
            {
                std::lock_guard<std::mutex> lock(p->mutex_);
                f = p->pending_;
                p->pending_ = -1.0f;
            }
            if (f >= 0) fn.Call({Napi::Number::New(env, f)});
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
    if (thread_.joinable()) thread_.join();
}

void Executor::run(const std::function<void()> & fn) {
    std::lock_guard<std::mutex> one(run_mutex_);
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = &fn;
    job_done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return job_done_; });
    job_ = nullptr;
}

void Executor::loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || (job_ && !job_done_); });
        if (job_ && !job_done_) {
            const std::function<void()> * fn = job_;
            lock.unlock();
            (*fn)();
            lock.lock();
            job_done_ = true;
            cv_.notify_all();
            continue;
        }
        if (stop_) return;
    }
}

// ---- the operation worker ------------------------------------------------------------------------

class OpWorker : public Napi::AsyncWorker {
public:
    OpWorker(Napi::Env env, NativeModel * owner, std::shared_ptr<Executor> exec, NativeModel::Work work,
             NativeModel::Done done, std::vector<std::shared_ptr<Stream>> streams, Napi::Promise::Deferred deferred)
        : Napi::AsyncWorker(env, "groundinggpt"),
          owner_(owner),
          exec_(std::move(exec)),
          work_(std::move(work)),
          done_(std::move(done)),
          streams_(std::move(streams)),
          deferred_(deferred) {
        if (owner_) owner_ref_ = Napi::Persistent(owner_->Value());
    }

    void Execute() override {
        const std::function<void()> fn = [this] {
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
        };
        if (exec_) exec_->run(fn);
        else fn();
    }

    void OnOK() override {
        Napi::Env env = Env();
        Napi::HandleScope scope(env);
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
            error = status_error(env, status_, err_).Value();
        }
        if (owner_) owner_->op_finished(env);  // after done_: it may read the context
        if (error.IsEmpty()) deferred_.Resolve(value);
        else deferred_.Reject(error);
    }

    void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

private:
    NativeModel * owner_;
    std::shared_ptr<Executor> exec_;
    Napi::ObjectReference owner_ref_;
    NativeModel::Work work_;
    NativeModel::Done done_;
    std::vector<std::shared_ptr<Stream>> streams_;
    Napi::Promise::Deferred deferred_;
    ggpt_status status_ = GGPT_ERR_INTERNAL;
    std::string err_;
};

Napi::Value NativeModel::run_op(Napi::Env env, Work work, Done done, std::vector<std::shared_ptr<Stream>> streams) {
    auto deferred = Napi::Promise::Deferred::New(env);
    if (disposed_) {
        deferred.Reject(make_error(env, "DISPOSED", "the model has been disposed").Value());
    } else if (busy_) {
        deferred.Reject(make_error(env, "BUSY", "another operation is running on this model").Value());
    } else {
        busy_ = true;
        (new OpWorker(env, this, exec_, std::move(work), std::move(done), std::move(streams), deferred))->Queue();
    }
    return deferred.Promise();
}

// A worker without an owner (loadModel: exec is the new model's compute thread).
Napi::Value run_detached(Napi::Env env, std::shared_ptr<Executor> exec, NativeModel::Work work, NativeModel::Done done,
                         std::vector<std::shared_ptr<Stream>> streams) {
    auto deferred = Napi::Promise::Deferred::New(env);
    (new OpWorker(env, nullptr, std::move(exec), std::move(work), std::move(done), std::move(streams), deferred))->Queue();
    return deferred.Promise();
}

}  // namespace ggpt::addon
