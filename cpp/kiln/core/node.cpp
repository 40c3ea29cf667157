#include "kiln/core/node.hpp"

#include <bit>
#include <cstring>
#include <sstream>
#include <variant>

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

std::optional<ShapeValue> InferContext::input_shape_value(size_t i) const {
    if (i >= inputs_.size()) return std::nullopt;
    if (const Tensor* t = input_value(i)) {
        if (t->rank() > 1 || t->type() == Type::f16 || t->type() == Type::bf16) return std::nullopt;
        ShapeValue r;
        for (int64_t v : t->as_i64_vector()) {
            ShapeValueElem e;
            e.known = true;
            e.value = v;
            r.push_back(e);
        }
        return r;
    }
    if (inputs_[i].value) return *inputs_[i].value;
    return std::nullopt;
}

void InferContext::set_output_value(size_t i, ShapeValue v) {
    TensorDesc& d = outputs_.at(i);
    const PartialShape& s = d.shape;
    if ((d.type != Type::dynamic && !is_integral(d.type)) || !s.rank_is_static() || s.rank() > 1) return;
    const int64_t n = static_cast<int64_t>(v.size());
    if (s.rank() == 0 ? n != 1 : !s[0].compatible(n)) return;
    d.value = std::make_shared<const ShapeValue>(std::move(v));
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
    Direction direction() const override { return Direction::write; }
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

namespace {
// Every attribute of a node as typed values, in visiting order. Doubles are kept as their bits,
// so equality is exact (0.1234567 and 0.1234568 differ; a NaN equals itself).
struct Collector : AttributeVisitor {
    using Value = std::variant<bool, int64_t, uint64_t, std::string, std::vector<int64_t>, std::vector<uint64_t>, Type,
                               PartialShape, const Tensor*, const Model*>;
    std::vector<std::pair<std::string, Value>> values;
    Direction direction() const override { return Direction::write; }
    void on(const char* n, bool& v) override { values.emplace_back(n, v); }
    void on(const char* n, int64_t& v) override { values.emplace_back(n, v); }
    void on(const char* n, double& v) override { values.emplace_back(n, std::bit_cast<uint64_t>(v)); }
    void on(const char* n, std::string& v) override { values.emplace_back(n, v); }
    void on(const char* n, std::vector<int64_t>& v) override { values.emplace_back(n, v); }
    void on(const char* n, std::vector<double>& v) override {
        std::vector<uint64_t> bits;
        for (double d : v) bits.push_back(std::bit_cast<uint64_t>(d));
        values.emplace_back(n, std::move(bits));
    }
    void on(const char* n, Type& v) override { values.emplace_back(n, v); }
    void on(const char* n, PartialShape& v) override { values.emplace_back(n, v); }
    void on_tensor(const char* n, Tensor& t) override { values.emplace_back(n, static_cast<const Tensor*>(&t)); }
    void on_body(const char* n, std::shared_ptr<Model>& b) override { values.emplace_back(n, static_cast<const Model*>(b.get())); }
};

Collector collect(Node& n) {
    Collector c;
    n.visit_attributes(c);
    return c;
}

bool same_tensor(const Tensor* a, const Tensor* b) {
    if (a == b) return true;
    if (!a || !b || a->type() != b->type() || a->shape() != b->shape()) return false;
    if (a->data() == b->data()) return true;
    if (!a->data() || !b->data()) return false;
    return std::memcmp(a->data(), b->data(), a->byte_size()) == 0;
}

bool same_value(const Collector::Value& a, const Collector::Value& b) {
    if (a.index() != b.index()) return false;
    if (auto* t = std::get_if<const Tensor*>(&a)) return same_tensor(*t, std::get<const Tensor*>(b));
    if (auto* m = std::get_if<const Model*>(&a)) {
        const Model* x = *m;
        const Model* y = std::get<const Model*>(b);
        return x == y || (x && y && same_graph(*x, *y));
    }
    return a == b;
}

void mix(size_t& h, size_t v) { h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); }

size_t hash_bytes(const void* p, size_t n) {
    // FNV-1a over at most the first and last 256 bytes: equal tensors still hash equal, and a
    // large weight does not make hashing slow.
    auto* b = static_cast<const unsigned char*>(p);
    size_t h = 1469598103934665603ull;
    auto run = [&](size_t from, size_t to) {
        for (size_t i = from; i < to; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    if (n <= 512) run(0, n);
    else {
        run(0, 256);
        run(n - 256, n);
    }
    return h ^ n;
}

size_t hash_value(const Collector::Value& v) {
    size_t h = v.index();
    std::visit([&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, const Tensor*>) {
            if (!x) return;
            mix(h, static_cast<size_t>(x->type()));
            for (auto d : x->shape()) mix(h, static_cast<size_t>(d));
            if (x->data()) mix(h, hash_bytes(x->data(), x->byte_size()));
        } else if constexpr (std::is_same_v<X, const Model*>) {
            // Bodies: their size only (equal graphs have equal sizes).
            if (x) mix(h, x->ordered_ops().size());
        } else if constexpr (std::is_same_v<X, PartialShape>) {
            mix(h, x.rank_is_static() ? x.size() : 0x51u);
            if (x.rank_is_static())
                for (auto& d : x.dims()) {
                    mix(h, static_cast<size_t>(d.get_min_length()));
                    mix(h, static_cast<size_t>(d.get_max_length()));
                }
        } else if constexpr (std::is_same_v<X, std::vector<int64_t>> || std::is_same_v<X, std::vector<uint64_t>>) {
            for (auto e : x) mix(h, static_cast<size_t>(e));
        } else if constexpr (std::is_same_v<X, Type>) {
            mix(h, static_cast<size_t>(x));
        } else {
            mix(h, std::hash<X>()(x));
        }
    }, v);
    return h;
}
}  // namespace

bool same_attributes(Node& a, Node& b) {
    if (std::strcmp(a.type_name(), b.type_name()) != 0 || std::strcmp(a.opset(), b.opset()) != 0) return false;
    auto ca = collect(a), cb = collect(b);
    if (ca.values.size() != cb.values.size()) return false;
    for (size_t i = 0; i < ca.values.size(); ++i)
        if (ca.values[i].first != cb.values[i].first || !same_value(ca.values[i].second, cb.values[i].second))
            return false;
    // Bodies an op does not visit as attributes still count.
    auto ba = a.bodies(), bb = b.bodies();
    if (ba.size() != bb.size()) return false;
    for (size_t i = 0; i < ba.size(); ++i)
        if (ba[i] != bb[i] && (!ba[i] || !bb[i] || !same_graph(*ba[i], *bb[i]))) return false;
    return true;
}

size_t attributes_hash(Node& n) {
    size_t h = std::hash<std::string>()(n.type_name());
    mix(h, std::hash<std::string>()(n.opset()));
    for (auto& [name, v] : collect(n).values) {
        mix(h, std::hash<std::string>()(name));
        mix(h, hash_value(v));
    }
    return h;
}

int64_t Node::version() const {
    const char* s = opset();
    if (std::strncmp(s, "opset", 5) != 0) return 0;
    int64_t v = 0;
    for (const char* p = s + 5; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
    return v;
}

const char* opset_name(int64_t version) {
    static const auto names = [] {
        std::vector<std::string> r;
        for (int i = 0; i <= 64; ++i) r.push_back("opset" + std::to_string(i));
        return r;
    }();
    KILN_CHECK(version >= 1 && version <= 64, "opset version ", version, " is out of range [1, 64]");
    return names[static_cast<size_t>(version)].c_str();
}

}  // namespace kiln
