// Complex tensors and the FFTs. kiln represents a torch complex tensor as OpenVINO does: a real
// tensor (f32 for complex64, f64 for complex128) with a trailing dimension of 2 holding (real,
// imag). The translators mark such values (TValue::complex); an op that reaches a complex value
// is translated by this file's complex table (find_complex_translator), and one without a complex
// translator is a ConversionError rather than a silent computation on the pairs. A complex model
// output is returned as that real pair: [..., 2].
// fft_fft/ifft/rfft/irfft/hfft/ihfft and their 2-D and N-D forms map to DFT/IDFT (opset7) and
// RDFT/IRDFT (opset9), with torch's norm modes (backward, forward, ortho) as a scale afterwards.
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/fft.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/scatter.hpp"

namespace kiln::frontend::pytorch {

namespace {

TValue complex_value(Output o) {
    TValue v(std::move(o));
    v.complex = true;
    return v;
}

bool is_complex(const TValue& v) { return v.kind == TValue::Kind::tensor && v.complex; }

// Input i as a complex pair tensor: complex as it is, real given a zero imaginary part (ints
// become f32, as torch's FFTs promote them).
Output pair_of(NodeContext& ctx, size_t i) {
    if (is_complex(ctx.value(i))) return ctx.value(i).out;
    Output x = ctx.input(i);
    if (!is_float(x.type()) || x.type() == Type::f16 || x.type() == Type::bf16) x = to_type(ctx, x, Type::f32);
    Output re = ctx.make<op::Unsqueeze>({x, ctx.i64({-1})});
    Output im = ctx.make<op::Multiply>({re, typed_scalar(ctx, x.type(), 0)});
    return ctx.make<op::Concat>(OutputVector{re, im}, int64_t{-1});
}

Output real_input(NodeContext& ctx, size_t i) {
    ctx.check(!is_complex(ctx.value(i)), "needs a real input");
    Output x = ctx.input(i);
    if (!is_float(x.type()) || x.type() == Type::f16 || x.type() == Type::bf16) x = to_type(ctx, x, Type::f32);
    return x;
}

Output part(NodeContext& ctx, const Output& c, int64_t k) {
    return ctx.make<op::Gather>({c, ctx.i64_scalar(k), ctx.i64_scalar(-1)}, int64_t{0});
}

Output make_pair(NodeContext& ctx, const Output& re, const Output& im) {
    return ctx.make<op::Concat>(OutputVector{ctx.make<op::Unsqueeze>({re, ctx.i64({-1})}),
                                             ctx.make<op::Unsqueeze>({im, ctx.i64({-1})})},
                                int64_t{-1});
}

// The signal rank of a value (a complex pair has one dim more).
int64_t signal_rank(NodeContext& ctx, const Output& x, bool complex) { return static_rank(ctx, x) - (complex ? 1 : 0); }

int64_t signal_axis(NodeContext& ctx, int64_t r, int64_t a) {
    int64_t n = a < 0 ? a + r : a;
    ctx.check(n >= 0 && n < r, "dim ", a, " is out of range for a tensor of rank ", r);
    return n;
}

// The signal dims at input i (one int or a list), or all r of them when it is absent or None.
std::vector<int64_t> signal_dims(NodeContext& ctx, size_t i, int64_t r) {
    std::vector<int64_t> dims;
    if (ctx.num_inputs() > i && !ctx.is_none(i)) {
        for (int64_t d : ctx.const_ints(i)) dims.push_back(signal_axis(ctx, r, d));
    } else {
        for (int64_t d = 0; d < r; ++d) dims.push_back(d);
    }
    return dims;
}

enum class Norm { backward, forward, ortho };

Norm norm_at(NodeContext& ctx, size_t i) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return Norm::backward;
    std::string s = ctx.const_str(i);
    if (s == "backward") return Norm::backward;
    if (s == "forward") return Norm::forward;
    if (s == "ortho") return Norm::ortho;
    ctx.fail("unknown norm '", s, "'");
}

Norm dual(Norm n) { return n == Norm::backward ? Norm::forward : n == Norm::forward ? Norm::backward : n; }

// The axes and signal sizes of one call: dims and s as torch gives them (an FFT of `n` along `dim`
// is dims {dim}, s {n}).
struct Plan {
    std::vector<int64_t> axes;
    std::vector<int64_t> sizes;  // -1: the input's length
    Output sizes_t;              // the sizes as a 1-D i64 tensor when they are known only at run time
};

// fftn-style arguments: s at input 1, dim at input 2 (None: the last len(s) dims, or all).
Plan plan_n(NodeContext& ctx, int64_t r, bool two_d) {
    Plan p;
    bool has_s = ctx.num_inputs() > 1 && !ctx.is_none(1);
    bool has_dim = ctx.num_inputs() > 2 && !ctx.is_none(2);
    bool runtime = has_s && !ctx.is_const(1);
    std::vector<int64_t> s;
    if (runtime) {
        p.sizes_t = int_list(ctx, 1);
        auto& ss = p.sizes_t.shape();
        ctx.check(ss.rank_is_static() && ss[0].is_static(), "s must have a known length");
        s.assign(static_cast<size_t>(ss[0].get_length()), 0);
    } else if (has_s) {
        s = ctx.const_ints(1);
    }
    std::vector<int64_t> dims;
    if (has_dim) {
        dims = ctx.const_ints(2);
    } else if (two_d) {
        dims = {-2, -1};
    } else if (has_s) {
        for (int64_t i = r - static_cast<int64_t>(s.size()); i < r; ++i) dims.push_back(i);
    } else {
        for (int64_t i = 0; i < r; ++i) dims.push_back(i);
    }
    ctx.check(!has_s || s.size() == dims.size(), "s and dim must have the same length");
    for (size_t i = 0; i < dims.size(); ++i) {
        p.axes.push_back(signal_axis(ctx, r, dims[i]));
        p.sizes.push_back(has_s ? s[i] : -1);
    }
    ctx.check(!p.axes.empty(), "no dims to transform");
    return p;
}

// One-dim arguments: n at input 1, dim at input 2.
Plan plan_1(NodeContext& ctx, int64_t r) {
    Plan p;
    int64_t dim = ctx.num_inputs() > 2 ? ctx.const_int(2) : -1;
    p.axes.push_back(signal_axis(ctx, r, dim));
    bool has_n = ctx.num_inputs() > 1 && !ctx.is_none(1);
    if (has_n && !ctx.is_const(1)) {
        p.sizes_t = int_list(ctx, 1);
        p.sizes.push_back(0);
    } else {
        p.sizes.push_back(has_n ? ctx.const_int(1) : -1);
    }
    return p;
}

// The product of the logical signal lengths (for norm scaling), as a scalar of type t.
Output length_product(NodeContext& ctx, const Output& x, const Plan& p, Type t, int64_t last_override_from_half = 0) {
    Output prod = typed_scalar(ctx, t, 1);
    for (size_t i = 0; i < p.axes.size(); ++i) {
        Output n;
        bool last = i + 1 == p.axes.size();
        if (p.sizes_t.node) {
            n = ctx.make<op::Gather>({p.sizes_t, ctx.i64_scalar(static_cast<int64_t>(i)), ctx.i64_scalar(0)}, int64_t{0});
        } else if (p.sizes[i] != -1) {
            n = ctx.i64_scalar(p.sizes[i]);
        } else {
            n = dim_of(ctx, x, p.axes[i]);
            if (last && last_override_from_half)  // irfft: 2 * (m - 1)
                n = ctx.make<op::Multiply>({ctx.make<op::Subtract>({n, ctx.i64_scalar(1)}), ctx.i64_scalar(2)});
        }
        prod = ctx.make<op::Multiply>({prod, to_type(ctx, n, t)});
    }
    return prod;
}

// y scaled for torch's norm: the op computed `computed` (forward unscaled, or inverse / n); want
// the mode's scale.
Output normed(NodeContext& ctx, const Output& y, Norm norm, bool inverse, const Output& n) {
    Type t = y.type();
    if (norm == Norm::backward) return y;
    if (norm == Norm::ortho) {
        Output s = ctx.make<op::Sqrt>({n});
        return inverse ? ctx.make<op::Multiply>({y, s}) : ctx.make<op::Divide>({y, s}, false);
    }
    // forward: the forward transform divides by n, the inverse does not.
    (void)t;
    return inverse ? ctx.make<op::Multiply>({y, n}) : ctx.make<op::Divide>({y, n}, false);
}

template <typename OpT>
Output fft_op(NodeContext& ctx, const Output& x, const Plan& p) {
    if (p.sizes_t.node) return ctx.make<OpT>({x, ctx.i64(p.axes), p.sizes_t});
    bool sized = false;
    for (auto s : p.sizes) sized = sized || s != -1;
    if (!sized) return ctx.make<OpT>({x, ctx.i64(p.axes)});
    return ctx.make<OpT>({x, ctx.i64(p.axes), ctx.i64(p.sizes)});
}

enum class Kind { c2c, c2c_inverse, r2c, c2r };

// One FFT translator: kind, plan style (1-D, 2-D or N-D), and whether it is hfft/ihfft (the
// conjugate forms).
template <Kind K, int Dims, bool Hermitian = false>
Outs fft(NodeContext& ctx) {
    bool cin = K == Kind::c2c || K == Kind::c2c_inverse || K == Kind::c2r;
    Output x = cin ? pair_of(ctx, 0) : real_input(ctx, 0);
    int64_t r = signal_rank(ctx, x, cin);
    Plan p = Dims == 1 ? plan_1(ctx, r) : plan_n(ctx, r, Dims == 2);
    Norm norm = norm_at(ctx, 3);
    if (Hermitian) norm = dual(norm);
    Type t = x.type();
    if (K == Kind::c2r) {
        if (Hermitian) x = make_pair(ctx, part(ctx, x, 0), ctx.make<op::Negative>({part(ctx, x, 1)}));
        Output y = fft_op<op::IRDFT>(ctx, x, p);
        return {normed(ctx, y, norm, true, length_product(ctx, x, p, t, 1))};
    }
    Output n = length_product(ctx, x, p, t);
    Output y;
    bool inverse = K == Kind::c2c_inverse;
    if (K == Kind::r2c) y = fft_op<op::RDFT>(ctx, x, p);
    else if (inverse) y = fft_op<op::IDFT>(ctx, x, p);
    else y = fft_op<op::DFT>(ctx, x, p);
    y = normed(ctx, y, norm, inverse, n);
    if (Hermitian) y = make_pair(ctx, part(ctx, y, 0), ctx.make<op::Negative>({part(ctx, y, 1)}));
    return {complex_value(y)};
}

// Core ATen's FFT primitives, which a program decomposed with run_decompositions() holds in place
// of the fft_* ops: _fft_r2c(x, dim, normalization, onesided), _fft_c2c(x, dim, normalization,
// forward), _fft_c2r(x, dim, normalization, last_dim_size). normalization 0 scales by 1, 1 by
// 1 / sqrt(n), 2 by 1 / n, n the product of the signal lengths (c2r: the output's); the inverse
// ops (IDFT, IRDFT) already divide by n.
enum class Prim { r2c, c2c, c2r };

template <Prim K>
Outs fft_prim(NodeContext& ctx) {
    const bool onesided_r2c = K == Prim::r2c && ctx.const_bool(3);
    Output x = K == Prim::r2c && onesided_r2c ? real_input(ctx, 0) : pair_of(ctx, 0);
    const int64_t r = signal_rank(ctx, x, !onesided_r2c);
    Plan p;
    for (int64_t d : ctx.const_ints(1)) {
        p.axes.push_back(signal_axis(ctx, r, d));
        p.sizes.push_back(-1);
    }
    ctx.check(!p.axes.empty(), "no dims to transform");
    const int64_t mode = ctx.const_int(2);
    ctx.check(mode >= 0 && mode <= 2, "unknown normalization ", mode, " (0 none, 1 by sqrt(n), 2 by n)");
    Output y;
    bool divided = false;
    if (K == Prim::c2r) {
        if (ctx.is_const(3)) {
            p.sizes.back() = ctx.const_int(3);
        } else {
            // The output length is computed at run time (2 * (m - 1) of a dynamic m): every
            // axis's size as one run-time list.
            OutputVector sizes;
            for (size_t i = 0; i + 1 < p.axes.size(); ++i)
                sizes.push_back(ctx.make<op::Unsqueeze>({dim_of(ctx, x, p.axes[i]), ctx.i64({0})}));
            sizes.push_back(ctx.make<op::Unsqueeze>({to_type(ctx, ctx.input(3), Type::i64), ctx.i64({0})}));
            p.sizes_t = sizes.size() == 1 ? sizes[0] : ctx.make<op::Concat>(sizes, int64_t{0});
        }
        y = fft_op<op::IRDFT>(ctx, x, p);
        divided = true;
    } else if (K == Prim::r2c) {
        y = onesided_r2c ? fft_op<op::RDFT>(ctx, x, p) : fft_op<op::DFT>(ctx, x, p);
    } else if (ctx.const_bool(3)) {
        y = fft_op<op::DFT>(ctx, x, p);
    } else {
        y = fft_op<op::IDFT>(ctx, x, p);
        divided = true;
    }
    Output n = length_product(ctx, x, p, x.type());
    if (divided && mode == 0) y = ctx.make<op::Multiply>({y, n});
    else if (divided && mode == 1) y = ctx.make<op::Multiply>({y, ctx.make<op::Sqrt>({n})});
    else if (!divided && mode == 1) y = ctx.make<op::Divide>({y, ctx.make<op::Sqrt>({n})}, false);
    else if (!divided && mode == 2) y = ctx.make<op::Divide>({y, n}, false);
    if (K == Prim::c2r) return {y};
    return {complex_value(y)};
}

// fftshift(x, dim=None) / ifftshift: a roll by n // 2 (ifftshift: -(n // 2)) on each dim.
template <bool Inverse>
Outs fftshift(NodeContext& ctx) {
    bool c = is_complex(ctx.value(0));
    Output x = c ? ctx.value(0).out : ctx.input(0);
    int64_t r = signal_rank(ctx, x, c);
    std::vector<int64_t> dims = signal_dims(ctx, 1, r);
    if (dims.empty()) return {ctx.value(0)};
    OutputVector shifts;
    for (int64_t d : dims) {
        Output n = dim_of(ctx, x, d);
        Output h = ctx.make<op::Divide>({n, ctx.i64_scalar(2)}, true);
        if (Inverse) h = ctx.make<op::Negative>({h});
        shifts.push_back(ctx.make<op::Unsqueeze>({h, ctx.i64({0})}));
    }
    Output y = ctx.make<op::Roll>({x, ctx.make<op::Concat>(shifts, int64_t{0}), ctx.i64(dims)});
    if (c) return {complex_value(y)};
    return {y};
}

// stft(x, n_fft, hop_length=None, win_length=None, window=None, normalized=False, onesided=None,
// return_complex=None, align_to_window=None) of a real x [L] or [B, L] (torch.stft's center
// padding happens in Python before this op): frames of n_fft every hop, times the window (padded
// to n_fft in the middle), each transformed: [B?, freq, frames] complex, or its real pair with
// return_complex=False.
Outs stft(NodeContext& ctx) {
    Output x = real_input(ctx, 0);
    int64_t r = static_rank(ctx, x);
    ctx.check(r == 1 || r == 2, "takes a 1-D or 2-D signal");
    int64_t n_fft = ctx.const_int(1);
    int64_t hop = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_int(2) : n_fft / 4;
    int64_t win = ctx.num_inputs() > 3 && !ctx.is_none(3) ? ctx.const_int(3) : n_fft;
    bool normalized = ctx.num_inputs() > 5 && ctx.const_bool(5);
    bool onesided = ctx.num_inputs() <= 6 || ctx.is_none(6) || ctx.const_bool(6);
    bool as_complex = ctx.num_inputs() > 7 && !ctx.is_none(7) && ctx.const_bool(7);
    ctx.check(ctx.num_inputs() <= 8 || ctx.is_none(8) || !ctx.const_bool(8), "align_to_window=True is not supported");
    ctx.check(n_fft > 0 && hop > 0 && win > 0 && win <= n_fft, "needs 0 < win_length <= n_fft and hop_length > 0");
    Output n = dim_of(ctx, x, -1);
    Output frames = ctx.make<op::Add>({ctx.make<op::Divide>({ctx.make<op::Subtract>({n, ctx.i64_scalar(n_fft)}), ctx.i64_scalar(hop)}, true),
                                       ctx.i64_scalar(1)});
    // A signal shorter than n_fft: torch raises; so does IndexCheck.
    Output ok = ctx.make<op::IndexCheck>({ctx.i64_scalar(n_fft - 1), n}, false, "n_fft - 1 (n_fft must not exceed the signal length)");
    Output starts = ctx.make<op::Multiply>({ctx.make<op::Range>({ctx.i64_scalar(0), frames, ctx.i64_scalar(1)}, Type::i64), ctx.i64_scalar(hop)});
    Output offs = ctx.make<op::Add>({ctx.make<op::Range>({ctx.i64_scalar(0), ctx.i64_scalar(n_fft), ctx.i64_scalar(1)}, Type::i64),
                                     ctx.make<op::Multiply>({ok, ctx.i64_scalar(0)})});
    Output idx = ctx.make<op::Add>({ctx.make<op::Unsqueeze>({starts, ctx.i64({1})}), ctx.make<op::Unsqueeze>({offs, ctx.i64({0})})});
    Output f = ctx.make<op::Gather>({x, idx, ctx.i64_scalar(r - 1)}, int64_t{0});  // [B?, frames, n_fft]
    if (ctx.num_inputs() > 4 && !ctx.is_none(4)) {
        Output w = to_type(ctx, ctx.input(4), x.type());
        if (win < n_fft) {
            int64_t left = (n_fft - win) / 2;
            w = ctx.make<op::Pad>({w, ctx.i64({left}), ctx.i64({n_fft - win - left}), typed_scalar(ctx, x.type(), 0)},
                                  op::PadMode::constant);
        }
        f = ctx.make<op::Multiply>({f, w});
    } else if (win < n_fft) {
        std::vector<float> w(static_cast<size_t>(n_fft), 0.f);
        int64_t left = (n_fft - win) / 2;
        for (int64_t i = left; i < left + win; ++i) w[static_cast<size_t>(i)] = 1.f;
        f = ctx.make<op::Multiply>({f, to_type(ctx, ctx.constant(w, {n_fft}), x.type())});
    }
    Output y;
    if (onesided) {
        y = ctx.make<op::RDFT>({f, ctx.i64({-1})});
    } else {
        Output pairs = ctx.make<op::Concat>(OutputVector{ctx.make<op::Unsqueeze>({f, ctx.i64({-1})}),
                                                         ctx.make<op::Unsqueeze>({ctx.make<op::Multiply>({f, typed_scalar(ctx, x.type(), 0)}), ctx.i64({-1})})},
                                            int64_t{-1});
        y = ctx.make<op::DFT>({pairs, ctx.i64({-1})});
    }
    if (normalized) y = ctx.make<op::Multiply>({y, typed_scalar(ctx, x.type(), 1.0 / std::sqrt(static_cast<double>(n_fft)))});
    // [B?, frames, freq, 2] -> [B?, freq, frames, 2]
    y = ctx.make<op::Transpose>({y, ctx.i64(r == 1 ? std::vector<int64_t>{1, 0, 2} : std::vector<int64_t>{0, 2, 1, 3})});
    if (as_complex) return {complex_value(y)};
    return {y};
}

// istft(x, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,
// onesided=None, length=None, return_complex=False) of a complex x [B?, freq, frames]: each frame
// inverted (IRDFT, or IDFT's real part when two-sided), windowed, overlap-added (a
// ScatterElementsUpdate sum) and divided by the overlap-added squared window; torch raises where
// that envelope is ~0, and so does kiln (an IndexCheck on the flag).
Outs istft(NodeContext& ctx) {
    ctx.check(is_complex(ctx.value(0)), "needs a complex input");
    Output x = ctx.value(0).out;  // [B?, F, T, 2]
    int64_t r = signal_rank(ctx, x, true);
    ctx.check(r == 2 || r == 3, "takes a 2-D or 3-D complex input");
    int64_t n_fft = ctx.const_int(1);
    int64_t hop = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_int(2) : n_fft / 4;
    int64_t win = ctx.num_inputs() > 3 && !ctx.is_none(3) ? ctx.const_int(3) : n_fft;
    bool center = ctx.num_inputs() <= 5 || ctx.const_bool(5);
    bool normalized = ctx.num_inputs() > 6 && ctx.const_bool(6);
    auto& fd = x.shape()[static_cast<size_t>(r - 2)];
    bool onesided = ctx.num_inputs() > 7 && !ctx.is_none(7) ? ctx.const_bool(7)
                                                            : !(fd.is_static() && fd.get_length() == n_fft);
    bool has_length = ctx.num_inputs() > 8 && !ctx.is_none(8);
    ctx.check(ctx.num_inputs() <= 9 || !ctx.const_bool(9), "return_complex=True is not supported");
    ctx.check(n_fft > 0 && hop > 0 && win > 0 && win <= n_fft, "needs 0 < win_length <= n_fft and hop_length > 0");
    Type t = x.type();
    if (normalized) x = ctx.make<op::Multiply>({x, typed_scalar(ctx, t, std::sqrt(static_cast<double>(n_fft)))});
    // [B?, F, T, 2] -> [B?, T, F, 2]
    x = ctx.make<op::Transpose>({x, ctx.i64(r == 2 ? std::vector<int64_t>{1, 0, 2} : std::vector<int64_t>{0, 2, 1, 3})});
    Output frames = onesided ? ctx.make<op::IRDFT>({x, ctx.i64({-1}), ctx.i64({n_fft})})
                             : part(ctx, ctx.make<op::IDFT>({x, ctx.i64({-1})}), 0);  // [B?, T, n_fft]
    Output w;
    if (ctx.num_inputs() > 4 && !ctx.is_none(4)) {
        w = to_type(ctx, ctx.input(4), t);
    } else {
        w = ctx.make<op::Broadcast>({typed_scalar(ctx, t, 1), ctx.i64({win})}, op::BroadcastMode::numpy);
    }
    if (win < n_fft) {
        int64_t left = (n_fft - win) / 2;
        w = ctx.make<op::Pad>({w, ctx.i64({left}), ctx.i64({n_fft - win - left}), typed_scalar(ctx, t, 0)}, op::PadMode::constant);
    }
    frames = ctx.make<op::Multiply>({frames, w});
    Output count = dim_of(ctx, frames, r - 2);
    Output total = ctx.make<op::Add>({ctx.i64_scalar(n_fft), ctx.make<op::Multiply>({ctx.make<op::Subtract>({count, ctx.i64_scalar(1)}), ctx.i64_scalar(hop)})});
    Output starts = ctx.make<op::Multiply>({ctx.make<op::Range>({ctx.i64_scalar(0), count, ctx.i64_scalar(1)}, Type::i64), ctx.i64_scalar(hop)});
    Output pos = ctx.make<op::Add>({ctx.make<op::Unsqueeze>({starts, ctx.i64({1})}),
                                    ctx.make<op::Unsqueeze>({ctx.make<op::Range>({ctx.i64_scalar(0), ctx.i64_scalar(n_fft), ctx.i64_scalar(1)}, Type::i64), ctx.i64({0})})});
    pos = ctx.make<op::Reshape>({pos, ctx.i64({-1})}, false);  // [T * n_fft]
    auto vec = [&](const Output& v) { return ctx.make<op::Unsqueeze>({v, ctx.i64({0})}); };
    // Overlap-add of the frames and of the squared window.
    Output flat = ctx.make<op::Reshape>({frames, ctx.i64(r == 2 ? std::vector<int64_t>{-1} : std::vector<int64_t>{0, -1})}, true);
    Output y_shape = r == 2 ? vec(total) : ctx.make<op::Concat>(OutputVector{vec(dim_of(ctx, flat, 0)), vec(total)}, int64_t{0});
    Output y0 = ctx.make<op::Broadcast>({typed_scalar(ctx, t, 0), y_shape}, op::BroadcastMode::numpy);
    Output idx = r == 2 ? pos : ctx.make<op::Broadcast>({pos, shape_of(ctx, flat)}, op::BroadcastMode::numpy);
    Output y = ctx.make<op::ScatterElementsUpdate>({y0, idx, flat, ctx.i64_scalar(r - 2)}, op::ScatterReduction::sum, true);
    Output w2 = ctx.make<op::Reshape>({ctx.make<op::Broadcast>({ctx.make<op::Multiply>({w, w}),
                                                                ctx.make<op::Concat>(OutputVector{vec(count), ctx.i64({n_fft})}, int64_t{0})},
                                                               op::BroadcastMode::numpy),
                                       ctx.i64({-1})},
                                      false);
    Output env = ctx.make<op::ScatterElementsUpdate>({ctx.make<op::Broadcast>({typed_scalar(ctx, t, 0), vec(total)}, op::BroadcastMode::numpy),
                                                      pos, w2, ctx.i64_scalar(0)},
                                                     op::ScatterReduction::sum, true);
    int64_t start = center ? n_fft / 2 : 0;
    Output end;
    if (has_length) end = ctx.make<op::Add>({ctx.i64_scalar(start), to_type(ctx, ctx.input(8), Type::i64)});
    else end = center ? ctx.make<op::Subtract>({total, ctx.i64_scalar(n_fft / 2)}) : total;
    auto cut = [&](const Output& v, int64_t axis) {
        return ctx.make<op::Slice>({v, ctx.i64({start}), vec(end), ctx.i64({1}), ctx.i64({axis})});
    };
    y = cut(y, r - 2);
    env = cut(env, 0);
    Output small = to_type(ctx, ctx.make<op::ReduceMax>({to_type(ctx, ctx.make<op::Less>({ctx.make<op::Abs>({env}), typed_scalar(ctx, t, 1e-11)}), Type::i64),
                                                         ctx.i64({0})},
                                                        false),
                           Type::i64);
    Output ok = ctx.make<op::IndexCheck>({small, ctx.i64_scalar(1)}, false,
                                         "the window overlap-add (1: it is ~0 somewhere, which torch's istft refuses)");
    env = ctx.make<op::Add>({env, to_type(ctx, ok, t)});  // ok is 0 when it passes
    y = ctx.make<op::Divide>({y, env}, false);
    if (has_length) {
        // A length beyond the signal is padded with zeros.
        Output have = dim_of(ctx, y, r - 2);
        Output missing = ctx.make<op::Maximum>({ctx.make<op::Subtract>({to_type(ctx, ctx.input(8), Type::i64), have}), ctx.i64_scalar(0)});
        std::vector<int64_t> zeros(static_cast<size_t>(r - 1), 0);
        Output end_pad = r == 2 ? vec(missing) : ctx.make<op::Concat>(OutputVector{ctx.i64({0}), vec(missing)}, int64_t{0});
        y = ctx.make<op::Pad>({y, ctx.i64(zeros), end_pad, typed_scalar(ctx, t, 0)}, op::PadMode::constant);
    }
    return {y};
}

// complex(real, imag)
Outs complex_op(NodeContext& ctx) {
    auto [re, im] = promoted(ctx, 0, 1);
    ctx.check(re.type() == Type::f32 || re.type() == Type::f64, "needs f32 or f64 parts");
    return {complex_value(make_pair(ctx, re, im))};
}

// polar(abs, angle)
Outs polar(NodeContext& ctx) {
    auto [a, t] = promoted(ctx, 0, 1);
    return {complex_value(make_pair(ctx, ctx.make<op::Multiply>({a, ctx.make<op::Cos>({t})}),
                                    ctx.make<op::Multiply>({a, ctx.make<op::Sin>({t})})))};
}

Outs view_as_complex(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto& s = x.shape();
    ctx.check(s.rank_is_dynamic() || (s.rank() >= 1 && s[s.size() - 1].compatible(2)),
              "needs a last dimension of size 2, got ", s.to_string());
    ctx.check(x.type() == Type::f32 || x.type() == Type::f64, "needs an f32 or f64 tensor");
    return {complex_value(x)};
}

// Complex-only translators (reached through find_complex_translator).
Outs view_as_real(NodeContext& ctx) {
    ctx.check(is_complex(ctx.value(0)), "needs a complex tensor");
    return {TValue(ctx.value(0).out)};
}

template <int K>
Outs real_imag(NodeContext& ctx) {
    if (!is_complex(ctx.value(0))) {
        ctx.check(K == 0, "imag of a real tensor (torch raises too)");
        return {ctx.value(0)};
    }
    return {part(ctx, ctx.value(0).out, K)};
}

Outs c_abs(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    Output re = part(ctx, c, 0), im = part(ctx, c, 1);
    return {ctx.make<op::Sqrt>({ctx.make<op::Add>({ctx.make<op::Multiply>({re, re}), ctx.make<op::Multiply>({im, im})})})};
}

Outs c_conj(NodeContext& ctx) {
    if (!is_complex(ctx.value(0))) return {ctx.value(0)};
    Output c = ctx.value(0).out;
    return {complex_value(make_pair(ctx, part(ctx, c, 0), ctx.make<op::Negative>({part(ctx, c, 1)})))};
}

Outs c_neg(NodeContext& ctx) { return {complex_value(ctx.make<op::Negative>({ctx.value(0).out}))}; }

// Operand i of a complex binary op: (real part, imag part or none for a real operand), in type t.
std::pair<Output, Output> parts(NodeContext& ctx, size_t i, Type t) {
    if (is_complex(ctx.value(i))) {
        Output c = ctx.value(i).out;
        return {to_type(ctx, part(ctx, c, 0), t), to_type(ctx, part(ctx, c, 1), t)};
    }
    return {to_type(ctx, ctx.input(i), t), Output{}};
}

Type complex_type(NodeContext& ctx) {
    Type t = Type::f32;
    for (size_t i = 0; i < 2; ++i)
        if (ctx.value(i).kind == TValue::Kind::tensor && ctx.value(i).out.type() == Type::f64) t = Type::f64;
    return t;
}

// add/sub(x, y, alpha=1), mul, div with complex operands (a real one is a complex with zero
// imaginary part).
template <char Op>
Outs c_binary(NodeContext& ctx) {
    Type t = complex_type(ctx);
    auto [a, b] = parts(ctx, 0, t);
    auto [c, d] = parts(ctx, 1, t);
    auto zero = [&](const Output& like) { return ctx.make<op::Multiply>({like, typed_scalar(ctx, t, 0)}); };
    if (Op == '+' || Op == '-') {
        if (ctx.num_inputs() > 2 && !ctx.is_none(2)) {
            Output alpha = to_type(ctx, ctx.input(2), t);
            c = ctx.make<op::Multiply>({c, alpha});
            if (d.node) d = ctx.make<op::Multiply>({d, alpha});
        }
        if (!b.node) b = zero(a);
        if (!d.node) d = zero(c);
        if (Op == '+') return {complex_value(make_pair(ctx, ctx.make<op::Add>({a, c}), ctx.make<op::Add>({b, d})))};
        return {complex_value(make_pair(ctx, ctx.make<op::Subtract>({a, c}), ctx.make<op::Subtract>({b, d})))};
    }
    if (Op == '*') {
        if (!b.node) return {complex_value(make_pair(ctx, ctx.make<op::Multiply>({a, c}), ctx.make<op::Multiply>({a, d})))};
        if (!d.node) return {complex_value(make_pair(ctx, ctx.make<op::Multiply>({a, c}), ctx.make<op::Multiply>({b, c})))};
        Output re = ctx.make<op::Subtract>({ctx.make<op::Multiply>({a, c}), ctx.make<op::Multiply>({b, d})});
        Output im = ctx.make<op::Add>({ctx.make<op::Multiply>({a, d}), ctx.make<op::Multiply>({b, c})});
        return {complex_value(make_pair(ctx, re, im))};
    }
    // '/'
    ctx.check(ctx.num_inputs() < 3 || ctx.is_none(2), "rounding_mode is not defined for complex division");
    if (!d.node) return {complex_value(make_pair(ctx, ctx.make<op::Divide>({a, c}, false),
                                                 ctx.make<op::Divide>({b.node ? b : zero(a), c}, false)))};
    if (!b.node) b = zero(a);
    Output den = ctx.make<op::Add>({ctx.make<op::Multiply>({c, c}), ctx.make<op::Multiply>({d, d})});
    Output re = ctx.make<op::Add>({ctx.make<op::Multiply>({a, c}), ctx.make<op::Multiply>({b, d})});
    Output im = ctx.make<op::Subtract>({ctx.make<op::Multiply>({b, c}), ctx.make<op::Multiply>({a, d})});
    return {complex_value(make_pair(ctx, ctx.make<op::Divide>({re, den}, false), ctx.make<op::Divide>({im, den}, false)))};
}

// size / dim of a complex tensor: the pair dim does not count.
Outs c_size(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    if (ctx.num_inputs() > 1) return {dim_of(ctx, c, signal_axis(ctx, r, ctx.const_int(1)))};
    return {ctx.make<op::Slice>({shape_of(ctx, c), ctx.i64({0}), ctx.i64({r}), ctx.i64({1})})};
}

Outs c_dim(NodeContext& ctx) { return {ConstValue::integer(signal_rank(ctx, ctx.value(0).out, true))}; }

// Shape ops on complex tensors: the pair dim stays last.
Outs c_reshape(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    Output shape = ctx.make<op::Concat>(OutputVector{int_list(ctx, 1), ctx.i64({2})}, int64_t{0});
    return {complex_value(ctx.make<op::Reshape>({c, shape}, false))};
}

Outs c_unsqueeze(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    int64_t d = signal_axis(ctx, r + 1, ctx.const_int(1));
    return {complex_value(ctx.make<op::Unsqueeze>({c, ctx.i64({d})}))};
}

Outs c_permute(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    std::vector<int64_t> perm;
    for (int64_t d : ctx.const_ints(1)) perm.push_back(signal_axis(ctx, r, d));
    ctx.check(static_cast<int64_t>(perm.size()) == r, "permute needs ", r, " dims");
    perm.push_back(r);
    return {complex_value(ctx.make<op::Transpose>({c, ctx.i64(perm)}))};
}

Outs c_transpose(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    int64_t a = signal_axis(ctx, r, ctx.const_int(1)), b = signal_axis(ctx, r, ctx.const_int(2));
    std::vector<int64_t> perm;
    for (int64_t i = 0; i <= r; ++i) perm.push_back(i);
    std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    return {complex_value(ctx.make<op::Transpose>({c, ctx.i64(perm)}))};
}

Outs c_t(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    if (r < 2) return {ctx.value(0)};
    return {complex_value(ctx.make<op::Transpose>({c, ctx.i64({1, 0, 2})}))};
}

// select(x, dim, i) (a scalar index: the dim goes) and index_select(x, dim, indices) (1-D: it
// stays); torch's select takes negative indices, index_select does not.
Outs c_select(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    int64_t d = signal_axis(ctx, r, ctx.const_int(1));
    const bool negative_ok = ctx.kind() == "aten::select";
    Output i = checked_indices(ctx, ctx.input(2), dim_of(ctx, c, d), negative_ok, "the index");
    return {complex_value(ctx.make<op::Gather>({c, i, ctx.i64_scalar(d)}, int64_t{0}))};
}

// squeeze(x, dims=None): the dims of size 1 among them (all of them when None); a size known only
// at run time is kept.
Outs c_squeeze(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    std::vector<int64_t> dims = signal_dims(ctx, 1, r);
    std::vector<int64_t> axes;
    for (int64_t d : dims) {
        auto& dim = c.shape()[static_cast<size_t>(d)];
        if (dim.is_static() && dim.get_length() == 1) axes.push_back(d);
    }
    if (axes.empty()) return {ctx.value(0)};
    return {complex_value(ctx.make<op::Squeeze>({c, ctx.i64(axes)}))};
}

// constant_pad_nd(x, pad, value=0) of a complex x (core ATen's form of an FFT's s= longer than
// the signal): zeros only; the amounts may be computed at run time (s= of a dynamic signal).
Outs c_constant_pad_nd(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    const int64_t r = signal_rank(ctx, c, true);
    ctx.check(ctx.num_inputs() < 3 || ctx.is_none(2) || ctx.const_float(2) == 0.0,
              "a complex tensor is padded with zeros only");
    auto [b, e] = pad_amounts(ctx, 1, r);  // of the signal dims; the (real, imag) dim is not padded
    b.push_back(ctx.i64({0}));
    e.push_back(ctx.i64({0}));
    return {complex_value(ctx.make<op::Pad>({c, ctx.make<op::Concat>(b, int64_t{0}), ctx.make<op::Concat>(e, int64_t{0}),
                                             typed_scalar(ctx, c.type(), 0)},
                                            op::PadMode::constant))};
}

// _to_copy(x, dtype) of a complex x: complex64 / complex128 change the parts' type; a real dtype
// keeps the real part, as torch does (it warns that the imaginary part is discarded).
Outs c_to_copy(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    if (!ctx.has_input(1)) return {ctx.value(0)};
    const int64_t code = ctx.const_int(1);
    if (code == 9 || code == 10) return {complex_value(to_type(ctx, c, code == 9 ? Type::f32 : Type::f64))};
    return {to_type(ctx, part(ctx, c, 0), torch_dtype(ctx, code))};
}

// slice(x, dim=0, start=None, end=None, step=1)
Outs c_slice(NodeContext& ctx) {
    Output c = ctx.value(0).out;
    int64_t r = signal_rank(ctx, c, true);
    int64_t d = signal_axis(ctx, r, ctx.num_inputs() > 1 ? ctx.const_int(1) : 0);
    Output start = ctx.num_inputs() > 2 && !ctx.is_none(2) ? int_list(ctx, 2) : ctx.i64({0});
    Output end = ctx.num_inputs() > 3 && !ctx.is_none(3) ? int_list(ctx, 3) : ctx.i64({INT64_MAX});
    Output step = ctx.num_inputs() > 4 ? int_list(ctx, 4) : ctx.i64({1});
    return {complex_value(ctx.make<op::Slice>({c, start, end, step, ctx.i64({d})}))};
}

const TranslatorTable& complex_table() {
    static const TranslatorTable t = [] {
        TranslatorTable t;
        t["aten::view_as_real"] = view_as_real;
        t["aten::real"] = real_imag<0>;
        t["aten::imag"] = real_imag<1>;
        t["aten::abs"] = c_abs;
        t["aten::conj"] = t["aten::_conj"] = t["aten::conj_physical"] = t["aten::_conj_physical"] = c_conj;
        t["aten::resolve_conj"] = t["aten::resolve_neg"] = identity;
        t["aten::neg"] = c_neg;
        t["aten::add"] = c_binary<'+'>;
        t["aten::sub"] = c_binary<'-'>;
        t["aten::mul"] = c_binary<'*'>;
        t["aten::div"] = c_binary<'/'>;
        t["aten::size"] = c_size;
        t["aten::reshape"] = t["aten::view"] = t["aten::_unsafe_view"] = c_reshape;
        t["aten::unsqueeze"] = c_unsqueeze;
        t["aten::permute"] = c_permute;
        t["aten::transpose"] = c_transpose;
        t["aten::t"] = c_t;
        for (const char* k : {"aten::contiguous", "aten::clone", "aten::detach"}) t[k] = identity;
        t["aten::select"] = c_select;
        t["aten::index_select"] = c_select;
        t["aten::squeeze"] = c_squeeze;
        t["aten::_to_copy"] = c_to_copy;
        t["aten::constant_pad_nd"] = c_constant_pad_nd;
        t["aten::slice"] = c_slice;
        t["aten::dim"] = c_dim;
        t["aten::fft_fftshift"] = fftshift<false>;
        t["aten::fft_ifftshift"] = fftshift<true>;
        return t;
    }();
    return t;
}

}  // namespace

