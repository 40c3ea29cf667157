// The graph node. An op is one class deriving from Op<Derived> with typed attribute fields,
// one visit_attributes(), one pure infer() (shape and type inference), and one evaluate()
// (the plain reference kernel; fast kernels live in runtime/).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/attribute_visitor.hpp"
#include "kiln/core/error.hpp"
#include "kiln/core/shape.hpp"
#include "kiln/core/tensor.hpp"
#include "kiln/core/type.hpp"

namespace kiln {

class Node;
class Model;

// One output port of a node; this is what another node takes as an input.
struct Output {
    std::shared_ptr<Node> node;
    size_t index = 0;

    Type type() const;
    const PartialShape& shape() const;
    bool operator==(const Output& o) const { return node == o.node && index == o.index; }
    bool operator<(const Output& o) const {
        return node != o.node ? node < o.node : index < o.index;
    }
};
using OutputVector = std::vector<Output>;

// The partial value of a shape-like 1D (or 0D) integer tensor, one element per entry: what shape
// inference knows of a shape computed in the graph (ShapeOf of a dynamic tensor, and what Concat,
// Gather, Slice, ... make of it). Each op's infer() sets it on its output descriptor from its
// inputs' descriptors (InferContext::set_output_value). Per element: Either its value is
// known, or it is a dimension (an interval); when it is exactly dimension `axis` of output
// `port` of node `src` (it came from a ShapeOf), that is recorded too, so Reshape can tell that
// x.view(x.size(0), -1) keeps dimension 0 of x and puts everything else in the -1.
struct ShapeValueElem {
    bool known = false;
    int64_t value = 0;  // when known (may be negative: -1 in a Reshape target)
    Dimension dim;      // when not known
    const Node* src = nullptr;
    size_t port = 0;
    int64_t axis = -1;
};
using ShapeValue = std::vector<ShapeValueElem>;

struct TensorDesc {
    TensorDesc() = default;
    TensorDesc(Type type, PartialShape shape, std::shared_ptr<const ShapeValue> value = nullptr)
        : type(type), shape(std::move(shape)), value(std::move(value)) {}
    Type type = Type::dynamic;
    PartialShape shape;
    std::shared_ptr<const ShapeValue> value;  // the partial value, when known (shape arithmetic)
};

// What shape inference sees of one node: the inputs' types and shapes, and the values of
// inputs that are known constants. infer() reads these and sets the outputs, nothing else.
class InferContext {
public:
    InferContext(const Node& node, std::vector<TensorDesc> inputs,
                 std::vector<const Tensor*> values = {});

    size_t num_inputs() const { return inputs_.size(); }
    Type input_type(size_t i) const { return inputs_.at(i).type; }
    const PartialShape& input_shape(size_t i) const { return inputs_.at(i).shape; }
    // The input's value when it is known at this point (a Constant, or a value folded at
    // runtime for a concrete shape); nullptr otherwise.
    const Tensor* input_value(size_t i) const { return i < values_.size() ? values_[i] : nullptr; }
    void set_output(size_t i, Type t, PartialShape s);
    // What is known of input i's value as a shape: the constant's values when it is a known
    // rank <= 1 tensor (not f16 / bf16), else the partial value its producer inferred; nullopt otherwise.
    std::optional<ShapeValue> input_shape_value(size_t i) const;
    // The partial value of output i (after set_output(i, ...)); ignored unless the output is an
    // integer tensor of rank <= 1 with v.size() elements.
    void set_output_value(size_t i, ShapeValue v);
    const std::vector<TensorDesc>& outputs() const { return outputs_; }

    // Throws "[Type name] message".
    template <typename... A>
    [[noreturn]] void fail(const A&... a) const;
    template <typename... A>
    void check(bool cond, const A&... a) const {
        if (!cond) fail(a...);
    }
    // Checks the number of inputs is in [lo, hi].
    void check_inputs(size_t lo, size_t hi) const;
    void check_inputs(size_t n) const { check_inputs(n, n); }
    const Node& node() const { return node_; }

private:
    const Node& node_;
    std::vector<TensorDesc> inputs_;
    std::vector<const Tensor*> values_;
    std::vector<TensorDesc> outputs_;
};

class Node : public std::enable_shared_from_this<Node> {
public:
    virtual ~Node() = default;

