// prim::If on tensor data and prim::Loop with a run-time trip count or condition, as If / Loop
// ops with body graphs.
//
// A branch or loop body is translated like any block, reading outer values directly; the nodes it
// made are then cut out into a body Model: every outer value they read becomes a body Parameter
// (an input of the If/Loop), every constant is copied in. "Outer" is everything reachable from the
// torch values bound before the block: a node the block made cannot be reached from those.
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "kiln/frontend/pytorch/translation.hpp"
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/lists.hpp"
#include "kiln/ops/control_flow.hpp"

namespace kiln::frontend::pytorch {

std::map<int64_t, TValue> NodeContext::values_snapshot() const { return t_.values(); }
void NodeContext::restore_values(std::map<int64_t, TValue> values) { t_.values() = std::move(values); }

// Choose or If? A condition computed only from shapes (through ShapeOf) and constants becomes a
// constant once a plan fixes the input shapes: both branches then stay in the graph joined by
// Choose, which constant folding resolves per plan (no sub-graphs, nothing decided at run time:
// scripted Swin's window padding stays as fast as a static model). A condition whose producers
// reach a model or body input other than through ShapeOf (or the output of an If/Loop) depends
// on tensor data, which no plan knows: it needs a real If that runs one branch at run time.
bool depends_on_data(const Output& cond) {
    std::vector<Node*> stack{cond.node.get()};
    std::unordered_set<Node*> seen;
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        if (!seen.insert(n).second) continue;
        if (dynamic_cast<op::ShapeOf*>(n)) continue;
        if (dynamic_cast<op::Parameter*>(n) || !n->bodies().empty()) return true;
        for (auto& in : n->inputs()) stack.push_back(in.node.get());
    }
    return false;
}

namespace {

void tensors_in(const TValue& v, std::vector<Node*>& out) {
    if (v.kind == TValue::Kind::tensor) out.push_back(v.out.node.get());
    for (auto& i : v.items) tensors_in(i, out);
    if (v.pieces) {
        out.push_back(v.pieces->data.node.get());
        if (v.pieces->piece.node) out.push_back(v.pieces->piece.node.get());
    }
}

// Every node the bound values depend on.
std::unordered_set<Node*> ancestors(const std::map<int64_t, TValue>& values) {
    std::vector<Node*> stack;
    for (auto& [id, v] : values) tensors_in(v, stack);
    std::unordered_set<Node*> seen;
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        if (!n || !seen.insert(n).second) continue;
        for (auto& in : n->inputs()) stack.push_back(in.node.get());
    }
    return seen;
}

struct Body {
    std::shared_ptr<Model> model;
    OutputVector captured;  // the outer value behind each parameter appended after `params`
};

// Cuts the nodes that compute `results` out into a body: outer values become parameters
// (appended to `params`), constants are copied in so that no node is shared with the outer graph.
Body make_body(const OutputVector& results, ParameterVector params, const std::unordered_set<Node*>& outer,
               const std::string& name) {
    Body b;
    std::map<Output, Output> inside;
    auto outside = [&](const Output& o) { return outer.count(o.node.get()) || o.node->constant_value(); };
    auto stand_in = [&](const Output& o) {
        auto it = inside.find(o);
        if (it != inside.end()) return it->second;
        Output r;
        if (auto c = o.node->constant_value()) {
            auto k = std::make_shared<op::Constant>(*c);
            k->set_name(o.node->name());
            k->set_source(o.node->source());
            k->validate_and_infer();
            r = k->output(0);
        } else {
            auto p = make<op::Parameter>({}, o.type(), o.shape());
            p->set_name(o.node->name());
            params.push_back(p);
            b.captured.push_back(o);
            r = p->output(0);
        }
        return inside[o] = r;
    };
    ResultVector rs;
    std::vector<Node*> stack;
    for (auto& o : results) {
        Output src = outside(o) ? stand_in(o) : o;
        rs.push_back(make<op::Result>({src}));
        stack.push_back(src.node.get());
    }
    std::unordered_set<Node*> done;
    while (!stack.empty()) {
        Node* n = stack.back();
        stack.pop_back();
        if (!done.insert(n).second) continue;
        for (size_t i = 0; i < n->num_inputs(); ++i) {
            Output in = n->input(i);
            if (outside(in)) n->set_input(i, stand_in(in));
            else stack.push_back(in.node.get());
        }
    }
    b.model = std::make_shared<Model>(rs, params, name);
    return b;
}

