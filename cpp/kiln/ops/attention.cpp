#include "kiln/ops/attention.hpp"

#include <cmath>
#include <limits>

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

PartialShape leading(const PartialShape& s, size_t drop) {
    return PartialShape(std::vector<Dimension>(s.dims().begin(), s.dims().end() - static_cast<std::ptrdiff_t>(drop)));
}

// Element offsets of each batch position of a tensor whose leading dims (all but the last
// `inner`) broadcast against `batch`; `row` is the element count of the inner dims.
std::vector<int64_t> batch_offsets(const Shape& s, size_t inner, const Shape& batch) {
    Shape lead(s.begin(), s.end() - static_cast<std::ptrdiff_t>(inner));
    int64_t row = 1;
    for (size_t i = s.size() - inner; i < s.size(); ++i) row *= s[i];
    std::vector<int64_t> stride(batch.size(), 0);
    int64_t st = row;
    for (size_t i = lead.size(); i-- > 0;) {
        size_t j = batch.size() - lead.size() + i;
        stride[j] = lead[i] == 1 ? 0 : st;
        st *= lead[i];
    }
    std::vector<int64_t> r(static_cast<size_t>(shape_size(batch)));
    std::vector<int64_t> idx(batch.size(), 0);
    for (size_t n = 0; n < r.size(); ++n) {
        int64_t off = 0;
        for (size_t i = 0; i < batch.size(); ++i) off += idx[i] * stride[i];
        r[n] = off;
        for (size_t i = batch.size(); i-- > 0;) {
            if (++idx[i] < batch[i]) break;
            idx[i] = 0;
        }
    }
    return r;
}

// Shape with dims 1 and 2 swapped (the [B, L, H, E] <-> [B, H, L, E] view).
Shape swap12(Shape s) {
    std::swap(s[1], s[2]);
    return s;
}

// Offsets of each batch position of a rank-4 tensor stored [B, L, H, E] and seen as [B, H, L, E]
// (`seen`), broadcasting against `batch` = [B', H']; its row stride is H * E.
std::vector<int64_t> blhe_offsets(const Shape& seen, const Shape& batch) {
    const int64_t H = seen[1], L = seen[2], E = seen[3];
    const int64_t sb = seen[0] == 1 ? 0 : L * H * E, sh = H == 1 ? 0 : E;
    std::vector<int64_t> r;
    r.reserve(static_cast<size_t>(batch[0] * batch[1]));
    for (int64_t b = 0; b < batch[0]; ++b)
        for (int64_t h = 0; h < batch[1]; ++h) r.push_back(b * sb + h * sh);
    return r;
}

template <typename T>
void sdpa_ref(bool causal, SdpaGeometry::Layout layout, const std::vector<Tensor>& in, Tensor& out) {
    const Tensor &q = in[0], &k = in[1], &v = in[2];
    const Tensor* mask = in.size() > 3 && !causal ? &in[3] : nullptr;
    const Shape* mshape = mask ? &mask->shape() : nullptr;
    auto seen = [](const Shape& s, bool t) { return t ? swap12(s) : s; };
    const SdpaGeometry g = SdpaGeometry::of(seen(q.shape(), layout.q), seen(k.shape(), layout.k),
                                            seen(v.shape(), layout.v), mshape, seen(out.shape(), layout.y), layout);
    const int64_t L = g.L, E = g.E, S = g.S, Ev = g.Ev;
    double scale = in.size() > 4 ? in[4].as_f64_vector().at(0) : 1.0 / std::sqrt(static_cast<double>(E));
    const auto &qo = g.q, &ko = g.k, &vo = g.v, &mo = g.mask;
    const int64_t m_rs = g.mask_row, m_cs = g.mask_col;
    std::vector<double> mvals;
    if (mask) mvals = mask->as_f64_vector();
    const bool bool_mask = mask && mask->type() == Type::boolean;
    const T* qp = q.data<T>();
    const T* kp = k.data<T>();
    const T* vp = v.data<T>();
    T* yp = out.data<T>();
    const double ninf = -std::numeric_limits<double>::infinity();
    std::vector<double> w(static_cast<size_t>(S));
    for (size_t b = 0; b < qo.size(); ++b) {
        for (int64_t l = 0; l < L; ++l) {
            double mx = ninf;
            for (int64_t s = 0; s < S; ++s) {
                double acc = 0;
                for (int64_t e = 0; e < E; ++e)
                    acc += static_cast<double>(qp[qo[b] + l * g.q_row + e]) *
                           static_cast<double>(kp[ko[b] + s * g.k_row + e]);
                double x = acc * scale;
                if (causal && s > l) x = ninf;
                if (mask) {
                    double m = mvals[static_cast<size_t>(mo[b] + l * m_rs + s * m_cs)];
                    x = bool_mask ? (m != 0 ? x : ninf) : x + m;
                }
                w[static_cast<size_t>(s)] = x;
                if (x > mx) mx = x;
            }
            double sum = 0;
            for (auto& x : w) {
                x = std::exp(x - mx);
                sum += x;
            }
            for (int64_t e = 0; e < Ev; ++e) {
                double acc = 0;
                for (int64_t s = 0; s < S; ++s)
                    acc += w[static_cast<size_t>(s)] / sum * static_cast<double>(vp[vo[b] + s * g.v_row + e]);
                yp[g.y[b] + l * g.y_row + e] = static_cast<T>(acc);
            }
        }
    }
}

}  // namespace

