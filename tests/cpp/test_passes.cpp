// Graph passes (passes/): the pass manager, fuse_dnn on the real op classes it fuses, and the one
// activation definition shared by the element-wise ops and the fused post-ops.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/core/interpreter.hpp"
#include "kiln/core/model.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/passes/fuse_dnn.hpp"
#include "kiln/passes/fuse_gelu.hpp"
#include "kiln/passes/pipeline.hpp"

#include "test_util.hpp"

using namespace kiln;
using op::Activation;
using op::PostOp;
using test::random_tensor;
using test::close;
using V = std::vector<int64_t>;

namespace {

std::shared_ptr<op::Parameter> param(PartialShape s, Type t = Type::f32) {
    return make<op::Parameter>({}, t, std::move(s));
}

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }

Output scalar(float v) { return make<op::Constant>({}, Tensor::scalar(v))->output(0); }


size_t count_type(const Model& m, const std::string& t) {
    size_t k = 0;
    for (auto& n : m.ordered_ops()) k += t == n->type_name();
    return k;
}

// Runs fuse_dnn on a clone, validates it, and checks that both graphs compute the same values
// (reference kernels of the real ops on both sides).
std::shared_ptr<Model> fuse_and_compare(const Model& m, uint32_t seed = 1) {
    auto fused = m.clone();
    passes::fuse_dnn(*fused);
    validate_model(*fused);
    std::vector<Tensor> in;
    for (auto& p : m.parameters()) in.push_back(random_tensor(p->shape.to_shape(), seed++));
    auto a = evaluate_model(m, in), b = evaluate_model(*fused, in);
    EXPECT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(close(b[i], a[i])) << "output " << i;
    return fused;
}

Output conv(Output x, int64_t ic, int64_t oc, uint32_t seed, int64_t groups = 1) {
    if (groups == 1)
        return make<op::Convolution>({x, cst(random_tensor({oc, ic, 3, 3}, seed))}, V{1, 1}, V{1, 1},
                                     V{1, 1}, V{1, 1})
            ->output(0);
    return make<op::GroupConvolution>(
               {x, cst(random_tensor({groups, oc / groups, ic / groups, 3, 3}, seed))}, V{1, 1}, V{1, 1},
               V{1, 1}, V{1, 1})
        ->output(0);
}

// The element-wise op for each activation kind, with the parameters of `spec`.
NodePtr activation_op(const op::ActivationSpec& a, Output x) {
    switch (a.kind) {
        case Activation::relu:
            if (a.alpha == 0) return make<op::Relu>({x});
            return make<op::PRelu>({x, cst(Tensor::from_vector(std::vector<float>{float(a.alpha)}, {1}))});
        case Activation::clamp: return make<op::Clamp>({x}, a.alpha, a.beta);
        case Activation::sigmoid: return make<op::Sigmoid>({x});
        case Activation::tanh: return make<op::Tanh>({x});
        case Activation::swish: return make<op::Swish>({x, scalar(float(a.alpha))});
        case Activation::hswish: return make<op::HSwish>({x});
        case Activation::hsigmoid: return make<op::HSigmoid>({x});
        case Activation::gelu_erf: return make<op::Gelu>({x}, op::GeluApproximation::erf);
        case Activation::gelu_tanh: return make<op::Gelu>({x}, op::GeluApproximation::tanh);
        case Activation::elu: return make<op::Elu>({x}, a.alpha);
        case Activation::mish: return make<op::Mish>({x});
        case Activation::abs: return make<op::Abs>({x});
        case Activation::exp: return make<op::Exp>({x});
        case Activation::softplus: return make<op::SoftPlus>({x});
    }
    return nullptr;
}

}  // namespace

// ---------------------------------------------------------------- one activation definition

