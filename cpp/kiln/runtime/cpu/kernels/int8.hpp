// The INT8 family (ops/internal/int8.hpp): kiln's own Quantize / Dequantize kernels (AVX-512 or
// AVX2 chosen at run time, each computing the op's formula exactly as the reference does, so the
// integers are the same bit for bit), and oneDNN's u8/s8 convolution and matmul
// (runtime/cpu/onednn/int8_*.cpp).
//
// Quantize and Dequantize run on a tensor in whatever layout its producer wrote it (nhwc,
// blocked) when they have one scale for the whole tensor; with Quantize's per-channel multiplier
// they read plain tensors. Covered: f32 <-> u8/s8 of any shape; nullptr otherwise.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_int8_kernel(const Node& node, const KernelShapes& shapes);

enum class Int8Isa { avx512, avx2 };
bool int8_isa_supported(Int8Isa isa);
// The Quantize / Dequantize kernel for one instruction set (nullptr when the CPU lacks it), for tests.
KernelPtr make_quantize_kernel_for(const Node& node, const KernelShapes& shapes, Int8Isa isa);

}  // namespace kiln::cpu
