// Helpers shared by the C++ unit tests.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "kiln/core/error.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln::test {

// Runs f, which must throw a kiln::Error whose message contains `part`.
template <typename F>
void expect_error(F&& f, const std::string& part) {
    try {
        f();
        ADD_FAILURE() << "expected an error containing: " << part;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

// An f32 tensor of this shape, uniform in [lo, hi), the same for the same seed.
inline Tensor random_tensor(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    Tensor t(Type::f32, std::move(s));
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = d(g);
    return t;
}

// Same shape and every element within tol + tol * |b| of b's.
inline ::testing::AssertionResult close(const Tensor& a, const Tensor& b, double tol = 1e-4) {
    if (a.shape() != b.shape())
        return ::testing::AssertionFailure() << "shapes " << to_string(a.shape()) << " vs " << to_string(b.shape());
    auto x = a.as_f64_vector(), y = b.as_f64_vector();
    for (size_t i = 0; i < x.size(); ++i)
        if (!(std::fabs(x[i] - y[i]) <= tol + tol * std::fabs(y[i])))
            return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
    return ::testing::AssertionSuccess();
}

}  // namespace kiln::test
