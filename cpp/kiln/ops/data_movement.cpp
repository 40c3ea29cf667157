#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/infer_util.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace kiln::op {

namespace {

std::string ints(const std::vector<int64_t>& v) { return to_string(Shape(v)); }

// Merges the element types of inputs [first, last]; fails on a mismatch.
Type merged_type(const InferContext& ctx, size_t first, size_t last) {
    Type t = Type::dynamic;
    for (size_t i = first; i <= last && i < ctx.num_inputs(); ++i) {
        Type u = ctx.input_type(i);
        if (u == Type::dynamic) continue;
        if (t == Type::dynamic) t = u;
        KILN_INFER_CHECK(ctx, t == u, "input ", i, " has element type ", type_name(u), ", expected ", type_name(t));
    }
    return t;
}

int64_t norm_axis(const InferContext& ctx, int64_t axis, int64_t rank, const char* what = "axis") {
    KILN_INFER_CHECK(ctx, axis >= -rank && axis < rank, what, " ", axis, " is out of range for rank ", rank);
    return axis < 0 ? axis + rank : axis;
}

std::optional<int64_t> static_length(const PartialShape& s) {
    if (s.rank_is_dynamic()) return std::nullopt;
    if (s.rank() == 0) return 1;
    if (s.rank() == 1 && s[0].is_static()) return s[0].get_length();
    return std::nullopt;
}

// Numpy slicing of one dimension of size d: the first index taken and the count.
// Masked begin/end mean the full extent in the direction of the step.
void slice_range(int64_t d, int64_t b, int64_t e, int64_t s, bool bmask, bool emask,
                 int64_t& start, int64_t& len) {
    if (s > 0) {
        start = bmask ? 0 : (b < 0 ? std::max(b + d, int64_t{0}) : std::min(b, d));
        int64_t stop = emask ? d : (e < 0 ? std::max(e + d, int64_t{0}) : std::min(e, d));
        len = stop > start ? 1 + (stop - start - 1) / s : 0;
    } else {
        start = bmask ? d - 1 : (b < 0 ? std::max(b + d, int64_t{-1}) : std::min(b, d - 1));
        int64_t stop = emask ? -1 : (e < 0 ? std::max(e + d, int64_t{-1}) : std::min(e, d - 1));
        uint64_t as = uint64_t{0} - static_cast<uint64_t>(s);
        len = start > stop ? 1 + static_cast<int64_t>(static_cast<uint64_t>(start - stop - 1) / as) : 0;
    }
}

int64_t slice_len(int64_t d, int64_t b, int64_t e, int64_t s, bool bmask, bool emask) {
    int64_t start, len;
    slice_range(d, b, e, s, bmask, emask, start, len);
    return len;
}

// The slice length of a dimension known as an interval. The length grows with the dimension
// unless the upper end is counted from the front and the lower end from the back (x[-5:3]).
Dimension slice_dim(const Dimension& d, int64_t b, int64_t e, int64_t s, bool bmask, bool emask) {
    if (d.is_static()) return Dimension(slice_len(d.get_length(), b, e, s, bmask, emask));
    // Bounds beyond any possible size (INT64_MAX for "to the end") act like masks.
    constexpr int64_t huge = int64_t{1} << 40;
    int64_t dmax = d.get_max_length() < 0 ? huge : d.get_max_length();
    if (s > 0) {
        bmask = bmask || b <= -dmax;
        emask = emask || e >= dmax;
    } else {
        bmask = bmask || b >= dmax;
        emask = emask || e <= -dmax - 1;
    }
    bool upper_front = s > 0 ? (!emask && e >= 0) : (!bmask && b >= 0);
    bool lower_back = s > 0 ? (!bmask && b < 0) : (!emask && e < 0);
    if (upper_front && lower_back) return Dimension(0, d.get_max_length());
    constexpr int64_t big = int64_t{1} << 40;
    int64_t lo = slice_len(d.get_min_length(), b, e, s, bmask, emask);
    int64_t hi;
    if (d.get_max_length() >= 0) hi = slice_len(d.get_max_length(), b, e, s, bmask, emask);
    else {
        hi = slice_len(big, b, e, s, bmask, emask);
        if (hi > big / 4) hi = -1;
    }
    return Dimension(lo, hi);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Transpose

void Transpose::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "order");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    auto order = known_ints(ctx, 1);
    if (!order) {
        auto k = static_length(ctx.input_shape(1));
        if (in.rank_is_static()) ctx.set_output(0, type, PartialShape::dynamic(in.rank()));
        else ctx.set_output(0, type, k && *k > 0 ? PartialShape::dynamic(*k) : PartialShape());
        return;
    }
    if (order->empty()) {
        if (in.rank_is_dynamic()) {
            ctx.set_output(0, type, PartialShape());
            return;
        }
        std::vector<Dimension> out(in.dims().rbegin(), in.dims().rend());
        ctx.set_output(0, type, PartialShape(std::move(out)));
        return;
    }
    int64_t n = static_cast<int64_t>(order->size());
    KILN_INFER_CHECK(ctx, in.rank_is_dynamic() || in.rank() == n, "order ", ints(*order),
              " does not match the rank of data ", in.to_string());
    std::vector<bool> seen(order->size(), false);
    for (int64_t a : *order) {
        KILN_INFER_CHECK(ctx, a >= 0 && a < n && !seen[static_cast<size_t>(a)], "order ", ints(*order),
                  " is not a permutation of [0, ", n, ")");
        seen[static_cast<size_t>(a)] = true;
    }
    if (in.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape::dynamic(n));
        return;
    }
    std::vector<Dimension> out;
    for (int64_t a : *order) out.push_back(in[static_cast<size_t>(a)]);
    ctx.set_output(0, type, PartialShape(std::move(out)));
}

