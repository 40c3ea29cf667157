// reduce_norm family: shape inference (and its errors), attribute round trips, reference kernels
// on known values, and every fast kernel against the reference kernel over awkward shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "kiln/core/model.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/runtime/cpu/kernels/reduce_norm.hpp"

using namespace kiln;
using cpu::ReduceNormIsa;

namespace {

std::shared_ptr<op::Parameter> param(Type t, PartialShape s) { return make<op::Parameter>({}, t, std::move(s)); }
std::shared_ptr<op::Constant> axes_const(std::vector<int64_t> v) {
    Shape s{static_cast<int64_t>(v.size())};
    return op::Constant::create<int64_t>(v, s);
}

template <typename T>
Tensor random_tensor(Type t, const Shape& s, uint32_t seed, double lo = -1.0, double hi = 1.0) {
    (void)t;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    Tensor r(type_of<T>::value, s);
    for (int64_t i = 0; i < r.size(); ++i) r.data<T>()[i] = static_cast<T>(d(rng));
    return r;
}
Tensor random_of(Type t, const Shape& s, uint32_t seed, double lo = -1.0, double hi = 1.0) {
    if (t == Type::u8) lo = 0;
    return visit_type(t, [&](auto tag) { return random_tensor<decltype(tag)>(t, s, seed, lo, hi); });
}

std::vector<Tensor> run_reference(const NodePtr& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n->num_outputs(); ++i) out.emplace_back(n->output_type(i), n->output_shape(i).to_shape());
    n->evaluate(in, out);
    return out;
}

cpu::KernelShapes shapes_of(const NodePtr& n) {
    cpu::KernelShapes ks;
    for (size_t i = 0; i < n->num_inputs(); ++i) {
        const Output& o = n->input(i);
        ks.inputs.push_back(o.node->output_desc(o.index));
        ks.constants.push_back(o.node->constant_value());
    }
    for (size_t i = 0; i < n->num_outputs(); ++i) ks.outputs.push_back(n->output_desc(i));
    return ks;
}

bool close(double got, double want) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    return std::abs(got - want) <= 1e-5 + 1e-5 * std::abs(want);
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    auto g = got.as_f64_vector(), w = want.as_f64_vector();
    for (size_t i = 0; i < g.size(); ++i)
        if (!close(g[i], w[i])) {
            ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", expected " << w[i];
            return;
        }
}

std::vector<ReduceNormIsa> isas() {
    std::vector<ReduceNormIsa> r;
    for (auto i : {ReduceNormIsa::avx512, ReduceNormIsa::avx2, ReduceNormIsa::avx2_w16, ReduceNormIsa::sse2})
        if (cpu::reduce_norm_isa_supported(i)) r.push_back(i);
    return r;
}

// Runs every code path of the fast kernel on `in` and compares with the node's reference kernel.
void check_fast(const NodePtr& n, const std::vector<Tensor>& in, const std::string& what) {
    auto want = run_reference(n, in);
    auto ks = shapes_of(n);
    ASSERT_NE(cpu::make_reduce_norm_kernel(*n, ks), nullptr) << what;
    for (auto isa : isas()) {
        auto k = cpu::make_reduce_norm_kernel_for_isa(*n, ks, isa);
        ASSERT_NE(k, nullptr) << what;
        std::vector<Tensor> out{Tensor(n->output_type(0), n->output_shape(0).to_shape())};
        k->execute(in, out);
        expect_close(out[0], want[0], what + " [" + k->name() + "]");
    }
}

std::string str(const Shape& s) { return to_string(s); }

// Every subset of the axes of rank r, odd-numbered subsets spelled with negative axes.
std::vector<std::vector<int64_t>> axes_subsets(int64_t r) {
    std::vector<std::vector<int64_t>> all;
    for (int64_t m = 0; m < (int64_t{1} << r); ++m) {
        std::vector<int64_t> a;
        for (int64_t d = 0; d < r; ++d)
            if (m & (int64_t{1} << d)) a.push_back((m % 2) ? d - r : d);
        all.push_back(a);
    }
    return all;
}

const std::vector<Shape> kAwkwardShapes = {
    {0}, {1}, {17}, {1001}, {3, 33}, {1, 17}, {0, 5}, {2, 17, 5}, {4, 1, 33}, {3, 70, 2},
    {2, 3, 7, 7}, {1, 5, 1, 17}, {2, 0, 3, 4}, {2, 3, 1, 4, 17}, {2, 2, 3, 5, 3},
};

// ---- attribute round trips ----

