// Fast f32 kernels for the reduce_norm family:
//   Softmax / LogSoftmax   any axis (contiguous rows, or strided columns in blocks)
//   MVN                    any constant axes set (layer norm over trailing axes, instance norm over
//                          spatial axes, and every other pattern through the same row plan)
//   BatchNormInference     per-channel affine; scale/shift folded at creation when constant
//   Reduce{Sum,Mean,Max,Min,Prod,L1,L2}  any constant axes set, collapsed to rows (innermost
//                          axis reduced: [N,C,H,W] -> [N,C,1,1] is N*C contiguous row sums) or
//                          columns (innermost axis kept)
// Everything else (other types, non-constant axes, NormalizeL2, CumSum) returns nullptr and runs
// the reference kernel. The instruction set is chosen at run time: AVX-512 (F/BW/VL/DQ), else
// AVX2+FMA, else SSE2.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_reduce_norm_kernel(const Node& node, const KernelShapes& shapes);

// Code paths of the factory above, for tests and benchmarks.
enum class ReduceNormIsa {
    best,      // what make_reduce_norm_kernel picks on this CPU
    avx512,    // 16 lanes, AVX-512
    avx2,      // 8 lanes, AVX2 + FMA
    avx2_w16,  // the 16-lane code compiled for AVX2, so CPUs without AVX-512 still test it
    sse2,      // 4 lanes, the x86-64 baseline
};
bool reduce_norm_isa_supported(ReduceNormIsa isa);
// nullptr when the node is not covered or this CPU cannot run `isa`.
KernelPtr make_reduce_norm_kernel_for_isa(const Node& node, const KernelShapes& shapes,
                                          ReduceNormIsa isa);

}  // namespace kiln::cpu
