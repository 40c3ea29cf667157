#include "kiln/ops/linalg.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace kiln::op {

namespace {

// [..., N, N] float data; returns the batch shape.
PartialShape infer_square(const InferContext& ctx) {
    ctx.check_inputs(1);
    Type t = ctx.input_type(0);
    if (t != Type::dynamic && t != Type::f32 && t != Type::f64)
        ctx.fail("data must be f32 or f64, got ", type_name(t));
    const PartialShape& s = ctx.input_shape(0);
    if (s.rank_is_dynamic()) return PartialShape::dynamic();
    if (s.rank() < 2) ctx.fail("data must be [..., N, N] (rank >= 2), got ", s.to_string());
    const Dimension& a = s[s.size() - 2];
    const Dimension& b = s[s.size() - 1];
    if (!Dimension::merge(a, b))
        ctx.fail("the matrices must be square, got ", s.to_string());
    return PartialShape(std::vector<Dimension>(s.dims().begin(), s.dims().end() - 2));
}

// LU with partial pivoting of the n x n row-major matrix m (in place). Returns the permutation
// sign, 0 when a pivot is exactly zero (the matrix is singular); perm[i] = source row of row i.
int lu(std::vector<double>& m, int64_t n, std::vector<int64_t>& perm) {
    perm.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm[i] = i;
    int sign = 1;
    for (int64_t c = 0; c < n; ++c) {
        int64_t p = c;
        for (int64_t r = c + 1; r < n; ++r)
            if (std::abs(m[r * n + c]) > std::abs(m[p * n + c])) p = r;
        if (m[p * n + c] == 0.0) return 0;
        if (p != c) {
            for (int64_t k = 0; k < n; ++k) std::swap(m[c * n + k], m[p * n + k]);
            std::swap(perm[c], perm[p]);
            sign = -sign;
        }
        const double inv = 1.0 / m[c * n + c];
        for (int64_t r = c + 1; r < n; ++r) {
            const double f = m[r * n + c] * inv;
            m[r * n + c] = f;
            if (f == 0.0) continue;
            for (int64_t k = c + 1; k < n; ++k) m[r * n + k] -= f * m[c * n + k];
        }
    }
    return sign;
}

template <typename T>
void load(const T* src, int64_t n, bool transpose, std::vector<double>& m) {
    m.resize(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) m[i * n + j] = static_cast<double>(transpose ? src[j * n + i] : src[i * n + j]);
}

template <typename T>
void inverse(const Node& node, const Tensor& x, Tensor& y, bool adjoint) {
    const Shape& s = x.shape();
    const int64_t n = s.back(), mats = n == 0 ? 0 : static_cast<int64_t>(x.size()) / (n * n);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int64_t singular = -1;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < mats; ++b) {
        std::vector<double> m;
        std::vector<int64_t> perm;
        load(xp + b * n * n, n, adjoint, m);
        if (lu(m, n, perm) == 0) {
#pragma omp critical
            if (singular < 0 || b < singular) singular = b;
            continue;
        }
        // Solve L U X = P I column by column.
        std::vector<double> col(static_cast<size_t>(n));
        for (int64_t c = 0; c < n; ++c) {
            for (int64_t i = 0; i < n; ++i) col[i] = perm[i] == c ? 1.0 : 0.0;
            for (int64_t i = 0; i < n; ++i)
                for (int64_t k = 0; k < i; ++k) col[i] -= m[i * n + k] * col[k];
            for (int64_t i = n - 1; i >= 0; --i) {
                for (int64_t k = i + 1; k < n; ++k) col[i] -= m[i * n + k] * col[k];
                col[i] /= m[i * n + i];
            }
            for (int64_t i = 0; i < n; ++i) yp[b * n * n + i * n + c] = static_cast<T>(col[i]);
        }
    }
    if (singular >= 0)
        throw ValueError(str_cat("[", node.type_name(), " ", node.name(), "] matrix ", singular, " of the batch (shape ",
                                 to_string(s), ") is singular: it has no inverse"));
}

// Sign and log|det| (log = true) or det of each matrix.
template <typename T>
void determinant(const Tensor& x, Tensor* det, Tensor* sign, Tensor* logabs) {
    const Shape& s = x.shape();
    const int64_t n = s.back();
    const int64_t mats = static_cast<int64_t>(shape_size(Shape(s.begin(), s.end() - 2)));
    const T* xp = x.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < mats; ++b) {
        std::vector<double> m;
        std::vector<int64_t> perm;
        load(xp + b * n * n, n, false, m);
        int sg = lu(m, n, perm);
        double d = sg, la = 0.0;
        for (int64_t i = 0; i < n && sg != 0; ++i) {
            double p = m[i * n + i];
            d *= p;
            if (p < 0) sg = -sg;
            la += std::log(std::abs(p));
        }
        if (sg == 0) {
            d = 0.0;
            la = -std::numeric_limits<double>::infinity();
        }
        if (det) det->data<T>()[b] = static_cast<T>(d);
        if (sign) sign->data<T>()[b] = static_cast<T>(sg);
        if (logabs) logabs->data<T>()[b] = static_cast<T>(la);
    }
}

void check_float(const Node& n, Type t) {
    if (t != Type::f32 && t != Type::f64)
        throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", type_name(t),
                            " has no reference kernel (f32, f64)"));
}

}  // namespace

void Inverse::infer(InferContext& ctx) const {
    infer_square(ctx);
    ctx.set_output(0, ctx.input_type(0), ctx.input_shape(0));
}

void Inverse::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) inverse<float>(*this, in[0], out[0], adjoint);
    else inverse<double>(*this, in[0], out[0], adjoint);
}

void Determinant::infer(InferContext& ctx) const { ctx.set_output(0, ctx.input_type(0), infer_square(ctx)); }

void Determinant::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) determinant<float>(in[0], &out[0], nullptr, nullptr);
    else determinant<double>(in[0], &out[0], nullptr, nullptr);
}

void LogDeterminant::infer(InferContext& ctx) const {
    auto s = infer_square(ctx);
    ctx.set_output(0, ctx.input_type(0), s);
    ctx.set_output(1, ctx.input_type(0), s);
}

void LogDeterminant::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) determinant<float>(in[0], nullptr, &out[0], &out[1]);
    else determinant<double>(in[0], nullptr, &out[0], &out[1]);
}

}  // namespace kiln::op
