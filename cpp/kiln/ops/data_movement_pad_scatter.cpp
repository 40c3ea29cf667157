// Pad, Roll, ScatterNDUpdate and GatherElements (declared in data_movement.hpp).
#include <algorithm>
#include <cstring>
#include <limits>

#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

std::string ints(const std::vector<int64_t>& v) { return to_string(Shape(v)); }

// Steps a row-major multi-index; returns false after the last one.
bool next_index(std::vector<int64_t>& idx, const Shape& shape) {
    for (size_t k = idx.size(); k-- > 0;) {
        if (++idx[k] < shape[k]) return true;
        idx[k] = 0;
    }
    return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pad

void Pad::visit_attributes(AttributeVisitor& v) {
    visit_enum(v, "pad_mode", pad_mode,
               {{PadMode::constant, "constant"},
                {PadMode::edge, "edge"},
                {PadMode::reflect, "reflect"},
                {PadMode::symmetric, "symmetric"}});
}

void Pad::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 4);
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 12, "opset version ", opset_version,
                     " does not exist (1, 12)");
    if (opset_version == 1)
        for (size_t i : {size_t{1}, size_t{2}})
            if (auto p = known_ints(ctx, i))
                for (auto x : *p) KILN_INFER_CHECK(ctx, x >= 0, "Pad-1 takes no negative pads, got ", x);
    check_integral(ctx, 1, "pads_begin");
    check_integral(ctx, 2, "pads_end");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    if (ctx.num_inputs() == 4) {
        Type pt = ctx.input_type(3);
        KILN_INFER_CHECK(ctx, pt == Type::dynamic || type == Type::dynamic || pt == type, "pad_value has element type ",
                  kiln::type_name(pt), ", expected ", kiln::type_name(type), " like data");
        const PartialShape& ps = ctx.input_shape(3);
        KILN_INFER_CHECK(ctx, ps.rank_is_dynamic() || ps.rank() == 0, "pad_value must be a scalar, got shape ",
                  ps.to_string());
    }
    auto pb = known_ints(ctx, 1), pe = known_ints(ctx, 2);
    if (in.rank_is_dynamic()) {
        std::optional<size_t> n;
        if (pb) n = pb->size();
        else if (pe) n = pe->size();
        ctx.set_output(0, type, n ? PartialShape::dynamic(static_cast<int64_t>(*n)) : PartialShape());
        return;
    }
    size_t r = in.size();
    for (auto* p : {&pb, &pe})
        KILN_INFER_CHECK(ctx, !*p || (*p)->size() == r, p == &pb ? "pads_begin " : "pads_end ",
                  ints(*p ? **p : std::vector<int64_t>{}), " must have one element per dimension of data ",
                  in.to_string());
    std::vector<Dimension> out(r);
    for (size_t i = 0; i < r; ++i) {
        const Dimension& d = in[i];
        if (!pb || !pe) {
            out[i] = Dimension::dynamic();
            continue;
        }
        int64_t b = (*pb)[i], e = (*pe)[i];
        if (d.is_static() && (pad_mode == PadMode::reflect || pad_mode == PadMode::symmetric ||
                              pad_mode == PadMode::edge)) {
            int64_t len = d.get_length();
            int64_t limit = pad_mode == PadMode::reflect ? len - 1 : len;
            if (pad_mode == PadMode::edge) limit = len > 0 ? std::numeric_limits<int64_t>::max() : 0;
            KILN_INFER_CHECK(ctx, b <= limit && e <= limit, "pads ", b, " and ", e, " on axis ", i, " of data ",
                      in.to_string(), " are too large for ",
                      pad_mode == PadMode::reflect ? "reflect" : pad_mode == PadMode::symmetric ? "symmetric" : "edge",
                      " mode (at most ", limit, ")");
        }
        if (d.is_static()) {
            int64_t o = d.get_length() + b + e;
            KILN_INFER_CHECK(ctx, o >= 0, "pads_begin ", ints(*pb), " and pads_end ", ints(*pe),
                      " remove more than data ", in.to_string(), " has");
            out[i] = Dimension(o);
        } else {
            int64_t lo = std::max<int64_t>(d.get_min_length() + b + e, 0);
            int64_t hi = d.get_max_length() < 0 ? -1 : d.get_max_length() + b + e;
            KILN_INFER_CHECK(ctx, d.get_max_length() < 0 || hi >= 0, "pads_begin ", ints(*pb), " and pads_end ",
                      ints(*pe), " remove more than data ", in.to_string(), " has");
            out[i] = Dimension(lo, hi);
        }
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
}

