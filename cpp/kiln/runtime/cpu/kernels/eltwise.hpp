// Fast f32 kernels for the element-wise family, vectorized for AVX-512 and AVX2+FMA and chosen
// at run time from the CPU's features (never from build flags).
//
// Covered (anything else gets nullptr, and the runtime runs the node's reference kernel); the
// unary, Power and binary kernels also take f16 and bf16 (same type in and out), converted to f32
// in registers chunk by chunk and rounded back as the reference does:
//   unary f32 -> f32: Relu Sigmoid Tanh Exp Log Sqrt Abs Negative Floor Ceiling Erf Sign SoftPlus
//                     Mish HSwish HSigmoid Swish(beta input or 1) Elu Clamp Gelu(erf|tanh) Round
//   Power f32 with a one-element exponent
//   binary f32 with numpy broadcasting of any pattern: Add Subtract Multiply Divide Maximum
//                     Minimum SquaredDifference, and PRelu (per-channel or numpy slope)
//   Select: boolean cond, f32 or i32 then/else, any broadcast of the three
//   Convert: f32 -> i64 i32 u8 i8 boolean f16 bf16, and i64 i32 u8 i8 boolean f16 bf16 -> f32
// Broadcasting is collapsed to an outer loop of rows over one contiguous inner run, where each
// input is either contiguous or a single broadcast value; that covers same-shape, scalar,
// per-channel [1,C,1,1] and last-axis operands at full vector speed.
#pragma once
#include "kiln/ops/activation.hpp"
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The kernel for this node at these shapes on the best instruction set the CPU has, or nullptr.
KernelPtr make_eltwise_kernel(const Node& node, const KernelShapes& shapes);

enum class EltwiseIsa { avx2, avx512 };
// Whether this CPU can run the given instruction set's kernels.
bool eltwise_isa_supported(EltwiseIsa isa);
// The kernel on one given instruction set (nullptr also when the CPU lacks it); lets tests
// check each code path against the reference.
KernelPtr make_eltwise_kernel_for(const Node& node, const KernelShapes& shapes, EltwiseIsa isa);

// x[0, n) = a(x) in place, serially, with the routine the element-wise kernels run for that
// activation: what kiln's GEMM (kernels/gemm.cpp) applies to each finished tile of a FusedMatMul.
// False (x untouched) when the CPU lacks the instruction set.
bool apply_activation(const op::ActivationSpec& a, float* x, int64_t n, EltwiseIsa isa);

}  // namespace kiln::cpu
