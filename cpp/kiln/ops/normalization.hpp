// Normalizations and scans: Softmax (opset8), LogSoftmax (opset5), MVN (opset6),
// BatchNormInference (opset5), NormalizeL2 (opset1), CumSum (opset3).
// Every output has the type and shape of input 0. Reference kernels take f32 and f64
// (CumSum also takes integers) and accumulate in double.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// exp(x - max) / sum(exp(x - max)) along `axis` (negative counts from the end; Softmax-1 takes
// only axes in [0, rank)). Float data. Softmax-8 and Softmax-1.
class Softmax : public Op<Softmax> {
public:
    Softmax() = default;
    explicit Softmax(int64_t axis) : axis(axis) {}
    const char* type_name() const override { return "Softmax"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override { v.on("axis", axis); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = 1;
    int64_t opset_version = 8;  // 1 or 8
};

// x - max - log(sum(exp(x - max))) along `axis` (negative counts from the end). Float data.
class LogSoftmax : public Op<LogSoftmax> {
public:
    LogSoftmax() = default;
    explicit LogSoftmax(int64_t axis) : axis(axis) {}
    const char* type_name() const override { return "LogSoftmax"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("axis", axis); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = 1;
};

enum class MVNEpsMode { inside_sqrt, outside_sqrt };

// Mean-variance normalization over the dims named by the axes input.
// Inputs: 0 data (float), 1 axes (integer 1D, values in [-r, r-1]).
// y = x - mean; when normalize_variance, y /= sqrt(var + eps) (inside_sqrt) or
// y /= sqrt(var) + eps (outside_sqrt), var being the mean of (x - mean)^2 over the axes.
class MVN : public Op<MVN> {
public:
    MVN() = default;
    MVN(bool normalize_variance, double eps, MVNEpsMode eps_mode)
        : normalize_variance(normalize_variance), eps(eps), eps_mode(eps_mode) {}
    const char* type_name() const override { return "MVN"; }
    const char* opset() const override { return "opset6"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool normalize_variance = true;
    double eps = 1e-5;
    MVNEpsMode eps_mode = MVNEpsMode::inside_sqrt;
};

// y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per channel (axis 1).
// Inputs: 0 data [N, C, ...] (rank >= 2, float); 1 gamma, 2 beta, 3 mean, 4 variance, each [C]
// of data's type.
class BatchNormInference : public Op<BatchNormInference> {
public:
    BatchNormInference() = default;
    explicit BatchNormInference(double epsilon) : epsilon(epsilon) {}
    const char* type_name() const override { return "BatchNormInference"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("epsilon", epsilon); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    double epsilon = 1e-5;
};

enum class EpsMode { add, max };

// y = x / sqrt(eps_mode(sum(x^2 over axes), eps)), eps_mode being + (add) or max (max).
// Inputs: 0 data (float), 1 axes (integer scalar or 1D). An empty axes list divides each
// element by its own magnitude.
class NormalizeL2 : public Op<NormalizeL2> {
public:
    NormalizeL2() = default;
    NormalizeL2(double eps, EpsMode eps_mode) : eps(eps), eps_mode(eps_mode) {}
    const char* type_name() const override { return "NormalizeL2"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    double eps = 1e-12;
    EpsMode eps_mode = EpsMode::max;
};

// Cumulative sum along an axis. Inputs: 0 data (numeric), 1 axis (optional integer scalar,
// default 0, negative counts from the end). exclusive: the j-th output leaves out element j;
// reverse: sums run from the end of the axis.
class CumSum : public Op<CumSum> {
public:
    CumSum() = default;
    CumSum(bool exclusive, bool reverse) : exclusive(exclusive), reverse(reverse) {}
    const char* type_name() const override { return "CumSum"; }
    const char* opset() const override { return "opset3"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool exclusive = false;
    bool reverse = false;
};

}  // namespace kiln::op
