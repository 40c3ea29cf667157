#include "kiln/ops/special.hpp"

#include "kiln/ops/elementwise_binary.hpp"

#include <cmath>
#include <limits>

namespace kiln::op {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrtPi = 1.77245385090551602730;
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_nonpositive_integer(double x) { return x <= 0 && x == std::floor(x); }

double lgamma_value(double x) {
    int sign = 0;
    return ::lgamma_r(x, &sign);  // the reentrant form: std::lgamma writes the global signgam
}

double digamma_value(double x) {
    if (std::isnan(x) || x == kInf) return x;
    if (x == -kInf) return kNaN;
    if (x == 0) return std::signbit(x) ? kInf : -kInf;  // the pole at 0, approached from x's side (as torch)
    if (is_nonpositive_integer(x)) return kNaN;
    double acc = 0;
    if (x < 0) {
        // reflection: ψ(x) = ψ(1 - x) - π / tan(πx), the tangent of the fraction only
        const double r = x - std::floor(x);
        acc = -kPi / std::tan(kPi * r);
        x = 1 - x;
    }
    for (; x < 20; x += 1) acc -= 1 / x;
    // ψ(x) ~ ln x - 1/(2x) - Σ B_2k / (2k x^2k); at x >= 20 the first dropped term is < 1e-17
    const double z = 1 / (x * x);
    const double series = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132)))));
    return acc + std::log(x) - 0.5 / x - series;
}

// Hurwitz ζ(s, x) = Σ_k (x + k)^-s for s > 1 and x not a pole (x <= 0 only for an integer s):
// the first terms summed, then Euler–Maclaurin from a = x + N with N making a >= 15 + s.
double hurwitz_zeta(double s, double x) {
    double sum = 0;
    double a = x;
    for (; a < 15 + s; a += 1) sum += std::pow(a, -s);
    static constexpr double kB[] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6};
    sum += std::pow(a, 1 - s) / (s - 1) + 0.5 * std::pow(a, -s);
    double rising = s;          // s (s + 1) ... (s + 2j - 2)
    double fact = 2;            // (2j)!
    double power = std::pow(a, -s - 1);
    for (int j = 1; j <= 7; ++j) {
        const double term = kB[j - 1] / fact * rising * power;
        sum += term;
        if (std::fabs(term) < 1e-17 * std::fabs(sum)) break;
        rising *= (s + 2 * j - 1) * (s + 2 * j);
        fact *= (2 * j + 1) * (2 * j + 2);
        power /= a * a;
    }
    return sum;
}

double polygamma_value(int64_t n, double x) {
    if (n == 0) return digamma_value(x);
    const double sign = (n % 2 == 1) ? 1.0 : -1.0;  // (-1)^(n+1)
    if (std::isnan(x) || x == -kInf) return kNaN;
    if (x == kInf) return 0.0 * sign;
    if (is_nonpositive_integer(x)) return sign * kInf;  // torch: +inf for odd n, -inf for even
    return sign * std::tgamma(static_cast<double>(n) + 1) * hurwitz_zeta(static_cast<double>(n) + 1, x);
}

// torch's (Cephes') ζ(x, q): +inf at x == 1 and at non-positive integer q, NaN for x < 1, for
// q < 0 with a non-integer x and for q = inf.
double zeta_value(double x, double q) {
    if (std::isnan(x) || std::isnan(q)) return kNaN;
    if (x == 1) return kInf;
    if (x < 1) return kNaN;
    if (q <= 0) {
        if (q == std::floor(q)) return kInf;
        if (x != std::floor(x)) return kNaN;
    }
    if (x == kInf) return q == 1 ? 1.0 : (q > 1 ? 0.0 : kNaN);
    if (q == kInf) return kNaN;  // torch's value (the limit is 0)
    return hurwitz_zeta(x, q);
}