struct Recorder : AttributeVisitor {
    Direction direction() const override { return Direction::write; }
    std::map<std::string, std::string> values;
    void on(const char* n, bool& v) override { values[n] = v ? "true" : "false"; }
    void on(const char* n, int64_t& v) override { values[n] = std::to_string(v); }
    void on(const char* n, double& v) override { values[n] = std::to_string(v); }
    void on(const char* n, std::string& v) override { values[n] = v; }
    void on(const char* n, std::vector<int64_t>&) override { values[n] = "?"; }
    void on(const char* n, std::vector<double>&) override { values[n] = "?"; }
    void on(const char* n, Type& v) override { values[n] = type_name(v); }
    void on(const char* n, PartialShape& v) override { values[n] = v.to_string(); }
};
struct Loader : AttributeVisitor {
    Direction direction() const override { return Direction::read; }
    std::map<std::string, std::string> values;
    void on(const char* n, bool& v) override { v = values.at(n) == "true"; }
    void on(const char* n, int64_t& v) override { v = std::stoll(values.at(n)); }
    void on(const char* n, double& v) override { v = std::stod(values.at(n)); }
    void on(const char* n, std::string& v) override { v = values.at(n); }
    void on(const char*, std::vector<int64_t>&) override {}
    void on(const char*, std::vector<double>&) override {}
    void on(const char* n, Type& v) override { v = type_from_name(values.at(n)); }
    void on(const char*, PartialShape&) override {}
};

template <typename T>
std::map<std::string, std::string> round_trip(T original) {
    Recorder rec;
    original.visit_attributes(rec);
    T fresh;
    Loader load;
    load.values = rec.values;
    fresh.visit_attributes(load);
    EXPECT_TRUE(same_attributes(original, fresh)) << original.type_name();
    EXPECT_EQ(original.attributes_string(), fresh.attributes_string());
    return rec.values;
}

}  // namespace

TEST(ReduceNormAttributes, RoundTrip) {
    auto r = round_trip(op::ReduceSum(true));
    EXPECT_EQ(r.at("keep_dims"), "true");
    EXPECT_EQ(r.size(), 1u);
    round_trip(op::ReduceMean(true));
    round_trip(op::ReduceMax(true));
    round_trip(op::ReduceMin(true));
    round_trip(op::ReduceProd(true));
    round_trip(op::ReduceL1(true));
    round_trip(op::ReduceL2(true));
    EXPECT_EQ(round_trip(op::Softmax(-1)).at("axis"), "-1");
    EXPECT_EQ(round_trip(op::LogSoftmax(2)).at("axis"), "2");
    auto m = round_trip(op::MVN(false, 1e-3, op::MVNEpsMode::outside_sqrt));
    EXPECT_EQ(m.at("eps_mode"), "outside_sqrt");
    EXPECT_EQ(m.at("normalize_variance"), "false");
    EXPECT_TRUE(m.count("eps"));
    EXPECT_TRUE(round_trip(op::BatchNormInference(1e-3)).count("epsilon"));
    auto n = round_trip(op::NormalizeL2(1e-6, op::EpsMode::add));
    EXPECT_EQ(n.at("eps_mode"), "add");
    auto c = round_trip(op::CumSum(true, true));
    EXPECT_EQ(c.at("exclusive"), "true");
    EXPECT_EQ(c.at("reverse"), "true");
}

TEST(ReduceNormAttributes, BadEnumSpellingIsReported) {
    op::MVN mvn;
    Loader l;
    l.values = {{"normalize_variance", "true"}, {"eps", "0.1"}, {"eps_mode", "sideways"}};
    try {
        mvn.visit_attributes(l);
        FAIL() << "expected an error";
    } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("inside_sqrt, outside_sqrt"), std::string::npos) << e.what();
    }
}

TEST(ReduceNormAttributes, NamesAndOpsets) {
    EXPECT_STREQ(op::ReduceSum().type_name(), "ReduceSum");
    EXPECT_STREQ(op::ReduceL1().opset(), "opset4");
    EXPECT_STREQ(op::ReduceL2().opset(), "opset4");
    EXPECT_STREQ(op::ReduceProd().opset(), "opset1");
    EXPECT_STREQ(op::Softmax().opset(), "opset8");
    EXPECT_STREQ(op::LogSoftmax().opset(), "opset5");
    EXPECT_STREQ(op::MVN().opset(), "opset6");
    EXPECT_STREQ(op::BatchNormInference().opset(), "opset5");
    EXPECT_STREQ(op::NormalizeL2().opset(), "opset1");
    EXPECT_STREQ(op::CumSum().opset(), "opset3");
    EXPECT_EQ(op::Softmax().axis, 1);
    EXPECT_FALSE(op::ReduceMean().keep_dims);
}

// ---- shape inference ----

TEST(ReductionInfer, StaticKeepDimsAndNegativeAxes) {
    auto x = param(Type::f32, PartialShape{2, 3, 4});
    auto r = make<op::ReduceSum>({x->output(0), axes_const({1, -1})->output(0)}, true);
    EXPECT_EQ(r->output_shape(0).to_string(), "[2,1,1]");
    EXPECT_EQ(r->output_type(0), Type::f32);
    auto r2 = make<op::ReduceMax>({x->output(0), axes_const({1, -1})->output(0)}, false);
    EXPECT_EQ(r2->output_shape(0).to_string(), "[2]");
    auto all = make<op::ReduceL2>({x->output(0), axes_const({0, 1, 2})->output(0)});
    EXPECT_EQ(all->output_shape(0).to_string(), "[]");
    auto dup = make<op::ReduceMean>({x->output(0), axes_const({1, -2})->output(0)});
    EXPECT_EQ(dup->output_shape(0).to_string(), "[2,4]");
    auto scalar_axis = make<op::ReduceMin>({x->output(0), op::Constant::scalar<int32_t>(-3)->output(0)});
    EXPECT_EQ(scalar_axis->output_shape(0).to_string(), "[3,4]");
}

