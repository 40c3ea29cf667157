// Convolutions and pooling.
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

// A per-spatial-axis int list argument (torch allows one value for all axes).
std::vector<int64_t> spatial(const NodeContext& ctx, size_t i, size_t n, int64_t dflt) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return std::vector<int64_t>(n, dflt);
    auto v = ctx.const_ints(i);
    if (v.empty()) return std::vector<int64_t>(n, dflt);
    if (v.size() == 1 && n > 1) v.assign(n, v[0]);
    ctx.check(v.size() == n, "expected ", n, " values for argument ", i, ", got ", v.size());
    return v;
}

// Weights [A, B, k...] -> [G, A/G, B, k...] (the weight's shape may be known only at run time).
Output grouped_weights(NodeContext& ctx, const Output& w, int64_t groups) {
    if (w.shape().is_static()) {
        std::vector<int64_t> s{groups, w.shape()[0].get_length() / groups};
        for (size_t k = 1; k < static_cast<size_t>(w.shape().rank()); ++k) s.push_back(w.shape()[k].get_length());
        return ctx.make<op::Reshape>({w, ctx.i64(s)}, false);
    }
    int64_t r = w.shape().rank();
    Output rest = ctx.make<op::Slice>({shape_of(ctx, w), ctx.i64({1}), ctx.i64({r}), ctx.i64({1}), ctx.i64({0})});
    return ctx.make<op::Reshape>({w, ctx.make<op::Concat>(OutputVector{ctx.i64({groups, -1}), rest}, int64_t{0})}, false);
}

// conv(input, weight, bias, stride, padding, dilation, [transposed, output_padding,] groups)
Output convolution(NodeContext& ctx, size_t stride_i, size_t pad_i, size_t dil_i, size_t groups_i) {
    Output x = ctx.input(0), w = ctx.input(1);
    ctx.check(w.shape().rank_is_static(), "the weight's rank must be known");
    size_t n = static_cast<size_t>(w.shape().rank() - 2);
    auto strides = spatial(ctx, stride_i, n, 1);
    auto dil = spatial(ctx, dil_i, n, 1);
    int64_t groups = ctx.const_int(groups_i);
    op::PadType auto_pad = op::PadType::explicit_pad;
    std::vector<int64_t> pads(n, 0);
    if (!ctx.is_none(pad_i) && ctx.value(pad_i).kind == TValue::Kind::constant &&
        ctx.value(pad_i).c.kind == ConstValue::Kind::string) {
        auto p = ctx.const_str(pad_i);
        if (p == "same") auto_pad = op::PadType::same_upper;
        else if (p == "valid") auto_pad = op::PadType::valid;
        else ctx.fail("padding='", p, "' is not 'same' or 'valid'");
    } else if (!ctx.is_none(pad_i) && !ctx.is_const(pad_i)) {
        // Amounts computed at run time (core ATen's padding='same' for a kernel whose size is a
        // dynamic dim): an explicit zero Pad of the spatial axes, then no padding.
        auto items = ctx.list(pad_i);
        ctx.check(items.size() == n || items.size() == 1, "padding has ", items.size(), " values for ", n, " spatial axes");
        OutputVector amounts{ctx.i64({0, 0})};
        for (size_t k = 0; k < n; ++k)
            amounts.push_back(ctx.make<op::Reshape>({to_type(ctx, ctx.tensor_of(items[items.size() == 1 ? 0 : k]), Type::i64),
                                                     ctx.i64({1})},
                                                    false));
        Output both = ctx.make<op::Concat>(amounts, int64_t{0});
        x = ctx.make<op::Pad>({x, both, both, typed_scalar(ctx, x.type(), 0)}, op::PadMode::constant);
    } else {
        pads = spatial(ctx, pad_i, n, 0);
    }
    Output y;
    if (groups == 1) {
        y = ctx.make<op::Convolution>({x, w}, strides, pads, pads, dil, auto_pad);
    } else {
        // weights [O, I/G, k...] -> [G, O/G, I/G, k...]
        if (w.shape()[0].is_static())
            ctx.check(w.shape()[0].get_length() % groups == 0, "output channels ", w.shape()[0].get_length(),
                      " are not divisible by groups ", groups);
        Output gw = grouped_weights(ctx, w, groups);
        y = ctx.make<op::GroupConvolution>({x, gw}, strides, pads, pads, dil, auto_pad);
    }
    if (ctx.has_input(2)) {
        Output b = ctx.input(2);
        std::vector<int64_t> bs{1, -1};
        for (size_t k = 0; k < n; ++k) bs.push_back(1);
        y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({b, ctx.i64(bs)}, false)});
    }
    return y;
}