void Pad::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& is = in[0].shape();
    const Shape& os = out[0].shape();
    auto pb = in[1].as_i64_vector();
    size_t es = type_size(in[0].type());
    std::vector<uint8_t> value(es, 0);
    if (in.size() > 3 && pad_mode == PadMode::constant) std::memcpy(value.data(), in[3].data(), es);
    if (out[0].size() == 0) return;
    auto src = in[0].data<uint8_t>();
    auto dst = out[0].data<uint8_t>();
    auto st = contiguous_strides(is);
    std::vector<int64_t> idx(os.size(), 0);
    int64_t n = 0;
    do {
        int64_t off = 0;
        bool inside = true;
        for (size_t k = 0; k < os.size(); ++k) {
            int64_t c = idx[k] - pb[k], d = is[k];
            if (c < 0 || c >= d) {
                if (pad_mode == PadMode::constant) {
                    inside = false;
                    break;
                }
                if (pad_mode == PadMode::edge) c = c < 0 ? 0 : d - 1;
                else if (pad_mode == PadMode::reflect) c = c < 0 ? -c : 2 * (d - 1) - c;
                else c = c < 0 ? -c - 1 : 2 * d - 1 - c;
            }
            off += c * st[k];
        }
        std::memcpy(dst + n * static_cast<int64_t>(es), inside ? src + off * static_cast<int64_t>(es) : value.data(), es);
        ++n;
    } while (next_index(idx, os));
}

// ---------------------------------------------------------------------------------------------
// Roll

void Roll::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    check_integral(ctx, 1, "shift");
    check_integral(ctx, 2, "axes");
    const PartialShape& in = ctx.input_shape(0);
    const PartialShape& ss = ctx.input_shape(1);
    const PartialShape& as = ctx.input_shape(2);
    KILN_INFER_CHECK(ctx, ss.rank_is_dynamic() || ss.rank() <= 1, "shift must be a scalar or 1D, got shape ", ss.to_string());
    KILN_INFER_CHECK(ctx, as.rank_is_dynamic() || as.rank() <= 1, "axes must be a scalar or 1D, got shape ", as.to_string());
    auto shift = known_ints(ctx, 1), axes = known_ints(ctx, 2);
    if (shift && axes && ss.rank_is_static() && ss.rank() == 1)
        KILN_INFER_CHECK(ctx, shift->size() == axes->size(), "shift ", ints(*shift), " and axes ", ints(*axes),
                  " differ in length");
    if (axes && in.rank_is_static()) {
        int64_t r = in.rank();
        for (int64_t a : *axes)
            KILN_INFER_CHECK(ctx, a >= -r && a < r, "axis ", a, " is out of range for data ", in.to_string());
    }
    ctx.set_output(0, ctx.input_type(0), in);
}

void Roll::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& s = in[0].shape();
    auto shift = in[1].as_i64_vector(), axes = in[2].as_i64_vector();
    int64_t r = in[0].rank();
    std::vector<int64_t> total(s.size(), 0);
    for (size_t i = 0; i < axes.size(); ++i) {
        int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        int64_t sh = shift.size() == 1 ? shift[0] : shift[i];
        total[static_cast<size_t>(a)] += sh;
    }
    if (in[0].size() == 0) return;
    for (size_t k = 0; k < s.size(); ++k) total[k] = ((total[k] % s[k]) + s[k]) % s[k];
    size_t es = type_size(in[0].type());
    auto ost = contiguous_strides(s);
    auto src = in[0].data<uint8_t>();
    auto dst = out[0].data<uint8_t>();
    std::vector<int64_t> idx(s.size(), 0);
    int64_t n = 0;
    do {
        int64_t off = 0;
        for (size_t k = 0; k < s.size(); ++k) off += ((idx[k] + total[k]) % s[k]) * ost[k];
        std::memcpy(dst + off * static_cast<int64_t>(es), src + n * static_cast<int64_t>(es), es);
        ++n;
    } while (next_index(idx, s));
}

// ---------------------------------------------------------------------------------------------
// ScatterNDUpdate

void ScatterNDUpdate::visit_attributes(AttributeVisitor& v) { visit_reduction(v, reduction); }

void ScatterNDUpdate::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    KILN_INFER_CHECK(ctx, reduction != ScatterReduction::mean, "has no 'mean' reduction");
    check_integral(ctx, 1, "indices");
    const PartialShape& data = ctx.input_shape(0);
    const PartialShape& idx = ctx.input_shape(1);
    const PartialShape& upd = ctx.input_shape(2);
    Type type = ctx.input_type(0), ut = ctx.input_type(2);
    KILN_INFER_CHECK(ctx, type == Type::dynamic || ut == Type::dynamic || type == ut, "updates have element type ",
              kiln::type_name(ut), ", expected ", kiln::type_name(type), " like data");
    if (type == Type::dynamic) type = ut;
    KILN_INFER_CHECK(ctx, idx.rank_is_dynamic() || idx.rank() >= 1, "indices must have rank >= 1, got shape ",
              idx.to_string());
    if (idx.rank_is_static() && idx[idx.size() - 1].is_static() && data.rank_is_static()) {
        int64_t k = idx[idx.size() - 1].get_length();
        KILN_INFER_CHECK(ctx, k <= data.rank(), "indices ", idx.to_string(), " index ", k,
                  " dimensions, more than data ", data.to_string(), " has");
        std::vector<Dimension> expect(idx.dims().begin(), idx.dims().end() - 1);
        for (size_t i = static_cast<size_t>(k); i < data.size(); ++i) expect.push_back(data[i]);
        KILN_INFER_CHECK(ctx, upd.compatible(PartialShape(expect)), "updates have shape ", upd.to_string(), ", expected ",
                  PartialShape(expect).to_string(), " from data ", data.to_string(), " and indices ",
                  idx.to_string());
    }
    ctx.set_output(0, type, data);
}

