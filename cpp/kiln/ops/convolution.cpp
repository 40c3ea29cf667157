#include "kiln/ops/convolution.hpp"

#include <algorithm>
#include <optional>

namespace kiln::op {

void visit_pad_type(AttributeVisitor& v, const char* name, PadType& p) {
    visit_enum(v, name, p,
               {{PadType::explicit_pad, "explicit"},
                {PadType::same_upper, "same_upper"},
                {PadType::same_lower, "same_lower"},
                {PadType::valid, "valid"}});
}

void visit_rounding_type(AttributeVisitor& v, const char* name, RoundingType& r) {
    visit_enum(v, name, r, {{RoundingType::floor, "floor"}, {RoundingType::ceil, "ceil"}, {RoundingType::ceil_torch, "ceil_torch"}});
}

namespace window {

std::vector<int64_t> per_axis(const InferContext& ctx, const std::vector<int64_t>& v, size_t n,
                              int64_t fill, const char* what) {
    if (v.empty()) return std::vector<int64_t>(n, fill);
    if (v.size() != n) ctx.fail(what, " has ", v.size(), " values, expected ", n, " (one per spatial axis)");
    return v;
}

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

Dimension out_dim(const InferContext& ctx, const Dimension& in, int64_t extent, int64_t stride,
                  int64_t pad_begin, int64_t pad_end, PadType pad, bool ceil_mode, size_t axis,
                  bool torch_ceil) {
    auto one = [&](int64_t v) -> int64_t {
        if (pad == PadType::same_upper || pad == PadType::same_lower) return ceil_div(v, stride);
        int64_t padded = pad == PadType::valid ? v : v + pad_begin + pad_end;
        if (padded < extent) {
            if (in.is_static())
                ctx.fail("spatial axis ", axis, ": window of extent ", extent,
                         " is larger than the padded input ", padded);
            return 0;
        }
        int64_t span = padded - extent;
        bool ceil = ceil_mode && pad != PadType::valid;
        int64_t o = (ceil ? ceil_div(span, stride) : span / stride) + 1;
        if (ceil && torch_ceil && o > 1 && pad == PadType::explicit_pad && (o - 1) * stride >= v + pad_begin) --o;
        return o;
    };
    int64_t lo = one(in.get_min_length());
    int64_t hi = in.get_max_length() < 0 ? -1 : one(in.get_max_length());
    return Dimension(lo, hi);
}

Geometry resolve(const Shape& data, const Shape& out, const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                 const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                 PadType pad) {
    Geometry g;
    g.nsp = static_cast<int>(data.size()) - 2;
    g.n = data[0];
    g.c_in = data[1];
    g.c_out = out[1];
    int off = 3 - g.nsp;
    for (int i = 0; i < g.nsp; ++i) {
        int j = i + off;
        g.in[j] = data[2 + i];
        g.out[j] = out[2 + i];
        g.k[j] = kernel[i];
        g.stride[j] = strides.empty() ? 1 : strides[i];
        g.dil[j] = dilations.empty() ? 1 : dilations[i];
        if (pad == PadType::explicit_pad) {
            g.pb[j] = pads_begin.empty() ? 0 : pads_begin[i];
            g.pe[j] = pads_end.empty() ? 0 : pads_end[i];
        } else if (pad == PadType::same_upper || pad == PadType::same_lower) {
            int64_t total = std::max<int64_t>(
                0, (g.out[j] - 1) * g.stride[j] + g.extent(j) - g.in[j]);
            int64_t small = total / 2, big = total - small;
            g.pb[j] = pad == PadType::same_upper ? small : big;
            g.pe[j] = total - g.pb[j];
        }
    }
    return g;
}

}  // namespace window

template <typename T>
void conv_reference(const window::Geometry& g, int64_t groups, const T* x, const T* w,
                    const T* bias, T* y) {
    const int64_t icg = g.c_in / groups, ocg = g.c_out / groups;
    const int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
    const int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    const int64_t total = g.n * g.c_out;
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < total; ++nc) {
        const int64_t n = nc / g.c_out, oc = nc % g.c_out, grp = oc / ocg;
        const T* xg = x + (n * g.c_in + grp * icg) * in_sp;
        const T* wo = w + oc * icg * k_sp;
        T* yo = y + nc * out_sp;
        for (int64_t od = 0; od < g.out[0]; ++od)
            for (int64_t oh = 0; oh < g.out[1]; ++oh)
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t ic = 0; ic < icg; ++ic)
                        for (int64_t kd = 0; kd < g.k[0]; ++kd) {
                            int64_t id = od * g.stride[0] - g.pb[0] + kd * g.dil[0];
                            if (id < 0 || id >= g.in[0]) continue;
                            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                                int64_t ih = oh * g.stride[1] - g.pb[1] + kh * g.dil[1];
                                if (ih < 0 || ih >= g.in[1]) continue;
                                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                                    int64_t iw = ow * g.stride[2] - g.pb[2] + kw * g.dil[2];
                                    if (iw < 0 || iw >= g.in[2]) continue;
                                    acc += xg[ic * in_sp + (id * g.in[1] + ih) * g.in[2] + iw] *
                                           wo[ic * k_sp + (kd * g.k[1] + kh) * g.k[2] + kw];
                                }
                            }
                        }
                    yo[(od * g.out[1] + oh) * g.out[2] + ow] = acc;
                }
    }
}
template void conv_reference<float>(const window::Geometry&, int64_t, const float*, const float*,
                                    const float*, float*);
