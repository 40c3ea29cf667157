#include "kiln/ops/col2im.hpp"

#include <cstring>

#include "kiln/ops/infer_util.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::op {

namespace {

// Number of block positions along one axis; may be <= 0 for a kernel larger than the image.
int64_t blocks(int64_t len, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
    return (len + pb + pe - d * (k - 1) - 1) / s + 1;
}

template <typename T>
void col2im_ref(const Col2Im& op, const T* x, T* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh,
                int64_t kw) {
    const int64_t bh = blocks(h, kh, op.strides[0], op.dilations[0], op.pads_begin[0], op.pads_end[0]);
    const int64_t bw = blocks(w, kw, op.strides[1], op.dilations[1], op.pads_begin[1], op.pads_end[1]);
    const int64_t L = bh * bw;
    std::memset(static_cast<void*>(y), 0, static_cast<size_t>(n * c * h * w) * sizeof(T));
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < n * c; ++p) {
        const T* xp = x + p * kh * kw * L;
        T* yp = y + p * h * w;
        for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j)
                for (int64_t by = 0; by < bh; ++by) {
                    const int64_t yy = by * op.strides[0] + i * op.dilations[0] - op.pads_begin[0];
                    if (yy < 0 || yy >= h) continue;
                    for (int64_t bx = 0; bx < bw; ++bx) {
                        const int64_t xx = bx * op.strides[1] + j * op.dilations[1] - op.pads_begin[1];
                        if (xx < 0 || xx >= w) continue;
                        yp[yy * w + xx] += xp[(i * kw + j) * L + by * bw + bx];
                    }
                }
    }
}

}  // namespace

void Col2Im::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    v.on("dilations", dilations);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
}

void Col2Im::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    check_integral(ctx, 1, "output_size");
    check_integral(ctx, 2, "kernel_size");
    for (auto* a : {&strides, &dilations, &pads_begin, &pads_end})
        KILN_INFER_CHECK(ctx, a->size() == 2, "strides, dilations and pads need 2 values each");
    for (int i = 0; i < 2; ++i) {
        KILN_INFER_CHECK(ctx, strides[i] > 0 && dilations[i] > 0, "strides and dilations must be positive");
        KILN_INFER_CHECK(ctx, pads_begin[i] >= 0 && pads_end[i] >= 0, "pads must not be negative");
    }
    const PartialShape& d = ctx.input_shape(0);
    const Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, d.rank_is_dynamic() || d.rank() == 2 || d.rank() == 3,
                     "data must be [N, C * kh * kw, L] or [C * kh * kw, L], got ", d.to_string());
    auto ks = known_ints(ctx, 2);
    // The output size may be known only in part (dims of another tensor).
    auto osv = shape_value(ctx, 1);
    std::optional<std::vector<int64_t>> os;
    std::vector<Dimension> os_dims;
    if (osv) {
        KILN_INFER_CHECK(ctx, osv->size() == 2, "output_size must have 2 values, got ", osv->size());
        bool all = true;
        for (auto& e : *osv) {
            os_dims.push_back(e.known ? Dimension(e.value) : e.dim);
            all = all && e.known;
        }
        if (all) os = std::vector<int64_t>{(*osv)[0].value, (*osv)[1].value};
    }
    if (ks) KILN_INFER_CHECK(ctx, ks->size() == 2, "kernel_size must have 2 values, got ", ks->size());
    if (d.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        return;
    }
    const bool batched = d.rank() == 3;
    std::vector<Dimension> out;
    if (batched) out.push_back(d[0]);
    Dimension ch = d[batched ? 1 : 0], len = d[batched ? 2 : 1];
    Dimension c = Dimension::dynamic();
    if (ks) {
        KILN_INFER_CHECK(ctx, (*ks)[0] > 0 && (*ks)[1] > 0, "kernel_size must be positive");
        const int64_t k = (*ks)[0] * (*ks)[1];
        if (ch.is_static()) {
            KILN_INFER_CHECK(ctx, ch.get_length() % k == 0, "data has ", ch.get_length(),
                             " rows, not a multiple of the kernel's ", k, " elements");
            c = Dimension(ch.get_length() / k);
        }
    }
    out.push_back(c);
    if (os) {
        KILN_INFER_CHECK(ctx, (*os)[0] > 0 && (*os)[1] > 0, "output_size must be positive");
        if (ks && len.is_static()) {
            int64_t b0 = blocks((*os)[0], (*ks)[0], strides[0], dilations[0], pads_begin[0], pads_end[0]);
            int64_t b1 = blocks((*os)[1], (*ks)[1], strides[1], dilations[1], pads_begin[1], pads_end[1]);
            KILN_INFER_CHECK(ctx, b0 > 0 && b1 > 0 && b0 * b1 == len.get_length(), "data has ", len.get_length(),
                             " blocks, the output size and kernel give ", b0, " x ", b1);
        }
        out.push_back(Dimension((*os)[0]));
        out.push_back(Dimension((*os)[1]));
    } else if (!os_dims.empty()) {
        out.push_back(os_dims[0]);
        out.push_back(os_dims[1]);
    } else {
        out.push_back(Dimension::dynamic());
        out.push_back(Dimension::dynamic());
    }
    ctx.set_output(0, t, PartialShape(out));
}

void Col2Im::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto os = in[1].as_i64_vector(), ks = in[2].as_i64_vector();
    const Shape& ds = in[0].shape();
    const bool batched = ds.size() == 3;
    const int64_t n = batched ? ds[0] : 1, c = ds[batched ? 1 : 0] / (ks[0] * ks[1]);
    const int64_t L = ds[batched ? 2 : 1];
    const int64_t b0 = blocks(os[0], ks[0], strides[0], dilations[0], pads_begin[0], pads_end[0]);
    const int64_t b1 = blocks(os[1], ks[1], strides[1], dilations[1], pads_begin[1], pads_end[1]);
    if (b0 * b1 != L || b0 <= 0 || b1 <= 0)
        throw ValueError(str_cat("[", type_name(), " ", name(), "] data has ", L, " blocks, the output size and kernel give ",
                                 b0, " x ", b1));
    switch (in[0].type()) {
        case Type::f32:
            return col2im_ref(*this, in[0].data<float>(), out[0].data<float>(), n, c, os[0], os[1], ks[0], ks[1]);
        case Type::f64:
            return col2im_ref(*this, in[0].data<double>(), out[0].data<double>(), n, c, os[0], os[1], ks[0], ks[1]);
        case Type::i64:
            return col2im_ref(*this, in[0].data<int64_t>(), out[0].data<int64_t>(), n, c, os[0], os[1], ks[0], ks[1]);
        case Type::i32:
            return col2im_ref(*this, in[0].data<int32_t>(), out[0].data<int32_t>(), n, c, os[0], os[1], ks[0], ks[1]);
        default: break;
    }
    throw Error(str_cat("[", type_name(), " ", name(), "] element type ", kiln::type_name(in[0].type()),
                        " has no reference kernel (f32, f64, i64, i32)"));
}

}  // namespace kiln::op
