#include "kiln/ops/internal/layer_norm.hpp"

#include <cmath>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

void FusedMVN::visit_attributes(AttributeVisitor& v) {
    v.on("normalize_variance", normalize_variance);
    v.on("eps", eps);
    visit_enum(v, "eps_mode", eps_mode,
               {{MVNEpsMode::inside_sqrt, "inside_sqrt"}, {MVNEpsMode::outside_sqrt, "outside_sqrt"}});
}

void FusedMVN::infer(InferContext& ctx) const {
    ctx.check_inputs(4, 4);
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || t == Type::f32, "data must be f32, got ", kiln::type_name(t));
    const PartialShape& x = ctx.input_shape(0);
    for (size_t i = 2; i < 4; ++i) {
        KILN_INFER_CHECK(ctx, ctx.input_type(i) == Type::f32, i == 2 ? "scale" : "shift", " must be f32");
        const PartialShape& p = ctx.input_shape(i);
        KILN_INFER_CHECK(ctx, p.rank_is_static() && p.rank() == 1, i == 2 ? "scale" : "shift",
                         " must be 1-D, got ", p.to_string());
        if (x.rank_is_static())
            KILN_INFER_CHECK(ctx, x.rank() >= 1 && p[0].compatible(x[x.size() - 1]), i == 2 ? "scale " : "shift ",
                             p.to_string(), " must match the last dimension of ", x.to_string());
    }
    ctx.set_output(0, t, x);
}

void FusedMVN::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    MVN mvn(normalize_variance, eps, eps_mode);
    mvn.set_name(name());
    mvn.evaluate({in[0], in[1]}, out);
    const int64_t c = in[2].size();
    const float* scale = in[2].data<float>();
    const float* shift = in[3].data<float>();
    float* y = out[0].data<float>();
    for (int64_t i = 0; i < out[0].size(); ++i) y[i] = y[i] * scale[i % c] + shift[i % c];
}

void FusedRMSNorm::infer(InferContext& ctx) const {
    ctx.check_inputs(2, 2);
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || t == Type::f32, "data must be f32, got ", kiln::type_name(t));
    KILN_INFER_CHECK(ctx, ctx.input_type(1) == Type::f32, "scale must be f32, got ", kiln::type_name(ctx.input_type(1)));
    const PartialShape& x = ctx.input_shape(0);
    const PartialShape& p = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, p.rank_is_static() && p.rank() == 1, "scale must be 1-D, got ", p.to_string());
    if (x.rank_is_static())
        KILN_INFER_CHECK(ctx, x.rank() >= 1 && p[0].compatible(x[x.size() - 1]), "scale ", p.to_string(),
                         " must match the last dimension of ", x.to_string());
    ctx.set_output(0, t, x);
}

void FusedRMSNorm::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const int64_t c = in[1].size();
    const float* x = in[0].data<float>();
    const float* scale = in[1].data<float>();
    float* y = out[0].data<float>();
    for (int64_t r = 0; c > 0 && r < in[0].size() / c; ++r) {
        const float* xr = x + r * c;
        double ss = 0;
        for (int64_t i = 0; i < c; ++i) ss += static_cast<double>(xr[i]) * xr[i];
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(c) + eps);
        for (int64_t i = 0; i < c; ++i) y[r * c + i] = static_cast<float>(xr[i] * inv * scale[i]);
    }
}

}  // namespace kiln::op
