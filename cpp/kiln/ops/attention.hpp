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

// Which of q, k, v, y (the output) are stored [B, L, H, E] (dims 1 and 2 swapped; rank 4 only),
// and how many query heads share each key / value head (grouped-query attention: query head h
// reads key / value head h / kv_repeat, as if they were repeat_interleave'd; rank 4 only).
struct SdpaLayout {
    bool q = false, k = false, v = false, y = false;
    int64_t kv_repeat = 1;
};

// Where each [L, E] / [S, E] / [S, Ev] matrix and each [L, S] mask plane of one call lives, at
// concrete shapes: computed once and read by both the reference and the fast kernel, so their
// broadcasting cannot disagree.
struct SdpaGeometry {
    int64_t L = 0, S = 0, E = 0, Ev = 0;
    // Element offset, per output batch position (row-major over the output's leading dims), of
    // that position's matrix in q, k, v, y (the output), and of its mask plane.
    std::vector<int64_t> q, k, v, y, mask;
    // Distance between consecutive rows of those matrices (E, E, Ev, Ev when dense).
    int64_t q_row = 0, k_row = 0, v_row = 0, y_row = 0;
    // Mask element (l, s) of a plane sits at l * mask_row + s * mask_col (0: broadcast axis).
    int64_t mask_row = 0, mask_col = 0;

    using Layout = SdpaLayout;
    // Shapes as the op sees them ([B..., L, E] etc.). `mask` nullptr: no mask (or causal, which
    // ignores it). `out`: the output shape.
    static SdpaGeometry of(const Shape& q, const Shape& k, const Shape& v, const Shape* mask, const Shape& out,
                           Layout layout = {});
};

// FusedScaledDotProductAttention (kiln-internal, opset "kiln", made by passes/fuse_attention;
// never written to IR): ScaledDotProductAttention whose rank-4 query, key, value may be given,
// and whose output may be produced, as [B, L, H, E], the layout on either side of the head
// transposes (Transpose [0, 2, 1, 3]) that attention code writes around it; so those transposes
// are not copies; and whose key and value may have kv_repeat times fewer heads than the query
// (grouped-query attention without the repeated copies). Inputs and attributes otherwise as
// ScaledDotProductAttention's.
class FusedScaledDotProductAttention : public Op<FusedScaledDotProductAttention> {
public:
    FusedScaledDotProductAttention() = default;
    FusedScaledDotProductAttention(bool causal, SdpaGeometry::Layout layout) : causal(causal), layout(layout) {}
    const char* type_name() const override { return "FusedScaledDotProductAttention"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool causal = false;
    SdpaGeometry::Layout layout;
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
