#include "kiln/ops/linalg.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace kiln::op {

namespace {

// [..., N, N] float data; returns the batch shape.
PartialShape infer_square(const InferContext& ctx) {
    auto ms = matrix_input(ctx, true);
    return ms ? PartialShape(ms->batch) : PartialShape::dynamic();
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

// One matrix a (m x n, row-major, m >= n) -> u (m x cu, row-major), s (n), v (n x n, row-major)
// with a = u[:, :n] diag(s) v^T, cu = m (full) or n. One-sided Jacobi (Hestenes): rotate column
// pairs of w = a v until every pair is orthogonal; then s_j = |w_j| and u_j = w_j / s_j.
void svd_tall(const std::vector<double>& a, int64_t m, int64_t n, bool full, std::vector<double>& u,
              std::vector<double>& s, std::vector<double>& v) {
    const double eps = std::numeric_limits<double>::epsilon();
    std::vector<double> w(a);
    std::vector<double> vv(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) vv[i * n + i] = 1.0;
    for (int sweep = 0; sweep < 80; ++sweep) {
        bool rotated = false;
        for (int64_t p = 0; p + 1 < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                double alpha = 0, beta = 0, gamma = 0;
                for (int64_t i = 0; i < m; ++i) {
                    double wp = w[i * n + p], wq = w[i * n + q];
                    alpha += wp * wp;
                    beta += wq * wq;
                    gamma += wp * wq;
                }
                if (gamma == 0.0 || std::abs(gamma) <= eps * std::sqrt(alpha * beta)) continue;
                rotated = true;
                const double zeta = (beta - alpha) / (2 * gamma);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::abs(zeta) + std::sqrt(1 + zeta * zeta));
                const double c = 1 / std::sqrt(1 + t * t), sn = c * t;
                for (int64_t i = 0; i < m; ++i) {
                    double wp = w[i * n + p], wq = w[i * n + q];
                    w[i * n + p] = c * wp - sn * wq;
                    w[i * n + q] = sn * wp + c * wq;
                }
                for (int64_t i = 0; i < n; ++i) {
                    double vp = vv[i * n + p], vq = vv[i * n + q];
                    vv[i * n + p] = c * vp - sn * vq;
                    vv[i * n + q] = sn * vp + c * vq;
                }
            }
        if (!rotated) break;
    }
    std::vector<double> norms(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
        double sq = 0;
        for (int64_t i = 0; i < m; ++i) sq += w[i * n + j] * w[i * n + j];
        norms[j] = std::sqrt(sq);
    }
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return norms[x] > norms[y]; });
    const int64_t cu = full ? m : n;
    u.assign(static_cast<size_t>(m * cu), 0.0);
    s.assign(static_cast<size_t>(n), 0.0);
    v.assign(static_cast<size_t>(n * n), 0.0);
    const double tiny = (n ? norms[order[0]] : 0.0) * static_cast<double>(std::max(m, n)) * eps;
    std::vector<bool> have(static_cast<size_t>(cu), false);
    for (int64_t k = 0; k < n; ++k) {
        const int64_t j = order[k];
        s[k] = norms[j];
        for (int64_t i = 0; i < n; ++i) v[i * n + k] = vv[i * n + j];
        if (norms[j] > tiny && norms[j] > 0) {
            for (int64_t i = 0; i < m; ++i) u[i * cu + k] = w[i * n + j] / norms[j];
            have[k] = true;
        }
    }
    // The columns still missing: unit vectors orthogonalized against those there (twice, for
    // rounding), the candidate with the most left taken each time.
    for (int64_t k = 0; k < cu; ++k) {
        if (have[k]) continue;
        std::vector<double> best;
        double best_norm = -1;
        for (int64_t e = 0; e < m; ++e) {
            std::vector<double> x(static_cast<size_t>(m), 0.0);
            x[e] = 1.0;
            for (int pass = 0; pass < 2; ++pass)
                for (int64_t c = 0; c < cu; ++c) {
                    if (!have[c]) continue;
                    double d = 0;
                    for (int64_t i = 0; i < m; ++i) d += u[i * cu + c] * x[i];
                    for (int64_t i = 0; i < m; ++i) x[i] -= d * u[i * cu + c];
                }
            double nx = 0;
            for (double xi : x) nx += xi * xi;
            if (nx > best_norm) {
                best_norm = nx;
                best = x;
            }
        }
        const double inv = 1 / std::sqrt(best_norm);
        for (int64_t i = 0; i < m; ++i) u[i * cu + k] = best[i] * inv;
        have[k] = true;
    }
    // The sign: the largest-magnitude entry of each column of U positive (V's column follows).
    for (int64_t k = 0; k < cu; ++k) {
        if (column_sign(u, m, cu, k) > 0) continue;
        for (int64_t i = 0; i < m; ++i) u[i * cu + k] = -u[i * cu + k];
        if (k < n)
            for (int64_t i = 0; i < n; ++i) v[i * n + k] = -v[i * n + k];
    }
}

