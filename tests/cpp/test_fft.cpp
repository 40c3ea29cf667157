// DFT / IDFT / RDFT / IRDFT (ops/fft.hpp) against the direct sum, on power-of-two lengths (the
// radix-2 kernel) and others, and RandomUniform (ops/random.hpp): shapes, range, streams.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <complex>
#include <random>

#include "kiln/ops/fft.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/random.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output ints(std::vector<int64_t> v) { return make<Constant>({}, Tensor::from_vector(v, {static_cast<int64_t>(v.size())}))->output(0); }

// Inputs not given are taken from the node's constant inputs (axes, signal_size).
std::vector<Tensor> run_ref(const Node& n, std::vector<Tensor> in) {
    for (size_t i = in.size(); i < n.num_inputs(); ++i) in.push_back(*n.input(i).node->constant_value());
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    n.evaluate(in, out);
    return out;
}

using kiln::test::expect_error;

using cd = std::complex<double>;

// The direct DFT of x along its only axis (sign -1 forward).
std::vector<cd> naive(const std::vector<cd>& x, int sign) {
    auto n = x.size();
    std::vector<cd> y(n);
    for (size_t k = 0; k < n; ++k)
        for (size_t t = 0; t < n; ++t) y[k] += x[t] * std::polar(1.0, sign * 2 * M_PI * double(k * t) / double(n));
    return y;
}

std::vector<cd> random_signal(size_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<double> d;
    std::vector<cd> x(n);
    for (auto& v : x) v = cd(d(g), d(g));
    return x;
}

Tensor pairs(const std::vector<cd>& x) {
    Tensor t(Type::f32, {static_cast<int64_t>(x.size()), 2});
    for (size_t i = 0; i < x.size(); ++i) {
        t.data<float>()[2 * i] = static_cast<float>(x[i].real());
        t.data<float>()[2 * i + 1] = static_cast<float>(x[i].imag());
    }
    return t;
}

void expect_pairs(const Tensor& t, const std::vector<cd>& want, double scale = 1) {
    ASSERT_EQ(t.size(), static_cast<int64_t>(2 * want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(t.data<float>()[2 * i], want[i].real() * scale, 1e-4) << i;
        EXPECT_NEAR(t.data<float>()[2 * i + 1], want[i].imag() * scale, 1e-4) << i;
    }
}

}  // namespace

TEST(DFT, MatchesTheDirectSum) {
    for (size_t n : {1, 2, 5, 8, 12, 16, 17, 31, 100, 128}) {
        auto x = random_signal(n, static_cast<unsigned>(n));
        auto dft = make<DFT>({param(PartialShape{static_cast<int64_t>(n), 2}), ints({0})});
        expect_pairs(run_ref(*dft, {pairs(x)})[0], naive(x, -1));
        auto idft = make<IDFT>({param(PartialShape{static_cast<int64_t>(n), 2}), ints({-1})});
        expect_pairs(run_ref(*idft, {pairs(x)})[0], naive(x, 1), 1.0 / double(n));
    }
}

TEST(DFT, SignalSizePadsAndTrims) {
    auto x = random_signal(6, 1);
    auto pad = make<DFT>({param(PartialShape{6, 2}), ints({0}), ints({8})});
    EXPECT_EQ(pad->output_shape(0).to_string(), "[8,2]");
    auto padded = x;
    padded.resize(8);
    expect_pairs(run_ref(*pad, {pairs(x)})[0], naive(padded, -1));
    auto trim = make<DFT>({param(PartialShape{6, 2}), ints({0}), ints({3})});
    expect_pairs(run_ref(*trim, {pairs(x)})[0], naive({x[0], x[1], x[2]}, -1));
}

TEST(RDFT, HalfSpectrumAndInverse) {
    std::vector<float> x{1, -2, 3, 0.5f, 4, -1, 2};
    auto r = make<RDFT>({param(PartialShape{7}), ints({0})});
    EXPECT_EQ(r->output_shape(0).to_string(), "[4,2]");
    std::vector<cd> xc(x.begin(), x.end());
    auto full = naive(xc, -1);
    auto spec = run_ref(*r, {Tensor::from_vector(x, {7})})[0];
    expect_pairs(spec, {full[0], full[1], full[2], full[3]});
    auto ir = make<IRDFT>({param(PartialShape{4, 2}), ints({0}), ints({7})});
    EXPECT_EQ(ir->output_shape(0).to_string(), "[7]");
    auto back = run_ref(*ir, {spec})[0];
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back.data<float>()[i], x[i], 1e-4);
    // Without signal_size the length is 2 * (m - 1).
    EXPECT_EQ(make<IRDFT>({param(PartialShape{4, 2}), ints({0})})->output_shape(0).to_string(), "[6]");
}

