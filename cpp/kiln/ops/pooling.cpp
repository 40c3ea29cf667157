#include "kiln/ops/pooling.hpp"
#include "kiln/ops/infer_util.hpp"

#include <algorithm>
#include <limits>

namespace kiln::op {

namespace {

// Shared shape inference of MaxPool and AvgPool; returns the values' shape.
PartialShape infer_pool(const InferContext& ctx, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                        const std::vector<int64_t>& pads_begin,
                        const std::vector<int64_t>& pads_end, PadType auto_pad, RoundingType rounding) {
    const bool ceil_mode = rounding != RoundingType::floor;
    ctx.check_inputs(1);
    const PartialShape& data = ctx.input_shape(0);
    if (data.rank_is_dynamic()) {
        if (kernel.empty() || kernel.size() > 3)
            ctx.fail("kernel has ", kernel.size(), " values, expected 1 to 3");
        return PartialShape::dynamic(static_cast<int64_t>(kernel.size()) + 2);
    }
    if (data.rank() < 3 || data.rank() > 5)
        ctx.fail("data must have rank 3, 4 or 5 ([N, C, spatial...]), got ", data.to_string());
    const size_t nsp = data.size() - 2;
    if (kernel.size() != nsp)
        ctx.fail("kernel has ", kernel.size(), " values, expected ", nsp, " (one per spatial axis)");
    auto st = window::per_axis(ctx, strides, nsp, 1, "strides");
    auto di = window::per_axis(ctx, dilations, nsp, 1, "dilations");
    auto pb = window::per_axis(ctx, pads_begin, nsp, 0, "pads_begin");
    auto pe = window::per_axis(ctx, pads_end, nsp, 0, "pads_end");
    std::vector<Dimension> out{data[0], data[1]};
    for (size_t i = 0; i < nsp; ++i) {
        if (kernel[i] < 1) ctx.fail("kernel must be positive, got ", kernel[i], " on spatial axis ", i);
        if (st[i] < 1) ctx.fail("strides must be positive, got ", st[i], " on spatial axis ", i);
        if (di[i] < 1) ctx.fail("dilations must be positive, got ", di[i], " on spatial axis ", i);
        if (pb[i] < 0 || pe[i] < 0) ctx.fail("pads must not be negative on spatial axis ", i);
        int64_t extent = (kernel[i] - 1) * di[i] + 1;
        out.push_back(window::out_dim(ctx, data[2 + i], extent, st[i], pb[i], pe[i], auto_pad,
                                      ceil_mode, i, rounding == RoundingType::ceil_torch));
    }
    return PartialShape(out);
}

void check_float(const Node& n, Type t) {
    if (t != Type::f32 && t != Type::f64)
        throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", type_name(t),
                            " has no reference kernel (f32, f64)"));
}

// MaxPool and AvgPool also take integers (as torch's CPU pooling does).
template <typename F>
void dispatch_numeric(const Node& n, Type t, F&& f) {
    switch (t) {
        case Type::f32: f(float{}); break;
        case Type::f64: f(double{}); break;
        case Type::i64: f(int64_t{}); break;
        case Type::i32: f(int32_t{}); break;
        default:
            throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", type_name(t),
                                " has no reference kernel (f32, f64, i64, i32)"));
    }
}

void store_index(Tensor& t, int64_t i, int64_t v) {
    if (t.type() == Type::i32) t.data<int32_t>()[i] = static_cast<int32_t>(v);
    else t.data<int64_t>()[i] = v;
}

