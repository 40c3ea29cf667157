// The IR v11 writer. See ir.hpp for what is written and how kiln-internal ops are lowered.
#include <pugixml.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "kiln/io/ir.hpp"
#include "kiln/io/ir_format.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/attention.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/internal/layer_norm.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::io {

namespace {

// ---------------------------------------------------------------------------------------------
// The BIN file: constants once per distinct content, each at a 64-byte aligned offset.

class Weights {
public:
    // The offset of these bytes in the file (appended unless the same bytes are there already).
    size_t add(const void* p, size_t n) {
        uint64_t h = hash(p, n);
        auto range = index_.equal_range(h);
        for (auto it = range.first; it != range.second; ++it)
            if (it->second.second == n && (n == 0 || std::memcmp(data_.data() + it->second.first, p, n) == 0))
                return it->second.first;
        size_t off = (data_.size() + 63) / 64 * 64;
        data_.resize(off, '\0');
        data_.append(static_cast<const char*>(p), n);
        index_.emplace(h, std::make_pair(off, n));
        return off;
    }
    std::string take() { return std::move(data_); }

private:
    static uint64_t hash(const void* p, size_t n) {
        // FNV-1a on 8-byte words (the tail byte by byte): equal content, equal hash; a match is
        // confirmed byte for byte.
        auto* b = static_cast<const unsigned char*>(p);
        uint64_t h = 1469598103934665603ull ^ n;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, b + i, 8);
            h = (h ^ w) * 1099511628211ull;
        }
        for (; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
        return h;
    }
    std::string data_;
    std::unordered_multimap<uint64_t, std::pair<size_t, size_t>> index_;
};

// ---------------------------------------------------------------------------------------------
// Lowering: what kiln writes is a model in the specification's ops only.

struct Marks {
    // Minimum nodes that stand for an IndexCheck: its attributes, for the rt_info.
    std::unordered_map<const Node*, std::pair<bool, std::string>> index_checks;
    // Convert nodes of the f16 compression.
    std::unordered_set<const Node*> decompression;
};

[[noreturn]] void refuse(const Node& n, const std::string& why) {
    throw IRError(str_cat("cannot save [", n.type_name(), " ", n.name(), "]: ", why));
}

// Per-axis attributes spelled out (the specification requires strides, pads and dilations).
void fill(std::vector<int64_t>& v, size_t n, int64_t value) {
    if (v.empty()) v.assign(n, value);
}

std::optional<size_t> spatial_axes(const Node& n, size_t weights_extra) {
    if (n.num_inputs() > 1 && n.input(1).shape().rank_is_static() &&
        n.input(1).shape().rank() >= static_cast<int64_t>(weights_extra))
        return static_cast<size_t>(n.input(1).shape().rank()) - weights_extra;
    if (n.num_inputs() > 0 && n.input(0).shape().rank_is_static() && n.input(0).shape().rank() >= 2)
        return static_cast<size_t>(n.input(0).shape().rank()) - 2;
    return std::nullopt;
}

template <typename Conv>
void spell_out_conv(Conv& c, size_t weights_extra) {
    auto nsp = spatial_axes(c, weights_extra);
    if (!nsp) return;
    fill(c.strides, *nsp, 1);
    fill(c.dilations, *nsp, 1);
    fill(c.pads_begin, *nsp, 0);
    fill(c.pads_end, *nsp, 0);
}

bool fits_f16(const Tensor& t) {
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.size(); ++i)
        if (!std::isfinite(p[i]) || std::fabs(p[i]) > 65504.0f) return false;
    return true;
}

