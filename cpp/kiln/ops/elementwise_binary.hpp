// Binary element-wise ops (OpenVINO opset1): arithmetic, comparison, logical, and PRelu.
//
// Every binary op takes two inputs A and B of the same element type and produces one output
// whose shape is the numpy broadcast of the two input shapes (auto_broadcast="numpy", the
// default) or, with auto_broadcast="none", the shared shape of both inputs.
//   arithmetic (Add ... Mod):       any numeric type (not boolean); output type = input type
//   comparison (Equal ... Greater): any type; output boolean
//   logical (LogicalAnd/Or/Xor):    boolean inputs; output boolean
//   bitwise (BitwiseAnd/Or/Xor, opset13): integer or boolean inputs; output the input type (on
//                                   booleans: logical and/or/xor)
// PRelu(data, slope) has no attributes; see its comment for how slope is broadcast.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln {

// OpenVINO's AutoBroadcastType, restricted to the two kinds kiln emits ("pdpd" is rejected).
enum class AutoBroadcast { none, numpy };
void visit_auto_broadcast(AttributeVisitor& v, const char* name, AutoBroadcast& b);

// Numpy (right-aligned) broadcast of two partial shapes. Dimensions may be dynamic or
// intervals and either rank may be dynamic (then so is the result). Fails through ctx naming
// the axis and both shapes when the shapes can never broadcast.
PartialShape broadcast_shapes(const PartialShape& a, const PartialShape& b, InferContext& ctx);

// Shape rule shared by every multi-input element-wise op: numpy broadcast or, for
// AutoBroadcast::none, shapes that must be equal (merged).
PartialShape elementwise_shape(const PartialShape& a, const PartialShape& b, AutoBroadcast mode,
                               InferContext& ctx);

// Walks the elements of a static output shape in row-major order and keeps, for each input,
// the flat offset of the element that broadcasts to the current output element. Inputs are
// right-aligned against the output, as numpy does. Used by reference kernels.
class BroadcastWalker {
public:
    BroadcastWalker(const Shape& out, const std::vector<Shape>& inputs);
    int64_t offset(size_t input) const { return offsets_[input]; }
    void next();

private:
    Shape out_;
    std::vector<std::vector<int64_t>> strides_;  // [input][axis], 0 where broadcast
    std::vector<int64_t> index_;
    std::vector<int64_t> offsets_;
};

