// The CPU kernel interface. A kernel is made for one node at concrete (static) shapes, once per
// execution plan, and may pre-pack weights then. execute() must be safe to call from several
// threads at once with different tensors (a compiled model serves many infer requests).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/node.hpp"
#include "kiln/runtime/cpu/layout.hpp"

namespace kiln::cpu {

// Static input and output descriptions of the node a kernel is made for, and the values of
// inputs that are constants (weights), or nullptr.
struct KernelShapes {
    std::vector<TensorDesc> inputs;
    std::vector<TensorDesc> outputs;
    std::vector<const Tensor*> constants;
    // The precision the compiled model may compute in (f32, or bf16 where the CPU has it: weights
    // and activations rounded to bf16 inside MatMul/convolution kernels, accumulation in f32).
    // Tensors between kernels keep their graph types either way.
    Type inference_precision = Type::f32;
    // Set by the plan: the kernel may ask for blocked layouts (input_layout / output_layout), and
    // the plan reorders to and from them. Unset (a kernel made on its own, as in kernel tests),
    // every tensor the kernel sees is plain. input_layouts: what each input's producer gives.
    bool negotiate_layouts = false;
    std::vector<Layout> input_layouts;
    // Per output, whether anything reads it (empty: all are read). A kernel may skip work for an
    // output no one reads (MaxPool's indices) but must still accept a tensor for it.
    std::vector<bool> outputs_read;
    bool output_read(size_t i) const { return i >= outputs_read.size() || outputs_read[i]; }
    // Per output, whether the plan lets the kernel store it in bf16 (Layout::bf16: with bf16
    // precision, an output only bf16 convolutions read). Empty: never.
    std::vector<bool> outputs_bf16;
    bool output_bf16(size_t i) const { return i < outputs_bf16.size() && outputs_bf16[i]; }

    Shape in(size_t i) const { return inputs.at(i).shape.to_shape(); }
    Shape out(size_t i) const { return outputs.at(i).shape.to_shape(); }
    Type in_type(size_t i) const { return inputs.at(i).type; }
    Type out_type(size_t i) const { return outputs.at(i).type; }
};

class Kernel {
public:
    virtual ~Kernel() = default;
    // Inputs and outputs have the shapes given at creation; outputs are preallocated. Kernels made
    // by select_dynamic_kernel (kernel_table.hpp) get the outputs whose shape was not static at
    // creation unallocated, and allocate them (fresh memory, shared with nothing).
    virtual void execute(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) const = 0;
    // A short name for profiling and tests ("onednn_conv", "avx512_eltwise", "reference").
    virtual const char* name() const = 0;
    // The layout this kernel reads input i in (non-constant inputs) and writes output i in; plain
    // unless the kernel was made with KernelShapes::negotiate_layouts and chose otherwise.
    virtual Layout input_layout(size_t) const { return {}; }
    virtual Layout output_layout(size_t) const { return {}; }
    // An input whose memory output 0 may take over (a residual that a fused convolution adds to
    // its result): the plan gives both one buffer when nothing reads that input afterwards. -1:
    // none. The kernel must work both ways, shared or not.
    virtual int inplace_input() const { return -1; }
    // More detail for profiling, e.g. the implementation a library picked ("" when none).
    virtual std::string detail() const { return {}; }
};

using KernelPtr = std::unique_ptr<Kernel>;

// Each family of fast kernels has one factory; it returns nullptr when it has no fast kernel
// for this node (type, shapes or attributes it does not cover), and the runtime falls back
// to the node's reference kernel (Node::evaluate).
using KernelFactory = KernelPtr (*)(const Node& node, const KernelShapes& shapes);

// The kernel that runs a node's own evaluate(): the reference for every fast kernel.
class ReferenceKernel : public Kernel {
public:
    explicit ReferenceKernel(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        node_->evaluate_reference(in, out);
    }
    const char* name() const override { return "reference"; }

private:
    std::shared_ptr<const Node> node_;
};

// The reference kernel of a node whose output shapes are known only from its input values (or
// only once it has run): infers them from the actual inputs at each call, allocates the outputs
// (fresh memory), and runs evaluate(), which allocates any output infer() still cannot size.
class DynamicReferenceKernel : public Kernel {
public:
    explicit DynamicReferenceKernel(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    const char* name() const override { return "reference_dynamic"; }

private:
    std::shared_ptr<const Node> node_;
};

// Number of threads kernels may use (OpenMP), set by the compiled model's config.
int num_threads();

// Sets the calling thread's OpenMP thread count (n > 0; n <= 0 leaves it) for one scope and
// restores the caller's value after (OpenMP's nthreads-var is per thread).
class ThreadCountScope {
public:
    explicit ThreadCountScope(int n);
    ~ThreadCountScope();
    ThreadCountScope(const ThreadCountScope&) = delete;
    ThreadCountScope& operator=(const ThreadCountScope&) = delete;

private:
    int saved_ = 0;
};

}  // namespace kiln::cpu
