// The transformer kernels: the fused attention kernel (runtime/cpu/kernels/attention.hpp, f32 and
// bf16) against the op's reference kernel over awkward shapes and every mask form; the fusion
// passes (passes/fuse_attention.hpp, fuse_layer_norm.hpp) on graphs they must and must not fuse,
// with the layer-norm kernel against its reference; the bf16 conversion's rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kiln/core/interpreter.hpp"
#include "kiln/core/model.hpp"
#include "kiln/ops/attention.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/internal/layer_norm.hpp"
#include "kiln/passes/fuse_attention.hpp"
#include "kiln/passes/fuse_layer_norm.hpp"
#include "kiln/runtime/cpu/kernels/reduce_norm.hpp"
#include "kiln/runtime/cpu/kernels/attention.hpp"
#include "kiln/runtime/cpu/kernels/bf16.hpp"

using namespace kiln;
using cpu::AttentionIsa;

namespace {

std::shared_ptr<op::Parameter> param(Type t, Shape s) { return make<op::Parameter>({}, t, PartialShape(s)); }

Tensor random_f32(const Shape& s, uint32_t seed, double lo = -1.0, double hi = 1.0) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    Tensor r(Type::f32, s);
    for (int64_t i = 0; i < r.size(); ++i) r.data<float>()[i] = static_cast<float>(d(rng));
    return r;
}
Tensor random_bool(const Shape& s, uint32_t seed, double p_true = 0.7) {
    std::mt19937 rng(seed);
    std::bernoulli_distribution d(p_true);
    Tensor r(Type::boolean, s);
    for (int64_t i = 0; i < r.size(); ++i) r.data<bool>()[i] = d(rng);
    return r;
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

struct Case {
    Shape q, k, v;
    int mask = 0;  // 0 none, 1 f32, 2 boolean
    Shape m;
    bool causal = false;
    int scale = 0;  // 0 default, 1 constant, 2 run-time input
};

std::string describe(const Case& c) {
    return str_cat("q", PartialShape(c.q).to_string(), " k", PartialShape(c.k).to_string(), " v",
                   PartialShape(c.v).to_string(), " mask", c.mask, PartialShape(c.m).to_string(), " causal", c.causal,
                   " scale", c.scale);
}

// Runs the case through the reference and every supported fast path; returns the max abs error.
void check(const Case& c, uint32_t seed) {
    OutputVector ins;
    std::vector<Tensor> vals;
    auto add_param = [&](Type t, const Shape& s, Tensor v) {
        ins.push_back(param(t, s)->output(0));
        vals.push_back(std::move(v));
    };
    add_param(Type::f32, c.q, random_f32(c.q, seed));
    add_param(Type::f32, c.k, random_f32(c.k, seed + 1));
    add_param(Type::f32, c.v, random_f32(c.v, seed + 2));
    if (c.mask || c.scale) {
        if (c.mask == 2) add_param(Type::boolean, c.m, random_bool(c.m, seed + 3));
        else if (c.mask == 1) add_param(Type::f32, c.m, random_f32(c.m, seed + 3, -3.0, 1.0));
        else add_param(Type::f32, {}, Tensor::scalar(0.0f));
    }
    if (c.scale == 1) {
        ins.push_back(op::Constant::scalar(0.37f)->output(0));
        vals.push_back(Tensor::scalar(0.37f));
    } else if (c.scale == 2) {
        add_param(Type::f32, {}, Tensor::scalar(-0.6f));
    }
    auto n = make<op::ScaledDotProductAttention>(ins, c.causal);
    Tensor want(Type::f32, n->output_shape(0).to_shape());
    std::vector<Tensor> wo{want};
    n->evaluate(vals, wo);
    for (auto isa : {AttentionIsa::avx512, AttentionIsa::avx2, AttentionIsa::avx512_bf16}) {
        if (!cpu::attention_isa_supported(isa)) continue;
        auto k = cpu::make_attention_kernel_for_isa(*n, shapes_of(n), isa);
        if (shape_size(want.shape()) == 0 || c.k[c.k.size() - 2] == 0) {
            EXPECT_EQ(k, nullptr) << describe(c);
            continue;
        }
        ASSERT_NE(k, nullptr) << describe(c);
        std::vector<Tensor> out{Tensor(Type::f32, want.shape())};
        k->execute(vals, out);
        const float* g = out[0].data<float>();
        const float* w = wo[0].data<float>();
        for (int64_t i = 0; i < want.size(); ++i) {
            if (std::isnan(w[i])) {
                ASSERT_TRUE(std::isnan(g[i])) << describe(c) << " at " << i;
                continue;
            }
            // bf16 operands carry 8 significant bits: scores and probabilities err by ~2^-8 of
            // their size; over values in [-1, 1] that stays within 3e-2 absolute.
            const double tol = isa == AttentionIsa::avx512_bf16 ? 3e-2 : 2e-5 + 2e-5 * std::abs(w[i]);
            ASSERT_NEAR(g[i], w[i], tol) << describe(c) << " " << k->name() << " at " << i;
        }
    }
}

}  // namespace

