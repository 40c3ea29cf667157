// NonZero (opset3): the indices of the nonzero elements of data, as a [rank(data), count] tensor
// whose column j is the index of the j-th nonzero element in row-major order. The count is
// known only from data's values: without them the second dimension is dynamic, and a plan runs
// the node first and plans what follows for the shape it gives. A 0-d input counts as rank 1
// of one element (as the spec's reference does: [1, 0 or 1]).
// Attribute output_type: i64 (default) or i32.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

class NonZero : public Op<NonZero> {
public:
    NonZero() = default;
    explicit NonZero(Type t) : output_type(t) {}
    const char* type_name() const override { return "NonZero"; }
    const char* opset() const override { return "opset3"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("output_type", output_type); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type output_type = Type::i64;
};

}  // namespace kiln::op
