// Special functions of one or two float tensors (opset "kiln": OpenVINO has none of them): the
// gamma family (with the incomplete gamma and Hurwitz zeta of two), the inverse error functions,
// the normal distribution's functions, and the Bessel functions,
// element-wise in double precision (f32 results are then within an ulp or two of exact). Each
// follows torch.special's values at its edges (poles, ±1, 0, negative arguments, NaN, and ±inf,
// where torch gives NaN for the Bessel functions J, Y and the unscaled I).
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

enum class SpecialKind {
    lgamma,      // ln |Γ(x)|; +inf at the poles
    digamma,     // ψ(x) = Γ'(x)/Γ(x); ∓inf at ±0 (as torch), NaN at negative integers
    polygamma,   // ψ⁽ⁿ⁾(x), n = `order` >= 1 (order 0 is digamma); ±inf at the poles
    erfinv,      // erf⁻¹ on [-1, 1]: ±inf at ±1, NaN outside
    ndtri,       // Φ⁻¹ on [0, 1] (Φ the standard normal CDF)
    ndtr,        // Φ(x), relative accuracy in the lower tail
    log_ndtr,    // ln Φ(x), exact far into the lower tail
    erfcx,       // e^{x²} erfc(x)
    i0, i0e, i1, i1e,  // modified Bessel functions of the first kind, and their e^{-|x|} scaled forms
    bessel_j0, bessel_j1, bessel_y0, bessel_y1,
    modified_bessel_i0, modified_bessel_i1, modified_bessel_k0, modified_bessel_k1,
    scaled_modified_bessel_k0, scaled_modified_bessel_k1,  // e^{x} K(x)
    spherical_bessel_j0,  // sin(x) / x
    // of two inputs (x, y), broadcast as numpy does:
    igamma,      // P(x, y) = γ(x, y) / Γ(x), the regularized lower incomplete gamma (x: a > 0, y >= 0)
    igammac,     // Q(x, y) = 1 - P(x, y)
    zeta,        // Hurwitz ζ(x, y) = Σ_k (y + k)^-x, x > 1
};

// How many inputs `kind` takes (1 or 2).
size_t special_arity(SpecialKind kind);

// The value of `kind` at x (and y for the two-input kinds, the order for polygamma): the one
// definition the op, its kernel and its tests use.
double special_value(SpecialKind kind, double x, int64_t order = 0, double y = 0);

class SpecialFunction : public Op<SpecialFunction> {
public:
    SpecialFunction() = default;
    explicit SpecialFunction(SpecialKind function, int64_t order = 0) : function(function), order(order) {}
    const char* type_name() const override { return "SpecialFunction"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    SpecialKind function = SpecialKind::lgamma;
    int64_t order = 0;  // polygamma's n
};

}  // namespace kiln::op
