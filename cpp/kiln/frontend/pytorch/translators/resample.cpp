// Resampling and layout: upsample_* (Interpolate), grid_sampler (GridSample), pixel_shuffle and
// pixel_unshuffle, channel_shuffle, meshgrid, im2col (unfold) and col2im (fold).
//
// torch's upsample modes in opset terms (each checked against torch numerically, see
// tests/python/test_resample.py):
//   nearest          nearest, asymmetric,           floor       (index = floor(d * in / out))
//   nearest-exact    nearest, tf_half_pixel_for_nn, floor       (floor((d + 0.5) * in / out))
//   (bi/tri)linear   linear_onnx, half_pixel or align_corners   (half_pixel, not pytorch_half_pixel:
//                    torch maps a single output element to the input's centre, not to 0)
//   bicubic          cubic (cube_coeff -0.75), half_pixel or align_corners
//   antialias        bilinear_pillow / bicubic_pillow (cube_coeff -0.5, Pillow's)
// With scale_factors (and no recompute_scale_factor), torch uses 1 / scale as the input step
// rather than in / out: that is the opset's scales mode, with the scales kept in f64 as torch
// keeps them.
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/col2im.hpp"
#include "kiln/ops/grid_sample.hpp"
#include "kiln/ops/interpolate.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

using op::CoordinateTransformMode;
using op::InterpolateMode;
using op::NearestMode;
using op::ShapeCalcMode;

enum class Kind { nearest, nearest_exact, linear, cubic, bilinear_aa, bicubic_aa };

size_t spatial_rank_of(const std::string& kind) {
    if (kind.find("1d") != std::string::npos) return 1;
    if (kind.find("3d") != std::string::npos) return 3;
    return 2;
}

// The scale_factors argument as f64 values, or nullopt when None. A list of constants keeps
// the doubles torch holds (a constant list would otherwise become f32).
std::optional<Output> scale_factors(NodeContext& ctx, size_t i, size_t n, std::vector<double>* values) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return std::nullopt;
    const TValue& v = ctx.value(i);
    std::vector<double> s;
    bool constant = true;
    auto add = [&](const ConstValue& c) {
        if (c.kind == ConstValue::Kind::floating) s.push_back(c.f);
        else if (c.kind == ConstValue::Kind::integer) s.push_back(static_cast<double>(c.i));
        else constant = false;
    };
    if (v.is_const()) {
        ConstValue c = v.as_const();
        if (c.kind == ConstValue::Kind::list)
            for (auto& item : c.items) add(item);
        else
            add(c);
    } else {
        constant = false;
    }
    if (constant) {
        if (s.size() == 1 && n > 1) s.assign(n, s[0]);
        ctx.check(s.size() == n, "expected ", n, " scale factors, got ", s.size());
        if (values) *values = s;
        return ctx.constant(Tensor::from_vector(s, {static_cast<int64_t>(n)}));
    }
    Output o = to_type(ctx, ctx.input(i), Type::f64);
    if (o.shape().rank_is_static() && o.shape().rank() == 0) o = ctx.make<op::Unsqueeze>({o, ctx.i64({0})});
    return o;
}

