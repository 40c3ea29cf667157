// The IR v11 reader. Every fault becomes an IRError "<file>: layer <id> '<name>' (<Type>-<version>):
// <fault>" (sub-graph layers after their If/Loop layer's own description). Nothing is allocated
// from a size the file claims before that claim is checked against the file itself.
#include <pugixml.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <unordered_map>

#include "kiln/core/op_factory.hpp"
#include "kiln/io/ir.hpp"
#include "kiln/io/ir_format.hpp"
#include "kiln/io/mapped_file.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/indexing.hpp"

namespace kiln::io {

namespace {

constexpr int kMaxDepth = 16;  // sub-graphs nested deeper than this are refused

// The weights: a mapped file, memory the caller gave, or none (with the reason).
struct Weights {
    const unsigned char* data = nullptr;
    size_t size = 0;
    std::shared_ptr<void> owner;
    std::string path;           // for messages
    std::string missing;        // why there are no weights, when there are none
    bool present = false;
};

// Attributes the specification gives a default to: a file may leave them out. Every other
// attribute an op visits is required.
const std::set<std::string>& optional_attributes(const std::string& type) {
    static const std::map<std::string, std::set<std::string>> table = {
        {"Convolution", {"auto_pad"}},
        {"GroupConvolution", {"auto_pad"}},
        {"MaxPool", {"auto_pad", "rounding_type", "dilations", "index_element_type", "axis"}},
        {"AvgPool", {"auto_pad", "rounding_type"}},
        {"Divide", {"m_pythondiv", "auto_broadcast"}},
        {"Select", {"auto_broadcast"}},
        {"StridedSlice", {"new_axis_mask", "shrink_axis_mask", "ellipsis_mask"}},
        {"Interpolate", {"coordinate_transformation_mode", "nearest_mode", "antialias", "pads_begin", "pads_end",
                         "cube_coeff"}},
        {"TopK", {"stable"}},
        {"ShapeOf", {"output_type"}},
        {"Gather", {"batch_dims"}},
        {"GatherND", {"batch_dims"}},
        {"CumSum", {"exclusive", "reverse"}},
        {"Pad", {"pad_mode"}},
        {"Gelu", {"approximation_mode"}},
        {"Softmax", {"axis"}},
        {"LogSoftmax", {"axis"}},
        {"Broadcast", {"mode"}},
        {"GridSample", {"align_corners", "mode", "padding_mode"}},
        {"Col2Im", {"strides", "dilations", "pads_begin", "pads_end"}},
        {"AdaptiveMaxPool", {"index_element_type"}},
        {"ReduceSum", {"keep_dims"}},
        {"ReduceMean", {"keep_dims"}},
        {"ReduceMax", {"keep_dims"}},
        {"ReduceMin", {"keep_dims"}},
        {"ReduceProd", {"keep_dims"}},
        {"ReduceL1", {"keep_dims"}},
        {"ReduceL2", {"keep_dims"}},
    };
    static const std::set<std::string> binary = {"auto_broadcast"};
    static const std::set<std::string> none;
    auto it = table.find(type);
    if (it != table.end()) return it->second;
    // The element-wise binary ops: auto_broadcast defaults to numpy.
    static const std::set<std::string> binaries = {
        "Add", "Subtract", "Multiply", "Maximum", "Minimum", "SquaredDifference", "Power", "FloorMod", "Mod",
        "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
        "LogicalXor", "BitwiseAnd", "BitwiseOr", "BitwiseXor"};
    return binaries.count(type) ? binary : none;
}

// The context of what is being read, for error messages.
struct Where {
    std::string file;
    std::string prefix;  // "layer 7 'loop' (Loop-5), body: " for a sub-graph
};

[[noreturn]] void fail(const Where& w, const std::string& msg) { throw IRError(str_cat(w.file, ": ", w.prefix, msg)); }

struct PortInfo {
    int64_t id = 0;
    std::optional<Type> type;                   // the precision, when given
    std::optional<std::vector<int64_t>> dims;   // <dim> values (-1: dynamic)
    std::vector<std::string> names;
};

struct Layer {
    pugi::xml_node el;
    size_t position = 0;  // in the file
    int64_t id = 0;
    std::string name, type, version;
    std::vector<PortInfo> inputs, outputs;
    std::string what;  // "layer 3 'conv' (Convolution-1)"
};

std::string attr_text(pugi::xml_node n, const char* name) { return n.attribute(name).value(); }

class DataReader : public AttributeVisitor {
public:
    DataReader(pugi::xml_node data, const std::set<std::string>& optional, const Weights& weights,
               std::function<void(const std::string&)> fail)
        : data_(data), optional_(optional), weights_(weights), fail_(std::move(fail)) {}
    Direction direction() const override { return Direction::read; }

