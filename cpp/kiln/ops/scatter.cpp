#include "kiln/ops/scatter.hpp"

#include <cmath>
#include <cstring>

#include "kiln/ops/infer_util.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::op {

void visit_reduction(AttributeVisitor& v, ScatterReduction& r) {
    using R = ScatterReduction;
    visit_enum(v, "reduction", r,
               {{R::none, "none"}, {R::sum, "sum"}, {R::sub, "sub"}, {R::prod, "prod"}, {R::min, "min"},
                {R::max, "max"}, {R::mean, "mean"}});
}

// ---------------------------------------------------------------------------------------------
// ScatterElementsUpdate

void ScatterElementsUpdate::visit_attributes(AttributeVisitor& v) {
    visit_reduction(v, reduction);
    v.on("use_init_val", use_init_val);
}

void ScatterElementsUpdate::infer(InferContext& ctx) const {
    ctx.check_inputs(4);
    check_integral(ctx, 1, "indices");
    check_integral(ctx, 3, "axis");
    KILN_INFER_CHECK(ctx, reduction != Reduction::sub, "has no 'sub' reduction");
    auto& data = ctx.input_shape(0);
    auto& idx = ctx.input_shape(1);
    auto& upd = ctx.input_shape(2);
    Type t = ctx.input_type(0), ut = ctx.input_type(2);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || ut == Type::dynamic || t == ut, "updates have element type ",
                     kiln::type_name(ut), ", expected ", kiln::type_name(t), " like data");
    KILN_INFER_CHECK(ctx, idx.compatible(upd), "indices ", idx.to_string(), " and updates ", upd.to_string(),
                     " must have one shape");
    if (data.rank_is_static() && idx.rank_is_static()) {
        KILN_INFER_CHECK(ctx, data.rank() == idx.rank(), "indices ", idx.to_string(), " must have the rank of data ",
                         data.to_string());
        if (auto a = known_ints(ctx, 3)) {
            int64_t r = data.rank(), ax = a->at(0);
            KILN_INFER_CHECK(ctx, ax >= -r && ax < r, "axis ", ax, " is out of range for rank ", r);
        }
    }
    ctx.set_output(0, t == Type::dynamic ? ut : t, data);
}

