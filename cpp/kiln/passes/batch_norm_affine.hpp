// Compile-time pass: a BatchNormInference that no convolution took in (fuse_dnn folds those into
// the convolution's weights) becomes the per-channel affine map it is, Multiply(x, scale) then
// Add(shift), with scale = gamma / sqrt(variance + epsilon) and shift = beta - mean * scale
// computed once, as constants of shape [C, 1, ..., 1]. Element-wise ops run on blocked and
// channels-last tensors as they are (their per-channel constants laid out once at planning), so
// the batch norms of pre-activation blocks (DenseNet's BN -> ReLU -> conv after a concat) no
// longer send their tensors to the plain layout and back. Only f32 with constant parameters.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of batch norms rewritten.
size_t batch_norm_to_affine(Model& m);

}  // namespace kiln::passes