StridedView Transpose::view(const Shape& data, const std::vector<int64_t>& order) {
    auto st = contiguous_strides(data);
    size_t n = data.size();
    StridedView v;
    if (!order.empty() && order.size() != n)
        throw ValueError(str_cat("[Transpose] order ", ints(order), " does not match rank ", n));
    for (size_t i = 0; i < n; ++i) {
        size_t a = order.empty() ? n - 1 - i : static_cast<size_t>(order[i]);
        if (a >= n) throw ValueError(str_cat("[Transpose] order ", ints(order), " is not a permutation"));
        v.shape.push_back(data[a]);
        v.strides.push_back(st[a]);
    }
    return v;
}

void Transpose::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto v = view(in[0].shape(), in[1].as_i64_vector());
    copy_view_reference(v, in[0].data(), out[0].data(), type_size(in[0].type()));
}

// ---------------------------------------------------------------------------------------------
// Concat

void Concat::visit_attributes(AttributeVisitor& v) { v.on("axis", axis); }

void Concat::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, ctx.num_inputs() >= 1, "expected at least 1 input, got 0");
    Type type = merged_type(ctx, 0, ctx.num_inputs() - 1);
    std::optional<PartialShape> ref;
    size_t ref_i = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
        if (ctx.input_shape(i).rank_is_static()) {
            ref = ctx.input_shape(i);
            ref_i = i;
            break;
        }
    if (!ref) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    int64_t r = ref->rank();
    KILN_INFER_CHECK(ctx, r >= 1, "cannot concatenate scalars (input ", ref_i, " has shape [])");
    int64_t a = norm_axis(ctx, axis, r);
    std::vector<Dimension> out = ref->dims();
    Dimension sum(0);
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const PartialShape& s = ctx.input_shape(i);
        if (s.rank_is_dynamic()) {
            sum = sum + Dimension::dynamic();
            continue;
        }
        KILN_INFER_CHECK(ctx, s.rank() == r, "input ", i, " has shape ", s.to_string(), ", expected rank ", r,
                  " like input ", ref_i, " ", ref->to_string());
        for (int64_t k = 0; k < r; ++k) {
            if (k == a) continue;
            auto m = Dimension::merge(out[static_cast<size_t>(k)], s[static_cast<size_t>(k)]);
            KILN_INFER_CHECK(ctx, m.has_value(), "input ", i, " has shape ", s.to_string(), ", which differs from ",
                      ref->to_string(), " (input ", ref_i, ") outside axis ", a);
            out[static_cast<size_t>(k)] = *m;
        }
        sum = sum + s[static_cast<size_t>(a)];
    }
    out[static_cast<size_t>(a)] = sum;
    ctx.set_output(0, type, PartialShape(std::move(out)));
    if (r == 1) {  // shape arithmetic: the parts' partial values, one after another
        ShapeValue v;
        for (size_t i = 0; i < ctx.num_inputs(); ++i) {
            auto p = ctx.input_shape_value(i);
            if (!p) return;
            v.insert(v.end(), p->begin(), p->end());
        }
        ctx.set_output_value(0, std::move(v));
    }
}

