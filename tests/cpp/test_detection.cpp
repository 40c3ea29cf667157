// Detection family: NonMaxSuppression, ROIAlign, ROIPooling, DeformableConvolution shape inference
// (and errors), attributes, and the reference kernels on hand-computed values.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>

#include "kiln/ops/detection.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/runtime/cpu/kernels/detection.hpp"

#include <random>

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output scalar(Type t = Type::f32) { return param(PartialShape(std::vector<Dimension>{}), t); }
Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

using kiln::test::expect_error;

template <typename T, typename... A>
std::shared_ptr<T> over(const std::vector<Tensor>& in, A&&... attrs) {
    OutputVector ps;
    for (auto& t : in) ps.push_back(param(PartialShape(t.shape()), t.type()));
    return make<T>(ps, std::forward<A>(attrs)...);
}

std::vector<float> run1(const Node& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out{Tensor(n.output_type(0), n.output_shape(0).to_shape())};
    n.evaluate(in, out);
    return std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].size());
}

}  // namespace

TEST(Detection, NmsShapesAndErrors) {
    auto n = make<NonMaxSuppression>({param({1, Dimension(), 4}), param({1, 2, Dimension()}), scalar(Type::i64), scalar(),
                                      scalar()},
                                     NonMaxSuppression::BoxEncoding::corner, true, Type::i64);
    EXPECT_EQ(n->output_shape(0).to_string(), "[?,3]");
    EXPECT_EQ(n->output_shape(2).to_string(), "[1]");
    expect_error([] { make<NonMaxSuppression>({param({1, 5, 3}), param({1, 1, 5})}); }, "boxes must be");
    expect_error([] { make<NonMaxSuppression>({param({1, 5, 4}), param({1, 1, 6})}); }, "disagree");
}

