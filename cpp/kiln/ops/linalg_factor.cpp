#include "kiln/ops/linalg_factor.hpp"

#include "kiln/ops/linalg.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace kiln::op {

namespace {

// batch count, rows, cols of a static [..., M, N] tensor
void matrix_dims(const Shape& s, int64_t& batch, int64_t& m, int64_t& n) {
    m = s[s.size() - 2];
    n = s[s.size() - 1];
    batch = 1;
    for (size_t i = 0; i + 2 < s.size(); ++i) batch *= s[i];
}

template <typename T>
void cholesky(const Tensor& x, bool upper, Tensor& out, Tensor& info) {
    int64_t batch, n, n2;
    matrix_dims(x.shape(), batch, n, n2);
    const T* a = x.data<T>();
    T* y = out.data<T>();
    int32_t* inf = info.data<int32_t>();
    std::vector<double> l(n * n);
    for (int64_t b = 0; b < batch; ++b) {
        const T* ab = a + b * n * n;
        std::fill(l.begin(), l.end(), 0.0);
        int32_t bad = 0;
        for (int64_t j = 0; j < n; ++j) {
            double d = ab[j * n + j];
            for (int64_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
            if (!(d > 0) && bad == 0) bad = static_cast<int32_t>(j + 1);
            const double ljj = bad ? std::numeric_limits<double>::quiet_NaN() : std::sqrt(d);
            l[j * n + j] = ljj;
            for (int64_t i = j + 1; i < n; ++i) {
                double s = ab[i * n + j];  // the lower triangle
                for (int64_t k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / ljj;
            }
        }
        inf[b] = bad;
        T* yb = y + b * n * n;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) yb[i * n + j] = static_cast<T>(upper ? l[j * n + i] : l[i * n + j]);
    }
}

// Householder QR of one m x n row-major matrix (LAPACK geqr2 + orgqr): a becomes R (m x n, zeros
// below the diagonal: each column's are zeroed by its reflection, or were zero), q (when given)
// the first qc columns of Q (m x qc).
void householder_qr(std::vector<double>& a, int64_t m, int64_t n, std::vector<double>* q, int64_t qc) {
    const int64_t k = std::min(m, n);
    std::vector<double> tau(k, 0.0);
    std::vector<std::vector<double>> vs(k);
    for (int64_t j = 0; j < k; ++j) {
        const double alpha = a[j * n + j];
        double xnorm = 0;
        for (int64_t i = j + 1; i < m; ++i) xnorm = std::hypot(xnorm, a[i * n + j]);
        vs[j].assign(m - j, 0.0);
        if (xnorm == 0) continue;  // H = I: the column is already reduced (tau 0)
        const double beta = -std::copysign(std::hypot(alpha, xnorm), alpha);
        tau[j] = (beta - alpha) / beta;
        const double scale = 1 / (alpha - beta);
        vs[j][0] = 1;
        for (int64_t i = j + 1; i < m; ++i) vs[j][i - j] = a[i * n + j] * scale;
        // apply H = I - tau v vᵀ to the columns right of j
        for (int64_t c = j + 1; c < n; ++c) {
            double dot = 0;
            for (int64_t i = j; i < m; ++i) dot += vs[j][i - j] * a[i * n + c];
            dot *= tau[j];
            for (int64_t i = j; i < m; ++i) a[i * n + c] -= dot * vs[j][i - j];
        }
        a[j * n + j] = beta;
        for (int64_t i = j + 1; i < m; ++i) a[i * n + j] = 0;
    }
    if (!q) return;
    // Q = H_0 H_1 ... H_{k-1} applied to the identity's first qc columns, last reflection first
    q->assign(m * qc, 0.0);
    for (int64_t i = 0; i < std::min(m, qc); ++i) (*q)[i * qc + i] = 1;
    for (int64_t j = k - 1; j >= 0; --j) {
        if (tau[j] == 0) continue;
        for (int64_t c = 0; c < qc; ++c) {
            double dot = 0;
            for (int64_t i = j; i < m; ++i) dot += vs[j][i - j] * (*q)[i * qc + c];
            dot *= tau[j];
            for (int64_t i = j; i < m; ++i) (*q)[i * qc + c] -= dot * vs[j][i - j];
        }
    }
}

template <typename T>
void qr(const Tensor& x, QrMode mode, Tensor& qout, Tensor& rout) {
    int64_t batch, m, n;
    matrix_dims(x.shape(), batch, m, n);
    const int64_t k = std::min(m, n);
    const int64_t qc = mode == QrMode::complete ? m : k;
    const int64_t rr = mode == QrMode::complete ? m : k;
    std::vector<double> a(m * n), q;
    for (int64_t b = 0; b < batch; ++b) {
        const T* xb = x.data<T>() + b * m * n;
        for (int64_t i = 0; i < m * n; ++i) a[i] = xb[i];
        householder_qr(a, m, n, mode == QrMode::r ? nullptr : &q, qc);
        T* rb = rout.data<T>() + b * rr * n;
        for (int64_t i = 0; i < rr * n; ++i) rb[i] = static_cast<T>(a[i]);
        if (mode == QrMode::r) continue;
        T* qb = qout.data<T>() + b * m * qc;
        for (int64_t i = 0; i < m * qc; ++i) qb[i] = static_cast<T>(q[i]);
    }
}

// Cyclic Jacobi on a symmetric n x n row-major s (overwritten): eigenvalues w, eigenvectors v
// (columns), ascending.
void jacobi_eigh(std::vector<double>& s, int64_t n, std::vector<double>& w, std::vector<double>& v) {
    v.assign(n * n, 0.0);
    for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1;
    double total = 0;
    for (double e : s) total += e * e;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) off += 2 * s[p * n + q] * s[p * n + q];
        if (off <= 1e-30 * total || off == 0) break;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                const double apq = s[p * n + q];
                if (apq == 0) continue;
                const double theta = (s[q * n + q] - s[p * n + p]) / (2 * apq);
                const double t = std::copysign(1.0, theta) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), sn = t * c;
                for (int64_t r = 0; r < n; ++r) {  // columns p, q
                    const double srp = s[r * n + p], srq = s[r * n + q];
                    s[r * n + p] = c * srp - sn * srq;
                    s[r * n + q] = sn * srp + c * srq;
                }
                for (int64_t r = 0; r < n; ++r) {  // rows p, q
                    const double spr = s[p * n + r], sqr = s[q * n + r];
                    s[p * n + r] = c * spr - sn * sqr;
                    s[q * n + r] = sn * spr + c * sqr;
                }
                for (int64_t r = 0; r < n; ++r) {
                    const double vrp = v[r * n + p], vrq = v[r * n + q];
                    v[r * n + p] = c * vrp - sn * vrq;
                    v[r * n + q] = sn * vrp + c * vrq;
                }
            }
    }
    w.resize(n);
    for (int64_t i = 0; i < n; ++i) w[i] = s[i * n + i];
}

