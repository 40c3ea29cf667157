// Chooses the kernel for a node: the fast family that covers it, else its reference kernel.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// Never returns nullptr: falls back to ReferenceKernel (Node::evaluate).
KernelPtr select_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes);

// For a node with outputs of data-dependent shape (KernelShapes.outputs not all static): a kernel
// that allocates those outputs when it runs (If/Loop's, else DynamicReferenceKernel). Throws
// kiln::Error naming the node when it has no reference kernel either.
KernelPtr select_dynamic_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes);

// When set (KILN_REFERENCE_KERNELS=1 or set_reference_only), every node uses its reference
// kernel: the tests use this to compare whole models fast vs reference.
void set_reference_only(bool on);
bool reference_only();

}  // namespace kiln::cpu
