#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/shape_ops.hpp"

#include "kiln/frontend/pytorch/translation.hpp"

namespace kiln::frontend::pytorch {

const TValue& Translation::value(int64_t id) const {
    auto it = values_.find(id);
    if (it != values_.end()) return it->second;
    throw ConversionError(str_cat("value %", id, " is used before it is defined"));
}

Output Translation::constant_for(int64_t id, const std::function<Output()>& make) {
    // Only the graph's own constants keep one value: a value computed to a constant (a loop's
    // iteration number while unrolling, an index derived from it) has another one each time.
    if (!g_.constants.count(id)) return make();
    auto it = const_nodes_.find(id);
    if (it != const_nodes_.end()) return it->second;
    return const_nodes_[id] = make();
}

namespace {

// aten ops whose output shares memory with their first input. An in-place op on such a view
// changes the base tensor too: for the index-preserving views (kReplayable) kiln writes the new
// values back into the base; on the others it refuses rather than compute a wrong answer.
const std::set<std::string> kReplayable = {
    "aten::slice", "aten::select", "aten::narrow", "aten::transpose", "aten::permute", "aten::t",
    "aten::squeeze", "aten::unsqueeze", "aten::view", "aten::reshape", "aten::flatten", "aten::unflatten",
    "aten::view_as", "aten::reshape_as"};
const std::set<std::string> kOtherViews = {
    "aten::expand", "aten::expand_as", "aten::as_strided", "aten::diagonal", "aten::unbind", "aten::split",
    "aten::chunk", "aten::split_with_sizes", "aten::__getitem__", "prim::ListUnpack", "aten::index"};

// aten::add_, aten::relu_ ... (not dunder methods such as aten::__and__).
bool is_inplace(const std::string& kind) {
    return kind.size() > 1 && kind.back() == '_' && kind.compare(kind.size() - 2, 2, "__") != 0;
}

bool is_scalar_type(const std::string& t) { return t == "int" || t == "float" || t == "bool" || t == "number"; }

// Every node kind without a translator, with the source lines where it appears.
void find_unsupported(const std::vector<NodeDesc>& nodes, std::map<std::string, std::set<std::string>>& out) {
    for (auto& n : nodes) {
        if (!find_translator(n.kind)) out[n.kind].insert(n.source.empty() ? "(no source line)" : n.source);
        for (auto& b : n.blocks) find_unsupported(b.nodes, out);
    }
}

}  // namespace

void Translation::translate_nodes(const std::vector<NodeDesc>& nodes) {
    for (auto& n : nodes) {
        NodeContext ctx(*this, n);
        std::vector<TValue> outs;
        bool inplace = is_inplace(n.kind) && !n.inputs.empty();
        auto view = inplace ? views_.find(n.inputs[0]) : views_.end();
        if (view != views_.end() && !view->second.replayable)
            throw ConversionError(str_cat(n.kind, ": an in-place change of a view made by an expand, split, "
                                          "unbind or indexing is not supported yet; write it out of place",
                                          n.source.empty() ? "" : "\n  at " + n.source));
        if (n.kind == "aten::_set_item" && n.inputs.size() == 3 && value(n.inputs[1]).kind == TValue::Kind::constant) {
            // container[key] = new: the object that was at container[key] is no longer in it.
            Slot slot{n.inputs[0], value(n.inputs[1]).c.to_string()};
            for (int64_t id : ids_in_[slot]) {
                auto& v = slots_of_[id];
                v.erase(std::remove(v.begin(), v.end(), slot), v.end());
            }
            ids_in_.erase(slot);
        }
        try {
            Translator tr = find_translator(n.kind);
            if (n.kind.rfind("prim::", 0) != 0) {
                bool complex = false;
                for (size_t i = 0; i < n.inputs.size() && !complex; ++i) complex = holds_complex(ctx.value(i));
                if (complex) {
                    tr = find_complex_translator(n.kind);
                    if (!tr) throw ConversionError(str_cat(n.kind, ": complex tensors are not supported by this op yet"));
                }
            }
            outs = tr(ctx);
        } catch (const ConversionError& e) {
            throw ConversionError(str_cat(e.what(), n.source.empty() ? "" : "\n  at " + n.source));
        } catch (const std::exception& e) {
            throw ConversionError(str_cat(n.kind, ": ", e.what(), n.source.empty() ? "" : "\n  at " + n.source));
        }
        if (outs.size() != n.outputs.size())
            throw ConversionError(str_cat(n.kind, ": the translator gave ", outs.size(), " outputs, torch has ",
                                          n.outputs.size(), n.source.empty() ? "" : "\n  at " + n.source));
        for (size_t i = 0; i < outs.size(); ++i) {
            if (outs[i].kind == TValue::Kind::tensor && i < n.output_types.size() && is_scalar_type(n.output_types[i]))
                outs[i].scalar = true;
            set_value(n.outputs[i], std::move(outs[i]));
        }
        track_containers(n);
        bool replayable = kReplayable.count(n.kind) > 0;
        if (n.kind == "aten::unsafe_chunk" || n.kind == "aten::unsafe_split")
            unsafe_lists_.insert(n.outputs.begin(), n.outputs.end());
        const bool unsafe_piece = (n.kind == "prim::ListUnpack" || n.kind == "aten::__getitem__") && !n.inputs.empty() &&
                                  unsafe_lists_.count(n.inputs[0]);
        if ((replayable || kOtherViews.count(n.kind)) && !n.inputs.empty() && !unsafe_piece) {
            auto parent = views_.find(n.inputs[0]);
            ViewInfo info{n.inputs[0], {}, replayable};
            if (parent != views_.end()) {
                info = parent->second;
                info.replayable = info.replayable && replayable;
            }
            info.chain.push_back(&n);
            for (auto id : n.outputs) views_[id] = info;
        }
        if (inplace && !n.outputs.empty()) {
            // Later uses of the mutated tensor (scripting keeps using the input's name) see the result.
            set_value(n.inputs[0], value(n.outputs[0]));
            if (view != views_.end()) write_back(view->second, value(n.outputs[0]).out, n);
        }
        for (size_t k = 0; k < n.out_args.size() && k < n.outputs.size(); ++k) bind_out_arg(n, k, ctx);
    }
}

namespace {
bool is_container(const TValue& v) { return v.kind == TValue::Kind::list; }
// The key of container[key] as a slot name: a list index counted from the front.
std::optional<std::string> slot_key(const TValue& container, const TValue& key) {
    if (key.kind != TValue::Kind::constant) return std::nullopt;
    if (!container.is_dict() && key.c.kind == ConstValue::Kind::integer) {
        int64_t i = key.c.i < 0 ? key.c.i + static_cast<int64_t>(container.items.size()) : key.c.i;
        return std::to_string(i);
    }
    return key.c.kind == ConstValue::Kind::string ? key.c.s : key.c.to_string();
}
}  // namespace

void Translation::track_containers(const NodeDesc& n) {
    auto put = [&](int64_t id, int64_t parent, std::string key) {
        Slot slot{parent, std::move(key)};
        ids_in_[slot].push_back(id);
        slots_of_[id].push_back(slot);
    };
    if (n.outputs.size() != 1) return;
    if (n.kind == "prim::ListConstruct" || n.kind == "prim::TupleConstruct") {
        for (size_t k = 0; k < n.inputs.size(); ++k)
            if (is_container(value(n.inputs[k]))) put(n.inputs[k], n.outputs[0], std::to_string(k));
    } else if (n.kind == "prim::DictConstruct") {
        for (size_t k = 0; k + 1 < n.inputs.size(); k += 2) {
            const TValue& key = value(n.inputs[k]);
            if (is_container(value(n.inputs[k + 1])) && key.kind == TValue::Kind::constant)
                put(n.inputs[k + 1], n.outputs[0], key.c.kind == ConstValue::Kind::string ? key.c.s : key.c.to_string());
        }
    } else if (n.kind == "aten::__getitem__" && n.inputs.size() == 2 && is_container(value(n.outputs[0])) &&
               is_container(value(n.inputs[0]))) {
        if (auto key = slot_key(value(n.inputs[0]), value(n.inputs[1]))) put(n.outputs[0], n.inputs[0], *key);
    }
}

void Translation::set_container(int64_t id, TValue v) {
    std::vector<std::pair<int64_t, TValue>> todo{{id, std::move(v)}};
    std::set<int64_t> done;
    while (!todo.empty() && done.size() < 4096) {
        auto [cur, val] = std::move(todo.back());
        todo.pop_back();
        if (!done.insert(cur).second) continue;
        set_value(cur, val);
        auto slots = slots_of_.find(cur);
        if (slots == slots_of_.end()) continue;
        for (const Slot& slot : slots->second) {
            // Every other name of the same object, then the container holding it.
            for (int64_t other : ids_in_[slot])
                if (!done.count(other)) todo.push_back({other, val});
            auto pv = values_.find(slot.first);
            if (pv == values_.end() || !is_container(pv->second) || done.count(slot.first)) continue;
            TValue parent = pv->second;
            size_t at = parent.items.size();
            if (parent.is_dict()) {
                at = static_cast<size_t>(std::find(parent.keys.begin(), parent.keys.end(), slot.second) -
                                         parent.keys.begin());
            } else {
                char* end = nullptr;
                long long i = std::strtoll(slot.second.c_str(), &end, 10);
                if (end && *end == 0 && i >= 0) at = static_cast<size_t>(i);
            }
            if (at >= parent.items.size()) continue;
            parent.items[at] = val;
            todo.push_back({slot.first, std::move(parent)});
        }
    }
}

// torch.add(a, b, out=o): o (and the base of a view o is) takes the result, in o's element type
// (torch casts the result into the out tensor).
void Translation::bind_out_arg(const NodeDesc& n, size_t k, NodeContext& ctx) {
    int64_t id = n.out_args[k];
    TValue r = value(n.outputs[k]);
    const TValue& o = value(id);
    auto where = [&] { return n.source.empty() ? std::string() : "\n  at " + n.source; };
    if (r.kind != TValue::Kind::tensor) {
        set_value(id, r);
        return;
    }
    if (o.kind == TValue::Kind::tensor && o.out.type() != Type::dynamic && o.out.type() != r.out.type()) {
        try {
            r = TValue(to_type(ctx, r.out, o.out.type()));
        } catch (const std::exception& e) {
            throw ConversionError(str_cat(n.kind, ": ", e.what(), where()));
        }
    }
    set_value(n.outputs[k], r);
    set_value(id, r);
    auto view = views_.find(id);
    if (view == views_.end()) return;
    if (!view->second.replayable)
        throw ConversionError(str_cat(n.kind, ": out= into a view made by an expand, split, unbind or indexing is "
                                      "not supported yet; write the result out of place", where()));
    write_back(view->second, r.out, n);
}

// base[view] = updated: the view's chain replayed on an index grid of the base gives the flat
// positions to scatter the new values to.
void Translation::write_back(const ViewInfo& view, const Output& updated, const NodeDesc& at) {
    NodeDesc tool;
    tool.kind = at.kind;
    tool.name = at.name;
    tool.source = at.source;
    NodeContext ctx(*this, tool);
    Output base = ctx.tensor_of(value(view.base));
    Output shape = ctx.make<op::ShapeOf>({base}, Type::i64);
    Output count = ctx.make<op::ReduceProd>({shape, ctx.i64({0})}, false);
    Output grid = ctx.make<op::Range>({ctx.i64_scalar(0), count, ctx.i64_scalar(1)}, Type::i64);
    grid = ctx.make<op::Reshape>({grid, shape}, false);
    for (const NodeDesc* step : view.chain) {
        NodeDesc replay = *step;
        replay.inputs[0] = -1;
        replay.outputs.assign(step->outputs.size(), -2);
        set_value(-1, TValue(grid));
        NodeContext rctx(*this, replay);
        auto outs = find_translator(replay.kind)(rctx);
        grid = outs.at(0).out;
    }
    Output flat = ctx.make<op::Reshape>({base, ctx.i64({-1})}, false);
    Output idx = ctx.make<op::Reshape>({grid, ctx.i64({-1, 1})}, false);
    Output upd = ctx.make<op::Reshape>({to_type(ctx, updated, base.type()), ctx.i64({-1})}, false);
    Output scattered = ctx.make<op::ScatterNDUpdate>({flat, idx, upd});
    TValue new_base(ctx.make<op::Reshape>({scattered, shape}, false));
    set_value(view.base, new_base);
    // The other views of that base share its memory in torch: later reads of them see the write.
    // Their (index-preserving) chains are replayed on the new base.
    // A chain that cannot be replayed here (its other inputs belong to a block already left) keeps
    // its value as it was.
    for (auto& [id, info] : views_) {
        if (info.base != view.base || !info.replayable || info.chain.empty()) continue;
        TValue v = new_base;
        try {
            for (const NodeDesc* step : info.chain) {
                NodeDesc replay = *step;
                replay.inputs[0] = -1;
                replay.outputs.assign(step->outputs.size(), -2);
                set_value(-1, v);
                NodeContext rctx(*this, replay);
                v = find_translator(replay.kind)(rctx).at(0);
            }
        } catch (const std::exception&) {
            continue;
        }
        set_value(id, v);
    }
}

bool same_value(const TValue& a, const TValue& b) {
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case TValue::Kind::tensor: return a.out == b.out;
        case TValue::Kind::constant:
            if (a.c.kind == ConstValue::Kind::tensor || b.c.kind == ConstValue::Kind::tensor)  // one weight: same memory
                return a.c.kind == b.c.kind && a.c.tensor.data() == b.c.tensor.data() &&
                       a.c.tensor.type() == b.c.tensor.type() && a.c.tensor.shape() == b.c.tensor.shape();
            return a.c.to_string() == b.c.to_string();
        case TValue::Kind::list:
            if (a.items.size() != b.items.size()) return false;
            for (size_t i = 0; i < a.items.size(); ++i)
                if (!same_value(a.items[i], b.items[i])) return false;
            return true;
        case TValue::Kind::runtime_list: return a.pieces == b.pieces;
    }
    return false;
}

