// Concat along the channel axis of tensors in a layout other than plain (plan.cpp tries it when
// its inputs come in one): nhwc interleaves each position's channels, blocked layouts (every
// input's channels whole blocks) append channel blocks. Checked against the plain Concat.
#pragma once
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// nullptr unless `node` is a Concat on axis 1 of f32, i8 or u8 tensors (all of one type) of rank
// 3..5 and `layout` suits it.
KernelPtr make_layout_concat_kernel(const Node& node, const KernelShapes& shapes, Layout layout);

}  // namespace kiln::cpu
