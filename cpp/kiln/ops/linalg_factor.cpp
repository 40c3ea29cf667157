#include "kiln/ops/linalg_factor.hpp"

#include "kiln/ops/linalg.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace kiln::op {

namespace {

void check_float_data(const InferContext& ctx, Type t) {
    if (t != Type::dynamic && t != Type::f32 && t != Type::f64) ctx.fail("data must be f32 or f64, got ", type_name(t));
}

// The batch dims and the last two of a rank >= 2 shape (nullopt-like: rank dynamic -> false).
bool split_matrix_shape(const InferContext& ctx, const PartialShape& s, std::vector<Dimension>& batch, Dimension& m,
                        Dimension& n) {
    if (s.rank_is_dynamic()) return false;
    if (s.rank() < 2) ctx.fail("data must be [..., M, N] (rank >= 2), got ", s.to_string());
    batch.assign(s.dims().begin(), s.dims().end() - 2);
    m = s[s.size() - 2];
    n = s[s.size() - 1];
    return true;
}

PartialShape with_tail(std::vector<Dimension> d, std::initializer_list<Dimension> tail) {
    d.insert(d.end(), tail.begin(), tail.end());
    return PartialShape(d);
}

// One f32/f64 input of square matrices [..., N, N]: its batch dims and N; false (after setting
// every output, of `types`, dynamic) when its rank is not known.
bool square_input(InferContext& ctx, std::initializer_list<Type> types, std::vector<Dimension>& batch, Dimension& n) {
    ctx.check_inputs(1);
    check_float_data(ctx, ctx.input_type(0));
    Dimension m;
    if (!split_matrix_shape(ctx, ctx.input_shape(0), batch, m, n)) {
        size_t i = 0;
        for (Type t : types) ctx.set_output(i++, t, PartialShape::dynamic());
        return false;
    }
    auto merged = Dimension::merge(m, n);
    if (!merged) ctx.fail("the matrices must be square, got ", ctx.input_shape(0).to_string());
    n = *merged;
    return true;
}

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

// Householder QR of one m x n row-major matrix (LAPACK geqr2 + orgqr): r gets R (m x n, zeros
// below the diagonal), q (when given) the first qc columns of Q (m x qc).
void householder_qr(std::vector<double>& a, int64_t m, int64_t n, std::vector<double>* q, int64_t qc) {
    const int64_t k = std::min(m, n);
    std::vector<double> tau(k, 0.0), v(m);
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
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < std::min(i, n); ++j) a[i * n + j] = 0;
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
            int64_t big = 0;
            for (int64_t r = 1; r < n; ++r)
                if (std::fabs(v[r * n + src]) > std::fabs(v[big * n + src])) big = r;
            const double sign = v[big * n + src] < 0 ? -1.0 : 1.0;
            for (int64_t r = 0; r < n; ++r) vb[r * n + c] = static_cast<T>(sign * v[r * n + src]);
        }
    }
}

}  // namespace

void Cholesky::infer(InferContext& ctx) const {
    std::vector<Dimension> batch;
    Dimension n;
    const Type t = ctx.input_type(0);
    if (!square_input(ctx, {t, Type::i32}, batch, n)) return;
    ctx.set_output(0, t, ctx.input_shape(0));
    ctx.set_output(1, Type::i32, PartialShape(batch));
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
    ctx.check_inputs(1);
    const Type t = ctx.input_type(0);
    check_float_data(ctx, t);
    std::vector<Dimension> batch;
    Dimension m, n;
    if (!split_matrix_shape(ctx, ctx.input_shape(0), batch, m, n)) {
        ctx.set_output(0, t, mode == QrMode::r ? PartialShape(std::vector<Dimension>{Dimension(0)}) : PartialShape::dynamic());
        ctx.set_output(1, t, PartialShape::dynamic());
        return;
    }
    const int64_t hm = m.get_max_length(), hn = n.get_max_length();  // -1: unbounded
    const Dimension k(std::min(m.get_min_length(), n.get_min_length()), hm < 0 ? hn : hn < 0 ? hm : std::min(hm, hn));
    switch (mode) {
        case QrMode::reduced:
            ctx.set_output(0, t, with_tail(batch, {m, k}));
            ctx.set_output(1, t, with_tail(batch, {k, n}));
            break;
        case QrMode::complete:
            ctx.set_output(0, t, with_tail(batch, {m, m}));
            ctx.set_output(1, t, with_tail(batch, {m, n}));
            break;
        case QrMode::r:
            ctx.set_output(0, t, PartialShape(std::vector<Dimension>{Dimension(0)}));
            ctx.set_output(1, t, with_tail(batch, {k, n}));
            break;
    }
}

void Qr::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) qr<float>(in[0], mode, out[0], out[1]);
    else qr<double>(in[0], mode, out[0], out[1]);
}

void Eigh::infer(InferContext& ctx) const {
    std::vector<Dimension> batch;
    Dimension n;
    const Type t = ctx.input_type(0);
    if (!square_input(ctx, {t, t}, batch, n)) return;
    ctx.set_output(0, t, with_tail(batch, {n}));
    ctx.set_output(1, t, ctx.input_shape(0));
}

void Eigh::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32) eigh<float>(in[0], lower, out[0], out[1]);
    else eigh<double>(in[0], lower, out[0], out[1]);
}

}  // namespace kiln::op
