#include "kiln/ops/recurrent.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

namespace {

void visit_direction(AttributeVisitor& v, RecurrentDirection& d) {
    visit_enum(v, "direction", d,
               {{RecurrentDirection::forward, "forward"}, {RecurrentDirection::reverse, "reverse"},
                {RecurrentDirection::bidirectional, "bidirectional"}});
}

template <typename C>
C activate(RecurrentActivation a, C v) {
    switch (a) {
        case RecurrentActivation::sigmoid: return C(1) / (C(1) + std::exp(-v));
        case RecurrentActivation::tanh: return std::tanh(v);
        case RecurrentActivation::relu: return v > C(0) ? v : C(0);
    }
    return v;
}

}  // namespace

void RecurrentBase::default_activations(RecurrentKind kind) {
    if (!activations.empty()) return;
    if (kind == RecurrentKind::lstm) activations = {"sigmoid", "tanh", "tanh"};
    else if (kind == RecurrentKind::gru) activations = {"sigmoid", "tanh"};
    else activations = {"tanh"};
}

void RecurrentBase::visit_base(AttributeVisitor& v) {
    v.on("hidden_size", hidden_size);
    // The IR spells the list as one comma-separated string, as OpenVINO's does.
    std::string acts;
    for (auto& a : activations) acts += (acts.empty() ? "" : ",") + a;
    v.on("activations", acts);
    activations.clear();
    for (size_t p = 0; p < acts.size();) {
        size_t q = acts.find(',', p);
        if (q == std::string::npos) q = acts.size();
        if (q > p) activations.push_back(acts.substr(p, q - p));
        p = q + 1;
    }
    v.on("activations_alpha", activations_alpha);
    v.on("activations_beta", activations_beta);
    v.on("clip", clip);
}

RecurrentSpec RecurrentBase::base_spec(RecurrentKind kind) const {
    RecurrentSpec s;
    s.kind = kind;
    s.hidden_size = hidden_size;
    s.clip = clip;
    std::vector<RecurrentActivation> def;
    if (kind == RecurrentKind::lstm) def = {RecurrentActivation::sigmoid, RecurrentActivation::tanh, RecurrentActivation::tanh};
    else if (kind == RecurrentKind::gru) def = {RecurrentActivation::sigmoid, RecurrentActivation::tanh};
    else def = {RecurrentActivation::tanh};
    std::vector<RecurrentActivation> got = def;
    if (!activations.empty()) {
        if (activations.size() != def.size())
            throw ValueError(str_cat("[", type_name(), " ", name(), "] takes ", def.size(), " activations, got ",
                                     activations.size()));
        for (size_t k = 0; k < def.size(); ++k) {
            const std::string& a = activations[k];
            if (a == "sigmoid") got[k] = RecurrentActivation::sigmoid;
            else if (a == "tanh") got[k] = RecurrentActivation::tanh;
            else if (a == "relu") got[k] = RecurrentActivation::relu;
            else
                throw ValueError(str_cat("[", type_name(), " ", name(), "] activation '", a,
                                         "' is not supported (sigmoid, tanh, relu)"));
        }
    }
    s.f1 = got[0];
    if (got.size() > 1) s.f2 = got[1];
    if (got.size() > 2) s.f3 = got[2];
    return s;
}

void LSTMSequence::visit_attributes(AttributeVisitor& v) {
    visit_base(v);
    visit_direction(v, direction);
}
RecurrentSpec LSTMSequence::spec() const {
    RecurrentSpec s = base_spec(RecurrentKind::lstm);
    s.direction = direction;
    return s;
}
void GRUSequence::visit_attributes(AttributeVisitor& v) {
    visit_base(v);
    visit_direction(v, direction);
    v.on("linear_before_reset", linear_before_reset);
}
RecurrentSpec GRUSequence::spec() const {
    RecurrentSpec s = base_spec(RecurrentKind::gru);
    s.direction = direction;
    s.linear_before_reset = linear_before_reset;
    return s;
}
void RNNSequence::visit_attributes(AttributeVisitor& v) {
    visit_base(v);
    visit_direction(v, direction);
}
RecurrentSpec RNNSequence::spec() const {
    RecurrentSpec s = base_spec(RecurrentKind::rnn);
    s.direction = direction;
    return s;
}
void GRUCell::visit_attributes(AttributeVisitor& v) {
    visit_base(v);
    v.on("linear_before_reset", linear_before_reset);
}
RecurrentSpec GRUCell::spec() const {
    RecurrentSpec s = base_spec(RecurrentKind::gru);
    s.linear_before_reset = linear_before_reset;
    return s;
}

