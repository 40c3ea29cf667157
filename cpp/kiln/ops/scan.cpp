#include "kiln/ops/scan.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace kiln::op {

namespace {

void infer_scan(InferContext& ctx, bool allow_bool) {
    ctx.check_inputs(2);
    Type t = ctx.input_type(0);
    if (!allow_bool && t == Type::boolean) ctx.fail("data must have a numeric element type, got boolean");
    Type at = ctx.input_type(1);
    if (at != Type::dynamic && !is_integral(at))
        ctx.fail("axis (input 1) must have an integer element type, got ", kiln::type_name(at));
    const PartialShape& s = ctx.input_shape(0);
    const PartialShape& as = ctx.input_shape(1);
    if (!(as.rank_is_dynamic() || as.rank() == 0 || (as.rank() == 1 && as[0].compatible(1))))
        ctx.fail("axis (input 1) must be a scalar, got shape ", as.to_string());
    if (const Tensor* a = ctx.input_value(1); a && s.rank_is_static()) {
        auto v = a->as_i64_vector();
        if (v.size() != 1) ctx.fail("axis (input 1) must hold one value, got ", v.size());
        int64_t r = s.rank();
        if (v[0] < -std::max<int64_t>(r, 1) || v[0] >= std::max<int64_t>(r, 1))
            ctx.fail("axis ", v[0], " is out of range for rank ", r);
    }
}

struct Lanes {
    int64_t outer = 1, len = 1, inner = 1;
};

Lanes lanes(const Node& n, const Tensor& x, const Tensor& axis_t) {
    auto v = axis_t.as_i64_vector();
    KILN_CHECK_NODE(n, v.size() == 1, "axis (input 1) must hold one value, got ", v.size());
    int64_t r = x.rank(), a = v[0] < 0 ? v[0] + r : v[0];
    KILN_CHECK_NODE(n, a >= 0 && a < std::max<int64_t>(r, 1), "axis ", v[0], " is out of range for rank ", r);
    Lanes l;
    for (int64_t i = 0; i < r; ++i) {
        if (i < a) l.outer *= x.shape()[static_cast<size_t>(i)];
        else if (i == a) l.len = x.shape()[static_cast<size_t>(i)];
        else l.inner *= x.shape()[static_cast<size_t>(i)];
    }
    return l;
}

template <typename T>
bool is_nan(T v) {
    if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
    else return false;
}

}  // namespace

void CumProd::infer(InferContext& ctx) const {
    infer_scan(ctx, false);
    ctx.set_output(0, ctx.input_type(0), ctx.input_shape(0));
}

void CumProd::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Lanes l = lanes(*this, in[0], in[1]);
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            KILN_CHECK_NODE(*this, false, "boolean data is not supported");
        } else {
            using A = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
            const T* x = in[0].data<T>();
            T* y = out[0].data<T>();
            for (int64_t o = 0; o < l.outer; ++o)
                for (int64_t i = 0; i < l.inner; ++i) {
                    A acc = 1;
                    for (int64_t j = 0; j < l.len; ++j) {
                        int64_t at = (o * l.len + j) * l.inner + i;
                        acc = static_cast<A>(acc * static_cast<A>(x[at]));
                        y[at] = static_cast<T>(acc);
                    }
                }
        }
    });
}

void CumExtreme::infer(InferContext& ctx) const {
    infer_scan(ctx, true);
    ctx.set_output(0, ctx.input_type(0), ctx.input_shape(0));
    ctx.set_output(1, Type::i64, ctx.input_shape(0));
}

void CumExtreme::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Lanes l = lanes(*this, in[0], in[1]);
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        int64_t* idx = out[1].data<int64_t>();
        for (int64_t o = 0; o < l.outer; ++o)
            for (int64_t i = 0; i < l.inner; ++i) {
                T best{};
                int64_t at_best = 0;
                for (int64_t j = 0; j < l.len; ++j) {
                    int64_t at = (o * l.len + j) * l.inner + i;
                    T v = x[at];
                    bool take = j == 0 || is_nan(v) ||
                                (!is_nan(best) && (is_max ? v >= best : v <= best));
                    if (take) {
                        best = v;
                        at_best = j;
                    }
                    y[at] = best;
                    idx[at] = at_best;
                }
            }
    });
}

void LogCumSumExp::infer(InferContext& ctx) const {
    infer_scan(ctx, false);
    const Type t = ctx.input_type(0);
    if (t != Type::dynamic && t != Type::f32 && t != Type::f64) ctx.fail("data must be f32 or f64, got ", kiln::type_name(t));
    ctx.set_output(0, t, ctx.input_shape(0));
}

void LogCumSumExp::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Lanes l = lanes(*this, in[0], in[1]);
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        for (int64_t o = 0; o < l.outer; ++o)
            for (int64_t i = 0; i < l.inner; ++i) {
                double acc = -INFINITY;
                for (int64_t j = 0; j < l.len; ++j) {
                    const int64_t at = (o * l.len + j) * l.inner + i;
                    const double v = static_cast<double>(x[at]);
                    if (std::isnan(v) || std::isnan(acc)) acc = NAN;
                    else if (v == -INFINITY) {
                    } else if (acc == -INFINITY || v == INFINITY || acc == INFINITY) acc = std::max(acc, v);
                    else acc = std::max(acc, v) + std::log1p(std::exp(-std::fabs(acc - v)));
                    y[at] = static_cast<T>(acc);
                }
            }
    };
    if (in[0].type() == Type::f64) run(double{});
    else if (in[0].type() == Type::f32) run(float{});
    else KILN_CHECK_NODE(*this, false, "data must be f32 or f64, got ", kiln::type_name(in[0].type()));
}

}  // namespace kiln::op