TEST(DFT, TwoAxesOfABatch) {
    // [2 batches, 3, 4] complex: a 2-D DFT over axes 1, 2 is two 1-D passes.
    auto n = make<DFT>({param(PartialShape{2, 3, 4, 2}), ints({2, 1})});
    Tensor in(Type::f32, {2, 3, 4, 2});
    for (int64_t i = 0; i < in.size(); ++i) in.data<float>()[i] = static_cast<float>((i * 7) % 5) - 2;
    auto out = run_ref(*n, {in})[0];
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t k1 = 0; k1 < 3; ++k1)
            for (int64_t k2 = 0; k2 < 4; ++k2) {
                cd s;
                for (int64_t t1 = 0; t1 < 3; ++t1)
                    for (int64_t t2 = 0; t2 < 4; ++t2) {
                        const float* p = in.data<float>() + ((b * 3 + t1) * 4 + t2) * 2;
                        s += cd(p[0], p[1]) * std::polar(1.0, -2 * M_PI * (double(k1 * t1) / 3 + double(k2 * t2) / 4));
                    }
                const float* o = out.data<float>() + ((b * 3 + k1) * 4 + k2) * 2;
                EXPECT_NEAR(o[0], s.real(), 1e-4);
                EXPECT_NEAR(o[1], s.imag(), 1e-4);
            }
}

TEST(DFT, Errors) {
    expect_error([] { make<DFT>({param(PartialShape{4, 3}), ints({0})}); }, "trailing dimension of 2");
    expect_error([] { make<DFT>({param(PartialShape{4, 2}), ints({1})}); }, "axis 1 is out of range");
    expect_error([] { make<DFT>({param(PartialShape{4, 4, 2}), ints({0, -2})}); }, "is repeated");
    expect_error([] { make<DFT>({param(PartialShape{4, 2}), param(PartialShape{1}, Type::i64)}); }, "axes must be a constant");
    expect_error([] { make<RDFT>({param(PartialShape{4}, Type::i64), ints({0})}); }, "data must be f32 or f64");
}

TEST(RandomUniform, RangeShapeAndStreams) {
    auto shape = ints({1000});
    auto n = make<RandomUniform>({shape, Constant::scalar<float>(-2)->output(0), Constant::scalar<float>(3)->output(0)},
                                 Type::f32, int64_t{1}, int64_t{2});
    EXPECT_EQ(n->output_shape(0).to_string(), "[1000]");
    std::vector<Tensor> in{Tensor::from_vector<int64_t>({1000}, {1}), Tensor::scalar<float>(-2), Tensor::scalar<float>(3)};
    auto a = run_ref(*n, in)[0], b = run_ref(*n, in)[0];
    double sum = 0;
    bool differ = false;
    for (int64_t i = 0; i < a.size(); ++i) {
        float v = a.data<float>()[i];
        EXPECT_GE(v, -2.f);
        EXPECT_LT(v, 3.f);
        sum += v;
        differ = differ || v != b.data<float>()[i];
    }
    EXPECT_NEAR(sum / 1000, 0.5, 0.3);
    EXPECT_TRUE(differ) << "a second run continues the stream";
    // The same seeds on a new node give the same first draw.
    auto m = make<RandomUniform>(n->inputs(), Type::f32, int64_t{1}, int64_t{2});
    auto c = run_ref(*m, in)[0];
    EXPECT_EQ(std::memcmp(a.data(), c.data(), a.byte_size()), 0);
    auto k = make<RandomUniform>({shape, Constant::scalar<int64_t>(5)->output(0), Constant::scalar<int64_t>(8)->output(0)},
                                 Type::i64, int64_t{0}, int64_t{3});
    auto ki = run_ref(*k, {in[0], Tensor::scalar<int64_t>(5), Tensor::scalar<int64_t>(8)})[0];
    int64_t lo = 100, hi = -100;
    for (int64_t i = 0; i < ki.size(); ++i) {
        lo = std::min(lo, ki.data<int64_t>()[i]);
        hi = std::max(hi, ki.data<int64_t>()[i]);
    }
    EXPECT_EQ(lo, 5);
    EXPECT_EQ(hi, 7);
    expect_error([&] { make<RandomUniform>({shape, Constant::scalar<float>(0)->output(0), Constant::scalar<float>(1)->output(0)},
                                           Type::i64, int64_t{0}, int64_t{0}); },
                 "min is f32, expected i64");
}