TEST(ReductionInfer, EmptyAxesReduceNothing) {
    auto x = param(Type::i32, PartialShape{2, Dimension(), 4});
    for (bool keep : {false, true}) {
        auto r = make<op::ReduceProd>({x->output(0), axes_const({})->output(0)}, keep);
        EXPECT_EQ(r->output_shape(0).to_string(), "[2,?,4]");
        EXPECT_EQ(r->output_type(0), Type::i32);
    }
    auto a = param(Type::i64, PartialShape{0});  // known empty, value unknown
    auto r = make<op::ReduceSum>({x->output(0), a->output(0)});
    EXPECT_EQ(r->output_shape(0).to_string(), "[2,?,4]");
}

TEST(ReductionInfer, DynamicDimsAndRank) {
    auto x = param(Type::f32, PartialShape{Dimension(), 3, Dimension(2, 8)});
    auto r = make<op::ReduceSum>({x->output(0), axes_const({0})->output(0)});
    EXPECT_EQ(r->output_shape(0).to_string(), "[3,2..8]");
    auto rk = make<op::ReduceSum>({x->output(0), axes_const({0})->output(0)}, true);
    EXPECT_EQ(rk->output_shape(0).to_string(), "[1,3,2..8]");
    auto dyn = param(Type::f32, PartialShape());
    auto rd = make<op::ReduceMean>({dyn->output(0), axes_const({0})->output(0)}, true);
    EXPECT_TRUE(rd->output_shape(0).rank_is_dynamic());
    // Axes known only at run time.
    auto ax = param(Type::i64, PartialShape{1});
    auto u1 = make<op::ReduceL1>({x->output(0), ax->output(0)}, true);
    EXPECT_EQ(u1->output_shape(0).to_string(), "[?,?,?]");
    auto u2 = make<op::ReduceL1>({x->output(0), ax->output(0)}, false);
    EXPECT_TRUE(u2->output_shape(0).rank_is_dynamic());
    auto dt = param(Type::dynamic, PartialShape{2});
    EXPECT_EQ(make<op::ReduceSum>({dt->output(0), axes_const({0})->output(0)})->output_type(0), Type::dynamic);
}

TEST(ReductionInfer, Errors) {
    auto x = param(Type::f32, PartialShape{2, 3, 4});
    try {
        auto n = std::make_shared<op::ReduceSum>();
        n->set_name("r1");
        n->set_inputs({x->output(0), axes_const({3})->output(0)});
        n->validate_and_infer();
        FAIL() << "expected an error";
    } catch (const ValueError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("[ReduceSum r1]"), std::string::npos) << m;
        EXPECT_NE(m.find("expected [-3, 2]"), std::string::npos) << m;
        EXPECT_NE(m.find("got 3"), std::string::npos) << m;
    }
    EXPECT_THROW(make<op::ReduceSum>({x->output(0), axes_const({-4})->output(0)}), ValueError);
    auto fa = op::Constant::create<float>({0.f}, {1});
    EXPECT_THROW(make<op::ReduceSum>({x->output(0), fa->output(0)}), ValueError);
    auto a2 = op::Constant::create<int64_t>({0, 1}, {1, 2});
    EXPECT_THROW(make<op::ReduceSum>({x->output(0), a2->output(0)}), ValueError);
    auto b = param(Type::boolean, PartialShape{2});
    EXPECT_THROW(make<op::ReduceMax>({b->output(0), axes_const({0})->output(0)}), ValueError);
    EXPECT_THROW(make<op::ReduceMax>({x->output(0)}), ValueError);
    auto s = param(Type::f32, PartialShape(Shape{}));  // a scalar ({} would be dynamic rank)
    EXPECT_THROW(make<op::ReduceMax>({s->output(0), axes_const({0})->output(0)}), ValueError);
}

TEST(NormalizationInfer, SoftmaxFamily) {
    auto x = param(Type::f32, PartialShape{Dimension(), 3, 5});
    EXPECT_EQ(make<op::Softmax>({x->output(0)}, -1)->output_shape(0).to_string(), "[?,3,5]");
    EXPECT_EQ(make<op::LogSoftmax>({x->output(0)}, -3)->output_shape(0).to_string(), "[?,3,5]");
    auto dyn = param(Type::f64, PartialShape());
    auto s = make<op::Softmax>({dyn->output(0)}, 7);  // rank unknown: cannot check yet
    EXPECT_TRUE(s->output_shape(0).rank_is_dynamic());
    EXPECT_EQ(s->output_type(0), Type::f64);
    try {
        make<op::Softmax>({x->output(0)}, 3);
        FAIL() << "expected an error";
    } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("expected [-3, 2]"), std::string::npos) << e.what();
    }
    EXPECT_THROW(make<op::LogSoftmax>({x->output(0)}, -4), ValueError);
    auto i = param(Type::i32, PartialShape{2});
    EXPECT_THROW(make<op::Softmax>({i->output(0)}, 0), ValueError);
    auto sc = param(Type::f32, PartialShape(Shape{}));  // a scalar ({} would be dynamic rank)
    EXPECT_THROW(make<op::Softmax>({sc->output(0)}, 0), ValueError);
}

