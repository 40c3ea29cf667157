#include "kiln/passes/constant_folding.hpp"

#include <cstring>
#include <string>
#include <unordered_set>

namespace kiln::passes {

namespace {

bool is_type(const Node& n, const char* t) { return std::strcmp(n.type_name(), t) == 0; }

std::shared_ptr<op::Constant> shape_constant(const Node& shape_of) {
    Shape s = shape_of.input(0).shape().to_shape();
    Tensor t(shape_of.output_type(0), {static_cast<int64_t>(s.size())});
    convert_elements(s.data(), Type::i64, t.data(), t.type(), s.size());
    return make<op::Constant>({}, std::move(t));
}

}  // namespace

size_t fold_constants(Model& m, int64_t max_elements) {
    size_t folded = 0;
    std::unordered_set<Node*> result_inputs;
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
        } else {
            bool all_const = n->num_inputs() > 0 && n->has_evaluate();
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
            with_source(*n, [&] { n->evaluate(in, out); });
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

}  // namespace kiln::passes
