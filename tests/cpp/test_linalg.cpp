// Linear algebra ops: Inverse (opset14) and kiln's internal Determinant / LogDeterminant, and the
// integer MatMul reference: shapes, errors, attributes and reference kernels on hand-checked values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/core/model.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/linalg_factor.hpp"
#include "kiln/ops/matmul.hpp"

using namespace kiln;

namespace {

std::shared_ptr<op::Parameter> param(PartialShape s, Type t = Type::f32) {
    return make<op::Parameter>({}, t, std::move(s));
}

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }

std::vector<Tensor> run(const Node& n) {
    std::vector<Tensor> in, out;
    for (size_t i = 0; i < n.num_inputs(); ++i) in.push_back(*n.input(i).node->constant_value());
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    n.evaluate(in, out);
    return out;
}

std::string fail_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-9) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

}  // namespace

TEST(Linalg, Shapes) {
    auto inv = make<op::Inverse>({param({2, 3, 3})->output(0)}, false);
    EXPECT_EQ(inv->output_shape(0).to_string(), "[2,3,3]");
    auto det = make<op::Determinant>({param({4, Dimension(), 5})->output(0)});
    EXPECT_EQ(det->output_shape(0).to_string(), "[4]");
    auto sl = make<op::LogDeterminant>({param({3, 3}, Type::f64)->output(0)});
    EXPECT_EQ(sl->num_outputs(), 2u);
    EXPECT_EQ(sl->output_shape(1).to_string(), "[]");
    EXPECT_EQ(sl->output_type(1), Type::f64);
    EXPECT_STREQ(inv->opset(), "opset14");
    EXPECT_STREQ(det->opset(), "kiln");
    EXPECT_NE(fail_message([] { make<op::Inverse>({param({2, 3, 4})->output(0)}, false); }).find("must be square"),
              std::string::npos);
    EXPECT_NE(fail_message([] { make<op::Determinant>({param({3})->output(0)}); }).find("rank >= 2"), std::string::npos);
    EXPECT_NE(fail_message([] { make<op::Inverse>({param({3, 3}, Type::i64)->output(0)}, false); }).find("f32 or f64"),
              std::string::npos);
}

TEST(Linalg, InverseByHand) {
    // [[4, 7], [2, 6]]^-1 = [[0.6, -0.7], [-0.2, 0.4]]; the second needs a row swap (zero pivot).
    auto x = cst(Tensor::from_vector<double>({4, 7, 2, 6, 0, 1, 1, 0}, {2, 2, 2}));
    expect_near(run(*make<op::Inverse>({x}, false))[0].as_f64_vector(), {0.6, -0.7, -0.2, 0.4, 0, 1, 1, 0});
    expect_near(run(*make<op::Inverse>({x}, true))[0].as_f64_vector(), {0.6, -0.2, -0.7, 0.4, 0, 1, 1, 0});
    auto singular = make<op::Inverse>({cst(Tensor::from_vector<float>({1, 2, 2, 4}, {2, 2}))}, false);
    EXPECT_NE(fail_message([&] { run(*singular); }).find("matrix 0 of the batch (shape [2,2]) is singular"),
              std::string::npos);
    auto empty = make<op::Inverse>({cst(Tensor(Type::f32, Shape{3, 0, 0}))}, false);
    EXPECT_EQ(run(*empty)[0].size(), 0);
}

TEST(Linalg, DeterminantByHand) {
    // det [[0, 2], [3, 4]] = -6 (a pivot swap), det [[2, 0, 0], [0, 3, 0], [0, 0, -1]] = -6, singular = 0.
    auto a = cst(Tensor::from_vector<float>({0, 2, 3, 4, 1, 2, 2, 4}, {2, 2, 2}));
    expect_near(run(*make<op::Determinant>({a}))[0].as_f64_vector(), {-6, 0}, 1e-6);
    auto sl = run(*make<op::LogDeterminant>({a}));
    expect_near(sl[0].as_f64_vector(), {-1, 0});
    EXPECT_NEAR(sl[1].as_f64_vector()[0], std::log(6.0), 1e-6);
    EXPECT_EQ(sl[1].as_f64_vector()[1], -std::numeric_limits<double>::infinity());
    auto b = cst(Tensor::from_vector<double>({2, 0, 0, 0, 3, 0, 0, 0, -1}, {3, 3}));
    expect_near(run(*make<op::Determinant>({b}))[0].as_f64_vector(), {-6});
    auto e = cst(Tensor(Type::f32, Shape{2, 0, 0}));
    expect_near(run(*make<op::Determinant>({e}))[0].as_f64_vector(), {1, 1});
}