TEST(AttentionKernel, MatchesReferenceOverShapes) {
    uint32_t seed = 1;
    // [B, H, L, E] x [B, H, S, E] x [B, H, S, Ev] over odd, tiny and block-crossing sizes.
    for (int64_t L : {1, 2, 3, 4, 5, 33, 70})
        for (int64_t S : {1, 7, 16, 257, 300})
            for (int64_t E : {1, 8, 17, 64})
                for (int64_t Ev : {3, 16, 64}) {
                    if (L * S * E > 70 * 300 * 17 && Ev != 64) continue;
                    check({{1, 2, L, E}, {1, 2, S, E}, {1, 2, S, Ev}}, seed++);
                }
}

TEST(AttentionKernel, Masks) {
    uint32_t seed = 100;
    const Shape q{2, 3, 5, 8}, k{2, 3, 9, 8}, v{2, 3, 9, 6};
    for (int kind : {1, 2})
        for (Shape m : std::vector<Shape>{{}, {9}, {5, 9}, {5, 1}, {1, 9}, {2, 1, 1, 9}, {2, 3, 5, 9}, {3, 5, 9},
                                          {1, 1, 5, 9}, {1, 3, 1, 9}})
            check({q, k, v, kind, m}, seed++);
    // A boolean mask with whole rows masked out gives NaN rows, as the reference.
    check({{1, 1, 4, 8}, {1, 1, 6, 8}, {1, 1, 6, 8}, 2, {1, 1, 4, 6}}, 7);
    check({q, k, v, 1, {2, 3, 5, 9}, false, 1}, seed++);
    check({q, k, v, 2, {5, 9}, false, 2}, seed++);
}

TEST(AttentionKernel, CausalScaleAndBroadcastHeads) {
    uint32_t seed = 200;
    for (auto [L, S] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {5, 5}, {5, 9}, {9, 5}, {40, 40}, {37, 300}})
        check({{2, 2, L, 16}, {2, 2, S, 16}, {2, 2, S, 16}, 0, {}, true}, seed++);
    // causal ignores a mask
    check({{1, 2, 6, 8}, {1, 2, 6, 8}, {1, 2, 6, 8}, 1, {6, 6}, true}, seed++);
    check({{1, 2, 6, 8}, {1, 2, 6, 8}, {1, 2, 6, 8}, 0, {}, false, 1}, seed++);
    check({{1, 2, 6, 8}, {1, 2, 6, 8}, {1, 2, 6, 8}, 0, {}, true, 2}, seed++);
    // One K/V head for four query heads (multi-query), and a K/V batch broadcast.
    check({{2, 4, 7, 16}, {2, 1, 11, 16}, {2, 1, 11, 16}}, seed++);
    check({{2, 4, 7, 16}, {1, 4, 11, 16}, {2, 1, 11, 16}, 1, {2, 1, 1, 11}}, seed++);
    // Ranks 2, 3, 5.
    check({{7, 16}, {9, 16}, {9, 5}}, seed++);
    check({{3, 7, 16}, {3, 9, 16}, {3, 9, 5}, 2, {7, 9}}, seed++);
    check({{2, 1, 3, 4, 8}, {1, 2, 3, 6, 8}, {2, 2, 1, 6, 8}, 0, {}, true}, seed++);
    // Large enough to run in parallel.
    check({{2, 12, 64, 64}, {2, 12, 64, 64}, {2, 12, 64, 64}, 1, {2, 1, 1, 64}}, seed++);
}

