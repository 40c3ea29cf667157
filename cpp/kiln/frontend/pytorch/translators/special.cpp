// torch.special and its aten spellings: the gamma family, the inverse error functions, the normal
// distribution's functions, the Bessel functions, the incomplete gamma functions and Hurwitz's
// zeta (one kiln SpecialFunction op each), and the ones built from opset ops (sinc, exp2, entr,
// multigammaln; xlog1py is math.cpp's xlogy). Integers compute in f32, as in torch; f16 / bf16
// compute in f32 and round once.
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/ops/special.hpp"

namespace kiln::frontend::pytorch {

namespace {

using op::SpecialKind;

constexpr double kPi = 3.14159265358979323846;

Output special(NodeContext& ctx, SpecialKind k, Output x, int64_t order = 0) {
    return ctx.make<op::SpecialFunction>({x}, k, order);
}

template <SpecialKind K>
Outs special_unary(NodeContext& ctx) {
    return {special(ctx, K, as_float(ctx, 0))};
}

// f(x, y) of two tensors (or a tensor and a number), promoted together to a float type.
template <SpecialKind K>
Outs special_binary(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    return {ctx.make<op::SpecialFunction>({in[0], in[1]}, K, int64_t{0})};
}

// polygamma(n, x); the in-place method's schema has them the other way round.
template <bool InPlace>
Outs polygamma(NodeContext& ctx) {
    const size_t xi = InPlace ? 0 : 1;
    const int64_t n = ctx.const_int(InPlace ? 1 : 0);
    ctx.check(n >= 0, "polygamma's order n must be >= 0, got ", n);
    Output x = as_float(ctx, xi);
    return {n == 0 ? special(ctx, SpecialKind::digamma, x) : special(ctx, SpecialKind::polygamma, x, n)};
}

// multigammaln(x, p) = Σ_{i<p} lgamma(x - i/2) + p (p - 1) / 4 · ln π
Outs multigammaln(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    const int64_t p = ctx.const_int(1);
    ctx.check(p >= 1, "p must be >= 1, got ", p);
    std::vector<double> halves;
    for (int64_t i = 0; i < p; ++i) halves.push_back(0.5 * static_cast<double>(i));
    Tensor st(x.type(), Shape{p});
    convert_elements(halves.data(), Type::f64, st.data(), x.type(), p);
    Output steps = ctx.constant(st);
    Output shifted = ctx.make<op::Subtract>({ctx.make<op::Unsqueeze>({x, ctx.i64({-1})}), steps});
    Output sum = ctx.make<op::ReduceSum>({special(ctx, SpecialKind::lgamma, shifted), ctx.i64({-1})}, false);
    const double c = static_cast<double>(p) * static_cast<double>(p - 1) / 4 * std::log(kPi);
    return {ctx.make<op::Add>({sum, scalar_like(ctx, x, c)})};
}

// sinc(x) = sin(πx) / (πx), 1 at 0
Outs sinc(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    Output px = ctx.make<op::Multiply>({x, scalar_like(ctx, x, kPi)});
    Output q = ctx.make<op::Divide>({ctx.make<op::Sin>({px}), px}, false);
    return {ctx.make<op::Select>({ctx.make<op::Equal>({x, scalar_like(ctx, x, 0.0)}), scalar_like(ctx, x, 1.0), q})};
}

// exp2(x) = 2^x
Outs exp2(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Power>({scalar_like(ctx, x, 2.0), x})};
}

// entr(x) = -x ln x for x > 0, 0 at 0, -inf below, NaN for NaN
Outs entr(NodeContext& ctx) {
    Output x = as_float(ctx, 0), zero = scalar_like(ctx, x, 0.0);
    Output v = ctx.make<op::Negative>({ctx.make<op::Multiply>({x, ctx.make<op::Log>({x})})});
    Output below = ctx.make<op::Select>({ctx.make<op::IsNaN>({x}), x, scalar_like(ctx, x, -INFINITY)});
    Output at_zero = ctx.make<op::Select>({ctx.make<op::Equal>({x, zero}), zero, below});
    return {ctx.make<op::Select>({ctx.make<op::Greater>({x, zero}), v, at_zero})};
}

}  // namespace