// Input positions: sequences X, H0, [C0], lengths, W, R, B; cells X, H, [C], W, R, B.
void RecurrentBase::infer_recurrent(InferContext& ctx) const {
    RecurrentSpec s;
    try {
        s = spec();
    } catch (const ValueError& e) {
        ctx.fail(std::string(e.what()).substr(std::string(e.what()).find("] ") + 2));
    }
    const bool lstm = s.kind == RecurrentKind::lstm, seq = is_sequence();
    const size_t n_in = (seq ? 6 : 5) + (lstm ? 1 : 0);
    ctx.check_inputs(n_in);
    KILN_INFER_CHECK(ctx, hidden_size > 0, "hidden_size must be positive, got ", hidden_size);
    const size_t ix = 0, ih = 1, ic = lstm ? 2 : SIZE_MAX, il = seq ? (lstm ? 3 : 2) : SIZE_MAX;
    const size_t iw = n_in - 3, ir = n_in - 2, ib = n_in - 1;
    const int64_t H = hidden_size, G = s.gates(), D = s.directions();
    const int64_t BG = (s.kind == RecurrentKind::gru && s.linear_before_reset) ? 4 * H : G * H;

    Type t = Type::dynamic;
    for (size_t i = 0; i < n_in; ++i) {
        if (i == il) continue;
        Type ti = ctx.input_type(i);
        if (ti == Type::dynamic) continue;
        KILN_INFER_CHECK(ctx, is_float(ti), "input ", i, " must be of a floating type, got ", kiln::type_name(ti));
        KILN_INFER_CHECK(ctx, t == Type::dynamic || t == ti, "inputs must share one element type, got ",
                         kiln::type_name(t), " and ", kiln::type_name(ti));
        t = ti;
    }
    if (il != SIZE_MAX) check_integral(ctx, il, "sequence_lengths");

    Dimension batch, steps, in_size;
    auto merge = [&](Dimension& into, const Dimension& d, const char* what) {
        auto m = Dimension::merge(into, d);
        KILN_INFER_CHECK(ctx, m.has_value(), "inputs disagree on ", what, ": ", into.to_string(), " vs ", d.to_string());
        into = *m;
    };
    // Expects rank `rank` (when known) and merges listed dims; returns the shape or null.
    auto shape_of = [&](size_t i, int64_t rank, const char* what) -> const PartialShape* {
        const PartialShape& p = ctx.input_shape(i);
        if (p.rank_is_dynamic()) return nullptr;
        KILN_INFER_CHECK(ctx, p.rank() == rank, what, " must be ", rank, "-D, got ", p.to_string());
        return &p;
    };
    auto expect = [&](const PartialShape& p, size_t axis, int64_t v, const char* what) {
        KILN_INFER_CHECK(ctx, p[axis].compatible(v), what, " ", p.to_string(), " must have ", v, " at axis ", axis);
    };
    if (seq) {
        if (auto p = shape_of(ix, 3, "X [B, T, I]")) {
            merge(batch, (*p)[0], "the batch");
            steps = (*p)[1];
            in_size = (*p)[2];
        }
        for (size_t i : {ih, ic}) {
            if (i == SIZE_MAX) continue;
            if (auto p = shape_of(i, 3, "the initial state [B, D, H]")) {
                merge(batch, (*p)[0], "the batch");
                expect(*p, 1, D, "the initial state");
                expect(*p, 2, H, "the initial state");
            }
        }
        if (auto p = shape_of(il, 1, "sequence_lengths [B]")) merge(batch, (*p)[0], "the batch");
        if (auto p = shape_of(iw, 3, "W [D, G*H, I]")) {
            expect(*p, 0, D, "W");
            expect(*p, 1, G * H, "W");
            merge(in_size, (*p)[2], "the input size");
        }
        if (auto p = shape_of(ir, 3, "R [D, G*H, H]")) {
            expect(*p, 0, D, "R");
            expect(*p, 1, G * H, "R");
            expect(*p, 2, H, "R");
        }
        if (auto p = shape_of(ib, 2, "B [D, G*H]")) {
            expect(*p, 0, D, "B");
            expect(*p, 1, BG, "B");
        }
        ctx.set_output(0, t, PartialShape({batch, Dimension(D), steps, Dimension(H)}));
        ctx.set_output(1, t, PartialShape({batch, Dimension(D), Dimension(H)}));
        if (lstm) ctx.set_output(2, t, PartialShape({batch, Dimension(D), Dimension(H)}));
    } else {
        if (auto p = shape_of(ix, 2, "X [B, I]")) {
            merge(batch, (*p)[0], "the batch");
            in_size = (*p)[1];
        }
        for (size_t i : {ih, ic}) {
            if (i == SIZE_MAX) continue;
            if (auto p = shape_of(i, 2, "the state [B, H]")) {
                merge(batch, (*p)[0], "the batch");
                expect(*p, 1, H, "the state");
            }
        }
        if (auto p = shape_of(iw, 2, "W [G*H, I]")) {
            expect(*p, 0, G * H, "W");
            merge(in_size, (*p)[1], "the input size");
        }
        if (auto p = shape_of(ir, 2, "R [G*H, H]")) {
            expect(*p, 0, G * H, "R");
            expect(*p, 1, H, "R");
        }
        if (auto p = shape_of(ib, 1, "B [G*H]")) expect(*p, 0, BG, "B");
        ctx.set_output(0, t, PartialShape({batch, Dimension(H)}));
        if (lstm) ctx.set_output(1, t, PartialShape({batch, Dimension(H)}));
    }
}

