// Compile-time pass: every f32 ScaledDotProductAttention becomes the opset subgraph its
// specification gives (MatMul, Multiply, the mask as an added bias, Softmax, MatMul), so that
// the runtime's fast MatMul and Softmax kernels run it. Other element types keep the op and its
// reference kernel.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of ops replaced.
size_t decompose_attention(Model& m);

}  // namespace kiln::passes