    // IR type name and opset, e.g. "Convolution", "opset1". kiln-internal ops have opset "kiln".
    virtual const char* type_name() const = 0;
    virtual const char* opset() const = 0;
    // The opset version, the number in opset() ("opset8" -> 8); 0 for kiln-internal ops. An op
    // with several versions in the specification is one class whose opset() follows a version
    // field (MaxPool-1, -8 and -14 are op::MaxPool with opset_version 1, 8 or 14); the op factory
    // (core/op_factory.hpp) makes each.
    int64_t version() const;
    virtual void visit_attributes(AttributeVisitor&) {}
    // Pure shape/type inference.
    virtual void infer(InferContext& ctx) const = 0;
    // Reference kernel: outputs arrive allocated with the inferred static shapes. An output whose
    // shape infer() cannot know even from the input values (a Loop's concatenated output, whose
    // length is the number of iterations the body's condition allows) arrives unallocated
    // (data() == nullptr) and evaluate() allocates it.
    virtual void evaluate(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) const;
    virtual bool has_evaluate() const { return true; }
    // evaluate() as every caller runs it: f16 and bf16 inputs are widened to f32, evaluate() runs
    // in f32, and each f16/bf16 output is rounded back (torch's CPU kernels compute half types in
    // float and round each op's result the same way). Nodes with bodies get their tensors as
    // they are (the bodies widen node by node).
    void evaluate_reference(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) const;
    // The value of a Constant; nullptr for every other op.
    virtual const Tensor* constant_value() const { return nullptr; }
    // A copy of this node (same attributes and name) taking new inputs. Body graphs are copied too.
    virtual std::shared_ptr<Node> clone(const OutputVector& inputs) const = 0;
    // The body graphs of If and Loop, empty for every other op: model-wide walks (validation, the
    // text dump, the IR writer) reach them through this.
    virtual std::vector<std::shared_ptr<Model>> bodies() const { return {}; }

    const std::string& name() const { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }
    // Where the node came from (torch source line), for error messages.
    const std::string& source() const { return source_; }
    void set_source(std::string s) { source_ = std::move(s); }

    size_t num_inputs() const { return inputs_.size(); }
    const Output& input(size_t i) const { return inputs_.at(i); }
    const OutputVector& inputs() const { return inputs_; }
    void set_input(size_t i, Output o) { inputs_.at(i) = std::move(o); }
    void set_inputs(OutputVector in) { inputs_ = std::move(in); }

    size_t num_outputs() const { return outputs_.size(); }
    Output output(size_t i) { return Output{shared_from_this(), i}; }
    OutputVector outputs();
    const TensorDesc& output_desc(size_t i) const { return outputs_.at(i); }
    Type output_type(size_t i) const { return outputs_.at(i).type; }
    const PartialShape& output_shape(size_t i) const { return outputs_.at(i).shape; }
    // Tensor names of each output (graph inputs and outputs are found by these).
    const std::vector<std::string>& output_names(size_t i) const;
    void set_output_names(size_t i, std::vector<std::string> names);

    // Runs infer() from the current inputs and stores the outputs.
    void validate_and_infer();
    // Text of the attributes, "name=value, ..." (used by the model dump).
    std::string attributes_string();

protected:
    Node() = default;
    Node(const Node& other);  // copies attributes, name, source; not the inputs
    void init(OutputVector inputs) {
        inputs_ = std::move(inputs);
        validate_and_infer();
    }

private:
    std::string name_;
    std::string source_;
    OutputVector inputs_;
    std::vector<TensorDesc> outputs_;
    std::vector<std::vector<std::string>> output_names_;
};

using NodePtr = std::shared_ptr<Node>;
using NodeVector = std::vector<NodePtr>;

// CRTP base that supplies clone() for an op whose copy constructor copies its attributes.
template <typename Derived>
class Op : public Node {
public:
    std::shared_ptr<Node> clone(const OutputVector& inputs) const override {
        auto n = std::make_shared<Derived>(static_cast<const Derived&>(*this));
        n->set_inputs(inputs);
        n->validate_and_infer();
        return n;
    }
};

// Makes an op and runs its shape inference: make<op::Relu>(OutputVector{x}).
template <typename T, typename... A>
std::shared_ptr<T> make(const OutputVector& inputs, A&&... attrs) {
    auto n = std::make_shared<T>(std::forward<A>(attrs)...);
    n->set_inputs(inputs);
    n->validate_and_infer();
    return n;
}

template <typename... A>
[[noreturn]] void InferContext::fail(const A&... a) const {
    throw ValueError(str_cat("[", node_.type_name(), " ", node_.name(), "] ", a...));
}

// Attribute equality (through visit_attributes) and type: typed values are compared (doubles bit
// for bit, tensors by type, shape and bytes, bodies as graphs), never their printed text.
bool same_attributes(Node& a, Node& b);
// A hash consistent with same_attributes (type name, opset and every typed attribute value).
size_t attributes_hash(Node& n);
// The static string "opsetN" for a version (versions 1 to 64).
const char* opset_name(int64_t version);

// Runs f() and rethrows a kiln error from it with the node's torch source line appended, keeping
// the error's type (a ValueError stays a ValueError): errors met while re-inferring or folding a
// model at compile time then say where in the user's code the failing node came from.
template <typename F>
void with_source(const Node& n, F&& f) {
    auto at = [&](const Error& e) { return n.source().empty() ? std::string(e.what()) : str_cat(e.what(), "\n  at ", n.source()); };
    try {
        f();
    } catch (const ValueError& e) {
        throw ValueError(at(e));
    } catch (const TypeError& e) {
        throw TypeError(at(e));
    } catch (const ConversionError& e) {
        throw ConversionError(at(e));
    } catch (const Error& e) {
        throw Error(at(e));
    }
}

}  // namespace kiln
