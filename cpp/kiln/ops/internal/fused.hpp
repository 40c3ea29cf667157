// kiln-internal ops made by the fuse_dnn pass (opset "kiln"): a convolution or matmul followed
// by a chain of post-ops that oneDNN runs inside the same primitive.
//
// Post-ops run in order on the output tensor: eltwise activations, and at most one `sum`,
// which adds the residual input (same shape as the output) at that point of the chain.
#pragma once
#include "kiln/ops/activation.hpp"
#include "kiln/ops/convolution.hpp"

namespace kiln::op {

// One step of a chain: an activation (ops/activation.hpp, the same math as the element-wise op it
// came from), or the sum with the residual input.
struct PostOp {
    ActivationSpec act;
    bool sum = false;
    PostOp() = default;
    PostOp(Activation kind, double alpha = 0, double beta = 0) : act{kind, alpha, beta} {}
    PostOp(const ActivationSpec& a) : act(a) {}
    static PostOp residual() {
        PostOp p;
        p.sum = true;
        return p;
    }
    bool operator==(const PostOp& o) const { return sum == o.sum && (sum || act == o.act); }
};

// The IR spelling of a chain, e.g. "relu:0;sum;clamp:0:6".
std::string post_ops_to_string(const std::vector<PostOp>& ops);
// Throws ValueError naming the bad entry.
std::vector<PostOp> post_ops_from_string(const std::string& s);
bool has_sum(const std::vector<PostOp>& ops);

// Convolution + bias + post-ops. Inputs: data, weights [C_out, C_in/group, k...] (GroupConvolution
// weights reshaped to this form), bias [C_out] if with_bias, residual (output shape) if the chain
// has a sum. Attributes: those of Convolution, group, with_bias, post_ops.
class FusedConvolution : public Op<FusedConvolution> {
public:
    FusedConvolution() = default;
    FusedConvolution(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                     std::vector<int64_t> pads_end, std::vector<int64_t> dilations,
                     PadType auto_pad, int64_t group, bool with_bias,
                     std::vector<PostOp> post_ops)
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), dilations(std::move(dilations)), auto_pad(auto_pad),
          group(group), with_bias(with_bias), post_ops(std::move(post_ops)) {}
    const char* type_name() const override { return "FusedConvolution"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
    int64_t group = 1;
    bool with_bias = false;
    std::vector<PostOp> post_ops;
};

// MatMul + bias + post-ops. Inputs: A, B, bias [N] if with_bias (added along the last output
// axis), residual (output shape) if the chain has a sum. Attributes: transpose_a, transpose_b,
// with_bias, post_ops.
class FusedMatMul : public Op<FusedMatMul> {
public:
    FusedMatMul() = default;
    FusedMatMul(bool transpose_a, bool transpose_b, bool with_bias, std::vector<PostOp> post_ops)
        : transpose_a(transpose_a), transpose_b(transpose_b), with_bias(with_bias),
          post_ops(std::move(post_ops)) {}
    const char* type_name() const override { return "FusedMatMul"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool transpose_a = false;
    bool transpose_b = false;
    bool with_bias = false;
    std::vector<PostOp> post_ops;
};

}  // namespace kiln::op