SdpaGeometry SdpaGeometry::of(const Shape& q, const Shape& k, const Shape& v, const Shape* mask, const Shape& out,
                              Layout layout) {
    SdpaGeometry g;
    g.L = q[q.size() - 2];
    g.E = q[q.size() - 1];
    g.S = k[k.size() - 2];
    g.Ev = v[v.size() - 1];
    Shape batch(out.begin(), out.end() - 2);
    auto place = [&](const Shape& s, bool blhe, std::vector<int64_t>& off, int64_t& row) {
        if (blhe) {
            off = blhe_offsets(s, batch);
            row = s[1] * s[3];
        } else {
            off = batch_offsets(s, 2, batch);
            row = s.back();
        }
    };
    // Grouped-query key / value: placed against [B, H / kv_repeat], then query head h takes the
    // offsets of head h / kv_repeat.
    auto place_kv = [&](const Shape& s, bool blhe, std::vector<int64_t>& off, int64_t& row) {
        if (layout.kv_repeat <= 1) return place(s, blhe, off, row);
        const int64_t rep = layout.kv_repeat, H = batch[1];
        const Shape full = batch;
        batch[1] = H / rep;
        std::vector<int64_t> grouped;
        place(s, blhe, grouped, row);
        batch = full;
        off.resize(static_cast<size_t>(batch[0] * H));
        for (int64_t b = 0; b < batch[0]; ++b)
            for (int64_t h = 0; h < H; ++h)
                off[static_cast<size_t>(b * H + h)] = grouped[static_cast<size_t>(b * (H / rep) + h / rep)];
    };
    place(q, layout.q, g.q, g.q_row);
    place_kv(k, layout.k, g.k, g.k_row);
    place_kv(v, layout.v, g.v, g.v_row);
    place(out, layout.y, g.y, g.y_row);
    if (mask) {
        // The mask made rank >= 2, its extra leading 1s dropped, broadcast over [batch..., L, S].
        Shape ms = *mask;
        while (ms.size() < 2) ms.insert(ms.begin(), 1);
        while (ms.size() > batch.size() + 2 && ms[0] == 1) ms.erase(ms.begin());
        g.mask = batch_offsets(ms, 2, batch);
        g.mask_col = ms[ms.size() - 1] == 1 ? 0 : 1;
        g.mask_row = ms[ms.size() - 2] == 1 ? 0 : ms[ms.size() - 1];
    }
    return g;
}

namespace {
void infer_sdpa(InferContext& ctx, bool causal, const PartialShape& q, const PartialShape& k, const PartialShape& v,
                bool swap_out);
PartialShape swapped12(const PartialShape& s, bool swap) {
    if (!swap || s.rank_is_dynamic() || s.rank() != 4) return s;
    auto d = s.dims();
    std::swap(d[1], d[2]);
    return PartialShape(d);
}
}  // namespace

void ScaledDotProductAttention::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 5);
    infer_sdpa(ctx, causal, ctx.input_shape(0), ctx.input_shape(1), ctx.input_shape(2), false);
}

void FusedScaledDotProductAttention::visit_attributes(AttributeVisitor& v) {
    v.on("causal", causal);
    v.on("query_blhe", layout.q);
    v.on("key_blhe", layout.k);
    v.on("value_blhe", layout.v);
    v.on("output_blhe", layout.y);
    v.on("kv_repeat", layout.kv_repeat);
}

void FusedScaledDotProductAttention::infer(InferContext& ctx) const {
    ctx.check_inputs(3, 5);
    const bool flags[3] = {layout.q, layout.k, layout.v};
    for (size_t i = 0; i < 3; ++i) {
        auto& s = ctx.input_shape(i);
        KILN_INFER_CHECK(ctx, !flags[i] || (s.rank_is_static() && s.rank() == 4),
                         "an input given as [B, L, H, E] must have rank 4, got ", s.to_string());
    }
    KILN_INFER_CHECK(ctx, layout.kv_repeat >= 1, "kv_repeat must be >= 1, got ", layout.kv_repeat);
    PartialShape k = swapped12(ctx.input_shape(1), layout.k), v = swapped12(ctx.input_shape(2), layout.v);
    if (layout.kv_repeat > 1) {
        // Key and value as the query heads see them: each head repeated kv_repeat times.
        for (PartialShape* s : {&k, &v}) {
            KILN_INFER_CHECK(ctx, s->rank_is_static() && s->rank() == 4, "grouped key and value must have rank 4, got ",
                             s->to_string());
            auto d = s->dims();
            d[1] = d[1] * Dimension(layout.kv_repeat);
            *s = PartialShape(d);
        }
    }
    infer_sdpa(ctx, causal, swapped12(ctx.input_shape(0), layout.q), k, v, layout.y);
}

