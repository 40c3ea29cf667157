#include "kiln/core/interpreter.hpp"

#include <cstring>
#include <unordered_map>

#include "kiln/passes/constant_folding.hpp"

namespace kiln {

std::vector<Tensor> evaluate_model(const Model& m, const std::vector<Tensor>& inputs) {
    auto& params = m.parameters();
    KILN_CHECK(inputs.size() == params.size(), "model ", m.name(), " takes ", params.size(), " inputs, got ",
               inputs.size());
    std::unordered_map<const Node*, std::vector<Tensor>> values;
    for (size_t i = 0; i < params.size(); ++i) {
        auto& p = *params[i];
        KILN_CHECK(p.element_type == Type::dynamic || inputs[i].type() == p.element_type, "model ", m.name(),
                   " input ", i, " (", p.name(), "): expected ", type_name(p.element_type), ", got ",
                   type_name(inputs[i].type()));
        values[&p] = {inputs[i]};
    }
    for (auto& n : m.ordered_ops()) {
        if (values.count(n.get())) continue;  // a parameter
        if (auto c = n->constant_value()) {
            values[n.get()] = {*c};
            continue;
        }
        std::vector<Tensor> in;
        std::vector<TensorDesc> descs;
        std::vector<const Tensor*> known;
        for (auto& o : n->inputs()) in.push_back(values.at(o.node.get()).at(o.index));
        for (auto& t : in) {
            descs.push_back(TensorDesc{t.type(), PartialShape(t.shape())});
            known.push_back(&t);
        }
        // Every input value is known here, so infer() finds the exact output shapes (including
        // those computed from shape tensors); only data-dependent ones stay open.
        InferContext ctx(*n, std::move(descs), std::move(known));
        n->infer(ctx);
        std::vector<Tensor> out;
        for (auto& d : ctx.outputs()) {
            if (d.shape.is_static() && d.type != Type::dynamic) out.emplace_back(d.type, d.shape.to_shape());
            else out.emplace_back();
        }
        n->evaluate_reference(in, out);
        for (size_t i = 0; i < out.size(); ++i)
            KILN_CHECK_NODE(*n, allocated(out[i]), "output ", i, " has shape ", ctx.outputs()[i].shape.to_string(),
                            " even with every input known, and the reference kernel did not produce it");
        values[n.get()] = std::move(out);
    }
    std::vector<Tensor> r;
    for (auto& res : m.results()) r.push_back(values.at(res.get()).at(0));
    return r;
}

std::shared_ptr<Model> specialize(const Model& m, const std::vector<TensorDesc>& inputs,
                                  const std::vector<const Tensor*>& values, int64_t max_fold_elements) {
    auto c = m.clone();
    auto& params = c->parameters();
    KILN_CHECK(inputs.size() == params.size(), "model ", m.name(), " takes ", params.size(), " inputs, got ",
               inputs.size());
    for (size_t i = 0; i < params.size(); ++i) {
        if (inputs[i].type != Type::dynamic) params[i]->element_type = inputs[i].type;
        params[i]->shape = inputs[i].shape;
        params[i]->validate_and_infer();
        if (i < values.size() && values[i]) {
            auto k = make<op::Constant>({}, *values[i]);
            k->set_name(params[i]->name());
            replace_output(*c, params[i]->output(0), k->output(0));
        }
    }
    // Folding re-infers every node in order before it tries to fold it.
    passes::fold_constants(*c, max_fold_elements);
    return c;
}

void deliver(Tensor& dst, const Tensor& value, const std::string& what) {
    if (!allocated(dst)) {
        dst = value;
        return;
    }
    KILN_CHECK(dst.type() == value.type() && dst.shape() == value.shape(), what, " is ", type_name(value.type()),
               to_string(value.shape()), ", expected ", type_name(dst.type()), to_string(dst.shape()));
    if (value.byte_size()) std::memcpy(dst.data(), value.data(), value.byte_size());
}

}  // namespace kiln
