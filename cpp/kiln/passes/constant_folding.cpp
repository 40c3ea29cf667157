#include "kiln/passes/constant_folding.hpp"

#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "kiln/ops/control_flow.hpp"

namespace kiln::passes {

namespace {

bool is_type(const Node& n, const char* t) { return std::strcmp(n.type_name(), t) == 0; }

std::shared_ptr<op::Constant> shape_constant(const Node& shape_of) {
    Shape s = shape_of.input(0).shape().to_shape();
    Tensor t(shape_of.output_type(0), {static_cast<int64_t>(s.size())});
    convert_elements(s.data(), Type::i64, t.data(), t.type(), s.size());
    return make<op::Constant>({}, std::move(t));
}

// Copies the taken body of an If with a known condition into the graph in its place.
void inline_if(Model& m, op::If& n, bool cond) {
    size_t b = cond ? 0 : 1;
    const Model& body = b ? *n.else_body : *n.then_body;
    std::unordered_map<Node*, Output> map;  // body node -> its copy (output 0 for a parameter)
    for (auto& d : n.inputs_of(b))
        map[body.parameters().at(static_cast<size_t>(d.body_parameter_index)).get()] =
            n.input(static_cast<size_t>(d.input_index));
    std::unordered_map<Node*, NodePtr> copies;
    for (auto& x : body.ordered_ops()) {
        if (is_type(*x, "Parameter") || is_type(*x, "Result")) continue;
        OutputVector ins;
        for (auto& i : x->inputs()) {
            auto p = map.find(i.node.get());
            ins.push_back(p != map.end() ? p->second : Output{copies.at(i.node.get()), i.index});
        }
        auto c = x->clone(ins);
        c->set_name(n.name() + "/" + x->name());
        if (c->source().empty()) c->set_source(n.source());
        copies[x.get()] = c;
    }
    for (auto& d : n.outputs_of(b)) {
        auto& src = body.results().at(static_cast<size_t>(d.body_value_index))->input(0);
        auto p = map.find(src.node.get());
        Output to = p != map.end() ? p->second : Output{copies.at(src.node.get()), src.index};
        replace_output(m, n.output(static_cast<size_t>(d.output_index)), to);
    }
}

size_t fold_pass(Model& m, int64_t max_elements, bool& inlined) {
    size_t folded = 0;
    for (auto& n : m.ordered_ops()) {
        if (is_type(*n, "Parameter") || is_type(*n, "Constant")) continue;
        // Inputs folded just before this node may make its shapes known: infer again.
        with_source(*n, [&] { n->validate_and_infer(); });
        if (is_type(*n, "Result")) continue;
        OutputVector replacement;
        if (is_type(*n, "ShapeOf") && n->input(0).shape().is_static()) {
            replacement.push_back(shape_constant(*n)->output(0));
        } else if (is_type(*n, "Choose") && n->input(0).node->constant_value()) {
            // A branch decided: its value replaces Choose, the other branch goes out of the graph.
            bool yes = n->input(0).node->constant_value()->as_i64_vector().at(0) != 0;
            auto chosen = n->input(yes ? 1 : 2);
            replace_output(m, n->output(0), chosen);
            ++folded;
            continue;
        } else if (auto* f = dynamic_cast<op::If*>(n.get()); f && n->input(0).node->constant_value()) {
            // As fast as Choose once planned: the taken body becomes part of the graph (and is
            // folded on the next round), the other one is dropped.
            inline_if(m, *f, n->input(0).node->constant_value()->as_i64_vector().at(0) != 0);
            inlined = true;
            ++folded;
            continue;
        } else {
            // A Loop over constants is left to run: folding it could take as long as the loop.
            // RandomUniform gives new numbers at each run.
            bool all_const = n->num_inputs() > 0 && n->has_evaluate() && !dynamic_cast<op::Loop*>(n.get()) &&
                             !is_type(*n, "RandomUniform");
            std::vector<Tensor> in;
            for (auto& i : n->inputs()) {
                auto v = i.node->constant_value();
                if (!v) {
                    all_const = false;
                    break;
                }
                in.push_back(*v);
            }
            if (!all_const) continue;
            std::vector<Tensor> out;
            bool ok = true;
            for (size_t i = 0; i < n->num_outputs() && ok; ++i) {
                auto& s = n->output_shape(i);
                if (!s.is_static() || n->output_type(i) == Type::dynamic ||
                    shape_size(s.to_shape()) > max_elements) {
                    ok = false;
                    break;
                }
                out.emplace_back(n->output_type(i), s.to_shape());
            }
            if (!ok) continue;
            with_source(*n, [&] { n->evaluate_reference(in, out); });
            for (auto& t : out) replacement.push_back(make<op::Constant>({}, std::move(t))->output(0));
        }
        for (size_t i = 0; i < replacement.size(); ++i) {
            replacement[i].node->set_name(n->name() + (replacement.size() > 1 ? "." + std::to_string(i) : ""));
            replace_output(m, n->output(i), replacement[i]);
        }
        ++folded;
    }
    return folded;
}

}  // namespace

size_t fold_constants(Model& m, int64_t max_elements) {
    size_t folded = 0;
    for (int round = 0; round < 64; ++round) {
        bool inlined = false;
        folded += fold_pass(m, max_elements, inlined);
        if (!inlined) break;  // inlined bodies are folded on the next round
    }
    return folded;
}

}  // namespace kiln::passes
