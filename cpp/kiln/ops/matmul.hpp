// MatMul (OpenVINO opset1).
//
// A [..., M, K] x B [..., K, N] -> [..., M, N] (after the optional transposes of the two
// innermost axes). A 1-D A is read as [1, K] and a 1-D B as [K, 1], and the added axis is
// removed from the output; transpose flags do not apply to 1-D operands. The batch axes
// broadcast numpy-style (right-aligned, 1 stretches).
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// The MatMul output shape; fails through ctx on mismatched inner or batch dimensions.
PartialShape matmul_shape(const InferContext& ctx, const PartialShape& a, const PartialShape& b,
                          bool transpose_a, bool transpose_b);

// Reference product for static shapes; `out` has the shape matmul_shape() gives.
template <typename T>
void matmul_reference(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape,
                      bool transpose_a, bool transpose_b, T* out, const Shape& out_shape);

class MatMul : public Op<MatMul> {
public:
    MatMul() = default;
    MatMul(bool transpose_a, bool transpose_b)
        : transpose_a(transpose_a), transpose_b(transpose_b) {}
    const char* type_name() const override { return "MatMul"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool transpose_a = false;
    bool transpose_b = false;
};

}  // namespace kiln::op
