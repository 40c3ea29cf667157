#include "kiln/ops/elementwise_unary.hpp"

#include "kiln/ops/activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace kiln::op {

namespace {

// A double result as integer type T: rounded to nearest, saturated, NaN -> 0.
template <typename T>
T round_to_int(double v) {
    if (std::isnan(v)) return 0;
    v = std::round(v);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
}

// Math of float inputs runs in double: for f32 that makes the reference (nearly) the exact
// answer, which is what the fast kernels are measured against.
template <typename T, typename F>
T via_double(T x, F f) {
    if constexpr (std::is_floating_point_v<T>) return static_cast<T>(f(static_cast<double>(x)));
    else return round_to_int<T>(f(static_cast<double>(x)));
}

// An activation's value (ops/activation.hpp: the one definition the fused post-ops share).
template <typename T>
T activation(T x, Activation k, double alpha = 0, double beta = 0) {
    return via_double(x, [=](double v) { return activation_value(k, v, alpha, beta); });
}

template <typename T>
T round_half_to_even(T x) {
    T r = std::round(x);  // ties away from zero
    if (std::fabs(x - std::trunc(x)) == T(0.5)) r = T(2) * std::round(x / T(2));
    return r;
}

// x < 0 without the always-false comparison warning for unsigned types.
template <typename T>
bool negative(T x) {
    if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) return false;
    else return x < T(0);
}

template <typename T>
T wrap_negate(T x) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(U(0) - static_cast<U>(x));
}

template <typename Derived, typename T>
T unary_value(const Derived& node, T x) {
    constexpr bool fp = std::is_floating_point_v<T>;
    if constexpr (std::is_same_v<Derived, Relu>) return negative(x) ? T(0) : x;
    else if constexpr (std::is_same_v<Derived, Abs>) {
        if constexpr (fp) return std::fabs(x);
        else if constexpr (std::is_signed_v<T>) return x < 0 ? wrap_negate(x) : x;
        else return x;
    } else if constexpr (std::is_same_v<Derived, Negative>) {
        if constexpr (fp) return -x;
        else return wrap_negate(x);
    } else if constexpr (std::is_same_v<Derived, Sign>) {
        // Keeps NaN and signed zero, as the vector kernel does.
        return x > T(0) ? T(1) : negative(x) ? static_cast<T>(-1) : x;
    } else if constexpr (std::is_same_v<Derived, Floor>) {
        if constexpr (fp) return std::floor(x);
        else return x;
    } else if constexpr (std::is_same_v<Derived, Ceiling>) {
        if constexpr (fp) return std::ceil(x);
        else return x;
    } else if constexpr (std::is_same_v<Derived, Round>) {
        if constexpr (!fp) return x;
        else if (node.mode == RoundMode::half_to_even) return round_half_to_even(x);
        else return std::round(x);
    } else if constexpr (std::is_same_v<Derived, Clamp>) {
        if constexpr (fp) {
            const T lo = static_cast<T>(node.min), hi = static_cast<T>(node.max);
            return x < lo ? lo : x > hi ? hi : x;
        } else {
            const double lo = std::ceil(node.min), hi = std::floor(node.max);
            const double v = static_cast<double>(x);
            return v < lo ? round_to_int<T>(lo) : v > hi ? round_to_int<T>(hi) : x;
        }
    } else if constexpr (std::is_same_v<Derived, Exp>) return activation(x, Activation::exp);
    else if constexpr (std::is_same_v<Derived, Log>) return via_double(x, [](double v) { return std::log(v); });
    else if constexpr (std::is_same_v<Derived, Sqrt>) return via_double(x, [](double v) { return std::sqrt(v); });
    else if constexpr (std::is_same_v<Derived, Sin>) return via_double(x, [](double v) { return std::sin(v); });
    else if constexpr (std::is_same_v<Derived, Cos>) return via_double(x, [](double v) { return std::cos(v); });
    else if constexpr (std::is_same_v<Derived, Tanh>) return activation(x, Activation::tanh);
    else if constexpr (std::is_same_v<Derived, Tan>) return via_double(x, [](double v) { return std::tan(v); });
    else if constexpr (std::is_same_v<Derived, Asin>) return via_double(x, [](double v) { return std::asin(v); });
    else if constexpr (std::is_same_v<Derived, Acos>) return via_double(x, [](double v) { return std::acos(v); });
    else if constexpr (std::is_same_v<Derived, Atan>) return via_double(x, [](double v) { return std::atan(v); });
    else if constexpr (std::is_same_v<Derived, Sinh>) return via_double(x, [](double v) { return std::sinh(v); });
    else if constexpr (std::is_same_v<Derived, Cosh>) return via_double(x, [](double v) { return std::cosh(v); });
    else if constexpr (std::is_same_v<Derived, Asinh>) return via_double(x, [](double v) { return std::asinh(v); });
    else if constexpr (std::is_same_v<Derived, Acosh>) return via_double(x, [](double v) { return std::acosh(v); });
    else if constexpr (std::is_same_v<Derived, Atanh>) return via_double(x, [](double v) { return std::atanh(v); });
    else if constexpr (std::is_same_v<Derived, SoftSign>)
        return via_double(x, [](double v) { return v / (1.0 + std::fabs(v)); });
    else if constexpr (std::is_same_v<Derived, BitwiseNot>) {
        if constexpr (std::is_integral_v<T>) return static_cast<T>(~x);
        else static_assert(sizeof(T) == 0, "BitwiseNot of a float");
    }
    else if constexpr (std::is_same_v<Derived, Erf>) return via_double(x, [](double v) { return std::erf(v); });
    else if constexpr (std::is_same_v<Derived, Sigmoid>) return activation(x, Activation::sigmoid);
    else if constexpr (std::is_same_v<Derived, SoftPlus>) return activation(x, Activation::softplus);
    else if constexpr (std::is_same_v<Derived, Mish>) return activation(x, Activation::mish);
    else if constexpr (std::is_same_v<Derived, HSwish>) return activation(x, Activation::hswish);
    else if constexpr (std::is_same_v<Derived, HSigmoid>) return activation(x, Activation::hsigmoid);
    else if constexpr (std::is_same_v<Derived, Elu>) return activation(x, Activation::elu, node.alpha);
    else if constexpr (std::is_same_v<Derived, Gelu>)
        return activation(x, node.approximation_mode == GeluApproximation::erf ? Activation::gelu_erf
                                                                               : Activation::gelu_tanh);
    else {
        static_assert(sizeof(T) == 0, "not a unary op");
    }
}

}  // namespace