// conv2d(input, weight, bias, stride, padding, dilation, groups); _convolution_mode is the
// traced form with padding given as 'same' / 'valid'.
Outs conv_nd(NodeContext& ctx) { return {convolution(ctx, 3, 4, 5, 6)}; }

// Transposed convolution: weights [C_in, C_out/G, k...] (torch) -> ConvolutionBackpropData
// [C_in, C_out, k...] or GroupConvolutionBackpropData [G, C_in/G, C_out/G, k...].
Output conv_transpose(NodeContext& ctx, size_t stride_i, size_t pad_i, size_t out_pad_i, size_t groups_i,
                      size_t dil_i) {
    Output x = ctx.input(0), w = ctx.input(1);
    ctx.check(w.shape().rank_is_static(), "the weight's rank must be known");
    size_t n = static_cast<size_t>(w.shape().rank() - 2);
    ctx.check(n >= 1 && n <= 3, "transposed convolution needs 1 to 3 spatial axes, the weight is ",
              w.shape().to_string());
    auto strides = spatial(ctx, stride_i, n, 1);
    auto pads = spatial(ctx, pad_i, n, 0);
    auto out_pad = spatial(ctx, out_pad_i, n, 0);
    auto dil = spatial(ctx, dil_i, n, 1);
    int64_t groups = ctx.const_int(groups_i);
    Output y;
    if (groups == 1) {
        y = ctx.make<op::ConvolutionBackpropData>({x, w}, strides, pads, pads, dil, op::PadType::explicit_pad, out_pad);
    } else {
        if (w.shape()[0].is_static())
            ctx.check(w.shape()[0].get_length() % groups == 0, "input channels ", w.shape()[0].get_length(),
                      " are not divisible by groups ", groups);
        Output gw = grouped_weights(ctx, w, groups);
        y = ctx.make<op::GroupConvolutionBackpropData>({x, gw}, strides, pads, pads, dil, op::PadType::explicit_pad,
                                                       out_pad);
    }
    if (ctx.has_input(2)) {
        std::vector<int64_t> bs{1, -1};
        for (size_t k = 0; k < n; ++k) bs.push_back(1);
        y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({ctx.input(2), ctx.i64(bs)}, false)});
    }
    return y;
}

// aten::_convolution / aten::convolution(input, weight, bias, stride, padding, dilation,
// transposed, output_padding, groups, ...)
Outs convolution_full(NodeContext& ctx) {
    if (ctx.const_bool(6)) return {conv_transpose(ctx, 3, 4, 7, 8, 5)};
    return {convolution(ctx, 3, 4, 5, 8)};
}

// conv_transposeNd(input, weight, bias, stride, padding, output_padding, groups, dilation)
Outs conv_transpose_nd(NodeContext& ctx) { return {conv_transpose(ctx, 3, 4, 5, 6, 7)}; }

size_t spatial_rank(const NodeContext& ctx, const char* kind) {
    std::string k = ctx.kind();
    if (k.find("1d") != std::string::npos) return 1;
    if (k.find("3d") != std::string::npos) return 3;
    return 2;
}

// Pooling's ceil_mode is torch's rule (ceil_torch, opset14): a last window that would start
// in the end padding is dropped.
op::RoundingType rounding(bool ceil) { return ceil ? op::RoundingType::ceil_torch : op::RoundingType::floor; }