// For every kind: the op is recognized as that activation with its parameters, and the op's
// reference kernel and a fused matmul's post-op give bit-identical results, including where the
// two used to differ (gelu for very negative x, softplus above 20).
TEST(Activation, OpAndFusedPostOpAgree) {
    // Parameters exact in f32, as the ops' constant inputs hold them.
    const std::vector<op::ActivationSpec> specs = {
        {Activation::relu},      {Activation::relu, 0.125},   {Activation::clamp, -0.25, 0.375},
        {Activation::sigmoid},   {Activation::tanh},          {Activation::swish, 1.5},
        {Activation::hswish},    {Activation::hsigmoid},      {Activation::gelu_erf},
        {Activation::gelu_tanh}, {Activation::elu, 0.75},      {Activation::mish},
        {Activation::abs},       {Activation::exp},           {Activation::softplus},
    };
    std::vector<float> xs = {-40.f, -9.f, -6.5f, -3.f, -1.f, -0.25f, 0.f, 0.3f, 1.f, 2.5f, 19.f, 21.f, 35.f, 80.f};
    const int64_t n = static_cast<int64_t>(xs.size());
    Tensor x = Tensor::from_vector(xs, {n, 1});
    for (auto& spec : specs) {
        SCOPED_TRACE(op::activation_name(spec.kind));
        auto p = param({n, 1});
        auto node = activation_op(spec, p->output(0));
        auto got = op::activation_of(*node);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, spec);
        std::vector<Tensor> in{x};
        for (size_t i = 1; i < node->num_inputs(); ++i) in.push_back(*node->input(i).node->constant_value());
        std::vector<Tensor> y{Tensor(Type::f32, {n, 1})};
        node->evaluate(in, y);
        auto fm = make<op::FusedMatMul>({p->output(0), cst(Tensor::from_vector(std::vector<float>{1.f}, {1, 1}))},
                                        false, false, false, std::vector<PostOp>{PostOp(spec)});
        std::vector<Tensor> z{Tensor(Type::f32, {n, 1})};
        fm->evaluate({x, *fm->input(1).node->constant_value()}, z);
        for (int64_t i = 0; i < n; ++i) {
            const float a = y[0].data<float>()[i], b = z[0].data<float>()[i];
            EXPECT_TRUE(std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)))
                << "x = " << xs[i] << ": op " << a << ", fused " << b;
            const float want = static_cast<float>(op::activation_value(spec, xs[i]));
            EXPECT_TRUE(std::memcmp(&a, &want, sizeof a) == 0) << "x = " << xs[i];
        }
    }
    // Values the definition must get right (double precision, no cancellation).
    EXPECT_NEAR(op::activation_value(Activation::gelu_erf, -9.0), -9.0 * 0.5 * std::erfc(9.0 / std::sqrt(2.0)), 1e-30);
    EXPECT_GT(op::activation_value(Activation::softplus, 25.0), 25.0);  // no cutoff at 20
    EXPECT_DOUBLE_EQ(op::activation_value(Activation::relu, -2.0), 0.0);
    EXPECT_FALSE(std::signbit(op::activation_value(Activation::relu, -2.0)));
}

TEST(Activation, NamesRoundTripThroughPostOpStrings) {
    for (auto& info : op::kActivations) {
        EXPECT_EQ(op::activation_from_name(info.name), info.kind);
        PostOp p(info.kind, info.params >= 1 ? 0.5 : 0, info.params >= 2 ? 2.0 : 0);
        auto back = op::post_ops_from_string(op::post_ops_to_string({p, PostOp::residual()}));
        ASSERT_EQ(back.size(), 2u);
        EXPECT_EQ(back[0], p);
        EXPECT_TRUE(back[1].sum);
    }
    test::expect_error([] { op::post_ops_from_string("relu:0;gelu_fast"); }, "unknown post-op 'gelu_fast'");
    test::expect_error([] { op::post_ops_from_string("clamp:0"); }, "needs 2 parameters");
}

// ---------------------------------------------------------------- fuse_dnn

TEST(FuseDnn, MultiplyAddReluFoldsIntoConv) {
    auto x = param({2, 3, 8, 8});
    auto c = conv(x->output(0), 3, 4, 1);
    auto mul = make<op::Multiply>({c, cst(random_tensor({1, 4, 1, 1}, 2, 0.5f, 1.5f))});
    auto add = make<op::Add>({cst(random_tensor({4, 1, 1}, 3)), mul->output(0)});
    auto relu = make<op::Relu>({add->output(0)});
    Model m({make<op::Result>({relu->output(0)})}, {x});
    auto f = fuse_and_compare(m);
    EXPECT_EQ(f->ordered_ops().size(), 5u) << f->to_string();  // x, w, b, fused, result
    ASSERT_EQ(count_type(*f, "FusedConvolution"), 1u);
    for (auto& n : f->ordered_ops())
        if (auto* fc = dynamic_cast<op::FusedConvolution*>(n.get())) {
            EXPECT_TRUE(fc->with_bias);
            EXPECT_EQ(op::post_ops_to_string(fc->post_ops), "relu:0");
        }
}

