#include "kiln/ops/internal/layer_norm.hpp"

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

}  // namespace kiln::op
