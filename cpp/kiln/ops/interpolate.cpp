#include "kiln/ops/interpolate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "kiln/ops/infer_util.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::op {

namespace {

const char* mode_name(InterpolateMode m) {
    switch (m) {
        case InterpolateMode::nearest: return "nearest";
        case InterpolateMode::linear: return "linear";
        case InterpolateMode::linear_onnx: return "linear_onnx";
        case InterpolateMode::cubic: return "cubic";
        case InterpolateMode::bilinear_pillow: return "bilinear_pillow";
        case InterpolateMode::bicubic_pillow: return "bicubic_pillow";
    }
    return "?";
}

// Keys' cubic convolution kernel of parameter a at distance s.
template <typename C>
C cubic_weight(C s, C a) {
    s = std::fabs(s);
    if (s <= C(1)) return ((a + C(2)) * s - (a + C(3))) * s * s + C(1);
    if (s < C(2)) return ((s - C(5)) * s + C(8)) * s * a - C(4) * a;
    return C(0);
}

// `scaled`: scales mode, the axis' scale is `scale`; else sizes mode.
template <typename C>
AxisTaps make_taps(const Interpolate& op, int64_t in, int64_t out, bool scaled, double scale) {
    AxisTaps t;
    t.in = in;
    t.out = out;
    if (out == 0 || in == 0) {
        t.taps = 1;
        t.index.assign(static_cast<size_t>(out), 0);
        t.weight.assign(static_cast<size_t>(out), 0.0);
        return t;
    }
    // torch's "scale": input length per output element.
    const C ratio = scaled ? static_cast<C>(1.0 / scale) : static_cast<C>(in) / static_cast<C>(out);
    const bool downsample = scaled ? scale < 1.0 : out < in;
    const C half = C(0.5);
    auto coord = [&](int64_t d) -> C {
        const C cd = static_cast<C>(d);
        switch (op.coordinate_transformation_mode) {
            case CoordinateTransformMode::half_pixel: return (cd + half) * ratio - half;
            case CoordinateTransformMode::pytorch_half_pixel:
                return out > 1 ? (cd + half) * ratio - half : C(0);
            case CoordinateTransformMode::asymmetric: return cd * ratio;
            case CoordinateTransformMode::tf_half_pixel_for_nn: return (cd + half) * ratio;
            case CoordinateTransformMode::align_corners:
                return out == 1 ? C(0) : cd * (static_cast<C>(in - 1) / static_cast<C>(out - 1));
        }
        return C(0);
    };
    auto clamp_index = [&](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
    auto resize = [&](int64_t taps) {
        t.taps = taps;
        t.index.assign(static_cast<size_t>(out * taps), 0);
        t.weight.assign(static_cast<size_t>(out * taps), 0.0);
    };
    // Normalized filter taps over the input window [lo, hi) (already clipped to the axis).
    auto put_window = [&](int64_t d, int64_t lo, int64_t hi, auto&& w_of) {
        C total = 0;
        size_t base = static_cast<size_t>(d * t.taps);
        for (int64_t j = lo; j < hi; ++j) {
            C w = w_of(j);
            t.index[base + static_cast<size_t>(j - lo)] = j;
            t.weight[base + static_cast<size_t>(j - lo)] = static_cast<double>(w);
            total += w;
        }
        for (int64_t j = lo; j < hi; ++j)
            if (total != C(0)) {
                size_t k = base + static_cast<size_t>(j - lo);
                t.weight[k] = static_cast<double>(static_cast<C>(t.weight[k]) / total);
            }
        for (int64_t k = std::max<int64_t>(hi - lo, 0); k < t.taps; ++k)
            t.index[base + static_cast<size_t>(k)] = std::max<int64_t>(lo, 0) < in ? std::max<int64_t>(lo, 0) : 0;
    };

    switch (op.mode) {
        case InterpolateMode::nearest: {
            resize(1);
            for (int64_t d = 0; d < out; ++d) {
                const C x = coord(d);
                int64_t i = 0;
                switch (op.nearest_mode) {
                    // Round half down / half up; std::floor/ceil keep negative x right.
                    case NearestMode::round_prefer_floor: i = static_cast<int64_t>(std::ceil(x - half)); break;
                    case NearestMode::round_prefer_ceil: i = static_cast<int64_t>(std::floor(x + half)); break;
                    case NearestMode::floor: i = static_cast<int64_t>(std::floor(x)); break;
                    case NearestMode::ceil: i = static_cast<int64_t>(std::ceil(x)); break;
                    case NearestMode::simple:
                        i = downsample ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
                        break;
                }
                t.index[static_cast<size_t>(d)] = clamp_index(i);
                t.weight[static_cast<size_t>(d)] = 1.0;
            }
            break;
        }
        case InterpolateMode::linear_onnx: {
            resize(2);
            for (int64_t d = 0; d < out; ++d) {
                const C x = std::clamp(coord(d), C(0), static_cast<C>(in - 1));
                const int64_t i0 = std::min(static_cast<int64_t>(x), in - 1);
                const int64_t i1 = std::min(i0 + 1, in - 1);
                const C w1 = x - static_cast<C>(i0);
                size_t b = static_cast<size_t>(2 * d);
                t.index[b] = i0;
                t.index[b + 1] = i1;
                t.weight[b] = static_cast<double>(C(1) - w1);
                t.weight[b + 1] = static_cast<double>(w1);
            }
            break;
        }
        case InterpolateMode::cubic: {
            resize(4);
            const C a = static_cast<C>(op.cube_coeff);
            for (int64_t d = 0; d < out; ++d) {
                const C x = coord(d);
                const C f = std::floor(x);
                const int64_t i = static_cast<int64_t>(f);
                const C s = x - f;
                const C w[4] = {cubic_weight(s + C(1), a), cubic_weight(s, a), cubic_weight(C(1) - s, a),
                                cubic_weight(C(2) - s, a)};
                for (int k = 0; k < 4; ++k) {
                    size_t b = static_cast<size_t>(4 * d + k);
                    t.index[b] = clamp_index(i - 1 + k);
                    t.weight[b] = static_cast<double>(w[k]);
                }
            }
            break;
        }
        case InterpolateMode::linear: {
            // Triangle filter of half-width 1 / a, a = scale when antialiasing a downsample.
            const C a = op.antialias && downsample ? C(1) / ratio : C(1);
            const C support = C(1) / a;
            resize(2 * static_cast<int64_t>(std::ceil(support)) + 1);
            for (int64_t d = 0; d < out; ++d) {
                const C x = coord(d);
                int64_t lo = std::max<int64_t>(static_cast<int64_t>(std::floor(x - support)) + 1, 0);
                int64_t hi = std::min<int64_t>(static_cast<int64_t>(std::ceil(x + support)), in);
                if (lo >= hi) {  // x lies beyond the axis: the nearest end
                    lo = clamp_index(static_cast<int64_t>(std::floor(x + half)));
                    hi = lo + 1;
                    put_window(d, lo, hi, [](int64_t) { return C(1); });
                    continue;
                }
                put_window(d, lo, hi, [&](int64_t j) {
                    return std::max(C(0), C(1) - std::fabs(x - static_cast<C>(j)) * a);
                });
            }
            break;
        }
        case InterpolateMode::bilinear_pillow:
        case InterpolateMode::bicubic_pillow: {
            const bool cubic = op.mode == InterpolateMode::bicubic_pillow;
            const C a = static_cast<C>(op.cube_coeff);
            const C base = cubic ? C(2) : C(1);
            const C support = ratio >= C(1) ? base * ratio : base;
            const C inv = ratio >= C(1) ? C(1) / ratio : C(1);
            resize(2 * static_cast<int64_t>(std::ceil(support)) + 1);
            for (int64_t d = 0; d < out; ++d) {
                const C center = ratio * (static_cast<C>(d) + half);
                int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + half), 0);
                int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + half), in);
                hi = std::min(hi, lo + t.taps);
                put_window(d, lo, hi, [&](int64_t j) {
                    const C s = (static_cast<C>(j) - center + half) * inv;
                    return cubic ? cubic_weight(s, a) : std::max(C(0), C(1) - std::fabs(s));
                });
            }
            break;
        }
    }
    return t;
}

