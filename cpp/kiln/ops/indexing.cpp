#include "kiln/ops/indexing.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

// ---------------------------------------------------------------------------------------------
// IndexCheck

void IndexCheck::visit_attributes(AttributeVisitor& v) {
    v.on("allow_negative", allow_negative);
    v.on("what", what);
}

void IndexCheck::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 0, "indices");
    check_integral(ctx, 1, "size");
    auto& s = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, s.rank_is_dynamic() || s.rank() == 0 || (s.rank() == 1 && s[0].compatible(1)),
                     "size must be a scalar, got shape ", s.to_string());
    ctx.set_output(0, ctx.input_type(0), ctx.input_shape(0));
}

void IndexCheck::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    int64_t n = in[1].as_i64_vector().at(0);
    int64_t lo = allow_negative ? -n : 0;
    visit_type(in[0].type(), [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            const T* p = in[0].data<T>();
            for (int64_t i = 0; i < in[0].size(); ++i) {
                auto v = static_cast<int64_t>(p[i]);
                if (v < lo || v >= n)
                    throw ValueError(str_cat("[IndexCheck ", name(), "] ", what, ": ", v, " at flat position ", i,
                                             " is out of range [", lo, ", ", n, ")"));
            }
        }
    });
    if (out[0].data() != in[0].data()) std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
}

// ---------------------------------------------------------------------------------------------
// GatherND

void GatherND::visit_attributes(AttributeVisitor& v) { v.on("batch_dims", batch_dims); }

void GatherND::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "indices");
    auto& data = ctx.input_shape(0);
    auto& idx = ctx.input_shape(1);
    Type t = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, batch_dims >= 0, "batch_dims must be >= 0, got ", batch_dims);
    if (data.rank_is_dynamic() || idx.rank_is_dynamic() || !idx[idx.size() - 1].is_static()) {
        KILN_INFER_CHECK(ctx, idx.rank_is_dynamic() || idx.rank() >= 1, "indices must have rank >= 1");
        ctx.set_output(0, t, PartialShape());
        return;
    }
    int64_t r = data.rank(), q = idx.rank();
    KILN_INFER_CHECK(ctx, q >= 1, "indices must have rank >= 1");
    int64_t k = idx[static_cast<size_t>(q - 1)].get_length();
    KILN_INFER_CHECK(ctx, batch_dims < std::min(r, q), "batch_dims ", batch_dims, " must be below the ranks of data ",
                     data.to_string(), " and indices ", idx.to_string());
    KILN_INFER_CHECK(ctx, batch_dims + k <= r, "indices ", idx.to_string(), " index ", k, " dims of data ",
                     data.to_string(), " after ", batch_dims, " batch dims");
    std::vector<Dimension> out;
    for (int64_t b = 0; b < batch_dims; ++b) {
        auto m = Dimension::merge(data[static_cast<size_t>(b)], idx[static_cast<size_t>(b)]);
        KILN_INFER_CHECK(ctx, m.has_value(), "batch dimension ", b, " differs between data ", data.to_string(),
                         " and indices ", idx.to_string());
        out.push_back(*m);
    }
    for (int64_t i = batch_dims; i < q - 1; ++i) out.push_back(idx[static_cast<size_t>(i)]);
    for (int64_t i = batch_dims + k; i < r; ++i) out.push_back(data[static_cast<size_t>(i)]);
    ctx.set_output(0, t, PartialShape(out));
}