template <typename T>
void recurrent_reference(const RecurrentSpec& s, int64_t B, int64_t Tn, int64_t I, const T* x, const T* h0,
                         const T* c0, const int64_t* lens, const T* w, const T* r, const T* b, T* y, T* ho, T* co) {
    using C = double;
    const int64_t H = s.hidden_size, G = s.gates(), D = s.directions();
    const bool lstm = s.kind == RecurrentKind::lstm, gru = s.kind == RecurrentKind::gru;
    const bool lbr = gru && s.linear_before_reset;
    const int64_t BG = lbr ? 4 * H : G * H;
    auto clipped = [&](C v) { return s.clip > 0 ? std::min(C(s.clip), std::max(C(-s.clip), v)) : v; };
    if (y) std::fill(y, y + B * D * Tn * H, T(0));
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t d = 0; d < D; ++d) {
        for (int64_t bi = 0; bi < B; ++bi) {
            const bool reverse = s.direction == RecurrentDirection::reverse || d == 1;
            const T* W = w + d * G * H * I;
            const T* R = r + d * G * H * H;
            const T* Bv = b + d * BG;
            std::vector<C> h(H), c(H, 0), g(G * H), rh(G * H), hn(H);
            for (int64_t k = 0; k < H; ++k) h[k] = h0[(bi * D + d) * H + k];
            if (lstm)
                for (int64_t k = 0; k < H; ++k) c[k] = c0[(bi * D + d) * H + k];
            const int64_t len = lens[bi];
            for (int64_t step = 0; step < len; ++step) {
                const int64_t t = reverse ? len - 1 - step : step;
                const T* xt = x + (bi * Tn + t) * I;
                for (int64_t j = 0; j < G * H; ++j) {
                    C a = 0, q = 0;
                    for (int64_t k = 0; k < I; ++k) a += C(W[j * I + k]) * C(xt[k]);
                    for (int64_t k = 0; k < H; ++k) q += C(R[j * H + k]) * h[k];
                    g[j] = a + C(Bv[j]);
                    rh[j] = q;
                }
                if (lstm) {
                    for (int64_t k = 0; k < H; ++k) {
                        const C f = activate(s.f1, clipped(g[k] + rh[k]));
                        const C i = activate(s.f1, clipped(g[H + k] + rh[H + k]));
                        const C cc = activate(s.f2, clipped(g[2 * H + k] + rh[2 * H + k]));
                        const C o = activate(s.f1, clipped(g[3 * H + k] + rh[3 * H + k]));
                        c[k] = f * c[k] + i * cc;
                        hn[k] = o * activate(s.f3, c[k]);
                    }
                } else if (gru) {
                    std::vector<C> z(H), rr(H);
                    for (int64_t k = 0; k < H; ++k) {
                        z[k] = activate(s.f1, clipped(g[k] + rh[k]));
                        rr[k] = activate(s.f1, clipped(g[H + k] + rh[H + k]));
                    }
                    for (int64_t k = 0; k < H; ++k) {
                        C pre;
                        if (lbr) {
                            pre = g[2 * H + k] + rr[k] * (rh[2 * H + k] + C(Bv[3 * H + k]));
                        } else {
                            C q = 0;
                            for (int64_t m = 0; m < H; ++m) q += C(R[(2 * H + k) * H + m]) * rr[m] * h[m];
                            pre = g[2 * H + k] + q;
                        }
                        const C n = activate(s.f2, clipped(pre));
                        hn[k] = (C(1) - z[k]) * n + z[k] * h[k];
                    }
                } else {
                    for (int64_t k = 0; k < H; ++k) hn[k] = activate(s.f1, clipped(g[k] + rh[k]));
                }
                h = hn;
                if (y)
                    for (int64_t k = 0; k < H; ++k) y[((bi * D + d) * Tn + t) * H + k] = static_cast<T>(h[k]);
            }
            for (int64_t k = 0; k < H; ++k) ho[(bi * D + d) * H + k] = static_cast<T>(h[k]);
            if (lstm && co)
                for (int64_t k = 0; k < H; ++k) co[(bi * D + d) * H + k] = static_cast<T>(c[k]);
        }
    }
}