template void conv_reference<double>(const window::Geometry&, int64_t, const double*,
                                     const double*, const double*, double*);
template void conv_reference<int64_t>(const window::Geometry&, int64_t, const int64_t*,
                                      const int64_t*, const int64_t*, int64_t*);
template void conv_reference<int32_t>(const window::Geometry&, int64_t, const int32_t*,
                                      const int32_t*, const int32_t*, int32_t*);

namespace {

// What a convolution and a transposed convolution check alike: the element types, the ranks of
// data and weights, and the window attributes per spatial axis. nullopt when both ranks are
// dynamic (the output is then set: dynamic rank).
struct WindowAttrs {
    Type t;
    int64_t rank;
    size_t nsp;
    std::vector<int64_t> st, di, pb, pe;
};

std::optional<WindowAttrs> check_window_inputs(InferContext& ctx, const PartialShape& weights,
                                               const std::vector<int64_t>& strides,
                                               const std::vector<int64_t>& pads_begin,
                                               const std::vector<int64_t>& pads_end,
                                               const std::vector<int64_t>& dilations) {
    Type t = ctx.input_type(0);
    Type wt = ctx.input_type(1);
    if (t == Type::dynamic) t = wt;
    else if (wt != Type::dynamic && wt != t)
        ctx.fail("weights element type ", type_name(wt), " does not match data's ", type_name(t));
    const PartialShape& data = ctx.input_shape(0);
    if (data.rank_is_static() && (data.rank() < 3 || data.rank() > 5))
        ctx.fail("data must have rank 3, 4 or 5 ([N, C, spatial...]), got ", data.to_string());
    if (weights.rank_is_static() && (weights.rank() < 3 || weights.rank() > 5))
        ctx.fail("weights must have rank 3, 4 or 5 after grouping, got ", ctx.input_shape(1).to_string());
    if (data.rank_is_static() && weights.rank_is_static() && data.rank() != weights.rank())
        ctx.fail("data rank ", data.rank(), " does not match weights ", ctx.input_shape(1).to_string());
    if (data.rank_is_dynamic() && weights.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape::dynamic());
        return std::nullopt;
    }
    const int64_t rank = data.rank_is_static() ? data.rank() : weights.rank();
    const size_t nsp = static_cast<size_t>(rank - 2);
    auto st = window::per_axis(ctx, strides, nsp, 1, "strides");
    auto di = window::per_axis(ctx, dilations, nsp, 1, "dilations");
    auto pb = window::per_axis(ctx, pads_begin, nsp, 0, "pads_begin");
    auto pe = window::per_axis(ctx, pads_end, nsp, 0, "pads_end");
    for (size_t i = 0; i < nsp; ++i) {
        if (st[i] < 1) ctx.fail("strides must be positive, got ", st[i], " on spatial axis ", i);
        if (di[i] < 1) ctx.fail("dilations must be positive, got ", di[i], " on spatial axis ", i);
        if (pb[i] < 0 || pe[i] < 0) ctx.fail("pads must not be negative on spatial axis ", i);
    }
    return WindowAttrs{t, rank, nsp, std::move(st), std::move(di), std::move(pb), std::move(pe)};
}

}  // namespace