// torch's 2-D nearest (not 1-D or 3-D, not nearest-exact) copies when the output length equals
// the input length and halves the index when it is twice the input length, even when a scale
// factor says otherwise (scale 1.05 on 10 pixels gives 10 pixels read as 0..9, not by
// floor(d / 1.05)). The scale that reproduces that is out / in itself. `sizes`: the output
// sizes when given beside the scales (else floor(in * scale)).
Output nearest2d_scales(NodeContext& ctx, const Output& x, const std::vector<double>& s,
                        const std::optional<Output>& sizes) {
    const int64_t r = static_rank(ctx, x);
    const Tensor* given = sizes ? sizes->node->constant_value() : nullptr;
    bool all_static = !sizes || given;
    std::vector<double> fixed = s;
    for (size_t k = 0; k < s.size() && all_static; ++k) {
        const Dimension& d = x.shape()[static_cast<size_t>(r - 2) + k];
        if (!d.is_static()) {
            all_static = false;
            break;
        }
        int64_t in = d.get_length();
        int64_t out = given ? given->as_i64_vector().at(k) : op::scaled_length(in, s[k], Type::f64);
        if (out == in) fixed[k] = 1.0;
        else if (out == 2 * in) fixed[k] = 2.0;
    }
    if (all_static) return ctx.constant(Tensor::from_vector(fixed, {static_cast<int64_t>(s.size())}));
    OutputVector parts;
    for (size_t k = 0; k < s.size(); ++k) {
        Output in = to_type(ctx, dim_of(ctx, x, r - 2 + static_cast<int64_t>(k)), Type::f64);
        Output sc = typed_scalar(ctx, Type::f64, s[k]);
        Output out = sizes ? to_type(ctx, ctx.make<op::Gather>({*sizes, ctx.i64_scalar(static_cast<int64_t>(k)),
                                                                 ctx.i64_scalar(0)}, int64_t{0}), Type::f64)
                           : ctx.make<op::Floor>({ctx.make<op::Multiply>({in, sc})});
        Output twice = ctx.make<op::Multiply>({in, typed_scalar(ctx, Type::f64, 2.0)});
        Output e = ctx.make<op::Select>({ctx.make<op::Equal>({out, twice}), typed_scalar(ctx, Type::f64, 2.0), sc});
        e = ctx.make<op::Select>({ctx.make<op::Equal>({out, in}), typed_scalar(ctx, Type::f64, 1.0), e});
        parts.push_back(ctx.make<op::Unsqueeze>({e, ctx.i64({0})}));
    }
    return ctx.make<op::Concat>(parts, int64_t{0});
}

// The older overloads take an output size and the scales that set the step apart: output d
// still reads where the scale puts it, past floor(in * scale) too, clamped into the input.
// In scales mode the step does not depend on the output length, so: extend the input by
// copies of its last element until floor(len * scale) covers the size, then cut to the size.
Output sized_by_scales(NodeContext& ctx, const Output& x, const Output& scales, const Output& sizes,
                       const std::vector<int64_t>& axes, const op::Interpolate& attrs) {
    const size_t n = axes.size();
    OutputVector ends{ctx.i64_scalar(0), ctx.i64_scalar(0)};
    for (size_t k = 0; k < n; ++k) {
        Output in = to_type(ctx, dim_of(ctx, x, axes[k]), Type::f64);
        Output sk = ctx.make<op::Gather>({scales, ctx.i64_scalar(static_cast<int64_t>(k)), ctx.i64_scalar(0)}, int64_t{0});
        Output out = to_type(ctx, ctx.make<op::Gather>({sizes, ctx.i64_scalar(static_cast<int64_t>(k)), ctx.i64_scalar(0)},
                                                       int64_t{0}),
                             Type::f64);
        Output need = ctx.make<op::Subtract>(
            {ctx.make<op::Add>({ctx.make<op::Ceiling>({ctx.make<op::Divide>({out, sk})}), typed_scalar(ctx, Type::f64, 1)}), in});
        ends.push_back(to_type(ctx, ctx.make<op::Maximum>({need, typed_scalar(ctx, Type::f64, 0)}), Type::i64));
    }
    OutputVector parts;
    for (auto& e : ends) parts.push_back(ctx.make<op::Unsqueeze>({e, ctx.i64({0})}));
    Output pe = ctx.make<op::Concat>(parts, int64_t{0});
    Output xp = ctx.make<op::Pad>({x, ctx.i64(std::vector<int64_t>(n + 2, 0)), pe}, op::PadMode::edge);
    Output y = ctx.make<op::Interpolate>({xp, scales, ctx.i64(axes)}, attrs);
    return ctx.make<op::Slice>({y, ctx.i64(std::vector<int64_t>(n, 0)), sizes, ctx.i64(std::vector<int64_t>(n, 1)),
                                ctx.i64(axes)});
}