void lower(Model& m, const SaveOptions& opt, Marks& marks) {
    std::map<Output, Output> repl;
    for (auto& n : m.ordered_ops()) {
        for (size_t i = 0; i < n->num_inputs(); ++i) {
            auto it = repl.find(n->input(i));
            if (it != repl.end()) n->set_input(i, it->second);
        }
        auto replace = [&](const NodePtr& by) {
            by->set_name(n->name());
            by->set_source(n->source());
            auto names = n->output_names(0);
            if (!names.empty() && by->output_names(0).empty()) by->set_output_names(0, names);
            repl[n->output(0)] = by->output(0);
        };
        if (dynamic_cast<op::FusedConvolution*>(n.get()) || dynamic_cast<op::FusedMatMul*>(n.get()) ||
            dynamic_cast<op::FusedMVN*>(n.get()) || dynamic_cast<op::FusedRMSNorm*>(n.get()) ||
            dynamic_cast<op::FusedScaledDotProductAttention*>(n.get()))
            refuse(*n, "it is an op of kiln's compiled form; save the model you compiled, not the runtime model");
        if (dynamic_cast<op::Choose*>(n.get())) {
            // An If whose bodies pass one value each: the same choice, in the specification's ops.
            auto f = std::make_shared<op::If>();
            for (size_t b = 0; b < 2; ++b) {
                auto& src = n->input(1 + b);
                auto p = make<op::Parameter>({}, src.type(), src.shape());
                auto r = make<op::Result>({p->output(0)});
                auto body = std::make_shared<Model>(ResultVector{r}, ParameterVector{p}, b ? "else_body" : "then_body");
                (b ? f->else_body : f->then_body) = body;
                (b ? f->else_inputs : f->then_inputs).push_back({static_cast<int64_t>(1 + b), 0});
                (b ? f->else_outputs : f->then_outputs).push_back({0, 0, -1});
            }
            f->set_inputs({n->input(0), n->input(1), n->input(2)});
            with_source(*n, [&] { f->validate_and_infer(); });
            replace(f);
            continue;
        }
        if (auto* c = dynamic_cast<op::IndexCheck*>(n.get())) {
            Output idx = n->input(0), size = n->input(1);
            if (size.shape().rank_is_dynamic() || size.shape().rank() != 0)
                size = make<op::Squeeze>({size})->output(0);
            if (size.type() != idx.type()) size = make<op::Convert>({size}, idx.type())->output(0);
            auto mn = make<op::Minimum>({idx, size});
            marks.index_checks[mn.get()] = {c->allow_negative, c->what};
            replace(mn);
            continue;
        }
        if (auto* c = dynamic_cast<op::Convolution*>(n.get())) spell_out_conv(*c, 2);
        if (auto* c = dynamic_cast<op::GroupConvolution*>(n.get())) spell_out_conv(*c, 3);
        if (auto* p = dynamic_cast<op::MaxPool*>(n.get())) {
            size_t k = p->kernel.size();
            fill(p->strides, k, 1);
            if (p->opset_version >= 8) fill(p->dilations, k, 1);
            fill(p->pads_begin, k, 0);
            fill(p->pads_end, k, 0);
        }
        if (auto* p = dynamic_cast<op::AvgPool*>(n.get())) {
            size_t k = p->kernel.size();
            fill(p->strides, k, 1);
            fill(p->pads_begin, k, 0);
            fill(p->pads_end, k, 0);
        }
        if (auto* c = dynamic_cast<op::Constant*>(n.get()); c && opt.compress_to_fp16) {
            const Tensor& t = c->value;
            if (t.type() == Type::f32 && t.size() >= 16 && fits_f16(t)) {
                Tensor h(Type::f16, t.shape());
                convert_elements(t.data(), Type::f32, h.data(), Type::f16, static_cast<size_t>(t.size()));
                auto hc = make<op::Constant>({}, std::move(h));
                hc->set_name(n->name() + "_compressed");
                auto cv = make<op::Convert>({hc->output(0)}, Type::f32);
                marks.decompression.insert(cv.get());
                replace(cv);
                continue;
            }
        }
        for (auto& b : n->bodies())
            if (b) lower(*b, opt, marks);
    }
    ResultVector results = m.results();
    for (auto& r : results) {
        auto it = repl.find(r->input(0));
        if (it != repl.end()) r->set_input(0, it->second);
    }
}

// ---------------------------------------------------------------------------------------------
// XML

