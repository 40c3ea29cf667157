// aten math beyond the basic arithmetic of elementwise.cpp: trigonometric and hyperbolic
// functions, log/exp variants, rounding, activations built from opset ops (celu, selu, glu,
// shrinks, ...), NaN/inf tests, integer bitwise ops and shifts, scans (cumprod, cummax), diff,
// fill_diagonal_, and the implicit scalar conversions of scripting.
#include <cmath>
#include <limits>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/scan.hpp"

namespace kiln::frontend::pytorch {

namespace {

constexpr double kPi = 3.14159265358979323846;

template <typename T>
Outs float_unary(NodeContext& ctx) {
    return {ctx.make<T>({as_float(ctx, 0)})};
}

Outs erfc(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Subtract>({scalar_like(ctx, x, 1.0), ctx.make<op::Erf>({x})})};
}

Outs expm1(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Subtract>({ctx.make<op::Exp>({x}), scalar_like(ctx, x, 1.0)})};
}

Outs log1p(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Log>({ctx.make<op::Add>({x, scalar_like(ctx, x, 1.0)})})};
}

template <int Base>
Outs log_base(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Multiply>({ctx.make<op::Log>({x}), scalar_like(ctx, x, 1.0 / std::log(double(Base)))})};
}

// atan2(y, x): atan(y / x), moved to the right quadrant; 0 where both are 0.
Outs atan2(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    Output y = in[0], x = in[1];
    Output zero = scalar_like(ctx, x, 0.0);
    Output at = ctx.make<op::Atan>({ctx.make<op::Divide>({y, x}, false)});
    Output turn = ctx.make<op::Select>({ctx.make<op::GreaterEqual>({y, zero}), scalar_like(ctx, x, kPi),
                                        scalar_like(ctx, x, -kPi)});
    Output r = ctx.make<op::Select>({ctx.make<op::Less>({x, zero}), ctx.make<op::Add>({at, turn}), at});
    Output origin = ctx.make<op::LogicalAnd>({ctx.make<op::Equal>({x, zero}), ctx.make<op::Equal>({y, zero})});
    return {ctx.make<op::Select>({origin, zero, r})};
}

// trunc(x) = sign(x) * floor(|x|); integers are whole already.
Output trunc_of(NodeContext& ctx, const Output& x) {
    if (!is_float(x.type())) return x;
    return ctx.make<op::Multiply>({ctx.make<op::Sign>({x}), ctx.make<op::Floor>({ctx.make<op::Abs>({x})})});
}

Outs trunc(NodeContext& ctx) { return {trunc_of(ctx, ctx.input(0))}; }

Outs frac(NodeContext& ctx) {
    Output x = ctx.input(0);
    return {ctx.make<op::Subtract>({x, trunc_of(ctx, x)})};
}

// round(x, decimals=0): ties to even, as torch (which scales by 10^decimals around nearbyint).
Outs round(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_int(1) : 0;
    if (!is_float(x.type()) || d == 0) return {ctx.make<op::Round>({x}, op::RoundMode::half_to_even)};
    Output p = scalar_like(ctx, x, std::pow(10.0, static_cast<double>(std::llabs(d))));
    if (d > 0)
        return {ctx.make<op::Divide>({ctx.make<op::Round>({ctx.make<op::Multiply>({x, p})}, op::RoundMode::half_to_even), p},
                                     false)};
    return {ctx.make<op::Multiply>({ctx.make<op::Round>({ctx.make<op::Divide>({x, p}, false)}, op::RoundMode::half_to_even), p})};
}

Outs fmod(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::Mod>({a, b})};
}

// celu(x, alpha) = alpha * elu(x / alpha); selu = scale * elu(x, alpha).
Outs celu(NodeContext& ctx) {
    Output x = ctx.input(0);
    double a = ctx.num_inputs() > 1 ? ctx.const_float(1) : 1.0;
    if (a == 1.0) return {ctx.make<op::Elu>({x}, 1.0)};
    Output e = ctx.make<op::Elu>({ctx.make<op::Divide>({x, scalar_like(ctx, x, a)}, false)}, 1.0);
    return {ctx.make<op::Multiply>({e, scalar_like(ctx, x, a)})};
}