// The [out, in] matrix of Pillow's filter (triangle or cubic with a = -0.5) resampling one axis
// with input step `ratio` (f32 scalar): row o weighs input j by filter((j - c + 0.5) / w),
// c = ratio * (o + 0.5), w = max(ratio, 1), normalized. Pillow's window [c - S + 0.5, c + S + 0.5)
// (S = support * w) is exactly where the filter is not 0, so the whole row can be weighed.
Output pillow_matrix(NodeContext& ctx, bool cubic, const Output& in, const Output& out, const Output& ratio) {
    auto f = [&](double v) { return typed_scalar(ctx, Type::f32, v); };
    auto range = [&](const Output& n, std::vector<int64_t> shape) {
        Output r = ctx.make<op::Range>({f(0), to_type(ctx, n, Type::f32), f(1)}, Type::f32);
        return ctx.make<op::Reshape>({r, ctx.i64(shape)}, false);
    };
    Output inv = ctx.make<op::Divide>({f(1), ctx.make<op::Maximum>({ratio, f(1)})});
    Output center = ctx.make<op::Multiply>({ctx.make<op::Add>({range(out, {-1, 1}), f(0.5)}), ratio});
    Output x = ctx.make<op::Multiply>(
        {ctx.make<op::Add>({ctx.make<op::Subtract>({range(in, {1, -1}), center}), f(0.5)}), inv});
    Output ax = ctx.make<op::Abs>({x});
    Output w;
    if (!cubic) {
        w = ctx.make<op::Relu>({ctx.make<op::Subtract>({f(1), ax})});
    } else {
        const double a = -0.5;
        Output x2 = ctx.make<op::Multiply>({ax, ax});
        // |x| < 1: ((a + 2)|x| - (a + 3)) x^2 + 1;  1 <= |x| < 2: (((|x| - 5)|x| + 8)|x| - 4) a
        Output near = ctx.make<op::Add>(
            {ctx.make<op::Multiply>({ctx.make<op::Subtract>({ctx.make<op::Multiply>({ax, f(a + 2)}), f(a + 3)}), x2}), f(1)});
        Output far = ctx.make<op::Subtract>({ctx.make<op::Multiply>({ctx.make<op::Subtract>({ax, f(5)}), ax}), f(-8)});
        far = ctx.make<op::Multiply>({ctx.make<op::Subtract>({ctx.make<op::Multiply>({far, ax}), f(4)}), f(a)});
        w = ctx.make<op::Select>({ctx.make<op::Less>({ax, f(2)}), far, f(0)});
        w = ctx.make<op::Select>({ctx.make<op::Less>({ax, f(1)}), near, w});
    }
    Output total = ctx.make<op::ReduceSum>({w, ctx.i64({1})}, true);
    // A row of zeros (no input under the filter) stays zeros, as in torch.
    total = ctx.make<op::Select>({ctx.make<op::Equal>({total, f(0)}), f(1), total});
    return ctx.make<op::Divide>({w, total});
}

// Antialiased resampling with align_corners=True: torch then centres output d at
// (d + 0.5) * (in - 1) / (out - 1), a step the opset's Pillow modes cannot take (they ignore
// coordinate_transformation_mode): each axis becomes a MatMul by its weight matrix, built in
// the graph from the sizes (constant once the sizes are known).
Output aa_align_corners(NodeContext& ctx, const Output& x, Kind kind, const Output& sizes) {
    const int64_t r = static_rank(ctx, x);
    ctx.check(r == 4, "antialias needs a 4-D input, got rank ", r);
    auto f = [&](double v) { return typed_scalar(ctx, Type::f32, v); };
    Output y = x;
    for (int k = 1; k >= 0; --k) {  // W, then H
        Output in = dim_of(ctx, x, 2 + k);
        Output out = ctx.make<op::Gather>({sizes, ctx.i64_scalar(k), ctx.i64_scalar(0)}, int64_t{0});
        Output fin = to_type(ctx, in, Type::f32), fout = to_type(ctx, out, Type::f32);
        Output steps = ctx.make<op::Maximum>({ctx.make<op::Subtract>({fout, f(1)}), f(1)});
        Output ratio = ctx.make<op::Divide>({ctx.make<op::Subtract>({fin, f(1)}), steps});
        ratio = ctx.make<op::Select>({ctx.make<op::Greater>({fout, f(1)}), ratio, f(0)});
        Output m = pillow_matrix(ctx, kind == Kind::bicubic_aa, in, out, ratio);
        y = k == 1 ? ctx.make<op::MatMul>({y, m}, false, true) : ctx.make<op::MatMul>({m, y}, false, false);
    }
    return y;
}

