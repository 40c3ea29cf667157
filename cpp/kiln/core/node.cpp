#include "kiln/core/node.hpp"

#include <sstream>

#include "kiln/core/model.hpp"

namespace kiln {

Type Output::type() const { return node->output_type(index); }
const PartialShape& Output::shape() const { return node->output_shape(index); }

InferContext::InferContext(const Node& node, std::vector<TensorDesc> inputs,
                           std::vector<const Tensor*> values)
    : node_(node), inputs_(std::move(inputs)), values_(std::move(values)) {}

void InferContext::set_output(size_t i, Type t, PartialShape s) {
    if (outputs_.size() <= i) outputs_.resize(i + 1);
    outputs_[i] = TensorDesc{t, std::move(s)};
}

void InferContext::check_inputs(size_t lo, size_t hi) const {
    if (inputs_.size() < lo || inputs_.size() > hi) {
        if (lo == hi) fail("expected ", lo, " inputs, got ", inputs_.size());
        fail("expected ", lo, " to ", hi, " inputs, got ", inputs_.size());
    }
}

Node::Node(const Node& other)
    : std::enable_shared_from_this<Node>(),
      name_(other.name_),
      source_(other.source_),
      outputs_(other.outputs_),
      output_names_(other.output_names_) {}

void Node::evaluate(const std::vector<Tensor>&, std::vector<Tensor>&) const {
    throw Error(str_cat("[", type_name(), " ", name(), "] has no reference kernel"));
}

void Node::evaluate_reference(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    bool half = false;
    for (auto& t : in) half = half || is_half(t.type());
    for (auto& t : out) half = half || is_half(t.type());
    if (!half || !bodies().empty()) {
        evaluate(in, out);
        return;
    }
    std::vector<Tensor> win, wout;
    for (auto& t : in) {
        if (!is_half(t.type())) {
            win.push_back(t);
            continue;
        }
        Tensor w(Type::f32, t.shape());
        convert_elements(t.data(), t.type(), w.data(), Type::f32, static_cast<size_t>(t.size()));
        win.push_back(std::move(w));
    }
    for (auto& t : out) {
        if (!is_half(t.type())) wout.push_back(t);  // shares the caller's memory (or stays unallocated)
        else if (t.data() == nullptr) wout.emplace_back();
        else wout.emplace_back(Type::f32, t.shape());
    }
    evaluate(win, wout);
    for (size_t i = 0; i < out.size(); ++i) {
        if (!is_half(out[i].type())) {
            out[i] = wout[i];
            continue;
        }
        if (out[i].data() == nullptr) out[i] = Tensor(out[i].type(), wout[i].shape());
        KILN_CHECK_NODE(*this, out[i].shape() == wout[i].shape(), "output ", i, " has shape ",
                        to_string(wout[i].shape()), ", expected ", to_string(out[i].shape()));
        convert_elements(wout[i].data(), Type::f32, out[i].data(), out[i].type(), static_cast<size_t>(out[i].size()));
    }
}

OutputVector Node::outputs() {
    OutputVector r;
    for (size_t i = 0; i < outputs_.size(); ++i) r.push_back(output(i));
    return r;
}

const std::vector<std::string>& Node::output_names(size_t i) const {
    static const std::vector<std::string> none;
    return i < output_names_.size() ? output_names_[i] : none;
}

void Node::set_output_names(size_t i, std::vector<std::string> names) {
    if (output_names_.size() <= i) output_names_.resize(i + 1);
    output_names_[i] = std::move(names);
}

void Node::validate_and_infer() {
    std::vector<TensorDesc> in;
    std::vector<const Tensor*> values;
    for (auto& o : inputs_) {
        KILN_CHECK_NODE(*this, o.node != nullptr, "input ", in.size(), " is not connected");
        in.push_back(o.node->output_desc(o.index));
        const Tensor* v = o.node->constant_value();
        values.push_back(v);
    }
    InferContext ctx(*this, std::move(in), std::move(values));
    infer(ctx);
    outputs_ = ctx.outputs();
    if (output_names_.size() < outputs_.size()) output_names_.resize(outputs_.size());
}

namespace {
struct Printer : AttributeVisitor {
    std::ostringstream os;
    bool first = true;
    void sep(const char* n) {
        os << (first ? "" : ", ") << n << "=";
        first = false;
    }
    template <typename V>
    void list(const char* n, const std::vector<V>& v) {
        sep(n);
        os << "[";
        for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
        os << "]";
    }
    void on(const char* n, bool& v) override { sep(n); os << (v ? "true" : "false"); }
    void on(const char* n, int64_t& v) override { sep(n); os << v; }
    void on(const char* n, double& v) override { sep(n); os << v; }
    void on(const char* n, std::string& v) override { sep(n); os << v; }
    void on(const char* n, std::vector<int64_t>& v) override { list(n, v); }
    void on(const char* n, std::vector<double>& v) override { list(n, v); }
    void on(const char* n, Type& v) override { sep(n); os << type_name(v); }
    void on(const char* n, PartialShape& v) override { sep(n); os << v.to_string(); }
    // A summary only: the text dump prints each body in full under its node.
    void on_body(const char* n, std::shared_ptr<Model>& b) override {
        sep(n);
        if (!b) {
            os << "none";
            return;
        }
        os << "<" << b->parameters().size() << " inputs, " << b->results().size() << " outputs, "
           << b->ordered_ops().size() << " nodes>";
    }
    void on_tensor(const char* n, Tensor& t) override {
        sep(n);
        os << type_name(t.type()) << to_string(t.shape());
        if (t.size() <= 8 && t.type() != Type::f16 && t.type() != Type::bf16) {
            auto v = t.as_f64_vector();
            os << "{";
            for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
            os << "}";
        }
    }
};
}  // namespace

std::string Node::attributes_string() {
    Printer p;
    visit_attributes(p);
    return p.os.str();
}

bool same_attributes(Node& a, Node& b) {
    if (std::string(a.type_name()) != b.type_name() || a.attributes_string() != b.attributes_string()) return false;
    // The attribute text only summarizes bodies; equal bodies print equal.
    auto ba = a.bodies(), bb = b.bodies();
    if (ba.size() != bb.size()) return false;
    for (size_t i = 0; i < ba.size(); ++i)
        if ((ba[i] == nullptr) != (bb[i] == nullptr) || (ba[i] && ba[i]->to_string() != bb[i]->to_string()))
            return false;
    return true;
}

}  // namespace kiln
