// dnn family: Convolution, GroupConvolution, MatMul, pooling ops, the fused ops, their oneDNN
// kernels (the fuse_dnn pass is tested in test_passes.cpp, with the real ops it fuses).
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>
#include <cmath>
#include <map>
#include <random>
#include <variant>

#include "kiln/core/model.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"
#include "kiln/runtime/cpu/kernels/gemm.hpp"

#include "test_util.hpp"

using namespace kiln;
using op::PadType;
using op::PostOp;
using op::RoundingType;
using V = std::vector<int64_t>;

namespace {

// ---------------------------------------------------------------- helpers

using test::random_tensor;
using test::close;

std::shared_ptr<op::Parameter> param(PartialShape s, Type t = Type::f32) {
    return make<op::Parameter>({}, t, std::move(s));
}

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }

std::vector<Tensor> alloc_outputs(const Node& n) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i)
        out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    return out;
}

std::vector<Tensor> run_reference(const Node& n, const std::vector<Tensor>& in) {
    auto out = alloc_outputs(n);
    n.evaluate(in, out);
    return out;
}

std::vector<Tensor> run_fast(const Node& n, const std::vector<Tensor>& in,
                             const char** kernel_name = nullptr) {
    cpu::KernelShapes sh;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        sh.inputs.push_back({in[i].type(), PartialShape(in[i].shape())});
        sh.constants.push_back(n.input(i).node->constant_value());
    }
    for (size_t i = 0; i < n.num_outputs(); ++i)
        sh.outputs.push_back({n.output_type(i), n.output_shape(i)});
    auto k = cpu::make_onednn_kernel(n, sh);
    if (!k) throw Error(str_cat("no oneDNN kernel for ", n.type_name()));
    if (kernel_name) *kernel_name = k->name();
    auto out = alloc_outputs(n);
    k->execute(in, out);
    return out;
}

// Inputs for evaluate: the node's constants, random tensors for the rest.
std::vector<Tensor> inputs_of(const Node& n, uint32_t seed) {
    std::vector<Tensor> in;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        const Tensor* c = n.input(i).node->constant_value();
        in.push_back(c ? *c : random_tensor(n.input(i).shape().to_shape(), seed + 17 * i));
    }
    return in;
}


void expect_fast_matches_reference(const Node& n, uint32_t seed = 1) {
    auto in = inputs_of(n, seed);
    auto ref = run_reference(n, in);
    auto fast = run_fast(n, in);
    ASSERT_EQ(ref.size(), fast.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(close(fast[i], ref[i])) << "output " << i;
}

std::string fail_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// Stores every attribute, then writes them into another op: an IR write + read in memory.
struct AttrStore : AttributeVisitor {
    using Val = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                             std::vector<double>, Type, PartialShape>;
    std::map<std::string, Val> m;
    bool load = false;
    Direction direction() const override { return load ? Direction::read : Direction::write; }
    template <typename T>
    void io(const char* n, T& v) {
        if (load) v = std::get<T>(m.at(n));
        else m[n] = v;
    }
    void on(const char* n, bool& v) override { io(n, v); }
    void on(const char* n, int64_t& v) override { io(n, v); }
    void on(const char* n, double& v) override { io(n, v); }
    void on(const char* n, std::string& v) override { io(n, v); }
    void on(const char* n, std::vector<int64_t>& v) override { io(n, v); }
    void on(const char* n, std::vector<double>& v) override { io(n, v); }
    void on(const char* n, Type& v) override { io(n, v); }
    void on(const char* n, PartialShape& v) override { io(n, v); }
};

template <typename T>
void expect_round_trip(T original, std::initializer_list<const char*> names) {
    AttrStore s;
    original.visit_attributes(s);
    for (auto* n : names) EXPECT_TRUE(s.m.count(n)) << "attribute " << n;
    T copy;
    s.load = true;
    copy.visit_attributes(s);
    EXPECT_TRUE(same_attributes(original, copy)) << original.attributes_string() << " vs "
                                                 << copy.attributes_string();
}

}  // namespace

// ---------------------------------------------------------------- Convolution shapes

TEST(Convolution, ShapeExplicitStridesDilations) {
    auto x = param({1, 3, 10, 11});
    auto w = param({8, 3, 3, 3});
    auto c = make<op::Convolution>({x->output(0), w->output(0)}, V{2, 2}, V{1, 1}, V{1, 1}, V{1, 1});
    EXPECT_EQ(c->output_shape(0).to_string(), "[1,8,5,6]");
    auto d = make<op::Convolution>({x->output(0), w->output(0)}, V{1, 1}, V{0, 0}, V{0, 0}, V{2, 3});
    EXPECT_EQ(d->output_shape(0).to_string(), "[1,8,6,5]");
    auto asym = make<op::Convolution>({x->output(0), w->output(0)}, V{1, 1}, V{0, 2}, V{1, 0}, V{1, 1});
    EXPECT_EQ(asym->output_shape(0).to_string(), "[1,8,9,11]");
}

TEST(Convolution, ShapeAutoPad) {
    auto x = param({1, 3, 10, 11});
    auto w = param({8, 3, 3, 3});
    for (auto pad : {PadType::same_upper, PadType::same_lower}) {
        auto c = make<op::Convolution>({x->output(0), w->output(0)}, V{2, 2}, V{9, 9}, V{9, 9}, V{1, 1}, pad);
        EXPECT_EQ(c->output_shape(0).to_string(), "[1,8,5,6]");
    }
    auto v = make<op::Convolution>({x->output(0), w->output(0)}, V{2, 2}, V{9, 9}, V{9, 9}, V{1, 1},
                                   PadType::valid);
    EXPECT_EQ(v->output_shape(0).to_string(), "[1,8,4,5]");
}

