#include "kiln/ops/grid_sample.hpp"

#include <cmath>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

// Keeps a pixel coordinate inside the image by the padding rule (zeros leaves it alone; the
// read then checks the bounds).
template <typename C>
C pad_coordinate(C x, int64_t len, GridSamplePadding p, bool align_corners) {
    auto clip = [&](C v) { return std::min(static_cast<C>(len - 1), std::max(v, C(0))); };
    if (p == GridSamplePadding::border) return clip(x);
    if (p != GridSamplePadding::reflection) return x;
    // Mirror about [lo, hi]: the end pixels' centres, or the image's outer edges.
    const C lo = align_corners ? C(0) : C(-0.5);
    const C span = align_corners ? static_cast<C>(len - 1) : static_cast<C>(len);
    if (span <= C(0)) return C(0);
    C d = std::fabs(x - lo);
    C extra = std::fmod(d, span);
    int64_t flips = static_cast<int64_t>(std::floor(d / span));
    C r = flips % 2 == 0 ? extra + lo : span - extra + lo;
    return clip(r);
}

template <typename C>
C unnormalize(C g, int64_t len, bool align_corners) {
    return align_corners ? (g + C(1)) / C(2) * static_cast<C>(len - 1)
                         : ((g + C(1)) * static_cast<C>(len) - C(1)) / C(2);
}

template <typename C>
void cubic_coeffs(C t, C w[4]) {
    const C a = C(-0.75);
    auto near = [&](C s) { return ((a + C(2)) * s - (a + C(3))) * s * s + C(1); };
    auto far = [&](C s) { return ((a * s - C(5) * a) * s + C(8) * a) * s - C(4) * a; };
    w[0] = far(t + C(1));
    w[1] = near(t);
    w[2] = near(C(1) - t);
    w[3] = far(C(2) - t);
}

template <typename T, typename C>
void grid_sample_ref(const GridSample& op, const T* x, const Shape& xs, const T* grid, T* y, const Shape& ys) {
    const int64_t N = xs[0], Ch = xs[1], H = xs[2], W = xs[3], Ho = ys[2], Wo = ys[3];
    const auto pm = op.padding_mode;
    const bool ac = op.align_corners;
    auto at = [&](const T* plane, int64_t iy, int64_t ix) -> C {
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) return C(0);
        return static_cast<C>(plane[iy * W + ix]);
    };
#pragma omp parallel for schedule(static)
    for (int64_t job = 0; job < N * Ho; ++job) {
        const int64_t n = job / Ho, oh = job % Ho;
        for (int64_t ow = 0; ow < Wo; ++ow) {
            const T* g = grid + ((n * Ho + oh) * Wo + ow) * 2;
            const C gx = static_cast<C>(g[0]), gy = static_cast<C>(g[1]);
            for (int64_t c = 0; c < Ch; ++c) {
                const T* plane = x + (n * Ch + c) * H * W;
                C v = 0;
                if (op.mode == GridSampleMode::bicubic) {
                    const C fx = unnormalize(gx, W, ac), fy = unnormalize(gy, H, ac);
                    const C x0 = std::floor(fx), y0 = std::floor(fy);
                    C wx[4], wy[4];
                    cubic_coeffs(fx - x0, wx);
                    cubic_coeffs(fy - y0, wy);
                    for (int j = 0; j < 4; ++j) {
                        C row = 0;
                        const C py = pad_coordinate(y0 - C(1) + C(j), H, pm, ac);
                        for (int i = 0; i < 4; ++i) {
                            const C px = pad_coordinate(x0 - C(1) + C(i), W, pm, ac);
                            row += wx[i] * at(plane, static_cast<int64_t>(py), static_cast<int64_t>(px));
                        }
                        v += wy[j] * row;
                    }
                } else {
                    const C fx = pad_coordinate(unnormalize(gx, W, ac), W, pm, ac);
                    const C fy = pad_coordinate(unnormalize(gy, H, ac), H, pm, ac);
                    if (op.mode == GridSampleMode::nearest) {
                        v = at(plane, static_cast<int64_t>(std::nearbyint(fy)), static_cast<int64_t>(std::nearbyint(fx)));
                    } else {
                        const C x0 = std::floor(fx), y0 = std::floor(fy);
                        const C tx = fx - x0, ty = fy - y0;
                        const int64_t ix = static_cast<int64_t>(x0), iy = static_cast<int64_t>(y0);
                        v = at(plane, iy, ix) * (C(1) - tx) * (C(1) - ty) + at(plane, iy, ix + 1) * tx * (C(1) - ty) +
                            at(plane, iy + 1, ix) * (C(1) - tx) * ty + at(plane, iy + 1, ix + 1) * tx * ty;
                    }
                }
                y[((n * Ch + c) * Ho + oh) * Wo + ow] = static_cast<T>(v);
            }
        }
    }
}

}  // namespace