void Concat::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& os = out[0].shape();
    int64_t a = axis < 0 ? axis + static_cast<int64_t>(os.size()) : axis;
    size_t es = type_size(out[0].type());
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < a; ++k) outer *= os[static_cast<size_t>(k)];
    for (size_t k = static_cast<size_t>(a) + 1; k < os.size(); ++k) inner *= os[k];
    size_t row = static_cast<size_t>(os[static_cast<size_t>(a)] * inner) * es;
    auto dst = out[0].data<uint8_t>();
    size_t off = 0;
    for (auto& t : in) {
        size_t chunk = static_cast<size_t>(t.shape()[static_cast<size_t>(a)] * inner) * es;
        for (int64_t o = 0; o < outer; ++o)
            if (chunk) std::memcpy(dst + o * row + off, t.data<uint8_t>() + o * chunk, chunk);
        off += chunk;
    }
}

// ---------------------------------------------------------------------------------------------
// Split, VariadicSplit

namespace {
// Copies consecutive pieces of `in` along axis into the outputs (whose shapes say the lengths).
void split_reference(const Tensor& in, int64_t axis, std::vector<Tensor>& out) {
    const Shape& s = in.shape();
    size_t es = type_size(in.type());
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= s[static_cast<size_t>(k)];
    for (size_t k = static_cast<size_t>(axis) + 1; k < s.size(); ++k) inner *= s[k];
    size_t row = static_cast<size_t>(s[static_cast<size_t>(axis)] * inner) * es;
    size_t off = 0;
    for (auto& t : out) {
        size_t chunk = static_cast<size_t>(t.shape()[static_cast<size_t>(axis)] * inner) * es;
        for (int64_t o = 0; o < outer; ++o)
            if (chunk) std::memcpy(t.data<uint8_t>() + o * chunk, in.data<uint8_t>() + o * row + off, chunk);
        off += chunk;
    }
}
}  // namespace

void Split::visit_attributes(AttributeVisitor& v) { v.on("num_splits", num_splits); }

void Split::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "axis");
    KILN_INFER_CHECK(ctx, num_splits >= 1, "num_splits must be positive, got ", num_splits);
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    auto av = known_ints(ctx, 1);
    PartialShape out = in.rank_is_static() ? PartialShape::dynamic(in.rank()) : PartialShape();
    if (av && in.rank_is_static()) {
        KILN_INFER_CHECK(ctx, av->size() == 1, "axis must be a scalar, got ", ints(*av));
        int64_t a = norm_axis(ctx, (*av)[0], in.rank());
        out = in;
        const Dimension& d = in[static_cast<size_t>(a)];
        if (d.is_static()) {
            KILN_INFER_CHECK(ctx, d.get_length() % num_splits == 0, "dimension ", d.get_length(), " of axis ", a,
                      " of data ", in.to_string(), " is not divisible by num_splits ", num_splits);
            out[static_cast<size_t>(a)] = Dimension(d.get_length() / num_splits);
        } else {
            int64_t hi = d.get_max_length() < 0 ? -1 : d.get_max_length() / num_splits;
            out[static_cast<size_t>(a)] = Dimension((d.get_min_length() + num_splits - 1) / num_splits, hi);
        }
    }
    for (int64_t i = 0; i < num_splits; ++i) ctx.set_output(static_cast<size_t>(i), type, out);
}