Outs selu(NodeContext& ctx) {
    constexpr double kAlpha = 1.6732632423543772848170429916717, kScale = 1.0507009873554804934193349852946;
    Output x = ctx.input(0);
    return {ctx.make<op::Multiply>({ctx.make<op::Elu>({x}, kAlpha), scalar_like(ctx, x, kScale)})};
}

// glu(x, dim): a * sigmoid(b) of the two halves along dim.
Outs glu(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 1 ? ctx.const_int(1) : -1);
    auto& dim = x.shape()[static_cast<size_t>(d)];
    ctx.check(!dim.is_static() || dim.get_length() % 2 == 0, "halves dim ", d, " of odd size ", dim.to_string());
    auto halves = ctx.make_node<op::Split>({x, ctx.i64_scalar(d)}, int64_t{2});
    return {ctx.make<op::Multiply>({halves->output(0), ctx.make<op::Sigmoid>({halves->output(1)})})};
}

Outs log_sigmoid(NodeContext& ctx) {
    Output x = ctx.input(0);
    return {ctx.make<op::Negative>({ctx.make<op::SoftPlus>({ctx.make<op::Negative>({x})})})};
}

Outs hardshrink(NodeContext& ctx) {
    Output x = ctx.input(0);
    double l = ctx.num_inputs() > 1 ? ctx.const_float(1) : 0.5;
    Output keep = ctx.make<op::Greater>({ctx.make<op::Abs>({x}), scalar_like(ctx, x, l)});
    return {ctx.make<op::Select>({keep, x, scalar_like(ctx, x, 0.0)})};
}

Outs softshrink(NodeContext& ctx) {
    Output x = ctx.input(0);
    double l = ctx.num_inputs() > 1 ? ctx.const_float(1) : 0.5;
    Output lo = scalar_like(ctx, x, -l), hi = scalar_like(ctx, x, l);
    Output below = ctx.make<op::Select>({ctx.make<op::Less>({x, lo}), ctx.make<op::Add>({x, hi}), scalar_like(ctx, x, 0.0)});
    return {ctx.make<op::Select>({ctx.make<op::Greater>({x, hi}), ctx.make<op::Subtract>({x, hi}), below})};
}

// threshold(x, threshold, value): x where x > threshold, else value.
Outs threshold(NodeContext& ctx) {
    Output x = ctx.input(0);
    Output th = to_type(ctx, ctx.input(1), x.type()), v = to_type(ctx, ctx.input(2), x.type());
    return {ctx.make<op::Select>({ctx.make<op::Greater>({x, th}), x, v})};
}

// logit(x, eps=None) = log(z / (1 - z)), z = clamp(x, eps, 1 - eps) when eps is given.
Outs logit(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    if (ctx.num_inputs() > 1 && !ctx.is_none(1)) {
        double e = ctx.const_float(1);
        x = ctx.make<op::Clamp>({x}, e, 1.0 - e);
    }
    Output one = scalar_like(ctx, x, 1.0);
    return {ctx.make<op::Log>({ctx.make<op::Divide>({x, ctx.make<op::Subtract>({one, x})}, false)})};
}

// xlogy(x, y) = x * log(y), 0 where x == 0 (unless y is NaN); xlog1py the same with log(1 + y).
template <bool OnePlus>
Outs xlogy(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    Output x = in[0], y = in[1], zero = scalar_like(ctx, x, 0.0);
    Output arg = OnePlus ? ctx.make<op::Add>({y, scalar_like(ctx, y, 1.0)}) : y;
    Output prod = ctx.make<op::Multiply>({x, ctx.make<op::Log>({arg})});
    Output zero_x = ctx.make<op::LogicalAnd>({ctx.make<op::Equal>({x, zero}),
                                              ctx.make<op::LogicalNot>({ctx.make<op::IsNaN>({y})})});
    return {ctx.make<op::Select>({zero_x, zero, prod})};
}

// addcmul(x, a, b, value=1) = x + value * a * b; addcdiv: x + value * a / b.
template <bool Div>
Outs addc(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1, 2});
    Output x = in[0], a = in[1], b = in[2];
    if constexpr (Div) ctx.check(is_float(x.type()), "integer division with addcdiv is not supported (as in torch)");
    Output t = Div ? ctx.make<op::Divide>({a, b}, false) : ctx.make<op::Multiply>({a, b});
    if (ctx.num_inputs() > 3 && !ctx.is_none(3)) {
        if (ctx.is_const(3)) {
            double v = ctx.const_float(3);
            if (v != 1.0) t = ctx.make<op::Multiply>({t, scalar_like(ctx, t, v)});
        } else {
            t = ctx.make<op::Multiply>({t, to_type(ctx, ctx.input(3), t.type())});
        }
    }
    return {ctx.make<op::Add>({x, t})};
}