void infer_conv(InferContext& ctx, const PartialShape& weights, const Dimension& groups,
                const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                const std::vector<int64_t>& pads_end, const std::vector<int64_t>& dilations,
                PadType auto_pad) {
    auto w = check_window_inputs(ctx, weights, strides, pads_begin, pads_end, dilations);
    if (!w) return;
    const PartialShape& data = ctx.input_shape(0);
    const Type t = w->t;
    const int64_t rank = w->rank;
    const size_t nsp = w->nsp;
    const auto &st = w->st, &di = w->di, &pb = w->pb, &pe = w->pe;
    std::vector<Dimension> out(static_cast<size_t>(rank));
    if (data.rank_is_static()) out[0] = data[0];
    if (weights.rank_is_static()) {
        out[1] = weights[0];
        if (data.rank_is_static()) {
            Dimension expect = weights[1] * groups;
            if (data[1].is_static() && expect.is_static() && data[1] != expect)
                ctx.fail("input channels ", data[1].to_string(), " do not match weights' ",
                         expect.to_string());
        }
        if (weights[0].is_static() && groups.is_static() &&
            weights[0].get_length() % groups.get_length() != 0)
            ctx.fail("output channels ", weights[0].get_length(), " are not divisible by ",
                     groups.get_length(), " groups");
    }
    for (size_t i = 0; i < nsp; ++i) {
        Dimension& o = out[2 + i];
        if (!data.rank_is_static() || !weights.rank_is_static() || !weights[2 + i].is_static()) {
            // Without the kernel size only the "same" modes fix the output size.
            if (data.rank_is_static() &&
                (auto_pad == PadType::same_upper || auto_pad == PadType::same_lower))
                o = window::out_dim(ctx, data[2 + i], 1, st[i], 0, 0, auto_pad, false, i);
            continue;
        }
        int64_t k = weights[2 + i].get_length();
        if (k < 1) ctx.fail("kernel size must be positive, got ", k, " on spatial axis ", i);
        int64_t extent = (k - 1) * di[i] + 1;
        o = window::out_dim(ctx, data[2 + i], extent, st[i], pb[i], pe[i], auto_pad, false, i);
    }
    ctx.set_output(0, t, PartialShape(out));
}

namespace {
template <typename Conv>
void visit_conv(AttributeVisitor& v, Conv& c) {
    v.on("strides", c.strides);
    v.on("pads_begin", c.pads_begin);
    v.on("pads_end", c.pads_end);
    v.on("dilations", c.dilations);
    visit_pad_type(v, "auto_pad", c.auto_pad);
}

template <typename Conv>
void eval_conv(const Conv& c, const std::vector<Tensor>& in, std::vector<Tensor>& out,
               int64_t groups) {
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    Shape kernel(w.shape().end() - (x.rank() - 2), w.shape().end());
    auto g = window::resolve(x.shape(), out[0].shape(), kernel, c.strides, c.dilations,
                             c.pads_begin, c.pads_end, c.auto_pad);
    if (x.type() == Type::f32)
        conv_reference<float>(g, groups, x.data<float>(), w.data<float>(), nullptr,
                              out[0].data<float>());
    else if (x.type() == Type::f64)
        conv_reference<double>(g, groups, x.data<double>(), w.data<double>(), nullptr,
                               out[0].data<double>());
    else if (x.type() == Type::i64)
        conv_reference<int64_t>(g, groups, x.data<int64_t>(), w.data<int64_t>(), nullptr, out[0].data<int64_t>());
    else if (x.type() == Type::i32)
        conv_reference<int32_t>(g, groups, x.data<int32_t>(), w.data<int32_t>(), nullptr, out[0].data<int32_t>());
    else
        throw Error(str_cat("[", c.type_name(), " ", c.name(), "] element type ",
                            type_name(x.type()), " has no reference kernel (f32, f64, i64, i32)"));
}
}  // namespace