// The regularized incomplete gamma functions: the series of P where x < a + 1, the continued
// fraction of Q (modified Lentz) elsewhere, each with its prefactor e^{-x} x^a / Γ(a) in logs.
// Returns P (lower) or Q.
double incomplete_gamma(double a, double x, bool lower) {
    if (std::isnan(a) || std::isnan(x) || a < 0 || x < 0) return kNaN;
    if (a == 0) {
        if (x > 0) return lower ? 1.0 : 0.0;
        return kNaN;
    }
    if (x == 0) return lower ? 0.0 : 1.0;
    if (std::isinf(a)) return std::isinf(x) ? kNaN : (lower ? 0.0 : 1.0);
    if (std::isinf(x)) return lower ? 1.0 : 0.0;
    const double log_prefix = a * std::log(x) - x - lgamma_value(a);
    if (x < a + 1) {
        double term = 1 / a, sum = term;
        for (int n = 1; n < 100000; ++n) {
            term *= x / (a + n);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        const double p = std::exp(log_prefix) * sum;
        return lower ? p : 1 - p;
    }
    constexpr double kTiny = 1e-300;
    double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; ++i) {
        const double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (std::fabs(d) < kTiny) d = kTiny;
        c = b + an / c;
        if (std::fabs(c) < kTiny) c = kTiny;
        d = 1 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1) < 1e-16) break;
    }
    const double q = std::exp(log_prefix) * h;
    return lower ? 1 - q : q;
}

double erfcx_value(double x) {
    if (std::isnan(x)) return x;
    if (x < 0) {
        if (x < -26.7) return kInf;
        return 2 * std::exp(x * x) - erfcx_value(-x);
    }
    if (x < 25) return std::exp(x * x) * std::erfc(x);
    if (x == kInf) return 0;
    // 1/(x√π) (1 - 1/(2x²) + 3/(4x⁴) - 15/(8x⁶) + 105/(16x⁸)): below 3e-11 relative from x = 25
    const double z = 1 / (x * x);
    return (1 - z * (0.5 - z * (0.75 - z * (1.875 - z * 6.5625)))) / (x * kSqrtPi);
}

// erfc⁻¹(q) for q in (0, 1]: Newton on ln erfc(y) = ln q, written with erfcx so that it stays exact
// where erfc(y) underflows.
double erfcinv_value(double q) {
    double y;
    if (q >= 0.5) {
        y = (1 - q) * kSqrtPi / 2;
    } else {
        const double t = std::sqrt(-std::log(q));
        const double inner = t * t - std::log(t * kSqrtPi);
        y = inner > 0 ? std::sqrt(inner) : t;
    }
    const double lq = std::log(q);
    for (int i = 0; i < 60; ++i) {
        const double ex = erfcx_value(y);
        const double g = std::log(ex) - y * y - lq;
        const double step = g / (-2 / kSqrtPi / ex);
        y -= step;
        if (std::fabs(step) <= 1e-16 * std::fabs(y)) break;
    }
    return y;
}

// erf⁻¹(x) for |x| <= 0.5: Newton on erf itself (relative accuracy near 0).
double erfinv_central(double x) {
    double y = x * kSqrtPi / 2 * (1 + kPi / 12 * x * x);
    for (int i = 0; i < 20; ++i) {
        const double step = (std::erf(y) - x) / (2 / kSqrtPi * std::exp(-y * y));
        y -= step;
        if (std::fabs(step) <= 1e-17 * std::fabs(y)) break;
    }
    return y;
}

double erfinv_value(double x) {
    if (std::isnan(x) || std::fabs(x) > 1) return kNaN;
    if (std::fabs(x) == 1) return std::copysign(kInf, x);
    if (x == 0) return x;
    if (std::fabs(x) <= 0.5) return erfinv_central(x);
    return std::copysign(erfcinv_value(1 - std::fabs(x)), x);
}

double ndtri_value(double p) {
    if (std::isnan(p) || p < 0 || p > 1) return kNaN;
    if (p == 0) return -kInf;
    if (p == 1) return kInf;
    if (p >= 0.25 && p <= 0.75) return kSqrt2 * erfinv_central(2 * p - 1);  // 2p - 1 exact here
    if (p < 0.5) return -kSqrt2 * erfcinv_value(2 * p);
    return kSqrt2 * erfcinv_value(2 * (1 - p));
}

double log_ndtr_value(double x) {
    if (std::isnan(x)) return x;
    if (x > 0) return std::log1p(-0.5 * std::erfc(x / kSqrt2));
    return std::log(0.5 * erfcx_value(-x / kSqrt2)) - 0.5 * x * x;
}

// I_ν(x) for 0 < x <= 30 by its power series (terms all positive: no cancellation).
double bessel_i_series(int nu, double x) {
    double term = nu == 0 ? 1.0 : x / 2;
    double sum = term;
    const double q = x * x / 4;
    for (int k = 1; k < 500; ++k) {
        term *= q / (k * (k + nu));
        sum += term;
        if (term < 1e-17 * sum) break;
    }
    return sum;
}