void GatherND::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& ds = in[0].shape();
    const Shape& is = in[1].shape();
    auto b = static_cast<size_t>(batch_dims);
    auto k = static_cast<size_t>(is.back());
    int64_t batch = 1, per_batch = 1, inner = 1, data_batch = 1;
    for (size_t i = 0; i < b; ++i) batch *= is[i];
    for (size_t i = b; i + 1 < is.size(); ++i) per_batch *= is[i];
    for (size_t i = b + k; i < ds.size(); ++i) inner *= ds[i];
    for (size_t i = b; i < ds.size(); ++i) data_batch *= ds[i];
    size_t es = type_size(in[0].type());
    size_t row = static_cast<size_t>(inner) * es;
    auto idx = in[1].as_i64_vector();
    auto src = in[0].data<uint8_t>();
    auto dst = out[0].data<uint8_t>();
    for (int64_t bi = 0; bi < batch; ++bi)
        for (int64_t j = 0; j < per_batch; ++j) {
            const int64_t* ix = idx.data() + (bi * per_batch + j) * static_cast<int64_t>(k);
            int64_t off = 0;
            bool in_range = true;
            for (size_t d = 0; d < k; ++d) {
                int64_t n = ds[b + d], v = ix[d] < 0 ? ix[d] + n : ix[d];
                in_range = in_range && v >= 0 && v < n;
                off = off * n + v;
            }
            uint8_t* o = dst + (bi * per_batch + j) * static_cast<int64_t>(row);
            // As Gather-8: an index out of range gives zeros (never a read outside data).
            if (!in_range) std::memset(o, 0, row);
            else std::memcpy(o, src + (bi * data_batch + off * inner) * static_cast<int64_t>(es), row);
        }
}

// ---------------------------------------------------------------------------------------------
// TopK

void TopK::visit_attributes(AttributeVisitor& v) {
    v.on("axis", axis);
    visit_enum(v, "mode", mode, {{Mode::max, "max"}, {Mode::min, "min"}});
    visit_enum(v, "sort", sort, {{Sort::value, "value"}, {Sort::index, "index"}, {Sort::none, "none"}});
    v.on("index_element_type", index_element_type);
    if (opset_version >= 11) v.on("stable", stable);
}

void TopK::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    KILN_INFER_CHECK(ctx, opset_version == 1 || opset_version == 3 || opset_version == 11, "opset version ",
                     opset_version, " does not exist (1, 3, 11)");
    check_integral(ctx, 1, "k");
    KILN_INFER_CHECK(ctx, index_element_type == Type::i32 || index_element_type == Type::i64,
                     "index_element_type must be i32 or i64, got ", kiln::type_name(index_element_type));
    auto& ks = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, ks.rank_is_dynamic() || ks.rank() == 0 || (ks.rank() == 1 && ks[0].compatible(1)),
                     "k must be a scalar, got shape ", ks.to_string());
    auto& data = ctx.input_shape(0);
    Type t = ctx.input_type(0);
    if (data.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        ctx.set_output(1, index_element_type, PartialShape());
        return;
    }
    int64_t r = data.rank();
    KILN_INFER_CHECK(ctx, r >= 1, "data must not be a scalar");
    KILN_INFER_CHECK(ctx, axis >= -r && axis < r, "axis ", axis, " is out of range for rank ", r);
    size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    std::vector<Dimension> dims = data.dims();
    if (auto k = known_ints(ctx, 1)) {
        int64_t kv = k->at(0);
        KILN_INFER_CHECK(ctx, kv >= 0, "k must be >= 0, got ", kv);
        if (dims[a].is_static()) {
            KILN_INFER_CHECK(ctx, kv <= dims[a].get_length(), "k ", kv, " is larger than dimension ", a, " of ",
                             data.to_string());
        }
        dims[a] = Dimension(kv);
    } else {
        dims[a] = dims[a].is_static() ? Dimension(0, dims[a].get_length()) : Dimension();
    }
    ctx.set_output(0, t, PartialShape(dims));
    ctx.set_output(1, index_element_type, PartialShape(dims));
}

void TopK::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Shape& s = in[0].shape();
    int64_t r = in[0].rank();
    size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    int64_t n = s[a], k = out[0].shape()[a];
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < a; ++i) outer *= s[i];
    for (size_t i = a + 1; i < s.size(); ++i) inner *= s[i];
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        T* vals = out[0].data<T>();
        std::vector<int64_t> order(static_cast<size_t>(n));
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const T* base = x + o * n * inner + i;
                auto at = [&](int64_t j) { return base[j * inner]; };
                std::iota(order.begin(), order.end(), int64_t{0});
                // NaN comes first in both modes, as torch's max/min and argmax/argmin propagate it.
                auto better = [&](int64_t p, int64_t q) {
                    T u = at(p), v = at(q);
                    if constexpr (std::is_floating_point_v<T>) {
                        if (u != u || v != v) return (u != u) && !(v != v);
                    }
                    return mode == Mode::max ? u > v : u < v;
                };
                std::stable_sort(order.begin(), order.end(), better);
                if (sort == Sort::index) std::sort(order.begin(), order.begin() + k);
                for (int64_t j = 0; j < k; ++j) {
                    int64_t src = order[static_cast<size_t>(j)];
                    int64_t dst = (o * k + j) * inner + i;
                    vals[dst] = at(src);
                    if (index_element_type == Type::i64) out[1].data<int64_t>()[dst] = src;
                    else out[1].data<int32_t>()[dst] = static_cast<int32_t>(src);
                }
            }
    });
}

