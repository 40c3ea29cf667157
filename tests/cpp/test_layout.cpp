// Layouts in execution plans (cpp/kiln/runtime/cpu/layout.hpp, plan.cpp): the reorder kernel
// against the reference reorder, which layouts share bytes, and plans that keep a chain of
// convolutions, pools and element-wise ops in the convolutions' layout with reorders only at
// the edges, computing what the reference kernels compute.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/core/model.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/layout.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"
#include "kiln/runtime/cpu/plan.hpp"

#include "test_util.hpp"

using namespace kiln;
using cpu::Layout;
using op::PadType;
using V = std::vector<int64_t>;

namespace {

using test::random_tensor;

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }

double max_diff(const Tensor& a, const Tensor& b) {
    EXPECT_EQ(a.shape(), b.shape());
    auto x = a.as_f64_vector(), y = b.as_f64_vector();
    double m = 0;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
    return m;
}

const std::vector<Layout> kLayouts = {Layout{}, Layout::nhwc(), Layout::blocked_by(16), Layout::blocked_by(8)};

}  // namespace

TEST(Layout, PhysicalShapesAndNames) {
    EXPECT_EQ(cpu::physical_shape({2, 19, 5, 7}, Layout{}), (Shape{2, 19, 5, 7}));
    EXPECT_EQ(cpu::physical_shape({2, 19, 5, 7}, Layout::nhwc()), (Shape{2, 5, 7, 19}));
    EXPECT_EQ(cpu::physical_shape({2, 19, 5, 7}, Layout::blocked_by(16)), (Shape{2, 2, 5, 7, 16}));
    EXPECT_EQ(cpu::physical_shape({2, 19, 3, 5, 7}, Layout::blocked_by(8)), (Shape{2, 3, 3, 5, 7, 8}));
    EXPECT_EQ(cpu::layout_name(Layout::blocked_by(16), 4), "nChw16c");
    EXPECT_EQ(cpu::layout_name(Layout::nhwc(), 4), "nhwc");
    EXPECT_EQ(cpu::layout_name(Layout::nhwc(), 3), "nwc");
    EXPECT_EQ(cpu::layout_name(Layout{}, 5), "ncdhw");
    EXPECT_THROW(cpu::physical_shape({4, 5}, Layout::nhwc()), Error);
}

TEST(Layout, SameBytes) {
    // One position per channel: [N, C] in every unpadded layout.
    EXPECT_TRUE(cpu::same_bytes({2, 32, 1, 1}, Layout{}, Layout::nhwc()));
    EXPECT_TRUE(cpu::same_bytes({2, 32, 1, 1}, Layout::nhwc(), Layout::blocked_by(16)));
    EXPECT_FALSE(cpu::same_bytes({2, 24, 1, 1}, Layout{}, Layout::blocked_by(16)));  // padded
    EXPECT_TRUE(cpu::same_bytes({2, 1, 5, 5}, Layout{}, Layout::nhwc()));
    EXPECT_FALSE(cpu::same_bytes({2, 1, 5, 5}, Layout{}, Layout::blocked_by(8)));
    EXPECT_FALSE(cpu::same_bytes({1, 2, 5, 5}, Layout{}, Layout::nhwc()));
}

// The fast reorder (oneDNN) and the reference agree for every pair of layouts, awkward channel
// counts (padded blocks), ranks 3 to 5, and a size-1 batch; the padding comes out as zeros.
TEST(Layout, ReorderKernelMatchesReference) {
    for (Shape s : {Shape{2, 19, 5, 7}, Shape{1, 3, 4, 4}, Shape{1, 40, 1, 1}, Shape{3, 9, 11}, Shape{1, 17, 2, 3, 4}})
        for (Layout from : kLayouts)
            for (Layout to : kLayouts) {
                SCOPED_TRACE(to_string(s) + " " + cpu::layout_name(from, s.size()) + " -> " +
                             cpu::layout_name(to, s.size()));
                Tensor plain = random_tensor(s, 7);
                Tensor src(Type::f32, cpu::physical_shape(s, from));
                cpu::reorder_reference(plain, Layout{}, src, from, s);
                Tensor fast(Type::f32, cpu::physical_shape(s, to)), ref(Type::f32, cpu::physical_shape(s, to));
                std::memset(fast.data(), 0, fast.byte_size());  // oneDNN keeps padding as it finds it
                auto k = cpu::onednn::make_reorder_kernel(s, Type::f32, from, to);
                std::vector<Tensor> out{fast};
                k->execute({src}, out);
                cpu::reorder_reference(src, from, ref, to, s);
                EXPECT_EQ(max_diff(fast, ref), 0.0);
                // And back to plain: the values themselves.
                Tensor back(Type::f32, s);
                cpu::reorder_reference(ref, to, back, Layout{}, s);
                EXPECT_EQ(max_diff(back, plain), 0.0);
            }
}