TEST(Convolution, Shape1D3DAndDynamic) {
    auto c1 = make<op::Convolution>({param({2, 4, 9})->output(0), param({5, 4, 3})->output(0)},
                                    V{2}, V{1}, V{1}, V{1});
    EXPECT_EQ(c1->output_shape(0).to_string(), "[2,5,5]");
    auto c3 = make<op::Convolution>({param({1, 2, 5, 6, 7})->output(0), param({3, 2, 3, 3, 3})->output(0)},
                                    V{1, 1, 1}, V{0, 0, 0}, V{0, 0, 0}, V{1, 1, 1});
    EXPECT_EQ(c3->output_shape(0).to_string(), "[1,3,3,4,5]");
    auto dyn = make<op::Convolution>(
        {param({Dimension(), 3, Dimension(8, 16), 10})->output(0), param({8, 3, 3, 3})->output(0)},
        V{1, 1}, V{0, 0}, V{0, 0}, V{1, 1});
    EXPECT_EQ(dyn->output_shape(0).to_string(), "[?,8,6..14,8]");
    // Dynamic data rank: output channels still come from the weights.
    auto dr = make<op::Convolution>({param(PartialShape::dynamic())->output(0), param({8, 3, 3, 3})->output(0)},
                                    V{}, V{}, V{}, V{});
    EXPECT_EQ(dr->output_shape(0).to_string(), "[?,8,?,?]");
    auto both = make<op::Convolution>({param(PartialShape::dynamic())->output(0),
                                       param(PartialShape::dynamic())->output(0)},
                                      V{}, V{}, V{}, V{});
    EXPECT_TRUE(both->output_shape(0).rank_is_dynamic());
}

TEST(Convolution, ShapeErrors) {
    auto msg = fail_message([] {
        auto x = param({1, 4, 8, 8});
        x->set_name("x");
        auto c = std::make_shared<op::Convolution>(V{1, 1}, V{0, 0}, V{0, 0}, V{1, 1});
        c->set_name("conv1");
        c->set_inputs({x->output(0), param({8, 3, 3, 3})->output(0)});
        c->validate_and_infer();
    });
    EXPECT_NE(msg.find("[Convolution conv1] input channels 4 do not match weights' 3"), std::string::npos) << msg;
    EXPECT_NE(fail_message([] {
                  make<op::Convolution>({param({1, 3, 8, 8})->output(0), param({8, 3, 3})->output(0)},
                                        V{}, V{}, V{}, V{});
              }).find("rank"),
              std::string::npos);
    EXPECT_NE(fail_message([] {
                  make<op::Convolution>({param({1, 3, 8, 8})->output(0), param({8, 3, 3, 3})->output(0)},
                                        V{1}, V{}, V{}, V{});
              }).find("strides has 1 values, expected 2"),
              std::string::npos);
    EXPECT_NE(fail_message([] {
                  make<op::Convolution>({param({1, 3, 2, 2})->output(0), param({8, 3, 3, 3})->output(0)},
                                        V{}, V{}, V{}, V{});
              }).find("larger than the padded input"),
              std::string::npos);
}

TEST(GroupConvolution, Shape) {
    auto g = make<op::GroupConvolution>({param({2, 8, 7, 7})->output(0), param({4, 3, 2, 3, 3})->output(0)},
                                        V{2, 2}, V{1, 1}, V{1, 1}, V{1, 1});
    EXPECT_EQ(g->output_shape(0).to_string(), "[2,12,4,4]");
    auto msg = fail_message([] {
        make<op::GroupConvolution>({param({2, 6, 7, 7})->output(0), param({4, 3, 2, 3, 3})->output(0)},
                                   V{}, V{}, V{}, V{});
    });
    EXPECT_NE(msg.find("input channels 6 do not match weights' 8"), std::string::npos) << msg;
}

TEST(Convolution, AttributeRoundTrip) {
    expect_round_trip(op::Convolution(V{2, 1}, V{1, 0}, V{0, 1}, V{1, 2}, PadType::same_lower),
                      {"strides", "pads_begin", "pads_end", "dilations", "auto_pad"});
    expect_round_trip(op::GroupConvolution(V{2}, V{1}, V{0}, V{3}, PadType::valid),
                      {"strides", "pads_begin", "pads_end", "dilations", "auto_pad"});
    expect_round_trip(op::MatMul(true, false), {"transpose_a", "transpose_b"});
    expect_round_trip(op::MaxPool(V{2, 2}, V{1, 1}, V{0, 1}, V{1, 0}, V{3, 3}, RoundingType::ceil,
                                  PadType::explicit_pad, Type::i32, 2),
                      {"strides", "dilations", "pads_begin", "pads_end", "kernel", "rounding_type",
                       "auto_pad", "index_element_type", "axis"});
    expect_round_trip(op::AvgPool(V{2}, V{1}, V{1}, V{3}, true, RoundingType::ceil, PadType::same_upper),
                      {"strides", "pads_begin", "pads_end", "kernel", "exclude-pad", "rounding_type", "auto_pad"});
    expect_round_trip(op::AdaptiveMaxPool(Type::i32), {"index_element_type"});
    expect_round_trip(op::FusedConvolution(V{1, 1}, V{1, 1}, V{1, 1}, V{1, 1}, PadType::explicit_pad, 4, true,
                                           {{op::Activation::clamp, -0.5, 6.25}, PostOp::residual(),
                                            {op::Activation::elu, 0.1}}),
                      {"group", "with_bias", "post_ops"});
    expect_round_trip(op::FusedMatMul(false, true, true, {{op::Activation::gelu_tanh}}),
                      {"transpose_a", "transpose_b", "with_bias", "post_ops"});
    auto ops = op::post_ops_from_string("relu:0.1;sum;clamp:0:6");
    ASSERT_EQ(ops.size(), 3u);
    EXPECT_EQ(ops[2].act.beta, 6.0);
    EXPECT_THROW(op::post_ops_from_string("bogus"), ValueError);
    EXPECT_THROW(op::post_ops_from_string("clamp:1"), ValueError);
}

// ---------------------------------------------------------------- MatMul shapes

TEST(MatMul, Shapes) {
    auto mm = [](PartialShape a, PartialShape b, bool ta = false, bool tb = false) {
        return make<op::MatMul>({param(a)->output(0), param(b)->output(0)}, ta, tb)->output_shape(0).to_string();
    };
    EXPECT_EQ(mm({2, 3}, {3, 4}), "[2,4]");
    EXPECT_EQ(mm({3, 2}, {4, 3}, true, true), "[2,4]");
    EXPECT_EQ(mm({3}, {3, 4}), "[4]");
    EXPECT_EQ(mm({2, 3}, {3}), "[2]");
    EXPECT_EQ(mm({3}, {3}, true, true), "[]");
    EXPECT_EQ(mm({2, 1, 3, 4}, {5, 4, 6}), "[2,5,3,6]");
    EXPECT_EQ(mm({7, 3, 4}, {4, 6}), "[7,3,6]");
    EXPECT_EQ(mm({Dimension(), 3, 4}, {Dimension(), 4, 6}), "[?,3,6]");
    EXPECT_EQ(mm({Dimension(), 3, 4}, {5, 4, 6}), "[5,3,6]");
    EXPECT_TRUE(make<op::MatMul>({param(PartialShape::dynamic())->output(0), param({3, 4})->output(0)})
                    ->output_shape(0).rank_is_dynamic());
    auto msg = fail_message([&] { mm({2, 3}, {4, 5}); });
    EXPECT_NE(msg.find("inner dimensions do not match"), std::string::npos) << msg;
    msg = fail_message([&] { mm({2, 2, 3}, {3, 3, 5}); });
    EXPECT_NE(msg.find("batch dimensions do not broadcast"), std::string::npos) << msg;
}