void Split::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    int64_t a = in[1].as_i64_vector()[0];
    if (a < 0) a += in[0].rank();
    split_reference(in[0], a, out);
}

void VariadicSplit::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    check_integral(ctx, 1, "axis");
    check_integral(ctx, 2, "split_lengths");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    const PartialShape& ls = ctx.input_shape(2);
    KILN_INFER_CHECK(ctx, ls.rank_is_static() && ls.rank() == 1 && ls[0].is_static(),
              "split_lengths must be 1D of static length (it sets the number of outputs), got shape ",
              ls.to_string());
    size_t n = static_cast<size_t>(ls[0].get_length());
    auto av = known_ints(ctx, 1);
    auto lengths = known_ints(ctx, 2);
    if (!av || in.rank_is_dynamic()) {
        for (size_t i = 0; i < n; ++i)
            ctx.set_output(i, type, in.rank_is_static() ? PartialShape::dynamic(in.rank()) : PartialShape());
        return;
    }
    KILN_INFER_CHECK(ctx, av->size() == 1, "axis must be a scalar, got ", ints(*av));
    int64_t a = norm_axis(ctx, (*av)[0], in.rank());
    const Dimension& d = in[static_cast<size_t>(a)];
    std::vector<Dimension> outd(n, Dimension::dynamic());
    if (lengths) {
        int64_t minus = -1, sum = 0;
        for (size_t i = 0; i < n; ++i) {
            int64_t l = (*lengths)[i];
            KILN_INFER_CHECK(ctx, l >= -1, "split_lengths ", ints(*lengths), " has a negative length");
            if (l == -1) {
                KILN_INFER_CHECK(ctx, minus < 0, "split_lengths ", ints(*lengths), " has more than one -1");
                minus = static_cast<int64_t>(i);
            } else {
                sum = add_saturated(sum, l);
                outd[i] = Dimension(l);
            }
        }
        bool fits = minus >= 0 ? (d.get_max_length() < 0 || sum <= d.get_max_length()) : d.compatible(sum);
        KILN_INFER_CHECK(ctx, fits, "split_lengths ", ints(*lengths), " do not add up to dimension ", d.to_string(),
                  " of axis ", a, " of data ", in.to_string());
        if (minus >= 0) {
            int64_t hi = d.get_max_length() < 0 ? -1 : d.get_max_length() - sum;
            outd[static_cast<size_t>(minus)] = Dimension(std::max<int64_t>(d.get_min_length() - sum, 0), hi);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        PartialShape o = in;
        o[static_cast<size_t>(a)] = outd[i];
        ctx.set_output(i, type, o);
    }
}

void VariadicSplit::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    int64_t a = in[1].as_i64_vector()[0];
    if (a < 0) a += in[0].rank();
    split_reference(in[0], a, out);
}

// ---------------------------------------------------------------------------------------------
// Gather

void Gather::visit_attributes(AttributeVisitor& v) {
    if (opset_version >= 7) v.on("batch_dims", batch_dims);
}