template <typename Derived, UnaryKind K>
void UnaryElementwise<Derived, K>::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    const Type t = ctx.input_type(0);
    if (t != Type::dynamic) {
        if (K == UnaryKind::numeric && t == Type::boolean)
            ctx.fail("expected a numeric element type, got boolean");
        if (K == UnaryKind::floating && !is_float(t))
            ctx.fail("expected a floating-point element type, got ", kiln::type_name(t));
        if (K == UnaryKind::logical && t != Type::boolean)
            ctx.fail("expected boolean element type, got ", kiln::type_name(t));
        if (K == UnaryKind::bitwise && !is_integral(t) && t != Type::boolean)
            ctx.fail("expected an integer or boolean element type, got ", kiln::type_name(t));
    }
    ctx.set_output(0, t, ctx.input_shape(0));
}

template <typename Derived, UnaryKind K>
void UnaryElementwise<Derived, K>::evaluate(const std::vector<Tensor>& in,
                                            std::vector<Tensor>& out) const {
    const auto& self = static_cast<const Derived&>(*this);
    const int64_t n = in[0].size();
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* y = out[0].data<T>();
        if constexpr (K == UnaryKind::bitwise) {
            if constexpr (std::is_same_v<T, bool>) {
                auto xb = reinterpret_cast<const uint8_t*>(x);
                for (int64_t i = 0; i < n; ++i) y[i] = xb[i] == 0;
                return;
            } else if constexpr (std::is_integral_v<T>) {
                for (int64_t i = 0; i < n; ++i) y[i] = unary_value<Derived, T>(self, x[i]);
                return;
            }
        } else if constexpr (K == UnaryKind::logical) {
            if constexpr (std::is_same_v<T, bool>) {
                // Read bytes: a stored byte other than 0/1 would be undefined as bool.
                auto xb = reinterpret_cast<const uint8_t*>(x);
                for (int64_t i = 0; i < n; ++i) y[i] = xb[i] == 0;
                return;
            }
        } else if constexpr (!std::is_same_v<T, bool> &&
                             (K == UnaryKind::numeric || std::is_floating_point_v<T>)) {
            for (int64_t i = 0; i < n; ++i) y[i] = unary_value<Derived, T>(self, x[i]);
            return;
        }
        throw Error(str_cat("[", this->type_name(), " ", this->name(), "] element type ",
                            kiln::type_name(in[0].type()), " is not supported"));
    });
}

