// ScaledDotProductAttention (OpenVINO opset13): softmax(Q K^T * scale + bias) V in one op, as
// torch.nn.functional.scaled_dot_product_attention computes it (no dropout).
//
// Inputs:  0 query [B..., L, E] (floating), 1 key [B..., S, E], 2 value [B..., S, Ev] (all three of
//          one type; their batch dims B... broadcast numpy-style, as MatMul's do),
//          3 attention_mask (optional): boolean (false = masked out, -inf) or of the query's type
//            (added), broadcastable to [B..., L, S]; a scalar is allowed,
//          4 scale (optional): a scalar of the query's type; default 1 / sqrt(E).
// Output:  [B..., L, Ev] of the query's type.
// causal: the bias is -inf above the diagonal of [L, S] (element (l, s) with s > l; top-left
//          aligned) and attention_mask is ignored.
// A row whose every score is -inf gives NaN, as the specification's softmax does.
// The compiled runtime decomposes it into MatMul, Softmax and element-wise ops (passes/
// decompose_attention.hpp) so their fast kernels run; evaluate() is the reference.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

class ScaledDotProductAttention : public Op<ScaledDotProductAttention> {
public:
    ScaledDotProductAttention() = default;
    explicit ScaledDotProductAttention(bool causal) : causal(causal) {}
    const char* type_name() const override { return "ScaledDotProductAttention"; }
    const char* opset() const override { return "opset13"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("causal", causal); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool causal = false;
};

}  // namespace kiln::op
