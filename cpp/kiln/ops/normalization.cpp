#include "kiln/ops/normalization.hpp"

#include "kiln/ops/infer_util.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kiln/ops/reduction.hpp"

namespace kiln::op {

namespace {

template <typename... A>
[[noreturn]] void node_fail(const Node& n, const A&... a) {
    throw ValueError(str_cat("[", n.type_name(), " ", n.name(), "] ", a...));
}

void check_float_data(const InferContext& ctx) {
    Type t = ctx.input_type(0);
    ctx.check(t == Type::dynamic || is_float(t), "data must have a floating-point element type, got ",
              kiln::type_name(t));
}

int64_t checked_axis(const Node& n, int64_t axis, int64_t rank) {
    if (axis < -rank || axis >= rank)
        node_fail(n, "axis ", axis, " is out of range: expected [", -rank, ", ", rank - 1,
                  "] for rank ", rank, ", got ", axis);
    return axis < 0 ? axis + rank : axis;
}

// The shape as [outer, len, inner] around `axis`.
struct Split3 {
    int64_t outer = 1, len = 1, inner = 1;
};
Split3 split_at(const Shape& s, int64_t axis) {
    Split3 r;
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
        if (d < axis) r.outer *= s[static_cast<size_t>(d)];
        else if (d == axis) r.len = s[static_cast<size_t>(d)];
        else r.inner *= s[static_cast<size_t>(d)];
    }
    return r;
}

// Calls f(T{}) for f32 / f64 and fails for anything else.
template <typename F>
void visit_float(const Node& n, Type t, F&& f) {
    if (t == Type::f32) return f(float{});
    if (t == Type::f64) return f(double{});
    node_fail(n, "reference kernel supports f32 and f64, got ", kiln::type_name(t));
}

template <typename T>
void softmax_ref(const Tensor& in, Tensor& out, int64_t axis, bool log) {
    Split3 s = split_at(in.shape(), axis);
    const T* x = in.data<T>();
    T* y = out.data<T>();
    for (int64_t o = 0; o < s.outer; ++o) {
        for (int64_t i = 0; i < s.inner; ++i) {
            const int64_t base = o * s.len * s.inner + i;
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < s.len; ++j) mx = std::max(mx, static_cast<double>(x[base + j * s.inner]));
            double sum = 0;
            for (int64_t j = 0; j < s.len; ++j) sum += std::exp(static_cast<double>(x[base + j * s.inner]) - mx);
            const double lse = mx + std::log(sum);
            for (int64_t j = 0; j < s.len; ++j) {
                const double v = static_cast<double>(x[base + j * s.inner]);
                y[base + j * s.inner] = static_cast<T>(log ? v - lse : std::exp(v - mx) / sum);
            }
        }
    }
}

void infer_softmax_like(InferContext& ctx, int64_t axis) {
    ctx.check_inputs(1);
    check_float_data(ctx);
    const PartialShape& s = ctx.input_shape(0);
    if (s.rank_is_static()) checked_axis(ctx.node(), axis, s.rank());
    ctx.set_output(0, ctx.input_type(0), s);
}

// Validates a constant axes input against a known rank (MVN, NormalizeL2).
void infer_axes_normalization(InferContext& ctx) {
    ctx.check_inputs(2);
    check_float_data(ctx);
    detail::check_axes_input(ctx, 1);
    const PartialShape& s = ctx.input_shape(0);
    if (const Tensor* axes = ctx.input_value(1); axes && s.rank_is_static())
        detail::axes_mask(ctx.node(), axes->as_i64_vector(), s.rank());
    ctx.set_output(0, ctx.input_type(0), s);
}

}  // namespace

// ---- Softmax, LogSoftmax ----

void Softmax::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 8, "opset version ", opset_version,
                     " does not exist (1, 8)");
    KILN_INFER_CHECK(ctx, opset_version == 8 || axis >= 0, "Softmax-1 takes a non-negative axis, got ", axis);
    infer_softmax_like(ctx, axis);
}

void Softmax::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const int64_t a = checked_axis(*this, axis, in[0].rank());
    visit_float(*this, in[0].type(), [&](auto tag) { softmax_ref<decltype(tag)>(in[0], out[0], a, false); });
}

void LogSoftmax::infer(InferContext& ctx) const { infer_softmax_like(ctx, axis); }

