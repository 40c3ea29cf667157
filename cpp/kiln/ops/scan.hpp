// Scans along one axis that the OpenVINO opset has no op for (it has CumSum only): kiln's own
// ops, written like CumSum (inputs: 0 data, 1 axis as an integer scalar; negative counts from
// the end).
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// Running product along the axis (torch.cumprod). Data: numeric; output: data's type and shape.
// Floats multiply in double, integers in int64 with wrap-around.
class CumProd : public Op<CumProd> {
public:
    const char* type_name() const override { return "CumProd"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// Running maximum (or minimum) along the axis and the index where it was met (torch.cummax /
// cummin): output 0 values (data's type), output 1 indices (i64). A tie moves the index to the
// later element, and a NaN, once met, stays the value, as in torch. Data: numeric or boolean.
class CumExtreme : public Op<CumExtreme> {
public:
    CumExtreme() = default;
    explicit CumExtreme(bool is_max) : is_max(is_max) {}
    const char* type_name() const override { return "CumExtreme"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("is_max", is_max); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool is_max = true;
};

// Running log-sum-exp along the axis (torch.logcumsumexp): y_j = log(Σ_{i<=j} exp(x_i)), as the
// recurrence y_j = logaddexp(y_{j-1}, x_j) in double, exact however far the terms lie below the
// running maximum. Data: f32 or f64.
class LogCumSumExp : public Op<LogCumSumExp> {
public:
    const char* type_name() const override { return "LogCumSumExp"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