class DataWriter : public AttributeVisitor {
public:
    DataWriter(pugi::xml_node data, Weights& weights) : data_(data), weights_(weights) {}
    Direction direction() const override { return Direction::write; }
    void on(const char* n, bool& v) override { set(n, v ? "true" : "false"); }
    void on(const char* n, int64_t& v) override { set(n, std::to_string(v)); }
    void on(const char* n, double& v) override { set(n, format_double(v)); }
    void on(const char* n, std::string& v) override { set(n, v); }
    void on(const char* n, std::vector<int64_t>& v) override { set(n, format_ints(v)); }
    void on(const char* n, std::vector<double>& v) override { set(n, format_doubles(v)); }
    void on(const char* n, Type& v) override { set(n, type_name(v)); }
    void on(const char* n, PartialShape& v) override { set(n, format_partial_shape(v)); }
    void on_tensor(const char*, Tensor& t) override {
        size_t off = weights_.add(t.data(), t.byte_size());
        set("offset", std::to_string(off));
        set("size", std::to_string(t.byte_size()));
    }
    bool any() const { return any_; }

private:
    void set(const char* n, const std::string& v) {
        data_.append_attribute(n).set_value(v.c_str());
        any_ = true;
    }
    pugi::xml_node data_;
    Weights& weights_;
    bool any_ = false;
};

void write_port(pugi::xml_node ports, size_t id, Type t, const PartialShape& s, const std::vector<std::string>* names) {
    auto p = ports.append_child("port");
    p.append_attribute("id").set_value(std::to_string(id).c_str());
    p.append_attribute("precision").set_value(precision_name(t));
    if (names && !names->empty()) p.append_attribute("names").set_value(format_names(*names).c_str());
    if (s.rank_is_static())
        for (auto& d : s.dims())
            p.append_child("dim").text().set(std::to_string(d.is_static() ? d.get_length() : -1).c_str());
}

void add_attr(pugi::xml_node n, const char* name, int64_t v) {
    n.append_attribute(name).set_value(std::to_string(v).c_str());
}

struct GraphIds {
    std::unordered_map<const Node*, size_t> id;
    std::vector<size_t> params, results;  // layer ids of parameters() and results()
};

class Writer {
public:
    Writer(const Marks& marks) : marks_(marks) {}
    GraphIds write_graph(pugi::xml_node parent, const Model& m, bool top = false);
    std::string take_bin() { return weights_.take(); }

private:
    void write_if(pugi::xml_node layer, const op::If& f);
    void write_loop(pugi::xml_node layer, const op::Loop& l);
    const Marks& marks_;
    Weights weights_;
};

