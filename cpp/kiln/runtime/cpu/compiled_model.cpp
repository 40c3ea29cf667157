#include "kiln/runtime/cpu/compiled_model.hpp"

#include <omp.h>

#include <cstdlib>

#include "kiln/passes/constant_folding.hpp"
#include "kiln/passes/fuse_attention.hpp"
#include "kiln/passes/fuse_layer_norm.hpp"
#include "kiln/passes/fuse_dnn.hpp"

namespace kiln::cpu {

bool cpu_has_bf16() {
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

CompiledModel::CompiledModel(const Model& model, CompileConfig config)
    : model_(model.clone()), config_(config) {
    if (config_.plan_cache_size == 0) config_.plan_cache_size = 1;
    KILN_CHECK(config_.inference_precision == Type::f32 || config_.inference_precision == Type::bf16,
               "inference precision must be f32 or bf16, got ", type_name(config_.inference_precision));
    // A hint, as in OpenVINO: without native bf16 dot products bf16 would be slower, not faster.
    if (config_.inference_precision == Type::bf16 && !cpu_has_bf16()) config_.inference_precision = Type::f32;
    validate_model(*model_);
    passes::fold_constants(*model_);
    passes::fuse_attention(*model_);
    passes::fuse_layer_norm(*model_);
    fuse_dnn_ops(*model_);
    validate_model(*model_);
    std::vector<Shape> shapes;
    for (auto& p : model_->parameters()) {
        if (!p->shape.is_static()) return;
        shapes.push_back(p->shape.to_shape());
    }
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
}

std::shared_ptr<const Plan> CompiledModel::plan_for(const std::vector<Shape>& shapes) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = plans_.begin(); it != plans_.end(); ++it)
            if (it->first == shapes) {
                plans_.splice(plans_.begin(), plans_, it);
                return plans_.front().second;
            }
    }
    // Built outside the lock: another request may run a cached plan meanwhile.
    auto plan = Plan::build(*model_, shapes, PlanOptions{config_.inference_precision});
    std::lock_guard<std::mutex> lock(mutex_);
    plans_.emplace_front(shapes, plan);
    while (plans_.size() > config_.plan_cache_size) plans_.pop_back();
    return plan;
}

size_t CompiledModel::cached_plans() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.size();
}

std::shared_ptr<InferRequest> CompiledModel::create_infer_request() {
    return std::make_shared<InferRequest>(shared_from_this());
}

void InferRequest::set_input(size_t i, Tensor t) {
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
    if (inputs_.size() < cm_->num_inputs()) inputs_.resize(cm_->num_inputs());
    for (size_t i = 0; i < inputs_.size(); ++i)
        if (inputs_[i].data() == nullptr && inputs_[i].size() != 0)
            throw ValueError(str_cat("input '", cm_->model().input_name(i), "' has not been set"));
    cm_->check_inputs(inputs_);
    std::vector<Shape> shapes;
    for (auto& t : inputs_) shapes.push_back(t.shape());
    auto plan = cm_->plan_for(shapes);
    if (plan->arena_bytes() > arena_size_) {
        void* p = std::aligned_alloc(64, plan->arena_bytes());
        if (!p) throw std::bad_alloc();
        arena_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
        arena_size_ = plan->arena_bytes();
    }
    if (cm_->config().num_threads > 0) omp_set_num_threads(cm_->config().num_threads);
    plan->run(inputs_, outputs_, arena_.get());
}

}  // namespace kiln::cpu