Dimension scaled_dim(const Dimension& d, double s, Type st) {
    if (d.is_static()) return Dimension(scaled_length(d.get_length(), s, st));
    int64_t lo = scaled_length(d.get_min_length(), s, st);
    int64_t hi = d.get_max_length() < 0 ? -1 : scaled_length(d.get_max_length(), s, st);
    return Dimension(lo, hi);
}

// Zero-pads the image by the op's pads (any element type); returns it unchanged without pads.
Tensor pad_image(const Interpolate& op, const Tensor& x) {
    Shape ps = op.padded_shape(x.shape());
    if (ps == x.shape()) return x;
    Tensor r(x.type(), ps);
    std::memset(r.data(), 0, r.byte_size());
    if (x.size() == 0) return r;
    const size_t es = type_size(x.type());
    const auto is = contiguous_strides(x.shape()), os = contiguous_strides(ps);
    const int64_t rank = x.rank(), rows = x.size() / x.shape().back();
    const size_t row_bytes = static_cast<size_t>(x.shape().back()) * es;
    for (int64_t row = 0; row < rows; ++row) {
        int64_t rem = row * x.shape().back(), off = 0;
        for (int64_t k = 0; k < rank; ++k) {
            int64_t c = rem / is[static_cast<size_t>(k)];
            rem %= is[static_cast<size_t>(k)];
            int64_t pb = k < static_cast<int64_t>(op.pads_begin.size()) ? op.pads_begin[static_cast<size_t>(k)] : 0;
            off += (c + pb) * os[static_cast<size_t>(k)];
        }
        std::memcpy(r.data<uint8_t>() + off * static_cast<int64_t>(es),
                    x.data<uint8_t>() + row * x.shape().back() * static_cast<int64_t>(es), row_bytes);
    }
    return r;
}

