// Unary element-wise ops (activations and math functions), and the element-wise ops with
// their own input rules: Swish (optional beta), Convert, Select (three inputs).
//
// A unary op takes one input and gives one output of the same shape and (except Convert and
// LogicalNot) the same element type. Input element types by kind:
//   numeric:  any numeric type, not boolean. Transcendental functions of integer inputs are
//             computed in double and rounded to the nearest integer.
//   floating: floating-point types only (the activations whose OpenVINO spec says so).
//   logical:  boolean only.
//   bitwise:  integer or boolean types.
#pragma once
#include "kiln/ops/elementwise_binary.hpp"

namespace kiln::op {

enum class UnaryKind { numeric, floating, logical, bitwise };

template <typename Derived, UnaryKind K>
class UnaryElementwise : public Op<Derived> {
public:
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// max(x, 0)
class Relu : public UnaryElementwise<Relu, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Relu"; }
    const char* opset() const override { return "opset1"; }
};
// 1 / (1 + exp(-x))
class Sigmoid : public UnaryElementwise<Sigmoid, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Sigmoid"; }
    const char* opset() const override { return "opset1"; }
};
class Tanh : public UnaryElementwise<Tanh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Tanh"; }
    const char* opset() const override { return "opset1"; }
};
class Exp : public UnaryElementwise<Exp, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Exp"; }
    const char* opset() const override { return "opset1"; }
};
class Log : public UnaryElementwise<Log, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Log"; }
    const char* opset() const override { return "opset1"; }
};
class Sqrt : public UnaryElementwise<Sqrt, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Sqrt"; }
    const char* opset() const override { return "opset1"; }
};
class Abs : public UnaryElementwise<Abs, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Abs"; }
    const char* opset() const override { return "opset1"; }
};
class Negative : public UnaryElementwise<Negative, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Negative"; }
    const char* opset() const override { return "opset1"; }
};
class Floor : public UnaryElementwise<Floor, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Floor"; }
    const char* opset() const override { return "opset1"; }
};
class Ceiling : public UnaryElementwise<Ceiling, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Ceiling"; }
    const char* opset() const override { return "opset1"; }
};
class Erf : public UnaryElementwise<Erf, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Erf"; }
    const char* opset() const override { return "opset1"; }
};
class Sin : public UnaryElementwise<Sin, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Sin"; }
    const char* opset() const override { return "opset1"; }
};
class Cos : public UnaryElementwise<Cos, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Cos"; }
    const char* opset() const override { return "opset1"; }
};
// -1, 0 or 1
class Sign : public UnaryElementwise<Sign, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Sign"; }
    const char* opset() const override { return "opset1"; }
};
class Tan : public UnaryElementwise<Tan, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Tan"; }
    const char* opset() const override { return "opset1"; }
};
class Asin : public UnaryElementwise<Asin, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Asin"; }
    const char* opset() const override { return "opset1"; }
};
class Acos : public UnaryElementwise<Acos, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Acos"; }
    const char* opset() const override { return "opset1"; }
};
class Atan : public UnaryElementwise<Atan, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Atan"; }
    const char* opset() const override { return "opset1"; }
};
class Sinh : public UnaryElementwise<Sinh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Sinh"; }
    const char* opset() const override { return "opset1"; }
};
class Cosh : public UnaryElementwise<Cosh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Cosh"; }
    const char* opset() const override { return "opset1"; }
};
class Asinh : public UnaryElementwise<Asinh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Asinh"; }
    const char* opset() const override { return "opset4"; }
};
class Acosh : public UnaryElementwise<Acosh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Acosh"; }
    const char* opset() const override { return "opset4"; }
};
class Atanh : public UnaryElementwise<Atanh, UnaryKind::numeric> {
public:
    const char* type_name() const override { return "Atanh"; }
    const char* opset() const override { return "opset4"; }
};
// x / (1 + |x|)
class SoftSign : public UnaryElementwise<SoftSign, UnaryKind::floating> {
public:
    const char* type_name() const override { return "SoftSign"; }
    const char* opset() const override { return "opset9"; }
};
// ~x on integers, logical not on booleans
class BitwiseNot : public UnaryElementwise<BitwiseNot, UnaryKind::bitwise> {
public:
    const char* type_name() const override { return "BitwiseNot"; }
    const char* opset() const override { return "opset13"; }
};
class LogicalNot : public UnaryElementwise<LogicalNot, UnaryKind::logical> {
public:
    const char* type_name() const override { return "LogicalNot"; }
    const char* opset() const override { return "opset1"; }
};
// log(1 + exp(x))
class SoftPlus : public UnaryElementwise<SoftPlus, UnaryKind::floating> {
public:
    const char* type_name() const override { return "SoftPlus"; }
    const char* opset() const override { return "opset4"; }
};
// x * tanh(softplus(x))
class Mish : public UnaryElementwise<Mish, UnaryKind::floating> {
public:
    const char* type_name() const override { return "Mish"; }
    const char* opset() const override { return "opset4"; }
};
// x * min(max(x + 3, 0), 6) / 6
class HSwish : public UnaryElementwise<HSwish, UnaryKind::floating> {
public:
    const char* type_name() const override { return "HSwish"; }
    const char* opset() const override { return "opset4"; }
};
// min(max(x + 3, 0), 6) / 6
class HSigmoid : public UnaryElementwise<HSigmoid, UnaryKind::floating> {
public:
    const char* type_name() const override { return "HSigmoid"; }
    const char* opset() const override { return "opset5"; }
};

