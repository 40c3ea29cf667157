// int8 family: Quantize, Dequantize, QuantizedConvolution, QuantizedMatMul (ops/internal/int8.hpp):
// shape inference and its errors, the reference kernels on hand-checked values, every fast kernel
// against its reference over awkward shapes, and the fuse_int8 pass (the right nodes replaced,
// the graph valid, the numbers those of the FakeQuantize graph it came from). KILN_TEST_VERBOSE=1
// prints the oneDNN implementation each kernel case ran.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "kiln/core/interpreter.hpp"
#include "kiln/core/model.hpp"
#include "kiln/ops/attention.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/internal/int8.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/passes/fuse_int8.hpp"
#include "kiln/runtime/cpu/compiled_model.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/kernels/int8.hpp"
#include "kiln/runtime/cpu/onednn/int8.hpp"
#include "kiln/runtime/cpu/plan.hpp"

#include "test_util.hpp"

using namespace kiln;
using op::PadType;
using op::PostOp;
using op::QuantPostOp;
using V = std::vector<int64_t>;

namespace {

using test::random_tensor;

std::shared_ptr<op::Parameter> param(PartialShape s, Type t = Type::f32) {
    return make<op::Parameter>({}, t, std::move(s));
}
Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }
Output scalar(float v) { return cst(Tensor::scalar(v)); }

// Integers uniform in [lo, hi] of type t (u8 / i8).
Tensor random_int(Shape s, Type t, int lo, int hi, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> d(lo, hi);
    Tensor r(t, std::move(s));
    for (int64_t i = 0; i < r.size(); ++i) {
        if (t == Type::u8) r.data<uint8_t>()[i] = static_cast<uint8_t>(d(g));
        else r.data<int8_t>()[i] = static_cast<int8_t>(d(g));
    }
    return r;
}

std::vector<Tensor> alloc_outputs(const Node& n) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    return out;
}

Tensor reference(const Node& n, const std::vector<Tensor>& in) {
    auto out = alloc_outputs(n);
    n.evaluate(in, out);
    return out[0];
}

cpu::KernelShapes shapes_of(const Node& n, const std::vector<Tensor>& in) {
    cpu::KernelShapes sh;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        sh.inputs.push_back({in[i].type(), PartialShape(in[i].shape())});
        sh.constants.push_back(n.input(i).node->constant_value());
    }
    for (size_t i = 0; i < n.num_outputs(); ++i) sh.outputs.push_back({n.output_type(i), n.output_shape(i)});
    return sh;
}

// The fast kernel's output, and its name and implementation.
Tensor fast(const Node& n, const std::vector<Tensor>& in, std::string* name = nullptr) {
    auto k = cpu::make_int8_kernel(n, shapes_of(n, in));
    if (!k) throw Error(str_cat("no INT8 kernel for ", n.type_name()));
    if (name) *name = std::string(k->name()) + " " + k->detail();
    if (std::getenv("KILN_TEST_VERBOSE")) std::printf("[%s] %s %s\n", n.type_name(), k->name(), k->detail().c_str());
    auto out = alloc_outputs(n);
    k->execute(in, out);
    return out[0];
}

// Largest difference and the number of elements that differ.
std::pair<double, int64_t> diff(const Tensor& a, const Tensor& b) {
    EXPECT_EQ(a.type(), b.type());
    EXPECT_EQ(a.shape(), b.shape());
    auto x = a.as_f64_vector(), y = b.as_f64_vector();
    double m = 0;
    int64_t n = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double d = std::fabs(x[i] - y[i]);
        m = std::max(m, d);
        n += d != 0;
    }
    return {m, n};
}

double max_abs(const Tensor& t) {
    double m = 0;
    for (double v : t.as_f64_vector()) m = std::max(m, std::fabs(v));
    return m;
}

// An INT8 output within 1 of the reference (oneDNN's activation approximations and fused
// multiply-adds can round a tie the other way) and on at most 1% of the elements; an f32 output
// within 1e-5 of the largest value. `levels`: more for chains that round to levels on the way
// (an fq post-op), where a tie broken the other way there moves the output by that level's size.
void expect_close(const Tensor& got, const Tensor& want, const std::string& what, double levels = 1) {
    auto [m, n] = diff(got, want);
    if (want.type() == Type::f32) {
        EXPECT_LE(m, 1e-5 * std::max(1.0, max_abs(want))) << what;
    } else {
        EXPECT_LE(m, levels) << what;
        EXPECT_LE(n, std::max<int64_t>(1, want.size() / 100)) << what << ": " << n << " of " << want.size() << " differ";
    }
}

// The weights' range: 8 bits where oneDNN's int8 products are exact (VNNI); 7 bits without,
// where oneDNN's 16-bit pair sums of u8 x s8 products would saturate on larger weights (so the
// AVX2 run, DNNL_MAX_CPU_ISA=AVX2, checks the kernels where they are exact).
int wmax() { return cpu::onednn::int8_products_exact() ? 127 : 63; }

}  // namespace

// ---------------------------------------------------------------- Quantize / Dequantize