void Gather::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 7 || opset_version == 8, "opset version ",
                     opset_version, " does not exist (1, 7, 8)");
    KILN_INFER_CHECK(ctx, opset_version >= 7 || batch_dims == 0, "Gather-1 has no batch_dims, got ", batch_dims);
    check_integral(ctx, 1, "indices");
    check_integral(ctx, 2, "axis");
    const PartialShape& data = ctx.input_shape(0);
    const PartialShape& idx = ctx.input_shape(1);
    Type type = ctx.input_type(0);
    const PartialShape& as = ctx.input_shape(2);
    KILN_INFER_CHECK(ctx, as.rank_is_dynamic() || as.rank() == 0 || (as.rank() == 1 && as[0].compatible(1)),
              "axis must be a scalar, got shape ", as.to_string());
    auto av = known_ints(ctx, 2);
    if (data.rank_is_dynamic() || idx.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    int64_t r = data.rank(), q = idx.rank();
    int64_t b = batch_dims < 0 ? batch_dims + q : batch_dims;
    KILN_INFER_CHECK(ctx, b >= 0 && b <= std::min(r, q), "batch_dims ", batch_dims, " is out of range for data ",
              data.to_string(), " and indices ", idx.to_string());
    if (!av) {
        KILN_INFER_CHECK(ctx, r >= 1, "data must not be a scalar");
        ctx.set_output(0, type, PartialShape::dynamic(r - 1 + q - b));
        return;
    }
    KILN_INFER_CHECK(ctx, av->size() == 1, "axis must be a scalar, got ", ints(*av));
    KILN_INFER_CHECK(ctx, r >= 1, "data must not be a scalar");
    int64_t a = norm_axis(ctx, (*av)[0], r);
    KILN_INFER_CHECK(ctx, b <= a, "batch_dims ", batch_dims, " must not exceed axis ", a);
    std::vector<Dimension> out;
    for (int64_t k = 0; k < a; ++k) {
        Dimension d = data[static_cast<size_t>(k)];
        if (k < b) {
            auto m = Dimension::merge(d, idx[static_cast<size_t>(k)]);
            KILN_INFER_CHECK(ctx, m.has_value(), "batch dimension ", k, " differs between data ", data.to_string(),
                      " and indices ", idx.to_string());
            d = *m;
        }
        out.push_back(d);
    }
    for (int64_t k = b; k < q; ++k) out.push_back(idx[static_cast<size_t>(k)]);
    for (int64_t k = a + 1; k < r; ++k) out.push_back(data[static_cast<size_t>(k)]);
    ctx.set_output(0, type, PartialShape(std::move(out)));
    // Shape arithmetic: elements picked from a 1D partial value by constant indices.
    auto indices = known_ints(ctx, 1);
    auto dv = r == 1 ? ctx.input_shape_value(0) : std::nullopt;
    if (!dv || !indices) return;
    const int64_t len = static_cast<int64_t>(dv->size());
    ShapeValue v;
    for (int64_t i : *indices) {
        if (i < 0) i += len;
        if (i < 0 || i >= len) return;
        v.push_back((*dv)[static_cast<size_t>(i)]);
    }
    ctx.set_output_value(0, std::move(v));
}

void Gather::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& ds = in[0].shape();
    const Shape& is = in[1].shape();
    int64_t r = in[0].rank(), q = in[1].rank();
    int64_t a = in[2].as_i64_vector()[0];
    if (a < 0) a += r;
    int64_t b = batch_dims < 0 ? batch_dims + q : batch_dims;
    size_t es = type_size(in[0].type());
    int64_t batch = 1, outer = 1, inner = 1, per_batch = 1;
    for (int64_t k = 0; k < b; ++k) batch *= ds[static_cast<size_t>(k)];
    for (int64_t k = b; k < a; ++k) outer *= ds[static_cast<size_t>(k)];
    for (int64_t k = a + 1; k < r; ++k) inner *= ds[static_cast<size_t>(k)];
    for (int64_t k = b; k < q; ++k) per_batch *= is[static_cast<size_t>(k)];
    int64_t axis_len = ds[static_cast<size_t>(a)];
    auto indices = in[1].as_i64_vector();
    size_t row = static_cast<size_t>(inner) * es;
    auto src = in[0].data<uint8_t>();
    auto dst = out[0].data<uint8_t>();
    for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t j = 0; j < per_batch; ++j) {
                int64_t i = indices[static_cast<size_t>(bi * per_batch + j)];
                if (i < 0) i += axis_len;
                uint8_t* d = dst + ((bi * outer + o) * per_batch + j) * static_cast<int64_t>(row);
                if (i < 0 || i >= axis_len) std::memset(d, 0, row);
                else std::memcpy(d, src + ((bi * outer + o) * axis_len + i) * static_cast<int64_t>(row), row);
            }
}

// ---------------------------------------------------------------------------------------------
// StridedSlice