template void recurrent_reference<float>(const RecurrentSpec&, int64_t, int64_t, int64_t, const float*, const float*,
                                         const float*, const int64_t*, const float*, const float*, const float*,
                                         float*, float*, float*);
template void recurrent_reference<double>(const RecurrentSpec&, int64_t, int64_t, int64_t, const double*,
                                          const double*, const double*, const int64_t*, const double*,
                                          const double*, const double*, double*, double*, double*);

void RecurrentBase::evaluate_recurrent(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const RecurrentSpec s = spec();
    const bool lstm = s.kind == RecurrentKind::lstm, seq = is_sequence();
    const size_t n_in = in.size();
    const Tensor& X = in[0];
    const Type t = X.type();
    const int64_t B = X.shape()[0];
    const int64_t Tn = seq ? X.shape()[1] : 1;
    const int64_t I = X.shape().back();
    std::vector<int64_t> lens(static_cast<size_t>(B), Tn);
    if (seq) {
        auto l = in[lstm ? 3 : 2].as_i64_vector();
        for (int64_t bi = 0; bi < B; ++bi) lens[bi] = std::clamp<int64_t>(l.at(bi), 0, Tn);
    }
    const Tensor& W = in[n_in - 3];
    const Tensor& R = in[n_in - 2];
    const Tensor& Bv = in[n_in - 1];
    const Tensor* C0 = lstm ? &in[2] : nullptr;
    Tensor* Y = seq ? &out[0] : nullptr;
    Tensor& Ho = out[seq ? 1 : 0];
    Tensor* Co = lstm ? &out[seq ? 2 : 1] : nullptr;
    auto run = [&](auto zero) {
        using T = decltype(zero);
        recurrent_reference<T>(s, B, Tn, I, X.data<T>(), in[1].data<T>(), C0 ? C0->data<T>() : nullptr, lens.data(),
                               W.data<T>(), R.data<T>(), Bv.data<T>(), Y ? Y->data<T>() : nullptr, Ho.data<T>(),
                               Co ? Co->data<T>() : nullptr);
    };
    if (t == Type::f32) return run(float{});
    if (t == Type::f64) return run(double{});
    throw Error(str_cat("[", type_name(), " ", name(), "] element type ", kiln::type_name(t),
                        " has no reference kernel (f32, f64)"));
}

// ---------------------------------------------------------------------------------------------
// Packed sequences