void Convolution::visit_attributes(AttributeVisitor& v) { visit_conv(v, *this); }

void Convolution::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    infer_conv(ctx, ctx.input_shape(1), Dimension(1), strides, pads_begin, pads_end, dilations,
               auto_pad);
}

void Convolution::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    eval_conv(*this, in, out, 1);
}

void GroupConvolution::visit_attributes(AttributeVisitor& v) { visit_conv(v, *this); }

void GroupConvolution::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    const PartialShape& w = ctx.input_shape(1);
    PartialShape plain;  // [G*Og, Ig, k...]
    Dimension groups;
    if (w.rank_is_static()) {
        if (w.rank() < 4 || w.rank() > 6)
            ctx.fail("weights must be [G, C_out/G, C_in/G, k...] of rank 4 to 6, got ", w.to_string());
        std::vector<Dimension> d{w[0] * w[1], w[2]};
        for (size_t i = 3; i < w.size(); ++i) d.push_back(w[i]);
        plain = PartialShape(d);
        groups = w[0];
    }
    infer_conv(ctx, plain, groups, strides, pads_begin, pads_end, dilations, auto_pad);
}

void GroupConvolution::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    eval_conv(*this, in, out, in[1].shape()[0]);
}

// ---- Transposed convolution

template <typename T>
void deconv_reference(const window::Geometry& g, int64_t groups, const T* x, const T* w,
                      const T* bias, T* y) {
    const int64_t icg = g.c_in / groups, ocg = g.c_out / groups;
    const int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
    const int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    const int64_t total = g.n * g.c_out;
    // The input position that output position o sees through kernel tap k along axis a, or -1.
    auto src = [&](int a, int64_t o, int64_t k) -> int64_t {
        int64_t t = o + g.pb[a] - k * g.dil[a];
        if (t < 0 || t % g.stride[a] != 0) return -1;
        t /= g.stride[a];
        return t < g.in[a] ? t : -1;
    };
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < total; ++nc) {
        const int64_t n = nc / g.c_out, oc = nc % g.c_out, grp = oc / ocg, ocl = oc % ocg;
        const T* xg = x + (n * g.c_in + grp * icg) * in_sp;
        const T* wg = w + (grp * icg * ocg + ocl) * k_sp;  // + ic * ocg * k_sp
        T* yo = y + nc * out_sp;
        for (int64_t od = 0; od < g.out[0]; ++od)
            for (int64_t oh = 0; oh < g.out[1]; ++oh)
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
                        int64_t id = src(0, od, kd);
                        if (id < 0) continue;
                        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                            int64_t ih = src(1, oh, kh);
                            if (ih < 0) continue;
                            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                                int64_t iw = src(2, ow, kw);
                                if (iw < 0) continue;
                                const int64_t xi = (id * g.in[1] + ih) * g.in[2] + iw;
                                const int64_t ki = (kd * g.k[1] + kh) * g.k[2] + kw;
                                for (int64_t ic = 0; ic < icg; ++ic)
                                    acc += xg[ic * in_sp + xi] * wg[ic * ocg * k_sp + ki];
                            }
                        }
                    }
                    yo[(od * g.out[1] + oh) * g.out[2] + ow] = acc;
                }
    }
}
template void deconv_reference<float>(const window::Geometry&, int64_t, const float*,
                                      const float*, const float*, float*);
template void deconv_reference<double>(const window::Geometry&, int64_t, const double*,
                                       const double*, const double*, double*);
template void deconv_reference<int64_t>(const window::Geometry&, int64_t, const int64_t*,
                                        const int64_t*, const int64_t*, int64_t*);
template void deconv_reference<int32_t>(const window::Geometry&, int64_t, const int32_t*,
                                        const int32_t*, const int32_t*, int32_t*);