// ---------------------------------------------------------------- pooling shapes

TEST(Pooling, MaxPoolShapes) {
    auto mp = [](PartialShape x, V k, V s, V pb, V pe, RoundingType r = RoundingType::floor,
                 PadType pad = PadType::explicit_pad, V d = {}) {
        auto n = make<op::MaxPool>({param(x)->output(0)}, s, d, pb, pe, k, r, pad);
        EXPECT_EQ(n->output_shape(0), n->output_shape(1));
        EXPECT_EQ(n->output_type(1), Type::i64);
        return n->output_shape(0).to_string();
    };
    EXPECT_EQ(mp({1, 2, 5, 5}, V{2, 2}, V{2, 2}, V{0, 0}, V{0, 0}), "[1,2,2,2]");
    EXPECT_EQ(mp({1, 2, 5, 5}, V{2, 2}, V{2, 2}, V{0, 0}, V{0, 0}, RoundingType::ceil), "[1,2,3,3]");
    EXPECT_EQ(mp({1, 2, 5, 6}, V{3, 3}, V{2, 2}, V{0, 0}, V{0, 0}, RoundingType::floor, PadType::same_upper),
              "[1,2,3,3]");
    EXPECT_EQ(mp({1, 2, 5, 6}, V{3, 3}, V{1, 1}, V{1, 1}, V{1, 1}, RoundingType::floor, PadType::valid),
              "[1,2,3,4]");
    EXPECT_EQ(mp({1, 2, 9, 9}, V{3, 3}, V{1, 1}, V{0, 0}, V{0, 0}, RoundingType::floor, PadType::explicit_pad,
                 V{2, 2}),
              "[1,2,5,5]");
    EXPECT_EQ(mp({Dimension(), 2, Dimension(), 8}, V{2, 2}, V{2, 2}, V{0, 0}, V{0, 0}), "[?,2,?,4]");
    EXPECT_EQ(mp(PartialShape::dynamic(), V{2, 2}, V{2, 2}, V{0, 0}, V{0, 0}), "[?,?,?,?]");
    EXPECT_NE(fail_message([&] { mp({1, 2, 5, 5}, V{2}, V{2, 2}, V{}, V{}); }).find("kernel has 1 values"),
              std::string::npos);
    EXPECT_NE(fail_message([] {
                  make<op::MaxPool>({param({1, 2, 5, 5})->output(0)}, V{}, V{}, V{}, V{}, V{2, 2},
                                    RoundingType::floor, PadType::explicit_pad, Type::f32);
              }).find("index_element_type"),
              std::string::npos);
}

TEST(Pooling, AvgAndAdaptiveShapes) {
    auto ap = make<op::AvgPool>({param({1, 2, 7, 7})->output(0)}, V{2, 2}, V{1, 1}, V{1, 1}, V{3, 3}, true,
                                RoundingType::ceil);
    EXPECT_EQ(ap->output_shape(0).to_string(), "[1,2,4,4]");
    auto a = make<op::AdaptiveAvgPool>({param({2, 3, 7, 9})->output(0), cst(Tensor::from_vector<int64_t>({3, 4}, {2}))});
    EXPECT_EQ(a->output_shape(0).to_string(), "[2,3,3,4]");
    auto am = make<op::AdaptiveMaxPool>(
        {param({2, 3, 7})->output(0), cst(Tensor::from_vector<int32_t>({3}, {1}))}, Type::i32);
    EXPECT_EQ(am->output_shape(1).to_string(), "[2,3,3]");
    EXPECT_EQ(am->output_type(1), Type::i32);
    auto ad = make<op::AdaptiveAvgPool>({param({2, 3, 7, 9})->output(0), param({2}, Type::i64)->output(0)});
    EXPECT_EQ(ad->output_shape(0).to_string(), "[2,3,?,?]");
    EXPECT_NE(fail_message([] {
                  make<op::AdaptiveAvgPool>({param({2, 3, 7, 9})->output(0),
                                             cst(Tensor::from_vector<int64_t>({3, 4, 5}, {3}))});
              }).find("expected 2"),
              std::string::npos);
}

// ---------------------------------------------------------------- reference kernels

TEST(Reference, ConvolutionSmallByHand) {
    // 1x1x3x3 input, 2x2 all-ones kernel: each output is a 2x2 window sum.
    auto x = cst(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}));
    auto w = cst(Tensor::from_vector<float>({1, 1, 1, 1}, {1, 1, 2, 2}));
    auto c = make<op::Convolution>({x, w}, V{1, 1}, V{0, 0}, V{0, 0}, V{1, 1});
    auto out = run_reference(*c, inputs_of(*c, 0));
    EXPECT_EQ(out[0].as_f64_vector(), (std::vector<double>{12, 16, 24, 28}));
}

TEST(Reference, MaxPoolIndicesAndAxis) {
    auto x = cst(Tensor::from_vector<float>({1, 9, 3, 4, 5, 6, 7, 8, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 3}));
    for (int64_t axis : {0, 2}) {
        auto mp = make<op::MaxPool>({x}, V{1, 1}, V{}, V{0, 0}, V{0, 0}, V{2, 2}, RoundingType::floor,
                                    PadType::explicit_pad, Type::i64, axis);
        auto out = run_reference(*mp, inputs_of(*mp, 0));
        EXPECT_EQ(out[0].as_f64_vector(), (std::vector<double>{9, 9, 8, 8, 4, 5, 7, 8}));
        std::vector<int64_t> want{1, 1, 7, 7, 4, 5, 7, 8};
        if (axis == 0)
            for (size_t i = 4; i < 8; ++i) want[i] += 9;
        EXPECT_EQ(out[1].as_i64_vector(), want) << "axis " << axis;
    }
}