// ---------------------------------------------------------------------------------------------
// NonZero

void NonZero::visit_attributes(AttributeVisitor& v) { v.on("output_type", output_type); }

void NonZero::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    KILN_INFER_CHECK(ctx, output_type == Type::i32 || output_type == Type::i64,
                     "output_type must be i32 or i64, got ", kiln::type_name(output_type));
    auto& s = ctx.input_shape(0);
    Dimension rows = s.rank_is_static() ? Dimension(std::max<int64_t>(s.rank(), 1)) : Dimension();
    Dimension count;
    if (auto v = ctx.input_value(0)) {
        auto x = v->as_f64_vector();
        count = Dimension(static_cast<int64_t>(std::count_if(x.begin(), x.end(), [](double e) { return e != 0; })));
    } else if (s.is_static()) {
        count = Dimension(0, shape_size(s.to_shape()));
    }
    ctx.set_output(0, output_type, PartialShape({rows, count}));
}

void NonZero::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Shape s = in[0].shape();
    if (s.empty()) s = {1};
    auto r = static_cast<int64_t>(s.size());
    std::vector<int64_t> flat;
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = in[0].data<T>();
        for (int64_t i = 0; i < in[0].size(); ++i)
            if (p[i] != T(0)) flat.push_back(i);
    });
    auto n = static_cast<int64_t>(flat.size());
    Tensor res(output_type, {r, n});
    for (int64_t j = 0; j < n; ++j) {
        int64_t f = flat[static_cast<size_t>(j)];
        for (int64_t d = r - 1; d >= 0; --d) {
            int64_t c = f % s[static_cast<size_t>(d)];
            f /= s[static_cast<size_t>(d)];
            if (output_type == Type::i64) res.data<int64_t>()[d * n + j] = c;
            else res.data<int32_t>()[d * n + j] = static_cast<int32_t>(c);
        }
    }
    deliver(out[0], res, str_cat("[NonZero ", name(), "] output"));
}

// ---------------------------------------------------------------------------------------------
// OneHot

void OneHot::visit_attributes(AttributeVisitor& v) { v.on("axis", axis); }

void OneHot::infer(InferContext& ctx) const {
    ctx.check_inputs(4);
    check_integral(ctx, 0, "indices");
    check_integral(ctx, 1, "depth");
    Type t = ctx.input_type(2);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || ctx.input_type(3) == Type::dynamic || ctx.input_type(3) == t,
                     "on_value is ", kiln::type_name(t), " but off_value is ", kiln::type_name(ctx.input_type(3)));
    auto& s = ctx.input_shape(0);
    if (s.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        return;
    }
    int64_t r = s.rank() + 1;
    KILN_INFER_CHECK(ctx, axis >= -r && axis < r, "axis ", axis, " is out of range for output rank ", r);
    Dimension depth;
    if (auto d = known_ints(ctx, 1)) {
        KILN_INFER_CHECK(ctx, d->size() == 1 && d->at(0) >= 0, "depth must be one non-negative value");
        depth = Dimension(d->at(0));
    }
    std::vector<Dimension> dims = s.dims();
    dims.insert(dims.begin() + (axis < 0 ? axis + r : axis), depth);
    ctx.set_output(0, t, PartialShape(dims));
}