TEST(FuseDnn, ResNetBlockWithBatchNormAndResidual) {
    auto x = param({1, 8, 7, 7});
    auto c1 = conv(x->output(0), 8, 8, 1);
    auto bn = make<op::BatchNormInference>({c1, cst(random_tensor({8}, 2, 0.5f, 1.5f)), cst(random_tensor({8}, 3)),
                                            cst(random_tensor({8}, 4)), cst(random_tensor({8}, 5, 0.5f, 2.f))},
                                           1e-3);
    auto r1 = make<op::Relu>({bn->output(0)});
    auto c2 = conv(r1->output(0), 8, 8, 6);
    auto b2 = make<op::Add>({c2, cst(random_tensor({1, 8, 1, 1}, 7))});
    auto sum = make<op::Add>({x->output(0), b2->output(0)});
    auto r2 = make<op::Relu>({sum->output(0)});
    Model m({make<op::Result>({r2->output(0)})}, {x});
    auto f = fuse_and_compare(m);
    EXPECT_EQ(count_type(*f, "FusedConvolution"), 2u) << f->to_string();
    EXPECT_EQ(count_type(*f, "Add") + count_type(*f, "Relu") + count_type(*f, "BatchNormInference"), 0u);
    EXPECT_EQ(f->ordered_ops().size(), 8u) << f->to_string();  // x, 2x(w, b, fused), result
    EXPECT_NE(f->to_string().find("post_ops=sum;relu:0"), std::string::npos) << f->to_string();
}

TEST(FuseDnn, DepthwiseClampAndActivations) {
    auto x = param({1, 6, 9, 9});
    auto c = conv(x->output(0), 6, 6, 1, 6);
    auto b = make<op::Add>({c, cst(random_tensor({1, 6, 1, 1}, 2))});
    auto cl = make<op::Clamp>({b->output(0)}, 0.0, 0.5);
    auto e = make<op::Elu>({cl->output(0)}, 0.3);
    auto s = make<op::Swish>({e->output(0), scalar(1.25f)});
    Model m({make<op::Result>({s->output(0)})}, {x});
    auto f = fuse_and_compare(m);
    EXPECT_EQ(f->ordered_ops().size(), 5u) << f->to_string();
    EXPECT_NE(f->to_string().find("group=6"), std::string::npos) << f->to_string();
    EXPECT_NE(f->to_string().find("post_ops=clamp:0:0.5;elu:0.29999999999999999;swish:1.25"), std::string::npos)
        << f->to_string();
}

TEST(FuseDnn, MatMulBiasGelu) {
    auto x = param({2, 5, 16});
    auto mm = make<op::MatMul>({x->output(0), cst(random_tensor({12, 16}, 1))}, false, true);
    auto b = make<op::Add>({mm->output(0), cst(random_tensor({12}, 2))});
    auto g = make<op::Gelu>({b->output(0)}, op::GeluApproximation::tanh);
    Model m({make<op::Result>({g->output(0)})}, {x});
    auto f = fuse_and_compare(m);
    EXPECT_EQ(f->ordered_ops().size(), 5u) << f->to_string();
    EXPECT_NE(f->to_string().find("post_ops=gelu_tanh"), std::string::npos) << f->to_string();
    // A non-constant B is left alone.
    auto y = param({2, 16, 12});
    auto mm2 = make<op::MatMul>({x->output(0), y->output(0)});
    auto r2 = make<op::Relu>({mm2->output(0)});
    Model m2({make<op::Result>({r2->output(0)})}, {x, y});
    auto f2 = fuse_and_compare(m2);
    EXPECT_EQ(count_type(*f2, "FusedMatMul"), 0u);
}