GraphIds Writer::write_graph(pugi::xml_node parent, const Model& m, bool top) {
    GraphIds g;
    auto ops = m.ordered_ops();
    for (size_t i = 0; i < ops.size(); ++i) g.id[ops[i].get()] = i;
    for (auto& p : m.parameters()) g.params.push_back(g.id.at(p.get()));
    for (auto& r : m.results()) g.results.push_back(g.id.at(r.get()));
    std::unordered_map<const Node*, size_t> result_index;
    for (size_t i = 0; i < m.results().size(); ++i) result_index[m.results()[i].get()] = i;

    auto layers = parent.append_child("layers");
    for (size_t k = 0; k < ops.size(); ++k) {
        Node& n = *ops[k];
        auto layer = layers.append_child("layer");
        add_attr(layer, "id", static_cast<int64_t>(k));
        std::string name = n.name();
        auto ri = result_index.find(&n);
        std::vector<std::string> out_names;
        if (ri != result_index.end()) {
            out_names = m.output_names(ri->second);
            if (name.empty()) name = out_names.at(0);
        }
        if (name.empty()) name = std::string(n.type_name()) + "_" + std::to_string(k);
        layer.append_attribute("name").set_value(name.c_str());
        layer.append_attribute("type").set_value(ir_type_name(n.type_name()).c_str());
        layer.append_attribute("version").set_value(n.opset());
        if (ri != result_index.end()) layer.append_attribute("output_names").set_value(format_names(out_names).c_str());

        if (auto* f = dynamic_cast<const op::If*>(&n)) {
            write_if(layer, *f);
        } else if (auto* l = dynamic_cast<const op::Loop*>(&n)) {
            write_loop(layer, *l);
        } else {
            auto data = layer.append_child("data");
            DataWriter w(data, weights_);
            n.visit_attributes(w);
            if (!w.any()) layer.remove_child(data);
        }
        auto ic = marks_.index_checks.find(&n);
        bool decomp = marks_.decompression.count(&n) > 0;
        if (ic != marks_.index_checks.end() || decomp) {
            auto rt = layer.append_child("rt_info");
            auto a = rt.append_child("attribute");
            if (decomp) {
                a.append_attribute("name").set_value("decompression");
                a.append_attribute("version").set_value("0");
            } else {
                a.append_attribute("name").set_value("kiln_index_check");
                a.append_attribute("version").set_value("0");
                a.append_attribute("allow_negative").set_value(ic->second.first ? "true" : "false");
                a.append_attribute("what").set_value(ic->second.second.c_str());
            }
        }
        if (n.num_inputs()) {
            auto in = layer.append_child("input");
            for (size_t i = 0; i < n.num_inputs(); ++i) write_port(in, i, n.input(i).type(), n.input(i).shape(), nullptr);
        }
        // A Result has no output port in IR v11; a model input with no tensor names gets its name,
        // so that every input can be found by name (a body's parameters are found by port).
        if (ri == result_index.end() && n.num_outputs()) {
            auto out = layer.append_child("output");
            for (size_t i = 0; i < n.num_outputs(); ++i) {
                auto names = n.output_names(i);
                if (top && names.empty() && dynamic_cast<const op::Parameter*>(&n)) names.push_back(name);
                write_port(out, n.num_inputs() + i, n.output_type(i), n.output_shape(i), &names);
            }
        }
    }
    auto edges = parent.append_child("edges");
    for (size_t k = 0; k < ops.size(); ++k) {
        Node& n = *ops[k];
        for (size_t i = 0; i < n.num_inputs(); ++i) {
            auto& src = n.input(i);
            auto e = edges.append_child("edge");
            add_attr(e, "from-layer", static_cast<int64_t>(g.id.at(src.node.get())));
            add_attr(e, "from-port", static_cast<int64_t>(src.node->num_inputs() + src.index));
            add_attr(e, "to-layer", static_cast<int64_t>(k));
            add_attr(e, "to-port", static_cast<int64_t>(i));
        }
    }
    return g;
}

void Writer::write_if(pugi::xml_node layer, const op::If& f) {
    const int64_t n_in = static_cast<int64_t>(f.num_inputs());
    pugi::xml_node maps[2] = {layer.append_child("then_port_map"), layer.append_child("else_port_map")};
    const char* body_names[2] = {"then_body", "else_body"};
    for (size_t b = 0; b < 2; ++b) {
        auto body_el = layer.append_child(body_names[b]);
        const Model& body = b ? *f.else_body : *f.then_body;
        GraphIds ids = write_graph(body_el, body);
        for (auto& d : f.inputs_of(b)) {
            auto e = maps[b].append_child("input");
            add_attr(e, "external_port_id", d.input_index);
            add_attr(e, "internal_layer_id", static_cast<int64_t>(ids.params.at(static_cast<size_t>(d.body_parameter_index))));
        }
        for (auto& d : f.outputs_of(b)) {
            auto e = maps[b].append_child("output");
            add_attr(e, "external_port_id", n_in + d.output_index);
            add_attr(e, "internal_layer_id", static_cast<int64_t>(ids.results.at(static_cast<size_t>(d.body_value_index))));
        }
    }
}

