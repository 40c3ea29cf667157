// KILN_PROFILE=1: every kernel select_kernel makes is wrapped so that its calls are timed; the
// totals per (node type, kernel, input shapes) print to stderr, largest first, at process exit.
// For profiling only: it adds a clock read and a locked map update per call.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

bool profiling_enabled();
// `k` itself when profiling is off.
KernelPtr profiled(KernelPtr k, const Node& node, const KernelShapes& shapes);

}  // namespace kiln::cpu