TEST(Linalg, IntegerMatMul) {
    auto a = cst(Tensor::from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
    auto b = cst(Tensor::from_vector<int64_t>({1, 0, 0, 1, 1, -1}, {3, 2}));
    EXPECT_EQ(run(*make<op::MatMul>({a, b}))[0].as_i64_vector(), (std::vector<int64_t>{4, -1, 10, -1}));
    auto c = cst(Tensor::from_vector<int32_t>({1, 2, 3}, {3}));
    auto d = cst(Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {3, 2}));
    auto m = make<op::MatMul>({c, d});
    EXPECT_EQ(m->output_type(0), Type::i32);
    EXPECT_EQ(run(*m)[0].as_i64_vector(), (std::vector<int64_t>{22, 28}));
}

TEST(LinalgFactor, ShapesAndErrors) {
    auto ch = make<op::Cholesky>({param({2, Dimension(), 4})->output(0)}, false);
    EXPECT_EQ(ch->output_shape(0).to_string(), "[2,?,4]");
    EXPECT_EQ(ch->output_shape(1).to_string(), "[2]");
    EXPECT_EQ(ch->output_type(1), Type::i32);
    auto qr = make<op::Qr>({param({3, 5, 2})->output(0)}, op::QrMode::reduced);
    EXPECT_EQ(qr->output_shape(0).to_string(), "[3,5,2]");
    EXPECT_EQ(qr->output_shape(1).to_string(), "[3,2,2]");
    auto qc = make<op::Qr>({param({2, 4})->output(0)}, op::QrMode::complete);
    EXPECT_EQ(qc->output_shape(0).to_string(), "[2,2]");
    EXPECT_EQ(qc->output_shape(1).to_string(), "[2,4]");
    auto qrr = make<op::Qr>({param({6, 3})->output(0)}, op::QrMode::r);
    EXPECT_EQ(qrr->output_shape(0).to_string(), "[0]");
    EXPECT_EQ(qrr->output_shape(1).to_string(), "[3,3]");
    auto e = make<op::Eigh>({param({Dimension(), 3}, Type::f64)->output(0)}, true);
    EXPECT_EQ(e->output_shape(0).to_string(), "[3]");
    EXPECT_EQ(e->output_type(1), Type::f64);
    EXPECT_NE(fail_message([] { make<op::Cholesky>({param({2, 3, 4})->output(0)}, false); }).find("must be square"),
              std::string::npos);
    EXPECT_NE(fail_message([] { make<op::Eigh>({param({3, 3}, Type::i32)->output(0)}, true); }).find("f32 or f64"),
              std::string::npos);
    EXPECT_NE(fail_message([] { make<op::Qr>({param({5})->output(0)}, op::QrMode::r); }).find("rank >= 2"),
              std::string::npos);
}

TEST(LinalgFactor, ByHand) {
    // A = [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]]; eigenvalues (7 ∓ √17) / 2
    auto a = cst(Tensor::from_vector<double>({4, 2, 2, 3}, {2, 2}));
    auto ch = run(*make<op::Cholesky>({a}, false));
    expect_near(ch[0].as_f64_vector(), {2, 0, 1, std::sqrt(2.0)});
    EXPECT_EQ(ch[1].as_i64_vector(), std::vector<int64_t>{0});
    auto bad = run(*make<op::Cholesky>({cst(Tensor::from_vector<double>({1, 2, 2, 1}, {2, 2}))}, false));
    EXPECT_EQ(bad[1].as_i64_vector(), std::vector<int64_t>{2});  // the 2x2 leading minor is -3
    auto eg = run(*make<op::Eigh>({a}, true));
    expect_near(eg[0].as_f64_vector(), {(7 - std::sqrt(17.0)) / 2, (7 + std::sqrt(17.0)) / 2});
    // QR of [[3], [4]]: LAPACK's reflection gives R = [[-5]], Q = [[-0.6], [-0.8]]
    auto q = run(*make<op::Qr>({cst(Tensor::from_vector<double>({3, 4}, {2, 1}))}, op::QrMode::reduced));
    expect_near(q[0].as_f64_vector(), {-0.6, -0.8});
    expect_near(q[1].as_f64_vector(), {-5});
}