// x > 0 ? x : alpha * (exp(x) - 1).
class Elu : public UnaryElementwise<Elu, UnaryKind::floating> {
public:
    Elu() = default;
    explicit Elu(double alpha_) : alpha(alpha_) {}
    const char* type_name() const override { return "Elu"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("alpha", alpha); }

    double alpha = 1.0;
};

// min(max(x, min), max). For integer inputs min is rounded up and max down (the spec's rule).
// min <= max is required.
class Clamp : public UnaryElementwise<Clamp, UnaryKind::numeric> {
public:
    Clamp() = default;
    Clamp(double min_, double max_) : min(min_), max(max_) {}
    const char* type_name() const override { return "Clamp"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;

    double min = 0.0;
    double max = 0.0;
};

enum class GeluApproximation { erf, tanh };

// erf:  0.5 * x * (1 + erf(x / sqrt(2)))
// tanh: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
// Gelu-7, and Gelu-2 (erf only, no attribute).
class Gelu : public UnaryElementwise<Gelu, UnaryKind::floating> {
public:
    Gelu() = default;
    explicit Gelu(GeluApproximation mode) : approximation_mode(mode) {}
    const char* type_name() const override { return "Gelu"; }
    const char* opset() const override { return opset_name(opset_version); }
    // Written as "ERF" / "TANH"; the spec's lower-case spellings are read too.
    void visit_attributes(AttributeVisitor& v) override;

    GeluApproximation approximation_mode = GeluApproximation::erf;
    int64_t opset_version = 7;  // 2 or 7
};

enum class RoundMode { half_to_even, half_away_from_zero };

// Rounds to the nearest integer; ties by `mode`. Integer inputs pass through.
class Round : public UnaryElementwise<Round, UnaryKind::numeric> {
public:
    Round() = default;
    explicit Round(RoundMode m) : mode(m) {}
    const char* type_name() const override { return "Round"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override;

    RoundMode mode = RoundMode::half_to_even;
};

// IsNaN, IsInf, IsFinite (opset10): a boolean of the input's shape. Integer inputs are never NaN
// or infinite (torch accepts them; the spec lists floating types).
enum class FloatClass { nan, inf, finite };
template <typename Derived, FloatClass C>
class FloatClassify : public Op<Derived> {
public:
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};
class IsNaN : public FloatClassify<IsNaN, FloatClass::nan> {
public:
    const char* type_name() const override { return "IsNaN"; }
    const char* opset() const override { return "opset10"; }
};
class IsFinite : public FloatClassify<IsFinite, FloatClass::finite> {
public:
    const char* type_name() const override { return "IsFinite"; }
    const char* opset() const override { return "opset10"; }
};
// detect_negative / detect_positive: which infinities count.
class IsInf : public FloatClassify<IsInf, FloatClass::inf> {
public:
    IsInf() = default;
    IsInf(bool neg, bool pos) : detect_negative(neg), detect_positive(pos) {}
    const char* type_name() const override { return "IsInf"; }
    const char* opset() const override { return "opset10"; }
    void visit_attributes(AttributeVisitor& v) override {
        v.on("detect_negative", detect_negative);
        v.on("detect_positive", detect_positive);
    }
    bool detect_negative = true;
    bool detect_positive = true;
};

// Swish(x[, beta]) = x * sigmoid(beta * x); beta is a scalar (rank 0 or shape [1]) of x's type,
// 1.0 when absent.
class Swish : public Op<Swish> {
public:
    const char* type_name() const override { return "Swish"; }
    const char* opset() const override { return "opset4"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// Converts each element to destination_type. Float to integer truncates toward zero; values
// out of the destination's range are undefined by the spec. To boolean: x != 0.
class Convert : public Op<Convert> {
public:
    Convert() = default;
    explicit Convert(Type t) : destination_type(t) {}
    const char* type_name() const override { return "Convert"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("destination_type", destination_type); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type destination_type = Type::f32;
};

// Select(cond, then, else): then where cond, else otherwise. cond is boolean; then and else
// share one element type (the output's). Shapes broadcast together (numpy) or, with
// auto_broadcast="none", must be equal.
class Select : public Op<Select> {
public:
    Select() = default;
    explicit Select(AutoBroadcast b) : auto_broadcast(b) {}
    const char* type_name() const override { return "Select"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override {
        visit_auto_broadcast(v, "auto_broadcast", auto_broadcast);
    }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    AutoBroadcast auto_broadcast = AutoBroadcast::numpy;
};

}  // namespace kiln::op
