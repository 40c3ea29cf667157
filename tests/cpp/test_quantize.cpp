// Post-training quantization (quantize/quantize.hpp): the range formulas by hand (symmetric signed
// and unsigned activations, asymmetric with 0 on a level, per-channel weights with their floors and
// the overflow fix), SmoothQuant's scales, batch norm folding (same outputs before and after), and
// the Quantizer end to end on small graphs: where FakeQuantize goes (hoisted through a Reshape,
// shared by readers, none on ignored nodes, none on a bias Add), the ranges it gets from the
// statistics model's outputs, SmoothQuant's Multiply, and the bias correction.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <map>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/quantize/quantize.hpp"

using namespace kiln;
using namespace kiln::op;
using namespace kiln::quantize;
using kiln::test::random_tensor;

namespace {

std::shared_ptr<Parameter> param(PartialShape s) { return make<Parameter>({}, Type::f32, std::move(s)); }
Output cst(Tensor t) { return make<Constant>({}, std::move(t))->output(0); }

std::shared_ptr<Model> model_of(const Output& out, const std::vector<std::shared_ptr<Parameter>>& ps) {
    auto r = make<Result>({out});
    r->set_output_names(0, {"y"});
    return std::make_shared<Model>(ResultVector{r}, ParameterVector(ps.begin(), ps.end()));
}

// Calibrates q on the items with the reference interpreter.
void calibrate(Quantizer& q, const std::vector<Tensor>& items) {
    auto sm = q.statistics_model();
    for (auto& x : items) q.accumulate(evaluate_model(*sm, {x}));
}

std::vector<Node*> of_type(const Model& m, const std::string& t) {
    std::vector<Node*> r;
    for (auto& n : m.ordered_ops())
        if (t == n->type_name()) r.push_back(n.get());
    return r;
}

float value(const Output& o, size_t i = 0) { return o.node->constant_value()->data<float>()[i]; }

Node* named(const Model& m, const std::string& name) {
    for (auto& n : m.ordered_ops())
        if (n->name() == name) return n.get();
    return nullptr;
}

}  // namespace

TEST(QuantizeRanges, SymmetricActivations) {
    auto r = activation_range(-1.0, 2.0, 2.5, true);
    EXPECT_EQ(r.levels, 256);
    EXPECT_FLOAT_EQ(r.high[0], 2.5f);
    EXPECT_FLOAT_EQ(r.low[0], static_cast<float>(-2.5 * 128 / 127));  // step h/127, 0 on a level
    auto u = activation_range(0.0, 3.0, 3.0, true);                      // after a ReLU
    EXPECT_EQ(u.low[0], 0.f);
    EXPECT_FLOAT_EQ(u.high[0], 3.f);
    auto z = activation_range(0.0, 0.0, 0.0, true);                      // all zeros: the floor
    EXPECT_FLOAT_EQ(z.high[0], 8e-5f);
}

TEST(QuantizeRanges, AsymmetricActivationsPutZeroOnALevel) {
    for (auto [mn, mx] : {std::pair{-0.3, 2.0}, std::pair{-5.0, 0.7}, std::pair{0.5, 4.0}, std::pair{-1.0, -0.2},
                          std::pair{0.1, 0.1}}) {
        auto r = activation_range(mn, mx, std::max(std::fabs(mn), std::fabs(mx)), false);
        const double lo = r.low[0], hi = r.high[0];
        EXPECT_LE(lo, std::min(mn, 0.0) + 1e-6);
        EXPECT_GE(hi, std::max(mx, 0.0) - 1e-6);
        const double zp = -lo / (hi - lo) * 255;
        EXPECT_NEAR(zp, std::nearbyint(zp), 1e-3) << mn << " " << mx;
        // Only one border moves, by less than a step.
        const bool low_kept = std::fabs(lo - std::min(mn, 0.0)) < 1e-6 || mn - 8e-4 == lo;
        const bool high_kept = std::fabs(hi - std::max(mx, 0.0)) < 1e-6;
        EXPECT_TRUE(low_kept || high_kept) << mn << " " << mx;
    }
}