// e^{-x} I_ν(x) for x > 0: the power series up to 30, the asymptotic series beyond.
double scaled_bessel_i(int nu, double x) {
    if (x == kInf) return 0;
    if (x <= 30) return bessel_i_series(nu, x) * std::exp(-x);
    const double mu = 4.0 * nu * nu;
    double term = 1, sum = 1;
    for (int k = 1; k < 100; ++k) {
        const double next = -term * (mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * x);
        if (std::fabs(next) >= std::fabs(term)) break;
        term = next;
        sum += term;
        if (std::fabs(term) < 1e-17 * std::fabs(sum)) break;
    }
    return sum / std::sqrt(2 * kPi * x);
}

// e^{x} K_ν(x) for x > 0: the library's K up to 100, the asymptotic series beyond (where K underflows).
double scaled_bessel_k(int nu, double x) {
    if (x == kInf) return 0;
    if (x <= 100) return std::exp(x) * std::cyl_bessel_k(static_cast<double>(nu), x);
    const double mu = 4.0 * nu * nu;
    double term = 1, sum = 1;
    for (int k = 1; k < 100; ++k) {
        const double next = term * (mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * x);
        if (std::fabs(next) >= std::fabs(term)) break;
        term = next;
        sum += term;
        if (std::fabs(term) < 1e-17 * std::fabs(sum)) break;
    }
    return sum * std::sqrt(kPi / (2 * x));
}

double bessel_i(int nu, double x, bool scaled) {
    if (std::isnan(x)) return x;
    if (std::isinf(x)) return scaled ? (nu == 1 && x < 0 ? -0.0 : 0.0) : kNaN;  // torch's values at ±inf
    if (x == 0) return nu == 0 ? 1.0 : x;
    const double ax = std::fabs(x);
    double v;
    if (scaled) v = scaled_bessel_i(nu, ax);
    else if (ax <= 30) v = bessel_i_series(nu, ax);
    else v = std::exp(ax / 2) * scaled_bessel_i(nu, ax) * std::exp(ax / 2);  // finite up to x ≈ 713
    return nu == 1 && x < 0 ? -v : v;  // I_0 even, I_1 odd
}

double bessel_j(int nu, double x) {
    if (std::isnan(x) || std::isinf(x)) return kNaN;  // torch's value at ±inf (the limit is 0)
    const double v = std::cyl_bessel_j(static_cast<double>(nu), std::fabs(x));
    return nu == 1 && x < 0 ? -v : v;
}

double bessel_y(int nu, double x) {
    if (std::isnan(x) || x < 0) return kNaN;
    if (x == 0) return -kInf;
    if (x == kInf) return kNaN;  // torch's value (the limit is 0)
    return std::cyl_neumann(static_cast<double>(nu), x);
}

double bessel_k(int nu, double x, bool scaled) {
    if (std::isnan(x) || x < 0) return kNaN;
    if (x == 0) return kInf;
    if (x == kInf) return 0;
    return scaled ? scaled_bessel_k(nu, x) : std::cyl_bessel_k(static_cast<double>(nu), x);
}

}  // namespace

size_t special_arity(SpecialKind kind) {
    return kind == SpecialKind::igamma || kind == SpecialKind::igammac || kind == SpecialKind::zeta ? 2 : 1;
}

double special_value(SpecialKind kind, double x, int64_t order, double y) {
    switch (kind) {
        case SpecialKind::igamma: return incomplete_gamma(x, y, true);
        case SpecialKind::igammac: return incomplete_gamma(x, y, false);
        case SpecialKind::zeta: return zeta_value(x, y);
        case SpecialKind::lgamma: return lgamma_value(x);
        case SpecialKind::digamma: return digamma_value(x);
        case SpecialKind::polygamma: return polygamma_value(order, x);
        case SpecialKind::erfinv: return erfinv_value(x);
        case SpecialKind::ndtri: return ndtri_value(x);
        case SpecialKind::ndtr:
            if (std::isnan(x)) return x;
            return x < 0 ? 0.5 * std::erfc(-x / kSqrt2) : 1 - 0.5 * std::erfc(x / kSqrt2);
        case SpecialKind::log_ndtr: return log_ndtr_value(x);
        case SpecialKind::erfcx: return erfcx_value(x);
        case SpecialKind::i0:
        case SpecialKind::modified_bessel_i0: return bessel_i(0, x, false);
        case SpecialKind::i0e: return bessel_i(0, x, true);
        case SpecialKind::i1:
        case SpecialKind::modified_bessel_i1: return bessel_i(1, x, false);
        case SpecialKind::i1e: return bessel_i(1, x, true);
        case SpecialKind::bessel_j0: return bessel_j(0, x);
        case SpecialKind::bessel_j1: return bessel_j(1, x);
        case SpecialKind::bessel_y0: return bessel_y(0, x);
        case SpecialKind::bessel_y1: return bessel_y(1, x);
        case SpecialKind::modified_bessel_k0: return bessel_k(0, x, false);
        case SpecialKind::modified_bessel_k1: return bessel_k(1, x, false);
        case SpecialKind::scaled_modified_bessel_k0: return bessel_k(0, x, true);
        case SpecialKind::scaled_modified_bessel_k1: return bessel_k(1, x, true);
        case SpecialKind::spherical_bessel_j0:
            if (std::isinf(x)) return 0;
            return x == 0 ? 1.0 : std::sin(x) / x;
    }
    return kNaN;
}