// max_poolNd(input, kernel_size, stride, padding, dilation, ceil_mode); the _with_indices forms
// also return the indices of the maxima, flat over each (n, c) plane's spatial axes (axis 2).
Outs max_pool(NodeContext& ctx, bool with_indices) {
    size_t n = spatial_rank(ctx, "");
    auto k = spatial(ctx, 1, n, 1);
    auto s = spatial(ctx, 2, n, 0);
    if (s == std::vector<int64_t>(n, 0)) s = k;  // stride=[] means stride = kernel
    auto p = spatial(ctx, 3, n, 0);
    auto d = spatial(ctx, 4, n, 1);
    bool ceil = ctx.num_inputs() > 5 && ctx.const_bool(5);
    for (size_t i = 0; i < n; ++i)
        ctx.check(2 * p[i] <= k[i], "padding ", p[i], " must be at most half the kernel size ", k[i],
                  " (torch rejects it too)");
    auto node = ctx.make_node<op::MaxPool>({ctx.input(0)}, s, d, p, p, k, rounding(ceil),
                                           op::PadType::explicit_pad, Type::i64, int64_t{2});
    if (with_indices) return {node->output(0), node->output(1)};
    return {node->output(0)};
}

// avg_poolNd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
Outs avg_pool(NodeContext& ctx) {
    Output x = ctx.input(0);
    size_t n = spatial_rank(ctx, "");
    auto k = spatial(ctx, 1, n, 1);
    auto s = spatial(ctx, 2, n, 0);
    if (s == std::vector<int64_t>(n, 0)) s = k;
    auto p = spatial(ctx, 3, n, 0);
    bool ceil = ctx.num_inputs() > 4 && ctx.const_bool(4);
    bool include_pad = ctx.num_inputs() > 5 ? ctx.const_bool(5) : true;
    for (size_t i = 0; i < n; ++i)
        ctx.check(2 * p[i] <= k[i], "padding ", p[i], " must be at most half the kernel size ", k[i],
                  " (torch rejects it too)");
    Output y = ctx.make<op::AvgPool>({x}, s, p, p, k, !include_pad, rounding(ceil), op::PadType::explicit_pad);
    if (ctx.num_inputs() <= 6 || ctx.is_none(6)) return {y};
    // divisor_override: the window sums divided by one number. Zero-pad the input so that every
    // window torch takes lies inside it (the ceil reach needs at most stride - 1 more at the
    // end), average with no padding (each window's full size divides), and keep as many
    // outputs as the pooling above gives.
    int64_t divisor = ctx.const_int(6);
    ctx.check(divisor != 0, "divisor_override must not be zero");
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> pb(static_cast<size_t>(r), 0), pe(static_cast<size_t>(r), 0);
    int64_t window = 1;
    for (size_t i = 0; i < n; ++i) {
        size_t a = static_cast<size_t>(r) - n + i;
        pb[a] = p[i];
        pe[a] = p[i] + (ceil ? s[i] - 1 : 0);
        window *= k[i];
    }
    // Integers sum exactly in f64 and divide truncating toward zero, as torch's do.
    const bool integral = !is_float(x.type());
    Output xs = integral ? to_type(ctx, x, Type::f64) : x;
    Output padded = ctx.make<op::Pad>({xs, ctx.i64(pb), ctx.i64(pe), typed_scalar(ctx, xs.type(), 0.0)}, op::PadMode::constant);
    std::vector<int64_t> none(n, 0);
    Output sums = ctx.make<op::AvgPool>({padded}, s, none, none, k, false, op::RoundingType::floor, op::PadType::explicit_pad);
    if (ceil) {
        std::vector<int64_t> axes, zeros(n, 0), ones(n, 1);
        for (size_t i = 0; i < n; ++i) axes.push_back(r - static_cast<int64_t>(n) + static_cast<int64_t>(i));
        Output stop = ctx.make<op::Gather>({shape_of(ctx, y), ctx.i64(axes), ctx.i64_scalar(0)}, int64_t{0});
        sums = ctx.make<op::Slice>({sums, ctx.i64(zeros), stop, ctx.i64(ones), ctx.i64(axes)});
    }
    if (integral) {
        sums = ctx.make<op::Round>({ctx.make<op::Multiply>({sums, typed_scalar(ctx, Type::f64, static_cast<double>(window))})},
                                   op::RoundMode::half_to_even);
        return {to_type(ctx, ctx.make<op::Divide>({sums, typed_scalar(ctx, Type::f64, static_cast<double>(divisor))}), x.type())};
    }
    return {ctx.make<op::Multiply>({sums, typed_scalar(ctx, x.type(), static_cast<double>(window) / static_cast<double>(divisor))})};
}