TValue as_list(const TValue& v) {
    if (v.kind != TValue::Kind::constant || v.c.kind != ConstValue::Kind::list) return v;
    std::vector<TValue> items;
    for (auto& c : v.c.items) items.emplace_back(c);
    return TValue::list(items);
}

namespace {

TValue choose(NodeContext& ctx, const Output& cond, const TValue& a0, const TValue& b0) {
    if (same_value(a0, b0)) return a0;
    TValue a = as_list(a0), b = as_list(b0);
    if (a.kind == TValue::Kind::list && b.kind == TValue::Kind::list && (a.is_dict() || b.is_dict()))
        ctx.check(a.keys == b.keys, "a dict or object has other keys (attributes) after each branch of an `if` on a "
                                    "run-time condition");
    if (a.kind == TValue::Kind::list && b.kind == TValue::Kind::list && a.items.size() == b.items.size()) {
        std::vector<TValue> items;
        for (size_t i = 0; i < a.items.size(); ++i) items.push_back(choose(ctx, cond, a.items[i], b.items[i]));
        return a.is_dict() ? TValue::dict(a.keys, items) : TValue::list(items);
    }
    ctx.check(a.kind != TValue::Kind::runtime_list && b.kind != TValue::Kind::runtime_list,
              "a list of run-time length differs between the branches of an `if`");
    ctx.check(!a.is_none() && !b.is_none(), "a branch on a run-time condition gives None on one side only");
    Output x = ctx.tensor_of(a), y = ctx.tensor_of(b);
    Type t = promote_types(x.type(), y.type());
    TValue r(ctx.make<op::Choose>({cond, to_type(ctx, x, t), to_type(ctx, y, t)}));
    r.scalar = a.scalar || b.scalar || a.kind == TValue::Kind::constant;
    return r;
}

}  // namespace