void ScatterNDUpdate::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].data() != out[0].data() && in[0].byte_size())
        std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
    const Shape& ds = in[0].shape();
    const Shape& is = in[1].shape();
    size_t k = static_cast<size_t>(is.back());
    int64_t tuples = 1, slice = 1;
    for (size_t i = 0; i + 1 < is.size(); ++i) tuples *= is[i];
    for (size_t i = k; i < ds.size(); ++i) slice *= ds[i];
    auto st = contiguous_strides(ds);
    auto idx = in[1].as_i64_vector();
    size_t bytes = static_cast<size_t>(slice) * type_size(in[0].type());
    for (int64_t t = 0; t < tuples; ++t) {
        int64_t off = 0;
        for (size_t j = 0; j < k; ++j) {
            int64_t v = idx[static_cast<size_t>(t) * k + j], d = ds[j];
            if (v < 0) v += d;
            if (v < 0 || v >= d)
                throw ValueError(str_cat("[ScatterNDUpdate ", name(), "] index ",
                                         idx[static_cast<size_t>(t) * k + j], " is out of range for axis ",
                                         j, " of data ", to_string(ds)));
            off += v * st[j];
        }
        if (reduction != ScatterReduction::none) {
            visit_type(in[0].type(), [&](auto tag) {
                using T = decltype(tag);
                T* o = out[0].data<T>() + off;
                const T* u = in[2].data<T>() + t * slice;
                for (int64_t e = 0; e < slice; ++e) o[e] = scatter_combine(reduction, o[e], u[e]);
            });
        } else if (bytes) {
            std::memcpy(out[0].data<uint8_t>() + off * static_cast<int64_t>(type_size(in[0].type())),
                        in[2].data<uint8_t>() + t * static_cast<int64_t>(bytes), bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GatherElements

void GatherElements::visit_attributes(AttributeVisitor& v) { v.on("axis", axis); }

void GatherElements::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "indices");
    const PartialShape& data = ctx.input_shape(0);
    const PartialShape& idx = ctx.input_shape(1);
    Type type = ctx.input_type(0);
    std::optional<int64_t> r;
    if (data.rank_is_static()) r = data.rank();
    else if (idx.rank_is_static()) r = idx.rank();
    if (!r) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    KILN_INFER_CHECK(ctx, *r >= 1, "data must not be a scalar");
    KILN_INFER_CHECK(ctx, axis >= -*r && axis < *r, "axis ", axis, " is out of range for rank ", *r);
    int64_t a = axis < 0 ? axis + *r : axis;
    if (data.rank_is_dynamic() || idx.rank_is_dynamic()) {
        ctx.set_output(0, type, idx.rank_is_static() ? idx : PartialShape::dynamic(*r));
        return;
    }
    KILN_INFER_CHECK(ctx, data.rank() == idx.rank(), "indices ", idx.to_string(), " must have the rank of data ",
              data.to_string());
    std::vector<Dimension> out = idx.dims();
    for (size_t i = 0; i < out.size(); ++i) {
        if (static_cast<int64_t>(i) == a) continue;
        auto m = Dimension::merge(out[i], data[i]);
        KILN_INFER_CHECK(ctx, m.has_value(), "indices ", idx.to_string(), " and data ", data.to_string(),
                  " differ on axis ", i, " (only axis ", a, " may differ)");
        out[i] = *m;
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
}

void GatherElements::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& ds = in[0].shape();
    const Shape& is = in[1].shape();
    if (in[1].size() == 0) return;
    size_t a = static_cast<size_t>(axis < 0 ? axis + in[0].rank() : axis);
    auto st = contiguous_strides(ds);
    auto idx = in[1].as_i64_vector();
    size_t es = type_size(in[0].type());
    auto src = in[0].data<uint8_t>();
    auto dst = out[0].data<uint8_t>();
    std::vector<int64_t> pos(is.size(), 0);
    int64_t n = 0;
    do {
        int64_t v = idx[static_cast<size_t>(n)], d = ds[a];
        if (v < 0) v += d;
        if (v < 0 || v >= d)
            throw ValueError(str_cat("[GatherElements ", name(), "] index ", idx[static_cast<size_t>(n)],
                                     " is out of range for axis ", a, " of data ", to_string(ds)));
        int64_t off = 0;
        for (size_t k = 0; k < pos.size(); ++k) off += (k == a ? v : pos[k]) * st[k];
        std::memcpy(dst + n * static_cast<int64_t>(es), src + off * static_cast<int64_t>(es), es);
        ++n;
    } while (next_index(pos, is));
}

}  // namespace kiln::op
