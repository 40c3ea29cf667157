// Recurrent family: LSTM/GRU/RNN sequences and cells (shape inference incl. errors, attribute
// round trips, the reference kernel on hand-computed values, sequence lengths), PackPadded /
// PadPacked, and the fast kernel against the reference over awkward shapes, both gate paths.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <random>

#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/recurrent.hpp"
#include "kiln/runtime/cpu/kernels/recurrent.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }

using kiln::test::expect_error;

Tensor rand_tensor(Shape s, std::mt19937& g, float scale = 1.f) {
    Tensor t(Type::f32, s);
    std::uniform_real_distribution<float> u(-scale, scale);
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = u(g);
    return t;
}

Tensor ints(std::vector<int64_t> v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }

std::vector<Tensor> outputs_of(const Node& n) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    return out;
}

// A node of the op over parameters of the given shapes (for shape inference and kernels).
template <typename T, typename... A>
std::shared_ptr<T> node_over(const std::vector<Tensor>& in, A&&... attrs) {
    OutputVector ps;
    for (auto& t : in) ps.push_back(param(PartialShape(t.shape()), t.type()));
    return make<T>(ps, std::forward<A>(attrs)...);
}

double sig(double v) { return 1 / (1 + std::exp(-v)); }

}  // namespace

TEST(Recurrent, SequenceShapes) {
    auto n = make<LSTMSequence>({param({Dimension(), Dimension(), 3}), param({Dimension(), 2, 5}),
                                 param({Dimension(), 2, 5}), param({4}, Type::i64), param({2, 20, 3}),
                                 param({2, 20, 5}), param({2, 20})},
                                5, RecurrentDirection::bidirectional);
    EXPECT_EQ(n->output_shape(0).to_string(), "[4,2,?,5]");
    EXPECT_EQ(n->output_shape(1).to_string(), "[4,2,5]");
    EXPECT_EQ(n->output_shape(2).to_string(), "[4,2,5]");
    auto g = make<GRUSequence>({param({2, 7, 3}), param({2, 1, 4}), param({2}, Type::i32), param({1, 12, 3}),
                                param({1, 12, 4}), param({1, 16})},
                               4, RecurrentDirection::reverse, true);
    EXPECT_EQ(g->output_shape(0).to_string(), "[2,1,7,4]");
    auto c = make<LSTMCell>({param({3, 2}), param({3, 4}), param({3, 4}), param({16, 2}), param({16, 4}), param({16})}, 4);
    EXPECT_EQ(c->output_shape(0).to_string(), "[3,4]");
    EXPECT_EQ(c->output_shape(1).to_string(), "[3,4]");
}

TEST(Recurrent, ShapeErrors) {
    expect_error([] { make<GRUSequence>({param({2, 7, 3}), param({2, 1, 4}), param({2}, Type::i64), param({1, 12, 3}),
                                         param({1, 12, 4}), param({1, 12})},
                                        4, RecurrentDirection::forward, true); },
                 "B [1,12] must have 16 at axis 1");
    expect_error([] { make<RNNSequence>({param({2, 7, 3}), param({2, 1, 4}), param({2}, Type::i64), param({1, 4, 5}),
                                         param({1, 4, 4}), param({1, 4})},
                                        4, RecurrentDirection::forward); },
                 "inputs disagree on the input size");
    expect_error([] { make<RNNSequence>({param({2, 7, 3}), param({3, 1, 4}), param({2}, Type::i64), param({1, 4, 3}),
                                         param({1, 4, 4}), param({1, 4})},
                                        4, RecurrentDirection::forward); },
                 "inputs disagree on the batch");
    expect_error([] { make<RNNSequence>({param({2, 7, 3}), param({2, 1, 4}), param({2}, Type::f32), param({1, 4, 3}),
                                         param({1, 4, 4}), param({1, 4})},
                                        4, RecurrentDirection::forward); },
                 "sequence_lengths must be of an integer type");
    expect_error([] { make<RNNCell>({param({2, 3}), param({2, 4}), param({4, 3}), param({4, 4}), param({4})}, 4,
                                    std::vector<std::string>{"softsign"}); },
                 "activation 'softsign' is not supported");
}

