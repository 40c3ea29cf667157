// An execution plan: the model specialized to one set of static input shapes, with a kernel per
// node, weights pre-packed by the kernels, and every intermediate tensor placed in one arena by
// lifetime. A plan is immutable and shared by all infer requests; each request brings its arena.
#pragma once
#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/model.hpp"
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

class Plan {
public:
    // Specializes `model` (not modified) to these input shapes. Throws ValueError when the shapes
    // cannot flow through the model, naming the node that rejects them.
    static std::shared_ptr<const Plan> build(const Model& model, const std::vector<Shape>& input_shapes);

    size_t arena_bytes() const { return arena_bytes_; }
    const std::vector<TensorDesc>& output_descs() const { return output_descs_; }
    // Runs the plan; `arena` holds at least arena_bytes(); outputs are allocated here.
    void run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena) const;

    // (node type, node name, kernel name) for every step; for tests and profiling.
    std::vector<std::array<std::string, 3>> kernel_summary() const;

private:
    enum class SlotKind { input, constant, arena, output };
    struct Slot {
        SlotKind kind;
        Type type;
        Shape shape;
        size_t offset = 0;  // arena
        size_t index = 0;   // input or output index
        Tensor constant;
    };
    struct Step {
        KernelPtr kernel;
        std::vector<size_t> in, out;
        std::string node_type, node_name, source;
    };
    struct Copy {  // graph outputs that are inputs, constants or another output
        size_t from;
        size_t output_index;
    };

    // A deque: kernels are made with pointers to constant slots while more slots are added.
    std::deque<Slot> slots_;
    std::vector<Step> steps_;
    std::vector<Copy> copies_;
    std::vector<TensorDesc> output_descs_;
    std::vector<size_t> output_slots_;
    size_t arena_bytes_ = 0;
};

}  // namespace kiln::cpu
