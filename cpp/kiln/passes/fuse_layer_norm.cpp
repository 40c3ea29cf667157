#include "kiln/passes/fuse_layer_norm.hpp"

#include <optional>

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/internal/layer_norm.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/passes/pattern.hpp"

namespace kiln::passes {

namespace {


// The C values of an f32 constant that broadcasts against [..., C] varying along the last axis
// only (any rank up to `rank`, size-1 dims elsewhere).
std::optional<std::vector<float>> per_channel(const Output& o, int64_t rank, int64_t c) {
    const Tensor* t = const_of(o);
    if (!t || t->type() != Type::f32 || t->rank() > rank) return std::nullopt;
    for (int64_t i = 0; i + 1 < t->rank(); ++i)
        if (t->shape()[static_cast<size_t>(i)] != 1) return std::nullopt;
    const int64_t last = t->rank() ? t->shape().back() : 1;
    if (last != 1 && last != c) return std::nullopt;
    std::vector<float> v(t->data<float>(), t->data<float>() + t->size());
    if (v.size() == 1) v.assign(static_cast<size_t>(c), v[0]);
    return v;
}

// The non-constant operand of a numpy-broadcast binary op and its per-channel constant.
template <class Bin>
std::optional<std::pair<size_t, std::vector<float>>> with_constant(Node* n, const Output& from, int64_t rank, int64_t c) {
    auto* b = dynamic_cast<Bin*>(n);
    if (!b || b->auto_broadcast != AutoBroadcast::numpy) return std::nullopt;
    const size_t side = b->input(0) == from ? 0 : 1;
    if (!(b->input(side) == from)) return std::nullopt;
    auto v = per_channel(b->input(1 - side), rank, c);
    if (!v) return std::nullopt;
    return std::pair{side, std::move(*v)};
}

// The other input of binary node `n` when one of its inputs is `o`.
std::optional<Output> other_input(Node* n, const Output& o) {
    if (!n || n->num_inputs() != 2) return std::nullopt;
    if (n->input(0) == o) return n->input(1);
    if (n->input(1) == o) return n->input(0);
    return std::nullopt;
}

// RMS norm written as ops, from its ReduceMean:
//     u*u | Power(u, 2) -> ReduceMean(last axis, keep) -> Add(eps) -> Sqrt -> Divide(1, .) -> Multiply(u, .)
//     (or Divide(u, Sqrt(...)) directly) [-> Multiply(per-channel scale)]
// which is what aten::rms_norm translates to and what Llama-family RMSNorm modules trace to.
// Returns the fused node and the output it replaces.
std::optional<std::pair<NodePtr, Output>> match_rms_norm(const ConsumerMap& cm, op::ReduceMean* mean) {
    if (!mean->keep_dims || mean->output_type(0) != Type::f32) return std::nullopt;
    const PartialShape& s = mean->input(0).shape();
    if (s.rank_is_dynamic() || s.rank() < 1 || !s[s.size() - 1].is_static()) return std::nullopt;
    const int64_t rank = s.rank(), c = s[s.size() - 1].get_length();
    const Tensor* axes = mean->input(1).node->constant_value();
    if (!axes || axes->size() != 1) return std::nullopt;
    const int64_t ax = axes->as_i64_vector()[0];
    if (ax != -1 && ax != rank - 1) return std::nullopt;
    // The square of u.
    Node* sq = mean->input(0).node.get();
    if (sole_reader(cm, mean->input(0)) != mean) return std::nullopt;
    std::optional<Output> u;
    if (dynamic_cast<op::Multiply*>(sq) && sq->input(0) == sq->input(1)) u = sq->input(0);
    if (dynamic_cast<op::Power*>(sq) && scalar_f32(sq->input(1)) == 2.0) u = sq->input(0);
    if (!u || u->type() != Type::f32 || u->shape() != s) return std::nullopt;
    // + eps, sqrt, reciprocal, times u.
    Node* add = sole_reader(cm, mean->output(0));
    auto eps_in = other_input(dynamic_cast<op::Add*>(add), mean->output(0));
    auto eps = eps_in ? scalar_f32(*eps_in) : std::nullopt;
    if (!eps || *eps < 0) return std::nullopt;
    Node* sqrt = sole_reader(cm, add->output(0));
    if (!dynamic_cast<op::Sqrt*>(sqrt)) return std::nullopt;
    Node* div = sole_reader(cm, sqrt->output(0));
    auto* d = dynamic_cast<op::Divide*>(div);
    if (!d || !(d->input(1) == sqrt->output(0))) return std::nullopt;
    Node* norm = nullptr;
    if (d->input(0) == *u) {
        norm = d;
    } else if (scalar_f32(d->input(0)) == 1.0) {
        Node* mul = sole_reader(cm, d->output(0));
        auto x = other_input(dynamic_cast<op::Multiply*>(mul), d->output(0));
        if (!x || !(*x == *u)) return std::nullopt;
        norm = mul;
    } else {
        return std::nullopt;
    }
    if (norm->output_shape(0) != s) return std::nullopt;
    std::vector<float> scale(static_cast<size_t>(c), 1.0f);
    Output last = norm->output(0);
    if (Node* w = sole_reader(cm, last)) {
        if (auto b = with_constant<op::Multiply>(w, last, rank, c); b && w->output_shape(0) == s) {
            scale = std::move(b->second);
            last = w->output(0);
        }
    }
    NodePtr f;
    with_source(*mean, [&] {
        f = make<op::FusedRMSNorm>({*u, op::Constant::create<float>(scale, Shape{c})->output(0)}, static_cast<double>(*eps));
    });
    f->set_name(last.node->name());
    f->set_source(mean->source());
    return std::pair{f, last};
}

}  // namespace

size_t fuse_layer_norm(Model& m) {
    size_t n = 0;
    ConsumerIndex ci(m);
    const ConsumerMap& cm = ci.map();
    for (auto& node : m.ordered_ops()) {
        if (auto* mean = dynamic_cast<op::ReduceMean*>(node.get())) {
            if (!cm.count(mean->output(0))) continue;  // no longer in the graph
            if (auto r = match_rms_norm(cm, mean)) {
                ci.replace(r->second, r->first->output(0));
                ++n;
            }
            continue;
        }
        auto* mvn = dynamic_cast<op::MVN*>(node.get());
        if (!mvn || !mvn->normalize_variance || mvn->output_type(0) != Type::f32) continue;
        const PartialShape& s = mvn->output_shape(0);
        if (s.rank_is_dynamic() || s.rank() < 1 || !s[s.size() - 1].is_static()) continue;
        const int64_t rank = s.rank(), c = s[s.size() - 1].get_length();
        const Tensor* axes = mvn->input(1).node->constant_value();
        if (!axes || axes->size() != 1) continue;
        const int64_t ax = axes->as_i64_vector()[0];
        if (ax != -1 && ax != rank - 1) continue;
        Node* mul = sole_reader(cm, mvn->output(0));
        auto scale = mul ? with_constant<op::Multiply>(mul, mvn->output(0), rank, c) : std::nullopt;
        if (!scale || mul->output_shape(0) != s) continue;
        std::vector<float> shift(static_cast<size_t>(c), 0.0f);
        Output last = mul->output(0);
        if (Node* add = sole_reader(cm, last)) {
            if (auto b = with_constant<op::Add>(add, last, rank, c); b && add->output_shape(0) == s) {
                shift = std::move(b->second);
                last = add->output(0);
            }
        }
        Shape cs{c};
        NodePtr f;
        with_source(*mvn, [&] {
            f = make<op::FusedMVN>({mvn->input(0), mvn->input(1), op::Constant::create<float>(scale->second, cs)->output(0),
                                    op::Constant::create<float>(shift, cs)->output(0)},
                                   true, mvn->eps, mvn->eps_mode);
        });
        f->set_name(mvn->name());
        f->set_source(mvn->source());
        ci.replace(last, f->output(0));
        ++n;
    }
    return n;
}

}  // namespace kiln::passes