TEST(QuantizeRanges, WeightsPerChannel) {
    auto r = weight_range({0.5, 0.0, 2.0}, false);
    EXPECT_EQ(r.levels, 255);
    EXPECT_FLOAT_EQ(r.high[0], 0.5f);
    EXPECT_FLOAT_EQ(r.low[0], -0.5f);
    EXPECT_FLOAT_EQ(r.high[1], 0.02f);  // a dead channel gets 1% of the largest range
    EXPECT_FLOAT_EQ(r.high[2], 2.f);
    auto h = weight_range({0.5}, true);  // overflow fix: 7-bit steps on the 8-bit grid
    EXPECT_FLOAT_EQ(h.high[0], 1.f);
    EXPECT_FLOAT_EQ(h.low[0], -1.f);
}

TEST(QuantizeRanges, SmoothQuantScales) {
    double ratio = 0;
    auto s = smooth_quant_scales({4.0, 1.0, 1e-9}, {1.0, 4.0, 1.0}, 0.5, &ratio);
    // a^0.5 / w^0.5: 2, 0.5, sqrt(1e-5) (clipped to 1e-5 first), then clipped below at the 10%
    // quantile (linear: 0.00316 + 0.2 * (0.5 - 0.00316)).
    const double q = std::sqrt(1e-5) + 0.2 * (0.5 - std::sqrt(1e-5));
    EXPECT_NEAR(s[0], 2.0, 1e-6);
    EXPECT_NEAR(s[1], 0.5, 1e-6);
    EXPECT_NEAR(s[2], q, 1e-6);
    EXPECT_NEAR(ratio, q / 2.0, 1e-6);
}

TEST(QuantizeGraph, FoldBatchNorm) {
    auto x = param(PartialShape({1, 3, 5, 5}));
    auto w = cst(random_tensor({4, 3, 3, 3}, 1));
    auto conv = make<Convolution>({x->output(0), w}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 1},
                                  std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 1});
    auto bias = make<Add>({conv->output(0), cst(random_tensor({1, 4, 1, 1}, 2))});
    auto bn = make<BatchNormInference>({bias->output(0), cst(random_tensor({4}, 3, 0.5f, 2.f)),
                                        cst(random_tensor({4}, 4)), cst(random_tensor({4}, 5)),
                                        cst(random_tensor({4}, 6, 0.1f, 1.f))},
                                       1e-3);
    auto m = model_of(make<Relu>({bn->output(0)})->output(0), {x});
    Tensor in = random_tensor({1, 3, 5, 5}, 7);
    auto before = evaluate_model(*m, {in})[0];
    auto folded = m->clone();
    EXPECT_EQ(fold_batch_norm(*folded), 1u);
    EXPECT_TRUE(of_type(*folded, "BatchNormInference").empty());
    auto after = evaluate_model(*folded, {in})[0];
    for (int64_t i = 0; i < before.size(); ++i) EXPECT_NEAR(after.data<float>()[i], before.data<float>()[i], 1e-5);
    EXPECT_EQ(of_type(*m, "BatchNormInference").size(), 1u);  // the clone only
}