// lerp(a, b, w): torch's two-sided formula (exact at both ends).
Outs lerp(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1, 2});
    Output a = in[0], b = in[1], w = in[2];
    Output diff = ctx.make<op::Subtract>({b, a});
    Output lo = ctx.make<op::Add>({a, ctx.make<op::Multiply>({w, diff})});
    Output hi = ctx.make<op::Subtract>(
        {b, ctx.make<op::Multiply>({diff, ctx.make<op::Subtract>({scalar_like(ctx, w, 1.0), w})})});
    Output small = ctx.make<op::Less>({ctx.make<op::Abs>({w}), scalar_like(ctx, w, 0.5)});
    return {ctx.make<op::Select>({small, lo, hi})};
}

// The axes argument at input i: a list, one int, or None / [] for every axis.
Output axes_arg(NodeContext& ctx, size_t i, const Output& x) {
    if (i < ctx.num_inputs() && !ctx.is_none(i) && !(ctx.is_const(i) && ctx.const_ints(i).empty()))
        return int_list(ctx, i);
    std::vector<int64_t> all;
    for (int64_t k = 0; k < static_rank(ctx, x); ++k) all.push_back(k);
    return ctx.i64(all);
}

// logsumexp(x, dim, keepdim) = m + log(sum(exp(x - m))), m the max (0 where it is infinite).
Outs logsumexp(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    Output axes = axes_arg(ctx, 1, x);
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    if (static_rank(ctx, x) == 0) return {x};
    Output m = ctx.make<op::ReduceMax>({x, axes}, true);
    m = ctx.make<op::Select>({ctx.make<op::IsInf>({m}), scalar_like(ctx, m, 0.0), m});
    Output s = ctx.make<op::ReduceSum>({ctx.make<op::Exp>({ctx.make<op::Subtract>({x, m})}), axes}, keep);
    Output mk = keep ? m : ctx.make<op::Squeeze>({m, axes});
    return {ctx.make<op::Add>({ctx.make<op::Log>({s}), mk})};
}

// logaddexp(a, b) = max + log(1 + exp(-|a - b|)); a + log(2) where a == b (infinities too).
// logaddexp2: the same in base 2, max + log2(1 + 2^-|a - b|), a + 1 where a == b.
template <bool Base2>
Outs logaddexp(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    Output a = in[0], b = in[1];
    Output m = ctx.make<op::Maximum>({a, b});
    Output d = ctx.make<op::Negative>({ctx.make<op::Abs>({ctx.make<op::Subtract>({a, b})})});
    Output e = Base2 ? ctx.make<op::Power>({scalar_like(ctx, a, 2.0), d}) : ctx.make<op::Exp>({d});
    Output l = ctx.make<op::Log>({ctx.make<op::Add>({scalar_like(ctx, a, 1.0), e})});
    if (Base2) l = ctx.make<op::Multiply>({l, scalar_like(ctx, a, 1.0 / std::log(2.0))});
    Output same = ctx.make<op::Add>({a, scalar_like(ctx, a, Base2 ? 1.0 : std::log(2.0))});
    return {ctx.make<op::Select>({ctx.make<op::Equal>({a, b}), same, ctx.make<op::Add>({m, l})})};
}

// True where x's sign bit is set: x < 0, or -0.0 (whose reciprocal is -inf).
Output sign_bit(NodeContext& ctx, const Output& x) {
    Output zero = scalar_like(ctx, x, 0.0);
    return ctx.make<op::LogicalOr>(
        {ctx.make<op::Less>({x, zero}),
         ctx.make<op::Less>({ctx.make<op::Divide>({scalar_like(ctx, x, 1.0), x}, false), zero})});
}

// copysign(a, b): |a| with the sign of b (-0.0 counts as negative); float result.
Outs copysign(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    Output a = ctx.make<op::Abs>({in[0]});
    return {ctx.make<op::Select>({sign_bit(ctx, in[1]), ctx.make<op::Negative>({a}), a})};
}