bool is_number(const TValue& v) {
    return v.kind == TValue::Kind::constant &&
           (v.c.kind == ConstValue::Kind::integer || v.c.kind == ConstValue::Kind::floating ||
            v.c.kind == ConstValue::Kind::boolean);
}

// A value's leaves (tensors, constants), lists opened depth first.
void leaves_of(const TValue& v0, std::vector<TValue>& out) {
    TValue v = as_list(v0);
    if (v.kind == TValue::Kind::list) {
        for (auto& i : v.items) leaves_of(i, out);
        return;
    }
    out.push_back(v);
}

// v with its leaves replaced, in order, by leaves[k...].
TValue with_leaves(const TValue& v0, const std::vector<TValue>& leaves, size_t& k) {
    TValue v = as_list(v0);
    if (v.kind != TValue::Kind::list) return leaves.at(k++);
    std::vector<TValue> items;
    for (auto& i : v.items) items.push_back(with_leaves(i, leaves, k));
    TValue r = TValue::list(items);
    return r;
}

TensorDesc desc_of(const TValue& leaf) {
    if (leaf.kind == TValue::Kind::tensor) return leaf.out.node->output_desc(leaf.out.index);
    switch (leaf.c.kind) {
        case ConstValue::Kind::integer: return TensorDesc{Type::i64, PartialShape(Shape{})};
        case ConstValue::Kind::floating: return TensorDesc{Type::f32, PartialShape(Shape{})};
        case ConstValue::Kind::boolean: return TensorDesc{Type::boolean, PartialShape(Shape{})};
        default: return TensorDesc{};
    }
}

// Every shape `inner` allows, `outer` allows too.
bool holds(const PartialShape& outer, const PartialShape& inner) {
    if (outer.rank_is_dynamic()) return true;
    if (inner.rank_is_dynamic() || inner.rank() != outer.rank()) return false;
    for (size_t i = 0; i < outer.size(); ++i) {
        auto& o = outer[i];
        auto& n = inner[i];
        if (n.get_min_length() < o.get_min_length()) return false;
        if (o.get_max_length() >= 0 && (n.get_max_length() < 0 || n.get_max_length() > o.get_max_length())) return false;
    }
    return true;
}

// The leaves where the two branches give different values: each becomes an If output.
struct Merge {
    std::vector<std::pair<TValue, TValue>> leaves;  // (then value, else value)
};

// a and b merged: where they differ, a placeholder (a tensor value with no node, its index the
// If output) to fill once the If exists.
TValue merge(NodeContext& ctx, const TValue& a0, const TValue& b0, Merge& m) {
    if (same_value(a0, b0)) return a0;
    TValue a = as_list(a0), b = as_list(b0);
    if (a.kind == TValue::Kind::list && b.kind == TValue::Kind::list) {
        ctx.check(a.items.size() == b.items.size(), "the branches of an `if` on tensor data give lists of ",
                  a.items.size(), " and ", b.items.size(), " items (kiln needs one length; an append in one branch "
                  "only is not supported)");
        std::vector<TValue> items;
        for (size_t i = 0; i < a.items.size(); ++i) items.push_back(merge(ctx, a.items[i], b.items[i], m));
        return TValue::list(items);
    }
    ctx.check(a.kind != TValue::Kind::runtime_list && b.kind != TValue::Kind::runtime_list,
              "a list of run-time length differs between the branches of an `if` on tensor data");
    ctx.check(a.kind != TValue::Kind::list && b.kind != TValue::Kind::list,
              "the branches of an `if` on tensor data give a list on one side and a single value on the other");
    ctx.check(!a.is_none() && !b.is_none(), "a branch on a run-time condition gives None on one side only");
    TValue p;
    p.kind = TValue::Kind::tensor;
    p.out.index = m.leaves.size();
    p.scalar = a.scalar || b.scalar || is_number(a) || is_number(b);
    m.leaves.emplace_back(a, b);
    return p;
}

TValue fill(const TValue& v, const std::shared_ptr<Node>& n) {
    if (v.kind == TValue::Kind::tensor && !v.out.node) {
        TValue r(n->output(v.out.index));
        r.scalar = v.scalar;
        return r;
    }
    if (v.kind != TValue::Kind::list) return v;
    std::vector<TValue> items;
    for (auto& i : v.items) items.push_back(fill(i, n));
    TValue r = TValue::list(items);
    r.pieces = v.pieces;
    return r;
}