namespace {
struct AxisOp {
    enum Kind { full, slice, shrink, new_axis } kind;
    int64_t in_axis = -1;
    size_t spec = 0;  // index into begin/end/strides/masks
};

bool bit(const std::vector<int64_t>& m, size_t i) { return i < m.size() && m[i] != 0; }

// Matches begin/end elements to data axes (the part of StridedSlice that does not depend on the
// values of begin/end/strides). Returns an error message, or "" on success.
std::string resolve_axes(const StridedSlice& op, int64_t rank, size_t n, std::vector<AxisOp>& ops) {
    size_t consuming = 0, ellipses = 0;
    for (size_t i = 0; i < n; ++i) {
        if (bit(op.ellipsis_mask, i)) ++ellipses;
        else if (!bit(op.new_axis_mask, i)) ++consuming;
    }
    if (ellipses > 1) return "ellipsis_mask " + ints(op.ellipsis_mask) + " has more than one bit set";
    if (static_cast<int64_t>(consuming) > rank)
        return str_cat("begin has ", consuming, " elements that index data axes, but data has rank ", rank);
    int64_t ax = 0;
    for (size_t i = 0; i < n; ++i) {
        if (bit(op.ellipsis_mask, i)) {
            for (int64_t k = 0; k < rank - static_cast<int64_t>(consuming); ++k)
                ops.push_back({AxisOp::full, ax++, i});
        } else if (bit(op.new_axis_mask, i)) {
            ops.push_back({AxisOp::new_axis, -1, i});
        } else {
            ops.push_back({bit(op.shrink_axis_mask, i) ? AxisOp::shrink : AxisOp::slice, ax++, i});
        }
    }
    while (ax < rank) ops.push_back({AxisOp::full, ax++, 0});
    return "";
}
}  // namespace

void StridedSlice::visit_attributes(AttributeVisitor& v) {
    v.on("begin_mask", begin_mask);
    v.on("end_mask", end_mask);
    v.on("new_axis_mask", new_axis_mask);
    v.on("shrink_axis_mask", shrink_axis_mask);
    v.on("ellipsis_mask", ellipsis_mask);
}

void StridedSlice::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 4);
    for (size_t i = 1; i < ctx.num_inputs(); ++i) check_integral(ctx, i, "begin, end and strides");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    auto begin = known_ints(ctx, 1), end = known_ints(ctx, 2);
    std::optional<std::vector<int64_t>> strides;
    if (ctx.num_inputs() == 4) strides = known_ints(ctx, 3);
    std::optional<int64_t> n;
    if (begin) n = static_cast<int64_t>(begin->size());
    else n = static_length(ctx.input_shape(1));
    if (!n) n = static_length(ctx.input_shape(2));
    if (in.rank_is_dynamic() || !n) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    size_t ns = static_cast<size_t>(*n);
    KILN_INFER_CHECK(ctx, !begin || !end || begin->size() == end->size(), "begin ", ints(*begin), " and end ",
              ints(end ? *end : std::vector<int64_t>{}), " differ in length");
    KILN_INFER_CHECK(ctx, !strides || strides->size() == ns, "strides must have ", ns, " elements like begin, got ",
              ints(strides ? *strides : std::vector<int64_t>{}));
    if (ctx.num_inputs() == 3) strides = std::vector<int64_t>(ns, 1);
    std::vector<AxisOp> ops;
    auto err = resolve_axes(*this, in.rank(), ns, ops);
    KILN_INFER_CHECK(ctx, err.empty(), err, " (data ", in.to_string(), ")");
    std::vector<Dimension> out;
    for (auto& op : ops) {
        if (op.kind == AxisOp::new_axis) {
            out.emplace_back(1);
            continue;
        }
        const Dimension& d = in[static_cast<size_t>(op.in_axis)];
        if (op.kind == AxisOp::full) {
            out.push_back(d);
            continue;
        }
        bool bm = bit(begin_mask, op.spec), em = bit(end_mask, op.spec);
        if (op.kind == AxisOp::shrink) {
            if (begin && d.is_static()) {
                int64_t bi = (*begin)[op.spec], len = d.get_length();
                KILN_INFER_CHECK(ctx, bi >= -len && bi < len, "shrink_axis index ", bi, " is out of range for axis ",
                          op.in_axis, " of data ", in.to_string());
            }
            continue;
        }
        if (!strides) {
            out.emplace_back(0, d.get_max_length());
            continue;
        }
        int64_t s = (*strides)[op.spec];
        KILN_INFER_CHECK(ctx, s != 0, "strides ", ints(*strides), " has a zero stride");
        if ((begin || bm) && (end || em)) {
            out.push_back(slice_dim(d, begin ? (*begin)[op.spec] : 0, end ? (*end)[op.spec] : 0, s, bm, em));
        } else {
            out.emplace_back(0, d.get_max_length());
        }
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
    if (begin && end && (ctx.num_inputs() == 3 || known_ints(ctx, 3)))
        slice_shape_value(ctx, [&](const Shape& ds) {
            return view(ds, *begin, *end, ctx.num_inputs() > 3 ? *known_ints(ctx, 3) : std::vector<int64_t>{});
        });
}

