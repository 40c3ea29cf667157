// The math family and the element types behind it: the type table (i16/u16/u32/u64, torch
// dtype codes both ways), conversions between every pair of types, the f16/bf16 reference path
// (computed in f32, rounded once), shape inference and reference kernels of the trigonometric,
// bitwise, classification, scan and NonZero ops, and the f16/bf16 fast element-wise kernels
// against the reference on every instruction set this CPU has.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/scan.hpp"
#include "kiln/runtime/cpu/kernels/eltwise.hpp"

using namespace kiln;
using cpu::EltwiseIsa;

namespace {

Output param(Type t, PartialShape s) { return make<op::Parameter>({}, t, std::move(s))->output(0); }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

template <typename T, typename... A>
NodePtr node_for(const std::vector<Tensor>& in, A&&... attrs) {
    OutputVector o;
    for (auto& t : in) o.push_back(param(t.type(), PartialShape(t.shape())));
    return make<T>(o, std::forward<A>(attrs)...);
}

std::vector<Tensor> run_ref(const NodePtr& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n->num_outputs(); ++i) {
        auto& s = n->output_shape(i);
        if (s.is_static()) out.emplace_back(n->output_type(i), s.to_shape());
        else out.emplace_back();
    }
    n->evaluate_reference(in, out);
    return out;
}

template <typename R>
std::vector<R> values(const Tensor& t) {
    return std::vector<R>(t.data<R>(), t.data<R>() + t.size());
}

// ---------------------------------------------------------------------------------------------
// Types

TEST(MathTypes, TableAndTorchCodes) {
    for (Type t : {Type::i16, Type::u16, Type::u32, Type::u64}) {
        EXPECT_EQ(type_from_name(type_name(t)), t);
        EXPECT_TRUE(is_integral(t));
    }
    EXPECT_EQ(type_size(Type::i16), 2u);
    EXPECT_EQ(type_size(Type::u64), 8u);
    EXPECT_TRUE(is_signed(Type::i16));
    EXPECT_FALSE(is_signed(Type::u32));
    // Both directions through the one table.
    for (Type t : {Type::u8, Type::i8, Type::i16, Type::i32, Type::i64, Type::f16, Type::f32, Type::f64, Type::boolean,
                   Type::bf16, Type::u16, Type::u32, Type::u64}) {
        int64_t code = torch_dtype_code(t);
        ASSERT_GE(code, 0) << type_name(t);
        EXPECT_EQ(torch_dtype_by_code(code)->type, t);
    }
    EXPECT_EQ(torch_dtype_code(Type::i16), 2);
    EXPECT_EQ(torch_dtype_code(Type::bf16), 15);
    EXPECT_EQ(torch_dtype_by_name("torch.float16")->type, Type::f16);
    EXPECT_EQ(torch_dtype_by_name("complex64")->type, Type::dynamic);
    EXPECT_EQ(torch_dtype_by_code(9)->name, std::string("complex64"));
    EXPECT_EQ(torch_dtype_by_code(99), nullptr);
    EXPECT_EQ(torch_dtype_by_name("float128"), nullptr);
}

TEST(MathTypes, ConvertBetweenEveryPair) {
    const std::vector<Type> all = {Type::boolean, Type::u8, Type::i8, Type::i16, Type::i32, Type::i64, Type::u16,
                                   Type::u32, Type::u64, Type::f16, Type::bf16, Type::f32, Type::f64};
    const std::vector<double> v = {0, 1, 2, 7, 100};
    for (Type a : all)
        for (Type b : all) {
            Tensor src(a, {5}), dst(b, {5}), back(Type::f64, {5});
            convert_elements(v.data(), Type::f64, src.data(), a, 5);
            convert_elements(src.data(), a, dst.data(), b, 5);
            convert_elements(dst.data(), b, back.data(), Type::f64, 5);
            for (int i = 0; i < 5; ++i) {
                double want = a == Type::boolean || b == Type::boolean ? (v[i] != 0) : v[i];
                EXPECT_EQ(back.data<double>()[i], want) << type_name(a) << " -> " << type_name(b) << " at " << i;
            }
        }
}