// out[o] = sum over the tap combinations of prod(weights) * x[indices]; taps of weight 0 are
// skipped (they are padding of the tables).
template <typename T>
void interpolate_ref(const T* x, const Shape& xs, T* y, const Shape& ys, const std::vector<AxisTaps>& taps) {
    const size_t r = xs.size();
    const auto xstr = contiguous_strides(xs);
    const int64_t n = shape_size(ys);
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < n; ++o) {
        std::vector<int64_t> oc(r), k(r, 0);
        int64_t rem = o;
        for (size_t a = r; a-- > 0;) {
            oc[a] = rem % ys[a];
            rem /= ys[a];
        }
        double acc = 0;
        for (;;) {
            double w = 1;
            int64_t off = 0;
            for (size_t a = 0; a < r; ++a) {
                size_t e = static_cast<size_t>(oc[a] * taps[a].taps + k[a]);
                w *= taps[a].weight[e];
                off += taps[a].index[e] * xstr[a];
            }
            if (w != 0) acc += w * static_cast<double>(x[off]);
            size_t a = r;
            while (a-- > 0) {
                if (++k[a] < taps[a].taps) break;
                k[a] = 0;
            }
            if (a == static_cast<size_t>(-1)) break;
        }
        y[o] = static_cast<T>(acc);
    }
}

