// Helpers shared by the aten translators: dtype codes, type promotion, shape pieces.
#pragma once
#include "kiln/frontend/pytorch/node_context.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::frontend::pytorch {

using Outs = std::vector<TValue>;

// torch ScalarType code (as TorchScript stores dtype arguments) -> kiln Type.
Type torch_dtype(const NodeContext& ctx, int64_t code);

// Input i converted to type t when it is not already.
Output to_type(NodeContext& ctx, Output x, Type t);
// The two operands of a binary aten op, brought to one element type the way torch promotes:
// python scalars and 0-d tensors adopt the other operand's type unless that would lose the
// float category; otherwise float beats integer, wider beats narrower, anything beats bool.
std::pair<Output, Output> promoted(NodeContext& ctx, size_t a, size_t b);
// The element type torch's type promotion gives these inputs (tensors with dims over 0-d
// tensors over Python numbers, unless a lower group is of a higher category).
Type result_type(NodeContext& ctx, const std::vector<size_t>& inputs);
Type promote_types(Type a, Type b);

// Rank of x; fails (with the node and source) when it is not known at conversion time.
int64_t static_rank(const NodeContext& ctx, const Output& x);
// Normalized axis of x (negative counts from the end).
int64_t axis_of(const NodeContext& ctx, const Output& x, int64_t axis);
// ShapeOf(x) as i64 [rank].
Output shape_of(NodeContext& ctx, const Output& x);
// x.size(axis) as an i64 scalar (0-d).
Output dim_of(NodeContext& ctx, const Output& x, int64_t axis);
// 1-D int tensor of input i (a constant list, a shape list or a tensor).
Output int_list(NodeContext& ctx, size_t i);

Outs identity(NodeContext& ctx);  // returns input 0

// torch computes an op on f16 / bf16 tensors in f32 and rounds its result once, and keeps Python
// scalars beside them in f32: a translator that builds an op from several kiln ops (or takes a
// Python scalar) runs with the half-type tensor inputs widened to f32, and its f32 results are
// rounded back to that half type. only_with_scalars: widen only when a Python number is among
// the inputs (a lone op on two half tensors rounds the same either way).
Outs half_via_f32(NodeContext& ctx, Translator f, bool only_with_scalars = false);
template <Translator F>
Outs in_f32(NodeContext& ctx) { return half_via_f32(ctx, F); }
template <Translator F>
Outs in_f32_with_scalars(NodeContext& ctx) { return half_via_f32(ctx, F, true); }

// prim.cpp: d[key] for a dict value (key: input key_input, a constant).
TValue dict_item(NodeContext& ctx, const TValue& d, size_t key_input);

// index.cpp: indices checked against `size` (IndexCheck; negatives allowed or not, as torch
// does for the op), named after the model input they come from; i64.
Output checked_indices(NodeContext& ctx, const Output& idx, const Output& size, bool allow_negative, const char* role);
// Values and indices of the max (or min) along dim; the dim kept or squeezed.
std::pair<Output, Output> extreme_along(NodeContext& ctx, const Output& x, int64_t dim, bool keep, bool is_max);
// An output kiln does not compute (the LU factors of _linalg_det, the info of linalg_inv_ex): a
// value that fails the conversion, naming `what` and the op, if anything uses it.
TValue not_computed(NodeContext& ctx, const std::string& what);
// shape.cpp: the (begin, end) amounts of torch's pad list at input i for a rank-r tensor, per dim
// from the first (1-element i64 tensors; 0 where the list does not reach); checked against r.
std::pair<OutputVector, OutputVector> pad_amounts(NodeContext& ctx, size_t i, int64_t r);
// A constant holding `v` in element type t (shape {} or e.g. {1}).
Output typed_scalar(NodeContext& ctx, Type t, double v, Shape shape = {});
// A scalar constant of x's element type.
Output scalar_like(NodeContext& ctx, const Output& x, double v);
// Input i as a float tensor: integers and bools become f32 (torch's default dtype).
Output as_float(NodeContext& ctx, size_t i);
// Inputs `idx` promoted together by torch's rules; with `to_float`, integers then become f32.
OutputVector promoted_all(NodeContext& ctx, const std::vector<size_t>& idx, bool to_float = false);

}  // namespace kiln::frontend::pytorch
