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
// The compiled runtime runs it (f32) with a fused kernel (runtime/cpu/kernels/attention.hpp);
// passes/fuse_attention.hpp turns attention written as MatMul / Softmax / MatMul into this op.
// evaluate() is the reference.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// Where each [L, E] / [S, E] / [S, Ev] matrix and each [L, S] mask plane of one call lives, at
// concrete shapes: computed once and read by both the reference and the fast kernel, so their
// broadcasting cannot disagree.
struct SdpaGeometry {
    int64_t L = 0, S = 0, E = 0, Ev = 0;
    // Element offset, per output batch position (row-major over the output's leading dims), of
    // that position's matrix in q, k, v, and of its mask plane.
    std::vector<int64_t> q, k, v, mask;
    // Mask element (l, s) of a plane sits at l * mask_row + s * mask_col (0: broadcast axis).
    int64_t mask_row = 0, mask_col = 0;

    // `mask` nullptr: no mask (or causal, which ignores it). `out`: the output shape.
    static SdpaGeometry of(const Shape& q, const Shape& k, const Shape& v, const Shape* mask, const Shape& out);
};

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
