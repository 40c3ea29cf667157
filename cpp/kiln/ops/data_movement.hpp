// Data movement ops: Transpose, Concat, Split, VariadicSplit, Gather, StridedSlice, Slice, Pad,
// Roll, ScatterNDUpdate, GatherElements (OpenVINO opsets 1-12). All are element-type agnostic;
// index-like inputs may be i32 or i64.
#pragma once
#include "kiln/ops/scatter.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::op {

// Transpose-1. Inputs: data, order (1D integer permutation of [0, rank); empty = reverse).
// Output dim i = data dim order[i].
class Transpose : public Op<Transpose> {
public:
    Transpose() = default;
    const char* type_name() const override { return "Transpose"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    static StridedView view(const Shape& data, const std::vector<int64_t>& order);
};

// Concat-1. Inputs: one or more tensors of equal rank (>= 1) that agree except on `axis`
// (negative counts from the end). Output: their concatenation along axis.
class Concat : public Op<Concat> {
public:
    Concat() = default;
    explicit Concat(int64_t axis) : axis(axis) {}
    const char* type_name() const override { return "Concat"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = 0;
};

// Split-1. Inputs: data, axis (integer scalar). num_splits equal outputs along axis, which must
// divide the dimension.
class Split : public Op<Split> {
public:
    Split() = default;
    explicit Split(int64_t num_splits) : num_splits(num_splits) {}
    const char* type_name() const override { return "Split"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t num_splits = 1;
};

// VariadicSplit-1. Inputs: data, axis (integer scalar), split_lengths (1D integer, of static
// shape: it sets the number of outputs; one element may be -1 = the rest).
class VariadicSplit : public Op<VariadicSplit> {
public:
    VariadicSplit() = default;
    const char* type_name() const override { return "VariadicSplit"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// Gather-8 (and -7, and -1: batch_dims 0, no attribute). Inputs: data, indices (integer, any
// shape; negative counts from the end; out of range gives zeros), axis (integer scalar). The first batch_dims dims of data and indices are shared
// batches (negative batch_dims counts from the indices rank).
// Output: data[:axis] + indices[batch_dims:] + data[axis+1:].
class Gather : public Op<Gather> {
public:
    Gather() = default;
    explicit Gather(int64_t batch_dims) : batch_dims(batch_dims) {}
    const char* type_name() const override { return "Gather"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t batch_dims = 0;
    int64_t opset_version = 8;  // 1, 7 or 8
};

// StridedSlice-1. Inputs: data, begin, end [, strides] (1D integer of equal length). Masks are
// lists of 0/1 per begin element: begin_mask / end_mask ignore begin / end (full extent),
// new_axis_mask inserts a size-1 axis, shrink_axis_mask takes the single element at begin and
// drops the axis, ellipsis_mask (one bit at most) stands for all the axes not named.
class StridedSlice : public Op<StridedSlice> {
public:
    StridedSlice() = default;
    StridedSlice(std::vector<int64_t> begin_mask, std::vector<int64_t> end_mask,
                 std::vector<int64_t> new_axis_mask = {}, std::vector<int64_t> shrink_axis_mask = {},
                 std::vector<int64_t> ellipsis_mask = {})
        : begin_mask(std::move(begin_mask)),
          end_mask(std::move(end_mask)),
          new_axis_mask(std::move(new_axis_mask)),
          shrink_axis_mask(std::move(shrink_axis_mask)),
          ellipsis_mask(std::move(ellipsis_mask)) {}
    const char* type_name() const override { return "StridedSlice"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    // The view that is the output (new axes appear in it as size-1 dims, shrunk axes only move
    // its offset, so its shape is the output shape). Empty strides mean all 1. Throws ValueError.
    StridedView view(const Shape& data, const std::vector<int64_t>& begin,
                     const std::vector<int64_t>& end, const std::vector<int64_t>& strides) const;

    std::vector<int64_t> begin_mask, end_mask, new_axis_mask, shrink_axis_mask, ellipsis_mask;
};

// Slice-8. Inputs: data, start, stop, step [, axes] (1D integer of equal length; numpy-like
// clamping; negative step walks backwards; step 0 is an error; axes default 0..n-1).
class Slice : public Op<Slice> {
public:
    Slice() = default;
    const char* type_name() const override { return "Slice"; }
    const char* opset() const override { return "opset8"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    // Empty `axes` means 0..n-1.
    static StridedView view(const Shape& data, const std::vector<int64_t>& start,
                            const std::vector<int64_t>& stop, const std::vector<int64_t>& step,
                            const std::vector<int64_t>& axes);
};

enum class PadMode { constant, edge, reflect, symmetric };

// Pad-12 (and Pad-1, whose pads must not be negative). Inputs: data, pads_begin, pads_end (1D
// integer of length rank; negative pads remove elements) [, pad_value (scalar, constant mode)]. Output dim i = dim i + begin[i] + end[i].
// reflect needs pads < dim, symmetric pads <= dim.
class Pad : public Op<Pad> {
public:
    Pad() = default;
    explicit Pad(PadMode pad_mode) : pad_mode(pad_mode) {}
    const char* type_name() const override { return "Pad"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    PadMode pad_mode = PadMode::constant;
    int64_t opset_version = 12;  // 1 or 12
};

// Roll-7. Inputs: data, shift, axes (0D/1D integer; a scalar shift applies to every axis; axes
// may repeat and their shifts add). Elements move by shift along each axis, wrapping around.
class Roll : public Op<Roll> {
public:
    Roll() = default;
    const char* type_name() const override { return "Roll"; }
    const char* opset() const override { return "opset7"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// ScatterNDUpdate-15. Inputs: data, indices (integer, [..., k] with k <= rank(data)), updates
// (indices.shape[:-1] + data.shape[k:]). Output: data with the indexed slices replaced, or with
// reduction (sum, sub, prod, min, max) combined with the updates in index order (duplicates
// accumulate). reduction none is ScatterNDUpdate-4.
class ScatterNDUpdate : public Op<ScatterNDUpdate> {
public:
    ScatterNDUpdate() = default;
    explicit ScatterNDUpdate(ScatterReduction reduction) : reduction(reduction) {}
    const char* type_name() const override { return "ScatterNDUpdate"; }
    const char* opset() const override { return reduction == ScatterReduction::none ? "opset4" : "opset15"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    ScatterReduction reduction = ScatterReduction::none;
};

// GatherElements-6. Inputs: data, indices (integer, same rank, same dims except on axis).
// out[..., i, ...] = data[..., indices[..., i, ...], ...] along axis; output shape = indices.
class GatherElements : public Op<GatherElements> {
public:
    GatherElements() = default;
    explicit GatherElements(int64_t axis) : axis(axis) {}
    const char* type_name() const override { return "GatherElements"; }
    const char* opset() const override { return "opset6"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = 0;
};

}  // namespace kiln::op