// bf16 storage: layouts that differ only in it are not the same bytes; reorders to and from it
// convert (to nearest even), the fast one as the reference does, padding included.
TEST(Layout, ReorderKernelConvertsToAndFromBf16Storage) {
    EXPECT_FALSE(cpu::same_bytes({2, 32, 1, 1}, Layout::nhwc(), Layout::nhwc().stored_bf16()));
    EXPECT_EQ(cpu::layout_name(Layout::nhwc().stored_bf16(), 4), "nhwc:bf16");
    EXPECT_NE(Layout::nhwc().code(), Layout::nhwc().stored_bf16().code());
    EXPECT_EQ(cpu::stored_type(Type::f32, Layout::blocked_by(16).stored_bf16()), Type::bf16);
    for (Shape s : {Shape{2, 19, 5, 7}, Shape{1, 40, 1, 1}, Shape{3, 9, 11}})
        for (Layout from : kLayouts)
            for (Layout to : kLayouts)
                for (bool to_bf16 : {true, false}) {
                    Layout f = to_bf16 ? from : from.stored_bf16(), t = to_bf16 ? to.stored_bf16() : to;
                    SCOPED_TRACE(to_string(s) + " " + cpu::layout_name(f, s.size()) + " -> " + cpu::layout_name(t, s.size()));
                    Tensor plain = random_tensor(s, 9);
                    Tensor src(cpu::stored_type(Type::f32, f), cpu::physical_shape(s, f));
                    cpu::reorder_reference(to_bf16 ? plain : [&] {
                        Tensor p16(Type::bf16, s);
                        cpu::reorder_reference(plain, Layout{}, p16, Layout{}.stored_bf16(), s);
                        return p16;
                    }(), to_bf16 ? Layout{} : Layout{}.stored_bf16(), src, f, s);
                    const Type dt = cpu::stored_type(Type::f32, t);
                    Tensor fast(dt, cpu::physical_shape(s, t)), ref(dt, cpu::physical_shape(s, t));
                    std::memset(fast.data(), 0, fast.byte_size());
                    auto k = cpu::onednn::make_reorder_kernel(s, Type::f32, f, t);
                    std::vector<Tensor> out{fast};
                    k->execute({src}, out);
                    cpu::reorder_reference(src, f, ref, t, s);
                    EXPECT_EQ(max_diff(fast, ref), 0.0);
                    // Back to plain f32: the values, within bf16's rounding.
                    Tensor back(Type::f32, s);
                    cpu::reorder_reference(ref, t, back, Layout{}, s);
                    EXPECT_LE(max_diff(back, plain), 1.0 / 128);
                }
}

namespace {

// x -> conv(+relu) -> conv -> + conv output (a residual) -> sigmoid -> * 2 -> maxpool -> result,
// with odd channel counts so that blocked layouts pad.
Model conv_chain(int64_t c) {
    auto x = make<op::Parameter>({}, Type::f32, PartialShape({1, c, 9, 9}));
    auto conv = [&](Output in, uint32_t seed) {
        return make<op::Convolution>({in, cst(random_tensor({c, c, 3, 3}, seed, -0.2f, 0.2f))}, V{1, 1}, V{1, 1},
                                     V{1, 1}, V{1, 1}, PadType::explicit_pad)
            ->output(0);
    };
    Output a = make<op::Relu>({conv(x->output(0), 1)})->output(0);
    Output b = conv(a, 2);
    Output s = make<op::Add>({b, a}, AutoBroadcast::numpy)->output(0);
    Output g = make<op::Sigmoid>({conv(s, 3)})->output(0);
    Output h = make<op::Multiply>({g, cst(Tensor::scalar(2.0f))}, AutoBroadcast::numpy)->output(0);
    Output e = make<op::Subtract>({h, conv(a, 4)}, AutoBroadcast::numpy)->output(0);
    Output p = make<op::MaxPool>({e}, V{2, 2}, V{1, 1}, V{0, 0}, V{0, 0}, V{2, 2})->output(0);
    return Model({make<op::Result>({p})}, {x});
}

std::vector<Tensor> run(const Model& m, const Tensor& in, bool reference, std::shared_ptr<const cpu::Plan>* keep) {
    cpu::set_reference_only(reference);
    auto plan = cpu::Plan::build(m, {in.shape()});
    cpu::set_reference_only(false);
    std::vector<char> arena(plan->arena_bytes() + 64);
    std::vector<Tensor> out;
    plan->run({in}, out, arena.data());
    if (keep) *keep = plan;
    return out;
}

}  // namespace