void add_special_translators(TranslatorTable& t) {
    using K = SpecialKind;
    t["aten::lgamma"] = t["aten::lgamma_"] = t["aten::special_gammaln"] = in_f32<special_unary<K::lgamma>>;
    t["aten::digamma"] = t["aten::digamma_"] = t["aten::special_digamma"] = t["aten::special_psi"] =
        in_f32<special_unary<K::digamma>>;
    t["aten::polygamma"] = t["aten::special_polygamma"] = in_f32<polygamma<false>>;
    t["aten::polygamma_"] = in_f32<polygamma<true>>;
    t["aten::mvlgamma"] = t["aten::mvlgamma_"] = t["aten::special_multigammaln"] = in_f32<multigammaln>;
    t["aten::erfinv"] = t["aten::erfinv_"] = t["aten::special_erfinv"] = in_f32<special_unary<K::erfinv>>;
    t["aten::special_ndtri"] = in_f32<special_unary<K::ndtri>>;
    t["aten::special_ndtr"] = in_f32<special_unary<K::ndtr>>;
    t["aten::special_log_ndtr"] = in_f32<special_unary<K::log_ndtr>>;
    t["aten::special_erfcx"] = in_f32<special_unary<K::erfcx>>;
    t["aten::i0"] = t["aten::i0_"] = t["aten::special_i0"] = in_f32<special_unary<K::i0>>;
    t["aten::special_i0e"] = in_f32<special_unary<K::i0e>>;
    t["aten::special_i1"] = in_f32<special_unary<K::i1>>;
    t["aten::special_i1e"] = in_f32<special_unary<K::i1e>>;
    t["aten::special_bessel_j0"] = in_f32<special_unary<K::bessel_j0>>;
    t["aten::special_bessel_j1"] = in_f32<special_unary<K::bessel_j1>>;
    t["aten::special_bessel_y0"] = in_f32<special_unary<K::bessel_y0>>;
    t["aten::special_bessel_y1"] = in_f32<special_unary<K::bessel_y1>>;
    t["aten::special_modified_bessel_i0"] = in_f32<special_unary<K::modified_bessel_i0>>;
    t["aten::special_modified_bessel_i1"] = in_f32<special_unary<K::modified_bessel_i1>>;
    t["aten::special_modified_bessel_k0"] = in_f32<special_unary<K::modified_bessel_k0>>;
    t["aten::special_modified_bessel_k1"] = in_f32<special_unary<K::modified_bessel_k1>>;
    t["aten::special_scaled_modified_bessel_k0"] = in_f32<special_unary<K::scaled_modified_bessel_k0>>;
    t["aten::special_scaled_modified_bessel_k1"] = in_f32<special_unary<K::scaled_modified_bessel_k1>>;
    t["aten::special_spherical_bessel_j0"] = in_f32<special_unary<K::spherical_bessel_j0>>;
    t["aten::igamma"] = t["aten::igamma_"] = t["aten::special_gammainc"] = in_f32<special_binary<K::igamma>>;
    t["aten::igammac"] = t["aten::igammac_"] = t["aten::special_gammaincc"] = in_f32<special_binary<K::igammac>>;
    t["aten::special_zeta"] = in_f32_with_scalars<special_binary<K::zeta>>;
    t["aten::sinc"] = t["aten::sinc_"] = t["aten::special_sinc"] = in_f32<sinc>;
    t["aten::exp2"] = t["aten::exp2_"] = t["aten::special_exp2"] = in_f32<exp2>;
    t["aten::special_entr"] = in_f32<entr>;
    // torch.special's names for ops other families translate (their schemas are the same); this
    // family registers last (op_table.cpp), so those are in the table.
    t["aten::special_expit"] = t.at("aten::sigmoid");
    t["aten::special_logit"] = t.at("aten::logit");
    t["aten::special_log1p"] = t.at("aten::log1p");
    t["aten::special_round"] = t.at("aten::round");
    t["aten::special_xlogy"] = t.at("aten::xlogy");
    t["aten::special_erf"] = t.at("aten::erf");
    t["aten::special_erfc"] = t.at("aten::erfc");
    t["aten::special_expm1"] = t.at("aten::expm1");
    t["aten::special_softmax"] = t.at("aten::softmax");
    t["aten::special_log_softmax"] = t.at("aten::log_softmax");
    t["aten::special_logsumexp"] = t.at("aten::logsumexp");
}

}  // namespace kiln::frontend::pytorch