TEST(MathTypes, HalfRounding) {
    // Ties to even, overflow to inf, NaN stays NaN, subnormals.
    EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), f32_to_f16(1.0f));           // tie, even below
    EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), f32_to_f16(1.0f + 4.0f / 2048));  // tie, even above
    EXPECT_EQ(f16_to_f32(f32_to_f16(70000.f)), INFINITY);
    EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
    EXPECT_EQ(f16_to_f32(f32_to_f16(5.96046448e-8f)), 5.96046448e-8f);
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(MathTypes, HalfReferenceComputesInF32) {
    // a + b in f16 through the reference: the f32 sum rounded once.
    Tensor a(Type::f16, {3}), b(Type::f16, {3});
    float av[] = {1.0f, 2048.f, 0.1f}, bv[] = {1.0f / 2048, 1.f, 0.2f};
    convert_elements(av, Type::f32, a.data(), Type::f16, 3);
    convert_elements(bv, Type::f32, b.data(), Type::f16, 3);
    auto n = node_for<op::Add>({a, b});
    EXPECT_EQ(n->output_type(0), Type::f16);
    auto y = run_ref(n, {a, b})[0];
    ASSERT_EQ(y.type(), Type::f16);
    for (int i = 0; i < 3; ++i) {
        float fa = f16_to_f32(a.data<uint16_t>()[i]), fb = f16_to_f32(b.data<uint16_t>()[i]);
        EXPECT_EQ(y.data<uint16_t>()[i], f32_to_f16(fa + fb)) << i;
    }
    // Unsupported before: transcendental functions of bf16.
    auto e = run_ref(node_for<op::Exp>({b}), {b})[0];
    EXPECT_EQ(e.type(), Type::f16);
}

TEST(MathTypes, Int16Kernels) {
    auto a = Tensor::from_vector<int16_t>({30000, -5, 7}, {3});
    auto b = Tensor::from_vector<int16_t>({10000, 3, -2}, {3});
    auto s = values<int16_t>(run_ref(node_for<op::Add>({a, b}), {a, b})[0]);
    EXPECT_EQ(s, (std::vector<int16_t>{static_cast<int16_t>(-25536), -2, 5}));  // wraps
    auto d = values<int16_t>(run_ref(node_for<op::Divide>({a, b}, true), {a, b})[0]);
    EXPECT_EQ(d, (std::vector<int16_t>{3, -2, -4}));
    auto u = Tensor::from_vector<uint32_t>({4000000000u, 1u}, {2});
    auto m = values<uint32_t>(run_ref(node_for<op::Maximum>({u, u}), {u, u})[0]);
    EXPECT_EQ(m[0], 4000000000u);
}

// ---------------------------------------------------------------------------------------------
// Ops

TEST(MathOps, InferAndErrors) {
    auto f = param(Type::f32, {2, 3}), i = param(Type::i32, {2, 3}), b = param(Type::boolean, {3});
    EXPECT_EQ(make<op::Tan>({f})->output_type(0), Type::f32);
    EXPECT_EQ(make<op::BitwiseAnd>({i, i})->output_type(0), Type::i32);
    EXPECT_EQ(make<op::BitwiseXor>({b, b})->output_type(0), Type::boolean);
    EXPECT_EQ(make<op::BitwiseNot>({b})->output_type(0), Type::boolean);
    EXPECT_EQ(make<op::IsNaN>({f})->output_type(0), Type::boolean);
    EXPECT_EQ(make<op::IsInf>({i})->output_shape(0).to_string(), "[2,3]");
    EXPECT_NE(error_of([&] { make<op::BitwiseAnd>({f, f}); }).find("expected integer or boolean inputs, got f32"),
              std::string::npos);
    EXPECT_NE(error_of([&] { make<op::BitwiseLeftShift>({b, b}); }).find("expected integer inputs, got boolean"),
              std::string::npos);
    EXPECT_NE(error_of([&] { make<op::BitwiseNot>({f}); }).find("integer or boolean"), std::string::npos);
    EXPECT_NE(error_of([&] { make<op::SoftSign>({i}); }).find("floating-point"), std::string::npos);
    auto cm = make<op::CumExtreme>({f, make<op::Constant>(OutputVector{}, Tensor::scalar<int64_t>(1))->output(0)}, true);
    EXPECT_EQ(cm->output_type(1), Type::i64);
    EXPECT_NE(error_of([&] { make<op::CumProd>({f, make<op::Constant>(OutputVector{}, Tensor::scalar<int64_t>(2))->output(0)}); })
                  .find("axis 2 is out of range for rank 2"),
              std::string::npos);
    EXPECT_EQ(make<op::NonZero>({f})->output_shape(0).to_string(), "[2,0..6]");
    EXPECT_EQ(make<op::NonZero>({param(Type::f32, PartialShape::dynamic(3))})->output_shape(0).to_string(), "[3,?]");
    EXPECT_STREQ(op::BitwiseLeftShift().opset(), "opset15");
    EXPECT_STREQ(op::IsFinite().opset(), "opset10");
    EXPECT_STREQ(op::NonZero().opset(), "opset3");
}