TEST(NormalizationInfer, MVNAndNormalizeL2) {
    auto x = param(Type::f32, PartialShape{2, Dimension(), 4});
    auto m = make<op::MVN>({x->output(0), axes_const({-1, 1})->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt);
    EXPECT_EQ(m->output_shape(0).to_string(), "[2,?,4]");
    EXPECT_THROW(make<op::MVN>({x->output(0), axes_const({3})->output(0)}), ValueError);
    auto ax = param(Type::i32, PartialShape{2});
    EXPECT_EQ(make<op::MVN>({x->output(0), ax->output(0)})->output_shape(0).to_string(), "[2,?,4]");
    auto fa = param(Type::f32, PartialShape{2});
    EXPECT_THROW(make<op::MVN>({x->output(0), fa->output(0)}), ValueError);
    auto i = param(Type::i32, PartialShape{2, 3});
    EXPECT_THROW(make<op::MVN>({i->output(0), axes_const({1})->output(0)}), ValueError);
    auto n = make<op::NormalizeL2>({x->output(0), axes_const({1})->output(0)}, 1e-6, op::EpsMode::add);
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,?,4]");
    EXPECT_THROW(make<op::NormalizeL2>({x->output(0), axes_const({-4})->output(0)}), ValueError);
}

TEST(NormalizationInfer, BatchNormInference) {
    auto x = param(Type::f32, PartialShape{2, Dimension(), 4, 4});
    auto c = [](int64_t n) { return param(Type::f32, PartialShape{n}); };
    auto bn = make<op::BatchNormInference>({x->output(0), c(3)->output(0), c(3)->output(0), c(3)->output(0),
                                            c(3)->output(0)}, 1e-5);
    EXPECT_EQ(bn->output_shape(0).to_string(), "[2,3,4,4]");
    auto dyn = param(Type::f32, PartialShape());
    auto bd = make<op::BatchNormInference>({dyn->output(0), c(3)->output(0), c(3)->output(0), c(3)->output(0),
                                            c(3)->output(0)});
    EXPECT_TRUE(bd->output_shape(0).rank_is_dynamic());
    try {
        auto y = param(Type::f32, PartialShape{2, 3, 5});
        make<op::BatchNormInference>({y->output(0), c(3)->output(0), c(4)->output(0), c(3)->output(0),
                                      c(3)->output(0)});
        FAIL() << "expected an error";
    } catch (const ValueError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("beta must have 3 elements"), std::string::npos) << m;
        EXPECT_NE(m.find("got shape [4]"), std::string::npos) << m;
    }
    auto r1 = param(Type::f32, PartialShape{3});
    EXPECT_THROW(make<op::BatchNormInference>({r1->output(0), c(3)->output(0), c(3)->output(0), c(3)->output(0),
                                               c(3)->output(0)}), ValueError);
    auto d64 = param(Type::f64, PartialShape{3});
    EXPECT_THROW(make<op::BatchNormInference>({x->output(0), d64->output(0), c(3)->output(0), c(3)->output(0),
                                               c(3)->output(0)}), ValueError);
    auto m2 = param(Type::f32, PartialShape{3, 1});
    EXPECT_THROW(make<op::BatchNormInference>({x->output(0), c(3)->output(0), c(3)->output(0), m2->output(0),
                                               c(3)->output(0)}), ValueError);
    EXPECT_THROW(make<op::BatchNormInference>({x->output(0), c(3)->output(0)}), ValueError);
}

TEST(NormalizationInfer, CumSum) {
    auto x = param(Type::i64, PartialShape{2, Dimension(), 4});
    EXPECT_EQ(make<op::CumSum>({x->output(0)})->output_shape(0).to_string(), "[2,?,4]");
    auto a = make<op::CumSum>({x->output(0), op::Constant::scalar<int32_t>(-1)->output(0)}, true, false);
    EXPECT_EQ(a->output_type(0), Type::i64);
    EXPECT_THROW(make<op::CumSum>({x->output(0), op::Constant::scalar<int64_t>(3)->output(0)}), ValueError);
    EXPECT_THROW(make<op::CumSum>({x->output(0), op::Constant::scalar<float>(0)->output(0)}), ValueError);
    EXPECT_THROW(make<op::CumSum>({x->output(0), axes_const({0, 1})->output(0)}), ValueError);
    auto s = param(Type::f32, PartialShape(Shape{}));  // a scalar ({} would be dynamic rank)
    EXPECT_THROW(make<op::CumSum>({s->output(0)}), ValueError);
    auto b = param(Type::boolean, PartialShape{2});
    EXPECT_THROW(make<op::CumSum>({b->output(0)}), ValueError);
}

// ---- reference kernels on known values ----