void add_fft_translators(TranslatorTable& t) {
    t["aten::fft_fft"] = fft<Kind::c2c, 1>;
    t["aten::fft_ifft"] = fft<Kind::c2c_inverse, 1>;
    t["aten::fft_rfft"] = fft<Kind::r2c, 1>;
    t["aten::fft_irfft"] = fft<Kind::c2r, 1>;
    t["aten::fft_hfft"] = fft<Kind::c2r, 1, true>;
    t["aten::fft_ihfft"] = fft<Kind::r2c, 1, true>;
    t["aten::fft_fft2"] = fft<Kind::c2c, 2>;
    t["aten::fft_ifft2"] = fft<Kind::c2c_inverse, 2>;
    t["aten::fft_rfft2"] = fft<Kind::r2c, 2>;
    t["aten::fft_irfft2"] = fft<Kind::c2r, 2>;
    t["aten::fft_fftn"] = fft<Kind::c2c, 0>;
    t["aten::fft_ifftn"] = fft<Kind::c2c_inverse, 0>;
    t["aten::fft_rfftn"] = fft<Kind::r2c, 0>;
    t["aten::fft_irfftn"] = fft<Kind::c2r, 0>;
    t["aten::fft_fftshift"] = fftshift<false>;
    t["aten::fft_ifftshift"] = fftshift<true>;
    t["aten::_fft_r2c"] = fft_prim<Prim::r2c>;
    t["aten::_fft_c2c"] = fft_prim<Prim::c2c>;
    t["aten::_fft_c2r"] = fft_prim<Prim::c2r>;
    t["aten::stft"] = stft;
    t["aten::istft"] = istft;
    t["aten::complex"] = complex_op;
    t["aten::polar"] = polar;
    t["aten::view_as_complex"] = view_as_complex;
    t["aten::view_as_real"] = view_as_real;
    t["aten::real"] = real_imag<0>;
    t["aten::imag"] = real_imag<1>;
    t["aten::conj"] = t["aten::_conj"] = t["aten::conj_physical"] = t["aten::_conj_physical"] = c_conj;
    t["aten::resolve_conj"] = t["aten::resolve_neg"] = identity;
}

Translator find_complex_translator(const std::string& kind) {
    auto& t = complex_table();
    auto it = t.find(kind);
    if (it != t.end()) return it->second;
    // The FFTs, complex() and friends take complex inputs as they are.
    static const char* same[] = {"aten::istft", "aten::fft_fft", "aten::fft_ifft", "aten::fft_irfft", "aten::fft_hfft",
                                 "aten::fft_fft2", "aten::fft_ifft2", "aten::fft_irfft2", "aten::fft_fftn",
                                 "aten::fft_ifftn", "aten::fft_irfftn", "aten::_fft_c2c", "aten::_fft_c2r"};
    for (const char* k : same)
        if (kind == k) return find_translator(kind);
    return nullptr;
}

TValue real_to_complex(NodeContext& ctx, int64_t code) {
    Output c = pair_of(ctx, 0);
    return complex_value(to_type(ctx, c, code == 9 ? Type::f32 : Type::f64));
}

bool holds_complex(const TValue& v) {
    if (v.kind == TValue::Kind::tensor) return v.complex;
    if (v.kind == TValue::Kind::list)
        for (auto& i : v.items)
            if (holds_complex(i)) return true;
    return false;
}

}  // namespace kiln::frontend::pytorch
