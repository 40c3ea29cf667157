#include "kiln/ops/detection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

template <typename F>
void floating(const Node& n, Type t, F&& f) {
    if (t == Type::f32) return f(float{});
    if (t == Type::f64) return f(double{});
    throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", kiln::type_name(t),
                        " has no reference kernel (f32, f64)"));
}

Tensor as_type(const Tensor& t, Type to) {
    if (t.type() == to) return t;
    Tensor r(to, t.shape());
    convert_elements(t.data(), t.type(), r.data(), to, static_cast<size_t>(t.size()));
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression

void NonMaxSuppression::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "box_encoding", box_encoding, {{BoxEncoding::corner, "corner"}, {BoxEncoding::center, "center"}});
    v.on("sort_result_descending", sort_result_descending);
    v.on("output_type", output_type);
}

void NonMaxSuppression::infer(InferContext& ctx) const {
    ctx.check_inputs(2, 6);
    KILN_INFER_CHECK(ctx, output_type == Type::i64 || output_type == Type::i32, "output_type must be i64 or i32, got ",
                     kiln::type_name(output_type));
    const Type bt = ctx.input_type(0), st = ctx.input_type(1);
    KILN_INFER_CHECK(ctx, bt == Type::dynamic || is_float(bt), "boxes must be of a floating type, got ", kiln::type_name(bt));
    KILN_INFER_CHECK(ctx, st == Type::dynamic || is_float(st), "scores must be of a floating type, got ", kiln::type_name(st));
    const PartialShape& b = ctx.input_shape(0);
    const PartialShape& s = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, b.rank_is_dynamic() || (b.rank() == 3 && b[2].compatible(4)),
                     "boxes must be [num_batches, num_boxes, 4], got ", b.to_string());
    KILN_INFER_CHECK(ctx, s.rank_is_dynamic() || s.rank() == 3, "scores must be [num_batches, num_classes, num_boxes], got ",
                     s.to_string());
    if (b.rank_is_static() && s.rank_is_static()) {
        KILN_INFER_CHECK(ctx, b[0].compatible(s[0]) && b[1].compatible(s[2]), "boxes ", b.to_string(), " and scores ",
                         s.to_string(), " disagree on the batches or the boxes");
    }
    if (ctx.num_inputs() > 2) check_integral(ctx, 2, "max_output_boxes_per_class");
    ctx.set_output(0, output_type, PartialShape({Dimension(), Dimension(3)}));
    ctx.set_output(1, st == Type::dynamic ? Type::f32 : st, PartialShape({Dimension(), Dimension(3)}));
    ctx.set_output(2, output_type, PartialShape({Dimension(1)}));
}