void OneHot::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    int64_t depth = in[1].as_i64_vector().at(0);
    Shape s = in[0].shape();
    auto r = static_cast<int64_t>(s.size()) + 1;
    auto a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < a; ++i) outer *= s[i];
    for (size_t i = a; i < s.size(); ++i) inner *= s[i];
    Shape os = s;
    os.insert(os.begin() + static_cast<int64_t>(a), depth);
    Tensor res(in[2].type(), os);
    auto idx = in[0].as_i64_vector();
    size_t es = type_size(res.type());
    auto* o = res.data<uint8_t>();
    for (int64_t i = 0; i < outer; ++i)
        for (int64_t d = 0; d < depth; ++d)
            for (int64_t j = 0; j < inner; ++j) {
                bool on = idx[static_cast<size_t>(i * inner + j)] == d;
                std::memcpy(o + ((i * depth + d) * inner + j) * static_cast<int64_t>(es),
                            (on ? in[2] : in[3]).data(), es);
            }
    deliver(out[0], res, str_cat("[OneHot ", name(), "] output"));
}

// ---------------------------------------------------------------------------------------------
// Bucketize

void Bucketize::visit_attributes(AttributeVisitor& v) {
    v.on("output_type", output_type);
    v.on("with_right_bound", with_right_bound);
}

void Bucketize::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    KILN_INFER_CHECK(ctx, output_type == Type::i32 || output_type == Type::i64,
                     "output_type must be i32 or i64, got ", kiln::type_name(output_type));
    auto& b = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, b.rank_is_dynamic() || b.rank() == 1, "buckets must be 1-D, got ", b.to_string());
    ctx.set_output(0, output_type, ctx.input_shape(0));
}

void Bucketize::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto b = in[1].as_f64_vector();
    auto n = static_cast<int64_t>(b.size());
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = in[0].data<T>();
        for (int64_t i = 0; i < in[0].size(); ++i) {
            auto v = static_cast<double>(x[i]);
            int64_t k = v != v ? n
                        : with_right_bound ? std::lower_bound(b.begin(), b.end(), v) - b.begin()
                                           : std::upper_bound(b.begin(), b.end(), v) - b.begin();
            if (output_type == Type::i64) out[0].data<int64_t>()[i] = k;
            else out[0].data<int32_t>()[i] = static_cast<int32_t>(k);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Unique

void Unique::visit_attributes(AttributeVisitor& v) {
    v.on("sorted", sorted);
    v.on("index_element_type", index_element_type);
    v.on("count_element_type", count_element_type);
}

void Unique::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 2);
    for (Type t : {index_element_type, count_element_type})
        KILN_INFER_CHECK(ctx, t == Type::i32 || t == Type::i64, "index and count types must be i32 or i64, got ",
                         kiln::type_name(t));
    auto& s = ctx.input_shape(0);
    Type t = ctx.input_type(0);
    if (ctx.num_inputs() == 1) {
        Dimension n = s.is_static() ? Dimension(shape_size(s.to_shape())) : Dimension();
        Dimension u = n.is_static() ? Dimension(std::min<int64_t>(1, n.get_length()), n.get_length()) : Dimension();
        ctx.set_output(0, t, PartialShape({u}));
        ctx.set_output(1, index_element_type, PartialShape({u}));
        ctx.set_output(2, index_element_type, PartialShape({n}));
        ctx.set_output(3, count_element_type, PartialShape({u}));
        return;
    }
    check_integral(ctx, 1, "axis");
    auto ax = known_ints(ctx, 1);
    KILN_INFER_CHECK(ctx, ax.has_value() || s.rank_is_dynamic(), "axis must be known (a constant)");
    if (s.rank_is_dynamic()) {
        for (size_t i = 0; i < 4; ++i) ctx.set_output(i, i == 0 ? t : i == 3 ? count_element_type : index_element_type,
                                                       i == 0 ? PartialShape() : PartialShape({Dimension()}));
        return;
    }
    int64_t r = s.rank();
    KILN_INFER_CHECK(ctx, ax->size() == 1, "axis must have one element");
    int64_t a = ax->at(0);
    KILN_INFER_CHECK(ctx, a >= -r && a < r, "axis ", a, " is out of range for rank ", r);
    auto au = static_cast<size_t>(a < 0 ? a + r : a);
    Dimension n = s[au];
    Dimension u = n.is_static() ? Dimension(std::min<int64_t>(1, n.get_length()), n.get_length()) : Dimension();
    std::vector<Dimension> dims = s.dims();
    dims[au] = u;
    ctx.set_output(0, t, PartialShape(dims));
    ctx.set_output(1, index_element_type, PartialShape({u}));
    ctx.set_output(2, index_element_type, PartialShape({n}));
    ctx.set_output(3, count_element_type, PartialShape({u}));
}