Dimension deconv_out_dim(const Dimension& in, int64_t extent, int64_t stride, int64_t pad_begin,
                         int64_t pad_end, int64_t output_padding, PadType pad) {
    auto one = [&](int64_t v) -> int64_t {
        if (v == 0) return 0;
        if (pad == PadType::same_upper || pad == PadType::same_lower) return v * stride;
        int64_t o = stride * (v - 1) + extent + output_padding;
        if (pad == PadType::explicit_pad) o -= pad_begin + pad_end;
        return std::max<int64_t>(o, 0);
    };
    int64_t lo = one(in.get_min_length());
    int64_t hi = in.get_max_length() < 0 ? -1 : one(in.get_max_length());
    return Dimension(lo, hi);
}

window::Geometry resolve_deconv(const Shape& data, const Shape& out,
                                const std::vector<int64_t>& kernel,
                                const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& dilations,
                                const std::vector<int64_t>& pads_begin,
                                const std::vector<int64_t>& pads_end,
                                const std::vector<int64_t>& output_padding, PadType pad) {
    // Same fields as a forward convolution; only the same_* pads differ (they crop the output).
    window::Geometry g = window::resolve(data, out, kernel, strides, dilations, pads_begin,
                                         pads_end, PadType::explicit_pad);
    if (pad == PadType::valid) {
        g.pb.fill(0);
        g.pe.fill(0);
    } else if (pad == PadType::same_upper || pad == PadType::same_lower) {
        int off = 3 - g.nsp;
        for (int i = 0; i < g.nsp; ++i) {
            int j = i + off;
            int64_t op = output_padding.empty() ? 0 : output_padding[i];
            int64_t total = std::max<int64_t>(
                0, g.stride[j] * (g.in[j] - 1) + g.extent(j) + op - g.out[j]);
            int64_t small = total / 2, big = total - small;
            g.pb[j] = pad == PadType::same_upper ? small : big;
            g.pe[j] = total - g.pb[j];
        }
    }
    return g;
}

