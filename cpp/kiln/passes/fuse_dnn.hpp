// Fusion of convolution / matmul with what follows them, for oneDNN post-ops.
#pragma once
#include <optional>

#include "kiln/core/model.hpp"
#include "kiln/ops/internal/fused.hpp"

namespace kiln::passes {

// Rewrites, in place:
//  1. Convolution/GroupConvolution (constant weights) followed by a per-output-channel
//     Multiply by a constant, Add of a constant, or BatchNormInference with constant
//     parameters (batch norm in either form): folded into the weights and a bias.
//  2. Convolution/GroupConvolution + bias Add + activations + residual Add (a non-constant
//     tensor of the output's shape) + activations -> FusedConvolution.
//  3. MatMul with constant B + bias Add (constant along the last axis) + activations (+ a
//     residual Add) -> FusedMatMul.
// A node is absorbed only when the tensor before it has that node as its single consumer
// (so no intermediate is a graph output or read elsewhere). Only f32 chains are fused.
// Returns the number of fused nodes made.
size_t fuse_dnn(Model& m);

}  // namespace kiln::passes