TEST(MathOps, TrigAndClassify) {
    auto x = Tensor::from_vector<double>({0.5, -0.25, 0.0}, {3});
    auto at = values<double>(run_ref(node_for<op::Atanh>({x}), {x})[0]);
    EXPECT_DOUBLE_EQ(at[0], std::atanh(0.5));
    auto ac = values<double>(run_ref(node_for<op::Acos>({x}), {x})[0]);
    EXPECT_DOUBLE_EQ(ac[1], std::acos(-0.25));
    auto ss = values<double>(run_ref(node_for<op::SoftSign>({x}), {x})[0]);
    EXPECT_DOUBLE_EQ(ss[1], -0.2);
    auto s = Tensor::from_vector<float>({1.f, NAN, INFINITY, -INFINITY}, {4});
    auto nan = run_ref(node_for<op::IsNaN>({s}), {s})[0];
    EXPECT_EQ(values<bool>(nan), (std::vector<bool>{false, true, false, false}));
    auto pinf = run_ref(node_for<op::IsInf>({s}, false, true), {s})[0];
    EXPECT_EQ(values<bool>(pinf), (std::vector<bool>{false, false, true, false}));
    auto fin = run_ref(node_for<op::IsFinite>({s}), {s})[0];
    EXPECT_EQ(values<bool>(fin), (std::vector<bool>{true, false, false, false}));
}

TEST(MathOps, BitwiseAndShifts) {
    auto a = Tensor::from_vector<int8_t>({-8, 5, 127, -1}, {4});
    auto b = Tensor::from_vector<int8_t>({1, 3, 9, -1}, {4});
    EXPECT_EQ(values<int8_t>(run_ref(node_for<op::BitwiseAnd>({a, b}), {a, b})[0]),
              (std::vector<int8_t>{0, 1, 9, -1}));
    EXPECT_EQ(values<int8_t>(run_ref(node_for<op::BitwiseOr>({a, b}), {a, b})[0]),
              (std::vector<int8_t>{-7, 7, 127, -1}));
    EXPECT_EQ(values<int8_t>(run_ref(node_for<op::BitwiseNot>({a}), {a})[0]), (std::vector<int8_t>{7, -6, -128, 0}));
    // Shift by 9 (>= 8 bits) or by a negative amount: 0, or -1 for a negative value shifted right.
    EXPECT_EQ(values<int8_t>(run_ref(node_for<op::BitwiseLeftShift>({a, b}), {a, b})[0]),
              (std::vector<int8_t>{-16, 40, 0, 0}));
    EXPECT_EQ(values<int8_t>(run_ref(node_for<op::BitwiseRightShift>({a, b}), {a, b})[0]),
              (std::vector<int8_t>{-4, 0, 0, -1}));
    auto u = Tensor::from_vector<uint8_t>({200, 3}, {2}), s = Tensor::from_vector<uint8_t>({1, 7}, {2});
    EXPECT_EQ(values<uint8_t>(run_ref(node_for<op::BitwiseLeftShift>({u, s}), {u, s})[0]),
              (std::vector<uint8_t>{144, 128}));
    auto t = Tensor::from_vector<bool>({true, false, true}, {3}), f = Tensor::from_vector<bool>({true, true, false}, {3});
    EXPECT_EQ(values<bool>(run_ref(node_for<op::BitwiseXor>({t, f}), {t, f})[0]), (std::vector<bool>{false, true, true}));
}