TEST(Quantize, ReferenceByHand) {
    // scale 0.5, zero point 3: x / 0.5 + 3, ties to even, clamped to [0, 10]; NaN -> qmin.
    auto x = param({8});
    auto q = make<op::Quantize>({x->output(0)}, Type::u8, 0.5, 3.0, int64_t{0}, int64_t{10});
    Tensor in(Type::f32, {8});
    const float v[8] = {0.f, 0.25f, 0.75f, -1.5f, -2.f, 100.f, NAN, 1.26f};
    std::copy(v, v + 8, in.data<float>());
    EXPECT_EQ(reference(*q, {in}).as_i64_vector(), (std::vector<int64_t>{3, 4, 4, 0, 0, 10, 0, 6}));
    // A per-channel multiplier along axis 1: channel 1 doubles.
    auto x2 = param({1, 2, 2});
    Tensor m(Type::f32, {2});
    m.data<float>()[0] = 1.f;
    m.data<float>()[1] = 2.f;
    auto q2 = make<op::Quantize>({x2->output(0), cst(m)}, Type::i8, 1.0, 0.0, int64_t{-128}, int64_t{127}, int64_t{1});
    Tensor in2(Type::f32, {1, 2, 2});
    const float v2[4] = {1.4f, -2.6f, 1.4f, -70.f};
    std::copy(v2, v2 + 4, in2.data<float>());
    EXPECT_EQ(reference(*q2, {in2, m}).as_i64_vector(), (std::vector<int64_t>{1, -3, 3, -128}));
    // A folded affine map and ReLU: relu(x * m[c] + b[c]) / 0.5 + 3, channel 0: m 1, b 0.5;
    // channel 1: m -2, b 0 (the ReLU clamps below at the zero point's level 3).
    Tensor b(Type::f32, {2});
    b.data<float>()[0] = 0.5f;
    b.data<float>()[1] = 0.f;
    Tensor mm = m;
    mm.data<float>()[1] = -2.f;
    auto q3 = make<op::Quantize>({x2->output(0), cst(mm), cst(b)}, Type::u8, 0.5, 3.0, int64_t{0}, int64_t{255},
                                 int64_t{1}, true);
    const float v3[4] = {-1.f, 0.2f, 1.f, -0.3f};
    std::copy(v3, v3 + 4, in2.data<float>());
    EXPECT_EQ(reference(*q3, {in2, mm, b}).as_i64_vector(), (std::vector<int64_t>{3, 4, 3, 4}));
    auto d = make<op::Dequantize>({q->output(0)}, 0.5, int64_t{3});
    EXPECT_EQ(reference(*d, {reference(*q, {in})}).as_f64_vector(),
              (std::vector<double>{0, 0.5, 0.5, -1.5, -1.5, 3.5, -1.5, 1.5}));
}

TEST(Quantize, ShapeErrors) {
    auto x = param({2, 3});
    test::expect_error([&] { make<op::Quantize>({x->output(0)}, Type::f32, 1.0, 0.0, int64_t{0}, int64_t{255}); },
                       "destination type must be u8 or i8");
    test::expect_error([&] { make<op::Quantize>({x->output(0)}, Type::u8, 1.0, 0.0, int64_t{0}, int64_t{256}); },
                       "range [0, 256] is not within u8's [0, 255]");
    test::expect_error([&] { make<op::Quantize>({x->output(0)}, Type::u8, 0.0, 0.0, int64_t{0}, int64_t{255}); },
                       "scale must be positive");
    test::expect_error([&] { make<op::Quantize>({x->output(0), cst(random_tensor({4}, 1))}, Type::u8, 1.0, 0.0,
                                                int64_t{0}, int64_t{255}, int64_t{-1}); },
                       "multiplier must be [3] or [1], got [4]");
    test::expect_error([&] { make<op::Quantize>({x->output(0), cst(random_tensor({3}, 1)), cst(random_tensor({2}, 1))},
                                                Type::u8, 1.0, 0.0, int64_t{0}, int64_t{255}, int64_t{-1}); },
                       "bias must be [3] or [1], got [2]");
    auto q = param({2, 3}, Type::f32);
    test::expect_error([&] { make<op::Dequantize>({q->output(0)}, 1.0, int64_t{0}); }, "q must be u8 or i8, got f32");
}