namespace {

struct Selected {
    int64_t batch, cls, box;
    double score;
};

template <typename T>
T iou_of(const T* a, const T* b, bool center) {
    T ay1, ax1, ay2, ax2, by1, bx1, by2, bx2;
    if (center) {  // [xc, yc, w, h]
        ax1 = a[0] - a[2] / T(2), ax2 = a[0] + a[2] / T(2), ay1 = a[1] - a[3] / T(2), ay2 = a[1] + a[3] / T(2);
        bx1 = b[0] - b[2] / T(2), bx2 = b[0] + b[2] / T(2), by1 = b[1] - b[3] / T(2), by2 = b[1] + b[3] / T(2);
    } else {  // any diagonal pair of corners
        ay1 = std::min(a[0], a[2]), ay2 = std::max(a[0], a[2]), ax1 = std::min(a[1], a[3]), ax2 = std::max(a[1], a[3]);
        by1 = std::min(b[0], b[2]), by2 = std::max(b[0], b[2]), bx1 = std::min(b[1], b[3]), bx2 = std::max(b[1], b[3]);
    }
    const T area_a = (ay2 - ay1) * (ax2 - ax1), area_b = (by2 - by1) * (bx2 - bx1);
    if (area_a <= T(0) || area_b <= T(0)) return T(0);
    const T ih = std::max(T(0), std::min(ay2, by2) - std::max(ay1, by1));
    const T iw = std::max(T(0), std::min(ax2, bx2) - std::max(ax1, bx1));
    const T inter = ih * iw;
    return inter / (area_a + area_b - inter);
}

template <typename T>
void nms_class(const T* boxes, const T* scores, int64_t N, int64_t max_out, T iou_thr, T score_thr, T sigma,
               bool center, int64_t batch, int64_t cls, std::vector<Selected>& out) {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < N; ++i)
        if (scores[i] >= score_thr) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    int64_t kept = 0;
    if (sigma <= T(0)) {
        std::vector<char> dropped(order.size(), 0);
        for (size_t p = 0; p < order.size() && kept < max_out; ++p) {
            if (dropped[p]) continue;
            const int64_t i = order[p];
            out.push_back({batch, cls, i, static_cast<double>(scores[i])});
            ++kept;
            for (size_t q = p + 1; q < order.size(); ++q)
                if (!dropped[q] && iou_of(boxes + i * 4, boxes + order[q] * 4, center) > iou_thr) dropped[q] = 1;
        }
        return;
    }
    // Soft NMS: scores decay by exp(-0.5 iou^2 / sigma); boxes above the IoU threshold go.
    std::vector<T> s(order.size());
    for (size_t p = 0; p < order.size(); ++p) s[p] = scores[order[p]];
    std::vector<char> done(order.size(), 0);
    while (kept < max_out) {
        int64_t best = -1;
        for (size_t p = 0; p < order.size(); ++p)
            if (!done[p] && (best < 0 || s[p] > s[static_cast<size_t>(best)])) best = static_cast<int64_t>(p);
        if (best < 0 || s[static_cast<size_t>(best)] < score_thr) break;
        done[static_cast<size_t>(best)] = 1;
        const int64_t i = order[static_cast<size_t>(best)];
        out.push_back({batch, cls, i, static_cast<double>(s[static_cast<size_t>(best)])});
        ++kept;
        for (size_t q = 0; q < order.size(); ++q) {
            if (done[q]) continue;
            const T iou = iou_of(boxes + i * 4, boxes + order[q] * 4, center);
            s[q] = iou <= iou_thr ? s[q] * std::exp(T(-0.5) * iou * iou / sigma) : T(0);
        }
    }
}

}  // namespace

void NonMaxSuppression::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& bs = in[0].shape();
    const Shape& ss = in[1].shape();
    const int64_t B = bs[0], N = bs[1], C = ss[1];
    auto scalar = [&](size_t i, double dflt) { return in.size() > i && in[i].size() > 0 ? in[i].as_f64_vector()[0] : dflt; };
    int64_t max_out = in.size() > 2 && in[2].size() > 0 ? in[2].as_i64_vector()[0] : 0;
    max_out = std::max<int64_t>(max_out, 0);
    const double iou_thr = scalar(3, 0), score_thr = scalar(4, 0), sigma = scalar(5, 0);
    std::vector<Selected> sel;
    floating(*this, in[1].type(), [&](auto zero) {
        using T = decltype(zero);
        Tensor b = as_type(in[0], in[1].type());
        const T* bp = b.data<T>();
        const T* sp = in[1].data<T>();
        for (int64_t n = 0; n < B; ++n)
            for (int64_t c = 0; c < C; ++c)
                nms_class<T>(bp + n * N * 4, sp + (n * C + c) * N, N, max_out, static_cast<T>(iou_thr),
                             static_cast<T>(score_thr), static_cast<T>(sigma), box_encoding == BoxEncoding::center, n,
                             c, sel);
    });
    if (sort_result_descending)
        std::stable_sort(sel.begin(), sel.end(), [](const Selected& a, const Selected& b) { return a.score > b.score; });
    const int64_t K = static_cast<int64_t>(sel.size());
    out[0] = Tensor(output_type, {K, 3});
    out[1] = Tensor(in[1].type(), {K, 3});
    out[2] = Tensor(output_type, {1});
    std::vector<double> idx(static_cast<size_t>(K * 3)), sc(static_cast<size_t>(K * 3));
    for (int64_t k = 0; k < K; ++k) {
        idx[k * 3] = sc[k * 3] = static_cast<double>(sel[k].batch);
        idx[k * 3 + 1] = sc[k * 3 + 1] = static_cast<double>(sel[k].cls);
        idx[k * 3 + 2] = static_cast<double>(sel[k].box);
        sc[k * 3 + 2] = sel[k].score;
    }
    convert_elements(idx.data(), Type::f64, out[0].data(), output_type, idx.size());
    convert_elements(sc.data(), Type::f64, out[1].data(), in[1].type(), sc.size());
    const double k = static_cast<double>(K);
    convert_elements(&k, Type::f64, out[2].data(), output_type, 1);
}

// ---------------------------------------------------------------------------------------------
// ROIAlign

