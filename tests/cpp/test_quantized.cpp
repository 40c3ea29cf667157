// FakeQuantize: shape inference and errors, attributes, the reference kernel against the
// formula by hand (levels, per-channel ranges, degenerate ranges, values outside the range,
// inverted ranges), torch's quantize/dequantize spelled as FakeQuantize, and the fast kernel
// against the reference over awkward shapes (scalar and per-channel ranges, tails), both paths.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <random>

#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/runtime/cpu/kernels/fake_quantize.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }

Output scalar(Type t = Type::f32) { return param(PartialShape(std::vector<Dimension>{}), t); }

using kiln::test::expect_error;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

std::shared_ptr<FakeQuantize> fq_over(const std::vector<Tensor>& in, int64_t levels) {
    OutputVector ps;
    for (auto& t : in) ps.push_back(param(PartialShape(t.shape()), t.type()));
    return make<FakeQuantize>(ps, levels);
}

std::vector<float> run(const std::vector<Tensor>& in, int64_t levels) {
    auto n = fq_over(in, levels);
    std::vector<Tensor> out{Tensor(Type::f32, n->output_shape(0).to_shape())};
    n->evaluate(in, out);
    return std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].size());
}

}  // namespace

TEST(FakeQuantize, Shapes) {
    auto n = make<FakeQuantize>({param({Dimension(), 3, 4, 4}), param({1, 3, 1, 1}), param({1, 3, 1, 1}), scalar(),
                                 scalar()},
                                256);
    EXPECT_EQ(n->output_shape(0).to_string(), "[?,3,4,4]");
    expect_error([] { make<FakeQuantize>({param({2, 3}), param({4}), scalar(), scalar(), scalar()}, 256); },
                 "FakeQuantize");
    expect_error([] { make<FakeQuantize>({param({2, 3}), scalar(), scalar(), scalar(), scalar()}, 1); },
                 "levels must be at least 2");
    expect_error([] { make<FakeQuantize>({param({2}, Type::i32), scalar(Type::i32), scalar(Type::i32),
                                          scalar(Type::i32), scalar(Type::i32)},
                                         256); },
                 "must be of a floating type");
}

TEST(FakeQuantize, Attributes) {
    auto a = std::make_shared<FakeQuantize>(255), b = std::make_shared<FakeQuantize>(256);
    EXPECT_FALSE(same_attributes(*a, *b));
    b->levels = 255;
    EXPECT_TRUE(same_attributes(*a, *b));
}

TEST(FakeQuantize, FormulaByHand) {
    // levels 5 on [0, 1] -> {0, .25, .5, .75, 1}; output range [-2, 2] -> {-2, -1, 0, 1, 2}.
    auto y = run({f32({-1, 0, 0.1f, 0.13f, 0.375f, 0.5f, 0.625f, 0.9f, 1, 7}, {10}), f32({0}, {}), f32({1}, {}),
                  f32({-2}, {}), f32({2}, {})},
                 5);
    // 0.375 * 4 = 1.5 -> 2 (ties to even); 0.625 * 4 = 2.5 -> 2.
    EXPECT_EQ(y, (std::vector<float>{-2, -2, -2, -1, 0, 0, 0, 2, 2, 2}));
    // Degenerate range il == ih == 0.5: ol up to 0.5, oh above.
    auto d = run({f32({0.2f, 0.5f, 0.6f}, {3}), f32({0.5f}, {}), f32({0.5f}, {}), f32({-1}, {}), f32({3}, {})}, 256);
    EXPECT_EQ(d, (std::vector<float>{-1, -1, 3}));
    // Per-channel ranges [1, 2, 1]: channel 0 [0, 1], channel 1 [0, 10], levels 3.
    auto pc = run({f32({0.3f, 0.8f, 3, 8}, {1, 2, 2}), f32({0, 0}, {1, 2, 1}), f32({1, 10}, {1, 2, 1}),
                   f32({0, 0}, {1, 2, 1}), f32({1, 10}, {1, 2, 1})},
                  3);
    EXPECT_EQ(pc, (std::vector<float>{0.5f, 1, 5, 10}));
}