void FusedScaledDotProductAttention::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    KILN_CHECK(in[0].type() == Type::f32, "[FusedScaledDotProductAttention ", name(), "] f32 only");
    sdpa_ref<float>(causal, layout, in, out[0]);
}

namespace {
// The shape and type rules of ScaledDotProductAttention, on the query, key and value shapes as
// the op sees them ([B..., L, E], ...); swap_out: the output is stored [B, L, H, Ev].
void infer_sdpa(InferContext& ctx, bool causal, const PartialShape& q, const PartialShape& k, const PartialShape& v,
                bool swap_out) {
    Type t = ctx.input_type(0);
    for (size_t i = 1; i < 3; ++i) {
        Type u = ctx.input_type(i);
        if (t == Type::dynamic) t = u;
        KILN_INFER_CHECK(ctx, u == Type::dynamic || u == t, "query, key and value must have one element type, got ",
                         kiln::type_name(t), " and ", kiln::type_name(u));
    }
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_float(t), "query, key and value must be floating-point, got ",
                     kiln::type_name(t));
    if (ctx.num_inputs() > 3) {
        Type m = ctx.input_type(3);
        KILN_INFER_CHECK(ctx, m == Type::dynamic || m == Type::boolean || t == Type::dynamic || m == t,
                         "attention_mask must be boolean or of the query's type ", kiln::type_name(t), ", got ",
                         kiln::type_name(m));
    }
    if (ctx.num_inputs() > 4) {
        Type s = ctx.input_type(4);
        KILN_INFER_CHECK(ctx, s == Type::dynamic || t == Type::dynamic || s == t, "scale must be of the query's type ",
                         kiln::type_name(t), ", got ", kiln::type_name(s));
        auto& ss = ctx.input_shape(4);
        KILN_INFER_CHECK(ctx, ss.rank_is_dynamic() || ss.rank() == 0 || (ss.rank() == 1 && ss[0].compatible(1)),
                         "scale must be a scalar, got shape ", ss.to_string());
    }
    for (auto [s, what] : {std::pair{&q, "query"}, {&k, "key"}, {&v, "value"}})
        KILN_INFER_CHECK(ctx, s->rank_is_dynamic() || s->rank() >= 2, what, " must have rank >= 2, got ", s->to_string());
    if (q.rank_is_dynamic() || k.rank_is_dynamic() || v.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        return;
    }
    const Dimension &L = q[q.size() - 2], &E = q[q.size() - 1], &S = k[k.size() - 2];
    KILN_INFER_CHECK(ctx, E.compatible(k[k.size() - 1]), "query and key must share the last dimension, got ",
                     q.to_string(), " and ", k.to_string());
    KILN_INFER_CHECK(ctx, S.compatible(v[v.size() - 2]), "key and value must share dimension -2, got ", k.to_string(),
                     " and ", v.to_string());
    PartialShape batch = broadcast_shapes(broadcast_shapes(leading(q, 2), leading(k, 2), ctx), leading(v, 2), ctx);
    if (ctx.num_inputs() > 3 && !causal) {
        auto& m = ctx.input_shape(3);
        if (m.rank_is_static() && batch.rank_is_static()) {
            auto scores = batch.dims();
            scores.push_back(L);
            scores.push_back(S);
            PartialShape b = broadcast_shapes(PartialShape(scores), m, ctx);
            KILN_INFER_CHECK(ctx, b.size() == scores.size() && PartialShape::merge(b, PartialShape(scores)),
                             "attention_mask ", m.to_string(), " must broadcast to the scores ",
                             PartialShape(scores).to_string());
        }
    }
    if (batch.rank_is_dynamic()) {
        ctx.set_output(0, t, PartialShape());
        return;
    }
    auto d = batch.dims();
    d.push_back(L);
    d.push_back(v[v.size() - 1]);
    ctx.set_output(0, t, swapped12(PartialShape(d), swap_out));
}
}  // namespace

void ScaledDotProductAttention::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    if (in[0].type() == Type::f32) sdpa_ref<float>(causal, {}, in, out[0]);
    else if (in[0].type() == Type::f64) sdpa_ref<double>(causal, {}, in, out[0]);
    else
        throw Error(str_cat("[ScaledDotProductAttention ", name(), "] element type ", kiln::type_name(in[0].type()),
                            " has no reference kernel (f32, f64)"));
}

}  // namespace kiln::op
