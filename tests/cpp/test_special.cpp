// kiln's SpecialFunction op (ops/special.hpp) and the LogCumSumExp scan: shapes, broadcasting,
// errors, and values at points with closed forms.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/core/model.hpp"
#include "kiln/ops/scan.hpp"
#include "kiln/ops/special.hpp"
#include "test_util.hpp"

using namespace kiln;
using op::SpecialKind;
using test::expect_error;

namespace {

std::shared_ptr<op::Parameter> param(PartialShape s, Type t = Type::f32) {
    return make<op::Parameter>({}, t, std::move(s));
}

constexpr double kPi = 3.14159265358979323846;
constexpr double kEuler = 0.57721566490153286061;

}  // namespace

TEST(Special, ShapesAndErrors) {
    auto u = make<op::SpecialFunction>({param({2, Dimension(), 3})->output(0)}, SpecialKind::digamma, int64_t{0});
    EXPECT_EQ(u->output_shape(0).to_string(), "[2,?,3]");
    EXPECT_STREQ(u->opset(), "kiln");
    auto b = make<op::SpecialFunction>({param({4, 1})->output(0), param({3})->output(0)}, SpecialKind::igamma, int64_t{0});
    EXPECT_EQ(b->output_shape(0).to_string(), "[4,3]");
    expect_error([] { make<op::SpecialFunction>({param({3}, Type::i64)->output(0)}, SpecialKind::lgamma, int64_t{0}); },
                 "floating point");
    expect_error([] { make<op::SpecialFunction>({param({3})->output(0)}, SpecialKind::polygamma, int64_t{0}); },
                 "order must be >= 1");
    expect_error([] { make<op::SpecialFunction>({param({3})->output(0)}, SpecialKind::zeta, int64_t{0}); }, "2 input");
    expect_error([] { make<op::LogCumSumExp>({param({3}, Type::i32)->output(0), param({}, Type::i64)->output(0)}); },
                 "f32 or f64");
}

TEST(Special, ClosedForms) {
    auto v = [](SpecialKind k, double x, int64_t order = 0, double y = 0) { return op::special_value(k, x, order, y); };
    EXPECT_NEAR(v(SpecialKind::lgamma, 0.5), 0.5 * std::log(kPi), 1e-15);
    EXPECT_NEAR(v(SpecialKind::digamma, 1.0), -kEuler, 2e-15);
    EXPECT_NEAR(v(SpecialKind::digamma, 0.5), -kEuler - 2 * std::log(2.0), 1e-14);
    EXPECT_NEAR(v(SpecialKind::digamma, -0.5), -kEuler - 2 * std::log(2.0) + 2, 1e-13);  // ψ(x+1) = ψ(x) + 1/x
    EXPECT_NEAR(v(SpecialKind::polygamma, 1.0, 1), kPi * kPi / 6, 1e-14);                 // ψ'(1) = ζ(2)
    EXPECT_NEAR(v(SpecialKind::polygamma, 1.0, 2), -2 * 1.2020569031595942854, 1e-13);    // ψ''(1) = -2 ζ(3)
    EXPECT_NEAR(v(SpecialKind::zeta, 2.0, 0, 1.0), kPi * kPi / 6, 1e-14);
    EXPECT_NEAR(v(SpecialKind::zeta, 4.0, 0, 1.0), std::pow(kPi, 4) / 90, 1e-14);
    EXPECT_NEAR(v(SpecialKind::igamma, 1.0, 0, 2.5), 1 - std::exp(-2.5), 1e-15);           // P(1, x) = 1 - e^-x
    EXPECT_NEAR(v(SpecialKind::igammac, 1.0, 0, 30.0), std::exp(-30.0), 1e-25);
    EXPECT_NEAR(v(SpecialKind::igamma, 0.5, 0, 2.0), std::erf(std::sqrt(2.0)), 1e-14);    // P(1/2, x) = erf(√x)
    for (double x : {-0.99, -0.5, -1e-9, 0.3, 0.7, 0.999999})
        EXPECT_NEAR(std::erf(v(SpecialKind::erfinv, x)), x, 1e-15) << x;
    for (double p : {1e-300, 1e-20, 0.01, 0.3, 0.5, 0.8, 0.999})
        EXPECT_NEAR(0.5 * std::erfc(-v(SpecialKind::ndtri, p) / std::sqrt(2.0)) / p, 1.0, 1e-12) << p;
    EXPECT_NEAR(v(SpecialKind::log_ndtr, -40.0), -800 - std::log(40.0) - 0.5 * std::log(2 * kPi) - 1.0 / 1600, 1e-5);
    EXPECT_NEAR(v(SpecialKind::erfcx, 30.0) * 30.0 * std::sqrt(kPi), 1 - 1.0 / 1800, 1e-6);
    EXPECT_NEAR(v(SpecialKind::i0, 1.0), 1.2660658777520082, 1e-15);
    EXPECT_NEAR(v(SpecialKind::i1, -1.0), -0.5651591039924851, 1e-15);
    EXPECT_NEAR(v(SpecialKind::i0e, 50.0), 1 / std::sqrt(2 * kPi * 50) * (1 + 1.0 / 400 + 9.0 / 320000 + 225.0 / 3072 / 125000), 2e-9);
    EXPECT_NEAR(v(SpecialKind::spherical_bessel_j0, 0.0), 1.0, 0);
    EXPECT_TRUE(std::isinf(v(SpecialKind::lgamma, -2.0)));
    EXPECT_TRUE(std::isnan(v(SpecialKind::digamma, -2.0)));
    EXPECT_EQ(v(SpecialKind::digamma, 0.0), -std::numeric_limits<double>::infinity());
    EXPECT_EQ(v(SpecialKind::erfinv, 1.0), std::numeric_limits<double>::infinity());
    EXPECT_TRUE(std::isnan(v(SpecialKind::erfinv, 1.5)));
}

TEST(Special, LogCumSumExpStaysExactFarBelowTheMax) {
    auto x = make<op::Constant>({}, Tensor::from_vector<double>({-1000, 0, -2000, 5}, {4}));
    auto axis = make<op::Constant>({}, Tensor::scalar<int64_t>(0));
    auto n = make<op::LogCumSumExp>({x->output(0), axis->output(0)});
    std::vector<Tensor> out{Tensor(Type::f64, {4})};
    n->evaluate({*x->constant_value(), *axis->constant_value()}, out);
    auto y = out[0].as_f64_vector();
    EXPECT_DOUBLE_EQ(y[0], -1000);
    EXPECT_NEAR(y[1], 0, 1e-300);
    EXPECT_NEAR(y[2], 0, 1e-300);
    EXPECT_NEAR(y[3], 5 + std::log1p(std::exp(-5.0)), 1e-15);
}