// Nearest for any element type: a gather of whole elements.
void nearest_ref(const Tensor& x, Tensor& y, const std::vector<AxisTaps>& taps) {
    const size_t r = x.shape().size(), es = type_size(x.type());
    const auto xstr = contiguous_strides(x.shape());
    const Shape& ys = y.shape();
    const int64_t n = y.size();
    const auto* src = x.data<uint8_t>();
    auto* dst = y.data<uint8_t>();
    for (int64_t o = 0; o < n; ++o) {
        int64_t rem = o, off = 0;
        for (size_t a = r; a-- > 0;) {
            off += taps[a].index[static_cast<size_t>(rem % ys[a])] * xstr[a];
            rem /= ys[a];
        }
        std::memcpy(dst + o * static_cast<int64_t>(es), src + off * static_cast<int64_t>(es), es);
    }
}

}  // namespace

int64_t scaled_length(int64_t len, double scale, Type scale_type) {
    double v = static_cast<double>(len) * scale;
    if (scale_type != Type::f64) v += 1e-5;
    return static_cast<int64_t>(std::floor(v));
}

bool AxisTaps::identity() const {
    if (in != out || taps != 1) return false;
    for (int64_t o = 0; o < out; ++o)
        if (index[static_cast<size_t>(o)] != o || weight[static_cast<size_t>(o)] != 1.0) return false;
    return true;
}

AxisTaps AxisTaps::identity(int64_t n) {
    AxisTaps t;
    t.in = t.out = n;
    for (int64_t o = 0; o < n; ++o) t.index.push_back(o);
    t.weight.assign(static_cast<size_t>(n), 1.0);
    return t;
}

void Interpolate::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "mode", mode,
               {{InterpolateMode::nearest, "nearest"},
                {InterpolateMode::linear, "linear"},
                {InterpolateMode::linear_onnx, "linear_onnx"},
                {InterpolateMode::cubic, "cubic"},
                {InterpolateMode::bilinear_pillow, "bilinear_pillow"},
                {InterpolateMode::bicubic_pillow, "bicubic_pillow"}});
    visit_enum(v, "shape_calculation_mode", shape_calculation_mode,
               {{ShapeCalcMode::sizes, "sizes"}, {ShapeCalcMode::scales, "scales"}});
    visit_enum(v, "coordinate_transformation_mode", coordinate_transformation_mode,
               {{CoordinateTransformMode::half_pixel, "half_pixel"},
                {CoordinateTransformMode::pytorch_half_pixel, "pytorch_half_pixel"},
                {CoordinateTransformMode::asymmetric, "asymmetric"},
                {CoordinateTransformMode::tf_half_pixel_for_nn, "tf_half_pixel_for_nn"},
                {CoordinateTransformMode::align_corners, "align_corners"}});
    visit_enum(v, "nearest_mode", nearest_mode,
               {{NearestMode::round_prefer_floor, "round_prefer_floor"},
                {NearestMode::round_prefer_ceil, "round_prefer_ceil"},
                {NearestMode::floor, "floor"},
                {NearestMode::ceil, "ceil"},
                {NearestMode::simple, "simple"}});
    v.on("antialias", antialias);
    v.on("cube_coeff", cube_coeff);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
}

Shape Interpolate::padded_shape(const Shape& image) const {
    Shape s = image;
    for (size_t k = 0; k < s.size(); ++k) {
        if (k < pads_begin.size()) s[k] += pads_begin[k];
        if (k < pads_end.size()) s[k] += pads_end[k];
    }
    return s;
}

std::vector<int64_t> Interpolate::axes_of(int64_t rank, const Tensor* axes) const {
    std::vector<int64_t> r;
    if (!axes) {
        for (int64_t k = 0; k < rank; ++k) r.push_back(k);
        return r;
    }
    std::set<int64_t> seen;
    for (int64_t a : axes->as_i64_vector()) {
        int64_t n = normalize_axis(a, rank, "axes");
        if (!seen.insert(n).second) throw ValueError(str_cat("axis ", a, " is given twice"));
        r.push_back(n);
    }
    return r;
}

