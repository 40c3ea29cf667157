#include "kiln/ops/indexing.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

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

}  // namespace kiln::op