template <typename T>
void max_pool_ref(const window::Geometry& g, const T* x, T* y, Tensor* idx, int64_t span) {
    const int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
    const int64_t planes = g.n * g.c_in;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const T* xp = x + p * in_sp;
        for (int64_t od = 0; od < g.out[0]; ++od)
            for (int64_t oh = 0; oh < g.out[1]; ++oh)
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    T best = std::numeric_limits<T>::lowest();
                    int64_t best_i = -1;
                    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
                        int64_t id = od * g.stride[0] - g.pb[0] + kd * g.dil[0];
                        if (id < 0 || id >= g.in[0]) continue;
                        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                            int64_t ih = oh * g.stride[1] - g.pb[1] + kh * g.dil[1];
                            if (ih < 0 || ih >= g.in[1]) continue;
                            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                                int64_t iw = ow * g.stride[2] - g.pb[2] + kw * g.dil[2];
                                if (iw < 0 || iw >= g.in[2]) continue;
                                int64_t i = (id * g.in[1] + ih) * g.in[2] + iw;
                                if (best_i < 0 || xp[i] > best) {
                                    best = xp[i];
                                    best_i = i;
                                }
                            }
                        }
                    }
                    int64_t o = p * out_sp + (od * g.out[1] + oh) * g.out[2] + ow;
                    y[o] = best;
                    if (idx) store_index(*idx, o, best_i < 0 ? 0 : (p * in_sp + best_i) % span);
                }
    }
}

template <typename T>
void avg_pool_ref(const window::Geometry& g, bool exclude_pad, const T* x, T* y) {
    const int64_t in_sp = g.in[0] * g.in[1] * g.in[2], out_sp = g.out[0] * g.out[1] * g.out[2];
    const int64_t planes = g.n * g.c_in;
    // [lo, hi) of one axis: the input part and, for the divisor, the padded part.
    auto range = [&](int a, int64_t o, int64_t& lo, int64_t& hi, int64_t& plo, int64_t& phi) {
        int64_t s = o * g.stride[a] - g.pb[a];
        int64_t e = s + g.k[a];
        lo = std::max<int64_t>(s, 0);
        hi = std::min(e, g.in[a]);
        plo = s;  // s >= -pb always
        phi = std::min(e, g.in[a] + g.pe[a]);
    };
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const T* xp = x + p * in_sp;
        for (int64_t od = 0; od < g.out[0]; ++od)
            for (int64_t oh = 0; oh < g.out[1]; ++oh)
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    int64_t l[3], h[3], pl[3], ph[3];
                    range(0, od, l[0], h[0], pl[0], ph[0]);
                    range(1, oh, l[1], h[1], pl[1], ph[1]);
                    range(2, ow, l[2], h[2], pl[2], ph[2]);
                    T sum = T(0);
                    for (int64_t id = l[0]; id < h[0]; ++id)
                        for (int64_t ih = l[1]; ih < h[1]; ++ih)
                            for (int64_t iw = l[2]; iw < h[2]; ++iw)
                                sum += xp[(id * g.in[1] + ih) * g.in[2] + iw];
                    int64_t cnt = 1;
                    for (int a = 0; a < 3; ++a)
                        cnt *= exclude_pad ? std::max<int64_t>(h[a] - l[a], 0)
                                           : std::max<int64_t>(ph[a] - pl[a], 0);
                    y[p * out_sp + (od * g.out[1] + oh) * g.out[2] + ow] =
                        cnt > 0 ? sum / static_cast<T>(cnt) : T(0);
                }
    }
}