// Whatever layout the convolutions choose on this CPU, the plan reorders only at the model's
// edges (the input into the first convolution, the pool's output out of the model): the
// element-wise ops between convolutions run in the convolutions' layout.
TEST(Layout, ConvChainReordersOnlyAtTheEdges) {
    for (int64_t c : {16, 19}) {
        SCOPED_TRACE("channels " + std::to_string(c));
        Model m = conv_chain(c);
        Tensor in = random_tensor({1, c, 9, 9}, 11);
        std::shared_ptr<const cpu::Plan> plan;
        auto fast = run(m, in, false, &plan);
        auto ref = run(m, in, true, nullptr);
        ASSERT_EQ(fast.size(), 1u);
        EXPECT_LT(max_diff(fast[0], ref[0]), 1e-5);
        auto ks = plan->kernel_summary();
        auto ls = plan->layout_summary();
        std::string conv_layout;
        size_t reorders = 0, convs = 0;
        for (size_t i = 0; i < ks.size(); ++i) {
            if (ks[i][0] == "Reorder") ++reorders;
            if (ks[i][2] == "onednn_conv") {
                ++convs;
                if (conv_layout.empty()) conv_layout = ls[i][1];
                EXPECT_EQ(ls[i][1], conv_layout) << ks[i][1];
            }
        }
        EXPECT_EQ(convs, 4u);
        if (conv_layout == "nchw") {
            EXPECT_EQ(reorders, 0u);
        } else {
            // In and out; nothing between the convolutions.
            EXPECT_LE(reorders, 2u);
            for (size_t i = 0; i < ks.size(); ++i)
                if (ks[i][2] == "avx512_eltwise" || ks[i][2] == "avx2_eltwise") {
                    EXPECT_EQ(ls[i][1], conv_layout) << ks[i][1];
                }
        }
    }
}

// A per-call reorder into and out of each layout, through the plan's reorder steps, for a model
// whose every node is plain except the convolution: explicit steps named after the reader.
TEST(Layout, ReorderStepsAreNamedAndShared) {
    auto x = make<op::Parameter>({}, Type::f32, PartialShape({1, 32, 8, 8}));
    Output c = make<op::Convolution>({x->output(0), cst(random_tensor({32, 32, 1, 1}, 3))}, V{1, 1}, V{0, 0},
                                     V{0, 0}, V{1, 1}, PadType::explicit_pad)
                   ->output(0);
    // Two plain readers of the conv's output (neither runs on other layouts) share one reorder.
    Output e1 = make<op::Exp>({c})->output(0);
    Output e2 = make<op::Floor>({c})->output(0);
    Model m({make<op::Result>({e1}), make<op::Result>({e2})}, {x});
    Tensor in = random_tensor({1, 32, 8, 8}, 5, -0.2f, 0.2f);
    std::shared_ptr<const cpu::Plan> plan;
    auto fast = run(m, in, false, &plan);
    auto ref = run(m, in, true, nullptr);
    EXPECT_LT(max_diff(fast[0], ref[0]), 1e-4);
    EXPECT_LE(max_diff(fast[1], ref[1]), 1.0);  // floor of values a rounding apart may differ by 1
    size_t to_plain = 0;
    for (auto& [name, layout] : plan->layout_summary())
        if (layout.size() > 6 && layout.substr(layout.size() - 6) == "->nchw") ++to_plain;
    EXPECT_LE(to_plain, 1u);
}
