// kiln's own f32 GEMM for MatMul / FusedMatMul whose B is a constant 2-D matrix (a Linear layer's
// weights): C = A B (+ bias) followed by the post-op chain (activations, the residual sum).
//
// B is packed once (shared by every plan that asks for the same weights, as oneDNN's packings
// are) into column panels of NR floats, K rows deep; A is read in place. Per thread, a range of
// panels; per pass of KC rows of B, blocks of MC rows of A stay in L2 while each panel's KC x NR
// slice stays in L1 under MR x NR register tiles (AVX2: 6 x 16, AVX-512: 12 x 32). The last pass
// finishes each tile with the bias, the residual and the activations, with the routines of the
// element-wise kernels (eltwise.hpp), while the tile is in L1.
//
// Chosen where it is faster than oneDNN 2.6's matmul: below AVX-512 (oneDNN 2.6 has brgemm
// matmuls for AVX-512 only and falls back to a plain jit gemm at about half the machine's f32
// rate on AVX2). KILN_GEMM=onednn / kiln forces one or the other (tests, benchmarks).
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

enum class GemmIsa { avx2, avx512 };
bool gemm_isa_supported(GemmIsa isa);

// The kernel where kiln's GEMM is the one to run (see above), or nullptr.
KernelPtr make_gemm_kernel(const Node& node, const KernelShapes& shapes);
// The kernel on one instruction set whenever the node is one it covers (tests compare each with
// the reference); nullptr when the CPU lacks the instruction set or the node is not covered.
KernelPtr make_gemm_kernel_for(const Node& node, const KernelShapes& shapes, GemmIsa isa);

}  // namespace kiln::cpu