TEST(Detection, NmsByHand) {
    // Boxes 0 and 1 overlap with IoU 0.68, box 2 is apart, box 3 equals box 2 with the same score.
    Tensor boxes = f32({0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 20, 20, 30, 30}, {1, 4, 4});
    Tensor scores = f32({0.8f, 0.9f, 0.7f, 0.7f}, {1, 1, 4});
    auto run = [&](float iou, float score_thr, int64_t max_out, bool sort) {
        std::vector<Tensor> in{boxes, scores, Tensor::from_vector<int64_t>({max_out}, {}),
                               Tensor::from_vector<float>({iou}, {}), Tensor::from_vector<float>({score_thr}, {})};
        auto n = over<NonMaxSuppression>(in, NonMaxSuppression::BoxEncoding::corner, sort, Type::i64);
        std::vector<Tensor> out(3);
        n->evaluate(in, out);
        std::vector<int64_t> boxes_kept;
        for (int64_t k = 0; k < out[0].shape()[0]; ++k) boxes_kept.push_back(out[0].data<int64_t>()[k * 3 + 2]);
        EXPECT_EQ(out[2].data<int64_t>()[0], out[0].shape()[0]);
        return boxes_kept;
    };
    EXPECT_EQ(run(0.5f, -1e9f, 10, false), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(run(0.7f, -1e9f, 10, false), (std::vector<int64_t>{1, 0, 2}));  // 0.68 <= 0.7 keeps both
    EXPECT_EQ(run(1.0f, -1e9f, 10, false), (std::vector<int64_t>{1, 0, 2, 3}));  // equal scores: lower index first
    EXPECT_EQ(run(0.5f, 0.75f, 10, false), (std::vector<int64_t>{1}));
    EXPECT_EQ(run(0.5f, -1e9f, 1, false), (std::vector<int64_t>{1}));
}

TEST(Detection, RoiAlignByHand) {
    // 4x4 image of value y*4 + x; one roi over the whole image, 1x1 output, 2x2 samples.
    std::vector<float> img(16);
    for (int i = 0; i < 16; ++i) img[i] = static_cast<float>(i);
    std::vector<Tensor> in{f32(img, {1, 1, 4, 4}), f32({0, 0, 4, 4}, {1, 4}), Tensor::from_vector<int64_t>({0}, {1})};
    // aligned (half_pixel): roi [-0.5, 3.5]; samples at -0.5 + (0.5, 1.5) * 2 = 0.5, 2.5 per axis.
    auto a = over<ROIAlign>(in, 1, 1, 2, 1.0, ROIAlign::Mode::avg, ROIAlign::AlignedMode::half_pixel);
    EXPECT_NEAR(run1(*a, in)[0], (2.5f + 4.5f + 10.5f + 12.5f) / 4, 1e-5);
    // asymmetric, adaptive sampling (ratio 0): ceil(4 / 2) = 2 samples per bin, 2x2 bins.
    auto b = over<ROIAlign>(in, 2, 2, 0, 1.0, ROIAlign::Mode::avg, ROIAlign::AlignedMode::asymmetric);
    auto v = run1(*b, in);
    // bin (0, 0) samples x, y in {0.5, 1.5}: mean of 0.5 * 4 + 0.5 ... = y*4 + x at (1, 1) = 5.
    EXPECT_NEAR(v[0], 5.f, 1e-5);
    EXPECT_EQ(b->output_shape(0).to_string(), "[1,1,2,2]");
    std::vector<Tensor> bad{in[0], in[1], Tensor::from_vector<int64_t>({3}, {1})};
    expect_error([&] { run1(*a, bad); }, "batch index 3");
}

TEST(Detection, RoiPoolByHand) {
    std::vector<float> img(16);
    for (int i = 0; i < 16; ++i) img[i] = static_cast<float>(i);
    std::vector<Tensor> in{f32(img, {1, 1, 4, 4}), f32({0, 0, 0, 3, 3}, {1, 5})};
    auto n = over<ROIPooling>(in, 2, 2, 1.0);
    EXPECT_EQ(run1(*n, in), (std::vector<float>{5, 7, 13, 15}));
}

TEST(Detection, DeformableConvByHand) {
    // Zero offsets and no mask: an ordinary 2x2 convolution of a 3x3 image with ones.
    std::vector<float> img{1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<Tensor> in{f32(img, {1, 1, 3, 3}), f32(std::vector<float>(8 * 4, 0.f), {1, 8, 2, 2}),
                           f32({1, 1, 1, 1}, {1, 1, 2, 2})};
    auto n = over<DeformableConvolution>(in, std::vector<int64_t>{1, 1}, std::vector<int64_t>{0, 0},
                                         std::vector<int64_t>{0, 0}, std::vector<int64_t>{1, 1}, 1, 1, true);
    EXPECT_EQ(n->output_shape(0).to_string(), "[1,1,2,2]");
    EXPECT_EQ(run1(*n, in), (std::vector<float>{12, 16, 24, 28}));
    // Offsets of +0.5 in x for every tap: each tap reads half way to its right neighbour; at the
    // right edge (x = 2.5) the neighbour is outside and reads 0.
    std::vector<float> off(8 * 4, 0.f);
    for (int k = 0; k < 4; ++k)
        for (int p = 0; p < 4; ++p) off[(2 * k + 1) * 4 + p] = 0.5f;
    in[1] = f32(off, {1, 8, 2, 2});
    auto v = run1(*n, in);
    EXPECT_NEAR(v[0], (1.5f + 2.5f + 4.5f + 5.5f), 1e-5);
    EXPECT_NEAR(v[1], (2.5f + 1.5f + 5.5f + 3.f), 1e-5);
    // A mask of 0.5 halves it.
    in.push_back(f32(std::vector<float>(4 * 4, 0.5f), {1, 4, 2, 2}));
    auto m = over<DeformableConvolution>(in, std::vector<int64_t>{1, 1}, std::vector<int64_t>{0, 0},
                                         std::vector<int64_t>{0, 0}, std::vector<int64_t>{1, 1}, 1, 1, true);
    EXPECT_NEAR(run1(*m, in)[0], (1.5f + 2.5f + 4.5f + 5.5f) / 2, 1e-5);
    expect_error([] { make<DeformableConvolution>({param({1, 2, 5, 5}), param({1, 7, 4, 4}), param({3, 2, 2, 2})},
                                                  std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{},
                                                  std::vector<int64_t>{}, 1, 1, true); },
                 "offsets must be");
}

TEST(Detection, DeformableConvFastMatchesReference) {
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> u(-2, 2);
    struct Case {
        Shape x;
        int64_t O, k, stride, pad, dil, groups, dgroups;
        bool mask;
    };
    for (const Case& c : std::vector<Case>{{{1, 2, 5, 6}, 3, 3, 1, 1, 1, 1, 1, true},
                                           {{2, 4, 7, 5}, 6, 3, 2, 0, 2, 2, 2, false},
                                           {{1, 3, 4, 4}, 1, 1, 1, 0, 1, 1, 3, true},
                                           {{1, 6, 9, 3}, 4, 2, 1, 1, 1, 2, 3, true}}) {
        const int64_t K = c.k * c.k;
        auto out_len = [&](int64_t n) { return (n + 2 * c.pad - c.dil * (c.k - 1) - 1) / c.stride + 1; };
        const int64_t Ho = out_len(c.x[2]), Wo = out_len(c.x[3]);
        auto rnd = [&](Shape s) {
            Tensor t(Type::f32, s);
            for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = u(gen);
            return t;
        };
        std::vector<Tensor> in{rnd(c.x), rnd({c.x[0], 2 * c.dgroups * K, Ho, Wo}), rnd({c.O, c.x[1] / c.groups, c.k, c.k})};
        if (c.mask) in.push_back(rnd({c.x[0], c.dgroups * K, Ho, Wo}));
        std::vector<int64_t> st{c.stride, c.stride}, pd{c.pad, c.pad}, dl{c.dil, c.dil};
        auto n = over<DeformableConvolution>(in, st, pd, pd, dl, c.groups, c.dgroups, true);
        std::vector<Tensor> ref{Tensor(Type::f32, n->output_shape(0).to_shape())};
        n->evaluate(in, ref);
        cpu::KernelShapes ks;
        for (auto& t : in) ks.inputs.push_back({t.type(), PartialShape(t.shape())});
        ks.outputs.push_back(n->output_desc(0));
        auto k = cpu::make_detection_kernel(*n, ks);
        ASSERT_NE(k, nullptr);
        std::vector<Tensor> got{Tensor(Type::f32, n->output_shape(0).to_shape())};
        k->execute(in, got);
        for (int64_t i = 0; i < got[0].size(); ++i)
            ASSERT_NEAR(got[0].data<float>()[i], ref[0].data<float>()[i], 1e-4) << "element " << i;
    }
}
