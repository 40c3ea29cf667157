// Parameter (a graph input), Constant (a value known when the graph is built) and Result
// (a graph output). OpenVINO opset1.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// Graph input. Attributes: element_type, shape (partial). No inputs; one output.
class Parameter : public Op<Parameter> {
public:
    Parameter() = default;
    Parameter(Type t, PartialShape s) : element_type(t), shape(std::move(s)) {}
    const char* type_name() const override { return "Parameter"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    bool has_evaluate() const override { return false; }

    Type element_type = Type::f32;
    PartialShape shape;
};

// A tensor value. Attributes: element_type, shape, and the data itself.
class Constant : public Op<Constant> {
public:
    Constant() = default;
    explicit Constant(Tensor t) : value(std::move(t)) {}
    template <typename T>
    static std::shared_ptr<Constant> create(const std::vector<T>& v, Shape s) {
        return make<Constant>({}, Tensor::from_vector(v, std::move(s)));
    }
    template <typename T>
    static std::shared_ptr<Constant> scalar(T v) {
        return make<Constant>({}, Tensor::scalar(v));
    }
    const char* type_name() const override { return "Constant"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    const Tensor* constant_value() const override { return &value; }

    Tensor value;
};

// Graph output: passes its one input through.
class Result : public Op<Result> {
public:
    const char* type_name() const override { return "Result"; }
    const char* opset() const override { return "opset1"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