TEST(QuantizeGraph, PlacementRangesAndBiasCorrection) {
    // x -> MatMul(W1) -> Add(b1) -> Relu -> Reshape -> MatMul(W2) -> y, and Relu -> Result.
    auto x = param(PartialShape({Dimension(), 8}));
    auto mm1 = make<MatMul>({x->output(0), cst(random_tensor({6, 8}, 1))}, false, true);
    mm1->set_name("mm1");
    auto add = make<Add>({mm1->output(0), cst(random_tensor({6}, 2, 0.5f, 1.f))});
    auto relu = make<Relu>({add->output(0)});
    relu->set_name("relu");
    auto rs = make<Reshape>({relu->output(0), cst(Tensor::from_vector<int64_t>({-1, 6}, {2}))}, false);
    auto mm2 = make<MatMul>({rs->output(0), cst(random_tensor({6, 3}, 3))}, false, false);
    mm2->set_name("mm2");
    auto r1 = make<Result>({mm2->output(0)});
    r1->set_output_names(0, {"y"});
    auto m = std::make_shared<Model>(ResultVector{r1}, ParameterVector{x});

    Quantizer q(*m, {});
    std::vector<Tensor> items;
    for (uint32_t i = 0; i < 4; ++i) items.push_back(random_tensor({3, 8}, 10 + i, -2.f, 2.f));
    calibrate(q, items);
    auto qm = q.finish();
    EXPECT_EQ(q.counts()[0], 2);  // x, and relu (hoisted through the Reshape)
    EXPECT_EQ(q.counts()[1], 2);  // both weights
    auto fqs = of_type(*qm, "FakeQuantize");
    ASSERT_EQ(fqs.size(), 4u);
    std::map<std::string, Node*> by_name;
    for (auto* f : fqs) by_name[f->name()] = f;
    ASSERT_TRUE(by_name.count("relu/fq_output_0"));
    ASSERT_TRUE(by_name.count("mm1/fq_weights_1"));
    Node* after_relu = by_name["relu/fq_output_0"];
    EXPECT_EQ(after_relu->input(0).node->name(), "relu");
    EXPECT_EQ(named(*qm, "mm2")->input(0).node->type_name(), std::string("Reshape"));
    EXPECT_EQ(value(after_relu->input(1)), 0.f);  // unsigned: ReLU output
    // The range: the mean of each item's max of the relu output.
    auto fp = m->clone();
    double mean_max = 0;
    {
        auto probe = std::make_shared<Model>(ResultVector{make<Result>({relu->output(0)})}, ParameterVector{x});
        for (auto& it : items) {
            auto v = evaluate_model(*probe, {it})[0];
            float mx = 0;
            for (int64_t i = 0; i < v.size(); ++i) mx = std::max(mx, v.data<float>()[i]);
            mean_max += mx / 4.0;
        }
    }
    EXPECT_NEAR(value(after_relu->input(2)), mean_max, 1e-5);
    // x is signed: [-h * 128/127, h].
    Node* on_x = by_name["/fq_output_0"];
    ASSERT_NE(on_x, nullptr);
    EXPECT_NEAR(value(on_x->input(1)), -value(on_x->input(2)) * 128 / 127, 1e-6);
    EXPECT_EQ(static_cast<FakeQuantize*>(by_name["mm1/fq_weights_1"])->levels, 255);
    EXPECT_EQ(by_name["mm1/fq_weights_1"]->input(1).shape().to_string(), "[6,1]");   // per output row
    EXPECT_EQ(by_name["mm2/fq_weights_1"]->input(1).shape().to_string(), "[1,3]");   // B not transposed
    // Bias correction changed the bias of mm1 (no zero in it) by the weight error on the mean input.
    EXPECT_EQ(q.counts()[3], 1);
    // The quantized model stays close to the float one, and the input model is untouched.
    auto y0 = evaluate_model(*m, {items[0]})[0];
    auto y1 = evaluate_model(*qm, {items[0]})[0];
    double err = 0, scale = 0;
    for (int64_t i = 0; i < y0.size(); ++i) {
        err = std::max(err, std::fabs(double(y0.data<float>()[i]) - y1.data<float>()[i]));
        scale = std::max(scale, std::fabs(double(y0.data<float>()[i])));
    }
    EXPECT_LT(err, 0.05 * scale);
    EXPECT_TRUE(of_type(*m, "FakeQuantize").empty());
    EXPECT_TRUE(same_graph(*m, *fp));
}

