#include "kiln/frontend/pytorch/node_context.hpp"

#include "kiln/frontend/pytorch/translation.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::frontend::pytorch {

bool TValue::is_const() const {
    if (kind == Kind::constant) return true;
    if (kind == Kind::tensor || kind == Kind::runtime_list) return false;
    for (auto& i : items)
        if (!i.is_const()) return false;
    return true;
}

ConstValue TValue::as_const() const {
    if (kind == Kind::constant) return c;
    std::vector<ConstValue> v;
    for (auto& i : items) v.push_back(i.as_const());
    return ConstValue::list(std::move(v));
}

NodeContext::NodeContext(Translation& t, const NodeDesc& node) : t_(t), node_(node) {}

const TValue& NodeContext::value(size_t i) const {
    if (i >= node_.inputs.size()) fail("expected at least ", i + 1, " inputs, got ", node_.inputs.size());
    const TValue& v = t_.value(node_.inputs[i]);
    if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::unsupported)
        fail("input ", i, " is a constant kiln cannot represent: ", v.c.s);
    return v;
}

void NodeContext::set_input_value(size_t i, TValue v) {
    value(i);  // range check
    t_.set_container(node_.inputs[i], std::move(v));
}

void NodeContext::tag(Node& n) {
    std::string base = node_.name.empty() ? node_.kind : node_.name;
    n.set_name(made_++ == 0 ? base : base + "/" + std::to_string(made_ - 1));
    n.set_source(node_.source);
}

Output NodeContext::fold_small(const std::shared_ptr<Node>& n) {
    constexpr int64_t kMaxElements = 4096;
    if (n->num_outputs() != 1 || !n->has_evaluate() || n->num_inputs() == 0) return n->output(0);
    auto& s = n->output_shape(0);
    if (!s.is_static() || n->output_type(0) == Type::dynamic || shape_size(s.to_shape()) > kMaxElements)
        return n->output(0);
    std::vector<Tensor> in;
    for (auto& i : n->inputs()) {
        auto v = i.node->constant_value();
        if (!v) return n->output(0);
        in.push_back(*v);
    }
    std::vector<Tensor> out{Tensor(n->output_type(0), s.to_shape())};
    n->evaluate_reference(in, out);
    auto c = std::make_shared<op::Constant>(std::move(out[0]));
    c->set_name(n->name());
    c->set_source(n->source());
    c->validate_and_infer();
    return c->output(0);
}

Output NodeContext::constant(Tensor t) {
    auto n = std::make_shared<op::Constant>(std::move(t));
    tag(*n);
    n->validate_and_infer();
    return n->output(0);
}

namespace {

Tensor const_to_tensor(const ConstValue& c, const NodeContext& ctx) {
    using K = ConstValue::Kind;
    switch (c.kind) {
        case K::tensor: return c.tensor;
        case K::integer: return Tensor::scalar<int64_t>(c.i);
        case K::floating: return Tensor::scalar<float>(static_cast<float>(c.f));
        case K::boolean: return Tensor::scalar<bool>(c.b);
        case K::list: {
            bool all_int = true, all_num = true;
            for (auto& i : c.items) {
                all_int &= i.kind == K::integer || i.kind == K::boolean;
                all_num &= i.kind == K::integer || i.kind == K::floating || i.kind == K::boolean;
            }
            auto n = static_cast<int64_t>(c.items.size());
            if (all_int) {
                std::vector<int64_t> v;
                for (auto& i : c.items) v.push_back(i.kind == K::boolean ? i.b : i.i);
                return Tensor::from_vector(v, {n});
            }
            if (all_num) {
                std::vector<float> v;
                for (auto& i : c.items) v.push_back(static_cast<float>(i.kind == K::floating ? i.f : i.i));
                return Tensor::from_vector(v, {n});
            }
            break;
        }
        default: break;
    }
    ctx.fail("the constant ", c.to_string(), " cannot be used as a tensor");
}

}  // namespace

Output NodeContext::tensor_of(const TValue& v) {
    switch (v.kind) {
        case TValue::Kind::tensor: return v.out;
        case TValue::Kind::constant: return constant(const_to_tensor(v.c, *this));
        case TValue::Kind::list: {
            if (v.is_const()) return constant(const_to_tensor(v.as_const(), *this));
            // A shape-like list of int scalars and 0-d/1-d tensors: concatenate as 1-D i64.
            OutputVector parts;
            auto axis0 = i64({0});
            for (auto& item : v.items) {
                Output o = tensor_of(item);
                if (o.type() != Type::i64) o = make<op::Convert>({o}, Type::i64);
                if (o.shape().rank_is_static() && o.shape().rank() == 0) o = make<op::Unsqueeze>({o, axis0});
                parts.push_back(o);
            }
            return make<op::Concat>(parts, int64_t{0});
        }
        case TValue::Kind::runtime_list:
            fail("a list whose length is known only at run time (from a split, chunk or unbind of a dynamic "
                 "dimension, or appended to in a loop) is used as one tensor; unpack it into names, index it, "
                 "or give the dimension's size with input=");
    }
    fail("unreachable");
}