template <typename T>
Outs classify(NodeContext& ctx) {
    Output x = ctx.input(0);
    // The opset's IsNaN/IsInf/IsFinite take floating-point data: an integer is never NaN or
    // infinite, always finite.
    if (x.type() != Type::dynamic && !is_float(x.type())) {
        Output f = ctx.make<op::Equal>({x, x});
        return {std::is_same_v<T, op::IsFinite> ? f : ctx.make<op::LogicalNot>({f})};
    }
    return {ctx.make<T>({x})};
}

template <bool Pos>
Outs is_signed_inf(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (x.type() != Type::dynamic && !is_float(x.type())) return {ctx.make<op::LogicalNot>({ctx.make<op::Equal>({x, x})})};
    return {ctx.make<op::IsInf>({x}, !Pos, Pos)};
}

// nan_to_num(x, nan=0, posinf=max, neginf=lowest) of the dtype.
Outs nan_to_num(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (!is_float(x.type())) return {x};
    double big = x.type() == Type::f64   ? std::numeric_limits<double>::max()
                 : x.type() == Type::f16 ? 65504.0
                 : x.type() == Type::bf16 ? 3.3895313892515355e38
                                          : std::numeric_limits<float>::max();
    auto arg = [&](size_t i, double d) { return i < ctx.num_inputs() && !ctx.is_none(i) ? ctx.const_float(i) : d; };
    Output r = ctx.make<op::Select>({ctx.make<op::IsNaN>({x}), scalar_like(ctx, x, arg(1, 0.0)), x});
    r = ctx.make<op::Select>({ctx.make<op::IsInf>({x}, false, true), scalar_like(ctx, x, arg(2, big)), r});
    return {ctx.make<op::Select>({ctx.make<op::IsInf>({x}, true, false), scalar_like(ctx, x, arg(3, -big)), r})};
}

// a & b, a | b, a ^ b on integers and bools (promoted as torch does), and the shifts.
template <typename T>
Outs bitwise(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    ctx.check(!is_float(a.type()), "bitwise operations are not defined on ", type_name(a.type()), " (as in torch)");
    if constexpr (std::is_same_v<T, op::BitwiseLeftShift> || std::is_same_v<T, op::BitwiseRightShift>)
        ctx.check(a.type() != Type::boolean, "shifts are not defined on bool (as in torch)");
    return {ctx.make<T>({a, b})};
}

template <typename T>
Outs gcd_lcm(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    ctx.check(is_integral(a.type()), "gcd/lcm take integers, got ", type_name(a.type()), " (as in torch)");
    return {ctx.make<T>({a, b})};
}

Outs bitwise_not(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(!is_float(x.type()), "bitwise not is not defined on ", type_name(x.type()), " (as in torch)");
    return {ctx.make<op::BitwiseNot>({x})};
}

// cumprod(x, dim, dtype) / cummax, cummin(x, dim) -> (values, indices)
Outs cumprod(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(2)));
    else if (!is_float(x.type())) x = to_type(ctx, x, Type::i64);
    if (static_rank(ctx, x) == 0) return {x};
    return {ctx.make<op::CumProd>({x, ctx.i64_scalar(d)})};
}

// x[1:] and x[:-1] along axis: each element and the one before it (diff, trapezoid).
std::pair<Output, Output> neighbours(NodeContext& ctx, const Output& x, int64_t axis) {
    Output a = ctx.i64({axis}), one = ctx.i64({1}), big = ctx.i64({std::numeric_limits<int64_t>::max()});
    return {ctx.make<op::Slice>({x, one, big, one, a}), ctx.make<op::Slice>({x, ctx.i64({0}), ctx.i64({-1}), one, a})};
}

// hypot(a, b) = sqrt(a² + b²)
Outs hypot(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    Output a = in[0], b = in[1];
    return {ctx.make<op::Sqrt>({ctx.make<op::Add>({ctx.make<op::Multiply>({a, a}), ctx.make<op::Multiply>({b, b})})})};
}

// rad2deg / deg2rad: x times 180/π or π/180 (integers become f32)
template <bool ToDegrees>
Outs angle_units(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    return {ctx.make<op::Multiply>({x, scalar_like(ctx, x, ToDegrees ? 180.0 / kPi : kPi / 180.0)})};
}