TEST(FakeQuantize, TorchQuantizeDequantize) {
    // quint8, scale 0.1, zero point 3: q = clamp(round(x / 0.1) + 3, 0, 255), x' = (q - 3) * 0.1.
    const float s = 0.1f;
    const int zp = 3;
    std::vector<float> x{-1.f, -0.31f, -0.2f, 0.04f, 0.16f, 5.55f, 25.2f, 40.f};
    auto y = run({f32(x, {8}), f32({(0 - zp) * s}, {}), f32({(255 - zp) * s}, {}), f32({(0 - zp) * s}, {}),
                  f32({(255 - zp) * s}, {})},
                 256);
    for (size_t i = 0; i < x.size(); ++i) {
        const float q = std::min(255.f, std::max(0.f, std::nearbyint(x[i] / s) + zp));
        EXPECT_NEAR(y[i], (q - zp) * s, 1e-5) << x[i];
    }
}

TEST(FakeQuantize, FastKernelMatchesReference) {
    std::mt19937 g(11);
    std::uniform_real_distribution<float> u(-3, 3);
    struct Case {
        Shape x;
        std::vector<Shape> ranges;
        int64_t levels;
    };
    const std::vector<Case> cases = {
        {{2, 3, 5, 7}, {{}, {}, {}, {}}, 256},
        {{2, 3, 5, 7}, {{1, 3, 1, 1}, {1, 3, 1, 1}, {1, 3, 1, 1}, {1, 3, 1, 1}}, 256},
        {{4, 6, 3}, {{6, 1}, {6, 1}, {}, {1}}, 255},
        {{17}, {{17}, {17}, {17}, {17}}, 16},
        {{1}, {{}, {}, {}, {}}, 2},
        {{0, 3}, {{}, {}, {}, {}}, 256},
        {{3, 33}, {{3, 1}, {}, {3, 1}, {}}, 7},
    };
    for (auto& c : cases) {
        auto rnd = [&](Shape s, float shift) {
            Tensor t(Type::f32, s);
            for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = u(g) + shift;
            return t;
        };
        // Low ranges below zero, high above, one input range inverted where it is per element.
        std::vector<Tensor> in{rnd(c.x, 0), rnd(c.ranges[0], -3), rnd(c.ranges[1], 3), rnd(c.ranges[2], -1),
                               rnd(c.ranges[3], 1)};
        if (in[2].size() > 1) in[2].data<float>()[0] = in[1].data<float>()[0] - 0.5f;
        auto n = fq_over(in, c.levels);
        std::vector<Tensor> ref{Tensor(Type::f32, n->output_shape(0).to_shape())};
        n->evaluate(in, ref);
        cpu::KernelShapes ks;
        for (auto& t : in) ks.inputs.push_back({t.type(), PartialShape(t.shape())});
        ks.outputs.push_back(n->output_desc(0));
        for (bool vec : {false, true}) {
            auto k = cpu::make_fake_quantize_kernel_for(*n, ks, vec);
            if (vec && !cpu::fake_quantize_vector_supported()) continue;
            ASSERT_NE(k, nullptr);
            std::vector<Tensor> got{Tensor(Type::f32, n->output_shape(0).to_shape())};
            k->execute(in, got);
            for (int64_t i = 0; i < got[0].size(); ++i)
                ASSERT_NEAR(got[0].data<float>()[i], ref[0].data<float>()[i], 1e-6f * (1 + std::fabs(ref[0].data<float>()[i])))
                    << "element " << i << " vec " << vec;
        }
    }
    // Ranges along two different axes: not covered, the reference runs.
    std::vector<Tensor> in{Tensor(Type::f32, {2, 3}), Tensor(Type::f32, {2, 1}), Tensor(Type::f32, {1, 3}),
                           Tensor(Type::f32, {}), Tensor(Type::f32, {})};
    auto n = fq_over(in, 256);
    cpu::KernelShapes ks;
    for (auto& t : in) ks.inputs.push_back({t.type(), PartialShape(t.shape())});
    ks.outputs.push_back(n->output_desc(0));
    EXPECT_EQ(cpu::make_fake_quantize_kernel(*n, ks), nullptr);
}
