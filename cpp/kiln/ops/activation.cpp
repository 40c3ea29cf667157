#include "kiln/ops/activation.hpp"

#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"

namespace kiln::op {

namespace {
template <typename T>
bool is(const Node& n) {
    return dynamic_cast<const T*>(&n) != nullptr;
}

// The value of a constant scalar of a floating type (f32 / f64) feeding input `i`.
std::optional<double> scalar_input(const Node& n, size_t i) {
    const Output& o = n.input(i);
    if (!o.node || o.index != 0) return std::nullopt;
    const Tensor* v = o.node->constant_value();
    if (!v || v->size() != 1 || (v->type() != Type::f32 && v->type() != Type::f64)) return std::nullopt;
    return v->as_f64_vector()[0];
}
}  // namespace

std::optional<ActivationSpec> activation_of(const Node& n) {
    using A = Activation;
    auto one = [](A k, double a = 0, double b = 0) { return std::optional(ActivationSpec{k, a, b}); };
    if (n.num_inputs() == 1) {
        if (is<Relu>(n)) return one(A::relu);
        if (is<Sigmoid>(n)) return one(A::sigmoid);
        if (is<Tanh>(n)) return one(A::tanh);
        if (is<HSwish>(n)) return one(A::hswish);
        if (is<HSigmoid>(n)) return one(A::hsigmoid);
        if (is<Mish>(n)) return one(A::mish);
        if (is<Abs>(n)) return one(A::abs);
        if (is<Exp>(n)) return one(A::exp);
        if (is<SoftPlus>(n)) return one(A::softplus);
        if (is<Swish>(n)) return one(A::swish, 1.0);
        if (auto* c = dynamic_cast<const Clamp*>(&n)) return one(A::clamp, c->min, c->max);
        if (auto* e = dynamic_cast<const Elu*>(&n)) return one(A::elu, e->alpha);
        if (auto* g = dynamic_cast<const Gelu*>(&n))
            return one(g->approximation_mode == GeluApproximation::tanh ? A::gelu_tanh : A::gelu_erf);
    }
    if (n.num_inputs() == 2 && (is<Swish>(n) || is<PRelu>(n))) {
        auto s = scalar_input(n, 1);
        if (!s) return std::nullopt;
        return one(is<Swish>(n) ? A::swish : A::relu, *s);
    }
    return std::nullopt;
}

}  // namespace kiln::op