template <typename T>
void svd(const Tensor& x, bool full, Tensor& uo, Tensor& so, Tensor& vho) {
    const Shape& sh = x.shape();
    const int64_t m = sh[sh.size() - 2], n = sh.back(), k = std::min(m, n);
    const int64_t mats = static_cast<int64_t>(shape_size(Shape(sh.begin(), sh.end() - 2)));
    const int64_t cu = full ? m : k, rv = full ? n : k;  // U's columns, Vh's rows
    const T* xp = x.data<T>();
    T* up = uo.data<T>();
    T* sp = so.data<T>();
    T* vp = vho.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < mats; ++b) {
        const T* src = xp + b * m * n;
        const bool wide = m < n;  // then a^T = U' S V'^T, and a = V' S U'^T
        const int64_t tm = wide ? n : m, tn = wide ? m : n;
        std::vector<double> a(static_cast<size_t>(tm * tn)), u, s, v;
        for (int64_t i = 0; i < tm; ++i)
            for (int64_t j = 0; j < tn; ++j) a[i * tn + j] = static_cast<double>(wide ? src[j * n + i] : src[i * n + j]);
        svd_tall(a, tm, tn, full, u, s, v);
        const int64_t tcu = full ? tm : tn;  // columns of the tall factor u
        for (int64_t j = 0; j < k; ++j) sp[b * k + j] = static_cast<T>(s[j]);
        T* ub = up + b * m * cu;
        T* vb = vp + b * rv * n;
        if (!wide) {
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < cu; ++j) ub[i * cu + j] = static_cast<T>(u[i * tcu + j]);
            for (int64_t i = 0; i < rv; ++i)  // Vh = V^T (rv == n == k here)
                for (int64_t j = 0; j < n; ++j) vb[i * n + j] = static_cast<T>(v[j * tn + i]);
        } else {
            for (int64_t i = 0; i < m; ++i)  // U = V' (m x m, m == k)
                for (int64_t j = 0; j < cu; ++j) ub[i * cu + j] = static_cast<T>(v[i * tn + j]);
            for (int64_t i = 0; i < rv; ++i)  // Vh = U'^T (rows of U' columns)
                for (int64_t j = 0; j < n; ++j) vb[i * n + j] = static_cast<T>(u[j * tcu + i]);
        }
    }
}

}  // namespace

std::optional<MatrixShape> matrix_input(const InferContext& ctx, bool square) {
    ctx.check_inputs(1);
    const Type t = ctx.input_type(0);
    if (t != Type::dynamic && t != Type::f32 && t != Type::f64) ctx.fail("data must be f32 or f64, got ", type_name(t));
    const PartialShape& s = ctx.input_shape(0);
    if (s.rank_is_dynamic()) return std::nullopt;
    if (s.rank() < 2) ctx.fail("data must be ", square ? "[..., N, N]" : "[..., M, N]", " (rank >= 2), got ", s.to_string());
    MatrixShape ms;
    ms.batch.assign(s.dims().begin(), s.dims().end() - 2);
    ms.m = s[s.size() - 2];
    ms.n = s[s.size() - 1];
    if (square) {
        auto merged = Dimension::merge(ms.m, ms.n);
        if (!merged) ctx.fail("the matrices must be square, got ", s.to_string());
        ms.m = ms.n = *merged;
    }
    const int64_t hm = ms.m.get_max_length(), hn = ms.n.get_max_length();  // -1: unbounded
    ms.k = Dimension(std::min(ms.m.get_min_length(), ms.n.get_min_length()),
                     hm < 0 ? hn : hn < 0 ? hm : std::min(hm, hn));
    return ms;
}

PartialShape MatrixShape::with(std::initializer_list<Dimension> tail) const {
    std::vector<Dimension> d = batch;
    d.insert(d.end(), tail.begin(), tail.end());
    return PartialShape(d);
}

double column_sign(const std::vector<double>& a, int64_t rows, int64_t cols, int64_t col) {
    int64_t arg = 0;
    for (int64_t i = 1; i < rows; ++i)
        if (std::abs(a[i * cols + col]) > std::abs(a[arg * cols + col])) arg = i;
    return a[arg * cols + col] < 0 ? -1.0 : 1.0;
}

void check_float(const Node& n, Type t) {
    if (t != Type::f32 && t != Type::f64)
        throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", type_name(t),
                            " has no reference kernel (f32, f64)"));
}

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

void Svd::infer(InferContext& ctx) const {
    const Type t = ctx.input_type(0);
    auto ms = matrix_input(ctx, false);
    if (!ms) {
        for (size_t i = 0; i < 3; ++i) ctx.set_output(i, t, PartialShape::dynamic());
        return;
    }
    const Dimension &m = ms->m, &n = ms->n, &k = ms->k;
    ctx.set_output(0, t, ms->with({m, full_matrices ? m : k}));
    ctx.set_output(1, t, ms->with({k}));
    ctx.set_output(2, t, ms->with({full_matrices ? n : k, n}));
}

void Svd::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) svd<float>(in[0], full_matrices, out[0], out[1], out[2]);
    else svd<double>(in[0], full_matrices, out[0], out[1], out[2]);
}

}  // namespace kiln::op