void ROIAlign::visit_attributes(AttributeVisitor& v) {
    v.on("pooled_h", pooled_h);
    v.on("pooled_w", pooled_w);
    v.on("sampling_ratio", sampling_ratio);
    v.on("spatial_scale", spatial_scale);
    visit_enum(v, "mode", mode, {{Mode::avg, "avg"}, {Mode::max, "max"}});
    visit_enum(v, "aligned_mode", aligned_mode,
               {{AlignedMode::asymmetric, "asymmetric"}, {AlignedMode::half_pixel_for_nn, "half_pixel_for_nn"},
                {AlignedMode::half_pixel, "half_pixel"}});
}

void ROIAlign::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    KILN_INFER_CHECK(ctx, pooled_h > 0 && pooled_w > 0, "pooled_h and pooled_w must be positive, got ", pooled_h, ", ",
                     pooled_w);
    KILN_INFER_CHECK(ctx, sampling_ratio >= 0, "sampling_ratio must not be negative, got ", sampling_ratio);
    KILN_INFER_CHECK(ctx, aligned_mode != AlignedMode::half_pixel_for_nn, "aligned_mode half_pixel_for_nn is not supported");
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_float(t), "data must be of a floating type, got ", kiln::type_name(t));
    check_integral(ctx, 2, "batch_indices");
    const PartialShape& d = ctx.input_shape(0);
    const PartialShape& r = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, d.rank_is_dynamic() || d.rank() == 4, "data must be [N, C, H, W], got ", d.to_string());
    KILN_INFER_CHECK(ctx, r.rank_is_dynamic() || (r.rank() == 2 && r[1].compatible(4)), "rois must be [R, 4], got ",
                     r.to_string());
    Dimension R = r.rank_is_static() ? r[0] : Dimension();
    const PartialShape& bi = ctx.input_shape(2);
    if (bi.rank_is_static()) {
        KILN_INFER_CHECK(ctx, bi.rank() == 1, "batch_indices must be 1-D, got ", bi.to_string());
        auto m = Dimension::merge(R, bi[0]);
        KILN_INFER_CHECK(ctx, m.has_value(), "rois ", r.to_string(), " and batch_indices ", bi.to_string(), " disagree");
        R = *m;
    }
    ctx.set_output(0, t, PartialShape({R, d.rank_is_static() ? d[1] : Dimension(), Dimension(pooled_h), Dimension(pooled_w)}));
}

namespace {

// torchvision's (Detectron's) bilinear read: 0 outside [-1, H] x [-1, W], the edge within a pixel.
template <typename T>
T roi_bilinear(const T* plane, int64_t H, int64_t W, T y, T x) {
    if (y < T(-1) || y > static_cast<T>(H) || x < T(-1) || x > static_cast<T>(W)) return T(0);
    if (y <= T(0)) y = T(0);
    if (x <= T(0)) x = T(0);
    int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(x), yh, xh;
    if (yl >= H - 1) {
        yh = yl = H - 1;
        y = static_cast<T>(yl);
    } else {
        yh = yl + 1;
    }
    if (xl >= W - 1) {
        xh = xl = W - 1;
        x = static_cast<T>(xl);
    } else {
        xh = xl + 1;
    }
    const T ly = y - static_cast<T>(yl), lx = x - static_cast<T>(xl), hy = T(1) - ly, hx = T(1) - lx;
    return hy * hx * plane[yl * W + xl] + hy * lx * plane[yl * W + xh] + ly * hx * plane[yh * W + xl] +
           ly * lx * plane[yh * W + xh];
}

}  // namespace

