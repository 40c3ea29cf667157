// Scatters (ops/scatter.hpp, ScatterNDUpdate-15 in data_movement.hpp) and the data-dependent
// indexing ops of ops/indexing.hpp (NonZero, OneHot, Bucketize, Unique): shape inference with its
// errors, attributes, and the reference kernels on hand-checked values.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/scatter.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output cst(Tensor t) { return make<Constant>({}, std::move(t))->output(0); }
Output scalar(int64_t v) { return Constant::scalar<int64_t>(v)->output(0); }

using kiln::test::expect_error;

// Runs the reference kernel; outputs whose shape is not static arrive unallocated.
std::vector<Tensor> run_ref(const Node& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) {
        if (n.output_shape(i).is_static()) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
        else out.emplace_back();
    }
    n.evaluate(in, out);
    return out;
}

template <typename T>
std::vector<T> values(const Tensor& t) {
    return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }
Tensor i64(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

using R = ScatterReduction;

std::vector<float> scatter1d(R r, bool init, std::vector<float> data, std::vector<int64_t> idx, std::vector<float> upd) {
    auto n = make<ScatterElementsUpdate>({param(PartialShape{static_cast<int64_t>(data.size())}),
                                          param(PartialShape{static_cast<int64_t>(idx.size())}, Type::i64),
                                          param(PartialShape{static_cast<int64_t>(upd.size())}), scalar(0)},
                                         r, init);
    auto s = static_cast<int64_t>(data.size()), k = static_cast<int64_t>(idx.size());
    return values<float>(run_ref(*n, {f32(data, {s}), i64(idx, {k}), f32(upd, {k}), Tensor::scalar<int64_t>(0)})[0]);
}

}  // namespace

TEST(ScatterElementsUpdate, Reductions) {
    std::vector<float> d{1, 2, 3}, u{10, 20, 30, 40};
    std::vector<int64_t> i{0, 2, 0, -1};  // -1 is the last element
    using V = std::vector<float>;
    EXPECT_EQ(scatter1d(R::none, true, d, {0, 2}, {10, 20}), (V{10, 2, 20}));
    EXPECT_EQ(scatter1d(R::sum, true, d, i, u), (V{41, 2, 63}));
    EXPECT_EQ(scatter1d(R::sum, false, d, i, u), (V{40, 2, 60}));
    EXPECT_EQ(scatter1d(R::prod, true, d, i, u), (V{300, 2, 2400}));
    EXPECT_EQ(scatter1d(R::max, true, d, i, u), (V{30, 2, 40}));
    EXPECT_EQ(scatter1d(R::min, false, d, i, u), (V{10, 2, 20}));
    EXPECT_EQ(scatter1d(R::min, true, d, i, u), (V{1, 2, 3}));
    EXPECT_EQ(scatter1d(R::mean, true, d, i, u), (V{41.f / 3, 2, 21}));
    EXPECT_EQ(scatter1d(R::mean, false, d, i, u), (V{20, 2, 30}));
}

TEST(ScatterElementsUpdate, AlongAnAxisAndIntegerMean) {
    auto n = make<ScatterElementsUpdate>({param(PartialShape{2, 3}, Type::i64), param(PartialShape{2, 2}, Type::i64),
                                          param(PartialShape{2, 2}, Type::i64), scalar(1)},
                                         R::mean, false);
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,3]");
    auto out = run_ref(*n, {i64({0, 0, 0, 0, 0, 0}, {2, 3}), i64({1, 1, 0, 2}, {2, 2}), i64({3, -4, 5, 6}, {2, 2}),
                            Tensor::scalar<int64_t>(1)});
    // Row 0: (3 + -4) / 2 rounds down to -1.
    EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{0, -1, 0, 5, 0, 6}));
}

TEST(ScatterElementsUpdate, Errors) {
    expect_error([] { make<ScatterElementsUpdate>({param(PartialShape{2, 3}), param(PartialShape{2}, Type::i64),
                                                   param(PartialShape{2}), scalar(0)}); },
                 "must have the rank of data");
    expect_error([] { make<ScatterElementsUpdate>({param(PartialShape{3}), param(PartialShape{2}, Type::i64),
                                                   param(PartialShape{3}), scalar(0)}); },
                 "must have one shape");
    expect_error([] { make<ScatterElementsUpdate>({param(PartialShape{3}), param(PartialShape{2}, Type::i64),
                                                   param(PartialShape{2}, Type::i64), scalar(0)}); },
                 "updates have element type i64");
    expect_error([] { scatter1d(R::sum, true, {1, 2}, {2}, {1}); }, "index 2 is out of range for axis 0");
}