TEST(Reference, AvgPoolPadding) {
    auto x = cst(Tensor::from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2}));
    auto inc = make<op::AvgPool>({x}, V{1, 1}, V{1, 1}, V{0, 0}, V{2, 2}, false);
    auto exc = make<op::AvgPool>({x}, V{1, 1}, V{1, 1}, V{0, 0}, V{2, 2}, true);
    EXPECT_EQ(run_reference(*inc, inputs_of(*inc, 0))[0].as_f64_vector(), (std::vector<double>{0.25, 0.75, 1, 2.5}));
    EXPECT_EQ(run_reference(*exc, inputs_of(*exc, 0))[0].as_f64_vector(), (std::vector<double>{1, 1.5, 2, 2.5}));
}

TEST(Reference, MatMulByHand) {
    auto a = cst(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
    auto b = cst(Tensor::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2}));
    auto m = make<op::MatMul>({a, b});
    EXPECT_EQ(run_reference(*m, inputs_of(*m, 0))[0].as_f64_vector(), (std::vector<double>{4, 5, 10, 11}));
    auto v = cst(Tensor::from_vector<float>({1, 1}, {2}));
    auto m2 = make<op::MatMul>({v, a});  // [2] x [2,3] -> [3]
    EXPECT_EQ(run_reference(*m2, inputs_of(*m2, 0))[0].as_f64_vector(), (std::vector<double>{5, 7, 9}));
}

TEST(Reference, F64MatchesF32) {
    Tensor xf = random_tensor({1, 2, 5, 4}, 3), wf = random_tensor({3, 2, 3, 3}, 4);
    Tensor xd(Type::f64, xf.shape()), wd(Type::f64, wf.shape());
    convert_elements(xf.data(), Type::f32, xd.data(), Type::f64, xf.size());
    convert_elements(wf.data(), Type::f32, wd.data(), Type::f64, wf.size());
    auto cf = make<op::Convolution>({cst(xf), cst(wf)}, V{1, 2}, V{1, 1}, V{1, 0}, V{1, 1});
    auto cd = make<op::Convolution>({cst(xd), cst(wd)}, V{1, 2}, V{1, 1}, V{1, 0}, V{1, 1});
    auto of = run_reference(*cf, inputs_of(*cf, 0));
    auto od = run_reference(*cd, inputs_of(*cd, 0));
    EXPECT_EQ(od[0].type(), Type::f64);
    EXPECT_TRUE(close(od[0], of[0], 1e-5));
}

// ---------------------------------------------------------------- oneDNN kernels vs reference

struct ConvCase {
    Shape x;
    int64_t oc, groups;
    V k, s, d, pb, pe;
    PadType pad = PadType::explicit_pad;
};