template class UnaryElementwise<Relu, UnaryKind::numeric>;
template class UnaryElementwise<Sigmoid, UnaryKind::numeric>;
template class UnaryElementwise<Tanh, UnaryKind::numeric>;
template class UnaryElementwise<Exp, UnaryKind::numeric>;
template class UnaryElementwise<Log, UnaryKind::numeric>;
template class UnaryElementwise<Sqrt, UnaryKind::numeric>;
template class UnaryElementwise<Abs, UnaryKind::numeric>;
template class UnaryElementwise<Negative, UnaryKind::numeric>;
template class UnaryElementwise<Floor, UnaryKind::numeric>;
template class UnaryElementwise<Ceiling, UnaryKind::numeric>;
template class UnaryElementwise<Erf, UnaryKind::numeric>;
template class UnaryElementwise<Sin, UnaryKind::numeric>;
template class UnaryElementwise<Cos, UnaryKind::numeric>;
template class UnaryElementwise<Sign, UnaryKind::numeric>;
template class UnaryElementwise<LogicalNot, UnaryKind::logical>;
template class UnaryElementwise<Tan, UnaryKind::numeric>;
template class UnaryElementwise<Asin, UnaryKind::numeric>;
template class UnaryElementwise<Acos, UnaryKind::numeric>;
template class UnaryElementwise<Atan, UnaryKind::numeric>;
template class UnaryElementwise<Sinh, UnaryKind::numeric>;
template class UnaryElementwise<Cosh, UnaryKind::numeric>;
template class UnaryElementwise<Asinh, UnaryKind::numeric>;
template class UnaryElementwise<Acosh, UnaryKind::numeric>;
template class UnaryElementwise<Atanh, UnaryKind::numeric>;
template class UnaryElementwise<SoftSign, UnaryKind::floating>;
template class UnaryElementwise<BitwiseNot, UnaryKind::bitwise>;
template class UnaryElementwise<SoftPlus, UnaryKind::floating>;
template class UnaryElementwise<Mish, UnaryKind::floating>;
template class UnaryElementwise<HSwish, UnaryKind::floating>;
template class UnaryElementwise<HSigmoid, UnaryKind::floating>;
template class UnaryElementwise<Elu, UnaryKind::floating>;
template class UnaryElementwise<Clamp, UnaryKind::numeric>;
template class UnaryElementwise<Gelu, UnaryKind::floating>;
template class UnaryElementwise<Round, UnaryKind::numeric>;

void Clamp::visit_attributes(AttributeVisitor& v) {
    v.on("min", min);
    v.on("max", max);
}

void Clamp::infer(InferContext& ctx) const {
    if (!(min <= max)) ctx.fail("expected min <= max, got min=", min, " and max=", max);
    UnaryElementwise::infer(ctx);
}

void Gelu::visit_attributes(AttributeVisitor& v) {
    if (opset_version < 7) return;
    // The last spelling of a value is the one written.
    visit_enum(v, "approximation_mode", approximation_mode,
               {{GeluApproximation::erf, "erf"},
                {GeluApproximation::tanh, "tanh"},
                {GeluApproximation::erf, "ERF"},
                {GeluApproximation::tanh, "TANH"}});
}

void Round::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "mode", mode,
               {{RoundMode::half_to_even, "half_to_even"},
                {RoundMode::half_away_from_zero, "half_away_from_zero"}});
}

template <typename Derived, FloatClass C>
void FloatClassify<Derived, C>::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    const Type t = ctx.input_type(0);
    if (t == Type::boolean) ctx.fail("expected a numeric element type, got boolean");
    ctx.set_output(0, Type::boolean, ctx.input_shape(0));
}

template <typename Derived, FloatClass C>
void FloatClassify<Derived, C>::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const int64_t n = in[0].size();
    bool* y = out[0].data<bool>();
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        for (int64_t i = 0; i < n; ++i) {
            if constexpr (!std::is_floating_point_v<T>) {
                y[i] = C == FloatClass::finite;
            } else if constexpr (C == FloatClass::nan) {
                y[i] = std::isnan(x[i]);
            } else if constexpr (C == FloatClass::finite) {
                y[i] = std::isfinite(x[i]);
            } else {
                const auto& self = static_cast<const IsInf&>(*this);
                y[i] = std::isinf(x[i]) && (x[i] > 0 ? self.detect_positive : self.detect_negative);
            }
        }
    });
}