    void on(const char* n, bool& v) override {
        if (auto s = get(n)) v = need(parse_bool(*s), n, *s, "true or false");
    }
    void on(const char* n, int64_t& v) override {
        if (auto s = get(n)) v = need(parse_int(*s), n, *s, "an integer");
    }
    void on(const char* n, double& v) override {
        if (auto s = get(n)) v = need(parse_double(*s), n, *s, "a number");
    }
    void on(const char* n, std::string& v) override {
        if (auto s = get(n)) v = *s;
    }
    void on(const char* n, std::vector<int64_t>& v) override {
        if (auto s = get(n)) v = need(parse_ints(*s), n, *s, "a comma-separated list of integers");
    }
    void on(const char* n, std::vector<double>& v) override {
        if (auto s = get(n)) v = need(parse_doubles(*s), n, *s, "a comma-separated list of numbers");
    }
    void on(const char* n, Type& v) override {
        if (auto s = get(n)) v = need(type_from_ir_name(*s), n, *s, "an element type kiln knows (f32, f16, bf16, f64, i64, i32, i16, i8, u64, u32, u16, u8, boolean)");
    }
    void on(const char* n, PartialShape& v) override {
        if (auto s = get(n)) v = need(parse_partial_shape(*s), n, *s, "a shape such as \"?,3,224,224\"");
    }
    void on_tensor(const char*, Tensor& t) override {
        auto off_s = get("offset"), size_s = get("size");
        if (!off_s || !size_s) return;
        auto off = parse_int(*off_s), size = parse_int(*size_s);
        if (!off || *off < 0) die(str_cat("attribute 'offset' has value '", *off_s, "', expected a byte offset >= 0"));
        if (!size || *size < 0) die(str_cat("attribute 'size' has value '", *size_s, "', expected a byte count >= 0"));
        // The bytes the declared type and shape need, without overflow.
        uint64_t bytes = type_size(t.type());
        for (auto d : t.shape()) {
            if (d < 0) die(str_cat("negative dimension in shape ", to_string(t.shape())));
            if (d != 0 && bytes > (uint64_t(1) << 62) / static_cast<uint64_t>(d))
                die(str_cat("shape ", to_string(t.shape()), " of ", type_name(t.type()), " is too large"));
            bytes *= static_cast<uint64_t>(d);
        }
        if (static_cast<uint64_t>(*size) != bytes)
            die(str_cat("size=", *size, " bytes does not fit the declared ", type_name(t.type()), " shape ",
                          to_string(t.shape()), " (", bytes, " bytes)"));
        if (bytes == 0) {
            t = Tensor(t.type(), t.shape());
            return;
        }
        if (!weights_.present) die(str_cat("needs ", bytes, " bytes of weights, but ", weights_.missing));
        uint64_t end = static_cast<uint64_t>(*off) + bytes;
        if (end > weights_.size)
            die(str_cat("offset ", *off, " + size ", bytes, " = ", end, " is past the end of the weights ",
                          weights_.path, " (", weights_.size, " bytes)"));
        const unsigned char* p = weights_.data + *off;
        bool odd_bools = false;
        if (t.type() == Type::boolean)
            for (uint64_t i = 0; i < bytes && !odd_bools; ++i) odd_bools = p[i] > 1;
        if (odd_bools) {
            // A boolean is one byte 0 or 1 in kiln; any other byte value reads as true.
            Tensor c(t.type(), t.shape());
            auto* q = static_cast<unsigned char*>(c.data());
            for (uint64_t i = 0; i < bytes; ++i) q[i] = p[i] != 0;
            t = c;
        } else if (reinterpret_cast<uintptr_t>(p) % type_size(t.type()) != 0) {
            // Packed by an earlier constant of another size: an aligned copy (the bytes are there).
            Tensor c(t.type(), t.shape());
            std::memcpy(c.data(), p, bytes);
            t = c;
        } else {
            t = Tensor(t.type(), t.shape(), const_cast<unsigned char*>(p), weights_.owner);
        }
    }