// signbit(x): x < 0, and -0.0 too (its reciprocal is -inf)
Outs signbit(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (x.type() == Type::boolean) return {ctx.make<op::NotEqual>({x, x})};  // all false
    if (!is_float(x.type())) return {ctx.make<op::Less>({x, scalar_like(ctx, x, 0.0)})};
    return {sign_bit(ctx, x)};
}

// float_power(a, b): a^b in float64
Outs float_power(NodeContext& ctx) {
    Output a = to_type(ctx, ctx.input(0), Type::f64), b = to_type(ctx, ctx.input(1), Type::f64);
    return {ctx.make<op::Power>({a, b})};
}

// heaviside(x, values): values where x == 0, else x > 0 (0 for NaN), in the promoted type
Outs heaviside(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1});
    Output x = in[0], v = in[1], zero = scalar_like(ctx, x, 0.0);
    Output step = to_type(ctx, ctx.make<op::Greater>({x, zero}), x.type());
    return {ctx.make<op::Select>({ctx.make<op::Equal>({x, zero}), v, step})};
}

// ldexp(x, e) = x * 2^e (float result)
Outs ldexp(NodeContext& ctx) {
    auto in = promoted_all(ctx, {0, 1}, true);
    return {ctx.make<op::Multiply>({in[0], ctx.make<op::Power>({scalar_like(ctx, in[0], 2.0), in[1]})})};
}

// trapezoid(y, x=None, *, dx=None, dim=-1) / trapz: Σ (y[i+1] + y[i]) / 2 · Δ along dim, Δ the
// spacing dx (default 1) or diff(x); cumulative_trapezoid the running sums.
template <bool Cumulative>
Outs trapezoid(NodeContext& ctx) {
    Output y = as_float(ctx, 0);
    const int64_t r = static_rank(ctx, y);
    ctx.check(r >= 1, "needs a tensor of rank >= 1");
    // schemas: (y, x, *, dim) with a tensor x, or (y, *, dx, dim) with a number dx
    const bool has_x = ctx.num_inputs() > 1 && ctx.value(1).kind == TValue::Kind::tensor && !ctx.value(1).scalar;
    const int64_t d = axis_of(ctx, y, ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_int(2) : -1);
    auto [yh, yl] = neighbours(ctx, y, d);
    Output avg = ctx.make<op::Multiply>({ctx.make<op::Add>({yh, yl}), scalar_like(ctx, y, 0.5)});
    Output area;
    if (has_x) {
        Output x = to_type(ctx, ctx.input(1), y.type());
        const int64_t rx = static_rank(ctx, x);
        auto [xh, xl] = neighbours(ctx, x, rx == 1 ? 0 : axis_of(ctx, x, d - r));
        Output dx = ctx.make<op::Subtract>({xh, xl});
        if (rx == 1 && r > 1 && d != r - 1) {  // a 1-D x runs along dim: [n-1, 1, ..., 1]
            std::vector<int64_t> shape(r - d, 1);
            shape[0] = -1;
            dx = ctx.make<op::Reshape>({dx, ctx.i64(shape)}, true);
        }
        area = ctx.make<op::Multiply>({avg, dx});
    } else {
        const double dx = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_float(1) : 1.0;
        area = ctx.make<op::Multiply>({avg, scalar_like(ctx, y, dx)});
    }
    if (Cumulative) return {ctx.make<op::CumSum>({area, ctx.i64_scalar(d)}, false, false)};
    return {ctx.make<op::ReduceSum>({area, ctx.i64({d})}, false)};
}

// cov(x, *, correction=1, fweights=None, aweights=None) of variables in rows ([V, N] or [N]);
// corrcoef(x) = cov / (σ σᵀ), clipped to [-1, 1] as torch does.
Output covariance(NodeContext& ctx, Output x, double correction) {
    if (static_rank(ctx, x) == 1) x = ctx.make<op::Unsqueeze>({x, ctx.i64({0})});
    Output mean = ctx.make<op::ReduceMean>({x, ctx.i64({1})}, true);
    Output c = ctx.make<op::Subtract>({x, mean});
    Output n = to_type(ctx, dim_of(ctx, x, 1), x.type());
    Output denom = ctx.make<op::Subtract>({n, scalar_like(ctx, x, correction)});
    denom = ctx.make<op::Maximum>({denom, scalar_like(ctx, x, 0.0)});
    return ctx.make<op::Divide>({ctx.make<op::MatMul>({c, c}, false, true), denom}, false);
}