TEST(Quantize, FastKernelsMatchReferenceExactly) {
    for (auto isa : {cpu::Int8Isa::avx512, cpu::Int8Isa::avx2}) {
        if (!cpu::int8_isa_supported(isa)) continue;
        for (Shape s : {Shape{0}, Shape{1}, Shape{15}, Shape{16}, Shape{17}, Shape{3, 1000}, Shape{2, 3, 5, 7},
                        Shape{1, 40000}}) {
            for (Type t : {Type::u8, Type::i8}) {
                SCOPED_TRACE(to_string(s) + " " + type_name(t) + (isa == cpu::Int8Isa::avx512 ? " avx512" : " avx2"));
                const int64_t lo = t == Type::u8 ? 0 : -127, hi = t == Type::u8 ? 254 : 127;
                Tensor x = random_tensor(s, 3, -2.f, 2.f);
                if (x.size() > 4) x.data<float>()[3] = NAN, x.data<float>()[4] = 0.0123f * 0.5f;  // a tie
                auto p = param(PartialShape(s));
                std::vector<NodePtr> qs{make<op::Quantize>({p->output(0)}, t, 0.0123, 1.25, lo, hi)};
                if (!s.empty() && s.back() > 0)
                    qs.push_back(make<op::Quantize>({p->output(0), cst(random_tensor({s.back()}, 4, 0.5f, 2.f))}, t,
                                                    0.0123, 1.0, lo, hi, int64_t{-1}));
                if (s.size() == 4)
                    qs.push_back(make<op::Quantize>({p->output(0), cst(random_tensor({s[1]}, 4, 0.5f, 2.f))}, t,
                                                    0.0123, 1.0, lo, hi, int64_t{1}));
                if (s.size() == 4)  // with a bias and a ReLU folded in
                    qs.push_back(make<op::Quantize>({p->output(0), cst(random_tensor({s[1]}, 6, -2.f, 2.f)),
                                                     cst(random_tensor({s[1]}, 7, -0.5f, 0.5f))},
                                                    t, 0.0123, 1.25, lo, hi, int64_t{1}, true));
                for (auto& q : qs) {
                    std::vector<Tensor> in{x};
                    for (size_t i = 1; i < q->num_inputs(); ++i) in.push_back(*q->input(i).node->constant_value());
                    auto k = cpu::make_quantize_kernel_for(*q, shapes_of(*q, in), isa);
                    ASSERT_TRUE(k);
                    auto out = alloc_outputs(*q);
                    k->execute(in, out);
                    Tensor want = reference(*q, in);
                    EXPECT_EQ(diff(out[0], want).second, 0);
                    // And back, with one scale and with a scale per channel.
                    std::vector<NodePtr> ds{make<op::Dequantize>({q->output(0)}, 0.0123, int64_t{t == Type::u8 ? 7 : -3})};
                    if (s.size() >= 2)
                        ds.push_back(make<op::Dequantize>({q->output(0), cst(random_tensor({s[1]}, 5, 0.01f, 0.1f))}, 1.0,
                                                          int64_t{t == Type::u8 ? 7 : -3}, int64_t{1}));
                    for (auto& d : ds) {
                        std::vector<Tensor> din{want};
                        if (d->num_inputs() == 2) din.push_back(*d->input(1).node->constant_value());
                        auto kd = cpu::make_quantize_kernel_for(*d, shapes_of(*d, din), isa);
                        ASSERT_TRUE(kd);
                        auto back = alloc_outputs(*d);
                        kd->execute(din, back);
                        EXPECT_EQ(diff(back[0], reference(*d, din)).second, 0);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- QuantizedConvolution

namespace {

struct Epi {
    std::vector<QuantPostOp> ops;
    Type out = Type::f32;
    Type residual = Type::f32;
    bool per_channel_out = false;  // a Quantize with a per-channel multiplier
};

QuantPostOp act(op::Activation k, double a = 0, double b = 0) {
    QuantPostOp p;
    p.activation = PostOp(k, a, b);
    return p;
}
QuantPostOp fq(double s, double off, int64_t lo, int64_t hi, int64_t zp) {
    QuantPostOp p;
    p.kind = QuantPostOp::Kind::fq;
    p.s_in = p.s_out = s;
    p.offset = static_cast<double>(zp) + off;
    p.lo = lo;
    p.hi = hi;
    p.zp = zp;
    return p;
}
QuantPostOp sum() {
    QuantPostOp p;
    p.kind = QuantPostOp::Kind::sum;
    return p;
}

// The output levels one level of an fq post-op spans (1 without one), for expect_close.
double fq_levels(const Epi& e) {
    double l = 1;
    for (auto& p : e.ops)
        if (p.kind == QuantPostOp::Kind::fq) l = std::max(l, 1 + std::ceil(p.s_out / 0.0197));
    return l;
}

op::Int8Epilogue epilogue(const Epi& e, double out_scale) {
    op::Int8Epilogue r;
    r.post_ops = e.ops;
    r.output_type = e.out;
    r.output_scale = out_scale;
    r.output_zero_point = e.out == Type::u8 ? 11.0 + 1e-7 : 0.0;  // Quantize's are a little off the integer
    r.output_qmin = op::int_min(e.out);
    r.output_qmax = e.out == Type::i8 ? 126 : op::int_max(e.out);  // a narrow range: an extra clip
    r.residual_scale = 0.0213;  // scales in no simple ratio: exact ties (which the two kernels may break apart) stay rare
    r.residual_zero_point = e.residual == Type::u8 ? 100 : -2;
    return r;
}

struct ConvCase {
    Shape x;
    int64_t oc, groups;
    V k, s, d, pb, pe;
    Type xt = Type::u8;
    int64_t zp = 0;
    bool per_channel = true, bias = true;
};

}  // namespace

class Int8ConvKernels : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Int8ConvKernels, MatchReference) {
    const ConvCase& c = GetParam();
    if (c.xt == Type::i8 && !cpu::onednn::int8_products_exact())
        GTEST_SKIP() << "s8 activations: without VNNI oneDNN halves the weights (fuse_int8 stores u8 there)";
    const std::vector<Epi> epis = {
        {{}, Type::f32},
        {{act(op::Activation::relu)}, Type::u8},
        {{}, Type::i8},
        {{act(op::Activation::relu), sum()}, Type::f32, Type::f32},
        {{fq(0.0537, 0, 0, 255, 128), sum(), act(op::Activation::relu)}, Type::u8, Type::u8},
        {{fq(0.0537, 0, 0, 255, 128), sum(), act(op::Activation::relu)}, Type::u8, Type::i8},
        {{sum(), act(op::Activation::clamp, -0.5, 0.5)}, Type::i8, Type::f32},  // a binary add
        {{act(op::Activation::gelu_erf), fq(0.02, 0.3, 0, 250, 5)}, Type::f32},
        {{act(op::Activation::relu)}, Type::u8, Type::f32, true},
        {{act(op::Activation::gelu_erf)}, Type::i8, Type::f32, true},
    };
    Shape ws{c.oc, c.x[1] / c.groups};
    ws.insert(ws.end(), c.k.begin(), c.k.end());
    uint32_t seed = 1;
    for (auto& e : epis) {
        auto x = param(PartialShape(c.x), c.xt);
        const int lo = c.xt == Type::u8 ? 0 : -128, hi = c.xt == Type::u8 ? 255 : 127;
        Tensor xv = random_int(c.x, c.xt, lo, hi, seed++);
        auto w = cst(random_int(ws, Type::i8, -wmax(), wmax(), seed++));
        auto wscale = cst(c.per_channel ? random_tensor({c.oc}, seed++, 0.001f, 0.004f) : random_tensor({1}, seed++, 0.002f, 0.003f));
        auto n = std::make_shared<op::QuantizedConvolution>();
        n->strides = c.s;
        n->dilations = c.d;
        n->pads_begin = c.pb;
        n->pads_end = c.pe;
        n->group = c.groups;
        n->x_scale = 0.03;
        n->x_zero_point = c.zp;
        n->with_bias = c.bias;
        // Output scale: about the accumulator's spread, so that the integers use their range.
        n->epilogue = epilogue(e, 0.0197);
        if (e.per_channel_out)
            for (int64_t o = 0; o < c.oc; ++o) n->epilogue.output_multiplier.push_back(0.5 + 0.37 * (o % 5));
        OutputVector in{x->output(0), w, wscale};
        if (c.bias) in.push_back(cst(random_tensor({c.oc}, seed++, -1.f, 1.f)));
        std::vector<Tensor> vals{xv, *w.node->constant_value(), *wscale.node->constant_value()};
        if (c.bias) vals.push_back(*in[3].node->constant_value());
        if (n->epilogue.has_sum()) {  // the output's shape, from the op without its residual
            auto plain = std::make_shared<op::QuantizedConvolution>(*n);
            plain->epilogue = op::Int8Epilogue{};
            plain->set_inputs(in);
            plain->validate_and_infer();
            const Shape ys = plain->output_shape(0).to_shape();
            Tensor r = e.residual == Type::f32 ? random_tensor(ys, seed++) : random_int(ys, e.residual, e.residual == Type::u8 ? 0 : -128, e.residual == Type::u8 ? 255 : 127, seed++);
            in.push_back(param(PartialShape(ys), e.residual)->output(0));
            vals.push_back(r);
        }
        n->set_inputs(in);
        n->validate_and_infer();
        std::string impl;
        Tensor got = fast(*n, vals, &impl);
        SCOPED_TRACE(op::quant_post_ops_to_string(e.ops) + " -> " + type_name(e.out) + " [" + impl + "]");
        if (std::getenv("KILN_TEST_VERBOSE")) std::printf("  conv %s: %s -> %s%s\n", to_string(c.x).c_str(), op::quant_post_ops_to_string(e.ops).c_str(), type_name(e.out), e.per_channel_out ? " per-channel" : "");
        expect_close(got, reference(*n, vals), "conv", fq_levels(e));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8ConvKernels,
    ::testing::Values(
        ConvCase{{1, 3, 13, 11}, 8, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, Type::i8},           // image stem
        ConvCase{{2, 5, 9, 9}, 7, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},                        // odd channels
        ConvCase{{1, 16, 15, 15}, 16, 1, {5, 5}, {2, 2}, {1, 1}, {2, 1}, {0, 2}, Type::u8, 17},     // asymmetric
        ConvCase{{2, 8, 11, 12}, 24, 1, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}, Type::i8, 0, false},
        ConvCase{{1, 32, 14, 14}, 32, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},                   // depthwise
        ConvCase{{2, 24, 9, 7}, 24, 24, {5, 5}, {2, 2}, {1, 1}, {2, 2}, {2, 2}, Type::u8, 3},        // dw s2 zp
        ConvCase{{1, 12, 9, 9}, 18, 3, {3, 3}, {1, 1}, {1, 1}, {1, 0}, {0, 1}, Type::i8},           // grouped
        ConvCase{{2, 64, 7, 7}, 48, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, Type::u8, 0, true, false},
        ConvCase{{1, 6, 17}, 5, 1, {3}, {2}, {1}, {1}, {0}}));                                       // 1-D

// ---------------------------------------------------------------- QuantizedMatMul

struct MatMulCase {
    Shape a, b;
    bool ta = false, tb = false, const_b = true;
    Type at = Type::u8;
    int64_t a_zp = 0, b_zp = 0;
    bool per_channel = true;
};

class Int8MatMulKernels : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(Int8MatMulKernels, MatchReference) {
    const MatMulCase& c = GetParam();
    const std::vector<Epi> epis = {
        {{}, Type::f32},
        {{act(op::Activation::gelu_erf)}, Type::u8},
        {{}, Type::i8},
        {{sum()}, Type::f32, Type::f32},
        {{fq(0.0537, 0, 0, 255, 128), sum()}, Type::i8, Type::i8},
        {{sum(), act(op::Activation::relu)}, Type::u8, Type::f32},
        {{act(op::Activation::gelu_erf)}, Type::u8, Type::f32, true},
        {{act(op::Activation::relu)}, Type::i8, Type::f32, true},
    };
    uint32_t seed = 100;
    const int64_t n_out = c.tb ? c.b[c.b.size() - 2] : c.b.back();
    for (auto& e : epis) {
        auto a = param(PartialShape(c.a), c.at);
        Tensor av = random_int(c.a, c.at, c.at == Type::u8 ? 0 : -128, c.at == Type::u8 ? 255 : 127, seed++);
        Tensor bv = random_int(c.b, Type::i8, -wmax(), wmax(), seed++);
        Output b = c.const_b ? cst(bv) : param(PartialShape(c.b), Type::i8)->output(0);
        auto bscale = cst(c.per_channel ? random_tensor({n_out}, seed++, 0.001f, 0.004f) : random_tensor({1}, seed++, 0.002f, 0.003f));
        auto bias = cst(random_tensor({n_out}, seed++, -1.f, 1.f));
        auto n = std::make_shared<op::QuantizedMatMul>();
        n->transpose_a = c.ta;
        n->transpose_b = c.tb;
        n->a_scale = 0.03;
        n->a_zero_point = c.a_zp;
        n->b_zero_point = c.b_zp;
        n->with_bias = true;
        n->epilogue = epilogue(e, 0.0197);
        if (e.per_channel_out)
            for (int64_t o = 0; o < n_out; ++o) n->epilogue.output_multiplier.push_back(0.5 + 0.37 * (o % 5));
        OutputVector in{a->output(0), b, bscale, bias};
        std::vector<Tensor> vals{av, bv, *bscale.node->constant_value(), *bias.node->constant_value()};
        if (n->epilogue.has_sum()) {
            auto plain = std::make_shared<op::QuantizedMatMul>(*n);
            plain->epilogue = op::Int8Epilogue{};
            plain->set_inputs(in);
            plain->validate_and_infer();
            const Shape ys = plain->output_shape(0).to_shape();
            Tensor r = e.residual == Type::f32 ? random_tensor(ys, seed++) : random_int(ys, e.residual, -128, 127, seed++);
            in.push_back(param(PartialShape(ys), e.residual)->output(0));
            vals.push_back(r);
        }
        n->set_inputs(in);
        n->validate_and_infer();
        std::string impl;
        Tensor got = fast(*n, vals, &impl);
        SCOPED_TRACE(op::quant_post_ops_to_string(e.ops) + " -> " + type_name(e.out) + " [" + impl + "]");
        if (std::getenv("KILN_TEST_VERBOSE")) std::printf("  matmul %s x %s: %s -> %s%s\n", to_string(c.a).c_str(), to_string(c.b).c_str(), op::quant_post_ops_to_string(e.ops).c_str(), type_name(e.out), e.per_channel_out ? " per-channel" : "");
        expect_close(got, reference(*n, vals), "matmul", fq_levels(e));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8MatMulKernels,
    ::testing::Values(MatMulCase{{5, 7}, {7, 3}}, MatMulCase{{5, 7}, {3, 7}, false, true},
                      MatMulCase{{2, 9, 33}, {33, 17}, false, false, true, Type::i8},
                      MatMulCase{{2, 9, 33}, {17, 33}, false, true, true, Type::u8, 21},
                      MatMulCase{{1, 1, 64}, {64, 64}, false, true, true, Type::u8, 0, 0, false},
                      MatMulCase{{2, 32, 384}, {1536, 384}, false, true, true, Type::u8, 122},  // a BERT FFN
                      // activations on both sides (attention's Q.K^T): batched, B transposed
                      MatMulCase{{2, 3, 5, 8}, {2, 3, 7, 8}, false, true, false, Type::i8, 0, 0, false},
                      MatMulCase{{2, 3, 5, 8}, {2, 3, 8, 7}, false, false, false, Type::u8, 9, -4, false},
                      MatMulCase{{3, 8, 5}, {1, 8, 7}, true, false, false, Type::u8, 0, 2, false}));

TEST(QuantizedOps, ShapeErrorsAndAttributes) {
    auto x = param({1, 4, 5, 5}, Type::u8);
    auto conv = std::make_shared<op::QuantizedConvolution>();
    conv->strides = conv->dilations = {1, 1};
    conv->pads_begin = conv->pads_end = {0, 0};
    conv->set_inputs({x->output(0), cst(random_int({6, 4, 3, 3}, Type::i8, -3, 3, 1)), cst(random_tensor({5}, 2))});
    test::expect_error([&] { conv->validate_and_infer(); }, "w_scale must be [6] or [1], got [5]");
    conv->set_inputs({x->output(0), cst(random_tensor({6, 4, 3, 3}, 1)), cst(random_tensor({6}, 2))});
    test::expect_error([&] { conv->validate_and_infer(); }, "weights must be i8, got f32");
    conv->set_inputs({x->output(0), cst(random_int({6, 4, 3, 3}, Type::i8, -3, 3, 1)), cst(random_tensor({6}, 2))});
    conv->epilogue.post_ops = {sum()};
    test::expect_error([&] { conv->validate_and_infer(); }, "expected");
    conv->epilogue.post_ops = {};
    conv->validate_and_infer();
    EXPECT_EQ(conv->output_shape(0), PartialShape({1, 6, 3, 3}));
    EXPECT_EQ(conv->output_type(0), Type::f32);
    // The post-op chain's spelling round trips.
    std::vector<QuantPostOp> chain{act(op::Activation::relu), fq(0.25, 0.5, 0, 255, 3), sum(), act(op::Activation::clamp, -1, 2)};
    EXPECT_EQ(op::quant_post_ops_from_string(op::quant_post_ops_to_string(chain)), chain);
    EXPECT_THROW(op::quant_post_ops_from_string("fq:1:2"), ValueError);
    auto mm = std::make_shared<op::QuantizedMatMul>();
    mm->set_inputs({param({3, 5}, Type::f32)->output(0), cst(random_int({5, 4}, Type::i8, -3, 3, 1)), cst(random_tensor({4}, 2))});
    test::expect_error([&] { mm->validate_and_infer(); }, "A must be u8 or i8, got f32");
}

// ---------------------------------------------------------------- the fuse_int8 pass

namespace {

std::map<std::string, int> op_counts(const Model& m) {
    std::map<std::string, int> r;
    for (auto& n : m.ordered_ops()) r[n->type_name()]++;
    return r;
}

// A FakeQuantize of `x` over [lo, hi] in `levels` levels (input and output ranges equal).
Output fake_quantize(Output x, float lo, float hi, int64_t levels = 256) {
    return make<op::FakeQuantize>({x, scalar(lo), scalar(hi), scalar(lo), scalar(hi)}, levels)->output(0);
}

// Weights w [O, ...] quantized symmetric per output channel (levels 255), form (a).
Output fq_weights(const Tensor& w) {
    const int64_t o = w.shape()[0], per = w.size() / o;
    Shape rs(w.rank(), 1);
    rs[0] = o;
    Tensor lo(Type::f32, rs), hi(Type::f32, rs);
    for (int64_t c = 0; c < o; ++c) {
        float m = 0;
        for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w.data<float>()[c * per + i]));
        hi.data<float>()[c] = m;
        lo.data<float>()[c] = -m;
    }
    return make<op::FakeQuantize>({cst(w), cst(lo), cst(hi), cst(lo), cst(hi)}, int64_t{2 * wmax() + 1})->output(0);
}

// The same weights in form (b): i8 Constant -> Convert -> Multiply by a per-channel scale; with
// `zero_point`, u8 integers shifted by 128 and a Subtract of that zero point before the Multiply.
Output compressed_weights(const Tensor& w, bool zero_point = false) {
    const int64_t o = w.shape()[0], per = w.size() / o;
    Shape rs(w.rank(), 1);
    rs[0] = o;
    Tensor q(zero_point ? Type::u8 : Type::i8, w.shape()), s(Type::f32, rs);
    for (int64_t c = 0; c < o; ++c) {
        float m = 0;
        for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w.data<float>()[c * per + i]));
        const float sc = m / static_cast<float>(wmax());
        s.data<float>()[c] = sc;
        for (int64_t i = 0; i < per; ++i) {
            const auto l = static_cast<int>(std::nearbyint(w.data<float>()[c * per + i] / sc));
            if (zero_point) q.data<uint8_t>()[c * per + i] = static_cast<uint8_t>(l + 128);
            else q.data<int8_t>()[c * per + i] = static_cast<int8_t>(l);
        }
    }
    Output f = make<op::Convert>({cst(q)}, Type::f32)->output(0);
    if (zero_point) f = make<op::Subtract>({f, scalar(128.f)}, AutoBroadcast::numpy)->output(0);
    return make<op::Multiply>({f, cst(s)}, AutoBroadcast::numpy)->output(0);
}

Output conv(Output x, Output w, int64_t pad = 1) {
    return make<op::Convolution>({x, w}, V{1, 1}, V{pad, pad}, V{pad, pad}, V{1, 1}, PadType::explicit_pad)->output(0);
}
Output add(Output a, Output b) { return make<op::Add>({a, b}, AutoBroadcast::numpy)->output(0); }
Output relu(Output a) { return make<op::Relu>({a})->output(0); }

// A small residual CNN in FakeQuantize form: stem conv, relu, FQ, a max pool, conv + relu + FQ,
// conv + bias + FQ + residual add + relu + FQ, then a global pool and a linear head.
// Weights in form (a), (b) or (b) with a zero point.
enum class Form { fq, compressed, compressed_zero_point };

Model quantized_cnn(Form form) {
    const bool compressed = form != Form::fq;
    auto x = param({2, 3, 12, 12});
    auto W = [&](Shape s, uint32_t seed) {
        Tensor w = random_tensor(s, seed, -0.5f, 0.5f);
        return compressed ? compressed_weights(w, form == Form::compressed_zero_point) : fq_weights(w);
    };
    auto bias = [&](int64_t c, uint32_t seed) { return cst(random_tensor({1, c, 1, 1}, seed, -0.2f, 0.2f)); };
    Output a = fake_quantize(x->output(0), -3.f, 3.f * 127 / 128);  // symmetric: s8
    a = relu(add(conv(a, W({8, 3, 3, 3}, 1)), bias(8, 2)));
    a = fake_quantize(a, 0.f, 4.f);  // u8
    a = make<op::MaxPool>({a}, V{2, 2}, V{1, 1}, V{0, 0}, V{0, 0}, V{2, 2})->output(0);
    Output b = relu(add(conv(a, W({8, 8, 3, 3}, 3)), bias(8, 4)));
    b = fake_quantize(b, 0.f, 6.f);
    Output c = add(conv(b, W({8, 8, 1, 1}, 5), 0), bias(8, 6));
    c = fake_quantize(c, -4.f, 4.f * 127 / 128);
    Output s = fake_quantize(relu(add(c, a)), 0.f, 8.f);
    Output p = make<op::ReduceMean>({s, cst(Tensor::from_vector<int64_t>({2, 3}, {2}))}, false)->output(0);
    p = fake_quantize(p, 0.f, 8.f);
    Tensor hw = random_tensor({5, 8}, 9, -0.5f, 0.5f);
    Output head = make<op::MatMul>({p, compressed ? compressed_weights(hw, form == Form::compressed_zero_point) : fq_weights(hw)}, false, true)->output(0);
    return Model({make<op::Result>({head})}, {x});
}

// Runs a compiled model (passes, fast kernels) on one input.
Tensor run_compiled(const Model& m, const Tensor& in) {
    auto cm = std::make_shared<cpu::CompiledModel>(m, cpu::CompileConfig{});
    auto r = cm->create_infer_request();
    r->set_input(0, in);
    r->infer();
    return r->output(0);
}

// The compiled INT8 graph's numbers (fast kernels, and reference kernels) against those of the
// FakeQuantize graph (the reference interpreter in f32), to a few quantization steps of the last
// FakeQuantize (levels that a rounding tie puts one step apart propagate), relative to the
// output's range; fast and reference kernels of the INT8 graph within a level.
void expect_int8_matches_fake_quantize_graph(const Model& m, const Tensor& x) {
    Tensor want = evaluate_model(m, {x})[0];
    Tensor got = run_compiled(m, x);
    cpu::set_reference_only(true);
    Tensor ref = run_compiled(m, x);
    cpu::set_reference_only(false);
    const double range = max_abs(want);
    EXPECT_LE(diff(got, want).first, 0.05 * range);
    EXPECT_LE(diff(ref, want).first, 0.05 * range);
    EXPECT_LE(diff(got, ref).first, 0.02 * range);
}

}  // namespace

TEST(FuseInt8, CnnPatternsBecomeInt8AndMatchTheFakeQuantizeGraph) {
    for (Form form : {Form::fq, Form::compressed, Form::compressed_zero_point}) {
        SCOPED_TRACE(form == Form::fq ? "form (a): FakeQuantize weights"
                     : form == Form::compressed ? "form (b): i8 weights, Convert, Multiply"
                                                : "form (b): u8 weights, Convert, Subtract, Multiply");
        Model m = quantized_cnn(form);
        auto g = m.clone();
        EXPECT_EQ(passes::fuse_int8(*g), 4u);
        validate_model(*g);
        auto n = op_counts(*g);
        EXPECT_EQ(n["QuantizedConvolution"], 3);
        EXPECT_EQ(n["QuantizedMatMul"], 1);
        EXPECT_EQ(n["Convolution"] + n["MatMul"], 0);
        // The image, and the pooled features: quantized by their own kernels; nothing else.
        EXPECT_EQ(n["Quantize"], 2);
        EXPECT_EQ(n["FakeQuantize"], 0);
        // The stem writes u8 for the pool, which runs on the integers; the last conv adds the
        // residual (the pool's integers) in its epilogue and writes f32 for the global pool.
        EXPECT_EQ(n["MaxPool"], 1);
        for (auto& node : g->ordered_ops()) {
            if (auto* mp = dynamic_cast<op::MaxPool*>(node.get())) EXPECT_EQ(mp->output_type(0), Type::u8);
            if (auto* c = dynamic_cast<op::QuantizedConvolution*>(node.get())) {
                if (c->epilogue.has_sum()) {
                    EXPECT_EQ(c->epilogue.output_type, Type::f32);
                } else {
                    EXPECT_EQ(c->epilogue.output_type, Type::u8) << c->name();
                }
            }
        }
        expect_int8_matches_fake_quantize_graph(m, random_tensor({2, 3, 12, 12}, 77, -3.f, 3.f));
    }
}

// DenseNet's pre-activation: the features concatenated, then a batch norm (as NNCF's IR has it,
// Multiply and Add; or one BatchNormInference), a ReLU and the FakeQuantize before the next
// convolution. The affine map and the ReLU fold into that Quantize: one pass over the concat.
TEST(FuseInt8, BatchNormAndReluBeforeAQuantizerFoldIntoIt) {
    for (bool as_bn : {false, true}) {
        SCOPED_TRACE(as_bn ? "BatchNormInference" : "Multiply, Add");
        auto x = param({1, 4, 8, 8});
        Output y1 = conv(fake_quantize(x->output(0), -3.f, 3.f * 127 / 128), fq_weights(random_tensor({8, 4, 3, 3}, 1, -0.5f, 0.5f)));
        Output cat = make<op::Concat>(OutputVector{x->output(0), y1}, int64_t{1})->output(0);
        Tensor g = random_tensor({12}, 2, -1.5f, 1.5f), b = random_tensor({12}, 3, -0.5f, 0.5f);
        Output pre;
        if (as_bn) {
            Tensor mean = random_tensor({12}, 4, -0.2f, 0.2f), var = random_tensor({12}, 5, 0.5f, 1.5f);
            pre = make<op::BatchNormInference>({cat, cst(g), cst(b), cst(mean), cst(var)}, 1e-5)->output(0);
        } else {
            pre = make<op::Multiply>({cat, cst(g.reshaped({1, 12, 1, 1}))}, AutoBroadcast::numpy)->output(0);
            pre = add(pre, cst(b.reshaped({1, 12, 1, 1})));
        }
        Output out = conv(fake_quantize(relu(pre), 0.f, 4.f), fq_weights(random_tensor({6, 12, 3, 3}, 6, -0.5f, 0.5f)));
        Model m({make<op::Result>({out})}, {x});
        auto gm = m.clone();
        EXPECT_EQ(passes::fuse_int8(*gm), 2u);
        validate_model(*gm);
        auto n = op_counts(*gm);
        EXPECT_EQ(n["Multiply"] + n["Add"] + n["Relu"] + n["BatchNormInference"], 0);
        int folded = 0;
        for (auto& node : gm->ordered_ops())
            if (auto* q = dynamic_cast<op::Quantize*>(node.get()); q && q->relu) {
                ++folded;
                EXPECT_EQ(node->num_inputs(), 3u);
                EXPECT_TRUE(dynamic_cast<op::Concat*>(node->input(0).node.get()));
            }
        EXPECT_EQ(folded, 1);
        expect_int8_matches_fake_quantize_graph(m, random_tensor({1, 4, 8, 8}, 7, -3.f, 3.f));
    }
}

TEST(FuseInt8, AttentionScoresAndLinearLayers) {
    // x [2, 6, 16] -> FQ -> Linear q, k (weights FQ'd, bias) -> FQ (symmetric) -> q.k^T -> softmax.
    auto x = param({2, 6, 16});
    Output a = fake_quantize(x->output(0), -2.f, 2.f * 127 / 128);
    auto linear = [&](uint32_t seed) {
        Output y = make<op::MatMul>({a, fq_weights(random_tensor({16, 16}, seed, -0.5f, 0.5f))}, false, true)->output(0);
        return add(y, cst(random_tensor({16}, seed + 1, -0.1f, 0.1f)));
    };
    Output q = fake_quantize(linear(1), -3.f, 3.f * 127 / 128);
    Output k = fake_quantize(linear(3), -3.f, 3.f * 127 / 128);
    Output s = make<op::MatMul>({q, k}, false, true)->output(0);
    Output out = make<op::Softmax>({s}, int64_t{-1})->output(0);
    Model m({make<op::Result>({out})}, {x});
    auto g = m.clone();
    // q.k^T runs on the integers where the CPU's products are exact (VNNI).
    const bool scores = cpu::onednn::int8_products_exact();
    EXPECT_EQ(passes::fuse_int8(*g), scores ? 3u : 2u);
    validate_model(*g);
    auto n = op_counts(*g);
    EXPECT_EQ(n["QuantizedMatMul"], scores ? 3 : 2);
    EXPECT_EQ(n["Dequantize"], 0);
    for (auto& node : g->ordered_ops())
        if (auto* mm = dynamic_cast<op::QuantizedMatMul*>(node.get()); mm && mm->input(1).node->constant_value())
            EXPECT_EQ(mm->epilogue.output_type, scores ? Type::i8 : Type::f32);  // q and k as s8 for the scores
    Tensor xv = random_tensor({2, 6, 16}, 5, -2.f, 2.f);
    Tensor want = evaluate_model(m, {xv})[0];
    Tensor got = run_compiled(m, xv);
    EXPECT_LE(diff(got, want).first, 0.02);
}

TEST(FuseInt8, LeavesWhatItCannotRun) {
    // Per-channel activation ranges, a zero point off the levels, and float weights: unchanged.
    auto x = param({1, 4, 6, 6});
    Tensor lo(Type::f32, {1, 4, 1, 1}), hi(Type::f32, {1, 4, 1, 1});
    for (int c = 0; c < 4; ++c) lo.data<float>()[c] = -1.f - c, hi.data<float>()[c] = 1.f + c;
    Output a = make<op::FakeQuantize>({x->output(0), cst(lo), cst(hi), cst(lo), cst(hi)}, int64_t{256})->output(0);
    Output b = conv(a, fq_weights(random_tensor({4, 4, 3, 3}, 1)));
    Output c = conv(fake_quantize(b, -1.f, 1.3f), fq_weights(random_tensor({4, 4, 3, 3}, 2)));
    Output d = conv(fake_quantize(c, 0.f, 1.f), cst(random_tensor({4, 4, 3, 3}, 3)));
    Model m({make<op::Result>({d})}, {x});
    auto g = m.clone();
    EXPECT_EQ(passes::fuse_int8(*g), 0u);
    EXPECT_TRUE(same_graph(m, *g)) << graph_difference(m, *g);
}

// A zero point a little off the integer (as Quantize's, computed from a FakeQuantize's range, is):
// the output shift is added once (it once went in twice, as a linear post-op and again).
TEST(QuantizedOps, MatMulPerChannelOutputAfterGelu) {
    auto a = param({8, 32, 16}, Type::u8);
    Tensor av = random_int({8, 32, 16}, Type::u8, 0, 255, 1);
    Tensor bv = random_int({32, 16}, Type::i8, -wmax(), wmax(), 2);
    for (double zp : {25.0, 25.0 + 1e-7, 24.6}) {
        auto n = std::make_shared<op::QuantizedMatMul>();
        n->transpose_b = true;
        n->a_scale = 0.0303999;
        n->a_zero_point = 114;
        n->with_bias = true;
        n->epilogue.post_ops = {act(op::Activation::gelu_erf)};
        n->epilogue.output_type = Type::u8;
        n->epilogue.output_scale = 0.0224211;
        n->epilogue.output_zero_point = zp;
        for (int o = 0; o < 32; ++o) n->epilogue.output_multiplier.push_back(0.5 + 0.1 * o);
        auto bs = cst(random_tensor({32}, 3, 0.001f, 0.004f)), bias = cst(random_tensor({32}, 4, -1.f, 1.f));
        n->set_inputs({a->output(0), cst(bv), bs, bias});
        n->validate_and_infer();
        std::vector<Tensor> vals{av, bv, *bs.node->constant_value(), *bias.node->constant_value()};
        expect_close(fast(*n, vals), reference(*n, vals), "zero point " + std::to_string(zp));
    }
}

TEST(FuseInt8, AttentionOpWithQuantizedQueryAndKey) {
    // ScaledDotProductAttention(FQ(q), FQ(k), v, boolean mask, scale), as NNCF's IR of a
    // transformer has it: the scores become a QuantizedMatMul where the CPU's int8 products are
    // exact, the rest f32; the numbers stay those of the FakeQuantize graph.
    auto q = param({2, 3, 7, 16}), k = param({2, 3, 9, 16}), v = param({2, 3, 9, 8});
    auto mask = make<op::Parameter>({}, Type::boolean, PartialShape({2, 1, 1, 9}));
    Output fq_q = fake_quantize(q->output(0), -2.f, 2.f * 127 / 128), fq_k = fake_quantize(k->output(0), -2.f, 2.f * 127 / 128);
    Output a = make<op::ScaledDotProductAttention>({fq_q, fq_k, v->output(0), mask->output(0), scalar(0.3f)}, false)->output(0);
    Model m({make<op::Result>({a})}, {q, k, v, mask});
    auto g = m.clone();
    const bool exact = cpu::onednn::int8_products_exact();
    EXPECT_EQ(passes::fuse_int8(*g), exact ? 1u : 0u);
    validate_model(*g);
    auto n = op_counts(*g);
    EXPECT_EQ(n["QuantizedMatMul"], exact ? 1 : 0);
    EXPECT_EQ(n["ScaledDotProductAttention"], exact ? 0 : 1);
    std::vector<Tensor> in{random_tensor({2, 3, 7, 16}, 1, -2.f, 2.f), random_tensor({2, 3, 9, 16}, 2, -2.f, 2.f),
                           random_tensor({2, 3, 9, 8}, 3)};
    Tensor mk(Type::boolean, {2, 1, 1, 9});
    for (int i = 0; i < 18; ++i) mk.data<bool>()[i] = i % 4 != 1;
    in.push_back(mk);
    Tensor want = evaluate_model(m, in)[0];
    auto cm = std::make_shared<cpu::CompiledModel>(m, cpu::CompileConfig{});
    auto r = cm->create_infer_request();
    for (size_t i = 0; i < in.size(); ++i) r->set_input(i, in[i]);
    r->infer();
    EXPECT_LE(diff(r->output(0), want).first, 1e-5 * max_abs(want));
}
