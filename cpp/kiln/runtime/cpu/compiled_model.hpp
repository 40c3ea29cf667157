// compile_model's result. Compilation clones the model, runs the shape-independent passes once,
// and builds an execution plan per input-shape signature: at compile time when the inputs are
// static, else at the first call of each new signature, kept in a bounded LRU cache.
#pragma once
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/core/model.hpp"
#include "kiln/runtime/cpu/plan.hpp"

namespace kiln::cpu {

struct CompileConfig {
    int num_threads = 0;           // 0: all cores
    size_t plan_cache_size = 16;   // shape signatures kept
    // f32, or bf16 (INFERENCE_PRECISION_HINT): taken only where cpu_has_bf16(), else f32.
    Type inference_precision = Type::f32;
};

class InferRequest;

// Whether this CPU has native bf16 dot products (AVX512_BF16), where bf16 inference pays.
bool cpu_has_bf16();

class CompiledModel : public std::enable_shared_from_this<CompiledModel> {
public:
    CompiledModel(const Model& model, CompileConfig config);

    const Model& model() const { return *model_; }
    const CompileConfig& config() const { return config_; }
    size_t num_inputs() const { return model_->parameters().size(); }
    size_t num_outputs() const { return model_->results().size(); }

    // Checks inputs against the model's declared inputs: count, element type (TypeError),
    // rank and dimensions (ValueError), naming the input, what was expected and what came.
    void check_inputs(const std::vector<Tensor>& inputs) const;
    // The plan for these input shapes (built and cached on first use).
    std::shared_ptr<const Plan> plan_for(const std::vector<Shape>& shapes);
    size_t cached_plans() const;

    std::shared_ptr<InferRequest> create_infer_request();

private:
    std::shared_ptr<Model> model_;
    CompileConfig config_;
    mutable std::mutex mutex_;
    std::list<std::pair<std::vector<Shape>, std::shared_ptr<const Plan>>> plans_;  // MRU first
};

// One inference at a time per request; a request keeps its arena between calls.
class InferRequest {
public:
    explicit InferRequest(std::shared_ptr<CompiledModel> cm) : cm_(std::move(cm)) {}
    void set_input(size_t i, Tensor t);
    const Tensor& input(size_t i) const { return inputs_.at(i); }
    const Tensor& output(size_t i) const;
    const std::vector<Tensor>& outputs() const { return outputs_; }
    void infer();
    CompiledModel& compiled_model() { return *cm_; }

private:
    std::shared_ptr<CompiledModel> cm_;
    std::vector<Tensor> inputs_;
    std::vector<Tensor> outputs_;
    std::shared_ptr<void> arena_;
    size_t arena_size_ = 0;
};

}  // namespace kiln::cpu