TEST(AttentionKernel, EmptyAndOtherTypesAreLeftToTheReference) {
    check({{1, 2, 0, 8}, {1, 2, 5, 8}, {1, 2, 5, 8}}, 1);
    check({{1, 2, 3, 8}, {1, 2, 0, 8}, {1, 2, 0, 8}}, 2);
    check({{0, 2, 3, 8}, {0, 2, 4, 8}, {0, 2, 4, 8}}, 3);
    auto n = make<op::ScaledDotProductAttention>(
        OutputVector{param(Type::f64, {1, 3, 4})->output(0), param(Type::f64, {1, 3, 4})->output(0),
                     param(Type::f64, {1, 3, 4})->output(0)},
        false);
    EXPECT_EQ(cpu::make_attention_kernel(*n, shapes_of(n)), nullptr);
}

namespace {

// softmax(q k^T * s + mask) v written as ops, the way the torch translators emit it.
struct Written {
    std::shared_ptr<Model> model;
    std::vector<Tensor> inputs;
};

Written written_attention(bool scale_on_q, bool transpose_node, int mask_kind, bool extra_reader = false) {
    auto q = param(Type::f32, {2, 3, 5, 8}), k = param(Type::f32, {2, 3, 7, 8}), v = param(Type::f32, {2, 3, 7, 4});
    ParameterVector ps{q, k, v};
    std::vector<Tensor> vals{random_f32({2, 3, 5, 8}, 1), random_f32({2, 3, 7, 8}, 2), random_f32({2, 3, 7, 4}, 3)};
    Output qq = q->output(0);
    if (scale_on_q) qq = make<op::Multiply>({qq, op::Constant::scalar(0.25f)->output(0)})->output(0);
    Output s;
    if (transpose_node) {
        auto order = op::Constant::create<int64_t>({0, 1, 3, 2}, {4});
        Output kt = make<op::Transpose>({k->output(0), order->output(0)})->output(0);
        s = make<op::MatMul>({qq, kt}, false, false)->output(0);
    } else {
        s = make<op::MatMul>({qq, k->output(0)}, false, true)->output(0);
    }
    if (!scale_on_q) s = make<op::Divide>({s, op::Constant::scalar(3.0f)->output(0)})->output(0);
    if (mask_kind) {
        Output m;
        if (mask_kind == 2) {
            auto b = param(Type::boolean, {2, 1, 1, 7});
            ps.push_back(b);
            vals.push_back(random_bool({2, 1, 1, 7}, 4));
            m = make<op::Select>({b->output(0), op::Constant::scalar(0.0f)->output(0),
                                  op::Constant::scalar(-std::numeric_limits<float>::infinity())->output(0)})
                    ->output(0);
        } else {
            auto f = param(Type::f32, {1, 1, 5, 7});
            ps.push_back(f);
            vals.push_back(random_f32({1, 1, 5, 7}, 4));
            m = f->output(0);
        }
        s = make<op::Add>({m, s})->output(0);
    }
    Output p = make<op::Softmax>({s}, int64_t{-1})->output(0);
    Output y = make<op::MatMul>({p, v->output(0)}, false, false)->output(0);
    OutputVector outs{y};
    if (extra_reader) outs.push_back(p);
    ResultVector rs;
    for (auto& o : outs) rs.push_back(make<op::Result>({o}));
    return {std::make_shared<Model>(rs, ps), vals};
}

size_t count_sdpa(const Model& m) {
    size_t n = 0;
    for (auto& node : m.ordered_ops()) n += dynamic_cast<op::ScaledDotProductAttention*>(node.get()) != nullptr;
    return n;
}

std::vector<Tensor> run(const Model& m, const std::vector<Tensor>& in) { return evaluate_model(m, in); }

}  // namespace

TEST(FuseAttention, FusesTheWrittenFormsWithTheSameNumbers) {
    for (bool scale_on_q : {true, false})
        for (bool transpose_node : {true, false})
            for (int mask : {0, 1, 2}) {
                auto w = written_attention(scale_on_q, transpose_node, mask);
                auto before = run(*w.model, w.inputs);
                EXPECT_EQ(passes::fuse_attention(*w.model), 1u) << scale_on_q << transpose_node << mask;
                EXPECT_EQ(count_sdpa(*w.model), 1u);
                validate_model(*w.model);
                auto after = run(*w.model, w.inputs);
                ASSERT_EQ(after.size(), 1u);
                for (int64_t i = 0; i < before[0].size(); ++i)
                    ASSERT_NEAR(after[0].data<float>()[i], before[0].data<float>()[i], 1e-5);
            }
}