TEST(Recurrent, AttributesRoundTrip) {
    auto a = std::make_shared<GRUSequence>(6, RecurrentDirection::bidirectional, true);
    a->clip = 2.5;
    a->activations = {"sigmoid", "relu"};
    auto b = std::make_shared<GRUSequence>();
    EXPECT_FALSE(same_attributes(*a, *b));
    b->hidden_size = 6;
    b->direction = RecurrentDirection::bidirectional;
    b->linear_before_reset = true;
    b->clip = 2.5;
    b->activations = {"sigmoid", "relu"};
    EXPECT_TRUE(same_attributes(*a, *b));
    EXPECT_NE(a->attributes_string().find("sigmoid,relu"), std::string::npos) << a->attributes_string();
}

TEST(Recurrent, CellsByHand) {
    // RNN: tanh(2*1 + 0.5*0.2 + 0.1)
    std::vector<Tensor> in{Tensor::from_vector<float>({1}, {1, 1}), Tensor::from_vector<float>({0.2f}, {1, 1}),
                           Tensor::from_vector<float>({2}, {1, 1}), Tensor::from_vector<float>({0.5f}, {1, 1}),
                           Tensor::from_vector<float>({0.1f}, {1})};
    auto r = node_over<RNNCell>(in, 1);
    auto out = outputs_of(*r);
    r->evaluate(in, out);
    EXPECT_NEAR(out[0].data<float>()[0], std::tanh(2.2), 1e-6);

    // LSTM, H = 1, gates f, i, c, o with W x + R h + B = 0.1, 0.2, 0.3, 0.4 (x = 1, h = 0, B = 0).
    std::vector<Tensor> li{Tensor::from_vector<float>({1}, {1, 1}), Tensor::from_vector<float>({0}, {1, 1}),
                           Tensor::from_vector<float>({0.5f}, {1, 1}), Tensor::from_vector<float>({0.1f, 0.2f, 0.3f, 0.4f}, {4, 1}),
                           Tensor::from_vector<float>({1, 1, 1, 1}, {4, 1}), Tensor::from_vector<float>({0, 0, 0, 0}, {4})};
    auto l = node_over<LSTMCell>(li, 1);
    auto lo = outputs_of(*l);
    l->evaluate(li, lo);
    const double c = sig(0.1) * 0.5 + sig(0.2) * std::tanh(0.3);
    EXPECT_NEAR(lo[1].data<float>()[0], c, 1e-6);
    EXPECT_NEAR(lo[0].data<float>()[0], sig(0.4) * std::tanh(c), 1e-6);

    // GRU, H = 1, linear_before_reset: z, r, h rows of W = 0.1, 0.2, 0.3; R = 1; h = 0.5;
    // B = [bz, br, bwh, brh] = [0, 0, 0.05, 0.07].
    std::vector<Tensor> gi{Tensor::from_vector<float>({1}, {1, 1}), Tensor::from_vector<float>({0.5f}, {1, 1}),
                           Tensor::from_vector<float>({0.1f, 0.2f, 0.3f}, {3, 1}), Tensor::from_vector<float>({1, 1, 1}, {3, 1}),
                           Tensor::from_vector<float>({0, 0, 0.05f, 0.07f}, {4})};
    auto g = node_over<GRUCell>(gi, 1, true);
    auto go = outputs_of(*g);
    g->evaluate(gi, go);
    const double z = sig(0.6), rr = sig(0.7), n = std::tanh(0.3 + 0.05 + rr * (0.5 + 0.07));
    EXPECT_NEAR(go[0].data<float>()[0], (1 - z) * n + z * 0.5, 1e-6);
}