namespace op {

enum class BinaryKind { arithmetic, comparison, logical, bitwise };

// Shared shape/type inference and the auto_broadcast attribute of the binary ops.
template <typename Derived, BinaryKind K>
class BinaryElementwise : public Op<Derived> {
public:
    BinaryElementwise() = default;
    explicit BinaryElementwise(AutoBroadcast b) : auto_broadcast(b) {}
    void visit_attributes(AttributeVisitor& v) override {
        visit_auto_broadcast(v, "auto_broadcast", auto_broadcast);
    }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    AutoBroadcast auto_broadcast = AutoBroadcast::numpy;
};

class Add : public BinaryElementwise<Add, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Add"; }
    const char* opset() const override { return "opset1"; }
};
class Subtract : public BinaryElementwise<Subtract, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Subtract"; }
    const char* opset() const override { return "opset1"; }
};
class Multiply : public BinaryElementwise<Multiply, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Multiply"; }
    const char* opset() const override { return "opset1"; }
};
class Maximum : public BinaryElementwise<Maximum, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Maximum"; }
    const char* opset() const override { return "opset1"; }
};
class Minimum : public BinaryElementwise<Minimum, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Minimum"; }
    const char* opset() const override { return "opset1"; }
};
// (a - b)^2
class SquaredDifference : public BinaryElementwise<SquaredDifference, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "SquaredDifference"; }
    const char* opset() const override { return "opset1"; }
};
// a^b; for integers a negative b gives 0 unless |a| == 1
class Power : public BinaryElementwise<Power, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Power"; }
    const char* opset() const override { return "opset1"; }
};
// remainder with the sign of b (Python's %)
class FloorMod : public BinaryElementwise<FloorMod, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "FloorMod"; }
    const char* opset() const override { return "opset1"; }
};
// remainder with the sign of a (C's fmod and %)
class Mod : public BinaryElementwise<Mod, BinaryKind::arithmetic> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Mod"; }
    const char* opset() const override { return "opset1"; }
};
class Equal : public BinaryElementwise<Equal, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Equal"; }
    const char* opset() const override { return "opset1"; }
};
class NotEqual : public BinaryElementwise<NotEqual, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "NotEqual"; }
    const char* opset() const override { return "opset1"; }
};
class Less : public BinaryElementwise<Less, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Less"; }
    const char* opset() const override { return "opset1"; }
};
class LessEqual : public BinaryElementwise<LessEqual, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "LessEqual"; }
    const char* opset() const override { return "opset1"; }
};
class Greater : public BinaryElementwise<Greater, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "Greater"; }
    const char* opset() const override { return "opset1"; }
};
class GreaterEqual : public BinaryElementwise<GreaterEqual, BinaryKind::comparison> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "GreaterEqual"; }
    const char* opset() const override { return "opset1"; }
};
class LogicalAnd : public BinaryElementwise<LogicalAnd, BinaryKind::logical> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "LogicalAnd"; }
    const char* opset() const override { return "opset1"; }
};
class LogicalOr : public BinaryElementwise<LogicalOr, BinaryKind::logical> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "LogicalOr"; }
    const char* opset() const override { return "opset1"; }
};
class LogicalXor : public BinaryElementwise<LogicalXor, BinaryKind::logical> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "LogicalXor"; }
    const char* opset() const override { return "opset1"; }
};

class BitwiseAnd : public BinaryElementwise<BitwiseAnd, BinaryKind::bitwise> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "BitwiseAnd"; }
    const char* opset() const override { return "opset13"; }
};
class BitwiseOr : public BinaryElementwise<BitwiseOr, BinaryKind::bitwise> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "BitwiseOr"; }
    const char* opset() const override { return "opset13"; }
};
class BitwiseXor : public BinaryElementwise<BitwiseXor, BinaryKind::bitwise> {
public:
    using BinaryElementwise::BinaryElementwise;
    const char* type_name() const override { return "BitwiseXor"; }
    const char* opset() const override { return "opset13"; }
};
// BitwiseNot-13: ~x for integers, logical not for booleans; one input, same type and shape.
class BitwiseNot : public Op<BitwiseNot> {
public:
    const char* type_name() const override { return "BitwiseNot"; }
    const char* opset() const override { return "opset13"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// a / b. m_pythondiv (default true): integer division rounds toward -inf, as Python's //;
// false truncates toward zero, as C does. Integer division by zero is an error.
class Divide : public BinaryElementwise<Divide, BinaryKind::arithmetic> {
public:
    Divide() = default;
    explicit Divide(bool pythondiv, AutoBroadcast b = AutoBroadcast::numpy)
        : BinaryElementwise(b), m_pythondiv(pythondiv) {}
    const char* type_name() const override { return "Divide"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override {
        v.on("m_pythondiv", m_pythondiv);
        BinaryElementwise::visit_attributes(v);
    }

    bool m_pythondiv = true;
};

// PRelu(data, slope): data where data >= 0, else data * slope. When slope has rank 1 and
// data has rank >= 2 and slope's length equals data's dim 1 (channels), slope applies per
// channel; otherwise slope is numpy-broadcast to data. Output: data's type and shape.
class PRelu : public Op<PRelu> {
public:
    const char* type_name() const override { return "PRelu"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// The shape slope takes so that numpy broadcasting gives PRelu's per-channel rule.
Shape prelu_slope_shape(const Shape& data, const Shape& slope);

}  // namespace op
}  // namespace kiln