// Adaptive pooling over planes; `max` picks the maximum and its in-plane index.
template <typename T>
void adaptive_ref(const Shape& xs, const Shape& ys, const T* x, T* y, Tensor* idx, bool max) {
    const int nsp = static_cast<int>(xs.size()) - 2;
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int i = 0; i < nsp; ++i) {
        in[3 - nsp + i] = xs[2 + i];
        out[3 - nsp + i] = ys[2 + i];
    }
    const int64_t in_sp = in[0] * in[1] * in[2], out_sp = out[0] * out[1] * out[2];
    const int64_t planes = xs[0] * xs[1];
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const T* xp = x + p * in_sp;
        for (int64_t od = 0; od < out[0]; ++od)
            for (int64_t oh = 0; oh < out[1]; ++oh)
                for (int64_t ow = 0; ow < out[2]; ++ow) {
                    int64_t d0 = adaptive_start(od, in[0], out[0]), d1 = adaptive_end(od, in[0], out[0]);
                    int64_t h0 = adaptive_start(oh, in[1], out[1]), h1 = adaptive_end(oh, in[1], out[1]);
                    int64_t w0 = adaptive_start(ow, in[2], out[2]), w1 = adaptive_end(ow, in[2], out[2]);
                    T acc = max ? std::numeric_limits<T>::lowest() : T(0);
                    int64_t best = -1;
                    for (int64_t d = d0; d < d1; ++d)
                        for (int64_t h = h0; h < h1; ++h)
                            for (int64_t w = w0; w < w1; ++w) {
                                int64_t i = (d * in[1] + h) * in[2] + w;
                                if (!max) acc += xp[i];
                                else if (best < 0 || xp[i] > acc) {
                                    acc = xp[i];
                                    best = i;
                                }
                            }
                    int64_t o = p * out_sp + (od * out[1] + oh) * out[2] + ow;
                    int64_t cnt = (d1 - d0) * (h1 - h0) * (w1 - w0);
                    y[o] = max ? acc : (cnt > 0 ? acc / static_cast<T>(cnt) : T(0));
                    if (idx) store_index(*idx, o, best < 0 ? 0 : best);
                }
    }
}

void check_index_type(const InferContext& ctx, Type t) {
    if (t != Type::i32 && t != Type::i64)
        ctx.fail("index_element_type must be i32 or i64, got ", type_name(t));
}

// Output shape of the adaptive ops from the data and the (maybe constant) output size input.
PartialShape infer_adaptive(const InferContext& ctx) {
    ctx.check_inputs(2);
    const PartialShape& data = ctx.input_shape(0);
    const PartialShape& os = ctx.input_shape(1);
    Type st = ctx.input_type(1);
    if (st != Type::dynamic && st != Type::i32 && st != Type::i64)
        ctx.fail("output shape input must be i32 or i64, got ", type_name(st));
    if (os.rank_is_static() && os.rank() != 1)
        ctx.fail("output shape input must be 1-D, got ", os.to_string());
    if (data.rank_is_static() && (data.rank() < 3 || data.rank() > 5))
        ctx.fail("data must have rank 3, 4 or 5 ([N, C, spatial...]), got ", data.to_string());
    int64_t nsp = -1;
    if (data.rank_is_static()) nsp = data.rank() - 2;
    if (os.rank_is_static() && os[0].is_static()) {
        if (nsp >= 0 && os[0].get_length() != nsp)
            ctx.fail("output shape has ", os[0].get_length(), " values, expected ", nsp,
                     " (one per spatial axis of ", data.to_string(), ")");
        nsp = os[0].get_length();
    }
    if (nsp < 0) return PartialShape::dynamic();
    std::vector<Dimension> out(static_cast<size_t>(nsp + 2));
    if (data.rank_is_static()) {
        out[0] = data[0];
        out[1] = data[1];
    }
    if (const Tensor* v = ctx.input_value(1)) {
        auto sz = v->as_i64_vector();
        if (static_cast<int64_t>(sz.size()) != nsp)
            ctx.fail("output shape has ", sz.size(), " values, expected ", nsp);
        for (int64_t i = 0; i < nsp; ++i) {
            if (sz[i] < 1) ctx.fail("output size must be positive, got ", sz[i], " on spatial axis ", i);
            out[2 + i] = Dimension(sz[i]);
        }
    }
    return PartialShape(out);
}

}  // namespace

window::Geometry pool_geometry(const Shape& data, const Shape& out,
                               const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides,
                               const std::vector<int64_t>& dilations,
                               const std::vector<int64_t>& pads_begin,
                               const std::vector<int64_t>& pads_end, PadType auto_pad) {
    return window::resolve(data, out, kernel, strides, dilations, pads_begin, pads_end, auto_pad);
}

// ---- MaxPool

void MaxPool::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    if (opset_version >= 8) v.on("dilations", dilations);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
    v.on("kernel", kernel);
    visit_rounding_type(v, "rounding_type", rounding_type);
    visit_pad_type(v, "auto_pad", auto_pad);
    if (opset_version >= 8) {
        v.on("index_element_type", index_element_type);
        v.on("axis", axis);
    }
}

