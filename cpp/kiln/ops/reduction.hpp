// Reductions over a set of axes: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd (opset1),
// ReduceL1, ReduceL2 (opset4).
//
// Inputs:  0 data  [d0, ..., dr-1], any numeric type (not boolean)
//          1 axes  scalar or 1D integer tensor; values in [-r, r-1], duplicates count once.
//            An empty axes list reduces nothing: each output element is the reduction of the
//            one input element at its position (so ReduceL1 gives |x|, ReduceMean gives x).
// Output:  data's type; reduced dims become 1 when keep_dims, else they are removed.
// Attribute keep_dims (default false).
// Reducing over zero elements gives the identity of the reduction: 0 for Sum, L1, L2, 1 for Prod,
// the lowest value (-inf) for Max, the highest (+inf) for Min, NaN (0/0) for a float Mean.
#pragma once
#include <optional>

#include "kiln/core/node.hpp"

namespace kiln::op {

enum class ReduceKind { Sum, Mean, Max, Min, Prod, L1, L2 };

// Shared body of the seven reductions; each op below is one class that only adds its name.
template <typename Derived, ReduceKind K>
class ReduceOp : public Op<Derived> {
public:
    ReduceOp() = default;
    explicit ReduceOp(bool keep_dims) : keep_dims(keep_dims) {}
    static constexpr ReduceKind kind = K;
    void visit_attributes(AttributeVisitor& v) override { v.on("keep_dims", keep_dims); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool keep_dims = false;
};

class ReduceSum : public ReduceOp<ReduceSum, ReduceKind::Sum> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceSum"; }
    const char* opset() const override { return "opset1"; }
};
class ReduceMean : public ReduceOp<ReduceMean, ReduceKind::Mean> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceMean"; }
    const char* opset() const override { return "opset1"; }
};
class ReduceMax : public ReduceOp<ReduceMax, ReduceKind::Max> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceMax"; }
    const char* opset() const override { return "opset1"; }
};
class ReduceMin : public ReduceOp<ReduceMin, ReduceKind::Min> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceMin"; }
    const char* opset() const override { return "opset1"; }
};
class ReduceProd : public ReduceOp<ReduceProd, ReduceKind::Prod> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceProd"; }
    const char* opset() const override { return "opset1"; }
};
class ReduceL1 : public ReduceOp<ReduceL1, ReduceKind::L1> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceL1"; }
    const char* opset() const override { return "opset4"; }
};
class ReduceL2 : public ReduceOp<ReduceL2, ReduceKind::L2> {
public:
    using ReduceOp::ReduceOp;
    const char* type_name() const override { return "ReduceL2"; }
    const char* opset() const override { return "opset4"; }
};

// What a kernel needs to know of any of the seven ops; nullopt for other nodes.
struct ReduceInfo {
    ReduceKind kind;
    bool keep_dims;
};
std::optional<ReduceInfo> reduce_info(const Node& node);

// Helpers shared by the ops that take an axes input (reductions, MVN, NormalizeL2).
namespace detail {
// Marks the axes of a rank-`rank` tensor named by `axes` (negative counts from the end).
// Throws ValueError "[Type name] axis 3 is out of range: expected [-2, 1] for rank 2, got 3".
std::vector<bool> axes_mask(const Node& node, const std::vector<int64_t>& axes, int64_t rank);
// Checks that input `i` of ctx is an integer scalar or 1D tensor.
void check_axes_input(const InferContext& ctx, size_t i);
// For each element of a tensor of `shape`, the flat index of its group: the position in the
// shape with the masked dims set to 1 (the keep_dims output of a reduction).
std::vector<int64_t> group_index(const Shape& shape, const std::vector<bool>& mask);
}  // namespace detail

}  // namespace kiln::op