void ScatterElementsUpdate::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].data() != out[0].data() && in[0].byte_size()) std::memcpy(out[0].data(), in[0].data(), in[0].byte_size());
    const Shape& ds = in[0].shape();
    const Shape& is = in[1].shape();
    auto r = static_cast<int64_t>(ds.size());
    int64_t ax = in[3].as_i64_vector().at(0);
    auto a = static_cast<size_t>(ax < 0 ? ax + r : ax);
    auto idx = in[1].as_i64_vector();
    auto dst = contiguous_strides(ds);
    int64_t total = shape_size(is);
    std::vector<int64_t> count(reduction == Reduction::mean || !use_init_val ? static_cast<size_t>(in[0].size()) : 0);
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        T* o = out[0].data<T>();
        const T* u = in[2].data<T>();
        std::vector<int64_t> coord(ds.size(), 0);
        for (int64_t f = 0; f < total; ++f) {
            int64_t off = 0;
            for (size_t d = 0; d < ds.size(); ++d) {
                int64_t c = coord[d];
                if (d == a) {
                    c = idx[static_cast<size_t>(f)];
                    if (c < 0) c += ds[d];
                    if (c < 0 || c >= ds[d])
                        throw ValueError(str_cat("[ScatterElementsUpdate ", name(), "] index ", idx[static_cast<size_t>(f)],
                                                 " is out of range for axis ", a, " of data ", to_string(ds)));
                } else if (c >= ds[d]) {
                    throw ValueError(str_cat("[ScatterElementsUpdate ", name(), "] indices ", to_string(is),
                                             " are larger than data ", to_string(ds), " on axis ", d));
                }
                off += c * dst[d];
            }
            if (count.empty()) {
                o[off] = scatter_combine(reduction, o[off], u[f]);
            } else {
                auto& c = count[static_cast<size_t>(off)];
                if (c == 0 && !use_init_val) o[off] = u[f];
                else o[off] = scatter_combine(reduction, o[off], u[f]);
                c = c == 0 ? (use_init_val ? 2 : 1) : c + 1;
            }
            for (size_t d = ds.size(); d-- > 0;) {
                if (++coord[d] < is[d]) break;
                coord[d] = 0;
            }
        }
        if (reduction == Reduction::mean) {
            for (size_t p = 0; p < count.size(); ++p) {
                if (count[p] <= 1) continue;
                if constexpr (std::is_floating_point_v<T>) {
                    o[p] = static_cast<T>(o[p] / static_cast<T>(count[p]));
                } else if constexpr (!std::is_same_v<T, bool>) {
                    auto v = static_cast<int64_t>(o[p]), c = count[p];
                    o[p] = static_cast<T>(v / c - ((v % c != 0) && (v < 0) ? 1 : 0));
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// EmbeddingBagOffsetsSum / EmbeddingBagPackedSum

namespace {

void check_table(InferContext& ctx, const char* what) {
    auto& t = ctx.input_shape(0);
    KILN_INFER_CHECK(ctx, t.rank_is_dynamic() || t.rank() >= 1, "emb_table must have rank >= 1, got ", t.to_string());
    check_integral(ctx, 1, what);
}

PartialShape bag_shape(const PartialShape& table, Dimension bags) {
    if (table.rank_is_dynamic()) return PartialShape();
    std::vector<Dimension> d = table.dims();
    d[0] = bags;
    return PartialShape(d);
}

// out[bag] += w * table[row] for each (bag, row, weight); rows out of range are an error.
template <typename T>
void add_row(const Tensor& table, T* out, int64_t row, T w, const std::string& who) {
    int64_t n = table.shape()[0], d = table.size() / std::max<int64_t>(n, 1);
    if (row < 0 || row >= n) throw ValueError(str_cat(who, " index ", row, " is out of range [0, ", n, ")"));
    const T* src = table.data<T>() + row * d;
    for (int64_t k = 0; k < d; ++k) out[k] = static_cast<T>(out[k] + w * src[k]);
}

}  // namespace

void EmbeddingBagOffsetsSum::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 5);
    check_table(ctx, "indices");
    check_integral(ctx, 2, "offsets");
    auto& o = ctx.input_shape(2);
    KILN_INFER_CHECK(ctx, o.rank_is_dynamic() || o.rank() == 1, "offsets must be 1-D, got ", o.to_string());
    KILN_INFER_CHECK(ctx, ctx.input_shape(1).rank_is_dynamic() || ctx.input_shape(1).rank() == 1,
                     "indices must be 1-D, got ", ctx.input_shape(1).to_string());
    ctx.set_output(0, ctx.input_type(0), bag_shape(ctx.input_shape(0), o.rank_is_static() ? o[0] : Dimension()));
}

void EmbeddingBagOffsetsSum::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto idx = in[1].as_i64_vector();
    auto off = in[2].as_i64_vector();
    int64_t dflt = in.size() > 3 && in[3].size() ? in[3].as_i64_vector().at(0) : -1;
    auto bags = static_cast<int64_t>(off.size());
    int64_t d = bags ? out[0].size() / bags : 0;
    std::string who = str_cat("[EmbeddingBagOffsetsSum ", name(), "]");
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            throw TypeError(str_cat(who, " boolean tables are not supported"));
        } else {
            T* o = out[0].data<T>();
            std::fill(o, o + out[0].size(), T(0));
            for (int64_t b = 0; b < bags; ++b) {
                int64_t lo = off[static_cast<size_t>(b)];
                int64_t hi = b + 1 < bags ? off[static_cast<size_t>(b + 1)] : static_cast<int64_t>(idx.size());
                if (lo < 0 || hi > static_cast<int64_t>(idx.size()) || lo > hi)
                    throw ValueError(str_cat(who, " offsets ", lo, "..", hi, " of bag ", b, " do not fit ", idx.size(),
                                             " indices"));
                if (lo == hi && dflt >= 0) add_row<T>(in[0], o + b * d, dflt, T(1), who);
                for (int64_t j = lo; j < hi; ++j)
                    add_row<T>(in[0], o + b * d, idx[static_cast<size_t>(j)],
                               in.size() > 4 ? in[4].data<T>()[j] : T(1), who);
            }
        }
    });
}

void EmbeddingBagPackedSum::infer(InferContext& ctx) const {
    ctx.check_inputs(2, 3);
    check_table(ctx, "indices");
    auto& i = ctx.input_shape(1);
    KILN_INFER_CHECK(ctx, i.rank_is_dynamic() || i.rank() == 2, "indices must be 2-D, got ", i.to_string());
    ctx.set_output(0, ctx.input_type(0), bag_shape(ctx.input_shape(0), i.rank_is_static() ? i[0] : Dimension()));
}

void EmbeddingBagPackedSum::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto idx = in[1].as_i64_vector();
    int64_t bags = in[1].shape()[0], len = in[1].shape()[1];
    int64_t d = bags ? out[0].size() / bags : 0;
    std::string who = str_cat("[EmbeddingBagPackedSum ", name(), "]");
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            throw TypeError(str_cat(who, " boolean tables are not supported"));
        } else {
            T* o = out[0].data<T>();
            std::fill(o, o + out[0].size(), T(0));
            for (int64_t b = 0; b < bags; ++b)
                for (int64_t j = 0; j < len; ++j)
                    add_row<T>(in[0], o + b * d, idx[static_cast<size_t>(b * len + j)],
                               in.size() > 2 ? in[2].data<T>()[b * len + j] : T(1), who);
        }
    });
}

}  // namespace kiln::op
