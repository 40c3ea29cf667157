// Indexing ops (ops/indexing.hpp): IndexCheck, GatherND, TopK — shape inference with its errors
// and the reference kernels on hand-checked values.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <limits>

#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/indexing.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output scalar(int64_t v) { return Constant::scalar<int64_t>(v)->output(0); }

using kiln::test::expect_error;

std::vector<Tensor> run_ref(const Node& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    n.evaluate(in, out);
    return out;
}

template <typename T>
std::vector<T> values(const Tensor& t) {
    return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

}  // namespace

TEST(IndexCheck, PassesValidIndicesThrough) {
    auto n = make<IndexCheck>({param(PartialShape{Dimension(), 3}, Type::i64), scalar(5)}, false, "the ids");
    EXPECT_EQ(n->output_shape(0).to_string(), "[?,3]");
    EXPECT_EQ(n->output_type(0), Type::i64);
    n = make<IndexCheck>({param(PartialShape{2, 3}, Type::i64), scalar(5)}, false, "the ids");
    auto ids = Tensor::from_vector<int64_t>({0, 4, 2, 1, 3, 0}, {2, 3});
    auto out = run_ref(*n, {ids, Tensor::scalar<int64_t>(5)});
    EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{0, 4, 2, 1, 3, 0}));
}

TEST(IndexCheck, NamesTheBadIndex) {
    auto n = make<IndexCheck>({param(PartialShape{3}, Type::i64), scalar(5)}, false, "the ids of input 'input_ids'");
    n->set_name("emb");
    expect_error([&] { run_ref(*n, {Tensor::from_vector<int64_t>({1, 5, 2}, {3}), Tensor::scalar<int64_t>(5)}); },
                 "[IndexCheck emb] the ids of input 'input_ids': 5 at flat position 1 is out of range [0, 5)");
    expect_error([&] { run_ref(*n, {Tensor::from_vector<int64_t>({-1, 0, 2}, {3}), Tensor::scalar<int64_t>(5)}); },
                 ": -1 at flat position 0 is out of range");
    auto neg = make<IndexCheck>({param(PartialShape{3}, Type::i32), scalar(5)}, true, "the index");
    auto ok = run_ref(*neg, {Tensor::from_vector<int32_t>({-5, 4, -1}, {3}), Tensor::scalar<int64_t>(5)});
    EXPECT_EQ(values<int32_t>(ok[0]), (std::vector<int32_t>{-5, 4, -1}));
    expect_error([&] { run_ref(*neg, {Tensor::from_vector<int32_t>({-6, 0, 0}, {3}), Tensor::scalar<int64_t>(5)}); },
                 "out of range [-5, 5)");
}

TEST(IndexCheck, RejectsFloatIndices) {
    expect_error([] { make<IndexCheck>({param(PartialShape{3}), scalar(5)}, false, "ids"); },
                 "indices must be of an integer type");
}

TEST(GatherND, Shapes) {
    auto n = make<GatherND>({param(PartialShape{4, 5, 6}), param(PartialShape{2, 3, 2}, Type::i64)}, int64_t{0});
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,3,6]");
    auto b = make<GatherND>({param(PartialShape{4, 5, 6}), param(PartialShape{4, 3, 1}, Type::i64)}, int64_t{1});
    EXPECT_EQ(b->output_shape(0).to_string(), "[4,3,6]");
    auto d = make<GatherND>({param(PartialShape{Dimension(), 5}), param(PartialShape{Dimension(), 2}, Type::i64)},
                            int64_t{0});
    EXPECT_EQ(d->output_shape(0).to_string(), "[?]");
    expect_error([] { make<GatherND>({param(PartialShape{4, 5}), param(PartialShape{2, 3}, Type::i64)}, int64_t{0}); },
                 "index 3 dims of data");
    expect_error([] { make<GatherND>({param(PartialShape{4, 5}), param(PartialShape{3, 1}, Type::i64)}, int64_t{1}); },
                 "batch dimension 0 differs");
}

TEST(GatherND, Values) {
    // data [3, 2, 2] = 0..11; pick (2, 1), (0, 0), (-1, 0): rows of 2.
    std::vector<float> d(12);
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<float>(i);
    auto n = make<GatherND>({param(PartialShape{3, 2, 2}), param(PartialShape{3, 2}, Type::i64)}, int64_t{0});
    auto out = run_ref(*n, {Tensor::from_vector(d, {3, 2, 2}), Tensor::from_vector<int64_t>({2, 1, 0, 0, -1, 0}, {3, 2})});
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{10, 11, 0, 1, 8, 9}));
    // batch_dims 1: data [2, 3], indices [2, 1] -> [2]
    auto b = make<GatherND>({param(PartialShape{2, 3}), param(PartialShape{2, 1}, Type::i64)}, int64_t{1});
    auto ob = run_ref(*b, {Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}), Tensor::from_vector<int64_t>({2, 0}, {2, 1})});
    EXPECT_EQ(values<float>(ob[0]), (std::vector<float>{3, 4}));
}

TEST(TopK, Shapes) {
    auto n = make<TopK>({param(PartialShape{2, 7, 3}), scalar(4)}, int64_t{1}, TopK::Mode::max, TopK::Sort::value);
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,4,3]");
    EXPECT_EQ(n->output_type(1), Type::i64);
    auto dyn_k = make<TopK>({param(PartialShape{2, 7}), param(PartialShape{}, Type::i64)}, int64_t{-1},
                            TopK::Mode::min, TopK::Sort::none, Type::i32);
    EXPECT_EQ(dyn_k->output_shape(0).to_string(), "[2,0..7]");
    EXPECT_EQ(dyn_k->output_type(1), Type::i32);
    expect_error([] { make<TopK>({param(PartialShape{2, 3}), scalar(4)}, int64_t{1}, TopK::Mode::max, TopK::Sort::value); },
                 "k 4 is larger than dimension 1");
    expect_error([] { make<TopK>({param(PartialShape{2, 3}), scalar(1)}, int64_t{2}, TopK::Mode::max, TopK::Sort::value); },
                 "axis 2 is out of range");
}

TEST(TopK, ValuesTiesAndNaN) {
    auto n = make<TopK>({param(PartialShape{2, 5}), scalar(3)}, int64_t{1}, TopK::Mode::max, TopK::Sort::value);
    float nan = std::numeric_limits<float>::quiet_NaN();
    auto x = Tensor::from_vector<float>({1, 5, 5, 2, 0, /**/ 3, nan, 4, 9, 9}, {2, 5});
    auto out = run_ref(*n, {x, Tensor::scalar<int64_t>(3)});
    auto v = values<float>(out[0]);
    EXPECT_EQ(std::vector<float>(v.begin(), v.begin() + 3), (std::vector<float>{5, 5, 2}));
    EXPECT_TRUE(std::isnan(v[3]));  // NaN ranks first, as in torch
    EXPECT_EQ(v[4], 9);
    EXPECT_EQ(v[5], 9);
    EXPECT_EQ(values<int64_t>(out[1]), (std::vector<int64_t>{1, 2, 3, 1, 3, 4}));  // ties: lower index first
    auto mn = make<TopK>({param(PartialShape{2, 5}), scalar(2)}, int64_t{1}, TopK::Mode::min, TopK::Sort::index);
    auto o2 = run_ref(*mn, {x, Tensor::scalar<int64_t>(2)});
    EXPECT_EQ(values<int64_t>(o2[1])[0], 0);  // min of row 0 are 0 (idx 4) and 1 (idx 0): sorted by index
    EXPECT_EQ(values<int64_t>(o2[1])[1], 4);
}
