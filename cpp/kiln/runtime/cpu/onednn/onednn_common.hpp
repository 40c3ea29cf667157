// The one place kiln meets the oneDNN 2.x C++ API (with conv, matmul and pooling in this
// folder), so that a move to 3.x touches nothing else.
#pragma once
#include <memory>
#include <optional>
#include <oneapi/dnnl/dnnl.hpp>

#include "kiln/core/shape.hpp"
#include "kiln/core/type.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu::onednn {

// The process-wide CPU engine.
dnnl::engine& engine();
// A stream for the calling thread: streams are cheap but not meant to be shared between
// threads that execute at the same time.
dnnl::stream& thread_stream();

// kiln element type -> oneDNN data type; undef when oneDNN has none.
dnnl::memory::data_type to_dnnl(Type t);
dnnl::memory::dims to_dims(const Shape& s);
// Dense row-major descriptor of this shape.
dnnl::memory::desc plain_desc(const Shape& s, Type t = Type::f32);
// [.., rows, cols] stored row-major, viewed with its last two axes swapped when `transposed` (a
// MatMul operand's transpose as strides; a broadcast size-1 axis's stride is unused).
dnnl::memory::desc view_desc(const Shape& s, bool transposed, Type t = Type::f32);

// A MatMul's operands as oneDNN's matmul sees them: both of rank r (leading 1s added), and
// y[.., M, N] = a[.., M, K] (transposed when ta) * b[.., K, N] (transposed when tb).
struct MatMulDims {
    size_t r = 0;
    int64_t M = 0, K = 0, N = 0;
    bool b_batch = false;  // b varies along a batch axis
};
// Pads `a` and `b` to one rank in place and reads the dimensions off them.
MatMulDims matmul_dims(Shape& a, Shape& b, bool ta, bool tb);

// The descriptor of a logical shape laid out as `l` (plain, or nC..16c / nC..8c blocked).
dnnl::memory::desc layout_desc(const Shape& logical, Type t, Layout l);
// The kiln layout that a oneDNN descriptor of this logical shape is, or nullopt (another format).
std::optional<Layout> layout_of(const dnnl::memory::desc& md, const Shape& logical, Type t);
// A reorder step of the plan: the logical shape `logical` from layout `from` to `to` (f32, bf16).
KernelPtr make_reorder_kernel(const Shape& logical, Type t, Layout from, Layout to);

// Every primitive here runs with a user scratchpad so that concurrent executions of one
// primitive never share scratch memory.
dnnl::primitive_attr base_attr();
// The eltwise/sum post-op chain of a fused op, and one post-op appended to a chain.
dnnl::post_ops to_post_ops(const std::vector<op::PostOp>& ops);
void append_post_op(dnnl::post_ops& po, const op::PostOp& p);

// Per-thread reusable memory for a kernel's temporaries (reordered activations, scratchpad):
// fresh allocations of a few MB per call cost page faults comparable to the convolution
// itself. Valid until the next call on the same thread; kernels never keep it across calls.
char* thread_buffer(size_t bytes);
inline size_t round_up64(size_t n) { return (n + 63) / 64 * 64; }

// Copies `src` (user layout) into a fresh memory of layout `dst_md` (a plain copy when equal).
dnnl::memory reorder_to(const dnnl::memory& src, const dnnl::memory::desc& dst_md);
// Constant weights reordered to dst_md, shared by every kernel that asks for the same weights in
// the same layout: a dynamic-shape model builds a plan per input shape, and each plan's kernels
// would otherwise pack their own copy (gigabytes for the largest models). Shared while any
// kernel holds the result; the kernel's plan keeps `src`'s memory alive meanwhile, so its
// address cannot be reused by other weights during that time.
std::shared_ptr<const dnnl::memory> packed_weights(const dnnl::memory& src, const dnnl::memory::desc& dst_md);

// A fingerprint of a weight's bytes: four independent multiply-xor lanes over 64-bit words
// (memory-bound: about 10 ms for resnet50's 100 MB), so that weights changed in place between
// two compilations are never served the packing of their old values (packed_weights, and
// kiln's own GEMM's packing, kernels/gemm.cpp).
uint64_t fingerprint(const void* data, size_t bytes);

}  // namespace kiln::cpu::onednn
