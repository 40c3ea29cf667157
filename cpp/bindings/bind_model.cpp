// kiln.Model, its ports and nodes.
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <functional>

#include "common.hpp"
#include "port.hpp"

namespace kiln::bindings {

std::vector<Port> model_inputs(const Model& m) {
    std::vector<Port> r;
    for (size_t i = 0; i < m.parameters().size(); ++i) {
        auto& p = m.parameters()[i];
        auto names = p->output_names(0);
        if (names.empty()) names.push_back(m.input_name(i));
        r.push_back(Port{true, i, names, p->output_type(0), p->output_shape(0)});
    }
    return r;
}

std::vector<Port> model_outputs(const Model& m) {
    std::vector<Port> r;
    for (size_t i = 0; i < m.results().size(); ++i) {
        auto& res = m.results()[i];
        r.push_back(Port{false, i, m.output_names(i), res->output_type(0), res->output_shape(0)});
    }
    return r;
}

static size_t find_port(const std::vector<Port>& ports, nb::handle key, const char* what) {
    if (nb::isinstance<nb::int_>(key)) {
        auto i = nb::cast<int64_t>(key);
        if (i < 0) i += static_cast<int64_t>(ports.size());
        if (i < 0 || i >= static_cast<int64_t>(ports.size()))
            throw nb::index_error(str_cat(what, " index ", nb::cast<int64_t>(key), " is out of range (there are ",
                                          ports.size(), ")").c_str());
        return static_cast<size_t>(i);
    }
    auto name = nb::cast<std::string>(key);
    for (auto& p : ports)
        for (auto& n : p.names)
            if (n == name) return p.index;
    std::string known;
    for (auto& p : ports) known += (known.empty() ? "'" : ", '") + p.any_name() + "'";
    throw nb::key_error(str_cat("no ", what, " named '", name, "'; the model has: ", known).c_str());
}

void init_model(nb::module_& m) {
    nb::class_<Port>(m, "Port", "An input or output of a model: names, element type, partial shape.")
        .def_ro("index", &Port::index, "Position among the model's inputs or outputs.")
        .def_ro("is_input", &Port::is_input, "True for an input, False for an output.")
        .def_prop_ro("names", [](const Port& p) { return p.names; }, "All tensor names.")
        .def_prop_ro("any_name", &Port::any_name, "The first tensor name.")
        .def("get_any_name", &Port::any_name, "The first tensor name.")
        .def("get_names", [](const Port& p) { return p.names; }, "All tensor names.")
        .def("get_index", [](const Port& p) { return p.index; }, "Position among the inputs or outputs.")
        .def_ro("element_type", &Port::type, "Element type.")
        .def("get_element_type", [](const Port& p) { return p.type; }, "Element type.")
        .def_ro("partial_shape", &Port::shape, "Shape, possibly dynamic.")
        .def("get_partial_shape", [](const Port& p) { return p.shape; }, "Shape, possibly dynamic.")
        .def_prop_ro("shape", [](const Port& p) { return p.shape.to_shape(); }, "Static shape (raises if dynamic).")
        .def("__eq__", [](const Port& a, const Port& b) { return a == b; })
        .def("__hash__", [](const Port& p) {
            return std::hash<std::string>()(p.any_name()) ^ (p.index * 31 + p.is_input);
        })
        .def("__repr__", [](const Port& p) {
            return str_cat("<", p.is_input ? "Input" : "Output", " '", p.any_name(), "': ", type_name(p.type),
                           p.shape.to_string(), ">");
        });

    nb::class_<Node>(m, "Node", "One operation of a kiln graph.")
        .def("get_type_name", [](const Node& n) { return std::string(n.type_name()); }, "IR type, e.g. 'Convolution'.")
        .def_prop_ro("type_name", [](const Node& n) { return std::string(n.type_name()); }, "IR type.")
        .def_prop_ro("opset", [](const Node& n) { return std::string(n.opset()); }, "Opset of the type.")
        .def("get_friendly_name", &Node::name, "The node's name.")
        .def_prop_ro("name", &Node::name, "The node's name.")
        .def_prop_ro("source", &Node::source, "The torch source line this node came from.")
        .def_prop_ro("attributes", [](Node& n) { return n.attributes_string(); }, "Attributes as text.")
        .def("get_output_size", &Node::num_outputs, "Number of outputs.")
        .def("get_input_size", &Node::num_inputs, "Number of inputs.")
        .def("get_output_element_type", &Node::output_type, "i"_a, "Element type of output i.")
        .def("get_output_partial_shape", &Node::output_shape, "i"_a, "Partial shape of output i.")
        .def("get_input_node_shared_ptr", [](const Node& n, size_t i) {
            if (i >= n.num_inputs()) throw nb::index_error(str_cat("input ", i, " of a node with ", n.num_inputs(), " inputs").c_str());
            return n.input(i).node;
        }, "i"_a, "The node that produces input i (as OpenVINO's Node.get_input_node_shared_ptr).")
        .def("get_data", [](const Node& n) -> nb::object {
            const Tensor* c = n.constant_value();
            if (!c) throw nb::value_error(str_cat("<", n.type_name(), " '", n.name(), "'> is not a Constant").c_str());
            return tensor_to_numpy(*c);
        }, "A Constant's value, as a numpy array (a copy).")
        .def("__repr__", [](const Node& n) { return str_cat("<", n.type_name(), " '", n.name(), "'>"); });

    nb::class_<Model>(m, "Model", "A kiln graph: inputs, outputs, operations.")
        .def_prop_ro("inputs", [](const Model& md) { return model_inputs(md); }, "The model's inputs.")
        .def_prop_ro("outputs", [](const Model& md) { return model_outputs(md); }, "The model's outputs.")
        .def("input", [](const Model& md, nb::handle key) {
            auto ports = model_inputs(md);
            return ports[find_port(ports, key, "input")];
        }, "key"_a = 0, "An input by index or name.")
        .def("output", [](const Model& md, nb::handle key) {
            auto ports = model_outputs(md);
            return ports[find_port(ports, key, "output")];
        }, "key"_a = 0, "An output by index or name.")
        .def_prop_rw("name", &Model::name, &Model::set_name, "The model's name.")
        .def_prop_rw("equal_input_dims", &Model::equal_input_dims, &Model::set_equal_input_dims,
                     "Groups of (input index, axis) that are one dimension (torch.export's shared sizes); "
                     "inference refuses inputs whose lengths differ within a group.")
        .def("get_ops", [](const Model& md) { return md.ordered_ops(); }, "All operations in topological order.")
        .def("get_ordered_ops", [](const Model& md) { return md.ordered_ops(); }, "Same as get_ops().")
        .def("clone", [](const Model& md) { return md.clone(); }, "A deep copy (weights shared).")
        .def("validate", [](const Model& md) { validate_model(md); }, "Checks the graph's invariants.")
        .def("_reshape", [](Model& md, const std::map<size_t, PartialShape>& shapes) { md.reshape(shapes); },
             "shapes"_a, "Sets input shapes by index and re-infers every shape.")
        .def("_input_index", [](const Model& md, nb::handle key) {
            return find_port(model_inputs(md), key, "input");
        }, "key"_a, "Index of an input given by index or name.")
        .def("__str__", &Model::to_string)
        .def("__repr__", [](const Model& md) {
            std::string r = "<Model '" + md.name() + "'\n  inputs:";
            for (auto& p : model_inputs(md)) r += " " + p.any_name() + ":" + type_name(p.type) + p.shape.to_string();
            r += "\n  outputs:";
            for (auto& p : model_outputs(md)) r += " " + p.any_name() + ":" + type_name(p.type) + p.shape.to_string();
            return r + ">";
        });
}

}  // namespace kiln::bindings