AxisTaps Interpolate::axis_taps(int64_t in, int64_t out, std::optional<double> scale, bool f64) const {
    const bool scaled = shape_calculation_mode == ShapeCalcMode::scales && scale.has_value();
    const double s = scaled ? *scale : 1.0;
    return f64 ? make_taps<double>(*this, in, out, scaled, s) : make_taps<float>(*this, in, out, scaled, s);
}

std::vector<AxisTaps> Interpolate::taps(const Shape& image, const Shape& out, const Tensor& scales_or_sizes,
                                        const Tensor* axes, bool f64) const {
    const Shape ps = padded_shape(image);
    const int64_t rank = static_cast<int64_t>(ps.size());
    auto ax = axes_of(rank, axes);
    auto vals = scales_or_sizes.as_f64_vector();
    if (vals.size() != ax.size())
        throw ValueError(str_cat("scales_or_sizes has ", vals.size(), " values for ", ax.size(), " axes"));
    std::vector<AxisTaps> r;
    for (int64_t k = 0; k < rank; ++k) r.push_back(AxisTaps::identity(ps[static_cast<size_t>(k)]));
    for (size_t i = 0; i < ax.size(); ++i) {
        size_t a = static_cast<size_t>(ax[i]);
        r[a] = axis_taps(ps[a], out[a], vals[i], f64);
    }
    return r;
}

void Interpolate::infer(InferContext& ctx) const {
    ctx.check_inputs(2, 3);
    const bool sizes = shape_calculation_mode == ShapeCalcMode::sizes;
    Type it = ctx.input_type(0), st = ctx.input_type(1);
    if (sizes)
        KILN_INFER_CHECK(ctx, st == Type::dynamic || is_integral(st),
                         "sizes (input 1) must be of an integer type in shape_calculation_mode=sizes, got ",
                         kiln::type_name(st));
    else
        KILN_INFER_CHECK(ctx, st == Type::dynamic || is_float(st),
                         "scales (input 1) must be of a floating type in shape_calculation_mode=scales, got ",
                         kiln::type_name(st));
    KILN_INFER_CHECK(ctx, it != Type::boolean, "the image must be numeric, got boolean");
    if (ctx.num_inputs() == 3) check_integral(ctx, 2, "axes");
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        const PartialShape& s = ctx.input_shape(i);
        KILN_INFER_CHECK(ctx, s.rank_is_dynamic() || s.rank() == 1, i == 1 ? "scales_or_sizes" : "axes",
                         " must be 1-D, got ", s.to_string());
    }
    for (auto* p : {&pads_begin, &pads_end})
        for (int64_t v : *p)
            KILN_INFER_CHECK(ctx, v >= 0, "pads must not be negative, got ", v);
    KILN_INFER_CHECK(ctx, std::isfinite(cube_coeff), "cube_coeff must be finite");

    const PartialShape& image = ctx.input_shape(0);
    if (image.rank_is_dynamic()) {
        ctx.set_output(0, it, PartialShape::dynamic());
        return;
    }
    const int64_t rank = image.rank();
    KILN_INFER_CHECK(ctx, static_cast<int64_t>(pads_begin.size()) <= rank && static_cast<int64_t>(pads_end.size()) <= rank,
                     "pads have more values than the image ", image.to_string(), " has axes");
    std::vector<Dimension> out;
    for (size_t k = 0; k < image.size(); ++k) {
        int64_t p = (k < pads_begin.size() ? pads_begin[k] : 0) + (k < pads_end.size() ? pads_end[k] : 0);
        out.push_back(image[k] + Dimension(p));
    }

    std::optional<std::vector<int64_t>> axes;
    const Tensor* axes_value = ctx.num_inputs() == 3 ? ctx.input_value(2) : nullptr;
    if (ctx.num_inputs() == 2 || axes_value) {
        try {
            axes = axes_of(rank, axes_value);
        } catch (const ValueError& e) {
            ctx.fail(e.what(), " (axes of an image ", image.to_string(), ")");
        }
    }
    const PartialShape& ss = ctx.input_shape(1);
    if (axes && ss.rank_is_static() && ss[0].is_static())
        KILN_INFER_CHECK(ctx, ss[0].get_length() == static_cast<int64_t>(axes->size()), "scales_or_sizes has ",
                         ss[0].get_length(), " values for ", axes->size(), " axes");
    if (!axes) {
        // Which dims change is not known: any may.
        ctx.set_output(0, it, PartialShape::dynamic(rank));
        return;
    }
    if (sizes) {
        auto v = shape_value(ctx, 1);
        if (v)
            KILN_INFER_CHECK(ctx, v->size() == axes->size(), "sizes has ", v->size(), " values for ",
                             axes->size(), " axes");
        for (size_t i = 0; i < axes->size(); ++i) {
            size_t a = static_cast<size_t>((*axes)[i]);
            if (!v) {
                out[a] = Dimension::dynamic();
                continue;
            }
            const auto& e = (*v)[i];
            if (e.known) {
                KILN_INFER_CHECK(ctx, e.value >= 0, "sizes must not be negative, got ", e.value, " for axis ", a);
                out[a] = Dimension(e.value);
            } else {
                out[a] = e.dim;
            }
        }
    } else if (const Tensor* sv = ctx.input_value(1)) {
        auto s = sv->as_f64_vector();
        KILN_INFER_CHECK(ctx, s.size() == axes->size(), "scales has ", s.size(), " values for ", axes->size(), " axes");
        for (size_t i = 0; i < axes->size(); ++i) {
            KILN_INFER_CHECK(ctx, std::isfinite(s[i]) && s[i] > 0, "scales must be positive, got ", s[i],
                             " for axis ", (*axes)[i]);
            size_t a = static_cast<size_t>((*axes)[i]);
            out[a] = scaled_dim(out[a], s[i], sv->type());
        }
    } else {
        for (int64_t a : *axes) out[static_cast<size_t>(a)] = Dimension::dynamic();
    }
    ctx.set_output(0, it, PartialShape(out));
}