TEST(FuseDnn, RespectsConsumersAndOutputs) {
    // Conv output read twice: nothing fuses.
    {
        auto x = param({1, 3, 6, 6});
        auto c = conv(x->output(0), 3, 4, 1);
        auto r = make<op::Relu>({c});
        auto s = make<op::Sigmoid>({c});
        Model m({make<op::Result>({r->output(0)}), make<op::Result>({s->output(0)})}, {x});
        auto f = fuse_and_compare(m);
        EXPECT_EQ(count_type(*f, "FusedConvolution"), 0u);
    }
    // The bias Add is also a graph output: the conv takes the bias, the Relu stays outside.
    {
        auto x = param({1, 3, 6, 6});
        auto c = conv(x->output(0), 3, 4, 1);
        auto b = make<op::Add>({c, cst(random_tensor({1, 4, 1, 1}, 2))});
        auto r = make<op::Relu>({b->output(0)});
        Model m({make<op::Result>({b->output(0)}), make<op::Result>({r->output(0)})}, {x});
        auto f = fuse_and_compare(m);
        EXPECT_EQ(count_type(*f, "FusedConvolution"), 1u);
        EXPECT_EQ(count_type(*f, "Relu"), 1u);
        EXPECT_EQ(count_type(*f, "Add"), 0u);
    }
    // A Multiply that varies along a spatial axis is not a per-channel scale.
    {
        auto x = param({1, 3, 6, 6});
        auto c = conv(x->output(0), 3, 4, 1);
        auto mul = make<op::Multiply>({c, cst(random_tensor({1, 1, 6, 1}, 2))});
        Model m({make<op::Result>({mul->output(0)})}, {x});
        auto f = fuse_and_compare(m);
        EXPECT_EQ(count_type(*f, "FusedConvolution"), 0u);
        EXPECT_EQ(count_type(*f, "Multiply"), 1u);
    }
    // A conv whose output is itself the graph output stays a Convolution.
    {
        auto x = param({1, 3, 6, 6});
        auto c = conv(x->output(0), 3, 4, 1);
        Model m({make<op::Result>({c})}, {x});
        auto f = fuse_and_compare(m);
        EXPECT_EQ(count_type(*f, "Convolution"), 1u);
    }
    // A PRelu with a per-channel slope is not one activation: it stays.
    {
        auto x = param({1, 3, 6, 6});
        auto c = conv(x->output(0), 3, 4, 1);
        auto pr = make<op::PRelu>({c, cst(random_tensor({4}, 3))});
        Model m({make<op::Result>({pr->output(0)})}, {x});
        auto f = fuse_and_compare(m);
        EXPECT_EQ(count_type(*f, "PRelu"), 1u);
    }
}

// ---------------------------------------------------------------- the pass manager

TEST(Pipeline, OneOrderedListReportsEachPass) {
    std::vector<std::string> names;
    for (auto& p : passes::pipeline()) names.push_back(p.name);
    EXPECT_EQ(names, (std::vector<std::string>{"fuse_int8", "fold_constants", "fuse_attention", "fuse_layer_norm", "fuse_gelu", "fuse_dnn",
                                               "batch_norm_to_affine"}));

    // conv + (2 * 3 folded) bias + relu: folding makes one constant, fuse_dnn one fused conv.
    auto x = param({1, 3, 6, 6});
    auto c = conv(x->output(0), 3, 4, 1);
    auto bias = make<op::Multiply>({cst(random_tensor({1, 4, 1, 1}, 2)), scalar(3.f)});
    auto b = make<op::Add>({c, bias->output(0)});
    auto r = make<op::Relu>({b->output(0)});
    Model m({make<op::Result>({r->output(0)})}, {x});
    auto ref = m.clone();
    passes::PassOptions opts;
    opts.validate_each = true;
    auto reports = passes::optimize(m, opts);
    ASSERT_EQ(reports.size(), 7u);
    EXPECT_EQ(reports[1].name, "fold_constants");
    EXPECT_EQ(reports[1].rewrites, 1u);
    EXPECT_EQ(reports[5].name, "fuse_dnn");
    EXPECT_EQ(reports[5].rewrites, 1u);
    EXPECT_EQ(count_type(m, "FusedConvolution"), 1u);
    auto in = random_tensor({1, 3, 6, 6}, 9);
    EXPECT_TRUE(close(evaluate_model(m, {in})[0], evaluate_model(*ref, {in})[0]));
    // Running it again finds nothing left to do.
    for (auto& rep : passes::optimize(m, opts)) EXPECT_EQ(rep.rewrites, 0u) << rep.name;
}

TEST(Pipeline, ValidatorAfterEveryPassNamesThePass) {
    auto x = param({1, 3, 6, 6});
    auto r = make<op::Relu>({x->output(0)});
    Model m({make<op::Result>({r->output(0)})}, {x});
    // An invariant broken behind the graph's back (a parameter whose declared shape no longer
    // matches what its readers were inferred with) is caught after the first pass and reported
    // with that pass's name.
    x->shape = PartialShape({1, 3, 7, 7});
    passes::PassOptions opts;
    opts.validate_each = true;
    test::expect_error([&] { passes::optimize(m, opts); }, "after pass fuse_int8");
    opts.validate_each = false;
    EXPECT_NO_THROW(passes::optimize(m, opts));
}

