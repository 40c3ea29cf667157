// Fast f32 kernel of FakeQuantize (ops/fake_quantize.hpp): AVX2 when the CPU has it, a plain loop
// otherwise, both computing the op's formula in the same order as the reference.
//
// Covered: f32 whose four ranges are each one value or per channel along one axis shared by
// all of them (shapes like [1, C, 1, 1], [C, 1, 1] or [C]: every dim 1 but that axis, equal to the
// output's), the ranges' shapes broadcasting into X's. The output is walked as rows
// [outer, C, inner] with one set of range values per row. Anything else: nullptr.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_fake_quantize_kernel(const Node& node, const KernelShapes& shapes);
// `vectorized` false forces the plain loop (for tests); nullptr when AVX2 is asked and missing.
KernelPtr make_fake_quantize_kernel_for(const Node& node, const KernelShapes& shapes, bool vectorized);
bool fake_quantize_vector_supported();

}  // namespace kiln::cpu