namespace {

// Shared shape inference of the two transposed convolutions. `weights` is [C_in, C_out, k...]
// (groups folded in: C_out counts every group's outputs), or dynamic rank.
void infer_deconv(InferContext& ctx, const PartialShape& weights,
                  const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                  const std::vector<int64_t>& pads_end, const std::vector<int64_t>& dilations,
                  PadType auto_pad, const std::vector<int64_t>& output_padding) {
    if (ctx.num_inputs() == 3)
        ctx.fail("the output_shape input is not supported (give pads_begin/pads_end and output_padding)");
    ctx.check_inputs(2);
    auto w = check_window_inputs(ctx, weights, strides, pads_begin, pads_end, dilations);
    if (!w) return;
    const PartialShape& data = ctx.input_shape(0);
    const Type t = w->t;
    const int64_t rank = w->rank;
    const size_t nsp = w->nsp;
    const auto &st = w->st, &di = w->di, &pb = w->pb, &pe = w->pe;
    auto op = window::per_axis(ctx, output_padding, nsp, 0, "output_padding");
    for (size_t i = 0; i < nsp; ++i) {
        if (op[i] < 0 || (op[i] >= st[i] && op[i] >= di[i]))
            ctx.fail("output_padding ", op[i], " on spatial axis ", i,
                     " must be non-negative and smaller than the stride (", st[i],
                     ") or the dilation (", di[i], ")");
    }
    std::vector<Dimension> out(static_cast<size_t>(rank));
    if (data.rank_is_static()) out[0] = data[0];
    if (weights.rank_is_static()) {
        out[1] = weights[1];
        if (data.rank_is_static() && data[1].is_static() && weights[0].is_static() &&
            data[1] != weights[0])
            ctx.fail("input channels ", data[1].to_string(), " do not match weights' ",
                     weights[0].to_string());
    }
    for (size_t i = 0; i < nsp; ++i) {
        if (!data.rank_is_static()) continue;
        if (auto_pad == PadType::same_upper || auto_pad == PadType::same_lower) {
            out[2 + i] = deconv_out_dim(data[2 + i], 1, st[i], 0, 0, 0, auto_pad);
            continue;
        }
        if (!weights.rank_is_static() || !weights[2 + i].is_static()) continue;
        int64_t k = weights[2 + i].get_length();
        if (k < 1) ctx.fail("kernel size must be positive, got ", k, " on spatial axis ", i);
        int64_t extent = (k - 1) * di[i] + 1;
        if (data[2 + i].is_static() && data[2 + i].get_length() > 0 && auto_pad == PadType::explicit_pad &&
            st[i] * (data[2 + i].get_length() - 1) + extent + op[i] - pb[i] - pe[i] < 1)
            ctx.fail("spatial axis ", i, ": the pads (", pb[i], ", ", pe[i],
                     ") crop away the whole output of size ",
                     st[i] * (data[2 + i].get_length() - 1) + extent + op[i]);
        out[2 + i] = deconv_out_dim(data[2 + i], extent, st[i], pb[i], pe[i], op[i], auto_pad);
    }
    ctx.set_output(0, t, PartialShape(out));
}

template <typename Conv>
void visit_deconv(AttributeVisitor& v, Conv& c) {
    v.on("strides", c.strides);
    v.on("pads_begin", c.pads_begin);
    v.on("pads_end", c.pads_end);
    v.on("dilations", c.dilations);
    visit_pad_type(v, "auto_pad", c.auto_pad);
    v.on("output_padding", c.output_padding);
}

template <typename Conv>
void eval_deconv(const Conv& c, const std::vector<Tensor>& in, std::vector<Tensor>& out,
                 int64_t groups) {
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    Shape kernel(w.shape().end() - (x.rank() - 2), w.shape().end());
    auto g = resolve_deconv(x.shape(), out[0].shape(), kernel, c.strides, c.dilations,
                            c.pads_begin, c.pads_end, c.output_padding, c.auto_pad);
    if (x.type() == Type::f32)
        deconv_reference<float>(g, groups, x.data<float>(), w.data<float>(), nullptr,
                                out[0].data<float>());
    else if (x.type() == Type::f64)
        deconv_reference<double>(g, groups, x.data<double>(), w.data<double>(), nullptr,
                                 out[0].data<double>());
    else if (x.type() == Type::i64)
        deconv_reference<int64_t>(g, groups, x.data<int64_t>(), w.data<int64_t>(), nullptr, out[0].data<int64_t>());
    else if (x.type() == Type::i32)
        deconv_reference<int32_t>(g, groups, x.data<int32_t>(), w.data<int32_t>(), nullptr, out[0].data<int32_t>());
    else
        throw Error(str_cat("[", c.type_name(), " ", c.name(), "] element type ",
                            type_name(x.type()), " has no reference kernel (f32, f64, i64, i32)"));
}

}  // namespace

void ConvolutionBackpropData::visit_attributes(AttributeVisitor& v) { visit_deconv(v, *this); }

void ConvolutionBackpropData::infer(InferContext& ctx) const {
    infer_deconv(ctx, ctx.input_shape(1), strides, pads_begin, pads_end, dilations, auto_pad,
                 output_padding);
}

void ConvolutionBackpropData::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    eval_deconv(*this, in, out, 1);
}

void GroupConvolutionBackpropData::visit_attributes(AttributeVisitor& v) { visit_deconv(v, *this); }

void GroupConvolutionBackpropData::infer(InferContext& ctx) const {
    const PartialShape& w = ctx.input_shape(1);
    PartialShape plain;  // [G*Ig, G*Og, k...]
    if (w.rank_is_static()) {
        if (w.rank() < 4 || w.rank() > 6)
            ctx.fail("weights must be [G, C_in/G, C_out/G, k...] of rank 4 to 6, got ", w.to_string());
        std::vector<Dimension> d{w[0] * w[1], w[0] * w[2]};
        for (size_t i = 3; i < w.size(); ++i) d.push_back(w[i]);
        plain = PartialShape(d);
    } else {
        plain = PartialShape::dynamic();
    }
    infer_deconv(ctx, plain, strides, pads_begin, pads_end, dilations, auto_pad, output_padding);
}

void GroupConvolutionBackpropData::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    eval_deconv(*this, in, out, in[1].shape()[0]);
}

}  // namespace kiln::op
