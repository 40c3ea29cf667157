// Fast f32 kernel of DeformableConvolution (ops/detection.hpp): the op's own columns (the
// bilinear samples of every tap, masked) and one GEMM per group through oneDNN's sgemm, instead
// of the reference kernel's plain dot products. Anything else: nullptr (the reference runs).
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

KernelPtr make_detection_kernel(const Node& node, const KernelShapes& shapes);

}  // namespace kiln::cpu
