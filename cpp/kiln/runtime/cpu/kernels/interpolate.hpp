// Fast f32 kernel of Interpolate (ops/interpolate.hpp), vectorized for AVX-512 and AVX2+FMA and
// chosen at run time.
//
// Covered: f32 images of any rank whose interpolated axes are among the last three, without
// pads, with constant axes (and constant scales in scales mode) — every mode, since the kernel
// runs the op's own per-axis tap tables (AxisTaps). The last axis is resampled by gathering its
// taps (8 or 16 outputs at once), the two axes before it by weighted sums of whole resampled
// rows; resampled rows are cached so that neighbouring output rows share them. Work is split
// over the planes (the axes before those three) and bands of output rows on the OpenMP pool.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The kernel for this node at these shapes on the best instruction set the CPU has, or nullptr.
KernelPtr make_interpolate_kernel(const Node& node, const KernelShapes& shapes);

enum class InterpolateIsa { avx2, avx512 };
bool interpolate_isa_supported(InterpolateIsa isa);
// The kernel on one given instruction set (nullptr also when the CPU lacks it), for tests.
KernelPtr make_interpolate_kernel_for(const Node& node, const KernelShapes& shapes, InterpolateIsa isa);

}  // namespace kiln::cpu
