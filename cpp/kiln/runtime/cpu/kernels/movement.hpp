// Fast kernels of the movement family (shape_ops.hpp, data_movement.hpp): element-type agnostic
// copies by element size (1, 2, 4 or 8 bytes), OpenMP over outer dimensions for large tensors.
// Covered: Reshape, Squeeze, Unsqueeze (a copy, or nothing when input and output share memory),
// Transpose (tiled), Slice, StridedSlice, Broadcast, Tile (strided copies with contiguous inner
// runs), Concat, Split, VariadicSplit (row copies), Gather (row copies), Pad in constant mode.
#pragma once
#include "kiln/ops/shape_ops.hpp"
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The fast kernel for a movement node at these static shapes, or nullptr when not covered.
KernelPtr make_movement_kernel(const Node& node, const KernelShapes& shapes);

// The copy engine behind them: writes the view of src contiguously into dst. Merges dimensions,
// copies contiguous inner runs with memcpy, tiles transposes, fills broadcast runs.
void copy_view_fast(const op::StridedView& view, const void* src, void* dst, size_t elem_size);

}  // namespace kiln::cpu