void Writer::write_loop(pugi::xml_node layer, const op::Loop& l) {
    const int64_t n_in = static_cast<int64_t>(l.num_inputs());
    auto map = layer.append_child("port_map");
    auto back = layer.append_child("back_edges");
    auto body_el = layer.append_child("body");
    GraphIds ids = write_graph(body_el, *l.body);
    auto param_id = [&](int64_t i) { return static_cast<int64_t>(ids.params.at(static_cast<size_t>(i))); };
    auto result_id = [&](int64_t i) { return static_cast<int64_t>(ids.results.at(static_cast<size_t>(i))); };
    for (auto& d : l.merged_inputs) {
        auto e = map.append_child("input");
        add_attr(e, "external_port_id", d.input_index);
        add_attr(e, "internal_layer_id", param_id(d.body_parameter_index));
        auto be = back.append_child("edge");
        add_attr(be, "from-layer", result_id(d.body_value_index));
        add_attr(be, "to-layer", param_id(d.body_parameter_index));
    }
    for (auto& d : l.invariant_inputs) {
        auto e = map.append_child("input");
        add_attr(e, "external_port_id", d.input_index);
        add_attr(e, "internal_layer_id", param_id(d.body_parameter_index));
    }
    if (l.special_body_ports.current_iteration_input_idx >= 0) {
        auto e = map.append_child("input");
        add_attr(e, "external_port_id", -1);
        add_attr(e, "internal_layer_id", param_id(l.special_body_ports.current_iteration_input_idx));
        e.append_attribute("purpose").set_value("current_iteration");
    }
    for (auto& d : l.body_outputs) {
        auto e = map.append_child("output");
        add_attr(e, "external_port_id", n_in + d.output_index);
        add_attr(e, "internal_layer_id", result_id(d.body_value_index));
    }
    for (auto& d : l.concat_outputs) {
        auto e = map.append_child("output");
        add_attr(e, "external_port_id", n_in + d.output_index);
        add_attr(e, "internal_layer_id", result_id(d.body_value_index));
        add_attr(e, "axis", d.axis);
        add_attr(e, "start", d.start);
        add_attr(e, "end", d.end);
        add_attr(e, "stride", d.stride);
        add_attr(e, "part_size", d.part_size);
    }
    if (l.special_body_ports.body_condition_output_idx >= 0) {
        auto e = map.append_child("output");
        add_attr(e, "external_port_id", -1);
        add_attr(e, "internal_layer_id", result_id(l.special_body_ports.body_condition_output_idx));
        e.append_attribute("purpose").set_value("execution_condition");
    }
}

struct StringWriter : pugi::xml_writer {
    std::string s;
    void write(const void* data, size_t size) override { s.append(static_cast<const char*>(data), size); }
};

void write_file(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw IRError(str_cat(path, ": cannot open for writing (", std::strerror(errno), ")"));
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    f.close();
    if (!f) throw IRError(str_cat(path, ": writing failed (", std::strerror(errno), ")"));
}

}  // namespace

std::string default_bin_path(const std::string& xml_path) {
    auto slash = xml_path.find_last_of('/');
    auto dot = xml_path.find_last_of('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return xml_path + ".bin";
    return xml_path.substr(0, dot) + ".bin";
}

IRPair serialize(const Model& model, const SaveOptions& options) {
    auto m = model.clone();
    Marks marks;
    lower(*m, options, marks);
    // Shapes after the lowering (an If merges its bodies' shapes where Choose took its inputs').
    m->validate_and_infer();
    pugi::xml_document doc;
    auto decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version").set_value("1.0");
    auto net = doc.append_child("net");
    net.append_attribute("name").set_value(m->name().c_str());
    net.append_attribute("version").set_value("11");
    Writer w(marks);
    w.write_graph(net, *m, true);
    // Model-level rt_info (OpenVINO keeps keys it does not know): the input dims that must be
    // equal, as "input:axis,input:axis;..." (torch.export's shared sizes).
    if (!model.equal_input_dims().empty()) {
        std::string groups;
        for (auto& g : model.equal_input_dims()) {
            if (!groups.empty()) groups += ";";
            for (size_t k = 0; k < g.size(); ++k) groups += str_cat(k ? "," : "", g[k].first, ":", g[k].second);
        }
        net.append_child("rt_info").append_child("kiln_equal_input_dims").append_attribute("value").set_value(groups.c_str());
    }
    StringWriter sw;
    doc.save(sw, "\t", pugi::format_default, pugi::encoding_utf8);
    return IRPair{std::move(sw.s), w.take_bin()};
}

void save_model(const Model& model, const std::string& xml_path, const std::string& bin_path,
                const SaveOptions& options) {
    KILN_CHECK(!xml_path.empty(), "save_model: the XML path is empty");
    auto ir = serialize(model, options);
    std::string bin = bin_path.empty() ? default_bin_path(xml_path) : bin_path;
    if (bin == xml_path) throw IRError(str_cat(xml_path, ": the XML and BIN paths are the same file"));
    write_file(bin, ir.bin);
    write_file(xml_path, ir.xml);
}

}  // namespace kiln::io
