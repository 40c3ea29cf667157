// Tests of the CPU execution plan (cpp/kiln/runtime/cpu/plan.cpp): links every kernel family.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/core/model.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/plan.hpp"

using namespace kiln;
using op::PadType;
using V = std::vector<int64_t>;

namespace {

Tensor random_tensor(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    Tensor t(Type::f32, std::move(s));
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = d(g);
    return t;
}

std::shared_ptr<op::Parameter> param(PartialShape s) { return make<op::Parameter>({}, Type::f32, std::move(s)); }

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }

::testing::AssertionResult close(const Tensor& a, const Tensor& b, double tol) {
    if (a.shape() != b.shape())
        return ::testing::AssertionFailure() << "shapes " << to_string(a.shape()) << " vs " << to_string(b.shape());
    auto x = a.as_f64_vector(), y = b.as_f64_vector();
    for (size_t i = 0; i < x.size(); ++i)
        if (!(std::fabs(x[i] - y[i]) <= tol + tol * std::fabs(y[i])))
            return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
    return ::testing::AssertionSuccess();
}

}  // namespace

// Regression: Plan::build handed kernel factories pointers to constant slots and then pushed the
// node's output slots, which can reallocate the slot vector; the conv factory then packed
// weights through dangling pointers (an AlexNet prefix segfaulted inside oneDNN's reorder).
// Every conv here has its weights slot pushed just before its output slot, so the slot vector
// grows (and reallocates) between the two several times. Run under ASAN to see the old bug
// deterministically; without it the wrong or crashing weights show up as a mismatch or crash.
TEST(Plan, ConvChainWeightsSurviveSlotReallocation) {
    auto x = param({1, 8, 6, 6});
    Output h = x->output(0);
    for (int i = 0; i < 12; ++i) {
        auto w = cst(random_tensor({8, 8, 3, 3}, 100 + i, -0.3f, 0.3f));
        h = make<op::Convolution>({h, w}, V{1, 1}, V{1, 1}, V{1, 1}, V{1, 1}, PadType::explicit_pad)
                ->output(0);
    }
    Model m({make<op::Result>({h})}, {x});
    auto in = random_tensor({1, 8, 6, 6}, 9);
    auto run = [&](bool reference) {
        cpu::set_reference_only(reference);
        auto plan = cpu::Plan::build(m, {Shape{1, 8, 6, 6}});
        cpu::set_reference_only(false);
        std::vector<char> arena(plan->arena_bytes() + 64);
        std::vector<Tensor> out;
        plan->run({in}, out, arena.data());
        return std::make_pair(plan, out);
    };
    auto [fast_plan, fast] = run(false);
    auto [ref_plan, ref] = run(true);
    size_t onednn = 0;
    for (auto& s : fast_plan->kernel_summary()) onednn += s[2] == "onednn_conv";
    EXPECT_EQ(onednn, 12u);
    ASSERT_EQ(fast.size(), 1u);
    EXPECT_TRUE(close(fast[0], ref[0], 1e-3));
}