TEST(Recurrent, SequenceLengthsAndReverse) {
    // RNN, H = I = 1, W = 1, R = 0.5, B = 0; x = [1, 2, 3], lengths [2]: forward runs x0, x1;
    // reverse runs x1 then x0; Y is 0 past the length.
    std::vector<Tensor> in{Tensor::from_vector<float>({1, 2, 3}, {1, 3, 1}), Tensor::from_vector<float>({0, 0}, {1, 2, 1}),
                           ints({2}), Tensor::from_vector<float>({1, 1}, {2, 1, 1}),
                           Tensor::from_vector<float>({0.5f, 0.5f}, {2, 1, 1}), Tensor::from_vector<float>({0, 0}, {2, 1})};
    auto n = node_over<RNNSequence>(in, 1, RecurrentDirection::bidirectional);
    auto out = outputs_of(*n);
    n->evaluate(in, out);
    const float* y = out[0].data<float>();  // [1, 2, 3, 1]
    const double f0 = std::tanh(1.0), f1 = std::tanh(2 + 0.5 * f0);
    const double r1 = std::tanh(2.0), r0 = std::tanh(1 + 0.5 * r1);
    EXPECT_NEAR(y[0], f0, 1e-6);
    EXPECT_NEAR(y[1], f1, 1e-6);
    EXPECT_EQ(y[2], 0.f);
    EXPECT_NEAR(y[3], r0, 1e-6);
    EXPECT_NEAR(y[4], r1, 1e-6);
    EXPECT_EQ(y[5], 0.f);
    EXPECT_NEAR(out[1].data<float>()[0], f1, 1e-6);
    EXPECT_NEAR(out[1].data<float>()[1], r0, 1e-6);
}

TEST(Recurrent, PackAndPad) {
    // padded [T=3, B=2, 1], lengths [3, 1] -> data rows t0b0 t0b1 t1b0 t2b0.
    Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2, 1});
    auto p = make<PackPadded>({param({3, 2, 1}), param({2}, Type::i64)});
    EXPECT_EQ(p->output_shape(0).to_string(), "[?,1]");
    std::vector<Tensor> in{x, ints({3, 1})};
    std::vector<Tensor> out{Tensor(Type::f32, {4, 1})};
    p->evaluate(in, out);
    EXPECT_EQ(std::vector<float>(out[0].data<float>(), out[0].data<float>() + 4), (std::vector<float>{1, 2, 3, 5}));
    auto u = make<PadPacked>({param({4, 1}), param({3}, Type::i64)});
    std::vector<Tensor> uin{out[0], ints({2, 1, 1})};
    std::vector<Tensor> uout{Tensor(Type::f32, {3, 2, 1})};
    u->evaluate(uin, uout);
    EXPECT_EQ(std::vector<float>(uout[0].data<float>(), uout[0].data<float>() + 6), (std::vector<float>{1, 2, 3, 0, 5, 0}));
    std::vector<Tensor> bad{x, ints({1, 3})};
    expect_error([&] { p->evaluate(bad, out); }, "sorted in decreasing order");
    std::vector<Tensor> zero{x, ints({3, 0})};
    expect_error([&] { p->evaluate(zero, out); }, "outside [1, 3]");
}

namespace {

struct Case {
    RecurrentKind kind;
    RecurrentDirection dir;
    bool lbr;
    int64_t B, T, I, H;
    std::vector<int64_t> lens;
    double clip;
    std::vector<std::string> acts;
};

void compare_fast(const Case& c, std::mt19937& g) {
    const int64_t D = c.dir == RecurrentDirection::bidirectional ? 2 : 1;
    const int64_t G = c.kind == RecurrentKind::lstm ? 4 : c.kind == RecurrentKind::gru ? 3 : 1;
    std::vector<Tensor> in{rand_tensor({c.B, c.T, c.I}, g), rand_tensor({c.B, D, c.H}, g)};
    if (c.kind == RecurrentKind::lstm) in.push_back(rand_tensor({c.B, D, c.H}, g));
    in.push_back(ints(c.lens));
    in.push_back(rand_tensor({D, G * c.H, c.I}, g, 0.7f));
    in.push_back(rand_tensor({D, G * c.H, c.H}, g, 0.7f));
    in.push_back(rand_tensor({D, (c.lbr ? 4 : G) * c.H}, g));
    std::shared_ptr<RecurrentBase> n;
    if (c.kind == RecurrentKind::lstm) n = node_over<LSTMSequence>(in, c.H, c.dir);
    else if (c.kind == RecurrentKind::gru) n = node_over<GRUSequence>(in, c.H, c.dir, c.lbr);
    else n = node_over<RNNSequence>(in, c.H, c.dir);
    n->clip = c.clip;
    n->activations = c.acts;
    n->validate_and_infer();
    auto ref = outputs_of(*n);
    n->evaluate(in, ref);
    cpu::KernelShapes ks;
    for (auto& t : in) ks.inputs.push_back({t.type(), PartialShape(t.shape())});
    for (size_t i = 0; i < n->num_outputs(); ++i) ks.outputs.push_back(n->output_desc(i));
    for (bool vec : {false, true}) {
        auto k = cpu::make_recurrent_kernel_for(*n, ks, vec);
        if (vec && !cpu::recurrent_vector_supported()) {
            EXPECT_EQ(k, nullptr);
            continue;
        }
        ASSERT_NE(k, nullptr);
        auto got = outputs_of(*n);
        k->execute(in, got);
        for (size_t o = 0; o < got.size(); ++o)
            for (int64_t i = 0; i < got[o].size(); ++i)
                ASSERT_NEAR(got[o].data<float>()[i], ref[o].data<float>()[i], 2e-5)
                    << n->type_name() << " output " << o << " element " << i << " vec " << vec << " B " << c.B << " T "
                    << c.T << " H " << c.H;
    }
}

}  // namespace