void ROIAlign::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& ds = in[0].shape();
    const int64_t N = ds[0], C = ds[1], H = ds[2], W = ds[3];
    const int64_t R = in[1].shape()[0];
    auto bidx = in[2].as_i64_vector();
    for (int64_t r = 0; r < R; ++r)
        if (bidx[r] < 0 || bidx[r] >= N)
            throw ValueError(str_cat("[ROIAlign ", name(), "] batch index ", bidx[r], " of roi ", r, " is outside [0, ", N, ")"));
    floating(*this, in[0].type(), [&](auto zero) {
        using T = decltype(zero);
        Tensor rt = as_type(in[1], in[0].type());
        const T* x = in[0].data<T>();
        const T* rois = rt.data<T>();
        T* y = out[0].data<T>();
        const bool aligned = aligned_mode == AlignedMode::half_pixel;
        const T scale = static_cast<T>(spatial_scale), off = aligned ? T(0.5) : T(0);
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t r = 0; r < R; ++r) {
            for (int64_t c = 0; c < C; ++c) {
                const T* roi = rois + r * 4;
                const T sw = roi[0] * scale - off, sh = roi[1] * scale - off;
                const T ew = roi[2] * scale - off, eh = roi[3] * scale - off;
                T rw = ew - sw, rh = eh - sh;
                if (!aligned) {
                    rw = std::max(rw, T(1));
                    rh = std::max(rh, T(1));
                }
                const T bh = rh / static_cast<T>(pooled_h), bw = rw / static_cast<T>(pooled_w);
                const int64_t gh = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rh / static_cast<T>(pooled_h)));
                const int64_t gw = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rw / static_cast<T>(pooled_w)));
                const T count = static_cast<T>(std::max<int64_t>(gh * gw, 1));
                const T* plane = x + (bidx[r] * C + c) * H * W;
                for (int64_t ph = 0; ph < pooled_h; ++ph)
                    for (int64_t pw = 0; pw < pooled_w; ++pw) {
                        T acc = mode == Mode::avg ? T(0) : -std::numeric_limits<T>::infinity();
                        for (int64_t iy = 0; iy < gh; ++iy) {
                            const T yy = sh + static_cast<T>(ph) * bh + (static_cast<T>(iy) + T(0.5)) * bh / static_cast<T>(gh);
                            for (int64_t ix = 0; ix < gw; ++ix) {
                                const T xx = sw + static_cast<T>(pw) * bw + (static_cast<T>(ix) + T(0.5)) * bw / static_cast<T>(gw);
                                const T v = roi_bilinear(plane, H, W, yy, xx);
                                acc = mode == Mode::avg ? acc + v : std::max(acc, v);
                            }
                        }
                        if (mode == Mode::avg) acc /= count;
                        else if (gh * gw == 0) acc = T(0);
                        y[((r * C + c) * pooled_h + ph) * pooled_w + pw] = acc;
                    }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// ROIPooling

void ROIPooling::visit_attributes(AttributeVisitor& v) {
    std::vector<int64_t> shape{pooled_h, pooled_w};
    v.on("output_size", shape);
    if (shape.size() == 2) {
        pooled_h = shape[0];
        pooled_w = shape[1];
    }
    v.on("spatial_scale", spatial_scale);
    v.on("method", method);
}

void ROIPooling::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    KILN_INFER_CHECK(ctx, pooled_h > 0 && pooled_w > 0, "output_size must be positive, got ", pooled_h, ", ", pooled_w);
    KILN_INFER_CHECK(ctx, method == "max", "method '", method, "' is not supported (max)");
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_float(t), "data must be of a floating type, got ", kiln::type_name(t));
    const PartialShape& d = ctx.input_shape(0);
    const PartialShape& r = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, d.rank_is_dynamic() || d.rank() == 4, "data must be [N, C, H, W], got ", d.to_string());
    KILN_INFER_CHECK(ctx, r.rank_is_dynamic() || (r.rank() == 2 && r[1].compatible(5)), "rois must be [R, 5], got ",
                     r.to_string());
    ctx.set_output(0, t, PartialShape({r.rank_is_static() ? r[0] : Dimension(), d.rank_is_static() ? d[1] : Dimension(),
                                       Dimension(pooled_h), Dimension(pooled_w)}));
}