void GridSample::visit_attributes(AttributeVisitor& v) {
    v.on("align_corners", align_corners);
    visit_enum(v, "mode", mode,
               {{GridSampleMode::bilinear, "bilinear"}, {GridSampleMode::bicubic, "bicubic"},
                {GridSampleMode::nearest, "nearest"}});
    visit_enum(v, "padding_mode", padding_mode,
               {{GridSamplePadding::zeros, "zeros"}, {GridSamplePadding::border, "border"},
                {GridSamplePadding::reflection, "reflection"}});
}

void GridSample::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    const Type dt = ctx.input_type(0), gt = ctx.input_type(1);
    KILN_INFER_CHECK(ctx, dt == Type::dynamic || is_float(dt), "data must be of a floating type, got ", kiln::type_name(dt));
    KILN_INFER_CHECK(ctx, gt == Type::dynamic || is_float(gt), "grid must be of a floating type, got ", kiln::type_name(gt));
    const PartialShape& d = ctx.input_shape(0);
    const PartialShape& g = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, d.rank_is_dynamic() || d.rank() == 4, "data must be 4-D [N, C, H, W], got ", d.to_string());
    KILN_INFER_CHECK(ctx, g.rank_is_dynamic() || g.rank() == 4, "grid must be 4-D [N, H_out, W_out, 2], got ",
                     g.to_string());
    std::vector<Dimension> out(4);
    if (d.rank_is_static()) {
        out[0] = d[0];
        out[1] = d[1];
    }
    if (g.rank_is_static()) {
        KILN_INFER_CHECK(ctx, g[3].compatible(2), "grid's last axis must be 2 (x, y), got ", g.to_string());
        auto n = Dimension::merge(out[0], g[0]);
        KILN_INFER_CHECK(ctx, n.has_value(), "data ", d.to_string(), " and grid ", g.to_string(),
                         " disagree on the batch");
        out[0] = *n;
        out[2] = g[1];
        out[3] = g[2];
    }
    ctx.set_output(0, dt, PartialShape(out));
}

void GridSample::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Type t = in[0].type();
    if (out[0].size() == 0) return;
    auto as = [](const Tensor& v, Type to) {
        if (v.type() == to) return v;
        Tensor r(to, v.shape());
        convert_elements(v.data(), v.type(), r.data(), to, static_cast<size_t>(v.size()));
        return r;
    };
    if (t == Type::f64) {
        Tensor g = as(in[1], Type::f64);
        grid_sample_ref<double, double>(*this, in[0].data<double>(), in[0].shape(), g.data<double>(),
                                        out[0].data<double>(), out[0].shape());
        return;
    }
    if (!is_float(t))
        throw Error(str_cat("[", type_name(), " ", name(), "] element type ", kiln::type_name(t),
                            " has no reference kernel (floating types only)"));
    Tensor x = as(in[0], Type::f32), g = as(in[1], Type::f32);
    Tensor y = t == Type::f32 ? out[0] : Tensor(Type::f32, out[0].shape());
    grid_sample_ref<float, float>(*this, x.data<float>(), x.shape(), g.data<float>(), y.data<float>(), y.shape());
    if (t != Type::f32) convert_elements(y.data(), Type::f32, out[0].data(), t, static_cast<size_t>(y.size()));
}

}  // namespace kiln::op