    // Attributes in the file that the op does not have.
    std::vector<std::string> unknown() const {
        std::vector<std::string> r;
        if (!data_) return r;
        for (auto a : data_.attributes())
            if (!seen_.count(a.name())) r.push_back(a.name());
        return r;
    }

private:
    std::optional<std::string> get(const char* n) {
        seen_.insert(n);
        auto a = data_ ? data_.attribute(n) : pugi::xml_attribute();
        if (!a) {
            if (optional_.count(n)) return std::nullopt;
            die(str_cat("missing attribute '", n, "'"));
        }
        return std::string(a.value());
    }
    template <typename T>
    T need(std::optional<T> v, const char* n, const std::string& s, const char* expected) {
        if (!v) die(str_cat("attribute '", n, "' has value '", s, "', expected ", expected));
        return std::move(*v);
    }
    [[noreturn]] void die(const std::string& m) const {
        fail_(m);
        throw IRError(m);  // fail_ throws first
    }

    pugi::xml_node data_;
    const std::set<std::string>& optional_;
    const Weights& weights_;
    std::function<void(const std::string&)> fail_;
    std::set<std::string> seen_;
};

// What a graph's layer ids became: parameter and result indices (for port maps and back edges).
struct GraphMap {
    std::unordered_map<int64_t, size_t> param_of_layer, result_of_layer;
};

class Reader {
public:
    Reader(std::string file, const Weights& w) : file_(std::move(file)), weights_(w) {}
    std::shared_ptr<Model> read_net(const pugi::xml_document& doc);

private:
    std::shared_ptr<Model> read_graph(pugi::xml_node el, const Where& where, int depth, GraphMap& map);
    NodePtr make_node(const Layer& l, const Where& lw, int depth);
    void read_if(const Layer& l, op::If& f, const Where& lw, int depth);
    void read_loop(const Layer& l, op::Loop& f, const Where& lw, int depth);

