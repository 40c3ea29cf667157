// FusedMVN (kiln-internal, opset "kiln", made by passes/fuse_layer_norm.hpp; never written to IR):
// layer norm, i.e. MVN over the last axis followed by a per-channel scale and shift,
//     y = MVN(x, axes = [-1]) * scale + shift.
// Inputs: 0 data [..., C] (f32), 1 axes (the MVN's: the last axis only), 2 scale [C], 3 shift [C].
// Attributes as MVN's (normalize_variance, eps, eps_mode).
#pragma once
#include "kiln/ops/normalization.hpp"

namespace kiln::op {

class FusedMVN : public Op<FusedMVN> {
public:
    FusedMVN() = default;
    FusedMVN(bool normalize_variance, double eps, MVNEpsMode eps_mode)
        : normalize_variance(normalize_variance), eps(eps), eps_mode(eps_mode) {}
    const char* type_name() const override { return "FusedMVN"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool normalize_variance = true;
    double eps = 1e-5;
    MVNEpsMode eps_mode = MVNEpsMode::inside_sqrt;
};

// FusedRMSNorm (kiln-internal, made by passes/fuse_layer_norm.hpp; never written to IR): RMS
// norm over the last axis with a per-channel scale,
//     y = x / sqrt(mean(x^2 over the last axis) + eps) * scale.
// Inputs: 0 data [..., C] (f32), 1 scale [C] (f32). What torch's rms_norm and the RMSNorm of
// Llama-family models (pow(2).mean(-1) -> rsqrt -> multiplies) compute.
class FusedRMSNorm : public Op<FusedRMSNorm> {
public:
    FusedRMSNorm() = default;
    explicit FusedRMSNorm(double eps) : eps(eps) {}
    const char* type_name() const override { return "FusedRMSNorm"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("eps", eps); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    double eps = 1e-6;
};

}  // namespace kiln::op