TEST(Recurrent, FastKernelMatchesReference) {
    std::mt19937 g(7);
    using K = RecurrentKind;
    using Dn = RecurrentDirection;
    const std::vector<Case> cases = {
        {K::lstm, Dn::forward, false, 2, 5, 3, 4, {5, 3}, 0, {}},
        {K::lstm, Dn::bidirectional, false, 3, 4, 7, 9, {4, 1, 2}, 0, {}},
        {K::lstm, Dn::reverse, false, 1, 1, 1, 1, {1}, 0, {}},
        {K::lstm, Dn::forward, false, 2, 6, 5, 17, {0, 6}, 0.5, {"sigmoid", "relu", "tanh"}},
        {K::gru, Dn::bidirectional, true, 3, 5, 4, 9, {5, 2, 3}, 0, {}},
        {K::gru, Dn::forward, false, 2, 4, 3, 8, {4, 4}, 0, {}},
        {K::gru, Dn::reverse, false, 4, 3, 2, 5, {1, 3, 2, 0}, 1.0, {}},
        {K::rnn, Dn::bidirectional, false, 2, 7, 3, 11, {7, 4}, 0, {"relu"}},
        {K::rnn, Dn::forward, false, 0, 3, 3, 3, {}, 0, {}},
        {K::rnn, Dn::forward, false, 2, 0, 3, 3, {0, 0}, 0, {}},
        {K::rnn, Dn::reverse, false, 5, 2, 16, 16, {2, 1, 2, 2, 1}, 0, {}},
    };
    for (auto& c : cases) compare_fast(c, g);
}

TEST(Recurrent, FastKernelCells) {
    std::mt19937 g(3);
    for (int64_t H : {1, 5, 8, 13}) {
        std::vector<Tensor> in{rand_tensor({3, 4}, g), rand_tensor({3, H}, g), rand_tensor({3, H}, g),
                               rand_tensor({4 * H, 4}, g), rand_tensor({4 * H, H}, g), rand_tensor({4 * H}, g)};
        auto n = node_over<LSTMCell>(in, H);
        auto ref = outputs_of(*n);
        n->evaluate(in, ref);
        cpu::KernelShapes ks;
        for (auto& t : in) ks.inputs.push_back({t.type(), PartialShape(t.shape())});
        for (size_t i = 0; i < n->num_outputs(); ++i) ks.outputs.push_back(n->output_desc(i));
        auto k = cpu::make_recurrent_kernel(*n, ks);
        ASSERT_NE(k, nullptr);
        auto got = outputs_of(*n);
        k->execute(in, got);
        for (size_t o = 0; o < 2; ++o)
            for (int64_t i = 0; i < got[o].size(); ++i) ASSERT_NEAR(got[o].data<float>()[i], ref[o].data<float>()[i], 2e-5);
    }
}