TEST(QuantizeGraph, IgnoredNodesAndSharedQuantizers) {
    // One tensor read by two MatMuls and a Result: a FakeQuantize for the MatMuls only; mm_b ignored.
    auto x = param(PartialShape({2, 4}));
    auto t = make<Relu>({x->output(0)});
    t->set_name("t");
    auto a = make<MatMul>({t->output(0), cst(random_tensor({4, 4}, 1))}, false, false);
    a->set_name("mm_a");
    auto b = make<MatMul>({t->output(0), cst(random_tensor({4, 4}, 2))}, false, false);
    b->set_name("mm_b");
    auto c = make<MatMul>({t->output(0), cst(random_tensor({4, 4}, 3))}, false, false);
    c->set_name("mm_c");
    auto sum = make<Add>({make<Add>({a->output(0), b->output(0)})->output(0), c->output(0)});
    auto r1 = make<Result>({sum->output(0)}), r2 = make<Result>({t->output(0)});
    auto m = std::make_shared<Model>(ResultVector{r1, r2}, ParameterVector{x});
    QuantizeOptions o;
    o.ignored_names = {"mm_b"};
    Quantizer q(*m, o);
    calibrate(q, {random_tensor({2, 4}, 5), random_tensor({2, 4}, 6)});
    auto qm = q.finish();
    Node* qt = named(*qm, "t");
    int fq_on_t = 0;
    for (auto* f : of_type(*qm, "FakeQuantize"))
        if (f->input(0).node.get() == qt) ++fq_on_t;
    EXPECT_EQ(fq_on_t, 1);                                        // shared by mm_a and mm_c
    Node *qa = named(*qm, "mm_a"), *qb = named(*qm, "mm_b"), *qc = named(*qm, "mm_c");
    EXPECT_EQ(qb->input(0).node.get(), qt);                        // ignored: float input
    EXPECT_EQ(qb->input(1).node->type_name(), std::string("Constant"));
    EXPECT_EQ(qa->input(0).node->type_name(), std::string("FakeQuantize"));
    EXPECT_EQ(qa->input(0), qc->input(0));
    EXPECT_EQ(qm->results()[1]->input(0).node.get(), qt);         // the graph output stays float
    // The residual-style Add of two activations is quantized on both inputs (not in TRANSFORMER).
    int on_add = 0;
    for (auto& n : qm->ordered_ops())
        if (std::string(n->type_name()) == "Add")
            for (auto& in : n->inputs()) on_add += std::string(in.node->type_name()) == "FakeQuantize";
    EXPECT_EQ(on_add, 4);
}

TEST(QuantizeGraph, SmoothQuantInTransformerMode) {
    // x -> two MatMuls with constant weights (a SmoothQuant group), one channel of x 50x larger.
    auto x = param(PartialShape({Dimension(), 4}));
    Tensor w1 = random_tensor({3, 4}, 1), w2 = random_tensor({5, 4}, 2);
    auto a = make<MatMul>({x->output(0), cst(w1)}, false, true);
    auto b = make<MatMul>({x->output(0), cst(w2)}, false, true);
    auto r1 = make<Result>({a->output(0)}), r2 = make<Result>({b->output(0)});
    auto m = std::make_shared<Model>(ResultVector{r1, r2}, ParameterVector{x});
    QuantizeOptions o;
    o.transformer = true;
    o.symmetric_activations = false;
    Quantizer q(*m, o);
    std::vector<Tensor> items;
    for (uint32_t i = 0; i < 3; ++i) {
        Tensor t = random_tensor({6, 4}, 20 + i);
        for (int r = 0; r < 6; ++r) t.data<float>()[r * 4 + 2] *= 50;
        items.push_back(t);
    }
    calibrate(q, items);
    auto qm = q.finish();
    EXPECT_EQ(q.counts()[2], 1);
    auto muls = of_type(*qm, "Multiply");
    ASSERT_EQ(muls.size(), 1u);
    const Tensor& inv = *muls[0]->input(1).node->constant_value();
    EXPECT_EQ(inv.shape(), (Shape{4}));
    // The large channel is divided the most, and W' * (1/s) gives back W along the input channels.
    EXPECT_LT(inv.data<float>()[2], inv.data<float>()[0]);
    for (auto* f : of_type(*qm, "FakeQuantize")) {
        if (!f->input(0).node->constant_value()) continue;
        const Tensor& ws = *f->input(0).node->constant_value();
        const Tensor& w = ws.shape()[0] == 3 ? w1 : w2;
        for (int64_t r = 0; r < ws.shape()[0]; ++r)
            for (int64_t c = 0; c < 4; ++c)
                EXPECT_NEAR(ws.data<float>()[r * 4 + c] * inv.data<float>()[c], w.data<float>()[r * 4 + c], 1e-5);
    }
    // Outputs near the float ones (the range is the mean of the items' maxima, so the largest
    // values of an item are clipped).
    auto y0 = evaluate_model(*m, {items[0]}), y1 = evaluate_model(*qm, {items[0]});
    for (size_t k = 0; k < 2; ++k)
        for (int64_t i = 0; i < y0[k].size(); ++i)
            EXPECT_NEAR(y1[k].data<float>()[i], y0[k].data<float>()[i], 0.1 + 0.1 * std::fabs(y0[k].data<float>()[i]));
}
