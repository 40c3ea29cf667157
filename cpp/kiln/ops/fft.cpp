#include "kiln/ops/fft.hpp"

#include <cmath>
#include <complex>

#include "kiln/ops/infer_util.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::op {

namespace {

using cd = std::complex<double>;

constexpr bool complex_in(FFTKind k) { return k != FFTKind::rdft; }
constexpr bool complex_out(FFTKind k) { return k != FFTKind::irdft; }

// Axes normalized against the rank of the signal (the dims before the trailing 2 for complex).
std::vector<int64_t> signal_axes(const InferContext* ctx, const std::vector<int64_t>& axes, int64_t r,
                                 const std::string& who) {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
        int64_t n = a < 0 ? a + r : a;
        if (n < 0 || n >= r) {
            if (ctx) ctx->fail("axis ", a, " is out of range for a signal of rank ", r);
            throw ValueError(str_cat(who, " axis ", a, " is out of range for a signal of rank ", r));
        }
        for (int64_t b : out)
            if (b == n) {
                if (ctx) ctx->fail("axis ", a, " is repeated");
                throw ValueError(str_cat(who, " axis ", a, " is repeated"));
            }
        out.push_back(n);
    }
    return out;
}

// In-place 1-D transform of `n` values spaced `stride` apart (sign -1 forward, +1 inverse,
// unscaled).
void transform_1d(cd* x, int64_t n, int64_t stride, int sign, std::vector<cd>& work) {
    if (n <= 1) return;
    work.assign(static_cast<size_t>(n), cd());
    for (int64_t i = 0; i < n; ++i) work[static_cast<size_t>(i)] = x[i * stride];
    if ((n & (n - 1)) == 0) {
        // Iterative radix-2: bit-reversal permutation, then butterflies.
        for (int64_t i = 1, j = 0; i < n; ++i) {
            int64_t bit = n >> 1;
            for (; j & bit; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) std::swap(work[static_cast<size_t>(i)], work[static_cast<size_t>(j)]);
        }
        for (int64_t len = 2; len <= n; len <<= 1) {
            double ang = sign * 2 * M_PI / static_cast<double>(len);
            for (int64_t i = 0; i < n; i += len)
                for (int64_t k = 0; k < len / 2; ++k) {
                    cd w = std::polar(1.0, ang * static_cast<double>(k));
                    cd u = work[static_cast<size_t>(i + k)], v = work[static_cast<size_t>(i + k + len / 2)] * w;
                    work[static_cast<size_t>(i + k)] = u + v;
                    work[static_cast<size_t>(i + k + len / 2)] = u - v;
                }
        }
        for (int64_t i = 0; i < n; ++i) x[i * stride] = work[static_cast<size_t>(i)];
        return;
    }
    if (n <= 16) {
        for (int64_t k = 0; k < n; ++k) {
            cd s;
            for (int64_t t = 0; t < n; ++t) {
                // The angle reduced modulo n keeps it exact.
                double ang = sign * 2 * M_PI * static_cast<double>((k * t) % n) / static_cast<double>(n);
                s += work[static_cast<size_t>(t)] * std::polar(1.0, ang);
            }
            x[k * stride] = s;
        }
        return;
    }
    // Bluestein: k t = (k^2 + t^2 - (k - t)^2) / 2 turns the DFT into a convolution with the chirp
    // w_j = e^{sign i pi j^2 / n}, computed by radix-2 FFTs of a power-of-two length m >= 2n - 1.
    int64_t m = 1;
    while (m < 2 * n - 1) m <<= 1;
    std::vector<cd> w(static_cast<size_t>(n)), a(static_cast<size_t>(m)), b(static_cast<size_t>(m)), scratch;
    for (int64_t j = 0; j < n; ++j) {
        // j^2 mod 2n keeps the angle exact for long signals.
        auto q = static_cast<double>((j * j) % (2 * n));
        w[static_cast<size_t>(j)] = std::polar(1.0, sign * M_PI * q / static_cast<double>(n));
    }
    for (int64_t j = 0; j < n; ++j) {
        a[static_cast<size_t>(j)] = work[static_cast<size_t>(j)] * w[static_cast<size_t>(j)];
        b[static_cast<size_t>(j)] = std::conj(w[static_cast<size_t>(j)]);
        if (j > 0) b[static_cast<size_t>(m - j)] = std::conj(w[static_cast<size_t>(j)]);
    }
    transform_1d(a.data(), m, 1, -1, scratch);
    transform_1d(b.data(), m, 1, -1, scratch);
    for (int64_t j = 0; j < m; ++j) a[static_cast<size_t>(j)] *= b[static_cast<size_t>(j)];
    transform_1d(a.data(), m, 1, 1, scratch);
    for (int64_t k = 0; k < n; ++k)
        x[k * stride] = a[static_cast<size_t>(k)] * w[static_cast<size_t>(k)] / static_cast<double>(m);
}