// ---------------------------------------------------------------- batch_norm_to_affine

TEST(BatchNormToAffine, PreActivationBatchNormBecomesMultiplyAdd) {
    // DenseNet's pattern: concat -> BN -> ReLU -> conv; and a BN right after a conv, which
    // fuse_dnn folds into the conv's weights before this pass sees it.
    auto x = param({2, 3, 6, 6});
    auto y = param({2, 5, 6, 6});
    auto cat = make<op::Concat>({x->output(0), y->output(0)}, 1);
    auto bn_params = [](int64_t c, uint32_t seed) {
        return OutputVector{cst(random_tensor({c}, seed, 0.5f, 1.5f)), cst(random_tensor({c}, seed + 1)),
                            cst(random_tensor({c}, seed + 2)), cst(random_tensor({c}, seed + 3, 0.5f, 2.f))};
    };
    OutputVector in{cat->output(0)};
    for (auto& o : bn_params(8, 10)) in.push_back(o);
    auto bn = make<op::BatchNormInference>(in, 1e-5);
    bn->set_name("features.norm1");
    auto r = make<op::Relu>({bn->output(0)});
    auto c = conv(r->output(0), 8, 4, 20);
    OutputVector in2{c};
    for (auto& o : bn_params(4, 30)) in2.push_back(o);
    auto bn2 = make<op::BatchNormInference>(in2, 1e-3);
    Model m({make<op::Result>({bn2->output(0)})}, {x, y});
    auto opt = m.clone();
    passes::PassOptions opts;
    opts.validate_each = true;
    auto reports = passes::optimize(*opt, opts);
    EXPECT_EQ(reports.back().name, "batch_norm_to_affine");
    EXPECT_EQ(reports.back().rewrites, 1u);
    EXPECT_EQ(count_type(*opt, "BatchNormInference"), 0u) << opt->to_string();
    EXPECT_EQ(count_type(*opt, "Multiply"), 1u);
    EXPECT_EQ(count_type(*opt, "Add"), 1u);
    EXPECT_EQ(count_type(*opt, "FusedConvolution"), 1u);  // the second BN went into the conv
    for (auto& n : opt->ordered_ops())
        if (auto* mul = dynamic_cast<op::Multiply*>(n.get())) {
            EXPECT_EQ(to_string(mul->input(1).shape().to_shape()), "[8,1,1]");
            EXPECT_EQ(mul->name(), "features.norm1/scale");
        }
    std::vector<Tensor> ins{random_tensor({2, 3, 6, 6}, 1), random_tensor({2, 5, 6, 6}, 2)};
    EXPECT_TRUE(close(evaluate_model(*opt, ins)[0], evaluate_model(m, ins)[0], 1e-5));
}

// ---------------------------------------------------------------- fuse_gelu