void Interpolate::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Type t = in[0].type();
    auto fail = [&](const std::string& m) -> void {
        throw Error(str_cat("[", type_name(), " ", name(), "] ", m));
    };
    if (mode != InterpolateMode::nearest && !is_float(t))
        fail(str_cat("mode ", mode_name(mode), " on ", kiln::type_name(t),
                     " has no reference kernel (floating types only; nearest takes any)"));
    std::vector<AxisTaps> tp;
    try {
        tp = taps(in[0].shape(), out[0].shape(), in[1], in.size() > 2 ? &in[2] : nullptr, t == Type::f64);
    } catch (const ValueError& e) {
        fail(e.what());
    }
    Tensor x = pad_image(*this, in[0]);
    if (out[0].size() == 0) return;
    if (mode == InterpolateMode::nearest) {
        nearest_ref(x, out[0], tp);
    } else if (t == Type::f64) {
        interpolate_ref<double>(x.data<double>(), x.shape(), out[0].data<double>(), out[0].shape(), tp);
    } else if (t == Type::f32) {
        interpolate_ref<float>(x.data<float>(), x.shape(), out[0].data<float>(), out[0].shape(), tp);
    } else {  // f16, bf16: through f32
        Tensor xf(Type::f32, x.shape()), yf(Type::f32, out[0].shape());
        convert_elements(x.data(), t, xf.data(), Type::f32, static_cast<size_t>(x.size()));
        interpolate_ref<float>(xf.data<float>(), xf.shape(), yf.data<float>(), yf.shape(), tp);
        convert_elements(yf.data(), Type::f32, out[0].data(), t, static_cast<size_t>(yf.size()));
    }
}

}  // namespace kiln::op