Outs adaptive_avg_pool(NodeContext& ctx) {
    Output x = ctx.input(0);
    size_t n = spatial_rank(ctx, "");
    auto out = spatial(ctx, 1, n, 1);
    // output_size entries may be None (keep the input size): resolve from static dims.
    return {ctx.make<op::AdaptiveAvgPool>({x, ctx.i64(out)})};
}

Outs adaptive_max_pool(NodeContext& ctx) {
    Output x = ctx.input(0);
    size_t n = spatial_rank(ctx, "");
    auto out = spatial(ctx, 1, n, 1);
    auto node = ctx.make_node<op::AdaptiveMaxPool>({x, ctx.i64(out)}, Type::i64);
    return {node->output(0), node->output(1)};
}

// prelu(x, weight): weight has one value or one per channel (dim 1); shaped [C, 1, ...] so
// plain broadcasting applies it on dim 1 whatever the rank and sizes.
Outs prelu(NodeContext& ctx) {
    Output x = ctx.input(0), w = ctx.input(1);
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> ws{-1};
    for (int64_t i = 2; i < r; ++i) ws.push_back(1);
    if (r < 2) ws = {-1};
    return {ctx.make<op::PRelu>({x, ctx.make<op::Reshape>({w, ctx.i64(ws)}, false)})};
}

// _weight_norm(v, g, dim) = v * (g / ||v||), the 2-norm over every axis but `dim` (dim -1:
// over every axis), as nn.utils.weight_norm and its parametrization compute the weight.
Outs weight_norm(NodeContext& ctx) {
    Output v = ctx.input(0), g = ctx.input(1);
    int64_t r = static_rank(ctx, v);
    int64_t dim = ctx.num_inputs() > 2 ? ctx.const_int(2) : 0;
    std::vector<int64_t> axes;
    int64_t keep = dim == -1 ? -1 : axis_of(ctx, v, dim);
    for (int64_t i = 0; i < r; ++i)
        if (i != keep) axes.push_back(i);
    Output norm = ctx.make<op::ReduceL2>({v, ctx.i64(axes)}, true);
    if (dim == -1) norm = ctx.make<op::Reshape>({norm, ctx.i64({})}, false);
    return {ctx.make<op::Multiply>({v, ctx.make<op::Divide>({g, norm})})};
}

}  // namespace

void add_conv_pool_translators(TranslatorTable& t) {
    t["aten::conv1d"] = t["aten::conv2d"] = t["aten::conv3d"] = conv_nd;
    t["aten::_convolution"] = t["aten::convolution"] = convolution_full;
    t["aten::_convolution_mode"] = conv_nd;
    t["aten::conv_transpose1d"] = t["aten::conv_transpose2d"] = t["aten::conv_transpose3d"] = conv_transpose_nd;
    t["aten::max_pool1d"] = t["aten::max_pool2d"] = t["aten::max_pool3d"] = [](NodeContext& c) { return max_pool(c, false); };
    t["aten::max_pool1d_with_indices"] = t["aten::max_pool2d_with_indices"] = t["aten::max_pool3d_with_indices"] =
        [](NodeContext& c) { return max_pool(c, true); };
    t["aten::avg_pool1d"] = t["aten::avg_pool2d"] = t["aten::avg_pool3d"] = avg_pool;
    t["aten::adaptive_avg_pool1d"] = t["aten::adaptive_avg_pool2d"] = t["aten::adaptive_avg_pool3d"] = adaptive_avg_pool;
    t["aten::_adaptive_avg_pool2d"] = t["aten::_adaptive_avg_pool3d"] = adaptive_avg_pool;
    t["aten::prelu"] = prelu;
    t["aten::_weight_norm"] = weight_norm;
    t["aten::adaptive_max_pool1d"] = t["aten::adaptive_max_pool2d"] = t["aten::adaptive_max_pool3d"] = adaptive_max_pool;
}

}  // namespace kiln::frontend::pytorch