template <typename T>
void eigh(const Tensor& x, bool lower, Tensor& wout, Tensor& vout) {
    int64_t batch, n, n2;
    matrix_dims(x.shape(), batch, n, n2);
    std::vector<double> s(n * n), w, v;
    std::vector<int64_t> order(n);
    for (int64_t b = 0; b < batch; ++b) {
        const T* xb = x.data<T>() + b * n * n;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const bool in_triangle = lower ? j <= i : j >= i;
                s[i * n + j] = in_triangle ? xb[i * n + j] : xb[j * n + i];
            }
        jacobi_eigh(s, n, w, v);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return w[p] < w[q]; });
        T* wb = wout.data<T>() + b * n;
        T* vb = vout.data<T>() + b * n * n;
        for (int64_t c = 0; c < n; ++c) {
            const int64_t src = order[c];
            wb[c] = static_cast<T>(w[src]);
            const double sign = column_sign(v, n, n, src);
            for (int64_t r = 0; r < n; ++r) vb[r * n + c] = static_cast<T>(sign * v[r * n + src]);
        }
    }
}

}  // namespace

void Cholesky::infer(InferContext& ctx) const {
    const Type t = ctx.input_type(0);
    auto ms = matrix_input(ctx, true);
    ctx.set_output(0, t, ctx.input_shape(0));
    ctx.set_output(1, Type::i32, ms ? PartialShape(ms->batch) : PartialShape::dynamic());
}

void Cholesky::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) cholesky<float>(in[0], upper, out[0], out[1]);
    else cholesky<double>(in[0], upper, out[0], out[1]);
}

void Qr::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "mode", mode, {{QrMode::reduced, "reduced"}, {QrMode::complete, "complete"}, {QrMode::r, "r"}});
}

void Qr::infer(InferContext& ctx) const {
    const Type t = ctx.input_type(0);
    const PartialShape empty(std::vector<Dimension>{Dimension(0)});
    auto ms = matrix_input(ctx, false);
    if (!ms) {
        ctx.set_output(0, t, mode == QrMode::r ? empty : PartialShape::dynamic());
        ctx.set_output(1, t, PartialShape::dynamic());
        return;
    }
    const Dimension &m = ms->m, &n = ms->n, &k = ms->k;
    switch (mode) {
        case QrMode::reduced:
            ctx.set_output(0, t, ms->with({m, k}));
            ctx.set_output(1, t, ms->with({k, n}));
            break;
        case QrMode::complete:
            ctx.set_output(0, t, ms->with({m, m}));
            ctx.set_output(1, t, ms->with({m, n}));
            break;
        case QrMode::r:
            ctx.set_output(0, t, empty);
            ctx.set_output(1, t, ms->with({k, n}));
            break;
    }
}

void Qr::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) qr<float>(in[0], mode, out[0], out[1]);
    else qr<double>(in[0], mode, out[0], out[1]);
}

void Eigh::infer(InferContext& ctx) const {
    const Type t = ctx.input_type(0);
    auto ms = matrix_input(ctx, true);
    ctx.set_output(0, t, ms ? ms->with({ms->n}) : PartialShape::dynamic());
    ctx.set_output(1, t, ctx.input_shape(0));
}

void Eigh::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) eigh<float>(in[0], lower, out[0], out[1]);
    else eigh<double>(in[0], lower, out[0], out[1]);
}

}  // namespace kiln::op
