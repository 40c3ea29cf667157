// The fused f32 kernel for ScaledDotProductAttention and FusedScaledDotProductAttention (its
// [B, L, H, E]-layout form; ops/attention.hpp): softmax(Q K^T * scale
// + bias) V computed per block of query rows, looping over blocks of keys with the softmax kept
// on the fly (a running row max and sum; flash-attention style), so the [L, S] score matrix is
// never stored. Covers every form the op has: boolean and additive masks of any broadcastable
// shape, causal, explicit (constant or run-time) scale, broadcast batch dims (one K/V head for
// many query heads). Inputs f32 (mask f32 or boolean); other types run the reference.
// The instruction set is chosen at run time: AVX-512 (16 lanes), else AVX2 + FMA (8 lanes); with
// inference precision bf16 and AVX512_BF16, the two products take bf16 operands.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_attention_kernel(const Node& node, const KernelShapes& shapes);

// avx512_bf16: Q K^T and P V with bf16 operands (vdpbf16ps), f32 accumulation and softmax; chosen
// by `best` when KernelShapes::inference_precision is bf16 and the query has >= 4 rows.
enum class AttentionIsa { best, avx512, avx2, avx512_bf16 };
bool attention_isa_supported(AttentionIsa isa);
// nullptr when the node is not covered or this CPU cannot run `isa`; for tests.
KernelPtr make_attention_kernel_for_isa(const Node& node, const KernelShapes& shapes, AttentionIsa isa);

}  // namespace kiln::cpu