TEST(FuseGelu, TanhFormWrittenAsOpsBecomesOneGeluThenAPostOp) {
    // GPT-2's MLP: MatMul + bias, then NewGELU written as ops, in its two common spellings.
    for (int form : {0, 1}) {
        SCOPED_TRACE(form);
        auto x = param({2, 3, 16});
        auto mm = make<op::MatMul>({x->output(0), cst(random_tensor({16, 24}, 1))}, false, false);
        auto h = make<op::Add>({mm->output(0), cst(random_tensor({24}, 2))})->output(0);
        Output cube = form == 0 ? make<op::Power>({h, scalar(3.f)})->output(0)
                                : make<op::Multiply>({h, make<op::Multiply>({h, h})->output(0)})->output(0);
        auto inner = make<op::Add>({h, make<op::Multiply>({scalar(0.044715f), cube})->output(0)});
        auto t = make<op::Tanh>({make<op::Multiply>({inner->output(0), scalar(0.7978845608f)})->output(0)});
        auto one = make<op::Add>({t->output(0), scalar(1.f)});
        Output y = form == 0 ? make<op::Multiply>({make<op::Multiply>({h, scalar(0.5f)})->output(0), one->output(0)})->output(0)
                             : make<op::Multiply>({h, make<op::Multiply>({one->output(0), scalar(0.5f)})->output(0)})->output(0);
        Model m({make<op::Result>({y})}, {x});
        auto g = m.clone();
        EXPECT_EQ(passes::fuse_gelu(*g), 1u);
        validate_model(*g);
        EXPECT_EQ(count_type(*g, "Gelu"), 1u);
        EXPECT_EQ(count_type(*g, "Tanh") + count_type(*g, "Power"), 0u) << g->to_string();
        auto in = random_tensor({2, 3, 16}, 3, -4.f, 4.f);
        EXPECT_TRUE(close(evaluate_model(*g, {in})[0], evaluate_model(m, {in})[0], 2e-6));
        auto opt = m.clone();
        passes::optimize(*opt);
        EXPECT_NE(opt->to_string().find("post_ops=gelu_tanh"), std::string::npos) << opt->to_string();
        EXPECT_EQ(opt->ordered_ops().size(), 5u) << opt->to_string();  // x, w, b, FusedMatMul, result
    }
    // A constant that is not GELU's, and an intermediate read elsewhere: left alone.
    auto x = param({4, 8});
    Output h = x->output(0);
    auto build = [&](float c, bool expose) {
        auto cube = make<op::Power>({h, scalar(3.f)});
        auto inner = make<op::Add>({h, make<op::Multiply>({cube->output(0), scalar(0.044715f)})->output(0)});
        auto t = make<op::Tanh>({make<op::Multiply>({inner->output(0), scalar(c)})->output(0)});
        auto one = make<op::Add>({t->output(0), scalar(1.f)});
        auto y = make<op::Multiply>({make<op::Multiply>({h, scalar(0.5f)})->output(0), one->output(0)});
        ResultVector rs{make<op::Result>({y->output(0)})};
        if (expose) rs.push_back(make<op::Result>({t->output(0)}));
        return std::make_shared<Model>(rs, ParameterVector{x});
    };
    EXPECT_EQ(passes::fuse_gelu(*build(0.8f, false)), 0u);
    EXPECT_EQ(passes::fuse_gelu(*build(0.7978845608f, true)), 0u);
    EXPECT_EQ(passes::fuse_gelu(*build(0.7978845608f, false)), 1u);
}

TEST(FuseDnn, ActivationsAfterAReshapeMoveBeforeIt) {
    // Hugging Face's Conv1D (GPT-2): addmm on [B*L, C], view back to [B, L, N], then the activation.
    auto x = param({6, 16});
    auto mm = make<op::MatMul>({x->output(0), cst(random_tensor({16, 24}, 1))}, false, false);
    auto b = make<op::Add>({mm->output(0), cst(random_tensor({24}, 2))});
    auto r = make<op::Reshape>({b->output(0), make<op::Constant>({}, Tensor::from_vector(std::vector<int64_t>{2, 3, 24}, {3}))->output(0)}, false);
    auto g = make<op::Gelu>({r->output(0)}, op::GeluApproximation::tanh);
    auto s = make<op::Sigmoid>({g->output(0)});
    Model m({make<op::Result>({s->output(0)})}, {x});
    auto f = fuse_and_compare(m);
    EXPECT_NE(f->to_string().find("post_ops=gelu_tanh;sigmoid"), std::string::npos) << f->to_string();
    EXPECT_EQ(count_type(*f, "Reshape"), 1u);
    EXPECT_EQ(count_type(*f, "Gelu") + count_type(*f, "Sigmoid"), 0u);
    EXPECT_EQ(f->results()[0]->input(0).node->type_name(), std::string("Reshape"));
    // After a reshape a residual Add does not join (its shape is the reshaped one): only the bias fuses.
    auto y = param({2, 3, 24});
    auto r2 = make<op::Reshape>({b->output(0), make<op::Constant>({}, Tensor::from_vector(std::vector<int64_t>{2, 3, 24}, {3}))->output(0)}, false);
    auto sum = make<op::Add>({r2->output(0), y->output(0)});
    Model m2({make<op::Result>({sum->output(0)})}, {x, y});
    auto f2 = fuse_and_compare(m2);
    EXPECT_EQ(count_type(*f2, "FusedMatMul"), 1u);
    EXPECT_EQ(count_type(*f2, "Add"), 1u);
    EXPECT_EQ(f2->to_string().find("post_ops=sum"), std::string::npos) << f2->to_string();
}