template class FloatClassify<IsNaN, FloatClass::nan>;
template class FloatClassify<IsInf, FloatClass::inf>;
template class FloatClassify<IsFinite, FloatClass::finite>;

void Swish::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 2);
    const Type t = ctx.input_type(0);
    if (t != Type::dynamic && !is_float(t))
        ctx.fail("expected a floating-point element type, got ", kiln::type_name(t));
    if (ctx.num_inputs() == 2) {
        const Type bt = ctx.input_type(1);
        if (t != Type::dynamic && bt != Type::dynamic && bt != t)
            ctx.fail("beta must have the input's element type: expected ", kiln::type_name(t), ", got ",
                     kiln::type_name(bt));
        const PartialShape& bs = ctx.input_shape(1);
        const bool scalar = bs.rank_is_dynamic() || bs.size() == 0 ||
                            (bs.size() == 1 && bs[0].compatible(int64_t{1}));
        if (!scalar) ctx.fail("beta must be a scalar: expected shape [] or [1], got ", bs.to_string());
    }
    ctx.set_output(0, t, ctx.input_shape(0));
}

void Swish::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const double beta = in.size() > 1 ? in[1].as_f64_vector().at(0) : 1.0;
    const int64_t n = in[0].size();
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
            const T* x = in[0].data<T>();
            T* y = out[0].data<T>();
            for (int64_t i = 0; i < n; ++i) {
                y[i] = static_cast<T>(activation_value(Activation::swish, x[i], beta));
            }
        } else {
            throw Error(str_cat("[Swish ", name(), "] element type ", kiln::type_name(in[0].type()),
                                " is not supported"));
        }
    });
}

void Convert::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    if (destination_type == Type::dynamic)
        ctx.fail("destination_type must be a concrete element type, got dynamic");
    ctx.set_output(0, destination_type, ctx.input_shape(0));
    // Shape arithmetic passes through integer conversions (core/node.hpp: ShapeValue).
    if (is_integral(destination_type))
        if (auto v = ctx.input_shape_value(0)) ctx.set_output_value(0, std::move(*v));
}

void Convert::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].type() == Type::boolean && out[0].type() != Type::boolean) {
        // Normalize the bytes first: a stored byte other than 0/1 would be undefined as bool.
        Tensor tmp(Type::u8, in[0].shape());
        auto s = in[0].data<uint8_t>();
        auto d = tmp.data<uint8_t>();
        for (int64_t i = 0; i < in[0].size(); ++i) d[i] = s[i] != 0;
        convert_elements(tmp.data(), Type::u8, out[0].data(), out[0].type(), static_cast<size_t>(tmp.size()));
        return;
    }
    convert_elements(in[0].data(), in[0].type(), out[0].data(), out[0].type(),
                     static_cast<size_t>(in[0].size()));
}

void Select::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    const Type c = ctx.input_type(0), a = ctx.input_type(1), b = ctx.input_type(2);
    if (c != Type::dynamic && c != Type::boolean)
        ctx.fail("cond must be boolean: expected boolean, got ", kiln::type_name(c));
    if (a != Type::dynamic && b != Type::dynamic && a != b)
        ctx.fail("then and else must have the same element type: expected ", kiln::type_name(a),
                 ", got ", kiln::type_name(b));
    const Type t = a == Type::dynamic ? b : a;
    PartialShape s = elementwise_shape(ctx.input_shape(1), ctx.input_shape(2), auto_broadcast, ctx);
    s = elementwise_shape(ctx.input_shape(0), s, auto_broadcast, ctx);
    ctx.set_output(0, t, std::move(s));
}

void Select::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const uint8_t* c = in[0].data<uint8_t>();
    const size_t es = type_size(out[0].type());
    const auto* a = static_cast<const uint8_t*>(in[1].data());
    const auto* b = static_cast<const uint8_t*>(in[2].data());
    auto* y = static_cast<uint8_t*>(out[0].data());
    const int64_t n = out[0].size();
    // Element-type agnostic: whole elements are copied as bytes.
    BroadcastWalker w(out[0].shape(), {in[0].shape(), in[1].shape(), in[2].shape()});
    for (int64_t i = 0; i < n; ++i, w.next()) {
        const uint8_t* src = c[w.offset(0)] ? a + w.offset(1) * es : b + w.offset(2) * es;
        std::memcpy(y + i * es, src, es);
    }
}

}  // namespace kiln::op
