// The activations: one definition of their math, shared by the element-wise ops (their
// reference kernels), the post-ops fused into convolutions and matmuls (ops/internal/fused.hpp),
// the oneDNN post-op mapping and the fast element-wise kernels' choice of routine, so that an
// activation computes the same function whichever of them runs it.
#pragma once
#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>

namespace kiln {
class Node;
}

namespace kiln::op {

enum class Activation {
    relu,       // alpha: the slope for x < 0 (0: plain ReLU; PRelu with one slope; LeakyReLU)
    clamp,      // [alpha, beta]
    sigmoid,
    tanh,
    swish,      // x * sigmoid(alpha * x)
    hswish,
    hsigmoid,
    gelu_erf,
    gelu_tanh,
    elu,        // alpha
    mish,
    abs,
    exp,
    softplus,
};

struct ActivationSpec {
    Activation kind = Activation::relu;
    double alpha = 0;
    double beta = 0;
    bool operator==(const ActivationSpec&) const = default;
};

struct ActivationInfo {
    Activation kind;
    const char* name;  // as written in IR strings
    int params;        // how many of alpha, beta the kind uses
};
inline constexpr ActivationInfo kActivations[] = {
    {Activation::relu, "relu", 1},         {Activation::clamp, "clamp", 2},
    {Activation::sigmoid, "sigmoid", 0},   {Activation::tanh, "tanh", 0},
    {Activation::swish, "swish", 1},       {Activation::hswish, "hswish", 0},
    {Activation::hsigmoid, "hsigmoid", 0}, {Activation::gelu_erf, "gelu_erf", 0},
    {Activation::gelu_tanh, "gelu_tanh", 0}, {Activation::elu, "elu", 1},
    {Activation::mish, "mish", 0},         {Activation::abs, "abs", 0},
    {Activation::exp, "exp", 0},           {Activation::softplus, "softplus", 0},
};

inline const ActivationInfo& activation_info(Activation k) {
    for (auto& i : kActivations)
        if (i.kind == k) return i;
    return kActivations[0];
}
inline const char* activation_name(Activation k) { return activation_info(k).name; }
inline int activation_param_count(Activation k) { return activation_info(k).params; }
inline std::optional<Activation> activation_from_name(std::string_view name) {
    for (auto& i : kActivations)
        if (name == i.name) return i.kind;
    return std::nullopt;
}

// ln(1 + e^x) without overflow for large x and without losing small values for negative x.
inline double softplus_value(double x) {
    return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// The function itself, in double: the reference every kernel is measured against.
inline double activation_value(Activation k, double x, double alpha = 0, double beta = 0) {
    constexpr double kSqrtHalf = 0.70710678118654752440;
    constexpr double kSqrt2OverPi = 0.79788456080286535588;
    auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    switch (k) {
        case Activation::relu: return !(x < 0) ? x : alpha == 0 ? 0.0 : alpha * x;  // keeps NaN, -0
        case Activation::clamp: return x < alpha ? alpha : x > beta ? beta : x;
        case Activation::sigmoid: return sigmoid(x);
        case Activation::tanh: return std::tanh(x);
        case Activation::swish: return x * sigmoid(alpha * x);
        case Activation::hswish: return x * std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
        case Activation::hsigmoid: return std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
        // erfc(-z) == 1 + erf(z), without the cancellation for negative x.
        case Activation::gelu_erf: return 0.5 * x * std::erfc(-x * kSqrtHalf);
        case Activation::gelu_tanh: return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
        case Activation::elu: return x > 0 ? x : alpha * std::expm1(x);
        case Activation::mish: return x * std::tanh(softplus_value(x));
        case Activation::abs: return std::fabs(x);
        case Activation::exp: return std::exp(x);
        case Activation::softplus: return softplus_value(x);
    }
    return x;
}
inline double activation_value(const ActivationSpec& a, double x) {
    return activation_value(a.kind, x, a.alpha, a.beta);
}

// The activation a node computes, when it is one: the unary activation ops (Relu, Sigmoid, Tanh,
// Swish, HSwish, HSigmoid, Gelu, Elu, Mish, Abs, Exp, SoftPlus, Clamp), and Swish / PRelu whose
// second input is a constant scalar. Defined with the element-wise ops (ops/activation.cpp).
std::optional<ActivationSpec> activation_of(const Node& n);

}  // namespace kiln::op