TEST(FuseAttention, LeavesAttentionWhoseProbabilitiesAreReadElsewhere) {
    auto w = written_attention(true, false, 1, /*extra_reader=*/true);
    EXPECT_EQ(passes::fuse_attention(*w.model), 0u);
    EXPECT_EQ(count_sdpa(*w.model), 0u);
}

TEST(Bf16, RoundsToNearestEven) {
    std::vector<float> src;
    for (int i = 0; i < 100; ++i) src.push_back(std::ldexp(1.0f + i / 128.0f + i / 65536.0f, i % 20 - 10) * (i % 3 ? 1 : -1));
    src.push_back(std::numeric_limits<float>::infinity());
    src.push_back(0.0f);
    src.push_back(1.00390625f);  // exactly half way: rounds to even (1.0)
    src.push_back(1.01171875f);  // half way: rounds to even (1.015625)
    std::vector<uint16_t> got(src.size());
    cpu::f32_to_bf16(src.data(), got.data(), src.size());
    for (size_t i = 0; i < src.size(); ++i) EXPECT_EQ(got[i], cpu::bf16_round(src[i])) << src[i];
    EXPECT_EQ(cpu::bf16_to_f32(cpu::bf16_round(1.00390625f)), 1.0f);
    EXPECT_EQ(cpu::bf16_to_f32(cpu::bf16_round(1.01171875f)), 1.015625f);
}

// ---- layer norm: passes/fuse_layer_norm.hpp and the FusedMVN kernel ----------------------------