// Whether the block uses list `id` only as the list of aten::append.
bool only_appended(const BlockDesc& b, int64_t id) {
    for (auto& n : b.nodes) {
        for (size_t i = 0; i < n.inputs.size(); ++i)
            if (n.inputs[i] == id && !(n.kind == "aten::append" && i == 0)) return false;
        for (auto& sub : n.blocks)
            if (!only_appended(sub, id)) return false;
    }
    return true;
}

}  // namespace

std::vector<TValue> NodeContext::translate_data_if(const Output& cond, const BlockDesc& then_b, const BlockDesc& else_b) {
    Output c = to_type(*this, cond, Type::boolean);
    auto before = t_.values();
    auto outer = ancestors(before);
    auto outs_then = translate_block(then_b, {});
    auto after_then = t_.values();
    t_.values() = before;
    auto outs_else = translate_block(else_b, {});
    auto after_else = t_.values();
    t_.values() = before;

    Merge m;
    std::vector<TValue> outs;
    for (size_t i = 0; i < outs_then.size(); ++i) outs.push_back(merge(*this, outs_then[i], outs_else[i], m));
    // Outer values either branch rebinds (list items assigned, in-place ops) are outputs too.
    std::vector<std::pair<int64_t, TValue>> rebound;
    for (auto& [id, old] : before) {
        auto& vt = after_then.at(id);
        auto& ve = after_else.at(id);
        if (!same_value(vt, old) || !same_value(ve, old)) rebound.emplace_back(id, merge(*this, vt, ve, m));
    }
    if (m.leaves.empty()) {
        for (auto& [id, v] : rebound) t_.set_value(id, v);
        return outs;
    }
    OutputVector then_res, else_res;
    for (auto& [a, b] : m.leaves) {
        Output x = tensor_of(a), y = tensor_of(b);
        Type t = promote_types(x.type(), y.type());
        then_res.push_back(to_type(*this, x, t));
        else_res.push_back(to_type(*this, y, t));
    }
    auto tb = make_body(then_res, {}, outer, "then");
    auto eb = make_body(else_res, {}, outer, "else");
    auto n = std::make_shared<op::If>();
    OutputVector ins{c};
    std::map<Output, int64_t> index_of;
    auto input_for = [&](const Output& o) {
        auto it = index_of.find(o);
        if (it != index_of.end()) return it->second;
        ins.push_back(o);
        return index_of[o] = static_cast<int64_t>(ins.size() - 1);
    };
    for (size_t j = 0; j < tb.captured.size(); ++j) n->then_inputs.push_back({input_for(tb.captured[j]), static_cast<int64_t>(j)});
    for (size_t j = 0; j < eb.captured.size(); ++j) n->else_inputs.push_back({input_for(eb.captured[j]), static_cast<int64_t>(j)});
    for (size_t k = 0; k < m.leaves.size(); ++k) {
        n->then_outputs.push_back({static_cast<int64_t>(k), static_cast<int64_t>(k)});
        n->else_outputs.push_back({static_cast<int64_t>(k), static_cast<int64_t>(k)});
    }
    n->then_body = tb.model;
    n->else_body = eb.model;
    n->set_inputs(ins);
    tag(*n);
    n->validate_and_infer();
    for (auto& [id, v] : rebound) t_.set_value(id, fill(v, n));
    for (auto& o : outs) o = fill(o, n);
    return outs;
}

