#include "kiln/passes/fuse_attention.hpp"

#include <cmath>
#include <algorithm>
#include <optional>

#include "kiln/ops/attention.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/passes/pattern.hpp"

namespace kiln::passes {

namespace {


bool single_reader(const ConsumerMap& cm, const Output& o) { return sole_reader(cm, o) != nullptr; }

// x * c or x / c with c a scalar constant (either side of a Multiply): (x, factor).
std::optional<std::pair<Output, double>> scaled(const Output& o) {
    Node* n = o.node.get();
    if (auto* mul = dynamic_cast<op::Multiply*>(n); mul && mul->auto_broadcast == AutoBroadcast::numpy) {
        if (auto c = scalar_f32(n->input(1))) return std::pair{n->input(0), *c};
        if (auto c = scalar_f32(n->input(0))) return std::pair{n->input(1), *c};
    }
    if (auto* div = dynamic_cast<op::Divide*>(n); div && div->auto_broadcast == AutoBroadcast::numpy)
        if (auto c = scalar_f32(n->input(1)); c && *c != 0.0) return std::pair{n->input(0), 1.0 / *c};
    return std::nullopt;
}

// k when o = Transpose(k, order) with order swapping just the last two axes.
std::optional<Output> untransposed(const Output& o) {
    if (!dynamic_cast<op::Transpose*>(o.node.get())) return std::nullopt;
    const Tensor* order = const_of(o.node->input(1));
    auto& s = o.node->input(0).shape();
    if (!order || s.rank_is_dynamic() || s.rank() < 2) return std::nullopt;
    auto v = order->as_i64_vector();
    const int64_t r = s.rank();
    if (static_cast<int64_t>(v.size()) != r) return std::nullopt;
    for (int64_t i = 0; i < r; ++i) {
        const int64_t want = i == r - 2 ? r - 1 : i == r - 1 ? r - 2 : i;
        if (v[static_cast<size_t>(i)] != want) return std::nullopt;
    }
    return o.node->input(0);
}

// Whether `mask` broadcasts to `scores` without changing its shape (so the Add is the bias the
// op adds). Where a dimension is dynamic it is taken to fit: should the mask grow the scores at
// run time after all, the op's shape inference rejects that call when its plan is built (an
// error naming the node, never a wrong number). Real models' masks never do.
bool fits(const PartialShape& mask, const PartialShape& scores) {
    if (mask.rank_is_dynamic() || scores.rank_is_dynamic() || mask.rank() > scores.rank()) return false;
    const size_t off = scores.size() - mask.size();
    for (size_t i = 0; i < mask.size(); ++i) {
        const Dimension &m = mask[i], &s = scores[i + off];
        if (m.is_dynamic() || m.get_length() == 1) continue;
        if (!m.compatible(s) || (s.is_static() && s.get_length() == 1)) return false;
    }
    return true;
}

bool is_f32(const Output& o) { return o.type() == Type::f32; }

bool rank_at_least_2(const Output& o) { return o.shape().rank_is_static() && o.shape().rank() >= 2; }

// The boolean b when mask = Select(b, 0, -inf).
std::optional<Output> boolean_of(const Output& mask) {
    if (!dynamic_cast<op::Select*>(mask.node.get())) return std::nullopt;
    auto t = scalar_f32(mask.node->input(1)), f = scalar_f32(mask.node->input(2));
    if (!t || !f || *t != 0.0 || !(std::isinf(*f) && *f < 0)) return std::nullopt;
    Output b = mask.node->input(0);
    if (b.type() != Type::boolean) return std::nullopt;
    return b;
}

// Tries to fuse the chain ending at pv = MatMul(Softmax(...), v); returns the new op's output.
std::optional<Output> match(const ConsumerMap& cm, Node* pv_node) {
    auto* pv = dynamic_cast<op::MatMul*>(pv_node);
    if (!pv || pv->transpose_a || pv->transpose_b) return std::nullopt;
    Output p = pv->input(0), v = pv->input(1);
    auto* sm = dynamic_cast<op::Softmax*>(p.node.get());
    if (!sm || !single_reader(cm, p)) return std::nullopt;
    Output x = sm->input(0);
    if (!x.shape().rank_is_static() || x.shape().rank() < 2) return std::nullopt;
    const int64_t rank = x.shape().rank();
    if (sm->axis != -1 && sm->axis != rank - 1) return std::nullopt;
    // Bias.
    std::optional<Output> mask;
    if (dynamic_cast<op::Add*>(x.node.get()) && single_reader(cm, x)) {
        auto* add = static_cast<op::Add*>(x.node.get());
        if (add->auto_broadcast != AutoBroadcast::numpy) return std::nullopt;
        // The scores side is the one that comes from the MatMul (possibly scaled).
        auto from_qk = [](const Output& o) {
            Output c = o;
            if (auto s = scaled(c)) c = s->first;
            return dynamic_cast<op::MatMul*>(c.node.get()) != nullptr;
        };
        int side = from_qk(add->input(0)) ? 0 : from_qk(add->input(1)) ? 1 : -1;
        if (side < 0) return std::nullopt;
        Output scores = add->input(side);
        mask = add->input(1 - side);
        if (!is_f32(*mask) || !fits(mask->shape(), scores.shape())) return std::nullopt;
        if (!single_reader(cm, scores)) return std::nullopt;
        x = scores;
    }
    double scale = 1.0;
    if (auto s = scaled(x); s && single_reader(cm, x)) {
        scale *= s->second;
        x = s->first;
    }
    auto* qk = dynamic_cast<op::MatMul*>(x.node.get());
    if (!qk || qk->transpose_a) return std::nullopt;
    Output q = qk->input(0), k = qk->input(1);
    if (!qk->transpose_b) {
        auto kt = untransposed(k);
        if (!kt || !single_reader(cm, k)) return std::nullopt;
        k = *kt;
    }
    if (auto s = scaled(q); s && single_reader(cm, q)) {
        scale *= s->second;
        q = s->first;
    }
    if (!is_f32(q) || !is_f32(k) || !is_f32(v) || pv->output_type(0) != Type::f32) return std::nullopt;
    if (!rank_at_least_2(q) || !rank_at_least_2(k) || !rank_at_least_2(v)) return std::nullopt;
    // The op's rank is the largest of q, k, v's (its batch dims broadcast like MatMul's); the
    // scores' rank must be that one, or the mask would be aligned differently.
    const int64_t r = std::max<int64_t>({q.shape().rank(), k.shape().rank(), v.shape().rank()});
    if (r != rank || pv->output_shape(0).rank() != r) return std::nullopt;
    Output m;
    if (mask) {
        m = *mask;
        if (auto b = boolean_of(m)) m = *b;
    } else {
        m = op::Constant::scalar(0.0f)->output(0);
    }
    Output sc = op::Constant::scalar(static_cast<float>(scale))->output(0);
    NodePtr a = make<op::ScaledDotProductAttention>({q, k, v, m, sc}, false);
    a->set_name(pv->name());
    a->set_source(pv->source());
    return a->output(0);
}

// x when o = Transpose(x, [0, 2, 1, 3]) of a rank-4 x.
std::optional<Output> heads_swapped(const Output& o) {
    if (!dynamic_cast<op::Transpose*>(o.node.get())) return std::nullopt;
    const Tensor* order = const_of(o.node->input(1));
    auto& s = o.node->input(0).shape();
    if (!order || s.rank_is_dynamic() || s.rank() != 4) return std::nullopt;
    if (order->as_i64_vector() != std::vector<int64_t>{0, 2, 1, 3}) return std::nullopt;
    return o.node->input(0);
}

// (x, r) when o is x's heads each repeated r times, as grouped-query attention code writes it
// (Hugging Face's repeat_kv, kiln's own enable_gqa translation):
//     Reshape(Broadcast(Unsqueeze(x [B, Hkv, S, E], 2) -> [B, Hkv, 1, S, E], [B, Hkv, r, S, E]), [B, Hkv*r, S, E]).
std::optional<std::pair<Output, int64_t>> repeated_heads(const ConsumerMap& cm, const Output& o) {
    auto* rs = dynamic_cast<op::Reshape*>(o.node.get());
    if (!rs) return std::nullopt;
    const Output bo = rs->input(0);
    auto* bc = dynamic_cast<op::Broadcast*>(bo.node.get());
    if (!bc || !single_reader(cm, bo)) return std::nullopt;
    const Output uo = bc->input(0);
    auto* us = dynamic_cast<op::Unsqueeze*>(uo.node.get());
    if (!us || !single_reader(cm, uo)) return std::nullopt;
    const Output x = us->input(0);
    const PartialShape &xs = x.shape(), &u = uo.shape(), &b = bo.shape(), &y = o.shape();
    if (!xs.rank_is_static() || xs.rank() != 4 || !u.rank_is_static() || u.rank() != 5 || !b.rank_is_static() ||
        b.rank() != 5 || !y.rank_is_static() || y.rank() != 4)
        return std::nullopt;
    if (u[2] != Dimension(1) || !b[2].is_static() || !xs[1].is_static() || !y[1].is_static()) return std::nullopt;
    const int64_t r = b[2].get_length(), hkv = xs[1].get_length();
    if (r < 2 || y[1].get_length() != hkv * r || xs[3] != y[3] || !xs[3].is_static()) return std::nullopt;
    const size_t kept[4] = {0, 1, 3, 4};  // the unsqueezed axis is 2
    for (size_t i = 0; i < 4; ++i)
        if (!u[kept[i]].compatible(xs[i]) || !b[kept[i]].compatible(xs[i])) return std::nullopt;
    if (!y[0].compatible(xs[0]) || !y[2].compatible(xs[2])) return std::nullopt;
    return std::pair{x, r};
}

// An f32 ScaledDotProductAttention between head transposes becomes a
// FusedScaledDotProductAttention that reads and writes the [B, L, H, E] tensors directly; one
// whose key and value are repeated heads (grouped-query attention) reads the unrepeated ones.
bool absorb_transposes(ConsumerIndex& ci, Node* node) {
    const ConsumerMap& cm = ci.map();
    auto* a = dynamic_cast<op::ScaledDotProductAttention*>(node);
    if (!a || a->output_type(0) != Type::f32) return false;
    for (size_t i = 0; i < 3; ++i)
        if (!a->input(i).shape().rank_is_static() || a->input(i).shape().rank() != 4) return false;
    OutputVector ins = a->inputs();
    op::SdpaGeometry::Layout layout;
    {
        auto rk = repeated_heads(cm, ins[1]), rv = repeated_heads(cm, ins[2]);
        if (rk && rv && rk->second == rv->second) {
            ins[1] = rk->first;
            ins[2] = rv->first;
            layout.kv_repeat = rk->second;
        }
    }
    bool* flags[3] = {&layout.q, &layout.k, &layout.v};
    for (size_t i = 0; i < 3; ++i)
        if (auto x = heads_swapped(ins[i])) {
            ins[i] = *x;
            *flags[i] = true;
        }
    Output out = a->output(0);
    auto it = cm.find(out);
    if (it != cm.end() && it->second.size() == 1) {
        Node* t = it->second[0].first;
        if (heads_swapped(t->output(0)) && t->input(0) == out) {
            layout.y = true;
            out = t->output(0);
        }
    }
    if (!layout.q && !layout.k && !layout.v && !layout.y && layout.kv_repeat == 1) return false;
    NodePtr f = make<op::FusedScaledDotProductAttention>(ins, a->causal, layout);
    f->set_name(a->name());
    f->set_source(a->source());
    ci.replace(out, f->output(0));
    return true;
}

}  // namespace

size_t fuse_attention(Model& m) {
    size_t n = 0;
    ConsumerIndex ci(m);
    for (auto& node : m.ordered_ops()) {
        std::optional<Output> y;
        with_source(*node, [&] { y = match(ci.map(), node.get()); });
        if (!y) continue;
        ci.replace(node->output(0), *y);
        ++n;
    }
    for (auto& node : m.ordered_ops()) absorb_transposes(ci, node.get());
    return n;
}

}  // namespace kiln::passes