namespace {

std::vector<int64_t> checked_lengths(const Node& n, const Tensor& lengths, int64_t T) {
    auto l = lengths.as_i64_vector();
    for (size_t b = 0; b < l.size(); ++b) {
        if (l[b] < 1 || l[b] > T)
            throw ValueError(str_cat("[", n.type_name(), " ", n.name(), "] length ", l[b], " of sequence ", b,
                                     " is outside [1, ", T, "] (the padded input's time steps)"));
        if (b > 0 && l[b] > l[b - 1])
            throw ValueError(str_cat("[", n.type_name(), " ", n.name(),
                                     "] the lengths must be sorted in decreasing order (as torch requires with "
                                     "enforce_sorted=True), got ", l[b - 1], " before ", l[b]));
    }
    return l;
}

}  // namespace

void PackPadded::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "lengths");
    const PartialShape& p = ctx.input_shape(0);
    KILN_INFER_CHECK(ctx, p.rank_is_dynamic() || p.rank() >= 2, "padded must be [T, B, *], got ", p.to_string());
    if (p.rank_is_dynamic()) return ctx.set_output(0, ctx.input_type(0), PartialShape::dynamic());
    std::vector<Dimension> dims{Dimension()};
    for (size_t k = 2; k < p.size(); ++k) dims.push_back(p[k]);
    if (const Tensor* l = ctx.input_value(1)) {
        if (p[0].is_static()) {
            auto v = checked_lengths(ctx.node(), *l, p[0].get_length());
            int64_t n = 0;
            for (auto x : v) n += x;
            dims[0] = Dimension(n);
        }
    }
    ctx.set_output(0, ctx.input_type(0), PartialShape(dims));
}

void PackPadded::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& x = in[0];
    const int64_t T = x.shape()[0], B = x.shape()[1];
    auto l = checked_lengths(*this, in[1], T);
    if (static_cast<int64_t>(l.size()) != B)
        throw ValueError(str_cat("[PackPadded ", name(), "] ", l.size(), " lengths for a batch of ", B));
    const size_t row = static_cast<size_t>(shape_size(x.shape()) / std::max<int64_t>(T * B, 1)) * type_size(x.type());
    const auto* src = static_cast<const uint8_t*>(x.data());
    auto* dst = static_cast<uint8_t*>(out[0].data());
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < B && l[b] > t; ++b) {
            std::memcpy(dst, src + (t * B + b) * row, row);
            dst += row;
        }
}

void PadPacked::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    check_integral(ctx, 1, "batch_sizes");
    const PartialShape& p = ctx.input_shape(0);
    KILN_INFER_CHECK(ctx, p.rank_is_dynamic() || p.rank() >= 1, "data must be [N, *], got ", p.to_string());
    if (p.rank_is_dynamic()) return ctx.set_output(0, ctx.input_type(0), PartialShape::dynamic());
    std::vector<Dimension> dims{Dimension(), Dimension()};
    for (size_t k = 1; k < p.size(); ++k) dims.push_back(p[k]);
    if (const Tensor* bs = ctx.input_value(1)) {
        auto v = bs->as_i64_vector();
        int64_t n = 0;
        for (size_t t = 0; t < v.size(); ++t) {
            KILN_INFER_CHECK(ctx, v[t] >= 1 && (t == 0 || v[t] <= v[t - 1]),
                             "batch_sizes must be positive and non-increasing");
            n += v[t];
        }
        KILN_INFER_CHECK(ctx, p[0].compatible(n), "batch_sizes sum to ", n, " but data has ", p[0].to_string(), " rows");
        dims[0] = Dimension(static_cast<int64_t>(v.size()));
        dims[1] = Dimension(v.empty() ? 0 : v[0]);
    }
    ctx.set_output(0, ctx.input_type(0), PartialShape(dims));
}

void PadPacked::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& x = in[0];
    auto bs = in[1].as_i64_vector();
    const int64_t T = static_cast<int64_t>(bs.size()), B = T ? bs[0] : 0;
    const int64_t N = x.shape()[0];
    const size_t row = static_cast<size_t>(N ? shape_size(x.shape()) / N : 0) * type_size(x.type());
    auto* dst = static_cast<uint8_t*>(out[0].data());
    std::memset(dst, 0, out[0].byte_size());
    const auto* src = static_cast<const uint8_t*>(x.data());
    for (int64_t t = 0; t < T; ++t)
        for (int64_t b = 0; b < bs[t]; ++b) {
            std::memcpy(dst + (t * B + b) * row, src, row);
            src += row;
        }
}

}  // namespace kiln::op