class ConvKernels : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvKernels, MatchReference) {
    const ConvCase& c = GetParam();
    Shape ws;
    if (c.groups == 1) ws = {c.oc, c.x[1]};
    else ws = {c.groups, c.oc / c.groups, c.x[1] / c.groups};
    ws.insert(ws.end(), c.k.begin(), c.k.end());
    auto x = param(PartialShape(c.x));
    auto w = cst(random_tensor(ws, 7));
    NodePtr n;
    if (c.groups == 1) n = make<op::Convolution>({x->output(0), w}, c.s, c.pb, c.pe, c.d, c.pad);
    else n = make<op::GroupConvolution>({x->output(0), w}, c.s, c.pb, c.pe, c.d, c.pad);
    expect_fast_matches_reference(*n);
    for (auto layout : {cpu::onednn::ConvLayout::plain, cpu::onednn::ConvLayout::blocked}) {
        auto in = inputs_of(*n, 5);
        cpu::KernelShapes sh;
        for (size_t i = 0; i < 2; ++i) {
            sh.inputs.push_back({Type::f32, PartialShape(in[i].shape())});
            sh.constants.push_back(n->input(i).node->constant_value());
        }
        sh.outputs.push_back({Type::f32, n->output_shape(0)});
        auto k = cpu::onednn::make_conv_kernel(*n, sh, layout);
        ASSERT_TRUE(k);
        auto out = alloc_outputs(*n);
        k->execute(in, out);
        EXPECT_TRUE(close(out[0], run_reference(*n, in)[0]));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvKernels,
    ::testing::Values(
        ConvCase{{1, 3, 13, 11}, 8, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
        ConvCase{{3, 5, 9, 9}, 7, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
        ConvCase{{1, 16, 15, 15}, 16, 1, {5, 5}, {2, 2}, {1, 1}, {2, 1}, {0, 2}},
        ConvCase{{1, 3, 23, 21}, 16, 1, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}},
        ConvCase{{2, 8, 11, 12}, 8, 1, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}},
        ConvCase{{1, 32, 10, 10}, 32, 1, {3, 3}, {2, 1}, {1, 1}, {0, 0}, {0, 0}, PadType::same_upper},
        ConvCase{{1, 8, 10, 9}, 4, 1, {4, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, PadType::same_lower},
        ConvCase{{1, 8, 10, 9}, 4, 1, {3, 3}, {2, 2}, {1, 1}, {5, 5}, {5, 5}, PadType::valid},
        ConvCase{{1, 32, 14, 14}, 32, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},        // depthwise
        ConvCase{{3, 24, 9, 7}, 24, 24, {5, 5}, {2, 2}, {1, 1}, {2, 2}, {2, 2}},          // depthwise s2
        ConvCase{{1, 12, 9, 9}, 18, 3, {3, 3}, {1, 1}, {1, 1}, {1, 0}, {0, 1}},           // grouped
        ConvCase{{2, 16, 8, 8}, 32, 4, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
        ConvCase{{2, 6, 17}, 5, 1, {3}, {2}, {1}, {1}, {0}},                              // 1-D
        ConvCase{{1, 8, 31}, 8, 8, {5}, {1}, {2}, {4}, {4}},                              // 1-D dw dil
        ConvCase{{1, 4, 5, 7, 6}, 6, 1, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1}, {1, 0, 1}},  // 3-D
        ConvCase{{2, 4, 6, 5, 5}, 8, 2, {1, 3, 3}, {1, 1, 1}, {1, 1, 2}, {0, 1, 2}, {0, 1, 2}}));

// ---------------------------------------------------------------- transposed convolution

TEST(ConvolutionBackpropData, Shapes) {
    auto dc = [](PartialShape x, PartialShape w, V s, V pb, V pe, V d, V op, PadType pad = PadType::explicit_pad) {
        auto n = make<op::ConvolutionBackpropData>({param(x)->output(0), param(w)->output(0)}, s, pb, pe, d, pad, op);
        return n->output_shape(0).to_string();
    };
    // (in - 1) * s + (k - 1) * d + 1 - pb - pe + op
    EXPECT_EQ(dc({1, 3, 4, 5}, {3, 2, 3, 3}, V{2, 2}, V{0, 0}, V{0, 0}, V{1, 1}, V{}), "[1,2,9,11]");
    EXPECT_EQ(dc({2, 4, 4, 5}, {4, 6, 3, 3}, V{2, 2}, V{1, 1}, V{1, 1}, V{2, 2}, V{1, 1}), "[2,6,10,12]");
    EXPECT_EQ(dc({2, 4, 5}, {4, 6, 3}, V{3}, V{0}, V{0}, V{1}, V{2}), "[2,6,17]");
    EXPECT_EQ(dc({1, 2, 3, 4, 3}, {2, 3, 2, 2, 2}, V{2, 2, 2}, V{1, 1, 1}, V{1, 1, 1}, V{}, V{1, 1, 1}), "[1,3,5,7,5]");
    EXPECT_EQ(dc({1, 3, 4, 5}, {3, 2, 3, 3}, V{2, 3}, V{}, V{}, V{}, V{}, PadType::same_upper), "[1,2,8,15]");
    EXPECT_EQ(dc({1, 3, 4, 5}, {3, 2, 3, 3}, V{2, 2}, V{9, 9}, V{9, 9}, V{}, V{}, PadType::valid), "[1,2,9,11]");
    EXPECT_EQ(dc({Dimension(), 3, Dimension(), 5}, {3, 2, 3, 3}, V{2, 2}, V{1, 1}, V{1, 1}, V{}, V{}), "[?,2,?,9]");
    auto g = make<op::GroupConvolutionBackpropData>({param({2, 4, 4, 5})->output(0), param({2, 2, 3, 3, 3})->output(0)},
                                                    V{2, 2}, V{1, 1}, V{1, 1}, V{2, 2}, PadType::explicit_pad, V{1, 1});
    EXPECT_EQ(g->output_shape(0).to_string(), "[2,6,10,12]");
    EXPECT_NE(fail_message([&] { dc({1, 3, 4, 5}, {2, 2, 3, 3}, V{2, 2}, V{}, V{}, V{}, V{}); }).find("input channels"),
              std::string::npos);
    EXPECT_NE(fail_message([&] { dc({1, 3, 4, 5}, {3, 2, 3, 3}, V{2, 2}, V{}, V{}, V{}, V{2, 0}); }).find("output_padding 2"),
              std::string::npos);
    EXPECT_NE(fail_message([&] { dc({1, 3, 1, 1}, {3, 2, 1, 1}, V{1, 1}, V{1, 0}, V{1, 0}, V{}, V{}); }).find("crop away"),
              std::string::npos);
    EXPECT_NE(fail_message([] {
                  make<op::ConvolutionBackpropData>({param({1, 3, 4, 5})->output(0), param({3, 2, 3, 3})->output(0),
                                                     cst(Tensor::from_vector<int64_t>({8, 8}, {2}))},
                                                    V{2, 2}, V{}, V{}, V{});
              }).find("output_shape input is not supported"),
              std::string::npos);
    expect_round_trip(op::ConvolutionBackpropData(V{2, 2}, V{1, 0}, V{0, 1}, V{1, 2}, PadType::explicit_pad, V{1, 0}),
                      {"strides", "pads_begin", "pads_end", "dilations", "auto_pad", "output_padding"});
    expect_round_trip(op::GroupConvolutionBackpropData(V{2}, V{1}, V{0}, V{1}, PadType::same_lower, V{1}),
                      {"strides", "pads_begin", "pads_end", "dilations", "auto_pad", "output_padding"});
}

TEST(Reference, ConvolutionBackpropDataByHand) {
    // 1-D: x = [1, 2], w = [1, 10, 100], stride 2: y[2i + k] += x[i] * w[k].
    auto x = cst(Tensor::from_vector<float>({1, 2}, {1, 1, 2}));
    auto w = cst(Tensor::from_vector<float>({1, 10, 100}, {1, 1, 3}));
    auto d = make<op::ConvolutionBackpropData>({x, w}, V{2}, V{0}, V{0}, V{1});
    EXPECT_EQ(run_reference(*d, inputs_of(*d, 0))[0].as_f64_vector(), (std::vector<double>{1, 10, 102, 20, 200}));
    // pads crop both ends, output_padding adds a zero (no tap reaches it).
    auto p = make<op::ConvolutionBackpropData>({x, w}, V{2}, V{1}, V{2}, V{1}, PadType::explicit_pad, V{1});
    EXPECT_EQ(run_reference(*p, inputs_of(*p, 0))[0].as_f64_vector(), (std::vector<double>{10, 102, 20}));
    auto q = make<op::ConvolutionBackpropData>({x, w}, V{3}, V{0}, V{0}, V{1}, PadType::explicit_pad, V{2});
    EXPECT_EQ(run_reference(*q, inputs_of(*q, 0))[0].as_f64_vector(), (std::vector<double>{1, 10, 100, 2, 20, 200, 0, 0}));
    // Groups: each group maps its own channel.
    auto x2 = cst(Tensor::from_vector<float>({1, 2}, {1, 2, 1}));
    auto w2 = cst(Tensor::from_vector<float>({3, 5}, {2, 1, 1, 1}));
    auto g = make<op::GroupConvolutionBackpropData>({x2, w2}, V{1}, V{0}, V{0}, V{1});
    EXPECT_EQ(run_reference(*g, inputs_of(*g, 0))[0].as_f64_vector(), (std::vector<double>{3, 10}));
}

struct DeconvCase {
    Shape x;
    int64_t oc, groups;
    V k, s, d, pb, pe, op;
    PadType pad = PadType::explicit_pad;
};

class DeconvKernels : public ::testing::TestWithParam<DeconvCase> {};

TEST_P(DeconvKernels, MatchReference) {
    const DeconvCase& c = GetParam();
    Shape ws;
    if (c.groups == 1) ws = {c.x[1], c.oc};
    else ws = {c.groups, c.x[1] / c.groups, c.oc / c.groups};
    ws.insert(ws.end(), c.k.begin(), c.k.end());
    auto x = param(PartialShape(c.x));
    auto w = cst(random_tensor(ws, 7));
    NodePtr n;
    if (c.groups == 1) n = make<op::ConvolutionBackpropData>({x->output(0), w}, c.s, c.pb, c.pe, c.d, c.pad, c.op);
    else n = make<op::GroupConvolutionBackpropData>({x->output(0), w}, c.s, c.pb, c.pe, c.d, c.pad, c.op);
    const char* name = nullptr;
    auto in = inputs_of(*n, 3);
    auto fast = run_fast(*n, in, &name);
    EXPECT_STREQ(name, "onednn_deconv");
    EXPECT_TRUE(close(fast[0], run_reference(*n, in)[0]));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DeconvKernels,
    ::testing::Values(
        DeconvCase{{1, 3, 4, 5}, 2, 1, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {}},
        DeconvCase{{2, 4, 4, 5}, 6, 2, {3, 3}, {2, 2}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},
        DeconvCase{{2, 4, 5}, 6, 2, {3}, {3}, {1}, {0}, {0}, {2}},                   // output_padding past the taps
        DeconvCase{{1, 1, 1, 1}, 1, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {}},  // all ones
        DeconvCase{{1, 16, 7, 9}, 8, 1, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {}},
        DeconvCase{{1, 8, 5, 5}, 8, 8, {4, 4}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, {}},  // depthwise
        DeconvCase{{1, 5, 3, 4}, 3, 1, {2, 3}, {1, 2}, {1, 1}, {0, 1}, {1, 0}, {0, 1}},
        DeconvCase{{1, 6, 4, 4}, 4, 1, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {}, PadType::same_upper},
        DeconvCase{{1, 6, 4, 4}, 4, 1, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, PadType::same_lower},
        DeconvCase{{1, 2, 3, 4, 3}, 3, 1, {2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},  // 3-D
        DeconvCase{{1, 4, 3, 3, 4}, 2, 2, {3, 3, 3}, {1, 2, 1}, {2, 1, 1}, {0, 0, 0}, {0, 0, 0}, {}}));

TEST(Pooling, CeilTorchRounding) {
    // torch drops a last window that would start in the end padding: L = 4, k = 2, s = 3, p = 1
    // gives 3 windows by the opset-8 ceil rule and 2 by torch's.
    auto mp = [](RoundingType r, Shape x) {
        auto n = make<op::MaxPool>({param(PartialShape(x))->output(0)}, V{3}, V{}, V{1}, V{1}, V{2}, r);
        return n->output_shape(0).to_string();
    };
    EXPECT_EQ(mp(RoundingType::ceil, {1, 1, 4}), "[1,1,3]");
    EXPECT_EQ(mp(RoundingType::ceil_torch, {1, 1, 4}), "[1,1,2]");
    EXPECT_EQ(mp(RoundingType::ceil_torch, {1, 1, 6}), "[1,1,3]");  // the last window starts at 5 < 6 + 1
    auto ap = make<op::AvgPool>({param({1, 1, 4})->output(0)}, V{3}, V{1}, V{1}, V{2}, false, RoundingType::ceil_torch);
    EXPECT_EQ(ap->output_shape(0).to_string(), "[1,1,2]");
    EXPECT_STREQ(ap->opset(), "opset14");
    expect_round_trip(op::MaxPool(V{3}, V{}, V{1}, V{1}, V{2}, RoundingType::ceil_torch), {"rounding_type"});
}

TEST(Reference, IntegerConvAndPooling) {
    auto x = cst(Tensor::from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}));
    auto w = cst(Tensor::from_vector<int64_t>({1, 1, 1, 1}, {1, 1, 2, 2}));
    auto c = make<op::Convolution>({x, w}, V{1, 1}, V{0, 0}, V{0, 0}, V{1, 1});
    EXPECT_EQ(run_reference(*c, inputs_of(*c, 0))[0].as_i64_vector(), (std::vector<int64_t>{12, 16, 24, 28}));
    auto mp = make<op::MaxPool>({x}, V{2, 2}, V{}, V{0, 0}, V{0, 0}, V{2, 2}, RoundingType::ceil_torch);
    EXPECT_EQ(run_reference(*mp, inputs_of(*mp, 0))[0].as_i64_vector(), (std::vector<int64_t>{5, 6, 8, 9}));
    // Integer averages truncate toward zero: (1 + 2 + 4 + 5) / 4 = 3, (3 + 6) / 2 = 4.
    auto ap = make<op::AvgPool>({x}, V{2, 2}, V{0, 0}, V{0, 0}, V{2, 2}, true, RoundingType::ceil_torch);
    EXPECT_EQ(run_reference(*ap, inputs_of(*ap, 0))[0].as_i64_vector(), (std::vector<int64_t>{3, 4, 7, 9}));
}

TEST(FusedKernels, ConvolutionWithEveryPostOp) {
    using K = op::Activation;
    const PostOp sum = PostOp::residual();
    std::vector<std::vector<PostOp>> chains = {
        {},
        {{K::relu}},
        {{K::relu, 0.1}},
        {{K::clamp, -0.3, 0.4}},
        {{K::sigmoid}},
        {{K::tanh}, {K::abs}},
        {{K::swish, 1.5}},
        {{K::hswish}},
        {{K::hsigmoid}},
        {{K::gelu_erf}},
        {{K::gelu_tanh}},
        {{K::elu, 0.7}},
        {{K::mish}},
        {{K::exp}},
        {{K::softplus}},
        {sum},
        {{K::relu}, sum, {K::relu}},
        {sum, {K::clamp, 0, 0.5}},
    };
    int seed = 0;
    for (auto& chain : chains)
        for (int64_t groups : {1, 4, 8}) {
            for (bool bias : {false, true}) {
                auto x = param({2, 8, 9, 7});
                auto w = cst(random_tensor({8, 8 / groups, 3, 3}, 11 + seed));
                OutputVector in{x->output(0), w};
                if (bias) in.push_back(cst(random_tensor({8}, 12 + seed)));
                if (op::has_sum(chain)) in.push_back(param({2, 8, 5, 3})->output(0));
                auto f = make<op::FusedConvolution>(in, V{2, 2}, V{1, 1}, V{1, 0}, V{1, 1},
                                                    PadType::explicit_pad, groups, bias, chain);
                SCOPED_TRACE(op::post_ops_to_string(chain) + " groups " + std::to_string(groups));
                expect_fast_matches_reference(*f, seed++);
            }
        }
}

struct MatMulCase {
    Shape a, b;
    bool ta = false, tb = false, const_b = false;
};

class MatMulKernels : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulKernels, MatchReference) {
    const MatMulCase& c = GetParam();
    auto a = param(PartialShape(c.a));
    Output b = c.const_b ? cst(random_tensor(c.b, 9)) : param(PartialShape(c.b))->output(0);
    auto m = make<op::MatMul>({a->output(0), b}, c.ta, c.tb);
    expect_fast_matches_reference(*m);
    // And fused, with a bias along N and an activation.
    if (c.b.size() >= 2) {
        int64_t n = c.tb ? c.b[c.b.size() - 2] : c.b.back();
        auto f = make<op::FusedMatMul>({a->output(0), b, cst(random_tensor({n}, 3))}, c.ta, c.tb, true,
                                       std::vector<PostOp>{{op::Activation::gelu_erf}});
        expect_fast_matches_reference(*f);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulKernels,
    ::testing::Values(MatMulCase{{5, 7}, {7, 3}}, MatMulCase{{5, 7}, {7, 3}, false, false, true},
                      MatMulCase{{7, 5}, {3, 7}, true, true}, MatMulCase{{7, 5}, {3, 7}, true, true, true},
                      MatMulCase{{7}, {7, 3}}, MatMulCase{{5, 7}, {7}}, MatMulCase{{7}, {7}},
                      MatMulCase{{7}, {7, 3}, false, false, true},
                      MatMulCase{{3, 5, 7}, {3, 7, 4}}, MatMulCase{{3, 5, 7}, {7, 4}, false, false, true},
                      MatMulCase{{2, 3, 5, 7}, {4, 7}, false, true, true},
                      MatMulCase{{2, 1, 5, 7}, {3, 7, 4}}, MatMulCase{{1, 5, 7}, {3, 7, 4}},
                      MatMulCase{{3, 7, 5}, {1, 4, 7}, true, true},
                      MatMulCase{{3, 5, 7}, {3, 7, 4}, false, false, true},
                      MatMulCase{{1, 1, 33, 65}, {65, 17}, false, false, true}));

TEST(FusedKernels, MatMulResidual) {
    auto a = param({2, 5, 16});
    auto r = param({2, 5, 8});
    auto f = make<op::FusedMatMul>({a->output(0), cst(random_tensor({8, 16}, 1)), cst(random_tensor({8}, 2)),
                                    r->output(0)},
                                   false, true, true,
                                   std::vector<PostOp>{{op::Activation::relu}, PostOp::residual()});
    expect_fast_matches_reference(*f);
}

// kiln's own GEMM (kernels/gemm.cpp) on every instruction set the CPU has, against the reference:
// shapes that leave partial row tiles, a partial last panel, several K passes (K > 256), one row
// (decoding), B transposed or not, constant and run-time bias, and post-op chains with the sum.
TEST(GemmKernels, MatchReferenceOnEveryIsa) {
    using K = op::Activation;
    struct Case {
        Shape a;
        int64_t n;
        bool tb, bias, const_bias;
        std::vector<PostOp> chain;
    };
    const std::vector<Case> cases = {
        {{5, 7}, 3, false, false, false, {}},
        {{1, 300}, 40, true, true, true, {{K::gelu_erf}}},
        {{13, 64}, 32, false, true, false, {{K::relu}}},
        {{2, 9, 513}, 33, true, true, true, {{K::tanh}, PostOp::residual(), {K::clamp, -0.5, 0.5}}},
        {{25, 256}, 64, false, false, false, {PostOp::residual()}},
        {{3, 70, 100}, 100, true, true, true, {{K::swish, 1.0}}},
        {{7}, 17, false, true, true, {{K::sigmoid}}},
    };
    int tried = 0;
    for (auto isa : {cpu::GemmIsa::avx2, cpu::GemmIsa::avx512}) {
        if (!cpu::gemm_isa_supported(isa)) continue;
        uint32_t seed = 40;
        for (auto& c : cases) {
            const int64_t k = c.a.back();
            Shape out = c.a;
            out.back() = c.n;
            auto a = param(PartialShape(c.a));
            OutputVector in{a->output(0), cst(random_tensor(c.tb ? Shape{c.n, k} : Shape{k, c.n}, seed))};
            if (c.bias) in.push_back(c.const_bias ? cst(random_tensor({c.n}, seed + 1)) : param({c.n})->output(0));
            if (op::has_sum(c.chain)) in.push_back(param(PartialShape(out))->output(0));
            auto f = make<op::FusedMatMul>(in, false, c.tb, c.bias, c.chain);
            auto inputs = inputs_of(*f, seed++);
            cpu::KernelShapes sh;
            for (size_t i = 0; i < f->num_inputs(); ++i) {
                sh.inputs.push_back({inputs[i].type(), PartialShape(inputs[i].shape())});
                sh.constants.push_back(f->input(i).node->constant_value());
            }
            sh.outputs.push_back({f->output_type(0), f->output_shape(0)});
            auto kern = cpu::make_gemm_kernel_for(*f, sh, isa);
            ASSERT_TRUE(kern) << "no GEMM kernel for " << to_string(c.a) << " x " << c.n;
            auto got = alloc_outputs(*f);
            kern->execute(inputs, got);
            auto want = run_reference(*f, inputs);
            SCOPED_TRACE(str_cat(kern->name(), " ", to_string(c.a), " x ", c.n, " ", op::post_ops_to_string(c.chain)));
            EXPECT_TRUE(close(got[0], want[0]));
            ++tried;
        }
    }
    EXPECT_GT(tried, 0) << "this CPU has neither AVX2 nor AVX-512";
}

struct PoolCase {
    Shape x;
    V k, s, d, pb, pe;
    RoundingType r = RoundingType::floor;
    PadType pad = PadType::explicit_pad;
};

class PoolKernels : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolKernels, MatchReference) {
    const PoolCase& c = GetParam();
    auto x = param(PartialShape(c.x));
    for (int64_t axis : {0, 2})
        for (Type it : {Type::i64, Type::i32}) {
            auto mp = make<op::MaxPool>({x->output(0)}, c.s, c.d, c.pb, c.pe, c.k, c.r, c.pad, it, axis);
            expect_fast_matches_reference(*mp, 3);
        }
    for (bool exclude : {false, true}) {
        auto ap = make<op::AvgPool>({x->output(0)}, c.s, c.pb, c.pe, c.k, exclude, c.r, c.pad);
        auto in = inputs_of(*ap, 4);
        auto ref = run_reference(*ap, in);
        try {
            auto fast = run_fast(*ap, in);
            EXPECT_TRUE(close(fast[0], ref[0])) << "exclude-pad " << exclude;
        } catch (const Error&) {
            // Only the ceil + include-pad + reach-past-pads case has no fast kernel.
            EXPECT_FALSE(exclude);
            EXPECT_EQ(c.r, RoundingType::ceil);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PoolKernels,
    ::testing::Values(PoolCase{{1, 3, 7, 7}, {2, 2}, {2, 2}, {}, {0, 0}, {0, 0}},
                      PoolCase{{3, 4, 9, 8}, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}},
                      PoolCase{{1, 2, 8, 9}, {3, 3}, {2, 2}, {}, {0, 0}, {0, 0}, RoundingType::ceil},
                      PoolCase{{1, 2, 8, 9}, {3, 2}, {2, 2}, {}, {1, 0}, {0, 1}, RoundingType::ceil},
                      PoolCase{{2, 3, 11, 10}, {3, 3}, {1, 1}, {2, 2}, {1, 1}, {1, 1}},
                      PoolCase{{1, 5, 10, 9}, {3, 3}, {2, 2}, {}, {}, {}, RoundingType::floor, PadType::same_upper},
                      PoolCase{{1, 5, 10, 9}, {4, 4}, {3, 2}, {}, {}, {}, RoundingType::floor, PadType::same_lower},
                      PoolCase{{1, 5, 10, 9}, {3, 3}, {2, 2}, {}, {1, 1}, {1, 1}, RoundingType::floor, PadType::valid},
                      PoolCase{{2, 3, 17}, {3}, {2}, {}, {1}, {1}},
                      PoolCase{{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {}, {0, 1, 1}, {1, 1, 0}},
                      PoolCase{{1, 2, 7, 6, 7}, {2, 2, 2}, {2, 2, 2}, {1, 2, 1}, {0, 0, 0}, {0, 0, 0},
                               RoundingType::ceil}));

TEST(PoolKernels, Adaptive) {
    for (auto [xs, os] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
             {{2, 3, 8, 12}, {4, 3}}, {{1, 4, 7, 7}, {1, 1}}, {{1, 3, 12}, {4}}, {{1, 2, 4, 6, 8}, {2, 3, 4}}}) {
        auto x = param(PartialShape(xs));
        auto sz = cst(Tensor::from_vector<int64_t>(os, {static_cast<int64_t>(os.size())}));
        auto a = make<op::AdaptiveAvgPool>({x->output(0), sz});
        expect_fast_matches_reference(*a, 2);
        for (Type it : {Type::i64, Type::i32})
            expect_fast_matches_reference(*make<op::AdaptiveMaxPool>({x->output(0), sz}, it), 2);
    }
    // Uneven bins: no fast kernel, the reference runs.
    auto x = param({1, 2, 7, 5});
    auto a = make<op::AdaptiveAvgPool>({x->output(0), cst(Tensor::from_vector<int64_t>({3, 2}, {2}))});
    cpu::KernelShapes sh{{{Type::f32, PartialShape{1, 2, 7, 5}}, {Type::i64, PartialShape{2}}},
                         {{Type::f32, a->output_shape(0)}}, {nullptr, a->input(1).node->constant_value()}};
    EXPECT_EQ(cpu::make_onednn_kernel(*a, sh), nullptr);
    auto out = run_reference(*a, inputs_of(*a, 0));
    EXPECT_EQ(out[0].shape(), (Shape{1, 2, 3, 2}));
}

TEST(Kernels, ConcurrentExecute) {
    auto x = param({1, 16, 12, 12});
    auto c = make<op::Convolution>({x->output(0), cst(random_tensor({16, 16, 3, 3}, 1))}, V{1, 1}, V{1, 1},
                                   V{1, 1}, V{1, 1});
    cpu::KernelShapes sh{{{Type::f32, c->input(0).shape()}, {Type::f32, c->input(1).shape()}},
                         {{Type::f32, c->output_shape(0)}},
                         {nullptr, c->input(1).node->constant_value()}};
    auto k = cpu::make_onednn_kernel(*c, sh);
    ASSERT_TRUE(k);
    std::vector<std::vector<Tensor>> ins, outs;
    for (int i = 0; i < 4; ++i) {
        ins.push_back(inputs_of(*c, 100 + i));
        outs.push_back(alloc_outputs(*c));
    }
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&, i] {
            for (int r = 0; r < 5; ++r) k->execute(ins[i], outs[i]);
        });
    for (auto& t : ts) t.join();
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(close(outs[i][0], run_reference(*c, ins[i])[0]));
}