Outs cov(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    ctx.check(static_rank(ctx, x) <= 2, "cov takes a 1-D or 2-D tensor, got rank ", static_rank(ctx, x));
    ctx.check((ctx.num_inputs() < 3 || ctx.is_none(2)) && (ctx.num_inputs() < 4 || ctx.is_none(3)),
              "fweights and aweights are not supported yet");
    const double correction = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_float(1) : 1.0;
    Output c = covariance(ctx, x, correction);
    if (static_rank(ctx, x) == 1) c = ctx.make<op::Reshape>({c, ctx.i64({})}, false);
    return {c};
}

Outs corrcoef(NodeContext& ctx) {
    Output x = as_float(ctx, 0);
    ctx.check(static_rank(ctx, x) <= 2, "corrcoef takes a 1-D or 2-D tensor, got rank ", static_rank(ctx, x));
    Output c = covariance(ctx, x, 1.0);
    if (static_rank(ctx, x) == 1) return {ctx.make<op::Reshape>({ctx.make<op::Divide>({c, c}, false), ctx.i64({})}, false)};
    Output idx = ctx.make<op::Range>({ctx.i64_scalar(0), dim_of(ctx, c, 0), ctx.i64_scalar(1)}, Type::i64);
    Output on_diag = ctx.make<op::Equal>({ctx.make<op::Unsqueeze>({idx, ctx.i64({1})}), ctx.make<op::Unsqueeze>({idx, ctx.i64({0})})});
    Output var = ctx.make<op::ReduceSum>({ctx.make<op::Select>({on_diag, c, scalar_like(ctx, c, 0.0)}), ctx.i64({1})}, false);
    Output diag = ctx.make<op::Sqrt>({var});
    Output outer = ctx.make<op::Multiply>({ctx.make<op::Unsqueeze>({diag, ctx.i64({1})}), ctx.make<op::Unsqueeze>({diag, ctx.i64({0})})});
    Output r = ctx.make<op::Divide>({c, outer}, false);
    return {ctx.make<op::Clamp>({r}, -1.0, 1.0)};
}

template <bool Max>
Outs cum_extreme(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    if (static_rank(ctx, x) == 0) return {x, ctx.i64_scalar(0)};
    auto n = ctx.make_node<op::CumExtreme>({x, ctx.i64_scalar(d)}, Max);
    return {n->output(0), n->output(1)};
}

// diff(x, n=1, dim=-1, prepend=None, append=None)
Outs diff(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t n = ctx.num_inputs() > 1 ? ctx.const_int(1) : 1;
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : -1);
    OutputVector parts;
    if (ctx.num_inputs() > 3 && !ctx.is_none(3)) parts.push_back(to_type(ctx, ctx.input(3), x.type()));
    parts.push_back(x);
    if (ctx.num_inputs() > 4 && !ctx.is_none(4)) parts.push_back(to_type(ctx, ctx.input(4), x.type()));
    if (parts.size() > 1) x = ctx.make<op::Concat>(parts, d);
    for (int64_t k = 0; k < n; ++k) {
        auto [hi, lo] = neighbours(ctx, x, d);
        x = x.type() == Type::boolean ? ctx.make<op::LogicalXor>({hi, lo}) : ctx.make<op::Subtract>({hi, lo});
    }
    return {x};
}

// x.fill_diagonal_(v, wrap=False) of a matrix: the main diagonal; with wrap, a tall matrix's
// diagonal starts again every columns + 1 rows (flat positions k * (columns + 1)).
Outs fill_diagonal(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "needs a tensor of rank 2 or more");
    bool wrap = ctx.num_inputs() > 2 && ctx.const_bool(2);
    Output zero = ctx.i64_scalar(0), one = ctx.i64_scalar(1);
    if (r > 2) {
        // All dims equal (torch checks): the diagonal is every flat position k * (1 + n + ... + n^(r-1)).
        Output n = dim_of(ctx, x, 0), step = one, power = one;
        for (int64_t j = 1; j < r; ++j) {
            power = ctx.make<op::Multiply>({power, n});
            step = ctx.make<op::Add>({step, power});
        }
        Output shape = shape_of(ctx, x);
        Output count = ctx.make<op::ReduceProd>({shape, ctx.i64({0})}, false);
        Output flat = ctx.make<op::Reshape>({ctx.make<op::Range>({zero, count, one}, Type::i64), shape}, false);
        Output mask = ctx.make<op::Equal>({ctx.make<op::FloorMod>({flat, step}), zero});
        return {ctx.make<op::Select>({mask, to_type(ctx, ctx.input(1), x.type()), x})};
    }
    Output rows = ctx.make<op::Unsqueeze>({ctx.make<op::Range>({zero, dim_of(ctx, x, 0), one}, Type::i64), ctx.i64({1})});
    Output ncols = dim_of(ctx, x, 1);
    Output cols = ctx.make<op::Range>({zero, ncols, one}, Type::i64);
    Output mask;
    if (wrap) {
        Output flat = ctx.make<op::Add>({ctx.make<op::Multiply>({rows, ncols}), cols});
        mask = ctx.make<op::Equal>({ctx.make<op::FloorMod>({flat, ctx.make<op::Add>({ncols, one})}), zero});
    } else {
        mask = ctx.make<op::Equal>({rows, cols});
    }
    Output v = to_type(ctx, ctx.input(1), x.type());
    return {ctx.make<op::Select>({mask, v, x})};
}