TEST(ReferenceKernels, Reductions) {
    auto x = param(Type::f32, PartialShape{2, 3});
    Tensor in = Tensor::from_vector<float>({1, -2, 3, 4, 5, -6}, {2, 3});
    auto run = [&](NodePtr n) { return run_reference(n, {in, n->input(1).node->constant_value()->copy()})[0].as_f64_vector(); };
    auto ax0 = axes_const({0});
    auto ax1 = axes_const({-1});
    EXPECT_EQ(run(make<op::ReduceSum>({x->output(0), ax0->output(0)})), (std::vector<double>{5, 3, -3}));
    EXPECT_EQ(run(make<op::ReduceMean>({x->output(0), ax1->output(0)})), (std::vector<double>{static_cast<float>(2.0 / 3), 1}));
    EXPECT_EQ(run(make<op::ReduceMax>({x->output(0), ax1->output(0)})), (std::vector<double>{3, 5}));
    EXPECT_EQ(run(make<op::ReduceMin>({x->output(0), ax0->output(0)})), (std::vector<double>{1, -2, -6}));
    EXPECT_EQ(run(make<op::ReduceProd>({x->output(0), ax1->output(0)})), (std::vector<double>{-6, -120}));
    EXPECT_EQ(run(make<op::ReduceL1>({x->output(0), ax1->output(0)})), (std::vector<double>{6, 15}));
    auto l2 = run(make<op::ReduceL2>({x->output(0), ax0->output(0)}));
    EXPECT_NEAR(l2[0], std::sqrt(17.0), 1e-6);
    // No axes: every element is its own reduction.
    EXPECT_EQ(run(make<op::ReduceL1>({x->output(0), axes_const({})->output(0)})),
              (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(ReferenceKernels, ReductionsEveryDtype) {
    for (Type t : {Type::f32, Type::f64, Type::i64, Type::i32, Type::i8, Type::u8}) {
        auto x = param(t, PartialShape{2, 3});
        Tensor in(t, {2, 3});
        std::vector<double> v{1, 2, 3, 4, 5, 7};
        convert_elements(v.data(), Type::f64, in.data(), t, 6);
        auto ax = axes_const({1});
        auto sum = make<op::ReduceSum>({x->output(0), ax->output(0)});
        auto got = run_reference(sum, {in, ax->value})[0];
        EXPECT_EQ(got.type(), t);
        EXPECT_EQ(got.as_f64_vector(), (std::vector<double>{6, 16})) << type_name(t);
        auto mean = make<op::ReduceMean>({x->output(0), ax->output(0)});
        auto m = run_reference(mean, {in, ax->value})[0].as_f64_vector();
        if (is_float(t)) EXPECT_NEAR(m[1], 16.0 / 3, 1e-6) << type_name(t);
        else EXPECT_EQ(m[1], 5) << type_name(t);  // integer mean truncates
        auto mx = make<op::ReduceMax>({x->output(0), axes_const({0, 1})->output(0)});
        EXPECT_EQ(run_reference(mx, {in, axes_const({0, 1})->value})[0].as_f64_vector(), (std::vector<double>{7}));
        auto cs = make<op::CumSum>({x->output(0), op::Constant::scalar<int64_t>(1)->output(0)});
        EXPECT_EQ(run_reference(cs, {in, Tensor::scalar<int64_t>(1)})[0].as_f64_vector(),
                  (std::vector<double>{1, 3, 6, 4, 9, 16})) << type_name(t);
    }
}

TEST(ReferenceKernels, EmptyReductions) {
    auto x = param(Type::f32, PartialShape{0, 2});
    Tensor in(Type::f32, {0, 2});
    auto ax = axes_const({0});
    auto val = [&](NodePtr n) { return run_reference(n, {in, ax->value})[0].as_f64_vector(); };
    EXPECT_EQ(val(make<op::ReduceSum>({x->output(0), ax->output(0)})), (std::vector<double>{0, 0}));
    EXPECT_EQ(val(make<op::ReduceProd>({x->output(0), ax->output(0)})), (std::vector<double>{1, 1}));
    EXPECT_EQ(val(make<op::ReduceMax>({x->output(0), ax->output(0)}))[0], -INFINITY);
    EXPECT_EQ(val(make<op::ReduceMin>({x->output(0), ax->output(0)}))[0], INFINITY);
    EXPECT_TRUE(std::isnan(val(make<op::ReduceMean>({x->output(0), ax->output(0)}))[0]));
}

TEST(ReferenceKernels, CumSumSpecExamples) {
    auto x = param(Type::f32, PartialShape{6});
    Tensor in = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6});
    auto run = [&](bool ex, bool rev) {
        auto n = make<op::CumSum>({x->output(0)}, ex, rev);
        return run_reference(n, {in})[0].as_f64_vector();
    };
    EXPECT_EQ(run(false, false), (std::vector<double>{1, 3, 6, 10, 15, 21}));
    EXPECT_EQ(run(true, false), (std::vector<double>{0, 1, 3, 6, 10, 15}));
    EXPECT_EQ(run(false, true), (std::vector<double>{21, 20, 18, 15, 11, 6}));
    EXPECT_EQ(run(true, true), (std::vector<double>{20, 18, 15, 11, 6, 0}));
}

TEST(ReferenceKernels, Normalizations) {
    auto x = param(Type::f64, PartialShape{2, 2});
    Tensor in = Tensor::from_vector<double>({1, 2, 3, 5}, {2, 2});
    auto sm = run_reference(make<op::Softmax>({x->output(0)}, 1), {in})[0].as_f64_vector();
    EXPECT_NEAR(sm[0], 1 / (1 + std::exp(1.0)), 1e-12);
    EXPECT_NEAR(sm[3], std::exp(2.0) / (1 + std::exp(2.0)), 1e-12);
    auto lsm = run_reference(make<op::LogSoftmax>({x->output(0)}, 0), {in})[0].as_f64_vector();
    EXPECT_NEAR(lsm[0], std::log(std::exp(1.0) / (std::exp(1.0) + std::exp(3.0))), 1e-12);
    auto ax1 = axes_const({1});
    auto mvn = make<op::MVN>({x->output(0), ax1->output(0)}, true, 0.0, op::MVNEpsMode::inside_sqrt);
    EXPECT_EQ(run_reference(mvn, {in, ax1->value})[0].as_f64_vector(), (std::vector<double>{-1, 1, -1, 1}));
    auto mvn2 = make<op::MVN>({x->output(0), ax1->output(0)}, true, 1.0, op::MVNEpsMode::outside_sqrt);
    auto m2 = run_reference(mvn2, {in, ax1->value})[0].as_f64_vector();
    EXPECT_NEAR(m2[3], 1.0 / 2.0, 1e-12);  // (5 - 4) / (sqrt(1) + 1)
    auto nl = make<op::NormalizeL2>({x->output(0), ax1->output(0)}, 0.0, op::EpsMode::add);
    auto n = run_reference(nl, {in, ax1->value})[0].as_f64_vector();
    EXPECT_NEAR(n[2], 3 / std::sqrt(34.0), 1e-12);
    auto nl0 = make<op::NormalizeL2>({x->output(0), axes_const({})->output(0)}, 1e-30, op::EpsMode::max);
    EXPECT_EQ(run_reference(nl0, {in, axes_const({})->value})[0].as_f64_vector(), (std::vector<double>{1, 1, 1, 1}));
    auto c = [](std::vector<double> v) { return op::Constant::create<double>(v, {2}); };
    auto g = c({2, 1}), b = c({0, 1}), mu = c({1, 0}), var = c({4, 1});
    auto bn = make<op::BatchNormInference>({x->output(0), g->output(0), b->output(0), mu->output(0), var->output(0)}, 0.0);
    EXPECT_EQ(run_reference(bn, {in, g->value, b->value, mu->value, var->value})[0].as_f64_vector(),
              (std::vector<double>{0, 3, 2, 6}));
}

// ---- fast kernels vs reference ----

TEST(FastKernels, NotCoveredGivesNullptr) {
    auto x = param(Type::f64, PartialShape{2, 3});
    auto s = make<op::Softmax>({x->output(0)}, 1);
    EXPECT_EQ(cpu::make_reduce_norm_kernel(*s, shapes_of(s)), nullptr);
    auto xi = param(Type::i32, PartialShape{2, 3});
    auto r = make<op::ReduceSum>({xi->output(0), axes_const({1})->output(0)});
    EXPECT_EQ(cpu::make_reduce_norm_kernel(*r, shapes_of(r)), nullptr);
    auto xf = param(Type::f32, PartialShape{2, 3});
    auto ax = param(Type::i64, PartialShape{1});
    auto rd = make<op::ReduceSum>({xf->output(0), ax->output(0)}, true);
    auto ks = shapes_of(rd);
    ks.outputs[0].shape = PartialShape{1, 3};
    EXPECT_EQ(cpu::make_reduce_norm_kernel(*rd, ks), nullptr);  // axes not constant
    auto cs = make<op::CumSum>({xf->output(0)});
    EXPECT_EQ(cpu::make_reduce_norm_kernel(*cs, shapes_of(cs)), nullptr);
    EXPECT_TRUE(cpu::reduce_norm_isa_supported(ReduceNormIsa::sse2));
}

TEST(FastKernels, ReduceEveryKindShapeAndAxes) {
    using MakeFn = std::function<NodePtr(const Output&, const Output&, bool)>;
    std::vector<std::pair<const char*, MakeFn>> kinds = {
        {"Sum", [](auto& a, auto& b, bool k) { return make<op::ReduceSum>({a, b}, k); }},
        {"Mean", [](auto& a, auto& b, bool k) { return make<op::ReduceMean>({a, b}, k); }},
        {"Max", [](auto& a, auto& b, bool k) { return make<op::ReduceMax>({a, b}, k); }},
        {"Min", [](auto& a, auto& b, bool k) { return make<op::ReduceMin>({a, b}, k); }},
        {"Prod", [](auto& a, auto& b, bool k) { return make<op::ReduceProd>({a, b}, k); }},
        {"L1", [](auto& a, auto& b, bool k) { return make<op::ReduceL1>({a, b}, k); }},
        {"L2", [](auto& a, auto& b, bool k) { return make<op::ReduceL2>({a, b}, k); }},
    };
    uint32_t seed = 1;
    for (auto& [kname, mk] : kinds) {
        const bool prod = std::string(kname) == "Prod";
        for (const Shape& s : kAwkwardShapes) {
            auto x = param(Type::f32, PartialShape(s));
            // Products of many factors stay finite when the factors sit near 1.
            Tensor in = prod ? random_of(Type::f32, s, seed++, 0.97, 1.03) : random_of(Type::f32, s, seed++);
            for (auto& axes : axes_subsets(static_cast<int64_t>(s.size()))) {
                auto ax = axes_const(axes);
                for (bool keep : {false, true}) {
                    auto n = mk(x->output(0), ax->output(0), keep);
                    check_fast(n, {in, ax->value}, std::string("Reduce") + kname + " " + str(s) + " axes " +
                                                        str(axes) + (keep ? " keep" : ""));
                }
            }
        }
    }
}

TEST(FastKernels, ReduceLargeParallel) {
    // Global average pooling, and a column reduction that a single output row cannot split.
    Shape s{4, 64, 33, 17};
    auto x = param(Type::f32, PartialShape(s));
    Tensor in = random_of(Type::f32, s, 7);
    auto ax = axes_const({2, 3});
    check_fast(make<op::ReduceMean>({x->output(0), ax->output(0)}, true), {in, ax->value}, "GAP");
    check_fast(make<op::ReduceMax>({x->output(0), ax->output(0)}, true), {in, ax->value}, "global max");
    Shape c{1001, 300};
    auto y = param(Type::f32, PartialShape(c));
    Tensor yin = random_of(Type::f32, c, 8);
    auto a0 = axes_const({0});
    check_fast(make<op::ReduceSum>({y->output(0), a0->output(0)}), {yin, a0->value}, "column sum");
}

TEST(FastKernels, SoftmaxEveryAxis) {
    std::vector<Shape> shapes = kAwkwardShapes;
    shapes.push_back({2, 130, 3});
    shapes.push_back({3, 5, 67});
    uint32_t seed = 100;
    for (const Shape& s : shapes) {
        auto x = param(Type::f32, PartialShape(s));
        // Wide range: exercises the max subtraction and exp over [-87, 0].
        Tensor in = random_of(Type::f32, s, seed++, -40.0, 40.0);
        const int64_t r = static_cast<int64_t>(s.size());
        for (int64_t axis = -r; axis < r; ++axis) {
            auto what = str(s) + " axis " + std::to_string(axis);
            check_fast(make<op::Softmax>({x->output(0)}, axis), {in}, "Softmax " + what);
            check_fast(make<op::LogSoftmax>({x->output(0)}, axis), {in}, "LogSoftmax " + what);
        }
    }
    Shape big{64, 1001};
    auto x = param(Type::f32, PartialShape(big));
    Tensor in = random_of(Type::f32, big, 5, -5.0, 5.0);
    check_fast(make<op::Softmax>({x->output(0)}, -1), {in}, "Softmax large rows");
    check_fast(make<op::Softmax>({x->output(0)}, 0), {in}, "Softmax large strided");
    check_fast(make<op::LogSoftmax>({x->output(0)}, 0), {in}, "LogSoftmax large strided");
}

TEST(FastKernels, MVNEveryAxesSet) {
    std::vector<Shape> shapes = kAwkwardShapes;
    shapes.push_back({2, 4, 300});
    uint32_t seed = 200;
    for (const Shape& s : shapes) {
        auto x = param(Type::f32, PartialShape(s));
        Tensor in = random_of(Type::f32, s, seed++, -2.0, 3.0);
        for (auto& axes : axes_subsets(static_cast<int64_t>(s.size()))) {
            auto ax = axes_const(axes);
            for (int variant = 0; variant < 3; ++variant) {
                const bool nv = variant != 2;
                const auto mode = variant == 1 ? op::MVNEpsMode::outside_sqrt : op::MVNEpsMode::inside_sqrt;
                auto n = make<op::MVN>({x->output(0), ax->output(0)}, nv, 1e-3, mode);
                check_fast(n, {in, ax->value}, "MVN " + str(s) + " axes " + str(axes) + " variant " + std::to_string(variant));
            }
        }
    }
    for (auto& axes : std::vector<std::vector<int64_t>>{{-1}, {0}, {1, 2}}) {
        Shape s{3, 40, 1001};
        auto x = param(Type::f32, PartialShape(s));
        Tensor in = random_of(Type::f32, s, 250, 99.0, 101.0);  // |mean| >> std
        auto ax = axes_const(axes);
        check_fast(make<op::MVN>({x->output(0), ax->output(0)}, true, 1e-9, op::MVNEpsMode::inside_sqrt),
                   {in, ax->value}, "MVN offset data axes " + str(axes));
    }
    Shape ln{16, 77, 768};  // layer norm at transformer size
    auto x = param(Type::f32, PartialShape(ln));
    Tensor in = random_of(Type::f32, ln, 9);
    auto ax = axes_const({-1});
    check_fast(make<op::MVN>({x->output(0), ax->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt), {in, ax->value},
               "layer norm");
}

TEST(FastKernels, BatchNormInference) {
    std::vector<Shape> shapes = {{1, 1}, {3, 17}, {2, 33}, {0, 5}, {2, 3, 0}, {2, 17, 5}, {1, 3, 7, 7},
                                 {2, 5, 1, 17}, {2, 3, 2, 3, 5}, {8, 64, 28, 28}};
    uint32_t seed = 300;
    for (const Shape& s : shapes) {
        const int64_t c = s[1];
        auto x = param(Type::f32, PartialShape(s));
        Tensor in = random_of(Type::f32, s, seed++, -3.0, 3.0);
        std::vector<Tensor> params;
        for (int i = 0; i < 4; ++i)
            params.push_back(random_of(Type::f32, {c}, seed++, i == 3 ? 0.1 : -1.0, i == 3 ? 2.0 : 1.0));
        for (bool constant : {true, false}) {
            OutputVector inputs{x->output(0)};
            for (auto& p : params) {
                if (constant) inputs.push_back(make<op::Constant>({}, p)->output(0));
                else inputs.push_back(param(Type::f32, PartialShape{c})->output(0));
            }
            auto n = make<op::BatchNormInference>(inputs, 1e-5);
            check_fast(n, {in, params[0], params[1], params[2], params[3]},
                       "BatchNorm " + str(s) + (constant ? " constant" : " runtime"));
        }
    }
}

TEST(ReferenceKernels, IntegerTypesMatchF64) {
    // Integer inputs small enough that every kind is exact in both types (Mean and L2 aside,
    // which round toward zero for integers).
    uint32_t seed = 400;
    for (Type t : {Type::i64, Type::i32, Type::i8, Type::u8}) {
        Shape s{3, 4, 5};
        Tensor ti = random_of(t, s, seed++, -3.0, 4.0);
        Tensor tf(Type::f64, s);
        convert_elements(ti.data(), t, tf.data(), Type::f64, static_cast<size_t>(ti.size()));
        auto xi = param(t, PartialShape(s));
        auto xf = param(Type::f64, PartialShape(s));
        for (auto& axes : axes_subsets(3)) {
            auto ax = axes_const(axes);
            auto both = [&](auto tag) {
                using Op = decltype(tag);
                auto ni = make<Op>({xi->output(0), ax->output(0)}, false);
                auto nf = make<Op>({xf->output(0), ax->output(0)}, false);
                auto gi = run_reference(ni, {ti, ax->value})[0];
                auto gf = run_reference(nf, {tf, ax->value})[0];
                EXPECT_EQ(gi.type(), t);
                auto vi = gi.as_f64_vector(), vf = gf.as_f64_vector();
                if (t == Type::i8 || t == Type::u8) {  // narrow types wrap like the C++ conversion
                    Tensor back(t, gf.shape());
                    convert_elements(gf.data(), Type::f64, back.data(), t, vf.size());
                    vf = back.as_f64_vector();
                }
                EXPECT_EQ(vi, vf) << ni->type_name() << " " << type_name(t);
            };
            both(op::ReduceSum{});
            both(op::ReduceMax{});
            both(op::ReduceMin{});
            both(op::ReduceL1{});
            if (t == Type::i64 || t == Type::i32) both(op::ReduceProd{});
        }
        for (int64_t axis = -3; axis < 3; ++axis) {
            auto a = op::Constant::scalar<int64_t>(axis);
            auto ci = make<op::CumSum>({xi->output(0), a->output(0)}, true, true);
            auto cf = make<op::CumSum>({xf->output(0), a->output(0)}, true, true);
            auto vi = run_reference(ci, {ti, a->value})[0];
            auto vf = run_reference(cf, {tf, a->value})[0];
            Tensor back(t, s);
            convert_elements(vf.data(), Type::f64, back.data(), t, static_cast<size_t>(vf.size()));
            EXPECT_EQ(vi.as_f64_vector(), back.as_f64_vector()) << "CumSum " << type_name(t) << " axis " << axis;
        }
    }
}

TEST(FastKernels, ExecuteFromManyThreadsAtOnce) {
    Shape s{6, 33, 70};
    auto x = param(Type::f32, PartialShape(s));
    auto ax = axes_const({-1});
    std::vector<NodePtr> nodes = {make<op::Softmax>({x->output(0)}, 1),
                                  make<op::MVN>({x->output(0), ax->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt),
                                  make<op::ReduceL2>({x->output(0), ax->output(0)}, true)};
    for (auto& n : nodes) {
        auto k = cpu::make_reduce_norm_kernel(*n, shapes_of(n));
        ASSERT_NE(k, nullptr);
        std::vector<std::vector<Tensor>> ins, outs;
        for (uint32_t i = 0; i < 4; ++i) {
            ins.push_back({random_of(Type::f32, s, 500 + i)});
            if (n->num_inputs() == 2) ins.back().push_back(ax->value);
            outs.push_back({Tensor(Type::f32, n->output_shape(0).to_shape())});
        }
        std::vector<std::thread> th;
        for (size_t i = 0; i < 4; ++i)
            th.emplace_back([&, i] {
                for (int rep = 0; rep < 20; ++rep) k->execute(ins[i], outs[i]);
            });
        for (auto& t : th) t.join();
        for (size_t i = 0; i < 4; ++i)
            expect_close(outs[i][0], run_reference(n, ins[i])[0], std::string(n->type_name()) + " thread " + std::to_string(i));
    }
}

TEST(FastKernels, SomeCodePathRunsHere) { EXPECT_FALSE(isas().empty()); }
