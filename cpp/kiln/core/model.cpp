#include "kiln/core/model.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

Model::Model(ResultVector results, ParameterVector params, std::string name)
    : results_(std::move(results)), params_(std::move(params)), name_(std::move(name)) {}

std::string Model::input_name(size_t i) const {
    auto& n = params_.at(i)->output_names(0);
    return n.empty() ? params_[i]->name() : n[0];
}

std::vector<std::string> Model::output_names(size_t i) const {
    auto& r = results_.at(i);
    std::vector<std::string> names;
    if (!r->name().empty()) names.push_back(r->name());
    // Names a file gave the output itself (IR v11's output_names on a Result).
    for (auto& n : r->output_names(0))
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    // A graph input returned as an output keeps its names to itself (they would name the input).
    auto& in = r->input(0);
    if (!dynamic_cast<const op::Parameter*>(in.node.get()))
        for (auto& n : in.node->output_names(in.index))
            if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    if (names.empty()) names.push_back("output" + std::to_string(i));
    return names;
}

std::string Model::output_name(size_t i) const { return output_names(i)[0]; }

int64_t Model::input_index(const std::string& name) const {
    for (size_t i = 0; i < params_.size(); ++i) {
        auto& names = params_[i]->output_names(0);
        if (std::find(names.begin(), names.end(), name) != names.end() || params_[i]->name() == name)
            return static_cast<int64_t>(i);
    }
    return -1;
}

int64_t Model::output_index(const std::string& name) const {
    // Result names first: two outputs of one tensor share its tensor names, not their own.
    for (size_t i = 0; i < results_.size(); ++i)
        if (results_[i]->name() == name) return static_cast<int64_t>(i);
    for (size_t i = 0; i < results_.size(); ++i) {
        auto names = output_names(i);
        if (std::find(names.begin(), names.end(), name) != names.end()) return static_cast<int64_t>(i);
    }
    return -1;
}

NodeVector Model::ordered_ops() const {
    NodeVector order;
    std::unordered_set<Node*> done;
    std::unordered_set<Node*> on_stack;
    for (auto& p : params_) {
        order.push_back(p);
        done.insert(p.get());
    }
    // Iterative DFS: deep graphs (hundreds of layers) must not exhaust the C++ stack.
    for (auto& r : results_) {
        std::vector<std::pair<Node*, size_t>> stack{{r.get(), 0}};
        if (done.count(r.get())) continue;
        on_stack.insert(r.get());
        while (!stack.empty()) {
            auto& [n, next] = stack.back();
            if (next < n->num_inputs()) {
                Node* in = n->input(next++).node.get();
                if (done.count(in)) continue;
                KILN_CHECK(!on_stack.count(in), "the graph has a cycle through [", in->type_name(),
                           " ", in->name(), "]");
                on_stack.insert(in);
                stack.emplace_back(in, 0);
            } else {
                done.insert(n);
                on_stack.erase(n);
                order.push_back(n->shared_from_this());
                stack.pop_back();
            }
        }
    }
    return order;
}

void Model::validate_and_infer() {
    for (auto& n : ordered_ops()) with_source(*n, [&] { n->validate_and_infer(); });
}

void Model::reshape(const std::map<size_t, PartialShape>& shapes) {
    std::vector<PartialShape> before;
    for (auto& p : params_) before.push_back(p->shape);
    std::string asked;
    for (auto& [i, s] : shapes) {
        KILN_CHECK(i < params_.size(), "reshape: input ", i, " does not exist (the model has ",
                   params_.size(), " inputs)");
        params_[i]->shape = s;
        asked += (asked.empty() ? "" : ", ") + input_name(i) + ": " + s.to_string();
    }
    try {
        validate_and_infer();
    } catch (const Error& e) {
        // Leave the model as it was: a failed reshape must not half-apply.
        for (size_t i = 0; i < params_.size(); ++i) params_[i]->shape = before[i];
        validate_and_infer();
        throw ValueError(str_cat("reshape to {", asked, "}: ", e.what()));
    }
}

std::shared_ptr<Model> Model::clone() const {
    std::unordered_map<Node*, NodePtr> map;
    ParameterVector params;
    ResultVector results;
    for (auto& n : ordered_ops()) {
        OutputVector ins;
        for (auto& o : n->inputs()) ins.push_back(Output{map.at(o.node.get()), o.index});
        auto c = n->clone(ins);
        for (size_t i = 0; i < n->num_outputs(); ++i) c->set_output_names(i, n->output_names(i));
        map[n.get()] = c;
    }
    for (auto& p : params_) params.push_back(std::static_pointer_cast<op::Parameter>(map.at(p.get())));
    for (auto& r : results_) results.push_back(std::static_pointer_cast<op::Result>(map.at(r.get())));
    auto m = std::make_shared<Model>(results, params, name_);
    m->equal_dims_ = equal_dims_;
    return m;
}

