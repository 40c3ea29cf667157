// Compile-time pass: GELU's tanh approximation written as ops,
//     0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
// (GPT-2's "gelu_new", Hugging Face's NewGELUActivation and the like: Power or x*x*x, the
// multiplications in either order) becomes one Gelu(approximation_mode = tanh), which fuse_dnn
// then takes into the MatMul before it as a post-op. Every intermediate must have the next op as
// its only reader; only f32.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of GELUs fused.
size_t fuse_gelu(Model& m);

}  // namespace kiln::passes
