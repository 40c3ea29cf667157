// kiln's oneDNN kernels: Convolution, GroupConvolution, FusedConvolution, the two
// *ConvolutionBackpropData, MatMul, FusedMatMul,
// MaxPool, AvgPool, AdaptiveAvgPool, AdaptiveMaxPool (f32). Activations enter and leave
// every kernel as plain row-major tensors.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The oneDNN kernel for this node at these static shapes, or nullptr when none covers it
// (element type other than f32, non-constant conv weights, ...); the runtime then runs the
// node's reference kernel.
KernelPtr make_onednn_kernel(const Node& node, const KernelShapes& shapes);

namespace onednn {
// Activation layout inside a conv primitive. plain: the primitive reads and writes NCHW
// directly; blocked: format_tag::any, with reorders from/to NCHW around it (weights are
// always packed once). automatic = blocked: on AVX2, 1 thread, per call including the
// reorders, 56x56x64 3x3->64: 6.5 ms blocked vs 10.8 ms NCHW; 28x28x128 3x3: 6.8 vs 9.9;
// 224x224x3 7x7/2: 8.5 vs 11.4; 56x56x64 1x1->256: 3.9 vs 3.6 (a wash). Where the primitive
// itself prefers plain (e.g. a 3-channel input) no reorder happens.
enum class ConvLayout { automatic, plain, blocked };
KernelPtr make_conv_kernel(const Node& node, const KernelShapes& shapes, ConvLayout layout);
KernelPtr make_deconv_kernel(const Node& node, const KernelShapes& shapes);
KernelPtr make_matmul_kernel(const Node& node, const KernelShapes& shapes);
KernelPtr make_pooling_kernel(const Node& node, const KernelShapes& shapes);
}  // namespace onednn

}  // namespace kiln::cpu