void Unique::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& x = in[0];
    Shape s = x.shape();
    int64_t outer = 1, n = x.size(), inner = 1;
    size_t a = 0;
    if (in.size() > 1) {
        int64_t ax = in[1].as_i64_vector().at(0);
        a = static_cast<size_t>(ax < 0 ? ax + x.rank() : ax);
        n = s[a];
        for (size_t i = 0; i < a; ++i) outer *= s[i];
        for (size_t i = a + 1; i < s.size(); ++i) inner *= s[i];
    }
    // Slice k of the data: outer x inner elements, compared element by element.
    std::vector<int64_t> first, rev(static_cast<size_t>(n)), counts;
    visit_type(x.type(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = x.data<T>();
        auto at = [&](int64_t k, int64_t e) { return p[((e / inner) * n + k) * inner + e % inner]; };
        int64_t len = outer * inner;
        auto less = [&](int64_t i, int64_t j) {
            for (int64_t e = 0; e < len; ++e) {
                T u = at(i, e), v = at(j, e);
                if (u < v) return true;
                if (v < u) return false;
            }
            return false;
        };
        auto same = [&](int64_t i, int64_t j) { return !less(i, j) && !less(j, i); };
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(), less);
        // Groups of equal slices in sorted order; the first of each is its first occurrence.
        std::vector<int64_t> group_of(static_cast<size_t>(n));
        std::vector<int64_t> group_first, group_count;
        for (size_t i = 0; i < order.size(); ++i) {
            if (i == 0 || !same(order[i - 1], order[i])) {
                group_first.push_back(order[i]);
                group_count.push_back(0);
            }
            group_of[static_cast<size_t>(order[i])] = static_cast<int64_t>(group_first.size()) - 1;
            ++group_count.back();
        }
        // The output order of the groups: sorted, or by first occurrence.
        std::vector<int64_t> g(group_first.size());
        std::iota(g.begin(), g.end(), int64_t{0});
        if (!sorted) std::sort(g.begin(), g.end(), [&](int64_t i, int64_t j) { return group_first[i] < group_first[j]; });
        std::vector<int64_t> pos(g.size());
        for (size_t i = 0; i < g.size(); ++i) {
            pos[static_cast<size_t>(g[i])] = static_cast<int64_t>(i);
            first.push_back(group_first[static_cast<size_t>(g[i])]);
            counts.push_back(group_count[static_cast<size_t>(g[i])]);
        }
        for (int64_t k = 0; k < n; ++k) rev[static_cast<size_t>(k)] = pos[static_cast<size_t>(group_of[static_cast<size_t>(k)])];
        auto u = static_cast<int64_t>(first.size());
        Shape us = in.size() > 1 ? s : Shape{u};
        if (in.size() > 1) us[a] = u;
        Tensor vals(x.type(), us);
        T* o = vals.data<T>();
        for (int64_t i = 0; i < outer; ++i)
            for (int64_t k = 0; k < u; ++k)
                for (int64_t j = 0; j < inner; ++j)
                    o[(i * u + k) * inner + j] = p[(i * n + first[static_cast<size_t>(k)]) * inner + j];
        deliver(out[0], vals, str_cat("[Unique ", name(), "] output 0"));
    });
    auto ints = [](Type t, const std::vector<int64_t>& v) {
        Tensor r(t, {static_cast<int64_t>(v.size())});
        for (size_t i = 0; i < v.size(); ++i) {
            if (t == Type::i64) r.data<int64_t>()[i] = v[i];
            else r.data<int32_t>()[i] = static_cast<int32_t>(v[i]);
        }
        return r;
    };
    deliver(out[1], ints(index_element_type, first), str_cat("[Unique ", name(), "] output 1"));
    deliver(out[2], ints(index_element_type, rev), str_cat("[Unique ", name(), "] output 2"));
    deliver(out[3], ints(count_element_type, counts), str_cat("[Unique ", name(), "] output 3"));
}

}  // namespace kiln::op