void SpecialFunction::visit_attributes(AttributeVisitor& v) {
    using K = SpecialKind;
    visit_enum(v, "function", function,
               {{K::lgamma, "lgamma"}, {K::digamma, "digamma"}, {K::polygamma, "polygamma"}, {K::erfinv, "erfinv"},
                {K::ndtri, "ndtri"}, {K::ndtr, "ndtr"}, {K::log_ndtr, "log_ndtr"}, {K::erfcx, "erfcx"}, {K::i0, "i0"}, {K::i0e, "i0e"},
                {K::i1, "i1"}, {K::i1e, "i1e"}, {K::bessel_j0, "bessel_j0"}, {K::bessel_j1, "bessel_j1"},
                {K::bessel_y0, "bessel_y0"}, {K::bessel_y1, "bessel_y1"},
                {K::modified_bessel_i0, "modified_bessel_i0"}, {K::modified_bessel_i1, "modified_bessel_i1"},
                {K::modified_bessel_k0, "modified_bessel_k0"}, {K::modified_bessel_k1, "modified_bessel_k1"},
                {K::scaled_modified_bessel_k0, "scaled_modified_bessel_k0"},
                {K::scaled_modified_bessel_k1, "scaled_modified_bessel_k1"},
                {K::spherical_bessel_j0, "spherical_bessel_j0"}, {K::igamma, "igamma"}, {K::igammac, "igammac"},
                {K::zeta, "zeta"}});
    v.on("order", order);
}

void SpecialFunction::infer(InferContext& ctx) const {
    const size_t arity = special_arity(function);
    ctx.check_inputs(arity);
    const Type t = ctx.input_type(0);
    if (t != Type::dynamic && !is_float(t)) ctx.fail("takes floating point data, got ", kiln::type_name(t));
    if (arity == 2 && t != Type::dynamic && ctx.input_type(1) != Type::dynamic && ctx.input_type(1) != t)
        ctx.fail("both inputs must have one element type, got ", kiln::type_name(t), " and ",
                 kiln::type_name(ctx.input_type(1)));
    if (function == SpecialKind::polygamma) {
        if (order < 1) ctx.fail("polygamma's order must be >= 1 (order 0 is digamma), got ", order);
    } else if (order != 0) {
        ctx.fail("order is polygamma's attribute only, got ", order);
    }
    const Type out = t == Type::dynamic && arity == 2 ? ctx.input_type(1) : t;
    ctx.set_output(0, out, arity == 2 ? broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1), ctx)
                                      : ctx.input_shape(0));
}

void SpecialFunction::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const int64_t n = out[0].size();
    auto run = [&](auto zero) {
        using T = decltype(zero);
        T* y = out[0].data<T>();
        const T* a = in[0].data<T>();
        if (in.size() == 1) {
            for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(special_value(function, static_cast<double>(a[i]), order));
            return;
        }
        const T* b = in[1].data<T>();
        BroadcastWalker w(out[0].shape(), {in[0].shape(), in[1].shape()});
        for (int64_t i = 0; i < n; ++i, w.next())
            y[i] = static_cast<T>(special_value(function, static_cast<double>(a[w.offset(0)]), order,
                                                static_cast<double>(b[w.offset(1)])));
    };
    if (in[0].type() == Type::f64) run(double{});
    else if (in[0].type() == Type::f32) run(float{});
    else throw ValueError(str_cat("SpecialFunction: f32 or f64 data expected, got ", kiln::type_name(in[0].type())));
}

}  // namespace kiln::op