void LogSoftmax::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const int64_t a = checked_axis(*this, axis, in[0].rank());
    visit_float(*this, in[0].type(), [&](auto tag) { softmax_ref<decltype(tag)>(in[0], out[0], a, true); });
}

// ---- MVN ----

void MVN::visit_attributes(AttributeVisitor& v) {
    v.on("normalize_variance", normalize_variance);
    v.on("eps", eps);
    visit_enum(v, "eps_mode", eps_mode,
               {{MVNEpsMode::inside_sqrt, "inside_sqrt"}, {MVNEpsMode::outside_sqrt, "outside_sqrt"}});
}

namespace {
// Number of independent groups when `mask` marks the normalized axes: the product of the others.
int64_t kept_groups(const Shape& shape, const std::vector<bool>& mask) {
    int64_t groups = 1;
    for (size_t d = 0; d < mask.size(); ++d)
        if (!mask[d]) groups *= shape[d];
    return groups;
}
}  // namespace

void MVN::infer(InferContext& ctx) const { infer_axes_normalization(ctx); }

void MVN::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto mask = detail::axes_mask(*this, in[1].as_i64_vector(), in[0].rank());
    auto g = detail::group_index(in[0].shape(), mask);
    int64_t groups = kept_groups(in[0].shape(), mask);
    visit_float(*this, in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        const size_t n = g.size();
        std::vector<double> mean(static_cast<size_t>(groups), 0.0), var(static_cast<size_t>(groups), 0.0);
        const double count = groups ? static_cast<double>(n) / static_cast<double>(groups) : 0.0;
        for (size_t i = 0; i < n; ++i) mean[static_cast<size_t>(g[i])] += static_cast<double>(x[i]);
        for (auto& m : mean) m /= count;
        for (size_t i = 0; i < n; ++i) {
            const double d = static_cast<double>(x[i]) - mean[static_cast<size_t>(g[i])];
            var[static_cast<size_t>(g[i])] += d * d;
        }
        for (auto& v : var) {
            v /= count;
            v = eps_mode == MVNEpsMode::inside_sqrt ? 1.0 / std::sqrt(v + eps) : 1.0 / (std::sqrt(v) + eps);
        }
        for (size_t i = 0; i < n; ++i) {
            const size_t k = static_cast<size_t>(g[i]);
            const double d = static_cast<double>(x[i]) - mean[k];
            y[i] = static_cast<T>(normalize_variance ? d * var[k] : d);
        }
    });
}

// ---- BatchNormInference ----

void BatchNormInference::infer(InferContext& ctx) const {
    ctx.check_inputs(5);
    static const char* names[] = {"data", "gamma", "beta", "mean", "variance"};
    Type t = ctx.input_type(0);
    for (size_t i = 1; i < 5; ++i) {
        Type ti = ctx.input_type(i);
        if (t == Type::dynamic) t = ti;
        else ctx.check(ti == Type::dynamic || ti == t, names[i], " must have the element type of ",
                       "the other inputs (", kiln::type_name(t), "), got ", kiln::type_name(ti));
    }
    ctx.check(t == Type::dynamic || is_float(t), "inputs must have a floating-point element type, got ",
              kiln::type_name(t));
    PartialShape data = ctx.input_shape(0);
    ctx.check(data.rank_is_dynamic() || data.rank() >= 2, "data must have rank >= 2, got shape ",
              data.to_string());
    Dimension channels;
    if (data.rank_is_static()) channels = data[1];
    for (size_t i = 1; i < 5; ++i) {
        const PartialShape& s = ctx.input_shape(i);
        if (s.rank_is_dynamic()) continue;
        ctx.check(s.rank() == 1, names[i], " must be 1D, got shape ", s.to_string());
        auto m = Dimension::merge(channels, s[0]);
        ctx.check(m.has_value(), names[i], " must have ", channels.to_string(),
                  " elements (the channel dim of data), got shape ", s.to_string());
        channels = *m;
    }
    if (data.rank_is_static()) data[1] = channels;
    ctx.set_output(0, t, data);
}

