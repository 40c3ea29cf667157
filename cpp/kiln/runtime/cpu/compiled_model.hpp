// compile_model's result. Compilation clones the model, runs the shape-independent passes once,
// and builds an execution plan per input-shape signature: at compile time when the inputs are
// static, else at the first call of each new signature, kept in a bounded LRU cache (each
// signature built once, however many requests bring it at the same time).
//
// Streams, as in OpenVINO: a compiled model runs at most num_streams inferences at once, each
// with threads_per_stream() OpenMP threads, so that requests in flight share the cores without
// oversubscribing them (more requests than streams wait for a free stream). PERFORMANCE_HINT
// LATENCY is one stream using every core; THROUGHPUT is one stream per core by default.
#pragma once
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/core/model.hpp"
#include "kiln/runtime/cpu/plan.hpp"
#include "kiln/runtime/cpu/plan_cache.hpp"

namespace kiln::cpu {

enum class PerformanceHint { latency, throughput };

struct CompileConfig {
    int num_threads = 0;           // threads of all streams together; 0: all cores
    size_t plan_cache_size = 16;   // shape signatures kept
    // f32, or bf16 (INFERENCE_PRECISION_HINT): taken only where cpu_has_bf16(), else f32.
    Type inference_precision = Type::f32;
    bool perf_count = false;       // PERF_COUNT: requests record the time of every step
    PerformanceHint hint = PerformanceHint::latency;
    int num_streams = 0;           // 0: from the hint (LATENCY 1, THROUGHPUT one per core)
};

// Cores this process may run on (its affinity mask).
int available_cores();

class InferRequest;

// Whether this CPU has native bf16 dot products (AVX512_BF16), where bf16 inference pays.
bool cpu_has_bf16();

class CompiledModel : public std::enable_shared_from_this<CompiledModel> {
public:
    CompiledModel(const Model& model, CompileConfig config);

    const Model& model() const { return *model_; }
    // The config as given, with num_streams resolved from the hint (>= 1).
    const CompileConfig& config() const { return config_; }
    // OpenMP threads of one inference: 0 leaves the caller's count (one stream, no thread
    // count given), else max(1, threads / streams).
    int threads_per_stream() const;
    // What AsyncInferQueue(jobs=0) makes: one request per stream.
    int optimal_number_of_infer_requests() const { return config_.num_streams; }
    size_t num_inputs() const { return model_->parameters().size(); }
    size_t num_outputs() const { return model_->results().size(); }

    // Checks inputs against the model's declared inputs: count, element type (TypeError),
    // rank and dimensions (ValueError), naming the input, what was expected and what came.
    void check_inputs(const std::vector<Tensor>& inputs) const;
    // The plan for these input shapes (built and cached on first use).
    std::shared_ptr<const Plan> plan_for(const std::vector<Shape>& shapes);
    size_t cached_plans() const { return plans_.size(); }
    // Plans built so far (once per signature unless evicted and asked for again).
    size_t plans_built() const { return plans_.built(); }

    std::shared_ptr<InferRequest> create_infer_request();

    // Holds one of the num_streams streams for a scope (waits for a free one).
    class StreamScope {
    public:
        explicit StreamScope(CompiledModel& cm);
        ~StreamScope();
        StreamScope(const StreamScope&) = delete;
        StreamScope& operator=(const StreamScope&) = delete;

    private:
        CompiledModel& cm_;
    };

private:
    std::shared_ptr<Model> model_;
    CompileConfig config_;
    PlanCache plans_;
    std::mutex streams_mutex_;
    std::condition_variable streams_free_;
    int streams_busy_ = 0;
};

// One inference at a time per request; a request keeps its arena between calls. start_async()
// runs the inference on the request's own worker thread (made at the first call); the callback
// runs there after each asynchronous inference, with its error or nullptr, before wait() returns.
class InferRequest : public std::enable_shared_from_this<InferRequest> {
public:
    using Callback = std::function<void(std::exception_ptr)>;

    explicit InferRequest(std::shared_ptr<CompiledModel> cm) : cm_(std::move(cm)) {}
    ~InferRequest();
    InferRequest(const InferRequest&) = delete;
    InferRequest& operator=(const InferRequest&) = delete;

    // Throws Error while an asynchronous inference runs (the request is busy).
    void set_input(size_t i, Tensor t);
    const Tensor& input(size_t i) const { return inputs_.at(i); }
    const Tensor& output(size_t i) const;
    const std::vector<Tensor>& outputs() const { return outputs_; }
    // Runs on the calling thread; throws Error while an asynchronous inference runs.
    void infer();
    CompiledModel& compiled_model() { return *cm_; }

    // Starts an inference on the inputs set (the request must live in a shared_ptr).
    void start_async();
    // Waits for the asynchronous inference, then rethrows its error if it failed (once).
    void wait();
    // Like wait(), but gives up after `timeout`: true when the inference is done.
    bool wait_for(std::chrono::milliseconds timeout);
    bool busy() const;
    void set_callback(Callback cb);
    // Rethrows (and forgets) the error of the last asynchronous inference, if it failed; the
    // callback may call it, so that the error is its owner's and wait() no longer throws it.
    void take_error();

    // The steps of the last inference with their times (empty without PERF_COUNT).
    const std::vector<StepProfile>& profiling_info() const { return profile_; }

private:
    // What the worker thread shares with the request: it outlives the request when the last
    // owner of the request lets go on the worker itself.
    struct Async {
        std::mutex mutex;
        std::condition_variable cv;
        bool pending = false, busy = false, stop = false;
        std::exception_ptr error;
        std::shared_ptr<InferRequest> job;  // keeps the request alive while its job runs
        Callback callback;
    };
    static void worker_loop(std::shared_ptr<Async> a);
    void run();
    void check_idle() const;
    void check_not_worker() const;

    std::shared_ptr<CompiledModel> cm_;
    std::vector<Tensor> inputs_;
    std::vector<Tensor> outputs_;
    std::shared_ptr<void> arena_;
    size_t arena_size_ = 0;
    std::vector<StepProfile> profile_;
    std::shared_ptr<Async> async_ = std::make_shared<Async>();
    std::thread worker_;
};

}  // namespace kiln::cpu