    std::string file_;
    const Weights& weights_;
};

std::optional<int64_t> int_attr(pugi::xml_node n, const char* name) {
    auto a = n.attribute(name);
    if (!a) return std::nullopt;
    return parse_int(a.value());
}

int64_t need_int(const Where& w, pugi::xml_node n, const char* name, const std::string& what) {
    auto a = n.attribute(name);
    if (!a) fail(w, str_cat(what, " has no attribute '", name, "'"));
    auto v = parse_int(a.value());
    if (!v) fail(w, str_cat(what, ": attribute '", name, "' has value '", a.value(), "', expected an integer"));
    return *v;
}

std::vector<PortInfo> read_ports(const Where& w, pugi::xml_node ports, bool output) {
    std::vector<PortInfo> r;
    if (!ports) return r;
    std::set<int64_t> ids;
    for (auto p : ports.children()) {
        if (std::strcmp(p.name(), "port") != 0) fail(w, str_cat("unexpected <", p.name(), "> in <", ports.name(), ">"));
        PortInfo pi;
        pi.id = need_int(w, p, "id", "a port");
        if (!ids.insert(pi.id).second) fail(w, str_cat("port id ", pi.id, " appears twice"));
        if (auto a = p.attribute("precision")) {
            pi.type = type_from_precision(a.value());
            if (!pi.type) fail(w, str_cat("port ", pi.id, ": unknown precision '", a.value(), "'"));
        } else if (output) {
            fail(w, str_cat("output port ", pi.id, " has no precision"));
        }
        if (auto a = p.attribute("names")) pi.names = parse_names(a.value());
        std::vector<int64_t> dims;
        for (auto d : p.children()) {
            if (std::strcmp(d.name(), "dim") != 0) {
                if (std::strcmp(d.name(), "rt_info") == 0) continue;
                fail(w, str_cat("port ", pi.id, ": unexpected <", d.name(), ">"));
            }
            auto v = parse_int(d.text().get());
            if (!v || *v < -1) fail(w, str_cat("port ", pi.id, ": <dim> '", d.text().get(), "' is not a dimension"));
            dims.push_back(*v);
        }
        pi.dims = dims;
        r.push_back(pi);
    }
    return r;
}

// The declared port against the inferred output: the same type, and dims that can be equal.
void check_port(const Where& w, const PortInfo& p, Type t, const PartialShape& s, size_t index) {
    if (p.type && *p.type != Type::dynamic && t != Type::dynamic && *p.type != t)
        fail(w, str_cat("output port ", p.id, " is declared ", precision_name(*p.type), " but shape inference gives ",
                        type_name(t)));
    if (!p.dims || s.rank_is_dynamic()) return;
    const auto& d = *p.dims;
    // No <dim> is both a scalar and a dynamic rank in IR v11: only a real rank can contradict it.
    if (d.empty()) return;
    bool ok = static_cast<int64_t>(d.size()) == s.rank();
    for (size_t i = 0; ok && i < d.size(); ++i)
        if (d[i] >= 0 && !s[i].compatible(d[i])) ok = false;
    if (!ok) {
        std::string decl = "[";
        for (size_t i = 0; i < d.size(); ++i) decl += (i ? "," : "") + (d[i] < 0 ? std::string("?") : std::to_string(d[i]));
        fail(w, str_cat("output port ", p.id, " (output ", index, ") is declared ", decl, "] but shape inference gives ",
                        s.to_string()));
    }
}

// "0:1,1:1;2:0" (see the writer) -> the model's equal input dims.
void read_equal_dims(Model& m, const std::string& text, const Where& w) {
    std::vector<Model::DimGroup> groups;
    std::stringstream all(text);
    std::string group, member;
    while (std::getline(all, group, ';')) {
        Model::DimGroup g;
        std::stringstream gs(group);
        while (std::getline(gs, member, ',')) {
            auto colon = member.find(':');
            auto input = colon == std::string::npos ? std::nullopt : parse_int(member.substr(0, colon));
            auto axis = colon == std::string::npos ? std::nullopt : parse_int(member.substr(colon + 1));
            if (!input || !axis || *input < 0 || *axis < 0)
                fail(w, str_cat("rt_info kiln_equal_input_dims: '", member, "' is not input:axis (in '", text, "')"));
            g.emplace_back(static_cast<size_t>(*input), static_cast<size_t>(*axis));
        }
        if (g.size() < 2) fail(w, str_cat("rt_info kiln_equal_input_dims: the group '", group, "' has fewer than two dims"));
        groups.push_back(std::move(g));
    }
    try {
        m.set_equal_input_dims(std::move(groups));
    } catch (const ValueError& e) {
        fail(w, str_cat("rt_info kiln_equal_input_dims: ", e.what()));
    }
}

std::shared_ptr<Model> Reader::read_net(const pugi::xml_document& doc) {
    Where w{file_, ""};
    auto net = doc.child("net");
    if (!net) fail(w, "the root element is not <net> (not an OpenVINO IR file)");
    auto ver = net.attribute("version");
    if (!ver) fail(w, "<net> has no version (kiln reads IR version 11)");
    auto v = parse_int(ver.value());
    if (!v || (*v != 11 && *v != 10)) fail(w, str_cat("IR version '", ver.value(), "' is not supported (kiln reads versions 10 and 11)"));
    GraphMap map;
    auto m = read_graph(net, w, 0, map);
    if (auto n = net.attribute("name")) m->set_name(n.value());
    if (auto eq = net.child("rt_info").child("kiln_equal_input_dims")) read_equal_dims(*m, eq.attribute("value").value(), w);
    return m;
}

std::shared_ptr<Model> Reader::read_graph(pugi::xml_node el, const Where& where, int depth, GraphMap& map) {
    if (depth > kMaxDepth) fail(where, str_cat("sub-graphs are nested more than ", kMaxDepth, " deep"));
    auto layers_el = el.child("layers");
    if (!layers_el) fail(where, str_cat("<", el.name(), "> has no <layers>"));
    std::vector<Layer> layers;
    std::unordered_map<int64_t, size_t> by_id;
    for (auto le : layers_el.children()) {
        if (std::strcmp(le.name(), "layer") != 0) fail(where, str_cat("unexpected <", le.name(), "> in <layers>"));
        Layer l;
        l.el = le;
        l.position = layers.size();
        auto id = int_attr(le, "id");
        if (!id) fail(where, str_cat("layer number ", layers.size(), " has no valid id (got '", attr_text(le, "id"), "')"));
        l.id = *id;
        l.name = attr_text(le, "name");
        l.type = attr_text(le, "type");
        l.version = attr_text(le, "version");
        l.what = str_cat("layer ", l.id, " '", l.name, "' (", l.type, "-", l.version, ")");
        Where lw{file_, where.prefix + l.what + ": "};
        if (!le.attribute("name")) fail(lw, "missing attribute 'name'");
        if (l.type.empty()) fail(lw, "missing attribute 'type'");
        if (l.version.empty()) fail(lw, "missing attribute 'version'");
        if (!by_id.emplace(l.id, layers.size()).second) fail(lw, str_cat("layer id ", l.id, " is used twice"));
        l.inputs = read_ports(lw, le.child("input"), false);
        l.outputs = read_ports(lw, le.child("output"), true);
        for (auto& o : l.outputs)
            for (auto& i : l.inputs)
                if (o.id == i.id) fail(lw, str_cat("port id ", o.id, " is both an input and an output"));
        layers.push_back(std::move(l));
    }
    // Edges: each input port gets exactly one.
    std::vector<std::vector<std::pair<size_t, size_t>>> source(layers.size());  // [layer][input] -> (layer, output)
    for (size_t k = 0; k < layers.size(); ++k) source[k].assign(layers[k].inputs.size(), {SIZE_MAX, 0});
    auto port_index = [](const std::vector<PortInfo>& ports, int64_t id) -> std::optional<size_t> {
        for (size_t i = 0; i < ports.size(); ++i)
            if (ports[i].id == id) return i;
        return std::nullopt;
    };
    if (auto edges = el.child("edges")) {
        for (auto e : edges.children()) {
            if (std::strcmp(e.name(), "edge") != 0) fail(where, str_cat("unexpected <", e.name(), "> in <edges>"));
            int64_t fl = need_int(where, e, "from-layer", "an edge"), fp = need_int(where, e, "from-port", "an edge");
            int64_t tl = need_int(where, e, "to-layer", "an edge"), tp = need_int(where, e, "to-port", "an edge");
            std::string what = str_cat("edge ", fl, ":", fp, " -> ", tl, ":", tp);
            auto f = by_id.find(fl), t = by_id.find(tl);
            if (f == by_id.end()) fail(where, str_cat(what, ": layer ", fl, " does not exist"));
            if (t == by_id.end()) fail(where, str_cat(what, ": layer ", tl, " does not exist"));
            auto fo = port_index(layers[f->second].outputs, fp);
            if (!fo) fail(where, str_cat(what, ": ", layers[f->second].what, " has no output port ", fp));
            auto ti = port_index(layers[t->second].inputs, tp);
            if (!ti) fail(where, str_cat(what, ": ", layers[t->second].what, " has no input port ", tp));
            auto& slot = source[t->second][*ti];
            if (slot.first != SIZE_MAX)
                fail(where, str_cat(what, ": input port ", tp, " of ", layers[t->second].what, " already has an edge"));
            slot = {f->second, *fo};
        }
    }
    for (size_t k = 0; k < layers.size(); ++k)
        for (size_t i = 0; i < source[k].size(); ++i)
            if (source[k][i].first == SIZE_MAX)
                fail(where, str_cat(layers[k].what, ": input port ", layers[k].inputs[i].id, " has no edge"));
    // Topological order (Kahn, file order among the ready ones); what is left is on a cycle.
    std::vector<size_t> indegree(layers.size(), 0);
    std::vector<std::vector<size_t>> users(layers.size());
    for (size_t k = 0; k < layers.size(); ++k)
        for (auto& s : source[k]) {
            ++indegree[k];
            users[s.first].push_back(k);
        }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
    for (size_t k = 0; k < layers.size(); ++k)
        if (!indegree[k]) ready.push(k);
    std::vector<size_t> order;
    while (!ready.empty()) {
        size_t k = ready.top();
        ready.pop();
        order.push_back(k);
        for (size_t u : users[k])
            if (--indegree[u] == 0) ready.push(u);
    }
    if (order.size() != layers.size()) {
        for (size_t k = 0; k < layers.size(); ++k)
            if (indegree[k]) fail(where, str_cat("the graph has a cycle through ", layers[k].what));
    }
    // The nodes, in that order.
    std::vector<NodePtr> nodes(layers.size());
    for (size_t k : order) {
        const Layer& l = layers[k];
        Where lw{file_, where.prefix + l.what + ": "};
        OutputVector ins;
        for (auto& s : source[k]) {
            auto& src = nodes[s.first];
            if (s.second >= src->num_outputs())
                fail(lw, str_cat("reads output ", s.second, " of ", layers[s.first].what, ", which has ", src->num_outputs(),
                                 " outputs"));
            ins.push_back(src->output(s.second));
        }
        NodePtr n = make_node(l, lw, depth);
        n->set_inputs(ins);
        n->set_name(l.name);
        try {
            n->validate_and_infer();
        } catch (const IRError&) {
            throw;
        } catch (const std::exception& e) {
            fail(lw, str_cat("shape inference failed: ", e.what()));
        }
        const bool is_result = dynamic_cast<op::Result*>(n.get()) != nullptr;
        size_t declared = l.outputs.size();
        if (!is_result && declared != n->num_outputs())
            fail(lw, str_cat("declares ", declared, " output port(s), ", n->type_name(), "-", n->version(), " has ",
                             n->num_outputs()));
        if (is_result && declared != 0) fail(lw, "a Result has no output ports");
        for (size_t i = 0; !is_result && i < declared; ++i) {
            check_port(lw, l.outputs[i], n->output_type(i), n->output_shape(i), i);
            n->set_output_names(i, l.outputs[i].names);
        }
        if (is_result) {
            // IR v11's own names of the output (OpenVINO 2025+ writes them on the Result). The
            // Result is named after the first of them unless its layer name is one; names the
            // producer's port already gives are not repeated on the Result.
            auto& in = n->input(0);
            const auto& produced = in.node->output_names(in.index);
            if (auto a = l.el.attribute("output_names")) {
                auto names = parse_names(a.value());
                if (!names.empty() && std::find(names.begin(), names.end(), l.name) == names.end()) n->set_name(names[0]);
                std::vector<std::string> own;
                for (auto& x : names)
                    if (x != n->name() && std::find(produced.begin(), produced.end(), x) == produced.end()) own.push_back(x);
                n->set_output_names(0, own);
            } else if (!produced.empty()) {
                n->set_name("");
            }
        }
        nodes[k] = n;
    }
    ParameterVector params;
    ResultVector results;
    for (size_t k = 0; k < layers.size(); ++k) {
        if (auto p = std::dynamic_pointer_cast<op::Parameter>(nodes[k])) {
            map.param_of_layer[layers[k].id] = params.size();
            params.push_back(p);
        } else if (auto r = std::dynamic_pointer_cast<op::Result>(nodes[k])) {
            map.result_of_layer[layers[k].id] = results.size();
            results.push_back(r);
        }
    }
    if (results.empty()) fail(where, "the graph has no Result layer");
    return std::make_shared<Model>(results, params, depth == 0 ? "model" : el.name());
}

NodePtr Reader::make_node(const Layer& l, const Where& lw, int depth) {
    std::string type = kiln_type_name(l.type);
    // "kiln": one of kiln's own ops (version 0 in the op factory), written by kiln's writer.
    const bool internal = l.version == "kiln";
    auto opset = internal ? std::optional<int64_t>(0) : parse_opset(l.version);
    if (!opset)
        fail(lw, str_cat("unknown op version '", l.version, "' (kiln reads opset1 to opset", kMaxOpset,
                         " and its own ops, version \"kiln\")"));
    auto rt = l.el.child("rt_info");
    pugi::xml_node index_check;
    for (auto a : rt.children("attribute"))
        if (std::string(a.attribute("name").value()) == "kiln_index_check") index_check = a;
    NodePtr n;
    if (index_check && type == "Minimum") {
        // kiln's IndexCheck, written as Minimum(indices, size) (see ir.hpp).
        bool neg = false;
        std::string what = index_check.attribute("what").value();
        auto b = parse_bool(index_check.attribute("allow_negative").value());
        if (!b) fail(lw, "rt_info kiln_index_check: allow_negative must be true or false");
        neg = *b;
        n = std::make_shared<op::IndexCheck>(neg, what);
    } else {
        auto versions = op_versions(type);
        if (versions.empty()) fail(lw, str_cat("unknown op type '", l.type, "'"));
        int64_t v = internal ? (versions.front() == 0 ? 0 : -1) : version_in_opset(type, *opset);
        if (!internal && v == 0) v = -1;  // a kiln op is not part of any opsetN
        if (v < 0) {
            std::string have;
            for (auto x : versions) have += (have.empty() ? "" : ", ") + type + "-" + std::to_string(x);
            fail(lw, str_cat(l.type, " has no version in ", l.version, " (kiln has ", have, ")"));
        }
        n = create_op(type, v);
    }
    auto data = l.el.child("data");
    if (auto* f = dynamic_cast<op::If*>(n.get())) {
        read_if(l, *f, lw, depth);
    } else if (auto* lp = dynamic_cast<op::Loop*>(n.get())) {
        read_loop(l, *lp, lw, depth);
    } else if (!dynamic_cast<op::IndexCheck*>(n.get())) {
        DataReader r(data, optional_attributes(type), weights_, [&](const std::string& m) { fail(lw, m); });
        try {
            n->visit_attributes(r);
        } catch (const IRError&) {
            throw;
        } catch (const std::exception& e) {
            fail(lw, e.what());
        }
        auto extra = r.unknown();
        if (!extra.empty()) fail(lw, str_cat("attribute '", extra[0], "' is not an attribute of ", type, "-", n->version()));
    }
    return n;
}

void Reader::read_if(const Layer& l, op::If& f, const Where& lw, int depth) {
    const char* bodies[2] = {"then_body", "else_body"};
    const char* maps[2] = {"then_port_map", "else_port_map"};
    for (size_t b = 0; b < 2; ++b) {
        auto body_el = l.el.child(bodies[b]);
        if (!body_el) fail(lw, str_cat("has no <", bodies[b], ">"));
        GraphMap gm;
        auto body = read_graph(body_el, Where{file_, lw.prefix + bodies[b] + ": "}, depth + 1, gm);
        body->set_name(bodies[b]);
        (b ? f.else_body : f.then_body) = body;
        auto map = l.el.child(maps[b]);
        if (!map) fail(lw, str_cat("has no <", maps[b], ">"));
        for (auto e : map.children()) {
            std::string kind = e.name();
            if (kind != "input" && kind != "output") fail(lw, str_cat("unexpected <", kind, "> in <", maps[b], ">"));
            int64_t ext = need_int(lw, e, "external_port_id", str_cat("a ", maps[b], " ", kind));
            int64_t internal = need_int(lw, e, "internal_layer_id", str_cat("a ", maps[b], " ", kind));
            if (kind == "input") {
                auto it = std::find_if(l.inputs.begin(), l.inputs.end(), [&](auto& p) { return p.id == ext; });
                if (it == l.inputs.end()) fail(lw, str_cat(maps[b], ": input external_port_id ", ext, " is not an input port"));
                auto pi = gm.param_of_layer.find(internal);
                if (pi == gm.param_of_layer.end())
                    fail(lw, str_cat(maps[b], ": internal_layer_id ", internal, " is not a Parameter of ", bodies[b]));
                (b ? f.else_inputs : f.then_inputs)
                    .push_back({static_cast<int64_t>(it - l.inputs.begin()), static_cast<int64_t>(pi->second)});
            } else {
                auto it = std::find_if(l.outputs.begin(), l.outputs.end(), [&](auto& p) { return p.id == ext; });
                if (it == l.outputs.end()) fail(lw, str_cat(maps[b], ": output external_port_id ", ext, " is not an output port"));
                auto ri = gm.result_of_layer.find(internal);
                if (ri == gm.result_of_layer.end())
                    fail(lw, str_cat(maps[b], ": internal_layer_id ", internal, " is not a Result of ", bodies[b]));
                (b ? f.else_outputs : f.then_outputs)
                    .push_back({static_cast<int64_t>(ri->second), static_cast<int64_t>(it - l.outputs.begin()), -1});
            }
        }
    }
}

void Reader::read_loop(const Layer& l, op::Loop& f, const Where& lw, int depth) {
    auto body_el = l.el.child("body");
    if (!body_el) fail(lw, "has no <body>");
    GraphMap gm;
    f.body = read_graph(body_el, Where{file_, lw.prefix + "body: "}, depth + 1, gm);
    f.body->set_name("body");
    auto param = [&](int64_t id, const char* what) {
        auto it = gm.param_of_layer.find(id);
        if (it == gm.param_of_layer.end()) fail(lw, str_cat(what, ": layer ", id, " is not a Parameter of the body"));
        return static_cast<int64_t>(it->second);
    };
    auto result = [&](int64_t id, const char* what) {
        auto it = gm.result_of_layer.find(id);
        if (it == gm.result_of_layer.end()) fail(lw, str_cat(what, ": layer ", id, " is not a Result of the body"));
        return static_cast<int64_t>(it->second);
    };
    std::map<int64_t, int64_t> back;  // body parameter -> body result
    if (auto be = l.el.child("back_edges")) {
        for (auto e : be.children()) {
            if (std::strcmp(e.name(), "edge") != 0) fail(lw, str_cat("unexpected <", e.name(), "> in <back_edges>"));
            int64_t from = result(need_int(lw, e, "from-layer", "a back edge"), "back edge from-layer");
            int64_t to = param(need_int(lw, e, "to-layer", "a back edge"), "back edge to-layer");
            if (!back.emplace(to, from).second) fail(lw, "two back edges go to one Parameter");
        }
    }
    auto map = l.el.child("port_map");
    if (!map) fail(lw, "has no <port_map>");
    for (auto e : map.children()) {
        std::string kind = e.name();
        if (kind != "input" && kind != "output") fail(lw, str_cat("unexpected <", kind, "> in <port_map>"));
        int64_t ext = need_int(lw, e, "external_port_id", "a port_map " + kind);
        int64_t internal = need_int(lw, e, "internal_layer_id", "a port_map " + kind);
        std::string purpose = e.attribute("purpose").value();
        if (kind == "input") {
            int64_t p = param(internal, "port_map input internal_layer_id");
            if (purpose == "current_iteration") {
                f.special_body_ports.current_iteration_input_idx = p;
                continue;
            }
            if (!purpose.empty()) fail(lw, str_cat("port_map input purpose '", purpose, "' is unknown"));
            if (e.attribute("axis")) fail(lw, "sliced Loop inputs (port_map input with an axis) are not supported");
            auto it = std::find_if(l.inputs.begin(), l.inputs.end(), [&](auto& q) { return q.id == ext; });
            if (it == l.inputs.end()) fail(lw, str_cat("port_map input external_port_id ", ext, " is not an input port"));
            int64_t idx = it - l.inputs.begin();
            auto b = back.find(p);
            if (b != back.end()) f.merged_inputs.push_back({idx, p, b->second});
            else f.invariant_inputs.push_back({idx, p});
        } else {
            int64_t r = result(internal, "port_map output internal_layer_id");
            if (purpose == "execution_condition") {
                f.special_body_ports.body_condition_output_idx = r;
                continue;
            }
            if (!purpose.empty()) fail(lw, str_cat("port_map output purpose '", purpose, "' is unknown"));
            auto it = std::find_if(l.outputs.begin(), l.outputs.end(), [&](auto& q) { return q.id == ext; });
            if (it == l.outputs.end()) fail(lw, str_cat("port_map output external_port_id ", ext, " is not an output port"));
            int64_t idx = it - l.outputs.begin();
            if (e.attribute("axis")) {
                op::ConcatOutputDescription c;
                c.body_value_index = r;
                c.output_index = idx;
                auto get = [&](const char* n, int64_t def) {
                    if (!e.attribute(n)) return def;
                    return need_int(lw, e, n, "a port_map output");
                };
                c.axis = get("axis", 0);
                c.start = get("start", 0);
                c.end = get("end", -1);
                c.stride = get("stride", 1);
                c.part_size = get("part_size", 1);
                f.concat_outputs.push_back(c);
            } else {
                f.body_outputs.push_back({r, idx, -1});
            }
        }
    }
    for (auto& edge : back) {
        int64_t p = edge.first;
        bool fed = std::any_of(f.merged_inputs.begin(), f.merged_inputs.end(),
                               [&](auto& m) { return m.body_parameter_index == p; });
        if (!fed) fail(lw, str_cat("a back edge goes to body Parameter ", p, ", which no port_map input feeds"));
    }
}

std::shared_ptr<Model> read(std::string_view xml, const std::string& file, const Weights& w) {
    pugi::xml_document doc;
    auto res = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!res) throw IRError(str_cat(file, ": malformed XML at byte ", res.offset, ": ", res.description()));
    try {
        Reader r(file, w);
        return r.read_net(doc);
    } catch (const IRError&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw IRError(str_cat(file, ": out of memory while reading"));
    } catch (const std::exception& e) {
        throw IRError(str_cat(file, ": ", e.what()));
    }
}

}  // namespace

std::shared_ptr<Model> read_model(const std::string& xml_path, const std::string& bin_path) {
    std::string xml = read_text_file(xml_path);
    Weights w;
    w.path = bin_path.empty() ? default_bin_path(xml_path) : bin_path;
    try {
        auto mf = MappedFile::open(w.path);
        w.data = mf->data();
        w.size = mf->size();
        w.owner = std::shared_ptr<void>(mf, const_cast<unsigned char*>(mf->data()));
        w.present = true;
    } catch (const IRError& e) {
        w.missing = str_cat("the weights file is not readable: ", e.what());
    }
    return read(xml, xml_path, w);
}

std::shared_ptr<Model> read_model_from_memory(std::string_view xml, const void* weights, size_t size,
                                              std::shared_ptr<const void> owner, const std::string& what) {
    Weights w;
    w.path = what + " weights";
    w.data = static_cast<const unsigned char*>(weights);
    w.size = weights ? size : 0;
    w.owner = std::const_pointer_cast<void>(owner);
    w.present = weights != nullptr || size == 0;
    if (!weights) w.missing = "no weights were given";
    w.present = weights != nullptr;
    return read(xml, what, w);
}

}  // namespace kiln::io
