// An execution plan: the model specialized to one set of static input shapes, with a kernel per
// node, weights pre-packed by the kernels, and every intermediate tensor placed in one arena by
// lifetime. A plan is immutable and shared by all infer requests; each request brings its arena.
//
// Shapes known only once a node has run (an If whose branches give different shapes, a Loop whose
// carried value grows or whose concatenated output is as long as its run-time trip count): such a
// node runs in the plan with a kernel that allocates those outputs, and it ends the static part.
// Every node that depends on it forms the plan's tail, a model of its own that is planned at run
// time for the shapes its inputs then have (plans kept per shape signature, like the compiled
// model's), so the nodes after a data-dependent shape still get fast kernels and fusions.
#pragma once
#include <array>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/model.hpp"
#include "kiln/runtime/cpu/kernel.hpp"
#include "kiln/runtime/cpu/plan_cache.hpp"

namespace kiln::cpu {

// Memory for a plan's arena (64-byte aligned; nullptr for 0 bytes), for kernels that run plans.
std::shared_ptr<void> allocate_arena(size_t bytes);

// Choices of the compiled model that shape every plan built for it.
struct PlanOptions {
    Type inference_precision = Type::f32;  // see KernelShapes::inference_precision
    // The model has been through passes::optimize (compile_model): when its inputs already have
    // the shapes asked for, there is nothing to specialize and the passes are not run again.
    bool optimized = false;
};

// One step of one inference, recorded when the compiled model profiles (PERF_COUNT).
struct StepProfile {
    std::string node_name, node_type, kernel, layout, detail;
    double real_us = 0;  // wall time of the kernel's execute(), microseconds
};

class Plan {
public:
    // Specializes `model` (not modified) to these input shapes. Throws ValueError when the shapes
    // cannot flow through the model, naming the node that rejects them.
    static std::shared_ptr<const Plan> build(const Model& model, const std::vector<Shape>& input_shapes,
                                             const PlanOptions& options = {});

    size_t arena_bytes() const { return arena_bytes_; }
    // Static shapes, except outputs whose shape is data-dependent (partial shapes).
    const std::vector<TensorDesc>& output_descs() const { return output_descs_; }
    // Runs the plan; `arena` holds at least arena_bytes(); outputs are allocated here (fresh
    // memory, shared with nothing else).
    // With `profile`, one StepProfile per step is appended (the tail counts as one step).
    void run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena,
             std::vector<StepProfile>* profile = nullptr) const;
    // Like run(), but `outputs` (one per model output) may arrive allocated: those are written in
    // place and must have the output's type and shape; unallocated ones are allocated here.
    void run_into(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena,
                  std::vector<StepProfile>* profile = nullptr) const;
    // Whether some nodes run only after a data-dependent shape is known (the tail).
    bool has_tail() const { return tail_ != nullptr; }

    // (node type, node name, kernel name) for every step; for tests and profiling. Reorders
    // between layouts are steps of type "Reorder".
    std::vector<std::array<std::string, 3>> kernel_summary() const;
    // (node name, layout of its first output) for every step, e.g. ("conv1", "nChw16c").
    std::vector<std::array<std::string, 2>> layout_summary() const;

private:
    // dynamic: a data-dependent shape; the producing step's kernel allocates the tensor per call.
    enum class SlotKind { input, constant, arena, output, dynamic };
    struct Slot {
        SlotKind kind;
        Type type;
        Shape shape;        // physical: the logical shape in `layout` (layout.hpp)
        size_t offset = 0;  // arena
        size_t index = 0;   // input or output index
        Tensor constant;
        Layout layout;
        Shape logical;
    };
    struct Step {
        KernelPtr kernel;
        std::vector<size_t> in, out;
        std::string node_type, node_name, source;
        std::string layout;  // of the step's first output ("nChw16c"), for profiles and tests
        // The shape each tensor is handed to the kernel in (nullopt: dynamic, as produced).
        std::vector<std::optional<Shape>> in_shapes, out_shapes;
    };
    struct Copy {  // graph outputs that are inputs, constants, another output or dynamic
        size_t from;
        size_t output_index;
    };
    // The nodes after a data-dependent shape, as a model whose inputs are the slots it reads.
    struct Tail {
        std::shared_ptr<Model> model;
        std::vector<size_t> input_slots;
        std::vector<size_t> output_index;  // graph output of each tail result
        mutable PlanCache plans{8};
    };
    std::shared_ptr<const Plan> tail_plan(const std::vector<Shape>& shapes) const;

    // A deque: kernels are made with pointers to constant slots while more slots are added.
    std::deque<Slot> slots_;
    std::vector<Step> steps_;
    std::vector<Copy> copies_;
    std::vector<TensorDesc> output_descs_;
    std::vector<size_t> output_slots_;
    size_t arena_bytes_ = 0;
    PlanOptions options_;
    std::unique_ptr<Tail> tail_;
};

}  // namespace kiln::cpu
