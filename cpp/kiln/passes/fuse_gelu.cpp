#include "kiln/passes/fuse_gelu.hpp"

#include <cmath>
#include <optional>

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/passes/pattern.hpp"

namespace kiln::passes {

namespace {

bool near(std::optional<double> v, double want) { return v && std::fabs(*v - want) <= 1e-5 * std::fabs(want); }

// The non-constant operand of a binary op `n` of type Bin whose other operand is the scalar
// `want`; nullopt otherwise.
template <class Bin>
std::optional<Output> with_scalar(Node* n, double want) {
    if (!dynamic_cast<Bin*>(n) || n->num_inputs() != 2) return std::nullopt;
    for (size_t i = 0; i < 2; ++i)
        if (near(scalar_f32(n->input(1 - i)), want)) return n->input(i);
    return std::nullopt;
}

// x when `o` is x^3 (Power(x, 3), x * (x * x) or (x * x) * x) read only by `reader`.
std::optional<Output> cube_of(const ConsumerMap& cm, const Output& o, Node* reader) {
    if (sole_reader(cm, o) != reader) return std::nullopt;
    Node* n = o.node.get();
    if (auto x = with_scalar<op::Power>(n, 3.0); x && n->input(0) == *x) return x;
    if (!dynamic_cast<op::Multiply*>(n)) return std::nullopt;
    for (size_t i = 0; i < 2; ++i) {
        const Output& sq = n->input(i);
        const Output& x = n->input(1 - i);
        Node* s = sq.node.get();
        if (dynamic_cast<op::Multiply*>(s) && s->input(0) == x && s->input(1) == x && sole_reader(cm, sq) == n)
            return x;
    }
    return std::nullopt;
}

}  // namespace

size_t fuse_gelu(Model& m) {
    const double kSqrt2OverPi = std::sqrt(2.0 / M_PI);
    size_t n = 0;
    ConsumerIndex ci(m);
    const ConsumerMap& cm = ci.map();
    for (auto& node : m.ordered_ops()) {
        auto* t = dynamic_cast<op::Tanh*>(node.get());
        if (!t || t->output_type(0) != Type::f32 || !cm.count(t->output(0))) continue;
        // tanh(c * (x + 0.044715 * x^3))
        Node* m1 = t->input(0).node.get();
        auto inner = with_scalar<op::Multiply>(m1, kSqrt2OverPi);
        if (!inner || sole_reader(cm, t->input(0)) != t || sole_reader(cm, *inner) != m1) continue;
        Node* add = inner->node.get();
        if (!dynamic_cast<op::Add*>(add)) continue;
        std::optional<Output> x;
        for (size_t i = 0; i < 2 && !x; ++i) {
            const Output& cubic = add->input(1 - i);
            auto cube = with_scalar<op::Multiply>(cubic.node.get(), 0.044715);
            if (!cube || sole_reader(cm, cubic) != add) continue;
            auto c = cube_of(cm, *cube, cubic.node.get());
            if (c && *c == add->input(i)) x = c;
        }
        if (!x || x->type() != Type::f32) continue;
        // * 0.5 * x after the + 1: (0.5 * x) * (1 + tanh), or x * (0.5 * (1 + tanh)).
        Node* one = sole_reader(cm, t->output(0));
        auto t_out = with_scalar<op::Add>(one, 1.0);
        if (!t_out || !(*t_out == t->output(0))) continue;
        Node* last = sole_reader(cm, one->output(0));
        if (!dynamic_cast<op::Multiply*>(last)) continue;
        const Output other = last->input(0) == one->output(0) ? last->input(1) : last->input(0);
        bool ok = false;
        if (auto h = with_scalar<op::Multiply>(other.node.get(), 0.5); h && *h == *x && sole_reader(cm, other) == last) {
            ok = true;  // (0.5 * x) * (1 + tanh)
        } else if (auto half = with_scalar<op::Multiply>(last, 0.5); half && *half == one->output(0)) {
            // 0.5 * (1 + tanh), then * x
            Node* fin = sole_reader(cm, last->output(0));
            if (dynamic_cast<op::Multiply*>(fin) && ((fin->input(0) == *x && fin->input(1) == last->output(0)) ||
                                                     (fin->input(1) == *x && fin->input(0) == last->output(0)))) {
                last = fin;
                ok = true;
            }
        }
        if (!ok || last->output_shape(0) != x->shape()) continue;
        NodePtr g;
        with_source(*t, [&] { g = make<op::Gelu>({*x}, op::GeluApproximation::tanh); });
        g->set_name(last->name());
        g->set_source(t->source());
        ci.replace(last->output(0), g->output(0));
        ++n;
    }
    return n;
}

}  // namespace kiln::passes
