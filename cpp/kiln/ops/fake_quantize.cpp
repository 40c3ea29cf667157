#include "kiln/ops/fake_quantize.hpp"

#include <cmath>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

void FakeQuantize::visit_attributes(AttributeVisitor& v) {
    v.on("levels", levels);
    visit_auto_broadcast(v, "auto_broadcast", auto_broadcast);
}

void FakeQuantize::infer(InferContext& ctx) const {
    ctx.check_inputs(5);
    KILN_INFER_CHECK(ctx, levels >= 2, "levels must be at least 2, got ", levels);
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_float(t), "X must be of a floating type, got ", kiln::type_name(t));
    for (size_t i = 1; i < 5; ++i) {
        const Type ti = ctx.input_type(i);
        KILN_INFER_CHECK(ctx, ti == Type::dynamic || t == Type::dynamic || ti == t, "input ", i, " is ",
                         kiln::type_name(ti), " but X is ", kiln::type_name(t));
    }
    PartialShape s = ctx.input_shape(0);
    for (size_t i = 1; i < 5; ++i) s = elementwise_shape(s, ctx.input_shape(i), auto_broadcast, ctx);
    ctx.set_output(0, t, s);
}

namespace {

template <typename T>
void fq_ref(const FakeQuantize& op, const std::vector<Tensor>& in, Tensor& out) {
    std::vector<Shape> shapes;
    for (auto& t : in) shapes.push_back(t.shape());
    BroadcastWalker w(out.shape(), shapes);
    const T* p[5];
    for (size_t i = 0; i < 5; ++i) p[i] = in[i].data<T>();
    T* y = out.data<T>();
    const int64_t n = out.size();
    for (int64_t k = 0; k < n; ++k, w.next())
        y[k] = fake_quantize_value<T>(p[0][w.offset(0)], p[1][w.offset(1)], p[2][w.offset(2)], p[3][w.offset(3)],
                                      p[4][w.offset(4)], op.levels);
}

}  // namespace

void FakeQuantize::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Type t = in[0].type();
    if (out[0].size() == 0) return;
    if (t == Type::f32) return fq_ref<float>(*this, in, out[0]);
    if (t == Type::f64) return fq_ref<double>(*this, in, out[0]);
    throw Error(str_cat("[", type_name(), " ", name(), "] element type ", kiln::type_name(t),
                        " has no reference kernel (f32, f64)"));
}

}  // namespace kiln::op