// upsample_*(input, output_size, [align_corners,] scale_factors) and the older overloads
// upsample_*(input, output_size, [align_corners,] scales_1, ..., scales_n).
Outs upsample(NodeContext& ctx, Kind kind) {
    Output x = ctx.input(0);
    const size_t n = spatial_rank_of(ctx.kind());
    const int64_t r = static_rank(ctx, x);
    ctx.check(r == static_cast<int64_t>(n) + 2, "expects a ", n + 2, "-D input, got ", x.shape().to_string());
    const bool has_ac = kind != Kind::nearest && kind != Kind::nearest_exact;
    const bool align_corners = has_ac && ctx.has_input(2) && ctx.const_bool(2);
    const size_t scale_i = has_ac ? 3 : 2;
    std::vector<int64_t> axes;
    for (size_t k = 0; k < n; ++k) axes.push_back(static_cast<int64_t>(k + 2));

    // The scales: one list (scale_factors) or one optional float per axis.
    std::vector<double> sv;
    std::optional<Output> scales;
    if (ctx.num_inputs() == scale_i + 1) {
        scales = scale_factors(ctx, scale_i, n, &sv);
    } else if (ctx.num_inputs() == scale_i + n) {
        bool all = true;
        for (size_t k = 0; k < n; ++k) {
            if (!ctx.has_input(scale_i + k)) all = false;
            else sv.push_back(ctx.const_float(scale_i + k));
        }
        if (all) scales = ctx.constant(Tensor::from_vector(sv, {static_cast<int64_t>(n)}));
        else sv.clear();
    }
    const bool has_size = ctx.has_input(1);
    ctx.check(has_size || scales, "needs output_size or scale_factors");

    InterpolateMode mode = InterpolateMode::nearest;
    CoordinateTransformMode ctm = align_corners ? CoordinateTransformMode::align_corners : CoordinateTransformMode::half_pixel;
    double cube = -0.75;
    switch (kind) {
        case Kind::nearest: ctm = CoordinateTransformMode::asymmetric; break;
        case Kind::nearest_exact: ctm = CoordinateTransformMode::tf_half_pixel_for_nn; break;
        case Kind::linear: mode = InterpolateMode::linear_onnx; break;
        case Kind::cubic: mode = InterpolateMode::cubic; break;
        case Kind::bilinear_aa: mode = InterpolateMode::bilinear_pillow; break;
        case Kind::bicubic_aa:
            mode = InterpolateMode::bicubic_pillow;
            cube = -0.5;
            break;
    }
    const bool aa = kind == Kind::bilinear_aa || kind == Kind::bicubic_aa;
    if (aa && align_corners) {
        Output sizes;
        if (has_size) {
            sizes = int_list(ctx, 1);
        } else {  // floor(in * scale), in f64 as torch
            OutputVector parts;
            for (size_t k = 0; k < n; ++k) {
                Output sk = ctx.make<op::Gather>({*scales, ctx.i64_scalar(static_cast<int64_t>(k)), ctx.i64_scalar(0)},
                                                 int64_t{0});
                Output len = ctx.make<op::Floor>(
                    {ctx.make<op::Multiply>({to_type(ctx, dim_of(ctx, x, 2 + static_cast<int64_t>(k)), Type::f64), sk})});
                parts.push_back(ctx.make<op::Unsqueeze>({to_type(ctx, len, Type::i64), ctx.i64({0})}));
            }
            sizes = ctx.make<op::Concat>(parts, int64_t{0});
        }
        return {aa_align_corners(ctx, x, kind, sizes)};
    }
    // The coordinate step comes from the scales whenever torch has them (even beside an
    // output_size, as in the older overloads), else from the sizes; align_corners steps by
    // (in - 1) / (out - 1) whatever the scales say.
    const bool use_scales = scales.has_value() && !(align_corners && has_size);
    std::optional<Output> sizes;
    if (has_size) sizes = int_list(ctx, 1);
    if (kind == Kind::nearest && n == 2 && use_scales && !sv.empty()) scales = nearest2d_scales(ctx, x, sv, sizes);
    op::Interpolate attrs(mode, use_scales ? ShapeCalcMode::scales : ShapeCalcMode::sizes, ctm, NearestMode::floor,
                          false, cube);
    if (use_scales && sizes) {
        // Both given: scales mode already gives the sizes when they agree with floor(in * scale).
        bool agree = !sv.empty();
        const Tensor* sz = sizes->node->constant_value();
        for (size_t k = 0; k < n && agree; ++k) {
            const Dimension& d = x.shape()[2 + k];
            agree = sz && d.is_static() &&
                    op::scaled_length(d.get_length(), sv[k], Type::f64) == sz->as_i64_vector().at(k);
        }
        if (!agree) return {sized_by_scales(ctx, x, *scales, *sizes, axes, attrs)};
    }
    return {ctx.make<op::Interpolate>({x, use_scales ? *scales : *sizes, ctx.i64(axes)}, attrs)};
}

// grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)
Outs grid_sampler(NodeContext& ctx) {
    Output x = ctx.input(0), grid = ctx.input(1);
    ctx.check(static_rank(ctx, x) == 4, "only 4-D inputs are supported (the opset's GridSample is 2-D), got ",
              x.shape().to_string());
    const int64_t m = ctx.const_int(2), p = ctx.const_int(3);
    ctx.check(m >= 0 && m <= 2, "interpolation mode ", m, " is not bilinear (0), nearest (1) or bicubic (2)");
    ctx.check(p >= 0 && p <= 2, "padding mode ", p, " is not zeros (0), border (1) or reflection (2)");
    const op::GridSampleMode modes[] = {op::GridSampleMode::bilinear, op::GridSampleMode::nearest,
                                        op::GridSampleMode::bicubic};
    const op::GridSamplePadding pads[] = {op::GridSamplePadding::zeros, op::GridSamplePadding::border,
                                          op::GridSamplePadding::reflection};
    return {ctx.make<op::GridSample>({x, grid}, modes[m], pads[p], ctx.const_bool(4))};
}

// A 1-D i64 shape from scalar (0-d) pieces.
Output shape_from(NodeContext& ctx, const OutputVector& dims) {
    OutputVector parts;
    for (auto& d : dims) parts.push_back(ctx.make<op::Unsqueeze>({to_type(ctx, d, Type::i64), ctx.i64({0})}));
    return ctx.make<op::Concat>(parts, int64_t{0});
}

// [*b, C * r * r, H, W] -> [*b, C, H * r, W * r]
Outs pixel_shuffle(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t r = ctx.const_int(1), rank = static_rank(ctx, x);
    ctx.check(rank >= 3, "expects at least 3 dims, got ", x.shape().to_string());
    ctx.check(r > 0, "upscale_factor must be positive, got ", r);
    const int64_t b = rank - 3;
    OutputVector s1, s2;
    std::vector<int64_t> order;
    for (int64_t k = 0; k < b; ++k) {
        s1.push_back(ctx.i64_scalar(0));  // special_zero: keep the batch dims
        s2.push_back(ctx.i64_scalar(0));
        order.push_back(k);
    }
    Output h = dim_of(ctx, x, b + 1), w = dim_of(ctx, x, b + 2), rr = ctx.i64_scalar(r);
    for (auto d : {ctx.i64_scalar(-1), rr, rr, h, w}) s1.push_back(d);
    Output t = ctx.make<op::Reshape>({x, shape_from(ctx, s1)}, true);
    for (int64_t k : {b, b + 3, b + 1, b + 4, b + 2}) order.push_back(k);
    t = ctx.make<op::Transpose>({t, ctx.i64(order)});
    for (auto d : {ctx.i64_scalar(-1), ctx.make<op::Multiply>({h, rr}), ctx.make<op::Multiply>({w, rr})}) s2.push_back(d);
    return {ctx.make<op::Reshape>({t, shape_from(ctx, s2)}, true)};
}

// [*b, C, H * r, W * r] -> [*b, C * r * r, H, W]
Outs pixel_unshuffle(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t r = ctx.const_int(1), rank = static_rank(ctx, x);
    ctx.check(rank >= 3, "expects at least 3 dims, got ", x.shape().to_string());
    ctx.check(r > 0, "downscale_factor must be positive, got ", r);
    const int64_t b = rank - 3;
    Output rr = ctx.i64_scalar(r), zero = ctx.i64_scalar(0), minus = ctx.i64_scalar(-1);
    Output c = dim_of(ctx, x, b), h = ctx.make<op::Divide>({dim_of(ctx, x, b + 1), rr}, true),
           w = ctx.make<op::Divide>({dim_of(ctx, x, b + 2), rr}, true);
    OutputVector s1(static_cast<size_t>(b), zero), s2(static_cast<size_t>(b), zero);
    for (auto d : {c, h, rr, w, rr}) s1.push_back(d);
    Output t = ctx.make<op::Reshape>({x, shape_from(ctx, s1)}, true);
    std::vector<int64_t> order;
    for (int64_t k = 0; k < b; ++k) order.push_back(k);
    for (int64_t k : {b, b + 2, b + 4, b + 1, b + 3}) order.push_back(k);
    t = ctx.make<op::Transpose>({t, ctx.i64(order)});
    for (auto d : {minus, h, w}) s2.push_back(d);
    return {ctx.make<op::Reshape>({t, shape_from(ctx, s2)}, true)};
}