// Transforms `x` (shape s) along axis a.
void transform_axis(std::vector<cd>& x, const Shape& s, int64_t a, int sign) {
    int64_t n = s[static_cast<size_t>(a)], inner = 1, outer = 1;
    for (size_t i = static_cast<size_t>(a) + 1; i < s.size(); ++i) inner *= s[i];
    for (size_t i = 0; i < static_cast<size_t>(a); ++i) outer *= s[i];
    std::vector<cd> work;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) transform_1d(x.data() + o * n * inner + i, n, inner, sign, work);
}

// x (shape from) copied into shape to: each dim cut or zero-padded at its end.
std::vector<cd> resized(const std::vector<cd>& x, const Shape& from, const Shape& to) {
    std::vector<cd> y(static_cast<size_t>(shape_size(to)));
    if (y.empty() || x.empty()) return y;
    auto sf = contiguous_strides(from), st = contiguous_strides(to);
    std::vector<int64_t> c(to.size(), 0);
    for (size_t f = 0; f < y.size(); ++f) {
        bool inside = true;
        int64_t off = 0;
        for (size_t d = 0; d < to.size(); ++d) {
            inside = inside && c[d] < from[d];
            off += c[d] * sf[d];
        }
        if (inside) y[f] = x[static_cast<size_t>(off)];
        for (size_t d = to.size(); d-- > 0;) {
            if (++c[d] < to[d]) break;
            c[d] = 0;
        }
    }
    return y;
}

}  // namespace

template <typename Derived, FFTKind Kind>
void FFTOp<Derived, Kind>::infer(InferContext& ctx) const {
    ctx.check_inputs(2, 3);
    check_integral(ctx, 1, "axes");
    if (ctx.num_inputs() > 2) check_integral(ctx, 2, "signal_size");
    Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || t == Type::f32 || t == Type::f64, "data must be f32 or f64, got ",
                     kiln::type_name(t));
    auto& s = ctx.input_shape(0);
    auto axes_v = known_ints(ctx, 1);
    KILN_INFER_CHECK(ctx, axes_v.has_value(), "axes must be a constant");
    if (s.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        return;
    }
    int64_t r = s.rank() - (complex_in(Kind) ? 1 : 0);
    if (complex_in(Kind)) {
        KILN_INFER_CHECK(ctx, s.rank() >= 2 && s[s.size() - 1].compatible(2),
                         "complex data needs a trailing dimension of 2, got ", s.to_string());
    }
    auto axes = signal_axes(&ctx, *axes_v, r, "");
    KILN_INFER_CHECK(ctx, !axes.empty(), "axes must not be empty");
    std::vector<Dimension> dims(s.dims().begin(), s.dims().begin() + r);
    std::optional<std::vector<int64_t>> sizes;
    if (ctx.num_inputs() > 2) {
        sizes = known_ints(ctx, 2);
        if (sizes) {
            KILN_INFER_CHECK(ctx, sizes->size() == axes.size(), "signal_size has ", sizes->size(), " values for ",
                             axes.size(), " axes");
        }
    }
    for (size_t i = 0; i < axes.size(); ++i) {
        auto& d = dims[static_cast<size_t>(axes[i])];
        bool last = i + 1 == axes.size();
        int64_t want = -1;
        if (ctx.num_inputs() > 2 && !sizes) {
            d = Dimension();
            continue;
        }
        if (sizes) want = (*sizes)[i];
        if (Kind == FFTKind::irdft && last) {
            if (want != -1) d = Dimension(want);
            else if (d.is_static()) d = Dimension(2 * (d.get_length() - 1));
            else d = Dimension();
        } else {
            if (want != -1) d = Dimension(want);
            if (Kind == FFTKind::rdft && last) d = d.is_static() ? Dimension(d.get_length() / 2 + 1) : Dimension();
        }
    }
    if (complex_out(Kind)) dims.push_back(Dimension(2));
    ctx.set_output(0, t, PartialShape(dims));
}

