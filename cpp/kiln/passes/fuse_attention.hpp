// Compile-time pass: attention written as ops becomes one ScaledDotProductAttention, so that the
// fused attention kernel runs it (runtime/cpu/kernels/attention.hpp). The pattern, in f32:
//
//     [Multiply|Divide by a scalar constant] on q          (the scale applied to the query)
//     MatMul(q, k, transpose_b)  or  MatMul(q, Transpose(k, swap of the last two axes))
//     [Multiply|Divide by a scalar constant]               (the scale applied to the scores)
//     [Add(mask)]   mask f32, broadcastable to the scores without growing them; a mask
//                   Select(b, 0, -inf) is read as the boolean b
//     Softmax(axis = last)
//     MatMul(p, v)
//
// which is what kiln's own torch translators emit for scaled_dot_product_attention and
// nn.MultiheadAttention, and what eager attention code (Hugging Face "eager") traces to. Every
// intermediate must have that chain as its only reader; the scales multiply into the op's scale.
// Then every f32 ScaledDotProductAttention (fused here or read from a file) whose rank-4 inputs
// come from, or whose output goes to, head transposes (Transpose [0, 2, 1, 3]) becomes a
// FusedScaledDotProductAttention reading / writing those [B, L, H, E] tensors directly.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of attentions fused.
size_t fuse_attention(Model& m);

}  // namespace kiln::passes