// [N, C, *] -> [N, g, C / g, *] -> swap g and C / g -> [N, C, *]
Outs channel_shuffle(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t g = ctx.const_int(1), rank = static_rank(ctx, x);
    ctx.check(rank >= 3, "expects at least 3 dims, got ", x.shape().to_string());
    ctx.check(g > 0, "groups must be positive, got ", g);
    Output cg = ctx.make<op::Divide>({dim_of(ctx, x, 1), ctx.i64_scalar(g)}, true);
    Output t = ctx.make<op::Reshape>(
        {x, shape_from(ctx, {ctx.i64_scalar(0), ctx.i64_scalar(g), cg, ctx.i64_scalar(-1)})}, true);
    t = ctx.make<op::Transpose>({t, ctx.i64({0, 2, 1, 3})});
    return {ctx.make<op::Reshape>({t, shape_of(ctx, x)}, false)};
}

// meshgrid(tensors[, indexing]): input i (1-D, or 0-d as one element) spreads along axis i of
// the grid; "xy" swaps the roles of the first two axes.
Outs meshgrid(NodeContext& ctx) {
    OutputVector ts = ctx.tensor_list(0);
    std::string indexing = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_str(1) : "ij";
    ctx.check(indexing == "ij" || indexing == "xy", "indexing must be 'ij' or 'xy', got '", indexing, "'");
    const size_t n = ts.size();
    ctx.check(n > 0, "expects at least one tensor");
    std::vector<size_t> axis(n);
    for (size_t i = 0; i < n; ++i) axis[i] = i;
    if (indexing == "xy" && n >= 2) std::swap(axis[0], axis[1]);
    OutputVector flat(n), len(n);
    for (size_t i = 0; i < n; ++i) {
        int64_t r = static_rank(ctx, ts[i]);
        ctx.check(r <= 1, "expects 0-d or 1-d tensors, got ", ts[i].shape().to_string());
        flat[i] = ctx.make<op::Reshape>({ts[i], ctx.i64({-1})}, false);
        len[axis[i]] = dim_of(ctx, flat[i], 0);
    }
    Output shape = shape_from(ctx, len);
    std::vector<TValue> out;
    for (size_t i = 0; i < n; ++i) {
        std::vector<int64_t> s(n, 1);
        s[axis[i]] = -1;
        Output v = ctx.make<op::Reshape>({flat[i], ctx.i64(s)}, false);
        out.emplace_back(ctx.make<op::Broadcast>({v, shape}, op::BroadcastMode::numpy));
    }
    return {TValue::list(out)};
}

std::vector<int64_t> pair_arg(const NodeContext& ctx, size_t i, const char* what) {
    auto v = ctx.const_ints(i);
    if (v.size() == 1) v.push_back(v[0]);
    ctx.check(v.size() == 2, what, " must have 2 values, got ", v.size());
    return v;
}

