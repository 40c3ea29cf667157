// The one crossing of the PyTorch front end: a graph description made of plain Python data
// (built by kiln/frontend/torch/decoder.py) becomes a GraphDesc and is translated in C++.
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include "common.hpp"
#include "kiln/frontend/pytorch/node_context.hpp"

namespace kiln::bindings {

using namespace kiln::frontend::pytorch;

namespace {

ConstValue parse_const_value(nb::handle v);

// Any constant kiln cannot represent becomes an `unsupported` value: the node that uses it fails
// with what it is and the torch source line (a graph may also carry constants nothing uses).
ConstValue parse_const(nb::handle v) {
    try {
        return parse_const_value(v);
    } catch (const std::exception& e) {
        std::string type = nb::cast<std::string>(nb::str(v.type().attr("__name__")));
        return ConstValue::unsupported_value(str_cat("a ", type, " (", e.what(), ")"));
    }
}

ConstValue parse_const_value(nb::handle v) {
    if (v.is_none()) return ConstValue::none();
    if (nb::isinstance<nb::bool_>(v)) return ConstValue::boolean(nb::cast<bool>(v));
    if (nb::isinstance<nb::int_>(v)) return ConstValue::integer(nb::cast<int64_t>(v));
    if (nb::isinstance<nb::float_>(v)) return ConstValue::floating(nb::cast<double>(v));
    if (nb::isinstance<nb::str>(v)) return ConstValue::string(nb::cast<std::string>(v));
    if (nb::isinstance<Tensor>(v)) return ConstValue::tensor_value(nb::cast<Tensor>(v));
    if (nb::isinstance<nb::list>(v) || nb::isinstance<nb::tuple>(v)) {
        std::vector<ConstValue> items;
        for (auto item : v) items.push_back(parse_const(item));
        return ConstValue::list(std::move(items));
    }
    if (nb::isinstance<nb::dict>(v)) {  // a dict constant ({} included): keys as text, as prim::DictConstruct
        ConstValue c = ConstValue::list({});
        for (auto [k, item] : nb::cast<nb::dict>(v)) {
            c.keys.push_back(nb::cast<std::string>(nb::str(k)));
            c.items.push_back(parse_const(item));
        }
        return c;
    }
    // The decoder hands over what it cannot convert as ("unsupported", description).
    if (nb::hasattr(v, "kiln_unsupported"))
        return ConstValue::unsupported_value(nb::cast<std::string>(v.attr("kiln_unsupported")));
    return ConstValue::tensor_value(tensor_from_array(v, "constant"));
}

std::vector<int64_t> ids(nb::handle h) {
    std::vector<int64_t> r;
    for (auto v : h) r.push_back(nb::cast<int64_t>(v));
    return r;
}

BlockDesc parse_block(nb::handle b);

NodeDesc parse_node(nb::handle n) {
    auto t = nb::cast<nb::tuple>(n);
    if (t.size() != 7 && t.size() != 8)
        throw ValueError("graph description: a node is (kind, inputs, outputs, output_types, name, source, blocks[, out_args])");
    NodeDesc d;
    d.kind = nb::cast<std::string>(t[0]);
    d.inputs = ids(t[1]);
    d.outputs = ids(t[2]);
    for (auto s : t[3]) d.output_types.push_back(nb::cast<std::string>(s));
    d.name = nb::cast<std::string>(t[4]);
    d.source = nb::cast<std::string>(t[5]);
    for (auto b : t[6]) d.blocks.push_back(parse_block(b));
    if (t.size() == 8) d.out_args = ids(t[7]);
    return d;
}

BlockDesc parse_block(nb::handle b) {
    auto t = nb::cast<nb::tuple>(b);
    if (t.size() != 3) throw ValueError("graph description: a block is (inputs, nodes, outputs)");
    BlockDesc d;
    d.inputs = ids(t[0]);
    for (auto n : t[1]) d.nodes.push_back(parse_node(n));
    d.outputs = ids(t[2]);
    return d;
}

GraphDesc parse_graph(nb::handle g) {
    auto t = nb::cast<nb::tuple>(g);
    if (t.size() != 5)
        throw ValueError("graph description: (name, inputs, body, output_names, constants) expected");
    GraphDesc d;
    d.name = nb::cast<std::string>(t[0]);
    for (auto in : t[1]) {
        auto it = nb::cast<nb::tuple>(in);
        d.inputs.push_back(InputDesc{nb::cast<int64_t>(it[0]), nb::cast<std::string>(it[1]), nb::cast<Type>(it[2]),
                                     nb::cast<PartialShape>(it[3])});
    }
    d.body = parse_block(t[2]);
    for (auto n : t[3]) d.output_names.push_back(nb::cast<std::string>(n));
    for (auto [k, v] : nb::cast<nb::dict>(t[4])) d.constants[nb::cast<int64_t>(k)] = parse_const(v);
    return d;
}

}  // namespace

void init_frontend(nb::module_& m) {
    m.def("_translate_torch_graph", [](nb::handle desc) { return translate_graph(parse_graph(desc)); }, "desc"_a,
          "Translates a graph description made by kiln.frontend.torch.decoder into a kiln.Model.");
    m.def("_has_torch_translator", [](const std::string& kind) { return find_translator(kind) != nullptr; },
          "kind"_a, "True when kiln can translate this torch node kind.");
}

}  // namespace kiln::bindings