void ROIPooling::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& ds = in[0].shape();
    const int64_t N = ds[0], C = ds[1], H = ds[2], W = ds[3];
    const int64_t R = in[1].shape()[0];
    floating(*this, in[0].type(), [&](auto zero) {
        using T = decltype(zero);
        Tensor rt = as_type(in[1], in[0].type());
        const T* x = in[0].data<T>();
        const T* rois = rt.data<T>();
        T* y = out[0].data<T>();
        for (int64_t r = 0; r < R; ++r) {
            const T* roi = rois + r * 5;
            const int64_t b = static_cast<int64_t>(roi[0]);
            if (b < 0 || b >= N)
                throw ValueError(str_cat("[ROIPooling ", name(), "] batch index ", b, " of roi ", r, " is outside [0, ", N, ")"));
            const T scale = static_cast<T>(spatial_scale);
            const int64_t sw = static_cast<int64_t>(std::round(roi[1] * scale)), sh = static_cast<int64_t>(std::round(roi[2] * scale));
            const int64_t ew = static_cast<int64_t>(std::round(roi[3] * scale)), eh = static_cast<int64_t>(std::round(roi[4] * scale));
            const int64_t rw = std::max<int64_t>(ew - sw + 1, 1), rh = std::max<int64_t>(eh - sh + 1, 1);
            const T bh = static_cast<T>(rh) / static_cast<T>(pooled_h), bw = static_cast<T>(rw) / static_cast<T>(pooled_w);
            for (int64_t c = 0; c < C; ++c) {
                const T* plane = x + (b * C + c) * H * W;
                for (int64_t ph = 0; ph < pooled_h; ++ph)
                    for (int64_t pw = 0; pw < pooled_w; ++pw) {
                        int64_t hs = static_cast<int64_t>(std::floor(static_cast<T>(ph) * bh));
                        int64_t ws = static_cast<int64_t>(std::floor(static_cast<T>(pw) * bw));
                        int64_t he = static_cast<int64_t>(std::ceil(static_cast<T>(ph + 1) * bh));
                        int64_t we = static_cast<int64_t>(std::ceil(static_cast<T>(pw + 1) * bw));
                        hs = std::min(std::max<int64_t>(hs + sh, 0), H);
                        he = std::min(std::max<int64_t>(he + sh, 0), H);
                        ws = std::min(std::max<int64_t>(ws + sw, 0), W);
                        we = std::min(std::max<int64_t>(we + sw, 0), W);
                        const bool empty = he <= hs || we <= ws;
                        T m = empty ? T(0) : -std::numeric_limits<T>::max();
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) m = std::max(m, plane[h * W + w]);
                        y[((r * C + c) * pooled_h + ph) * pooled_w + pw] = m;
                    }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// DeformableConvolution

void DeformableConvolution::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
    v.on("dilations", dilations);
    visit_pad_type(v, "auto_pad", auto_pad);
    v.on("group", group);
    v.on("deformable_group", deformable_group);
    v.on("bilinear_interpolation_pad", bilinear_interpolation_pad);
}

void DeformableConvolution::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 4);
    KILN_INFER_CHECK(ctx, group >= 1 && deformable_group >= 1, "group and deformable_group must be positive");
    const PartialShape& d = ctx.input_shape(0);
    KILN_INFER_CHECK(ctx, d.rank_is_dynamic() || d.rank() == 4, "data must be [N, C, H, W], got ", d.to_string());
    // infer_conv reads data (input 0) and the weights' shape; its type check reads input 1 (offsets).
    infer_conv(ctx, ctx.input_shape(2), Dimension(group), strides, pads_begin, pads_end, dilations, auto_pad);
    const PartialShape& w = ctx.input_shape(2);
    const PartialShape& o = ctx.input_shape(1);
    if (d.rank_is_static() && d[1].is_static()) {
        const int64_t C = d[1].get_length();
        KILN_INFER_CHECK(ctx, C % group == 0 && C % deformable_group == 0, "input channels ", C,
                         " must divide by group ", group, " and deformable_group ", deformable_group);
    }
    if (w.rank_is_static() && w[2].is_static() && w[3].is_static()) {
        const int64_t K = w[2].get_length() * w[3].get_length();
        if (o.rank_is_static())
            KILN_INFER_CHECK(ctx, o.rank() == 4 && o[1].compatible(2 * deformable_group * K), "offsets must be [N, ",
                             2 * deformable_group * K, ", Ho, Wo], got ", o.to_string());
        if (ctx.num_inputs() == 4 && ctx.input_shape(3).rank_is_static()) {
            const PartialShape& m = ctx.input_shape(3);
            KILN_INFER_CHECK(ctx, m.rank() == 4 && m[1].compatible(deformable_group * K), "mask must be [N, ",
                             deformable_group * K, ", Ho, Wo], got ", m.to_string());
        }
    }
}

