// Shape ops: ShapeOf, Reshape, Squeeze, Unsqueeze, Broadcast, Range, Tile (OpenVINO opsets 1-4).
//
// These carry the shape arithmetic of dynamic models (x.view(x.size(0), -1), flatten, expand):
// when a shape input is not a Constant, its partial value (core/node.hpp: ShapeValue), which
// ShapeOf starts and Concat, Gather, Slice, StridedSlice, Squeeze, Unsqueeze, Reshape and Convert
// carry forward in their own infer(), says what is known of it.
#pragma once
#include <optional>

#include "kiln/core/node.hpp"

namespace kiln::op {

// A strided view of a tensor: output element (o_0..o_n-1) reads input element
// offset + sum(o_i * strides[i]). Strides are in elements and may be zero (broadcast) or negative
// (reversed slices). Transpose, Slice, StridedSlice, Broadcast and Tile are each such a view, so
// their semantics are computed once (here and in data_movement.hpp) and both the reference kernel
// and the fast kernel only copy the view.
struct StridedView {
    Shape shape;
    std::vector<int64_t> strides;
    int64_t offset = 0;
};

// Row-major strides (in elements) of a shape.
std::vector<int64_t> contiguous_strides(const Shape& s);
// The plain element-by-element copy of a view; `dst` is contiguous of shape view.shape.
void copy_view_reference(const StridedView& view, const void* src, void* dst, size_t elem_size);


// What is known of the value of input `i` (InferContext::input_shape_value), with its
// dimensions narrowed by what the context knows of this node's own inputs' shapes.
std::optional<ShapeValue> shape_value(const InferContext& ctx, size_t i);
// Output 0 of a rank <= 1 integer op that moves its input's elements without changing them
// (Squeeze, Unsqueeze, Reshape, Convert to an integer type) takes input 0's partial value.
void forward_shape_value(InferContext& ctx);
// Output 0 of a slice of a rank <= 1 input 0: the elements of input 0's partial value that
// `view_of` (the op's strided view of data of the given 1D shape) reads; nothing when the view
// cannot be computed.
template <typename F>
void slice_shape_value(InferContext& ctx, F&& view_of) {
    auto data = ctx.input_shape_value(0);
    const PartialShape& ds = ctx.input_shape(0);
    if (!data || !ds.rank_is_static() || ds.rank() > 1) return;
    StridedView view;
    try {
        view = view_of(Shape{static_cast<int64_t>(data->size())});
    } catch (const Error&) {
        return;
    }
    if (view.shape.size() > 1) return;
    const int64_t n = view.shape.empty() ? 1 : view.shape[0];
    const int64_t step = view.shape.empty() ? 0 : view.strides[0];
    ShapeValue r;
    for (int64_t k = 0; k < n; ++k) r.push_back((*data)[static_cast<size_t>(view.offset + k * step)]);
    ctx.set_output_value(0, std::move(r));
}

// ShapeOf-3 (and -1: no output_type attribute, always i64). Input: data (any). Output: 1D
// [rank(data)] of output_type (i64 or i32).
class ShapeOf : public Op<ShapeOf> {
public:
    ShapeOf() = default;
    explicit ShapeOf(Type output_type) : output_type(output_type) {}
    const char* type_name() const override { return "ShapeOf"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    // Named like the IR attribute; it hides Node::output_type(i), reach that through a Node&.
    Type output_type = Type::i64;
    int64_t opset_version = 3;  // 1 or 3
};

// Reshape-1. Inputs: data, target shape (1D integer). One target element may be -1 (inferred so
// the element count is kept); with special_zero, 0 copies the data dimension at that index.
class Reshape : public Op<Reshape> {
public:
    Reshape() = default;
    explicit Reshape(bool special_zero) : special_zero(special_zero) {}
    const char* type_name() const override { return "Reshape"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool special_zero = false;
};

// Squeeze-1. Inputs: data [, axes (0D/1D integer)]. Removes the given size-1 axes (it is an
// error if one is not 1), or every size-1 axis when axes are absent or empty.
class Squeeze : public Op<Squeeze> {
public:
    Squeeze() = default;
    const char* type_name() const override { return "Squeeze"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// Unsqueeze-1. Inputs: data, axes (0D/1D integer, positions in the output, negative allowed,
// no repeats). Inserts size-1 axes.
class Unsqueeze : public Op<Unsqueeze> {
public:
    Unsqueeze() = default;
    const char* type_name() const override { return "Unsqueeze"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

enum class BroadcastMode { numpy, explicit_, bidirectional };

// Broadcast-3 (and -1, which has the numpy and explicit modes only).
// Inputs: data, target_shape (1D integer) [, axes_mapping (1D, explicit mode)].
// numpy: data is aligned right against target_shape and only data is stretched (its dims must be
// 1 or equal). bidirectional: the output is the numpy broadcast of both shapes. explicit: data
// dim i goes to output axis axes_mapping[i].
class Broadcast : public Op<Broadcast> {
public:
    Broadcast() = default;
    explicit Broadcast(BroadcastMode mode) : mode(mode) {}
    const char* type_name() const override { return "Broadcast"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    // The view of data that is the output, for concrete shapes and values.
    StridedView view(const Shape& data, const std::vector<int64_t>& target,
                     const std::vector<int64_t>& axes_mapping) const;

    BroadcastMode mode = BroadcastMode::numpy;
    int64_t opset_version = 3;  // 1 or 3
};

// Range-4. Inputs: start, stop, step (numeric scalars). Output: 1D of output_type with
// max(ceil((stop - start) / step), 0) elements, after casting the inputs to output_type.
class Range : public Op<Range> {
public:
    Range() = default;
    explicit Range(Type output_type) : output_type(output_type) {}
    const char* type_name() const override { return "Range"; }
    const char* opset() const override { return "opset4"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    // Named like the IR attribute; it hides Node::output_type(i), reach that through a Node&.
    Type output_type = Type::i64;
};

// Tile-1. Inputs: data, repeats (1D integer, >= 0). The shorter of data rank and repeats is
// padded with leading 1s; output dim i = data dim i * repeats[i].
class Tile : public Op<Tile> {
public:
    Tile() = default;
    const char* type_name() const override { return "Tile"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    // A view of rank 2 * r (repeat, dim pairs) whose contiguous copy is the output.
    static StridedView view(const Shape& data, const std::vector<int64_t>& repeats);
};

}  // namespace kiln::op