// ---------------------------------------------------------------- layout measurement
// Run with --gtest_also_run_disabled_tests: NCHW-direct vs blocked on a ResNet-50 layer.
TEST(Bench, DISABLED_ConvLayout) {
    struct L { const char* name; Shape x; int64_t oc; V k, s, p; };
    for (const L& l : {L{"56x56x64 3x3 64", {1, 64, 56, 56}, 64, {3, 3}, {1, 1}, {1, 1}},
                       L{"56x56x64 1x1 256", {1, 64, 56, 56}, 256, {1, 1}, {1, 1}, {0, 0}},
                       L{"28x28x128 3x3 128", {1, 128, 28, 28}, 128, {3, 3}, {1, 1}, {1, 1}},
                       L{"224x224x3 7x7 s2 64", {1, 3, 224, 224}, 64, {7, 7}, {2, 2}, {3, 3}}}) {
        auto x = param(PartialShape(l.x));
        auto c = make<op::Convolution>(
            {x->output(0), cst(random_tensor({l.oc, l.x[1], l.k[0], l.k[1]}, 1))}, l.s, l.p, l.p, V{1, 1});
        cpu::KernelShapes sh{{{Type::f32, c->input(0).shape()}, {Type::f32, c->input(1).shape()}},
                             {{Type::f32, c->output_shape(0)}},
                             {nullptr, c->input(1).node->constant_value()}};
        auto in = inputs_of(*c, 1);
        auto out = alloc_outputs(*c);
        for (auto layout : {cpu::onednn::ConvLayout::plain, cpu::onednn::ConvLayout::blocked}) {
            auto k = cpu::onednn::make_conv_kernel(*c, sh, layout);
            for (int i = 0; i < 5; ++i) k->execute(in, out);
            const int reps = 50;
            auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < reps; ++i) k->execute(in, out);
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
            std::printf("%-22s %-8s %.3f ms\n", l.name,
                        layout == cpu::onednn::ConvLayout::plain ? "nchw" : "blocked", ms);
        }
    }
}