// im2col(input, kernel_size, dilation, padding, stride) -> [N, C * kh * kw, L]: the padded
// image flattened per channel, gathered at a [kh * kw, L] grid of flat indices.
Outs im2col(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t rank = static_rank(ctx, x);
    ctx.check(rank == 3 || rank == 4, "expects a 3-D or 4-D input, got ", x.shape().to_string());
    if (rank == 3) x = ctx.make<op::Unsqueeze>({x, ctx.i64({0})});
    auto k = pair_arg(ctx, 1, "kernel_size"), d = pair_arg(ctx, 2, "dilation"), p = pair_arg(ctx, 3, "padding"),
         s = pair_arg(ctx, 4, "stride");
    if (p[0] || p[1])
        x = ctx.make<op::Pad>({x, ctx.i64({0, 0, p[0], p[1]}), ctx.i64({0, 0, p[0], p[1]}),
                               typed_scalar(ctx, x.type(), 0.0)},
                              op::PadMode::constant);
    Output hp = dim_of(ctx, x, 2), wp = dim_of(ctx, x, 3), one = ctx.i64_scalar(1);
    auto blocks = [&](const Output& len, int a) {
        Output span = ctx.make<op::Subtract>({len, ctx.i64_scalar(d[a] * (k[a] - 1) + 1)});
        return ctx.make<op::Add>({ctx.make<op::Divide>({span, ctx.i64_scalar(s[a])}, true), one});
    };
    Output bh = blocks(hp, 0), bw = blocks(wp, 1);
    std::vector<int64_t> kh, kw;
    for (int64_t i = 0; i < k[0]; ++i) kh.push_back(i * d[0]);
    for (int64_t j = 0; j < k[1]; ++j) kw.push_back(j * d[1]);
    auto range = [&](const Output& n, int64_t step, std::vector<int64_t> shape) {
        Output r = ctx.make<op::Range>({ctx.i64_scalar(0), ctx.make<op::Multiply>({n, ctx.i64_scalar(step)}),
                                        ctx.i64_scalar(step)},
                                       Type::i64);
        return ctx.make<op::Reshape>({r, ctx.i64(shape)}, false);
    };
    Output rows = ctx.make<op::Add>({ctx.constant(Tensor::from_vector(kh, {k[0], 1, 1, 1})), range(bh, s[0], {1, 1, -1, 1})});
    Output cols = ctx.make<op::Add>({ctx.constant(Tensor::from_vector(kw, {1, k[1], 1, 1})), range(bw, s[1], {1, 1, 1, -1})});
    Output idx = ctx.make<op::Add>({ctx.make<op::Multiply>({rows, wp}), cols});
    Output l = ctx.make<op::Multiply>({bh, bw});
    idx = ctx.make<op::Reshape>({idx, shape_from(ctx, {ctx.i64_scalar(k[0] * k[1]), l})}, false);
    Output flat = ctx.make<op::Reshape>({x, ctx.i64({0, 0, -1})}, true);
    Output g = ctx.make<op::Gather>({flat, idx, ctx.i64_scalar(2)}, int64_t{0});
    Output y = ctx.make<op::Reshape>({g, shape_from(ctx, {ctx.i64_scalar(0), ctx.i64_scalar(-1), l})}, true);
    if (rank == 3) y = ctx.make<op::Squeeze>({y, ctx.i64({0})});
    return {y};
}

// col2im(input, output_size, kernel_size, dilation, padding, stride)
Outs col2im(NodeContext& ctx) {
    Output x = ctx.input(0);
    // The output size may be computed at run time (fold back to x.shape[-2:]).
    auto k = pair_arg(ctx, 2, "kernel_size"), d = pair_arg(ctx, 3, "dilation"), p = pair_arg(ctx, 4, "padding"),
         s = pair_arg(ctx, 5, "stride");
    return {ctx.make<op::Col2Im>({x, int_list(ctx, 1), ctx.i64(k)}, s, d, p, p)};
}

}  // namespace

void add_resample_translators(TranslatorTable& t) {
    t["aten::upsample_nearest1d"] = t["aten::upsample_nearest2d"] = t["aten::upsample_nearest3d"] =
        [](NodeContext& c) { return upsample(c, Kind::nearest); };
    t["aten::_upsample_nearest_exact1d"] = t["aten::_upsample_nearest_exact2d"] = t["aten::_upsample_nearest_exact3d"] =
        [](NodeContext& c) { return upsample(c, Kind::nearest_exact); };
    t["aten::upsample_linear1d"] = t["aten::upsample_bilinear2d"] = t["aten::upsample_trilinear3d"] =
        [](NodeContext& c) { return upsample(c, Kind::linear); };
    t["aten::upsample_bicubic2d"] = [](NodeContext& c) { return upsample(c, Kind::cubic); };
    t["aten::_upsample_bilinear2d_aa"] = [](NodeContext& c) { return upsample(c, Kind::bilinear_aa); };
    t["aten::_upsample_bicubic2d_aa"] = [](NodeContext& c) { return upsample(c, Kind::bicubic_aa); };
    t["aten::grid_sampler"] = t["aten::grid_sampler_2d"] = grid_sampler;
    t["aten::pixel_shuffle"] = pixel_shuffle;
    t["aten::pixel_unshuffle"] = pixel_unshuffle;
    t["aten::channel_shuffle"] = channel_shuffle;
    t["aten::meshgrid"] = meshgrid;
    t["aten::im2col"] = im2col;
    t["aten::col2im"] = col2im;
}

}  // namespace kiln::frontend::pytorch
