// Compile-time pass: layer norm written as MVN(x, axes = [last]) -> Multiply(scale) [-> Add(shift)],
// scale and shift f32 constants that vary along the last axis only, becomes one FusedMVN
// (ops/internal/layer_norm.hpp), which the reduce_norm kernel runs in one pass over the data.
// The MVN and the Multiply must each have the next op as their only reader.
// RMS norm written as ops (x * 1/sqrt(mean(x^2, last axis) + eps) [* scale], as aten::rms_norm
// translates and Llama-family models trace) becomes one FusedRMSNorm, run by the same kernel.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of layer norms and RMS norms fused.
size_t fuse_layer_norm(Model& m);

}  // namespace kiln::passes