// x.item(): the one element of x as a Python number (a 0-d tensor flagged scalar).
Outs item(NodeContext& ctx) {
    auto& v = ctx.value(0);
    if (v.kind == TValue::Kind::constant) return {v};
    Output x = ctx.input(0);
    TValue r(ctx.make<op::Reshape>({x, ctx.constant(Tensor(Type::i64, {0}))}, false));
    r.scalar = true;
    return {r};
}

// Scripting's implicit conversions of a 0-d tensor used as an int, a float or a number.
template <Type T>
Outs implicit(NodeContext& ctx) {
    auto& v = ctx.value(0);
    if (v.kind == TValue::Kind::constant) return {v};
    TValue r(to_type(ctx, ctx.input(0), T == Type::dynamic ? ctx.input(0).type() : T));
    r.scalar = true;
    return {r};
}

}  // namespace

void add_math_translators(TranslatorTable& t) {
    t["aten::erfc"] = t["aten::erfc_"] = in_f32<erfc>;
    t["aten::expm1"] = t["aten::expm1_"] = in_f32<expm1>;
    t["aten::log1p"] = t["aten::log1p_"] = in_f32<log1p>;
    t["aten::log2"] = t["aten::log2_"] = in_f32<log_base<2>>;
    t["aten::log10"] = t["aten::log10_"] = in_f32<log_base<10>>;
    t["aten::tan"] = t["aten::tan_"] = float_unary<op::Tan>;
    t["aten::asin"] = t["aten::asin_"] = float_unary<op::Asin>;
    t["aten::acos"] = t["aten::acos_"] = float_unary<op::Acos>;
    t["aten::atan"] = t["aten::atan_"] = float_unary<op::Atan>;
    t["aten::sinh"] = t["aten::sinh_"] = float_unary<op::Sinh>;
    t["aten::cosh"] = t["aten::cosh_"] = float_unary<op::Cosh>;
    t["aten::asinh"] = t["aten::asinh_"] = float_unary<op::Asinh>;
    t["aten::acosh"] = t["aten::acosh_"] = float_unary<op::Acosh>;
    t["aten::atanh"] = t["aten::atanh_"] = float_unary<op::Atanh>;
    t["aten::sin_"] = float_unary<op::Sin>;
    t["aten::cos_"] = float_unary<op::Cos>;
    t["aten::atan2"] = t["aten::atan2_"] = in_f32<atan2>;
    t["aten::round"] = t["aten::round_"] = in_f32<round>;
    t["aten::trunc"] = t["aten::trunc_"] = t["aten::fix"] = trunc;
    t["aten::frac"] = t["aten::frac_"] = in_f32<frac>;
    t["aten::fmod"] = t["aten::fmod_"] = fmod;
    t["aten::celu"] = t["aten::celu_"] = in_f32<celu>;
    t["aten::selu"] = t["aten::selu_"] = in_f32<selu>;
    t["aten::glu"] = in_f32<glu>;
    t["aten::log_sigmoid"] = in_f32<log_sigmoid>;
    t["aten::hardshrink"] = hardshrink;  // torch compares in the tensor's own type
    t["aten::softshrink"] = in_f32<softshrink>;
    t["aten::threshold"] = t["aten::threshold_"] = in_f32<threshold>;
    t["aten::logit"] = t["aten::logit_"] = in_f32<logit>;
    t["aten::xlogy"] = t["aten::xlogy_"] = in_f32<xlogy<false>>;
    t["aten::special_xlog1py"] = in_f32<xlogy<true>>;
    t["aten::addcmul"] = t["aten::addcmul_"] = in_f32<addc<false>>;
    t["aten::addcdiv"] = t["aten::addcdiv_"] = in_f32<addc<true>>;
    t["aten::lerp"] = t["aten::lerp_"] = in_f32<lerp>;
    t["aten::logsumexp"] = in_f32<logsumexp>;
    t["aten::logaddexp"] = in_f32<logaddexp<false>>;
    t["aten::copysign"] = t["aten::copysign_"] = in_f32<copysign>;
    t["aten::hypot"] = t["aten::hypot_"] = in_f32<hypot>;
    t["aten::logaddexp2"] = in_f32<logaddexp<true>>;
    t["aten::rad2deg"] = t["aten::rad2deg_"] = in_f32<angle_units<true>>;
    t["aten::deg2rad"] = t["aten::deg2rad_"] = in_f32<angle_units<false>>;
    t["aten::signbit"] = signbit;
    t["aten::sgn"] = t["aten::sgn_"] = [](NodeContext& c) -> Outs { return {c.make<op::Sign>({c.input(0)})}; };
    t["aten::float_power"] = float_power;
    t["aten::heaviside"] = t["aten::heaviside_"] = heaviside;
    t["aten::ldexp"] = t["aten::ldexp_"] = in_f32<ldexp>;
    t["aten::trapezoid"] = t["aten::trapz"] = in_f32<trapezoid<false>>;
    t["aten::cumulative_trapezoid"] = in_f32<trapezoid<true>>;
    t["aten::cov"] = in_f32<cov>;
    t["aten::corrcoef"] = in_f32<corrcoef>;
    t["aten::isnan"] = classify<op::IsNaN>;
    t["aten::isinf"] = classify<op::IsInf>;
    t["aten::isfinite"] = classify<op::IsFinite>;
    t["aten::isposinf"] = is_signed_inf<true>;
    t["aten::isneginf"] = is_signed_inf<false>;
    t["aten::nan_to_num"] = t["aten::nan_to_num_"] = nan_to_num;
    t["aten::__and__"] = t["aten::bitwise_and"] = t["aten::__iand__"] = t["aten::bitwise_and_"] = bitwise<op::BitwiseAnd>;
    t["aten::__or__"] = t["aten::bitwise_or"] = t["aten::__ior__"] = t["aten::bitwise_or_"] = bitwise<op::BitwiseOr>;
    t["aten::__xor__"] = t["aten::bitwise_xor"] = t["aten::__ixor__"] = t["aten::bitwise_xor_"] = bitwise<op::BitwiseXor>;
    t["aten::__lshift__"] = t["aten::bitwise_left_shift"] = t["aten::__ilshift__"] = t["aten::bitwise_left_shift_"] =
        bitwise<op::BitwiseLeftShift>;
    t["aten::__rshift__"] = t["aten::bitwise_right_shift"] = t["aten::__irshift__"] = t["aten::bitwise_right_shift_"] =
        bitwise<op::BitwiseRightShift>;
    t["aten::bitwise_not"] = t["aten::bitwise_not_"] = bitwise_not;
    t["aten::gcd"] = t["aten::gcd_"] = gcd_lcm<op::Gcd>;
    t["aten::lcm"] = t["aten::lcm_"] = gcd_lcm<op::Lcm>;
    t["aten::cumprod"] = t["aten::cumprod_"] = cumprod;
    t["aten::cummax"] = cum_extreme<true>;
    t["aten::cummin"] = cum_extreme<false>;
    t["aten::diff"] = diff;
    t["aten::fill_diagonal_"] = fill_diagonal;
    t["aten::item"] = t["aten::_local_scalar_dense"] = item;
    t["aten::IntImplicit"] = implicit<Type::i64>;
    t["aten::FloatImplicit"] = implicit<Type::f32>;
    t["aten::ScalarImplicit"] = implicit<Type::dynamic>;
    for (const char* k : {"aten::alias", "aten::positive", "aten::resolve_conj", "aten::resolve_neg"})
        t[k] = identity;
}

}  // namespace kiln::frontend::pytorch