void BatchNormInference::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& s = in[0].shape();
    const int64_t c = s[1];
    const int64_t inner = shape_size(Shape(s.begin() + 2, s.end()));
    auto gamma = in[1].as_f64_vector(), beta = in[2].as_f64_vector();
    auto mean = in[3].as_f64_vector(), var = in[4].as_f64_vector();
    visit_float(*this, in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        const int64_t n = in[0].size();
        for (int64_t i = 0; i < n; ++i) {
            const size_t k = static_cast<size_t>((i / inner) % c);
            const double v = (static_cast<double>(x[i]) - mean[k]) / std::sqrt(var[k] + epsilon);
            y[i] = static_cast<T>(gamma[k] * v + beta[k]);
        }
    });
}

// ---- NormalizeL2 ----

void NormalizeL2::visit_attributes(AttributeVisitor& v) {
    v.on("eps", eps);
    visit_enum(v, "eps_mode", eps_mode, {{EpsMode::add, "add"}, {EpsMode::max, "max"}});
}

void NormalizeL2::infer(InferContext& ctx) const { infer_axes_normalization(ctx); }

void NormalizeL2::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto mask = detail::axes_mask(*this, in[1].as_i64_vector(), in[0].rank());
    auto g = detail::group_index(in[0].shape(), mask);
    int64_t groups = kept_groups(in[0].shape(), mask);
    visit_float(*this, in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        std::vector<double> ss(static_cast<size_t>(groups), 0.0);
        for (size_t i = 0; i < g.size(); ++i) {
            const double v = static_cast<double>(x[i]);
            ss[static_cast<size_t>(g[i])] += v * v;
        }
        for (auto& v : ss) v = std::sqrt(eps_mode == EpsMode::add ? v + eps : std::max(v, eps));
        for (size_t i = 0; i < g.size(); ++i)
            y[i] = static_cast<T>(static_cast<double>(x[i]) / ss[static_cast<size_t>(g[i])]);
    });
}

// ---- CumSum ----

void CumSum::visit_attributes(AttributeVisitor& v) {
    v.on("exclusive", exclusive);
    v.on("reverse", reverse);
}

void CumSum::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 2);
    Type t = ctx.input_type(0);
    ctx.check(t != Type::boolean, "data must have a numeric element type, got boolean");
    const PartialShape& s = ctx.input_shape(0);
    if (ctx.num_inputs() == 2) {
        Type at = ctx.input_type(1);
        ctx.check(at == Type::dynamic || is_integral(at),
                  "axis (input 1) must have an integer element type, got ", kiln::type_name(at));
        const PartialShape& as = ctx.input_shape(1);
        ctx.check(as.rank_is_dynamic() || as.rank() == 0 || (as.rank() == 1 && as[0].compatible(1)),
                  "axis (input 1) must be a scalar, got shape ", as.to_string());
        if (const Tensor* a = ctx.input_value(1); a && s.rank_is_static()) {
            auto v = a->as_i64_vector();
            ctx.check(v.size() == 1, "axis (input 1) must hold one value, got ", v.size());
            checked_axis(*this, v[0], s.rank());
        }
    } else {
        ctx.check(s.rank_is_dynamic() || s.rank() >= 1, "data must have rank >= 1, got a scalar");
    }
    ctx.set_output(0, t, s);
}

void CumSum::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    int64_t axis = 0;
    if (in.size() == 2) {
        auto v = in[1].as_i64_vector();
        if (v.size() != 1) node_fail(*this, "axis (input 1) must hold one value, got ", v.size());
        axis = v[0];
    }
    axis = checked_axis(*this, axis, in[0].rank());
    Split3 s = split_at(in[0].shape(), axis);
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            node_fail(*this, "boolean data is not supported");
        } else {
            using A = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
            const T* x = in[0].data<T>();
            T* y = out[0].data<T>();
            for (int64_t o = 0; o < s.outer; ++o) {
                for (int64_t i = 0; i < s.inner; ++i) {
                    const int64_t base = o * s.len * s.inner + i;
                    A acc = 0;
                    for (int64_t j = 0; j < s.len; ++j) {
                        const int64_t at = base + (reverse ? s.len - 1 - j : j) * s.inner;
                        if (exclusive) {
                            y[at] = static_cast<T>(acc);
                            acc += static_cast<A>(x[at]);
                        } else {
                            acc += static_cast<A>(x[at]);
                            y[at] = static_cast<T>(acc);
                        }
                    }
                }
            }
        }
    });
}

}  // namespace kiln::op