Output NodeContext::input(size_t i) {
    auto& v = value(i);
    if (v.kind == TValue::Kind::constant && v.c.kind != ConstValue::Kind::none) {
        int64_t id = node_.inputs[i];
        return t_.constant_for(id, [&] { return tensor_of(v); });
    }
    if (v.is_none()) fail("input ", i, " is None where a tensor is expected");
    return tensor_of(v);
}

int64_t NodeContext::const_int(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::constant) {
        if (v.c.kind == ConstValue::Kind::integer) return v.c.i;
        if (v.c.kind == ConstValue::Kind::boolean) return v.c.b;
        if (v.c.kind == ConstValue::Kind::tensor && v.c.tensor.size() == 1) return v.c.tensor.as_i64_vector()[0];
    }
    if (v.kind == TValue::Kind::tensor) {
        if (auto c = v.out.node->constant_value(); c && c->size() == 1) return c->as_i64_vector()[0];
    }
    fail("input ", i, " must be a constant int, got ",
         v.kind == TValue::Kind::tensor ? "a value computed at run time" : v.as_const().to_string());
}

double NodeContext::const_float(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::constant) {
        if (v.c.kind == ConstValue::Kind::floating) return v.c.f;
        if (v.c.kind == ConstValue::Kind::integer) return static_cast<double>(v.c.i);
        if (v.c.kind == ConstValue::Kind::boolean) return v.c.b;
        if (v.c.kind == ConstValue::Kind::tensor && v.c.tensor.size() == 1) return v.c.tensor.as_f64_vector()[0];
    }
    if (v.kind == TValue::Kind::tensor) {
        if (auto c = v.out.node->constant_value(); c && c->size() == 1) return c->as_f64_vector()[0];
    }
    fail("input ", i, " must be a constant number, got ",
         v.kind == TValue::Kind::tensor ? "a value computed at run time" : v.as_const().to_string());
}

bool NodeContext::const_bool(size_t i) const { return const_int(i) != 0; }

std::string NodeContext::const_str(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::string) return v.c.s;
    fail("input ", i, " must be a constant string");
}

std::vector<int64_t> NodeContext::const_ints(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::runtime_list) fail("input ", i, " must be a constant int list, got a list of run-time length");
    if (v.kind == TValue::Kind::tensor) {
        if (auto c = v.out.node->constant_value()) return c->as_i64_vector();
        fail("input ", i, " must be a constant int list, got a value computed at run time");
    }
    if (v.kind == TValue::Kind::list) {
        // Items may be constants or tensors folded to constants (e.g. x.size(1) of a static dim).
        std::vector<int64_t> r;
        for (auto& item : v.items) {
            if (item.kind == TValue::Kind::tensor) {
                auto c = item.out.node->constant_value();
                if (!c || c->size() != 1) fail("input ", i, " must be a constant int list, got a list computed at run time");
                r.push_back(c->as_i64_vector()[0]);
            } else if (item.kind == TValue::Kind::constant && item.c.kind == ConstValue::Kind::integer) {
                r.push_back(item.c.i);
            } else {
                fail("input ", i, " must be an int list, got ", v.as_const().to_string());
            }
        }
        return r;
    }
    auto c = v.as_const();
    if (c.kind == ConstValue::Kind::integer) return {c.i};
    if (c.kind == ConstValue::Kind::tensor) return c.tensor.as_i64_vector();
    if (c.kind != ConstValue::Kind::list) fail("input ", i, " must be an int list, got ", c.to_string());
    std::vector<int64_t> r;
    for (auto& item : c.items) {
        if (item.kind != ConstValue::Kind::integer) fail("input ", i, " must be an int list, got ", c.to_string());
        r.push_back(item.i);
    }
    return r;
}

std::vector<TValue> NodeContext::list(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::list) return v.items;
    if (v.kind == TValue::Kind::runtime_list)
        fail("input ", i, " is a list whose length is known only at run time (from a split, chunk or unbind "
             "of a dynamic dimension, or appended to in a loop); kiln needs its length here: unpack it into "
             "names, or give the dimension's size with input=");
    if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::list) {
        std::vector<TValue> r;
        for (auto& c : v.c.items) r.emplace_back(c);
        return r;
    }
    fail("input ", i, " must be a list");
}

OutputVector NodeContext::tensor_list(size_t i) {
    OutputVector r;
    for (auto& item : list(i)) r.push_back(tensor_of(item));
    return r;
}

bool NodeContext::is_scalar(size_t i) const {
    auto& v = value(i);
    if (v.kind == TValue::Kind::constant)
        return v.c.kind == ConstValue::Kind::integer || v.c.kind == ConstValue::Kind::floating ||
               v.c.kind == ConstValue::Kind::boolean;
    return v.kind == TValue::Kind::tensor && v.scalar;
}

const std::string& NodeContext::output_type(size_t i) const {
    static const std::string unknown;
    return i < node_.output_types.size() ? node_.output_types[i] : unknown;
}

}  // namespace kiln::frontend::pytorch