void MaxPool::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, version() == 1 || version() == 8 || version() == 14,
                     "opset version ", version(), " does not exist (1, 8, 14)");
    auto s = infer_pool(ctx, kernel, strides, version() >= 8 ? dilations : std::vector<int64_t>{}, pads_begin,
                        pads_end, auto_pad, rounding_type);
    if (version() == 1) {
        ctx.set_output(0, ctx.input_type(0), s);
        return;
    }
    check_index_type(ctx, index_element_type);
    if (s.rank_is_static()) {
        int64_t r = s.rank();
        if (axis < -r || axis >= r) ctx.fail("axis ", axis, " is out of range for rank ", r);
    }
    ctx.set_output(0, ctx.input_type(0), s);
    ctx.set_output(1, index_element_type, s);
}

int64_t MaxPool::index_span(const Shape& data) const {
    int64_t r = static_cast<int64_t>(data.size());
    int64_t a = axis < 0 ? axis + r : axis;
    int64_t span = 1;
    for (int64_t i = a; i < r; ++i) span *= data[i];
    return span;
}

void MaxPool::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].type() == Type::boolean) check_float(*this, in[0].type());
    auto g = pool_geometry(in[0].shape(), out[0].shape(), kernel, strides, dilations, pads_begin,
                           pads_end, auto_pad);
    Tensor* idx = out.size() > 1 ? &out[1] : nullptr;
    int64_t span = index_span(in[0].shape());
    visit_type(in[0].type(), [&](auto tag) {  // integers too: torch max-pools them
        using T = decltype(tag);
        max_pool_ref<T>(g, in[0].data<T>(), out[0].data<T>(), idx, span);
    });
}

// ---- AvgPool

void AvgPool::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
    v.on("kernel", kernel);
    v.on("exclude-pad", exclude_pad);
    visit_rounding_type(v, "rounding_type", rounding_type);
    visit_pad_type(v, "auto_pad", auto_pad);
}

void AvgPool::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, version() == 1 || version() == 14, "opset version ", version(),
                     " does not exist (1, 14)");
    auto s = infer_pool(ctx, kernel, strides, {}, pads_begin, pads_end, auto_pad, rounding_type);
    ctx.set_output(0, ctx.input_type(0), s);
}

void AvgPool::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto g = pool_geometry(in[0].shape(), out[0].shape(), kernel, strides, {}, pads_begin,
                           pads_end, auto_pad);
    dispatch_numeric(*this, in[0].type(), [&](auto v) {
        using T = decltype(v);
        avg_pool_ref<T>(g, exclude_pad, in[0].data<T>(), out[0].data<T>());
    });
}

// ---- Adaptive pools

void AdaptiveAvgPool::infer(InferContext& ctx) const {
    ctx.set_output(0, ctx.input_type(0), infer_adaptive(ctx));
}

void AdaptiveAvgPool::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    check_float(*this, in[0].type());
    if (in[0].type() == Type::f32)
        adaptive_ref<float>(in[0].shape(), out[0].shape(), in[0].data<float>(),
                            out[0].data<float>(), nullptr, false);
    else
        adaptive_ref<double>(in[0].shape(), out[0].shape(), in[0].data<double>(),
                             out[0].data<double>(), nullptr, false);
}

void AdaptiveMaxPool::visit_attributes(AttributeVisitor& v) {
    v.on("index_element_type", index_element_type);
}

void AdaptiveMaxPool::infer(InferContext& ctx) const {
    check_index_type(ctx, index_element_type);
    auto s = infer_adaptive(ctx);
    ctx.set_output(0, ctx.input_type(0), s);
    ctx.set_output(1, index_element_type, s);
}

void AdaptiveMaxPool::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].type() == Type::boolean) check_float(*this, in[0].type());
    Tensor* idx = out.size() > 1 ? &out[1] : nullptr;
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        adaptive_ref<T>(in[0].shape(), out[0].shape(), in[0].data<T>(), out[0].data<T>(), idx, true);
    });
}

}  // namespace kiln::op