std::vector<TValue> NodeContext::translate_if(const Output& cond, const BlockDesc& then_b, const BlockDesc& else_b) {
    auto before = t_.values();
    auto outs_then = translate_block(then_b, {});
    auto after_then = t_.values();
    t_.values() = before;
    auto outs_else = translate_block(else_b, {});
    auto after_else = t_.values();
    Output c = to_type(*this, cond, Type::boolean);
    std::vector<TValue> outs;
    for (size_t i = 0; i < outs_then.size(); ++i) outs.push_back(choose(*this, c, outs_then[i], outs_else[i]));
    // Outer values either branch rebound (list items assigned, in-place ops) take both histories.
    for (auto& [id, old] : before) {
        auto& vt = after_then.at(id);
        auto& ve = after_else.at(id);
        if (!same_value(vt, old) || !same_value(ve, old)) t_.set_value(id, choose(*this, c, vt, ve));
    }
    return outs;
}

std::vector<TValue> NodeContext::translate_block(const BlockDesc& b, const std::vector<TValue>& inputs) {
    check(inputs.size() == b.inputs.size(), "block takes ", b.inputs.size(), " inputs, got ", inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) t_.set_value(b.inputs[i], inputs[i]);
    t_.translate_nodes(b.nodes);
    std::vector<TValue> r;
    for (auto id : b.outputs) r.push_back(t_.value(id));
    return r;
}