TEST(ScatterElementsUpdate, AttributesRoundTrip) {
    auto a = make<ScatterElementsUpdate>({param(PartialShape{3}), param(PartialShape{2}, Type::i64),
                                          param(PartialShape{2}), scalar(0)},
                                         R::mean, false);
    auto b = a->clone(a->inputs());
    EXPECT_TRUE(same_attributes(*a, *b));
    EXPECT_NE(a->attributes_string().find("reduction=mean"), std::string::npos) << a->attributes_string();
    auto c = make<ScatterElementsUpdate>(a->inputs(), R::sum, false);
    EXPECT_FALSE(same_attributes(*a, *c));
}

TEST(ScatterNDUpdate, Reductions) {
    auto data = f32({1, 2, 3, 4}, {2, 2});
    auto idx = i64({0, 1, 0, 1, 1, 0}, {3, 2});
    auto upd = f32({10, 20, 30}, {3});
    auto run = [&](R r) {
        auto n = make<ScatterNDUpdate>({param(PartialShape{2, 2}), param(PartialShape{3, 2}, Type::i64),
                                        param(PartialShape{3})},
                                       r);
        return values<float>(run_ref(*n, {data, idx, upd})[0]);
    };
    using V = std::vector<float>;
    EXPECT_EQ(run(R::sum), (V{1, 32, 33, 4}));
    EXPECT_EQ(run(R::sub), (V{1, -28, -27, 4}));
    EXPECT_EQ(run(R::prod), (V{1, 400, 90, 4}));
    EXPECT_EQ(run(R::max), (V{1, 20, 30, 4}));
    EXPECT_EQ(run(R::min), (V{1, 2, 3, 4}));
    EXPECT_EQ(run(R::none), (V{1, 20, 30, 4}));
    EXPECT_STREQ(make<ScatterNDUpdate>({param(PartialShape{2, 2}), param(PartialShape{3, 2}, Type::i64),
                                        param(PartialShape{3})}, R::sum)->opset(), "opset15");
}

TEST(EmbeddingBag, OffsetsAndPacked) {
    auto table = f32({1, 2, 10, 20, 100, 200}, {3, 2});
    auto n = make<EmbeddingBagOffsetsSum>({param(PartialShape{3, 2}), param(PartialShape{4}, Type::i64),
                                           param(PartialShape{3}, Type::i64)});
    EXPECT_EQ(n->output_shape(0).to_string(), "[3,2]");
    auto out = run_ref(*n, {table, i64({0, 2, 1, 1}, {4}), i64({0, 2, 2}, {3})});
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{101, 202, 0, 0, 20, 40}));  // bag 1 is empty
    auto w = make<EmbeddingBagOffsetsSum>({param(PartialShape{3, 2}), param(PartialShape{4}, Type::i64),
                                           param(PartialShape{3}, Type::i64), scalar(0), param(PartialShape{4})});
    out = run_ref(*w, {table, i64({0, 2, 1, 1}, {4}), i64({0, 2, 2}, {3}), Tensor::scalar<int64_t>(0),
                       f32({1, 0.5f, 2, -1}, {4})});
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{51, 102, 1, 2, 10, 20}));  // empty bag: row 0
    auto p = make<EmbeddingBagPackedSum>({param(PartialShape{3, 2}), param(PartialShape{2, 2}, Type::i64)});
    out = run_ref(*p, {table, i64({0, 1, 2, 2}, {2, 2})});
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{11, 22, 200, 400}));
    expect_error([&] { run_ref(*p, {table, i64({0, 3, 2, 2}, {2, 2})}); }, "index 3 is out of range [0, 3)");
}

TEST(NonZero, ShapesAndValues) {
    auto n = make<NonZero>({param(PartialShape{2, 3})}, Type::i64);
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,0..6]");
    auto out = run_ref(*n, {f32({0, 1, 0, 2, 0, 3}, {2, 3})});
    EXPECT_EQ(out[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{0, 1, 1, 1, 0, 2}));
    auto c = make<NonZero>({cst(f32({0, 1, 1}, {3}))}, Type::i32);
    EXPECT_EQ(c->output_shape(0).to_string(), "[1,2]");
    EXPECT_EQ(make<NonZero>({param(PartialShape::dynamic())})->output_shape(0).to_string(), "[?,?]");
    auto none = run_ref(*n, {f32({0, 0, 0, 0, 0, 0}, {2, 3})});
    EXPECT_EQ(none[0].shape(), (Shape{2, 0}));
    expect_error([] { make<NonZero>({param(PartialShape{2})}, Type::f32); }, "output_type must be i32 or i64");
}