template <typename Derived, FFTKind Kind>
void FFTOp<Derived, Kind>::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    std::string who = str_cat("[", this->type_name(), " ", this->name(), "]");
    Shape s = in[0].shape();
    if (complex_in(Kind)) s.pop_back();
    auto r = static_cast<int64_t>(s.size());
    auto axes = signal_axes(nullptr, in[1].as_i64_vector(), r, who);
    std::vector<int64_t> sizes(axes.size(), -1);
    if (in.size() > 2) sizes = in[2].as_i64_vector();
    // The input as complex doubles.
    std::vector<cd> x(static_cast<size_t>(shape_size(s)));
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
            const T* p = in[0].data<T>();
            for (size_t i = 0; i < x.size(); ++i)
                x[i] = complex_in(Kind) ? cd(p[2 * i], p[2 * i + 1]) : cd(p[i], 0);
        } else {
            throw TypeError(str_cat(who, " data must be f32 or f64"));
        }
    });
    // Signal lengths: cut or pad first (IRDFT's last axis: to the half spectrum of its length).
    Shape target = s;
    int64_t n_last = 0;
    for (size_t i = 0; i < axes.size(); ++i) {
        auto a = static_cast<size_t>(axes[i]);
        bool last = i + 1 == axes.size();
        if (Kind == FFTKind::irdft && last) {
            n_last = sizes[i] != -1 ? sizes[i] : 2 * (s[a] - 1);
            if (n_last < 1) throw ValueError(str_cat(who, " the output length ", n_last, " must be positive"));
            target[a] = n_last / 2 + 1;
        } else if (sizes[i] != -1) {
            target[a] = sizes[i];
        }
    }
    x = resized(x, s, target);
    s = target;
    int sign = Kind == FFTKind::dft || Kind == FFTKind::rdft ? -1 : 1;
    double scale = 1;
    size_t full = axes.size() - (Kind == FFTKind::irdft ? 1 : 0);
    for (size_t i = 0; i < full; ++i) {
        transform_axis(x, s, axes[i], sign);
        scale *= static_cast<double>(s[static_cast<size_t>(axes[i])]);
    }
    if (Kind == FFTKind::irdft) {
        // Extend the half spectrum on the last axis by its conjugate mirror, transform, keep the
        // real part.
        auto a = static_cast<size_t>(axes.back());
        Shape fs = s;
        fs[a] = n_last;
        std::vector<cd> y = resized(x, s, fs);
        int64_t m = s[a], inner = 1, outer = 1;
        for (size_t i = a + 1; i < fs.size(); ++i) inner *= fs[i];
        for (size_t i = 0; i < a; ++i) outer *= fs[i];
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                cd* p = y.data() + o * n_last * inner + i;
                for (int64_t k = m; k < n_last; ++k) p[k * inner] = std::conj(p[(n_last - k) * inner]);
            }
        transform_axis(y, fs, axes.back(), 1);
        scale *= static_cast<double>(n_last);
        x = std::move(y);
        s = fs;
    }
    if (Kind == FFTKind::rdft) {
        auto a = static_cast<size_t>(axes.back());
        Shape hs = s;
        hs[a] = s[a] / 2 + 1;
        x = resized(x, s, hs);
        s = hs;
    }
    double k = Kind == FFTKind::idft || Kind == FFTKind::irdft ? 1.0 / scale : 1.0;
    visit_type(out[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
            T* o = out[0].data<T>();
            for (size_t i = 0; i < x.size(); ++i) {
                if (complex_out(Kind)) {
                    o[2 * i] = static_cast<T>(x[i].real() * k);
                    o[2 * i + 1] = static_cast<T>(x[i].imag() * k);
                } else {
                    o[i] = static_cast<T>(x[i].real() * k);
                }
            }
        }
    });
}

template class FFTOp<DFT, FFTKind::dft>;
template class FFTOp<IDFT, FFTKind::idft>;
template class FFTOp<RDFT, FFTKind::rdft>;
template class FFTOp<IRDFT, FFTKind::irdft>;

}  // namespace kiln::op