void Model::set_equal_input_dims(std::vector<DimGroup> groups) {
    for (auto& g : groups)
        for (auto [input, axis] : g) {
            if (input >= params_.size())
                throw ValueError(str_cat("equal input dims: input ", input, " out of range (the model has ",
                                         params_.size(), " inputs)"));
            auto& shape = params_[input]->shape;
            if (shape.rank_is_static() && axis >= static_cast<size_t>(shape.rank()))
                throw ValueError(str_cat("equal input dims: input '", input_name(input), "' has rank ", shape.rank(),
                                         ", no axis ", axis));
        }
    equal_dims_ = std::move(groups);
}

namespace {
void dump(const Model& m, std::ostringstream& os, const std::string& indent) {
    std::unordered_map<Node*, size_t> id;
    auto ops = m.ordered_ops();
    os << "model " << m.name() << " (" << m.parameters().size() << " inputs, " << m.results().size()
       << " outputs, " << ops.size() << " nodes)\n";
    for (auto& n : ops) {
        size_t k = id.size();
        id[n.get()] = k;
        os << indent << "  %" << k << " = " << n->type_name() << "(";
        for (size_t i = 0; i < n->num_inputs(); ++i) {
            auto& in = n->input(i);
            os << (i ? ", " : "") << "%" << id.at(in.node.get());
            if (in.node->num_outputs() > 1) os << "." << in.index;
        }
        os << ")";
        auto a = n->attributes_string();
        if (!a.empty()) os << " {" << a << "}";
        os << " ->";
        for (size_t i = 0; i < n->num_outputs(); ++i)
            os << (i ? "," : "") << " " << type_name(n->output_type(i))
               << n->output_shape(i).to_string();
        if (!n->name().empty()) os << "  # " << n->name();
        os << "\n";
        for (auto& b : n->bodies()) {
            if (!b) continue;
            os << indent << "    body ";
            dump(*b, os, indent + "    ");
        }
    }
}
}  // namespace

std::string Model::to_string() const {
    std::ostringstream os;
    dump(*this, os, "");
    return os.str();
}

ConsumerMap consumers(const Model& m) {
    ConsumerMap r;
    for (auto& n : m.ordered_ops())
        for (size_t i = 0; i < n->num_inputs(); ++i) r[n->input(i)].emplace_back(n.get(), i);
    return r;
}

ConsumerIndex::ConsumerIndex(const Model& m) {
    for (auto& n : m.ordered_ops()) {
        indexed_.insert(n.get());
        keep_.push_back(n);
        for (size_t i = 0; i < n->num_inputs(); ++i) readers_[n->input(i)].emplace_back(n.get(), i);
    }
}

void ConsumerIndex::index_new(Node* n) {
    if (!indexed_.insert(n).second) return;
    keep_.push_back(n->shared_from_this());
    for (size_t i = 0; i < n->num_inputs(); ++i) {
        const Output& in = n->input(i);
        index_new(in.node.get());
        readers_[in].emplace_back(n, i);
    }
}

void ConsumerIndex::drop_if_dead(Node* n) {
    if (!indexed_.count(n) || std::string(n->type_name()) == "Result") return;
    for (size_t o = 0; o < n->num_outputs(); ++o)
        if (readers_.count(Output{n->shared_from_this(), o})) return;
    indexed_.erase(n);
    for (size_t i = 0; i < n->num_inputs(); ++i) {
        const Output& in = n->input(i);
        auto it = readers_.find(in);
        if (it == readers_.end()) continue;
        std::erase_if(it->second, [&](const std::pair<Node*, size_t>& r) { return r.first == n; });
        if (it->second.empty()) readers_.erase(it);
        drop_if_dead(in.node.get());
    }
}

void ConsumerIndex::replace(const Output& from, const Output& to) {
    index_new(to.node.get());
    auto names = from.node->output_names(from.index);
    auto it = readers_.find(from);
    if (it != readers_.end()) {
        auto moved = std::move(it->second);
        readers_.erase(it);
        std::vector<std::pair<Node*, size_t>> stay;  // `to`'s own node may read `from`
        for (auto& [n, i] : moved) {
            if (n == to.node.get()) {
                stay.emplace_back(n, i);
                continue;
            }
            n->set_input(i, to);
            readers_[to].emplace_back(n, i);
        }
        if (!stay.empty()) readers_[from] = std::move(stay);
    }
    if (!names.empty() && to.node->output_names(to.index).empty()) to.node->set_output_names(to.index, names);
    drop_if_dead(from.node.get());
}

