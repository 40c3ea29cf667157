#include "kiln/runtime/cpu/compiled_model.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

#include "kiln/passes/pipeline.hpp"
#include "kiln/runtime/cpu/isa.hpp"

namespace kiln::cpu {

bool cpu_has_bf16() { return cpu_has_avx512_bf16(); }

int available_cores() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

CompiledModel::CompiledModel(const Model& model, CompileConfig config)
    : model_(model.clone()), config_(config), plans_(config.plan_cache_size) {
    if (config_.plan_cache_size == 0) config_.plan_cache_size = 1;
    KILN_CHECK(config_.num_threads >= 0, "INFERENCE_NUM_THREADS must be >= 0, got ", config_.num_threads);
    KILN_CHECK(config_.num_streams >= 0, "NUM_STREAMS must be >= 0, got ", config_.num_streams);
    if (config_.num_streams == 0) {
        // THROUGHPUT: one stream per core (no more streams than the threads given).
        int cores = config_.num_threads > 0 ? std::min(config_.num_threads, available_cores()) : available_cores();
        config_.num_streams = config_.hint == PerformanceHint::throughput ? cores : 1;
    }
    KILN_CHECK(config_.inference_precision == Type::f32 || config_.inference_precision == Type::bf16,
               "inference precision must be f32 or bf16, got ", type_name(config_.inference_precision));
    // A hint, as in OpenVINO: without native bf16 dot products bf16 would be slower, not faster.
    if (config_.inference_precision == Type::bf16 && !cpu_has_bf16()) config_.inference_precision = Type::f32;
    validate_model(*model_);
    passes::optimize(*model_);
    validate_model(*model_);
    std::vector<Shape> shapes;
    for (auto& p : model_->parameters()) {
        if (!p->shape.is_static()) return;
        shapes.push_back(p->shape.to_shape());
    }
    ThreadCountScope threads(threads_per_stream());
    plan_for(shapes);
}

void CompiledModel::check_inputs(const std::vector<Tensor>& inputs) const {
    auto& params = model_->parameters();
    if (inputs.size() != params.size())
        throw ValueError(str_cat("the model takes ", params.size(), " input(s), got ", inputs.size()));
    for (size_t i = 0; i < params.size(); ++i) {
        auto& p = *params[i];
        auto& t = inputs[i];
        auto name = model_->input_name(i);
        if (p.element_type != Type::dynamic && t.type() != p.element_type)
            throw TypeError(str_cat("input '", name, "': expected element type ", type_name(p.element_type),
                                    ", got ", type_name(t.type())));
        if (p.shape.rank_is_static() && p.shape.rank() != t.rank())
            throw ValueError(str_cat("input '", name, "': expected rank ", p.shape.rank(), " (shape ",
                                     p.shape.to_string(), "), got rank ", t.rank(), " (shape ",
                                     to_string(t.shape()), ")"));
        if (!p.shape.compatible(t.shape()))
            throw ValueError(str_cat("input '", name, "': expected shape ", p.shape.to_string(), ", got ",
                                     to_string(t.shape())));
    }
    for (auto& group : model_->equal_input_dims()) {
        auto [i0, a0] = group.front();
        for (auto [i, a] : group)
            if (inputs[i].shape()[a] != inputs[i0].shape()[a0])
                throw ValueError(str_cat("input '", model_->input_name(i), "' dim ", a, " (", inputs[i].shape()[a],
                                         ") and input '", model_->input_name(i0), "' dim ", a0, " (",
                                         inputs[i0].shape()[a0], ") are one dimension of the model: they must be equal"));
    }
}

std::shared_ptr<const Plan> CompiledModel::plan_for(const std::vector<Shape>& shapes) {
    return plans_.get(shapes, [&] { return Plan::build(*model_, shapes, PlanOptions{config_.inference_precision, true}); });
}

int CompiledModel::threads_per_stream() const {
    if (config_.num_streams == 1 && config_.num_threads == 0) return 0;
    int total = config_.num_threads > 0 ? config_.num_threads : available_cores();
    return std::max(1, total / config_.num_streams);
}

CompiledModel::StreamScope::StreamScope(CompiledModel& cm) : cm_(cm) {
    std::unique_lock<std::mutex> lock(cm_.streams_mutex_);
    cm_.streams_free_.wait(lock, [&] { return cm_.streams_busy_ < cm_.config_.num_streams; });
    ++cm_.streams_busy_;
}

CompiledModel::StreamScope::~StreamScope() {
    {
        std::lock_guard<std::mutex> lock(cm_.streams_mutex_);
        --cm_.streams_busy_;
    }
    cm_.streams_free_.notify_one();
}

std::shared_ptr<InferRequest> CompiledModel::create_infer_request() {
    return std::make_shared<InferRequest>(shared_from_this());
}

InferRequest::~InferRequest() {
    if (!worker_.joinable()) return;
    {
        std::lock_guard<std::mutex> lock(async_->mutex);
        async_->stop = true;
    }
    async_->cv.notify_all();
    // The last owner may be the worker's own job (it let go after the callback): the worker
    // then finishes with the shared Async state only.
    if (worker_.get_id() == std::this_thread::get_id()) worker_.detach();
    else worker_.join();
}

bool InferRequest::busy() const {
    std::lock_guard<std::mutex> lock(async_->mutex);
    return async_->busy;
}

void InferRequest::check_idle() const {
    if (busy()) throw Error("the infer request is busy: an asynchronous inference is running (wait() for it first)");
}

void InferRequest::set_input(size_t i, Tensor t) {
    check_idle();
    if (inputs_.size() < cm_->num_inputs()) inputs_.resize(cm_->num_inputs());
    KILN_CHECK(i < inputs_.size(), "input index ", i, " is out of range (the model has ", inputs_.size(),
               " inputs)");
    inputs_[i] = std::move(t);
}

const Tensor& InferRequest::output(size_t i) const {
    KILN_CHECK(i < outputs_.size(), "output ", i, " is not available: run infer() first");
    return outputs_[i];
}

void InferRequest::infer() {
    check_idle();
    run();
}

void InferRequest::run() {
    if (inputs_.size() < cm_->num_inputs()) inputs_.resize(cm_->num_inputs());
    for (size_t i = 0; i < inputs_.size(); ++i)
        if (inputs_[i].data() == nullptr && inputs_[i].size() != 0)
            throw ValueError(str_cat("input '", cm_->model().input_name(i), "' has not been set"));
    cm_->check_inputs(inputs_);
    std::vector<Shape> shapes;
    for (auto& t : inputs_) shapes.push_back(t.shape());
    ThreadCountScope threads(cm_->threads_per_stream());
    auto plan = cm_->plan_for(shapes);
    if (plan->arena_bytes() > arena_size_) {
        void* p = std::aligned_alloc(64, (plan->arena_bytes() + 63) / 64 * 64);
        if (!p) throw std::bad_alloc();
        arena_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
        arena_size_ = plan->arena_bytes();
    }
    CompiledModel::StreamScope stream(*cm_);
    if (cm_->config().perf_count) {
        profile_.clear();
        plan->run(inputs_, outputs_, arena_.get(), &profile_);
    } else {
        plan->run(inputs_, outputs_, arena_.get());
    }
}

void InferRequest::start_async() {
    auto self = shared_from_this();  // throws bad_weak_ptr outside a shared_ptr
    {
        std::lock_guard<std::mutex> lock(async_->mutex);
        if (async_->busy)
            throw Error("the infer request is busy: an asynchronous inference is running (wait() for it first)");
        async_->busy = true;
        async_->pending = true;
        async_->error = nullptr;
        async_->job = std::move(self);
        if (!worker_.joinable()) worker_ = std::thread(worker_loop, async_);
    }
    async_->cv.notify_all();
}

void InferRequest::worker_loop(std::shared_ptr<Async> a) {
    for (;;) {
        std::shared_ptr<InferRequest> self;
        {
            std::unique_lock<std::mutex> lock(a->mutex);
            a->cv.wait(lock, [&] { return a->pending || a->stop; });
            if (!a->pending) return;
            a->pending = false;
            self = std::move(a->job);
        }
        std::exception_ptr error;
        try {
            self->run();
        } catch (...) {
            error = std::current_exception();
        }
        Callback cb;
        {
            std::lock_guard<std::mutex> lock(a->mutex);
            a->error = error;  // the callback may take it (take_error)
            cb = a->callback;
        }
        if (cb) {
            try {
                cb(error);
            } catch (...) {
                // The callback's own errors are its owner's to report (the bindings keep them).
            }
            cb = nullptr;
        }
        {
            std::lock_guard<std::mutex> lock(a->mutex);
            a->busy = false;
        }
        a->cv.notify_all();
        self.reset();  // may be the last owner: ~InferRequest then detaches this thread
    }
}

void InferRequest::check_not_worker() const {  // with async_->mutex held (start_async sets worker_)
    if (worker_.joinable() && worker_.get_id() == std::this_thread::get_id())
        throw Error("wait() on an infer request from its own callback would never return (the request is done "
                    "once its callback returns)");
}

void InferRequest::wait() {
    std::unique_lock<std::mutex> lock(async_->mutex);
    check_not_worker();
    async_->cv.wait(lock, [&] { return !async_->busy; });
    if (auto e = std::exchange(async_->error, nullptr)) std::rethrow_exception(e);
}

bool InferRequest::wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(async_->mutex);
    check_not_worker();
    if (!async_->cv.wait_for(lock, timeout, [&] { return !async_->busy; })) return false;
    if (auto e = std::exchange(async_->error, nullptr)) std::rethrow_exception(e);
    return true;
}

void InferRequest::take_error() {
    std::exception_ptr e;
    {
        std::lock_guard<std::mutex> lock(async_->mutex);
        e = std::exchange(async_->error, nullptr);
    }
    if (e) std::rethrow_exception(e);
}

void InferRequest::set_callback(Callback cb) {
    std::lock_guard<std::mutex> lock(async_->mutex);
    async_->callback = std::move(cb);
}

}  // namespace kiln::cpu