namespace {

template <typename T>
T deform_bilinear(const T* plane, int64_t H, int64_t W, T h, T w, bool pad) {
    if (pad) {
        if (h <= T(-1) || static_cast<T>(H) <= h || w <= T(-1) || static_cast<T>(W) <= w) return T(0);
    } else if (h < T(0) || h > static_cast<T>(H - 1) || w < T(0) || w > static_cast<T>(W - 1)) {
        return T(0);
    }
    const int64_t hl = static_cast<int64_t>(std::floor(h)), wl = static_cast<int64_t>(std::floor(w));
    const int64_t hh = hl + 1, wh = wl + 1;
    const T lh = h - static_cast<T>(hl), lw = w - static_cast<T>(wl), ah = T(1) - lh, aw = T(1) - lw;
    const T v1 = (hl >= 0 && wl >= 0) ? plane[hl * W + wl] : T(0);
    const T v2 = (hl >= 0 && wh <= W - 1) ? plane[hl * W + wh] : T(0);
    const T v3 = (hh <= H - 1 && wl >= 0) ? plane[hh * W + wl] : T(0);
    const T v4 = (hh <= H - 1 && wh <= W - 1) ? plane[hh * W + wh] : T(0);
    return ah * aw * v1 + ah * lw * v2 + lh * aw * v3 + lh * lw * v4;
}

}  // namespace

DeformableConvolution::Geometry DeformableConvolution::geometry(const Shape& ds, const Shape& ws, const Shape& ys) const {
    auto g = window::resolve(ds, ys, {ws[2], ws[3]}, strides, dilations, pads_begin, pads_end, auto_pad);
    return {ds[0], ds[1], ds[2], ds[3], ws[0], ws[1], ws[2], ws[3], ys[2], ys[3],
            g.stride[1], g.stride[2], g.dil[1], g.dil[2], g.pb[1], g.pb[2]};
}

void DeformableConvolution::columns(const Geometry& g, int64_t n, const float* x, const float* off, const float* mk,
                                    float* col) const {
    const int64_t K = g.KH * g.KW, DG = deformable_group, Cdg = g.C / DG, P = g.Ho * g.Wo;
    for (int64_t c = 0; c < g.C; ++c) {
        const int64_t dg = c / Cdg;
        const float* plane = x + (n * g.C + c) * g.H * g.W;
        for (int64_t i = 0; i < g.KH; ++i)
            for (int64_t j = 0; j < g.KW; ++j) {
                const int64_t k = i * g.KW + j;
                const float* oy = off + ((n * DG + dg) * 2 * K + 2 * k) * P;
                const float* ox = oy + P;
                const float* m = mk ? mk + ((n * DG + dg) * K + k) * P : nullptr;
                float* cp = col + (c * K + k) * P;
                for (int64_t a = 0; a < g.Ho; ++a)
                    for (int64_t b = 0; b < g.Wo; ++b) {
                        const int64_t p = a * g.Wo + b;
                        const float hh = static_cast<float>(a * g.sy - g.py + i * g.dy) + oy[p];
                        const float ww = static_cast<float>(b * g.sx - g.px + j * g.dx) + ox[p];
                        float v = deform_bilinear(plane, g.H, g.W, hh, ww, bilinear_interpolation_pad);
                        if (m) v *= m[p];
                        cp[p] = v;
                    }
            }
    }
}

void DeformableConvolution::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Type t = in[0].type();
    if (t != Type::f32 && t != Type::f64)
        throw Error(str_cat("[", type_name(), " ", name(), "] element type ", kiln::type_name(t),
                            " has no reference kernel (f32, f64)"));
    // f64 runs through f32 columns (the sampling is written once, for f32).
    std::vector<Tensor> f(in.size());
    for (size_t i = 0; i < in.size(); ++i) f[i] = as_type(in[i], Type::f32);
    const auto g = geometry(in[0].shape(), in[2].shape(), out[0].shape());
    const int64_t K = g.KH * g.KW, P = g.Ho * g.Wo, Og = g.O / group;
    Tensor y = t == Type::f32 ? out[0] : Tensor(Type::f32, out[0].shape());
    const float* wp = f[2].data<float>();
    float* yp0 = y.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
        std::vector<float> col(static_cast<size_t>(g.C * K * P));
        columns(g, n, f[0].data<float>(), f[1].data<float>(), f.size() == 4 ? f[3].data<float>() : nullptr, col.data());
        for (int64_t o = 0; o < g.O; ++o) {
            const int64_t gi = o / Og;
            float* yp = yp0 + (n * g.O + o) * P;
            for (int64_t p = 0; p < P; ++p) {
                double acc = 0;
                for (int64_t r = 0; r < g.Cg * K; ++r)
                    acc += static_cast<double>(wp[o * g.Cg * K + r]) * col[static_cast<size_t>((gi * g.Cg * K + r) * P + p)];
                yp[p] = static_cast<float>(acc);
            }
        }
    }
    if (t != Type::f32) convert_elements(y.data(), Type::f32, out[0].data(), t, static_cast<size_t>(y.size()));
}

}  // namespace kiln::op
