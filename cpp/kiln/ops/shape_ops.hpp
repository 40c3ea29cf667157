// Shape ops: ShapeOf, Reshape, Squeeze, Unsqueeze, Broadcast, Range, Tile (OpenVINO opsets 1-4).
//
// These carry the shape arithmetic of dynamic models (x.view(x.size(0), -1), flatten, expand), so
// their shape inference looks through the small subgraphs that compute shapes (ShapeOf, Gather,
// Concat, Unsqueeze, ... over Constants) when a shape input is not itself a Constant; see
// `shape_value` below.
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

// One element of a shape-like 1D (or 0D) integer tensor known only in part. Either its value is
// known, or it is a dimension (an interval); when it is exactly dimension `axis` of output
// `port` of node `src` (it came from a ShapeOf), that is recorded too, so Reshape can tell that
// x.view(x.size(0), -1) keeps dimension 0 of x and puts everything else in the -1.
struct ShapeValueElem {
    bool known = false;
    int64_t value = 0;  // when known (may be negative: -1 in a Reshape target)
    Dimension dim;      // when not known
    const Node* src = nullptr;
    size_t port = 0;
    int64_t axis = -1;
};
using ShapeValue = std::vector<ShapeValueElem>;

// What is known of the value of input `i`: the constant value, else what can be derived by
// looking at the producing subgraph; nullopt when nothing is known.
std::optional<ShapeValue> shape_value(const InferContext& ctx, size_t i);
// The same for any output in a graph.
std::optional<ShapeValue> shape_value(const Output& o);

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