StridedView StridedSlice::view(const Shape& data, const std::vector<int64_t>& begin,
                               const std::vector<int64_t>& end, const std::vector<int64_t>& strides_in) const {
    auto fail = [&](const std::string& m) {
        throw ValueError(str_cat("[StridedSlice ", name(), "] ", m, " (data ", to_string(data), ")"));
    };
    size_t n = begin.size();
    if (end.size() != n) fail("begin " + ints(begin) + " and end " + ints(end) + " differ in length");
    std::vector<int64_t> strides = strides_in.empty() ? std::vector<int64_t>(n, 1) : strides_in;
    if (strides.size() != n) fail("strides " + ints(strides) + " differ in length from begin");
    std::vector<AxisOp> ops;
    auto err = resolve_axes(*this, static_cast<int64_t>(data.size()), n, ops);
    if (!err.empty()) fail(err);
    auto st = contiguous_strides(data);
    StridedView v;
    for (auto& op : ops) {
        if (op.kind == AxisOp::new_axis) {
            v.shape.push_back(1);
            v.strides.push_back(0);
            continue;
        }
        size_t ax = static_cast<size_t>(op.in_axis);
        int64_t d = data[ax];
        if (op.kind == AxisOp::full) {
            v.shape.push_back(d);
            v.strides.push_back(st[ax]);
            continue;
        }
        int64_t b = begin[op.spec];
        if (op.kind == AxisOp::shrink) {
            if (b < -d || b >= d) fail(str_cat("shrink_axis index ", b, " is out of range for axis ", ax));
            v.offset += (b < 0 ? b + d : b) * st[ax];
            continue;
        }
        int64_t s = strides[op.spec];
        if (s == 0) fail("strides " + ints(strides) + " has a zero stride");
        int64_t start, len;
        slice_range(d, b, end[op.spec], s, bit(begin_mask, op.spec), bit(end_mask, op.spec), start, len);
        if (len > 0) v.offset += start * st[ax];
        v.shape.push_back(len);
        v.strides.push_back(s * st[ax]);
    }
    return v;
}

void StridedSlice::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto v = view(in[0].shape(), in[1].as_i64_vector(), in[2].as_i64_vector(),
                  in.size() > 3 ? in[3].as_i64_vector() : std::vector<int64_t>{});
    copy_view_reference(v, in[0].data(), out[0].data(), type_size(in[0].type()));
}

// ---------------------------------------------------------------------------------------------
// Slice