void replace_output(const Model& m, const Output& from, const Output& to) {
    auto names = from.node->output_names(from.index);
    for (auto& n : m.ordered_ops())
        for (size_t i = 0; i < n->num_inputs(); ++i)
            if (n->input(i) == from) n->set_input(i, to);
    // Keep the graph output names on the surviving tensor.
    if (!names.empty() && to.node->output_names(to.index).empty())
        to.node->set_output_names(to.index, names);
}

void validate_model(const Model& m) {
    std::set<Node*> params;
    for (auto& p : m.parameters()) params.insert(p.get());
    for (auto& n : m.ordered_ops()) {
        if (std::string(n->type_name()) == "Parameter")
            KILN_CHECK(params.count(n.get()), "[Parameter ", n->name(),
                       "] is used but is not an input of the model");
        for (size_t i = 0; i < n->num_inputs(); ++i) {
            auto& in = n->input(i);
            KILN_CHECK_NODE(*n, in.node && in.index < in.node->num_outputs(), "input ", i,
                            " is not connected to an existing output");
        }
        std::vector<TensorDesc> before;
        for (size_t i = 0; i < n->num_outputs(); ++i) before.push_back(n->output_desc(i));
        n->validate_and_infer();
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto merged = PartialShape::merge(before[i].shape, n->output_shape(i));
            KILN_CHECK_NODE(*n, before[i].type == n->output_type(i) && merged, "output ", i,
                            " was ", type_name(before[i].type), before[i].shape.to_string(),
                            " but re-inference gives ", type_name(n->output_type(i)),
                            n->output_shape(i).to_string());
        }
        for (auto& b : n->bodies()) {
            KILN_CHECK_NODE(*n, b != nullptr, "has no body graph");
            try {
                validate_model(*b);
            } catch (const Error& e) {
                throw Error(str_cat("[", n->type_name(), " ", n->name(), "] body ", b->name(), ": ", e.what()));
            }
        }
    }
}

std::string graph_difference(const Model& a, const Model& b) {
    if (&a == &b) return {};
    auto oa = a.ordered_ops(), ob = b.ordered_ops();
    if (oa.size() != ob.size()) return str_cat(oa.size(), " nodes vs ", ob.size());
    if (a.parameters().size() != b.parameters().size() || a.results().size() != b.results().size())
        return "a different number of parameters or results";
    std::unordered_map<const Node*, size_t> ia, ib;
    for (size_t i = 0; i < oa.size(); ++i) {
        ia[oa[i].get()] = i;
        ib[ob[i].get()] = i;
    }
    for (size_t i = 0; i < oa.size(); ++i) {
        Node& x = *oa[i];
        Node& y = *ob[i];
        auto at = [&] { return str_cat("node ", i, " [", x.type_name(), " ", x.name(), "] vs [", y.type_name(), " ", y.name(), "]: "); };
        if (x.num_inputs() != y.num_inputs() || x.num_outputs() != y.num_outputs()) return at() + "inputs or outputs differ in number";
        if (!same_attributes(x, y)) {
            auto bx = x.bodies(), by = y.bodies();
            for (size_t k = 0; k < bx.size() && k < by.size(); ++k)
                if (bx[k] && by[k]) {
                    std::string d = graph_difference(*bx[k], *by[k]);
                    if (!d.empty()) return at() + str_cat("body ", k, ": ", d);
                }
            return at() + "attributes {" + x.attributes_string() + "} vs {" + y.attributes_string() + "}";
        }
        for (size_t k = 0; k < x.num_inputs(); ++k) {
            auto& p = x.input(k);
            auto& q = y.input(k);
            if (p.index != q.index || ia.at(p.node.get()) != ib.at(q.node.get())) return at() + str_cat("input ", k, " differs");
        }
        for (size_t k = 0; k < x.num_outputs(); ++k) {
            if (x.output_type(k) != y.output_type(k) || x.output_shape(k) != y.output_shape(k))
                return at() + str_cat("output ", k, " ", type_name(x.output_type(k)), x.output_shape(k).to_string(), " vs ",
                                      type_name(y.output_type(k)), y.output_shape(k).to_string());
            if (x.output_names(k) != y.output_names(k)) {
                std::string nx, ny;
                for (auto& n : x.output_names(k)) nx += n + ",";
                for (auto& n : y.output_names(k)) ny += n + ",";
                return at() + str_cat("output ", k, " names {", nx, "} vs {", ny, "}");
            }
        }
    }
    for (size_t i = 0; i < a.parameters().size(); ++i)
        if (ia.at(a.parameters()[i].get()) != ib.at(b.parameters()[i].get())) return str_cat("parameter ", i, " differs");
    for (size_t i = 0; i < a.results().size(); ++i)
        if (ia.at(a.results()[i].get()) != ib.at(b.results()[i].get()) || a.output_names(i) != b.output_names(i))
            return str_cat("result ", i, " differs");
    return {};
}

bool same_graph(const Model& a, const Model& b) { return graph_difference(a, b).empty(); }

}  // namespace kiln