std::shared_ptr<Model> Translation::run() {
    std::map<std::string, std::set<std::string>> unsupported;
    find_unsupported(g_.body.nodes, unsupported);
    if (!unsupported.empty()) {
        std::string msg = str_cat("kiln cannot convert this model: ", unsupported.size(),
                                  " operation kind(s) have no translator yet:");
        for (auto& [kind, sources] : unsupported) {
            msg += "\n  " + kind;
            for (auto& s : sources) msg += "\n      at " + s;
        }
        throw ConversionError(msg);
    }
    for (auto& [id, c] : g_.constants) {
        if (c.kind == ConstValue::Kind::list && !c.keys.empty()) {  // a dict constant
            std::vector<TValue> items(c.items.begin(), c.items.end());
            set_value(id, TValue::dict(c.keys, items));
        } else {
            set_value(id, TValue(c));
        }
    }
    ParameterVector params;
    for (auto& in : g_.inputs) {
        auto p = make<op::Parameter>({}, in.type, in.shape);
        p->set_name(in.name);
        p->set_output_names(0, {in.name});
        params.push_back(p);
        set_value(in.id, TValue(p->output(0)));
    }
    translate_nodes(g_.body.nodes);
    ResultVector results;
    std::set<std::string> used;
    for (size_t i = 0; i < g_.body.outputs.size(); ++i) {
        auto v = value(g_.body.outputs[i]);
        std::vector<std::pair<std::string, TValue>> flat;
        // Tuples, lists and dicts are flattened into several outputs, in order; dict items are
        // named by their key path ("logits", "hidden_states.1"), as the trace path names them.
        std::function<void(const TValue&, const std::string&)> flatten = [&](const TValue& x, const std::string& path) {
            if (x.kind == TValue::Kind::runtime_list) {
                throw ConversionError(
                    "the model returns a list whose length is known only at run time (a split, chunk or unbind "
                    "of a dynamic dimension, or a list appended to in a loop): kiln needs a fixed number of "
                    "outputs; stack or cat the list, unpack it into names, or give the dimension's size with input=");
            } else if (x.kind == TValue::Kind::list) {
                for (size_t j = 0; j < x.items.size(); ++j) {
                    std::string part = x.is_dict() ? x.keys[j] : path.empty() ? "" : std::to_string(j);
                    flatten(x.items[j], path.empty() ? part : part.empty() ? path : path + "." + part);
                }
            } else {
                flat.emplace_back(path, x);
            }
        };
        flatten(v, "");
        for (auto& [path, x] : flat) {
            if (x.is_none() || (x.kind == TValue::Kind::constant && x.c.kind == ConstValue::Kind::string)) continue;
            NodeDesc d;
            d.kind = "graph output";
            NodeContext ctx(*this, d);
            Output o = ctx.tensor_of(x);
            size_t k = results.size();
            std::string name = k < g_.output_names.size() ? g_.output_names[k]
                               : !path.empty()            ? path
                                                          : "output" + std::to_string(k);
            if (used.count(name)) name += "_" + std::to_string(k);
            used.insert(name);
            auto r = make<op::Result>({o});
            r->set_name(name);
            if (!dynamic_cast<op::Parameter*>(o.node.get())) {  // an input keeps its own names
                auto names = o.node->output_names(o.index);
                names.push_back(name);
                o.node->set_output_names(o.index, names);
            }
            results.push_back(r);
        }
    }
    auto m = std::make_shared<Model>(results, params, g_.name);
    validate_model(*m);
    return m;
}

std::shared_ptr<Model> translate_graph(const GraphDesc& g) {
    Translation t(g);
    return t.run();
}

}  // namespace kiln::frontend::pytorch