void Slice::infer(InferContext& ctx) const {
    ctx.check_inputs(4, 5);
    for (size_t i = 1; i < ctx.num_inputs(); ++i) check_integral(ctx, i, "start, stop, step and axes");
    const PartialShape& in = ctx.input_shape(0);
    Type type = ctx.input_type(0);
    if (in.rank_is_dynamic()) {
        ctx.set_output(0, type, PartialShape());
        return;
    }
    int64_t r = in.rank();
    auto start = known_ints(ctx, 1), stop = known_ints(ctx, 2), step = known_ints(ctx, 3);
    std::optional<std::vector<int64_t>> axes;
    if (ctx.num_inputs() == 5) axes = known_ints(ctx, 4);
    std::optional<int64_t> n;
    for (size_t i = 1; i < ctx.num_inputs() && !n; ++i) n = static_length(ctx.input_shape(i));
    if (!axes && ctx.num_inputs() == 4 && n) {
        KILN_INFER_CHECK(ctx, *n <= r, "start has ", *n, " elements, more than the rank of data ", in.to_string());
        axes = std::vector<int64_t>(static_cast<size_t>(*n));
        for (int64_t i = 0; i < *n; ++i) (*axes)[static_cast<size_t>(i)] = i;
    }
    std::vector<Dimension> out = in.dims();
    if (!axes) {
        for (auto& d : out) d = Dimension(0, d.get_max_length());
        ctx.set_output(0, type, PartialShape(std::move(out)));
        return;
    }
    size_t k = axes->size();
    auto same = [&](const std::optional<std::vector<int64_t>>& v, const char* what) {
        KILN_INFER_CHECK(ctx, !v || v->size() == k, what, " ", ints(v ? *v : std::vector<int64_t>{}),
                  " must have as many elements as axes ", ints(*axes));
    };
    same(start, "start");
    same(stop, "stop");
    same(step, "step");
    std::vector<bool> seen(static_cast<size_t>(r), false);
    for (size_t i = 0; i < k; ++i) {
        int64_t a = norm_axis(ctx, (*axes)[i], r);
        KILN_INFER_CHECK(ctx, !seen[static_cast<size_t>(a)], "axes ", ints(*axes), " repeat axis ", a);
        seen[static_cast<size_t>(a)] = true;
        Dimension& d = out[static_cast<size_t>(a)];
        if (step) KILN_INFER_CHECK(ctx, (*step)[i] != 0, "step ", ints(*step), " has a zero step");
        if (start && stop && step) d = slice_dim(d, (*start)[i], (*stop)[i], (*step)[i], false, false);
        else d = Dimension(0, d.get_max_length());
    }
    ctx.set_output(0, type, PartialShape(std::move(out)));
    if (start && stop && step)
        slice_shape_value(ctx, [&](const Shape& ds) { return view(ds, *start, *stop, *step, *axes); });
}

StridedView Slice::view(const Shape& data, const std::vector<int64_t>& start,
                        const std::vector<int64_t>& stop, const std::vector<int64_t>& step,
                        const std::vector<int64_t>& axes_in) {
    int64_t r = static_cast<int64_t>(data.size());
    size_t k = start.size();
    auto fail = [&](const std::string& m) {
        throw ValueError(str_cat("[Slice] ", m, " (data ", to_string(data), ")"));
    };
    if (stop.size() != k || step.size() != k || (!axes_in.empty() && axes_in.size() != k))
        fail("start, stop, step and axes differ in length");
    auto st = contiguous_strides(data);
    StridedView v{data, st, 0};
    std::vector<bool> seen(data.size(), false);
    for (size_t i = 0; i < k; ++i) {
        int64_t a = axes_in.empty() ? static_cast<int64_t>(i) : axes_in[i];
        if (a < -r || a >= r) fail(str_cat("axis ", a, " is out of range"));
        size_t ax = static_cast<size_t>(a < 0 ? a + r : a);
        if (seen[ax]) fail(str_cat("axis ", a, " repeats"));
        seen[ax] = true;
        if (step[i] == 0) fail("step must not be zero");
        int64_t s0, len;
        slice_range(data[ax], start[i], stop[i], step[i], false, false, s0, len);
        if (len > 0) v.offset += s0 * st[ax];
        v.shape[ax] = len;
        v.strides[ax] = step[i] * st[ax];
    }
    return v;
}

void Slice::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto v = view(in[0].shape(), in[1].as_i64_vector(), in[2].as_i64_vector(), in[3].as_i64_vector(),
                  in.size() > 4 ? in[4].as_i64_vector() : std::vector<int64_t>{});
    copy_view_reference(v, in[0].data(), out[0].data(), type_size(in[0].type()));
}

}  // namespace kiln::op