std::vector<TValue> NodeContext::translate_loop(const TValue& trip_count, const TValue& condition,
                                                const std::vector<TValue>& carried, const BlockDesc& block) {
    check(block.inputs.size() == carried.size() + 1, "the loop body takes ", block.inputs.size(), " values, the loop carries ",
          carried.size());
    // torch runs no iteration for a negative trip count, where Loop would run without a limit.
    Output trip = make<op::Maximum>({to_type(*this, tensor_of(trip_count), Type::i64), i64_scalar(0)});
    Output exec = to_type(*this, tensor_of(condition), Type::boolean);
    auto before = t_.values();
    auto outer = ancestors(before);

    // What the loop carries: the values torch declares, then outer values the body changes
    // (in-place ops, list items assigned: carried the same way), and lists it appends to.
    struct Slot {
        TValue init;
        int64_t id = -1;  // outer torch value (-1: declared by torch)
        bool grows = false;
        std::vector<TensorDesc> shapes;  // per carried leaf: the parameter's type and shape
    };
    std::vector<Slot> slots;
    auto add_slot = [&](TValue init, int64_t id, bool grows) {
        Slot s{init, id, grows, {}};
        std::vector<TValue> leaves;
        if (!grows) leaves_of(init, leaves);
        for (auto& l : leaves) {
            check(l.kind != TValue::Kind::runtime_list, "a list of run-time length cannot be carried by a loop");
            if (l.kind == TValue::Kind::tensor || is_number(l)) s.shapes.push_back(desc_of(l));
        }
        slots.push_back(std::move(s));
    };
    for (auto& c : carried) add_slot(c, -1, false);
    std::set<int64_t> extra;

    std::shared_ptr<op::Parameter> iter;
    ParameterVector params;
    std::vector<TValue> outs;
    std::map<int64_t, TValue> after;
    for (int round = 0;; ++round) {
        check(round < 32, "the loop's carried values do not settle on a shape");
        t_.values() = before;
        iter = kiln::make<op::Parameter>({}, Type::i64, PartialShape(Shape{}));
        iter->set_name(node_.name + "/iteration");
        params = {iter};
        std::vector<TValue> bound;
        for (auto& s : slots) {
            if (s.grows) {
                // Each iteration starts from an empty list: what it appends is that iteration's slice.
                bound.push_back(TValue::list({}));
                continue;
            }
            std::vector<TValue> leaves, now;
            leaves_of(s.init, leaves);
            size_t k = 0;
            for (auto& l : leaves) {
                if (l.kind != TValue::Kind::tensor && !is_number(l)) {
                    now.push_back(l);
                    continue;
                }
                auto& d = s.shapes[k++];
                auto p = kiln::make<op::Parameter>({}, d.type, d.shape);
                p->set_name(l.kind == TValue::Kind::tensor ? l.out.node->name() : node_.name + "/carried");
                params.push_back(p);
                TValue v(p->output(0));
                v.scalar = l.scalar || is_number(l);
                now.push_back(v);
            }
            size_t j = 0;
            bound.push_back(with_leaves(s.init, now, j));
        }
        TValue it(iter->output(0));
        it.scalar = true;
        std::vector<TValue> in{it};
        for (size_t i = 0; i < carried.size(); ++i) in.push_back(bound[i]);
        for (size_t i = carried.size(); i < slots.size(); ++i) t_.set_value(slots[i].id, bound[i]);
        outs = translate_block(block, in);
        after = t_.values();

        bool retry = false;
        for (auto& [id, old] : before) {
            if (extra.count(id) || same_value(after.at(id), old)) continue;
            TValue o = as_list(old), now = as_list(after.at(id));
            bool grows = o.kind == TValue::Kind::list && o.items.empty() && now.kind == TValue::Kind::list &&
                         now.items.size() == 1 && now.items[0].kind == TValue::Kind::tensor;
            if (grows)
                check(only_appended(block, id), "a list the loop appends to is also read inside the loop; kiln "
                      "supports a list a loop only appends to (one item per iteration, from an empty list)");
            else
                check(o.kind != TValue::Kind::list || now.kind != TValue::Kind::list || o.items.size() == now.items.size(),
                      "a list changes its length inside the loop; kiln supports a list the loop only appends to "
                      "(one tensor per iteration, starting from an empty list)");
            add_slot(old, id, grows);
            extra.insert(id);
            retry = true;
        }
        if (retry) continue;

        // Each carried leaf's value after an iteration must fit its parameter; widen where not.
        bool changed = false;
        for (size_t i = 0; i < slots.size(); ++i) {
            auto& s = slots[i];
            TValue out = i < carried.size() ? outs[1 + i] : after.at(s.id);
            if (s.grows) continue;
            std::vector<TValue> li, lo;
            leaves_of(s.init, li);
            leaves_of(out, lo);
            check(li.size() == lo.size(), "a loop-carried list changes its length");
            size_t k = 0;
            for (size_t j = 0; j < li.size(); ++j) {
                if (li[j].kind != TValue::Kind::tensor && !is_number(li[j])) {
                    check(same_value(li[j], lo[j]), "a loop-carried value changes from ", li[j].c.to_string(),
                          " (kiln carries tensors and numbers)");
                    continue;
                }
                check(lo[j].kind == TValue::Kind::tensor || is_number(lo[j]),
                      "a loop-carried tensor or number becomes something else in the body");
                auto& p = s.shapes[k++];
                TensorDesc d = desc_of(lo[j]);
                bool number = li[j].scalar || is_number(li[j]);
                check(number || d.type == p.type || d.type == Type::dynamic || p.type == Type::dynamic,
                      "a loop-carried tensor changes its element type from ", type_name(p.type), " to ",
                      type_name(d.type));
                if (!holds(p.shape, d.shape)) {
                    // Dims that differ become dynamic (a value that grows each iteration).
                    if (p.shape.rank_is_static() && d.shape.rank_is_static() && p.shape.rank() == d.shape.rank()) {
                        std::vector<Dimension> dims;
                        for (size_t q = 0; q < p.shape.size(); ++q)
                            dims.push_back(p.shape[q] == d.shape[q] ? p.shape[q] : Dimension());
                        p.shape = PartialShape(dims);
                    } else {
                        p.shape = PartialShape();
                    }
                    changed = true;
                }
            }
        }
        if (!changed) break;
    }

    // The body: condition, carried values (back edges), appended items (concatenated).
    OutputVector results{to_type(*this, tensor_of(outs.at(0)), Type::boolean)};
    OutputVector inits;
    std::vector<std::vector<TValue>> init_leaves(slots.size());
    size_t n_leaves = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
        auto& s = slots[i];
        if (s.grows) continue;
        TValue out = i < carried.size() ? outs[1 + i] : after.at(s.id);
        std::vector<TValue> li, lo;
        leaves_of(s.init, li);
        leaves_of(out, lo);
        size_t k = 0;
        for (size_t j = 0; j < li.size(); ++j) {
            if (li[j].kind != TValue::Kind::tensor && !is_number(li[j])) continue;
            Type t = s.shapes[k++].type;
            results.push_back(to_type(*this, tensor_of(lo[j]), t));
            inits.push_back(to_type(*this, tensor_of(li[j]), t));
            ++n_leaves;
        }
    }
    std::vector<size_t> grow_slots;
    for (size_t i = 0; i < slots.size(); ++i) {
        if (!slots[i].grows) continue;
        TValue list = as_list(after.at(slots[i].id));
        check(list.kind == TValue::Kind::list && list.items.size() == 1, "a list the loop appends to must get one item per iteration");
        Output item = tensor_of(list.items[0]);
        check(item.shape().rank_is_static(), "an item appended in a loop needs a known rank");
        results.push_back(make<op::Unsqueeze>({item, i64({0})}));
        grow_slots.push_back(i);
    }
    if (n_leaves == 0 && grow_slots.empty()) {  // nothing carried out: the loop has no effect
        t_.values() = before;
        return {};
    }
    auto body = make_body(results, params, outer, "body");
    auto n = std::make_shared<op::Loop>();
    n->body = body.model;
    n->special_body_ports = {0, 0};
    OutputVector ins{trip, exec};
    for (size_t k = 0; k < n_leaves; ++k) {
        auto kk = static_cast<int64_t>(k);
        ins.push_back(inits[k]);
        n->merged_inputs.push_back({2 + kk, 1 + kk, 1 + kk});
        n->body_outputs.push_back({1 + kk, kk, -1});
    }
    for (size_t j = 0; j < body.captured.size(); ++j) {
        ins.push_back(body.captured[j]);
        n->invariant_inputs.push_back({static_cast<int64_t>(ins.size() - 1), static_cast<int64_t>(params.size() + j)});
    }
    for (size_t g = 0; g < grow_slots.size(); ++g) {
        auto v = static_cast<int64_t>(1 + n_leaves + g), o = static_cast<int64_t>(n_leaves + g);
        n->concat_outputs.push_back({v, o, 0, 1, 1, -1, 0});
    }
    n->set_inputs(ins);
    tag(*n);
    n->validate_and_infer();

    // Back outside: each carried value is the Loop's output, each appended list its concatenation.
    t_.values() = before;
    std::vector<TValue> result;
    size_t k = 0;
    for (size_t i = 0; i < slots.size(); ++i) {
        auto& s = slots[i];
        TValue v;
        if (s.grows) {
            size_t g = static_cast<size_t>(std::find(grow_slots.begin(), grow_slots.end(), i) - grow_slots.begin());
            v = pieces_list(Pieces{n->output(n_leaves + g), 0, {}});
        } else {
            std::vector<TValue> li, now;
            leaves_of(s.init, li);
            for (auto& l : li) {
                if (l.kind != TValue::Kind::tensor && !is_number(l)) {
                    now.push_back(l);
                    continue;
                }
                TValue o(n->output(k++));
                o.scalar = l.scalar || is_number(l);
                now.push_back(o);
            }
            size_t j = 0;
            v = with_leaves(s.init, now, j);
        }
        if (i < carried.size()) result.push_back(v);
        else t_.set_value(s.id, v);
    }
    return result;
}

}  // namespace kiln::frontend::pytorch