namespace {

std::shared_ptr<Model> written_layer_norm(const Shape& s, bool with_add, bool scalar_scale) {
    auto x = param(Type::f32, s);
    const int64_t c = s.back();
    auto axes = op::Constant::create<int64_t>({-1}, {1});
    Output y = make<op::MVN>({x->output(0), axes->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt)->output(0);
    Tensor g = random_f32(scalar_scale ? Shape{} : Shape{1, c}, 5, 0.5, 1.5);
    y = make<op::Multiply>({op::Constant::create<float>(std::vector<float>(g.data<float>(), g.data<float>() + g.size()),
                                                        g.shape())->output(0),
                            y})->output(0);
    if (with_add) {
        Tensor b = random_f32({c}, 6);
        y = make<op::Add>({y, op::Constant::create<float>(std::vector<float>(b.data<float>(), b.data<float>() + c), {c})
                                  ->output(0)})->output(0);
    }
    return std::make_shared<Model>(ResultVector{make<op::Result>({y})}, ParameterVector{x});
}

}  // namespace

TEST(FuseLayerNorm, FusesAndTheKernelMatchesTheReference) {
    uint32_t seed = 300;
    for (Shape s : std::vector<Shape>{{3, 17}, {2, 5, 64}, {1, 1}, {4, 33}, {2, 128, 768}})
        for (bool with_add : {true, false})
            for (bool scalar_scale : {false, true}) {
                auto m = written_layer_norm(s, with_add, scalar_scale);
                Tensor x = random_f32(s, seed++, -3.0, 5.0);
                auto before = evaluate_model(*m, {x});
                ASSERT_EQ(passes::fuse_layer_norm(*m), 1u);
                validate_model(*m);
                NodePtr ln;
                for (auto& n : m->ordered_ops())
                    if (dynamic_cast<op::FusedMVN*>(n.get())) ln = n;
                ASSERT_TRUE(ln);
                auto after = evaluate_model(*m, {x});
                for (int64_t i = 0; i < before[0].size(); ++i)
                    ASSERT_NEAR(after[0].data<float>()[i], before[0].data<float>()[i], 1e-5);
                for (auto isa : {cpu::ReduceNormIsa::avx512, cpu::ReduceNormIsa::avx2, cpu::ReduceNormIsa::sse2}) {
                    auto k = cpu::make_reduce_norm_kernel_for_isa(*ln, shapes_of(ln), isa);
                    if (!cpu::reduce_norm_isa_supported(isa)) continue;
                    if (s.back() == 1) {  // a 1-channel row has no row plan: the reference runs
                        EXPECT_EQ(k, nullptr);
                        continue;
                    }
                    ASSERT_NE(k, nullptr);
                    EXPECT_NE(std::string(k->name()).find("layer_norm"), std::string::npos);
                    std::vector<Tensor> out{Tensor(Type::f32, s)};
                    std::vector<Tensor> ins{x};
                    for (size_t i = 1; i < 4; ++i) ins.push_back(*ln->input(i).node->constant_value());
                    k->execute(ins, out);
                    for (int64_t i = 0; i < before[0].size(); ++i)
                        ASSERT_NEAR(out[0].data<float>()[i], before[0].data<float>()[i],
                                    2e-5 + 2e-5 * std::abs(before[0].data<float>()[i]))
                            << PartialShape(s).to_string() << " at " << i;
                }
            }
}

namespace {

// RMS norm as aten::rms_norm translates it (form 0: u*u, 1/sqrt, times u) and as Llama-family
// models trace it (form 1: Power(u, 2), u / sqrt), with or without a per-channel weight.
std::shared_ptr<Model> written_rms_norm(const Shape& s, int form, bool weight) {
    auto x = param(Type::f32, s);
    const int64_t c = s.back();
    Output u = x->output(0);
    Output sq = form == 0 ? make<op::Multiply>({u, u})->output(0)
                          : make<op::Power>({u, op::Constant::scalar(2.0f)->output(0)})->output(0);
    Output ms = make<op::ReduceMean>({sq, op::Constant::create<int64_t>({-1}, {1})->output(0)}, true)->output(0);
    Output rt = make<op::Sqrt>({make<op::Add>({ms, op::Constant::scalar(1e-6f)->output(0)})->output(0)})->output(0);
    Output y = form == 0 ? make<op::Multiply>({u, make<op::Divide>({op::Constant::scalar(1.0f)->output(0), rt}, false)->output(0)})->output(0)
                         : make<op::Divide>({u, rt}, false)->output(0);
    if (weight) {
        Tensor g = random_f32({c}, 7, 0.5, 1.5);
        y = make<op::Multiply>({op::Constant::create<float>(std::vector<float>(g.data<float>(), g.data<float>() + c), {c})->output(0),
                                y})->output(0);
    }
    return std::make_shared<Model>(ResultVector{make<op::Result>({y})}, ParameterVector{x});
}

}  // namespace

TEST(FuseRmsNorm, FusesAndTheKernelMatchesTheReference) {
    uint32_t seed = 500;
    for (Shape s : std::vector<Shape>{{3, 17}, {2, 5, 64}, {4, 33}, {2, 16, 4096}, {1, 2}})
        for (int form : {0, 1})
            for (bool weight : {true, false}) {
                auto m = written_rms_norm(s, form, weight);
                Tensor x = random_f32(s, seed++, -3.0, 5.0);
                auto before = evaluate_model(*m, {x});
                ASSERT_EQ(passes::fuse_layer_norm(*m), 1u);
                validate_model(*m);
                NodePtr rn;
                for (auto& n : m->ordered_ops())
                    if (dynamic_cast<op::FusedRMSNorm*>(n.get())) rn = n;
                ASSERT_TRUE(rn);
                EXPECT_EQ(m->ordered_ops().size(), 4u);  // x, scale, the norm, the result
                auto after = evaluate_model(*m, {x});
                for (int64_t i = 0; i < before[0].size(); ++i)
                    ASSERT_NEAR(after[0].data<float>()[i], before[0].data<float>()[i], 1e-5 + 1e-5 * std::abs(before[0].data<float>()[i]));
                for (auto isa : {cpu::ReduceNormIsa::avx512, cpu::ReduceNormIsa::avx2, cpu::ReduceNormIsa::sse2}) {
                    if (!cpu::reduce_norm_isa_supported(isa)) continue;
                    auto k = cpu::make_reduce_norm_kernel_for_isa(*rn, shapes_of(rn), isa);
                    ASSERT_NE(k, nullptr);
                    EXPECT_NE(std::string(k->name()).find("rms_norm"), std::string::npos);
                    std::vector<Tensor> out{Tensor(Type::f32, s)};
                    k->execute({x, *rn->input(1).node->constant_value()}, out);
                    for (int64_t i = 0; i < before[0].size(); ++i)
                        ASSERT_NEAR(out[0].data<float>()[i], after[0].data<float>()[i],
                                    2e-5 + 2e-5 * std::abs(after[0].data<float>()[i]))
                            << PartialShape(s).to_string() << " at " << i;
                }
            }
    // Not an RMS norm: the mean over another axis, an intermediate read twice.
    auto x = param(Type::f32, {2, 6});
    Output u = x->output(0);
    Output ms = make<op::ReduceMean>({make<op::Multiply>({u, u})->output(0), op::Constant::create<int64_t>({0}, {1})->output(0)}, true)->output(0);
    Output rt = make<op::Sqrt>({make<op::Add>({ms, op::Constant::scalar(1e-6f)->output(0)})->output(0)})->output(0);
    Output y = make<op::Divide>({u, rt}, false)->output(0);
    Model m(ResultVector{make<op::Result>({y})}, ParameterVector{x});
    EXPECT_EQ(passes::fuse_layer_norm(m), 0u);
    Output ms2 = make<op::ReduceMean>({make<op::Multiply>({u, u})->output(0), op::Constant::create<int64_t>({-1}, {1})->output(0)}, true)->output(0);
    Output rt2 = make<op::Sqrt>({make<op::Add>({ms2, op::Constant::scalar(1e-6f)->output(0)})->output(0)})->output(0);
    Output y2 = make<op::Divide>({u, rt2}, false)->output(0);
    Model m2(ResultVector{make<op::Result>({y2}), make<op::Result>({rt2})}, ParameterVector{x});
    EXPECT_EQ(passes::fuse_layer_norm(m2), 0u);
}

TEST(FuseLayerNorm, LeavesOtherAxesAndSharedIntermediates) {
    auto x = param(Type::f32, {2, 5, 6});
    auto axes = op::Constant::create<int64_t>({1}, {1});
    Output y = make<op::MVN>({x->output(0), axes->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt)->output(0);
    Output z = make<op::Multiply>({y, op::Constant::scalar(2.0f)->output(0)})->output(0);
    Model m(ResultVector{make<op::Result>({z})}, ParameterVector{x});
    EXPECT_EQ(passes::fuse_layer_norm(m), 0u);
    auto x2 = param(Type::f32, {2, 6});
    auto axes2 = op::Constant::create<int64_t>({-1}, {1});
    Output y2 = make<op::MVN>({x2->output(0), axes2->output(0)}, true, 1e-5, op::MVNEpsMode::inside_sqrt)->output(0);
    Output z2 = make<op::Multiply>({y2, op::Constant::scalar(2.0f)->output(0)})->output(0);
    Model m2(ResultVector{make<op::Result>({z2}), make<op::Result>({y2})}, ParameterVector{x2});
    EXPECT_EQ(passes::fuse_layer_norm(m2), 0u);
}

// ---- FusedScaledDotProductAttention: q/k/v/output stored [B, L, H, E] -------------------------

TEST(FusedAttentionLayout, KernelMatchesReferenceAndThePlainOp) {
    uint32_t seed = 400;
    for (int flags = 1; flags < 16; ++flags) {
        op::SdpaLayout lay{(flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, (flags & 8) != 0};
        for (auto [L, S, E, Ev, mask] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int>>{
                 {5, 7, 8, 8, 1}, {70, 33, 17, 5, 2}, {1, 9, 16, 16, 0}, {64, 64, 32, 32, 1}}) {
            const int64_t B = 2, H = 3;
            auto stored = [&](int64_t rows, int64_t cols, bool blhe) {
                return blhe ? Shape{B, rows, H, cols} : Shape{B, H, rows, cols};
            };
            Shape qs = stored(L, E, lay.q), ks = stored(S, E, lay.k), vs = stored(S, Ev, lay.v);
            std::vector<Tensor> vals{random_f32(qs, seed), random_f32(ks, seed + 1), random_f32(vs, seed + 2)};
            OutputVector ins{param(Type::f32, qs)->output(0), param(Type::f32, ks)->output(0),
                             param(Type::f32, vs)->output(0)};
            if (mask) {
                Shape ms{B, 1, L, S};
                ins.push_back(param(mask == 2 ? Type::boolean : Type::f32, ms)->output(0));
                vals.push_back(mask == 2 ? random_bool(ms, seed + 3) : random_f32(ms, seed + 3));
            }
            ++seed;
            auto n = make<op::FusedScaledDotProductAttention>(ins, false, lay);
            ASSERT_EQ(n->output_shape(0).to_shape(), stored(L, Ev, lay.y));
            // The plain op on the transposed tensors, transposed back: the same numbers.
            auto to_bhle = [&](const Tensor& t, bool blhe) {
                if (!blhe) return t;
                Shape s = t.shape();
                Tensor r(Type::f32, {s[0], s[2], s[1], s[3]});
                for (int64_t b = 0; b < s[0]; ++b)
                    for (int64_t i = 0; i < s[1]; ++i)
                        for (int64_t h = 0; h < s[2]; ++h)
                            for (int64_t e = 0; e < s[3]; ++e)
                                r.data<float>()[((b * s[2] + h) * s[1] + i) * s[3] + e] =
                                    t.data<float>()[((b * s[1] + i) * s[2] + h) * s[3] + e];
                return r;
            };
            std::vector<Tensor> plain_in{to_bhle(vals[0], lay.q), to_bhle(vals[1], lay.k), to_bhle(vals[2], lay.v)};
            OutputVector plain_ports;
            for (auto& t : plain_in) plain_ports.push_back(param(Type::f32, t.shape())->output(0));
            if (mask) {
                plain_in.push_back(vals[3]);
                plain_ports.push_back(ins[3]);
            }
            auto plain = make<op::ScaledDotProductAttention>(plain_ports, false);
            std::vector<Tensor> po{Tensor(Type::f32, plain->output_shape(0).to_shape())};
            plain->evaluate(plain_in, po);
            std::vector<Tensor> ro{Tensor(Type::f32, n->output_shape(0).to_shape())};
            n->evaluate(vals, ro);
            // The reference of the stored layout, seen [B, H, L, Ev], equals the plain op's.
            Tensor seen = lay.y ? to_bhle(ro[0], true) : ro[0];
            for (int64_t i = 0; i < seen.size(); ++i)
                ASSERT_NEAR(seen.data<float>()[i], po[0].data<float>()[i], 1e-6) << flags;
            for (auto isa : {AttentionIsa::avx512, AttentionIsa::avx2, AttentionIsa::avx512_bf16}) {
                if (!cpu::attention_isa_supported(isa)) continue;
                auto k = cpu::make_attention_kernel_for_isa(*n, shapes_of(n), isa);
                ASSERT_NE(k, nullptr);
                std::vector<Tensor> out{Tensor(Type::f32, ro[0].shape())};
                k->execute(vals, out);
                const double tol = isa == AttentionIsa::avx512_bf16 ? 3e-2 : 2e-5;
                for (int64_t i = 0; i < out[0].size(); ++i) {
                    const float w = ro[0].data<float>()[i], g = out[0].data<float>()[i];
                    if (std::isnan(w)) ASSERT_TRUE(std::isnan(g));
                    else ASSERT_NEAR(g, w, tol + tol * std::abs(w)) << flags << " " << k->name() << " at " << i;
                }
            }
        }
    }
}

TEST(FusedAttentionLayout, PassAbsorbsHeadTransposes) {
    // [B, L, H, E] tensors, transposed to heads-major for attention and back, as attention code does.
    auto mk = [](const Shape& s) { return param(Type::f32, s); };
    auto q = mk({2, 5, 3, 8}), k = mk({2, 7, 3, 8}), v = mk({2, 7, 3, 4});
    auto order = [] { return op::Constant::create<int64_t>({0, 2, 1, 3}, {4})->output(0); };
    auto t = [&](const Output& x) { return make<op::Transpose>({x, order()})->output(0); };
    Output s = make<op::MatMul>({t(q->output(0)), t(k->output(0))}, false, true)->output(0);
    s = make<op::Multiply>({s, op::Constant::scalar(0.3f)->output(0)})->output(0);
    Output p = make<op::Softmax>({s}, int64_t{-1})->output(0);
    Output y = t(make<op::MatMul>({p, t(v->output(0))}, false, false)->output(0));
    Model m(ResultVector{make<op::Result>({y})}, ParameterVector{q, k, v});
    std::vector<Tensor> vals{random_f32({2, 5, 3, 8}, 1), random_f32({2, 7, 3, 8}, 2), random_f32({2, 7, 3, 4}, 3)};
    auto before = evaluate_model(m, vals);
    EXPECT_EQ(passes::fuse_attention(m), 1u);
    validate_model(m);
    size_t fused = 0, transposes = 0;
    for (auto& n : m.ordered_ops()) {
        fused += dynamic_cast<op::FusedScaledDotProductAttention*>(n.get()) != nullptr;
        transposes += dynamic_cast<op::Transpose*>(n.get()) != nullptr;
    }
    EXPECT_EQ(fused, 1u);
    EXPECT_EQ(transposes, 0u);
    auto after = evaluate_model(m, vals);
    for (int64_t i = 0; i < before[0].size(); ++i)
        ASSERT_NEAR(after[0].data<float>()[i], before[0].data<float>()[i], 1e-5);
}

// Grouped-query attention: key / value with H / r heads, query head h reading head h / r, against
// the plain op on explicitly repeated key / value; the fast kernels against the reference.
TEST(FusedAttentionLayout, GroupedKeyValueHeads) {
    uint32_t seed = 700;
    const int64_t B = 2, Hkv = 2, r = 3, H = Hkv * r, L = 5, S = 9, E = 16;
    for (int flags = 0; flags < 4; ++flags) {
        op::SdpaLayout lay;
        lay.k = (flags & 1) != 0;
        lay.v = (flags & 2) != 0;
        lay.kv_repeat = r;
        auto stored = [&](int64_t heads, int64_t rows, bool blhe) {
            return blhe ? Shape{B, rows, heads, E} : Shape{B, heads, rows, E};
        };
        std::vector<Tensor> vals{random_f32({B, H, L, E}, seed), random_f32(stored(Hkv, S, lay.k), seed + 1),
                                 random_f32(stored(Hkv, S, lay.v), seed + 2)};
        ++seed;
        OutputVector ins;
        for (auto& t : vals) ins.push_back(param(Type::f32, t.shape())->output(0));
        auto n = make<op::FusedScaledDotProductAttention>(ins, flags == 3, lay);
        ASSERT_EQ(n->output_shape(0).to_shape(), (Shape{B, H, L, E}));
        // Repeated, heads-major copies for the plain op.
        auto repeated = [&](const Tensor& t, bool blhe) {
            Tensor o(Type::f32, {B, H, S, E});
            for (int64_t b = 0; b < B; ++b)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t s = 0; s < S; ++s)
                        for (int64_t e = 0; e < E; ++e) {
                            const int64_t g = h / r;
                            const int64_t src = blhe ? ((b * S + s) * Hkv + g) * E + e : ((b * Hkv + g) * S + s) * E + e;
                            o.data<float>()[((b * H + h) * S + s) * E + e] = t.data<float>()[src];
                        }
            return o;
        };
        std::vector<Tensor> plain_in{vals[0], repeated(vals[1], lay.k), repeated(vals[2], lay.v)};
        OutputVector pp;
        for (auto& t : plain_in) pp.push_back(param(Type::f32, t.shape())->output(0));
        auto plain = make<op::ScaledDotProductAttention>(pp, flags == 3);
        std::vector<Tensor> po{Tensor(Type::f32, {B, H, L, E})}, ro{Tensor(Type::f32, {B, H, L, E})};
        plain->evaluate(plain_in, po);
        n->evaluate(vals, ro);
        for (int64_t i = 0; i < po[0].size(); ++i) ASSERT_NEAR(ro[0].data<float>()[i], po[0].data<float>()[i], 1e-6) << flags;
        for (auto isa : {AttentionIsa::avx512, AttentionIsa::avx2, AttentionIsa::avx512_bf16}) {
            if (!cpu::attention_isa_supported(isa)) continue;
            auto k = cpu::make_attention_kernel_for_isa(*n, shapes_of(n), isa);
            ASSERT_NE(k, nullptr);
            std::vector<Tensor> out{Tensor(Type::f32, {B, H, L, E})};
            k->execute(vals, out);
            const double tol = isa == AttentionIsa::avx512_bf16 ? 3e-2 : 2e-5;
            for (int64_t i = 0; i < out[0].size(); ++i)
                ASSERT_NEAR(out[0].data<float>()[i], ro[0].data<float>()[i], tol + tol * std::abs(ro[0].data<float>()[i]))
                    << flags << " " << k->name();
        }
    }
    // Heads that do not divide: an error naming the shapes.
    op::SdpaLayout bad;
    bad.kv_repeat = 4;
    EXPECT_THROW(make<op::FusedScaledDotProductAttention>(
                     OutputVector{param(Type::f32, {1, 6, 3, 8})->output(0), param(Type::f32, {1, 2, 3, 8})->output(0),
                                  param(Type::f32, {1, 2, 3, 8})->output(0)},
                     false, bad),
                 ValueError);
}
