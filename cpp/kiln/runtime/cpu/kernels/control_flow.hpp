// Kernels of If and Loop: each body is compiled into a plan of its own (plan.hpp) for the static
// shapes its parameters take, and run from there; the semantics (which body, back edges, stop
// rules, zero trips, concatenation) are the ops' own execute() (ops/control_flow.hpp), shared
// with their reference kernels. Outputs of data-dependent shape are allocated per call.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The kernel for an If or Loop node, or nullptr for any other node. Input shapes must be static;
// output shapes may be partial (those outputs arrive unallocated and the kernel allocates them).
KernelPtr make_control_flow_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes);

}  // namespace kiln::cpu