TEST(MathOps, GcdLcm) {
    auto a = Tensor::from_vector<int32_t>({-4, 0, 0, 21, 7}, {5});
    auto b = Tensor::from_vector<int32_t>({6, 0, -5, 6, 1}, {5});
    EXPECT_EQ(values<int32_t>(run_ref(node_for<op::Gcd>({a, b}), {a, b})[0]), (std::vector<int32_t>{2, 0, 5, 3, 1}));
    EXPECT_EQ(values<int32_t>(run_ref(node_for<op::Lcm>({a, b}), {a, b})[0]), (std::vector<int32_t>{12, 0, 0, 42, 7}));
    EXPECT_NE(error_of([&] { make<op::Gcd>({param(Type::f32, {2}), param(Type::f32, {2})}); }).find("expected integer inputs"),
              std::string::npos);
}

TEST(MathOps, Scans) {
    auto x = Tensor::from_vector<float>({1, 3, 3, NAN, 2, 2, -1, 5}, {2, 4});
    auto ax = Tensor::scalar<int64_t>(1);
    auto mx = run_ref(node_for<op::CumExtreme>({x, ax}, true), {x, ax});
    auto v = values<float>(mx[0]);
    EXPECT_EQ(v[0], 1.f);
    EXPECT_EQ(v[2], 3.f);
    EXPECT_TRUE(std::isnan(v[3]));
    EXPECT_EQ(values<int64_t>(mx[1]), (std::vector<int64_t>{0, 1, 2, 3, 0, 1, 1, 3}));  // ties take the later index
    auto mn = run_ref(node_for<op::CumExtreme>({x, ax}, false), {x, ax});
    EXPECT_EQ(values<int64_t>(mn[1]), (std::vector<int64_t>{0, 0, 0, 3, 0, 1, 2, 2}));
    auto p = Tensor::from_vector<int32_t>({2, 3, 4, 5, 1, 2, 3, 4}, {2, 4});
    auto a0 = Tensor::scalar<int64_t>(0);
    EXPECT_EQ(values<int32_t>(run_ref(node_for<op::CumProd>({p, a0}), {p, a0})[0]),
              (std::vector<int32_t>{2, 3, 4, 5, 2, 6, 12, 20}));
    auto neg = Tensor::scalar<int64_t>(-1);
    EXPECT_EQ(values<int32_t>(run_ref(node_for<op::CumProd>({p, neg}), {p, neg})[0]),
              (std::vector<int32_t>{2, 6, 24, 120, 1, 2, 6, 24}));
}