TEST(OneHot, ShapesAndValues) {
    auto n = make<OneHot>({param(PartialShape{3}, Type::i64), scalar(4), Constant::scalar<float>(5)->output(0),
                           Constant::scalar<float>(-1)->output(0)},
                          int64_t{0});
    EXPECT_EQ(n->output_shape(0).to_string(), "[4,3]");
    auto out = run_ref(*n, {i64({1, 3, 7}, {3}), Tensor::scalar<int64_t>(4), Tensor::scalar<float>(5),
                            Tensor::scalar<float>(-1)});
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{-1, -1, -1, 5, -1, -1, -1, -1, -1, -1, 5, -1}));
    auto dyn = make<OneHot>({param(PartialShape{2}, Type::i64), param(PartialShape{}, Type::i64),
                             Constant::scalar<int64_t>(1)->output(0), Constant::scalar<int64_t>(0)->output(0)},
                            int64_t{-1});
    EXPECT_EQ(dyn->output_shape(0).to_string(), "[2,?]");
    auto d = run_ref(*dyn, {i64({2, 0}, {2}), Tensor::scalar<int64_t>(3), Tensor::scalar<int64_t>(1), Tensor::scalar<int64_t>(0)});
    EXPECT_EQ(d[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(values<int64_t>(d[0]), (std::vector<int64_t>{0, 0, 1, 1, 0, 0}));
    expect_error([] { make<OneHot>({param(PartialShape{2}, Type::i64), scalar(2), Constant::scalar<float>(1)->output(0),
                                    Constant::scalar<int64_t>(0)->output(0)}); },
                 "on_value is f32 but off_value is i64");
}

TEST(Bucketize, BothBounds) {
    auto b = f32({0, 1, 2}, {3});
    auto data = f32({-1, 0, 0.5f, 1, 2, 3, NAN}, {7});
    auto right = make<Bucketize>({param(PartialShape{7}), param(PartialShape{3})}, Type::i64, true);
    EXPECT_EQ(values<int64_t>(run_ref(*right, {data, b})[0]), (std::vector<int64_t>{0, 0, 1, 1, 2, 3, 3}));
    auto left = make<Bucketize>({param(PartialShape{7}), param(PartialShape{3})}, Type::i32, false);
    EXPECT_EQ(values<int32_t>(run_ref(*left, {data, b})[0]), (std::vector<int32_t>{0, 1, 1, 2, 3, 3, 3}));
    expect_error([] { make<Bucketize>({param(PartialShape{7}), param(PartialShape{3, 1})}); }, "buckets must be 1-D");
}

TEST(Unique, FlatSortedAndUnsorted) {
    auto x = i64({3, 1, 3, 2, 1, 1}, {6});
    auto s = make<Unique>({param(PartialShape{6}, Type::i64)}, true);
    EXPECT_EQ(s->output_shape(0).to_string(), "[1..6]");
    EXPECT_EQ(s->output_shape(2).to_string(), "[6]");
    auto o = run_ref(*s, {x});
    EXPECT_EQ(values<int64_t>(o[0]), (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(values<int64_t>(o[1]), (std::vector<int64_t>{1, 3, 0}));
    EXPECT_EQ(values<int64_t>(o[2]), (std::vector<int64_t>{2, 0, 2, 1, 0, 0}));
    EXPECT_EQ(values<int64_t>(o[3]), (std::vector<int64_t>{3, 1, 2}));
    auto u = make<Unique>({param(PartialShape{6}, Type::i64)}, false, Type::i32, Type::i32);
    o = run_ref(*u, {x});
    EXPECT_EQ(values<int64_t>(o[0]), (std::vector<int64_t>{3, 1, 2}));
    EXPECT_EQ(values<int32_t>(o[1]), (std::vector<int32_t>{0, 1, 3}));
    EXPECT_EQ(values<int32_t>(o[2]), (std::vector<int32_t>{0, 1, 0, 2, 1, 1}));
    EXPECT_EQ(values<int32_t>(o[3]), (std::vector<int32_t>{2, 3, 1}));
}

TEST(Unique, AlongAnAxis) {
    // Columns (1, 2), (0, 5), (1, 2), (0, 4): sorted lexicographically.
    auto x = f32({1, 0, 1, 0, 2, 5, 2, 4}, {2, 4});
    auto n = make<Unique>({param(PartialShape{2, 4}), cst(i64({1}, {1}))}, true);
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,1..4]");
    auto o = run_ref(*n, {x, i64({1}, {1})});
    EXPECT_EQ(o[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(values<float>(o[0]), (std::vector<float>{0, 0, 1, 4, 5, 2}));
    EXPECT_EQ(values<int64_t>(o[2]), (std::vector<int64_t>{2, 1, 2, 0}));
    EXPECT_EQ(values<int64_t>(o[3]), (std::vector<int64_t>{1, 1, 2}));
    expect_error([] { make<Unique>({param(PartialShape{2, 4}), cst(i64({2}, {1}))}); }, "axis 2 is out of range");
}
