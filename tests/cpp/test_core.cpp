#include <gtest/gtest.h>

#include "kiln/core/model.hpp"
#include "kiln/runtime/cpu/isa.hpp"

#include <cstdlib>

using namespace kiln;

TEST(Shape, DimensionMergeAndPrint) {
    EXPECT_EQ(Dimension(3).to_string(), "3");
    EXPECT_EQ(Dimension().to_string(), "?");
    EXPECT_EQ(Dimension(1, 8).to_string(), "1..8");
    EXPECT_TRUE(Dimension(1, 8).compatible(4));
    EXPECT_FALSE(Dimension(1, 8).compatible(9));
    auto m = Dimension::merge(Dimension(1, 8), Dimension(4));
    ASSERT_TRUE(m);
    EXPECT_EQ(*m, Dimension(4));
    EXPECT_FALSE(Dimension::merge(Dimension(3), Dimension(4)));
}

TEST(Shape, PartialShapeBasics) {
    PartialShape dyn;
    EXPECT_TRUE(dyn.rank_is_dynamic());
    EXPECT_EQ(dyn.to_string(), "[...]");
    PartialShape p{Dimension(), 3, Dimension(224)};
    EXPECT_EQ(p.to_string(), "[?,3,224]");
    EXPECT_FALSE(p.is_static());
    EXPECT_TRUE(p.compatible(Shape{5, 3, 224}));
    EXPECT_FALSE(p.compatible(Shape{5, 4, 224}));
    EXPECT_FALSE(p.compatible(Shape{5, 3}));
    EXPECT_THROW(p.to_shape(), Error);
    EXPECT_EQ(PartialShape(Shape{2, 3}).to_shape(), (Shape{2, 3}));
}

TEST(Tensor, ConvertElements) {
    auto t = Tensor::from_vector<float>({1.5f, -2.0f, 0.0f}, {3});
    EXPECT_EQ(t.as_i64_vector(), (std::vector<int64_t>{1, -2, 0}));
    std::vector<uint16_t> half(3);
    convert_elements(t.data(), Type::f32, half.data(), Type::f16, 3);
    std::vector<float> back(3);
    convert_elements(half.data(), Type::f16, back.data(), Type::f32, 3);
    EXPECT_EQ(back, (std::vector<float>{1.5f, -2.0f, 0.0f}));
    convert_elements(t.data(), Type::f32, half.data(), Type::bf16, 3);
    convert_elements(half.data(), Type::bf16, back.data(), Type::f32, 3);
    EXPECT_EQ(back, (std::vector<float>{1.5f, -2.0f, 0.0f}));
}

TEST(Model, OrderCloneDump) {
    auto p = make<op::Parameter>({}, Type::f32, PartialShape{Dimension(), 4});
    p->set_name("x");
    p->set_output_names(0, {"x"});
    auto c = op::Constant::create<float>({1, 2, 3, 4}, {4});
    auto r = make<op::Result>({p->output(0)});
    Model m({r}, {p});
    auto ops = m.ordered_ops();
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(std::string(ops[0]->type_name()), "Parameter");
    EXPECT_EQ(m.input_index("x"), 0);
    EXPECT_EQ(m.input_index("y"), -1);
    auto m2 = m.clone();
    EXPECT_EQ(m2->to_string(), m.to_string());
    EXPECT_NE(m2->parameters()[0].get(), p.get());
    m.reshape({{0, PartialShape{2, 4}}});
    EXPECT_EQ(r->output_shape(0).to_string(), "[2,4]");
    validate_model(m);
    EXPECT_NE(m.to_string().find("Constant") , 0u);
    EXPECT_EQ(c->output_shape(0).to_string(), "[4]");
}

// ONEDNN_MAX_CPU_ISA's values (oneDNN's names, any case) cap kiln's kernels at the same level.
TEST(Isa, CapFollowsOneDnnNames) {
    using kiln::cpu::IsaLevel;
    using kiln::cpu::isa_cap_of;
    EXPECT_EQ(isa_cap_of("SSE41"), IsaLevel::sse2);
    EXPECT_EQ(isa_cap_of("avx"), IsaLevel::sse2);
    EXPECT_EQ(isa_cap_of("AVX2"), IsaLevel::avx2);
    EXPECT_EQ(isa_cap_of("avx2_vnni"), IsaLevel::avx2);
    EXPECT_EQ(isa_cap_of("AVX512_CORE"), IsaLevel::avx512);
    EXPECT_EQ(isa_cap_of("AVX512_CORE_VNNI"), IsaLevel::avx512);
    EXPECT_EQ(isa_cap_of("AVX512_CORE_BF16"), IsaLevel::avx512_bf16);
    EXPECT_EQ(isa_cap_of("AVX512_CORE_AMX"), IsaLevel::avx512_bf16);
    EXPECT_EQ(isa_cap_of("ALL"), IsaLevel::avx512_bf16);
    EXPECT_EQ(isa_cap_of(""), IsaLevel::avx512_bf16);
    // The level in use never exceeds the cap this process started with.
    const char* var = std::getenv("ONEDNN_MAX_CPU_ISA") ? std::getenv("ONEDNN_MAX_CPU_ISA") : std::getenv("DNNL_MAX_CPU_ISA");
    auto cap = isa_cap_of(var ? var : "");
    EXPECT_LE(static_cast<int>(kiln::cpu::isa_level()), static_cast<int>(cap));
}