TEST(MathOps, NonZero) {
    auto x = Tensor::from_vector<float>({0, 1.5f, 0, -2, NAN, 0}, {2, 3});
    auto n = node_for<op::NonZero>({x});
    std::vector<Tensor> outs(1);  // unallocated: the kernel sizes it
    n->evaluate({x}, outs);
    ASSERT_EQ(outs[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(values<int64_t>(outs[0]), (std::vector<int64_t>{0, 1, 1, 1, 0, 1}));
    auto c = make<op::NonZero>({make<op::Constant>(OutputVector{}, x)->output(0)});
    EXPECT_EQ(c->output_shape(0).to_string(), "[2,3]");  // known from the value
    auto s = Tensor::scalar<int32_t>(4);
    std::vector<Tensor> so{Tensor()};
    node_for<op::NonZero>({s})->evaluate({s}, so);
    EXPECT_EQ(so[0].shape(), (Shape{1, 1}));
}

// ---------------------------------------------------------------------------------------------
// f16 / bf16 fast kernels against the reference (f32 math rounded once, both ways).

std::vector<EltwiseIsa> isas() {
    std::vector<EltwiseIsa> r;
    for (auto i : {EltwiseIsa::avx2, EltwiseIsa::avx512})
        if (cpu::eltwise_isa_supported(i)) r.push_back(i);
    return r;
}

Tensor random_half(Type t, const Shape& s, std::mt19937& rng, float lo, float hi) {
    Tensor f(Type::f32, s);
    std::uniform_real_distribution<float> u(lo, hi);
    const float specials[] = {0.f, -0.f, 0.5f, -2.5f, 65504.f, -65504.f, 1e-6f, INFINITY, -INFINITY, NAN};
    for (int64_t i = 0; i < f.size(); ++i) f.data<float>()[i] = i % 7 == 3 ? specials[(i / 7) % 10] : u(rng);
    Tensor h(t, s);
    convert_elements(f.data(), Type::f32, h.data(), t, static_cast<size_t>(f.size()));
    return h;
}

// Equal, or within one unit in the last place of the half type (the f32 fast math may differ from
// the reference's in the last f32 bits, which can move a rounding boundary).
void expect_close_half(const Tensor& got, const Tensor& ref, const std::string& what) {
    ASSERT_EQ(got.type(), ref.type());
    auto g = got.as_f64_vector(), r = ref.as_f64_vector();
    const double ulp = ref.type() == Type::f16 ? 1.0 / 1024 : 1.0 / 128;
    for (size_t i = 0; i < g.size(); ++i) {
        if (std::isnan(g[i]) && std::isnan(r[i])) continue;
        if (g[i] == r[i]) continue;
        ASSERT_TRUE(std::isfinite(r[i]) && std::fabs(g[i] - r[i]) <= ulp * std::max(std::fabs(r[i]), 6e-5) * 1.01)
            << what << " element " << i << ": got " << g[i] << ", expected " << r[i];
    }
}

void check_half_fast(const NodePtr& n, const std::vector<Tensor>& in, const std::string& what) {
    auto ref = run_ref(n, in)[0];
    cpu::KernelShapes s;
    for (auto& t : in) {
        s.inputs.push_back({t.type(), PartialShape(t.shape())});
        s.constants.push_back(nullptr);
    }
    s.outputs.push_back({n->output_type(0), n->output_shape(0)});
    for (auto isa : isas()) {
        auto k = cpu::make_eltwise_kernel_for(*n, s, isa);
        ASSERT_NE(k, nullptr) << what << " has no fast kernel for " << type_name(in[0].type());
        std::vector<Tensor> out{Tensor(n->output_type(0), n->output_shape(0).to_shape())};
        k->execute(in, out);
        expect_close_half(out[0], ref, what + " on " + k->name());
    }
}

TEST(MathHalfFast, UnaryBinaryConvert) {
    if (isas().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
    std::mt19937 rng(7);
    for (Type t : {Type::f16, Type::bf16}) {
        SCOPED_TRACE(type_name(t));
        for (Shape sh : {Shape{}, Shape{0}, Shape{1}, Shape{7}, Shape{513}, Shape{3, 1025}, Shape{40000}}) {
            auto x = random_half(t, sh, rng, -8.f, 8.f);
            auto px = param(t, PartialShape(sh));
            check_half_fast(make<op::Relu>({px}), {x}, "Relu");
            check_half_fast(make<op::Sigmoid>({px}), {x}, "Sigmoid");
            check_half_fast(make<op::Exp>({px}), {x}, "Exp");
            check_half_fast(make<op::Gelu>({px}), {x}, "Gelu");
            check_half_fast(make<op::Clamp>({px}, -1.5, 2.0), {x}, "Clamp");
            check_half_fast(make<op::Swish>({px}), {x}, "Swish");
            auto y = random_half(t, sh, rng, -8.f, 8.f);
            check_half_fast(make<op::Add>({px, param(t, PartialShape(sh))}), {x, y}, "Add");
            check_half_fast(make<op::Multiply>({px, param(t, PartialShape(sh))}), {x, y}, "Multiply");
            check_half_fast(make<op::Divide>({px, param(t, PartialShape(sh))}), {x, y}, "Divide");
            // Conversions are exact both ways.
            auto to32 = make<op::Convert>({px}, Type::f32);
            auto f = run_ref(to32, {x})[0];
            check_half_fast(make<op::Convert>({param(Type::f32, PartialShape(sh))}, t), {f}, "Convert from f32");
        }
        // Broadcasts: per channel, scalar, last axis.
        for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{2, 5, 7, 3}, {1, 5, 1, 1}}, {{9, 33}, {}}, {{4, 17}, {17}}}) {
            auto a = random_half(t, sa, rng, -4.f, 4.f), b = random_half(t, sb, rng, -4.f, 4.f);
            check_half_fast(make<op::Subtract>({param(t, PartialShape(sa)), param(t, PartialShape(sb))}), {a, b}, "Subtract");
            check_half_fast(make<op::Maximum>({param(t, PartialShape(sa)), param(t, PartialShape(sb))}), {a, b}, "Maximum");
        }
        auto x = random_half(t, {100}, rng, 0.1f, 4.f), e = random_half(t, {}, rng, 1.5f, 1.5f);
        check_half_fast(make<op::Power>({param(t, {100}), param(t, PartialShape(Shape{}))}), {x, e}, "Power");
    }
}

}  // namespace
