// prim:: nodes: lists and tuples, If and Loop (unrolled or resolved at conversion when their
// condition and trip count are known; else real If/Loop ops, control_flow.cpp), None checks,
// device/dtype queries.
#include <algorithm>
#include <functional>
#include <optional>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/lists.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

Outs list_construct(NodeContext& ctx) {
    std::vector<TValue> items;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) items.push_back(ctx.value(i));
    return {TValue::list(items)};
}

// {k0: v0, k1: v1, ...}: the dict a model returns (transformers' outputs when scripted).
Outs dict_construct(NodeContext& ctx) {
    std::vector<std::string> keys;
    std::vector<TValue> items;
    for (size_t i = 0; i + 1 < ctx.num_inputs(); i += 2) {
        auto k = ctx.value(i).as_const();
        ctx.check(k.kind == ConstValue::Kind::string || k.kind == ConstValue::Kind::integer,
                  "dict keys must be strings or ints known at conversion time");
        keys.push_back(k.kind == ConstValue::Kind::string ? k.s : std::to_string(k.i));
        items.push_back(ctx.value(i + 1));
    }
    if (keys.empty()) return {TValue::list({})};
    return {TValue::dict(keys, items)};
}

// dict() / OrderedDict() (an empty dict), or dict(pairs) from a list of (key, value) tuples.
Outs dict_new(NodeContext& ctx) {
    if (ctx.num_inputs() == 0) return {TValue::list({})};
    std::vector<std::string> keys;
    std::vector<TValue> items;
    for (auto& pair : ctx.list(0)) {
        ctx.check(pair.kind == TValue::Kind::list && pair.items.size() == 2, "expects (key, value) pairs");
        ctx.check(pair.items[0].is_const(), "dict keys must be known at conversion time");
        auto k = pair.items[0].as_const();
        ctx.check(k.kind == ConstValue::Kind::string || k.kind == ConstValue::Kind::integer,
                  "dict keys must be strings or ints known at conversion time");
        std::string name = k.kind == ConstValue::Kind::string ? k.s : std::to_string(k.i);
        auto at = std::find(keys.begin(), keys.end(), name);
        if (at != keys.end()) {
            items[static_cast<size_t>(at - keys.begin())] = pair.items[1];
        } else {
            keys.push_back(name);
            items.push_back(pair.items[1]);
        }
    }
    if (keys.empty()) return {TValue::list({})};
    return {TValue::dict(keys, items)};
}

// dict.items(): (key, value) tuples in insertion order.
Outs dict_items(NodeContext& ctx) {
    auto& d = ctx.value(0);
    ctx.check(d.is_dict() || (d.kind == TValue::Kind::list && d.items.empty()), "expects a dict");
    std::vector<TValue> pairs;
    for (size_t i = 0; i < d.keys.size(); ++i)
        pairs.push_back(TValue::list({TValue(ConstValue::string(d.keys[i])), d.items[i]}));
    return {TValue::list(pairs)};
}

// dict.keys() / dict.values()
template <bool Keys>
Outs dict_part(NodeContext& ctx) {
    auto& d = ctx.value(0);
    ctx.check(d.is_dict() || (d.kind == TValue::Kind::list && d.items.empty()), "expects a dict");
    if (!Keys) return {TValue::list(d.items)};
    std::vector<TValue> keys;
    for (auto& k : d.keys) keys.emplace_back(ConstValue::string(k));
    return {TValue::list(keys)};
}

Outs list_unpack(NodeContext& ctx) {
    auto& v = ctx.value(0);
    size_t n = ctx.desc().outputs.size();
    if (v.kind == TValue::Kind::tensor) {
        // A shape tensor unpacked into ints.
        Outs r;
        for (size_t i = 0; i < n; ++i)
            r.emplace_back(ctx.make<op::Gather>({v.out, ctx.i64_scalar(static_cast<int64_t>(i)), ctx.i64_scalar(0)},
                                                int64_t{0}));
        return r;
    }
    // A split of a dynamic dimension: unpacking says how many pieces it has.
    if (v.kind == TValue::Kind::runtime_list) return unpack_pieces(ctx, *v.pieces, n);
    auto items = ctx.list(0);
    ctx.check(items.size() == n, "unpacks ", n, " values from a list of ", items.size());
    return items;
}

Outs tuple_index(NodeContext& ctx) {
    auto items = ctx.list(0);
    int64_t i = ctx.const_int(1);
    if (i < 0) i += static_cast<int64_t>(items.size());
    ctx.check(i >= 0 && i < static_cast<int64_t>(items.size()), "tuple index out of range");
    return {items[static_cast<size_t>(i)]};
}

bool raises(const BlockDesc& b) {
    for (auto& n : b.nodes)
        if (n.kind == "prim::RaiseException") return true;
    return false;
}

// The value of a condition known at conversion time (a constant, or a tensor folded to one).
std::optional<bool> known_bool(const NodeContext& ctx, size_t i) {
    auto& v = ctx.value(i);
    if (v.kind == TValue::Kind::tensor && !v.out.node->constant_value()) return std::nullopt;
    if (v.kind == TValue::Kind::list) return std::nullopt;
    return ctx.const_bool(i);
}

Outs prim_if(NodeContext& ctx) {
    auto& bl = ctx.desc().blocks;
    if (auto c = known_bool(ctx, 0)) {
        ctx.check(bl.size() == 2, "expected two blocks, got ", bl.size());
        return ctx.translate_block(bl[*c ? 0 : 1], {});
    }
    ctx.check(bl.size() == 2, "expected two blocks, got ", bl.size());
    // An assertion (`if bad: raise ...`): a valid input takes the other branch.
    if (raises(bl[0]) != raises(bl[1])) return ctx.translate_block(bl[raises(bl[0]) ? 1 : 0], {});
    ctx.check(!raises(bl[0]), "both branches raise an exception");
    Output cond = ctx.input(0);
    // Known only at run time: on shapes only, both branches joined by Choose (a plan resolves it
    // once the shapes are static); on tensor data, a real If (see depends_on_data).
    if (depends_on_data(cond)) return ctx.translate_data_if(cond, bl[0], bl[1]);
    return ctx.translate_if(cond, bl[0], bl[1]);
}

// Loop(max_trip_count, initial_condition, carried...): unrolled when the trip count and the
// condition are known at conversion time (up to kMaxUnroll iterations) and the body's condition
// stays known; otherwise a real Loop.
Outs prim_loop(NodeContext& ctx) {
    constexpr int64_t kMaxUnroll = 4096;
    std::vector<TValue> carried;
    for (size_t i = 2; i < ctx.num_inputs(); ++i) carried.push_back(ctx.value(i));
    auto& body = ctx.desc().blocks.at(0);
    auto trips = known_int(ctx, 0);
    auto cond = known_bool(ctx, 1);
    if (trips && cond && *trips <= kMaxUnroll) {
        auto before = ctx.values_snapshot();
        std::vector<TValue> c = carried;
        bool run = *cond, known = true;
        for (int64_t it = 0; it < *trips && run; ++it) {
            std::vector<TValue> in{TValue(ConstValue::integer(it))};
            in.insert(in.end(), c.begin(), c.end());
            auto out = ctx.translate_block(body, in);
            if (out[0].kind == TValue::Kind::tensor && out[0].out.node->constant_value()) {
                run = out[0].out.node->constant_value()->as_i64_vector().at(0) != 0;
            } else if (out[0].is_const()) {
                auto k = out[0].as_const();
                run = k.kind == ConstValue::Kind::boolean ? k.b : k.i != 0;
            } else {
                known = false;  // a `while` on data: its iterations are decided at run time
                break;
            }
            c.assign(out.begin() + 1, out.end());
        }
        if (known) return c;
        ctx.restore_values(before);
    }
    return ctx.translate_loop(ctx.value(0), ctx.value(1), carried, body);
}

// for i in range(start, stop, step): TorchScript counts the trips, then derives i from the count.
Outs range_length(NodeContext& ctx) {
    auto lo = known_int(ctx, 0), hi = known_int(ctx, 1), st = known_int(ctx, 2);
    ctx.check(st.has_value() && *st != 0, "range() needs a nonzero step known at conversion time");
    int64_t step = *st;
    if (lo && hi) {
        int64_t n = step > 0 ? (*hi - *lo + step - 1) / step : (*lo - *hi - step - 1) / -step;
        return {ConstValue::integer(std::max<int64_t>(n, 0))};
    }
    Output a = to_type(ctx, ctx.input(0), Type::i64), b = to_type(ctx, ctx.input(1), Type::i64);
    Output span = step > 0 ? ctx.make<op::Subtract>({b, a}) : ctx.make<op::Subtract>({a, b});
    int64_t s = step > 0 ? step : -step;
    Output n = ctx.make<op::Divide>({ctx.make<op::Add>({span, ctx.i64_scalar(s - 1)}), ctx.i64_scalar(s)}, true);
    TValue r(ctx.make<op::Maximum>({n, ctx.i64_scalar(0)}));
    r.scalar = true;
    return {r};
}

Outs derive_index(NodeContext& ctx) {  // (index, start, step) -> start + index * step
    auto i = known_int(ctx, 0), a = known_int(ctx, 1), st = known_int(ctx, 2);
    if (i && a && st) return {ConstValue::integer(*a + *i * *st)};
    Output idx = to_type(ctx, ctx.input(0), Type::i64);
    TValue r(ctx.make<op::Add>({to_type(ctx, ctx.input(1), Type::i64),
                                ctx.make<op::Multiply>({idx, to_type(ctx, ctx.input(2), Type::i64)})}));
    r.scalar = true;
    return {r};
}

// prim::min / prim::max of two numbers or of a list (enumerate() takes min(max int, len(list))).
template <bool Min>
Outs min_max(NodeContext& ctx) {
    if (ctx.num_inputs() == 2) {
        auto is_int = [&](size_t k) {
            return ctx.value(k).kind == TValue::Kind::constant && ctx.value(k).c.kind == ConstValue::Kind::integer;
        };
        if (is_int(0) && is_int(1)) {  // exactly (enumerate's bound is INT64_MAX)
            int64_t a = ctx.value(0).c.i, b = ctx.value(1).c.i;
            return {ConstValue::integer(Min ? std::min(a, b) : std::max(a, b))};
        }
        if (ctx.is_const(0) && ctx.is_const(1)) {
            double x = ctx.const_float(0), y = ctx.const_float(1);
            return {ConstValue::floating(Min ? std::min(x, y) : std::max(x, y))};
        }
        auto [x, y] = promoted(ctx, 0, 1);
        TValue r(Min ? ctx.make<op::Minimum>({x, y}) : ctx.make<op::Maximum>({x, y}));
        r.scalar = true;
        return {r};
    }
    auto items = ctx.list(0);
    ctx.check(!items.empty(), "min()/max() of an empty list");
    if (ctx.is_const(0)) {
        auto v = ctx.const_ints(0);
        return {ConstValue::integer(Min ? *std::min_element(v.begin(), v.end()) : *std::max_element(v.begin(), v.end()))};
    }
    Output all = ctx.tensor_of(ctx.value(0));
    TValue r(Min ? ctx.make<op::ReduceMin>({all, ctx.i64({0})}, false) : ctx.make<op::ReduceMax>({all, ctx.i64({0})}, false));
    r.scalar = true;
    return {r};
}

// x is None / x is not None: known at conversion time.
template <bool Is>
Outs is_none(NodeContext& ctx) {
    bool a = ctx.is_none(0), b = ctx.is_none(1);
    auto& va = ctx.value(0);
    auto& vb = ctx.value(1);
    bool same;
    if (a || b) {
        same = a && b;
    } else if (va.kind == TValue::Kind::tensor && vb.kind == TValue::Kind::tensor) {
        same = va.out == vb.out;  // one torch value is one kiln output
    } else {
        ctx.fail("`is` is supported between tensors and against None only");
    }
    return {ConstValue::boolean(Is ? same : !same)};
}

Outs device(NodeContext& ctx) { return {ConstValue::string("cpu")}; }

Outs dtype(NodeContext& ctx) {
    Type t = ctx.input(0).type();
    int64_t code = torch_dtype_code(t);
    ctx.check(code >= 0, "the input's element type is not known at conversion time");
    return {ConstValue::integer(code)};
}

Outs nothing(NodeContext& ctx) { return {}; }

// A torch.autograd.Function applied in a traced model: its traced forward, inlined.
Outs python_op(NodeContext& ctx) {
    ctx.check(ctx.desc().blocks.size() == 1,
              "a Python function kiln cannot see into (only traced autograd Functions carry their graph)");
    std::vector<TValue> in;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) in.push_back(ctx.value(i));
    return ctx.translate_block(ctx.desc().blocks[0], in);
}

Outs is_floating_point(NodeContext& ctx) {
    Type t = ctx.input(0).type();
    ctx.check(t != Type::dynamic, "the input's element type is not known at conversion time");
    return {ConstValue::boolean(is_float(t))};
}

// list.append(x): lists are values here, so the list input takes its new value in place.
Outs append(NodeContext& ctx) {
    auto items = ctx.list(0);
    items.push_back(ctx.value(1));
    auto updated = TValue::list(items);
    ctx.set_input_value(0, updated);
    return {updated};
}

// A dict (or record) with `name` set to v: replaced where it is, appended where it is not.
TValue with_key(const TValue& d, const std::string& name, TValue v) {
    std::vector<std::string> keys = d.keys;
    std::vector<TValue> items = d.items;
    auto at = std::find(keys.begin(), keys.end(), name);
    if (at == keys.end()) {
        keys.push_back(name);
        items.push_back(std::move(v));
    } else {
        items[static_cast<size_t>(at - keys.begin())] = std::move(v);
    }
    return TValue::dict(std::move(keys), std::move(items));
}

// list[i] = x / dict[key] = x: the list or dict input takes its new value in place.
Outs set_item(NodeContext& ctx) {
    auto key = ctx.value(1);
    if (ctx.value(0).is_dict() || (key.kind == TValue::Kind::constant && key.c.kind == ConstValue::Kind::string)) {
        auto d = ctx.value(0);
        ctx.check(key.is_const(), "dict keys must be known at conversion time");
        auto k = key.as_const();
        std::string name = k.kind == ConstValue::Kind::string ? k.s : std::to_string(k.i);
        auto updated = with_key(d, name, ctx.value(2));
        ctx.set_input_value(0, updated);
        if (ctx.desc().outputs.empty()) return {};  // dict.__setitem__ returns nothing
        return {updated};
    }
    auto items = ctx.list(0);
    int64_t i = ctx.const_int(1), n = static_cast<int64_t>(items.size());
    if (i < 0) i += n;
    ctx.check(i >= 0 && i < n, "index ", ctx.const_int(1), " is out of range for a list of ", n);
    items[static_cast<size_t>(i)] = ctx.value(2);
    auto updated = TValue::list(items);
    ctx.set_input_value(0, updated);
    return {updated};
}

// String formatting only feeds exception messages, which kiln does not raise.
Outs format(NodeContext& ctx) { return {ConstValue::string("")}; }

Outs not_(NodeContext& ctx) {
    if (auto c = known_bool(ctx, 0)) return {ConstValue::boolean(!*c)};
    return {ctx.make<op::LogicalNot>({to_type(ctx, ctx.input(0), Type::boolean)})};
}

bool same_const(const ConstValue& a, const ConstValue& b) {
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case ConstValue::Kind::none: return true;
        case ConstValue::Kind::boolean: return a.b == b.b;
        case ConstValue::Kind::integer: return a.i == b.i;
        case ConstValue::Kind::floating: return a.f == b.f;
        case ConstValue::Kind::string: return a.s == b.s;
        default: return false;
    }
}

// `item in list` (or a substring in a string), both known at conversion time.
Outs contains(NodeContext& ctx) {
    auto& d = ctx.value(0);
    if (d.is_dict() && ctx.is_const(1)) {  // `key in dict`: its keys are known at conversion
        auto k = ctx.value(1).as_const();
        std::string key = k.kind == ConstValue::Kind::string ? k.s : std::to_string(k.i);
        return {ConstValue::boolean(std::find(d.keys.begin(), d.keys.end(), key) != d.keys.end())};
    }
    ctx.check(ctx.is_const(0) && ctx.is_const(1), "`in` needs values known at conversion time");
    auto hay = ctx.value(0).as_const(), needle = ctx.value(1).as_const();
    if (hay.kind == ConstValue::Kind::string && needle.kind == ConstValue::Kind::string)
        return {ConstValue::boolean(hay.s.find(needle.s) != std::string::npos)};
    ctx.check(hay.kind == ConstValue::Kind::list, "`in` needs a list or a string");
    for (auto& item : hay.items)
        if (same_const(item, needle)) return {ConstValue::boolean(true)};
    return {ConstValue::boolean(false)};
}

// all()/any() over a list of bools known at conversion time, or over a tensor.
template <bool All>
Outs all_any(NodeContext& ctx) {
    auto& v = ctx.value(0);
    if (v.kind != TValue::Kind::tensor || v.scalar) {
        std::vector<bool> bits;
        std::vector<Output> runtime;  // items known only at run time (RAFT: sizes compared)
        for (size_t i = 0; auto& item : ctx.list(0)) {
            (void)i;
            if (item.kind == TValue::Kind::tensor) {
                auto c = item.out.node->constant_value();
                if (c == nullptr) {
                    ctx.check(item.out.shape().rank_is_static() && item.out.shape().rank() == 0,
                              "all()/any() of a list item known only at run time must be a bool or int");
                    runtime.push_back(to_type(ctx, item.out, Type::boolean));
                    continue;
                }
                bits.push_back(c->as_i64_vector().at(0) != 0);
            } else {
                auto c = item.as_const();
                bits.push_back(c.kind == ConstValue::Kind::boolean ? c.b : c.i != 0);
            }
        }
        bool r = All;
        for (bool b : bits) r = All ? (r && b) : (r || b);
        if (runtime.empty() || r != All) return {ConstValue::boolean(r)};  // decided at conversion
        Output acc = runtime[0];
        for (size_t i = 1; i < runtime.size(); ++i)
            acc = All ? Output(ctx.make<op::LogicalAnd>({acc, runtime[i]})) : Output(ctx.make<op::LogicalOr>({acc, runtime[i]}));
        TValue out(acc);
        out.scalar = true;
        return {out};
    }
    // torch.all(x) / all(x, dim, keepdim) / all(x, dims, keepdim): bool, or uint8 for uint8 input.
    Type in_t = v.out.type();
    Output x = to_type(ctx, to_type(ctx, v.out, Type::boolean), Type::u8);
    int64_t rank = static_rank(ctx, x);
    std::vector<int64_t> axes;
    if (ctx.num_inputs() > 1 && !ctx.is_none(1)) {
        for (int64_t a : ctx.const_ints(1)) axes.push_back(axis_of(ctx, x, a));
    } else {
        for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    }
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    if (rank == 0) return {to_type(ctx, to_type(ctx, x, Type::boolean), in_t == Type::u8 ? Type::u8 : Type::boolean)};
    Output r = All ? ctx.make<op::ReduceMin>({x, ctx.i64(axes)}, keep) : ctx.make<op::ReduceMax>({x, ctx.i64(axes)}, keep);
    return {in_t == Type::u8 ? r : to_type(ctx, r, Type::boolean)};
}

template <bool V>
Outs known(NodeContext& ctx) { return {ConstValue::boolean(V)}; }

Outs uninitialized(NodeContext& ctx) { return {ConstValue::none()}; }

Outs bool_of(NodeContext& ctx) {
    if (ctx.is_const(0)) return {ConstValue::boolean(ctx.const_bool(0))};
    return {to_type(ctx, ctx.input(0), Type::boolean)};
}

// Objects of TorchScript classes made in forward (torchvision's ImageList, LevelMapper), and
// module attributes set inside if/loop bodies (the decoder keeps them in one): a record, i.e. a
// dict keyed by attribute name. prim::SetAttr rebinds it like list mutation, so branches and
// loops follow it; the decoder passes the attribute name as input 1.
bool is_record(const TValue& v) { return v.kind == TValue::Kind::list && (v.is_dict() || v.items.empty()); }

Outs create_object(NodeContext& ctx) { return {TValue::list({})}; }

Outs set_attr(NodeContext& ctx) {
    std::string name = ctx.const_str(1);
    auto obj = ctx.value(0);
    ctx.check(is_record(obj), "sets attribute '", name, "' of a value that is not an object kiln follows");
    ctx.set_input_value(0, with_key(obj, name, ctx.value(2)));
    return {};
}

Outs get_attr(NodeContext& ctx) {
    std::string name = ctx.const_str(1);
    auto& obj = ctx.value(0);
    ctx.check(is_record(obj), "reads attribute '", name, "' of a value that is not an object kiln follows");
    for (size_t i = 0; i < obj.keys.size(); ++i)
        if (obj.keys[i] == name) return {obj.items[i]};
    ctx.fail("the object has no attribute '", name, "' set before this read");
}

// t.tolist(): the values of a tensor known at conversion time as (nested) lists of numbers; of a
// run-time tensor of static shape, a list of its elements (0-d slices) as run-time scalars.
Outs tolist(NodeContext& ctx) {
    Output x = ctx.input(0);
    const std::string& ty = ctx.output_type(0);
    bool floats = ty.rfind("float", 0) == 0, bools = ty.rfind("bool", 0) == 0;
    ctx.check(x.shape().is_static(), "tolist() of a tensor whose shape is known only at run time is not supported");
    Shape shape = x.shape().to_shape();
    size_t total = 1;
    for (auto d : shape) total *= static_cast<size_t>(d);
    if (auto c = x.node->constant_value()) {
        auto f = c->as_f64_vector();
        auto i = c->as_i64_vector();
        std::function<ConstValue(size_t, size_t)> build = [&](size_t axis, size_t offset) -> ConstValue {
            if (axis == shape.size()) {
                if (floats) return ConstValue::floating(f[offset]);
                if (bools) return ConstValue::boolean(i[offset] != 0);
                return ConstValue::integer(i[offset]);
            }
            size_t stride = 1;
            for (size_t k = axis + 1; k < shape.size(); ++k) stride *= static_cast<size_t>(shape[k]);
            std::vector<ConstValue> items;
            for (int64_t k = 0; k < shape[axis]; ++k) items.push_back(build(axis + 1, offset + static_cast<size_t>(k) * stride));
            return ConstValue::list(items);
        };
        return {TValue(build(0, 0))};
    }
    ctx.check(shape.size() <= 1, "tolist() of a tensor of rank ", shape.size(),
              " known only at run time is not supported (rank 0 or 1 only)");
    Type t = floats ? Type::f32 : bools ? Type::boolean : Type::i64;
    if (floats && is_float(x.type())) t = x.type();
    if (shape.empty()) {
        TValue r(to_type(ctx, x, t));
        r.scalar = true;
        return {r};
    }
    std::vector<TValue> items;
    for (int64_t k = 0; k < shape[0]; ++k) {
        TValue item(to_type(ctx, ctx.make<op::Gather>({x, ctx.i64_scalar(k), ctx.i64_scalar(0)}, int64_t{0}), t));
        item.scalar = true;
        items.push_back(item);
    }
    return {TValue::list(items)};
}

// list.insert(index, value): Python's rule (a negative index counts from the end; out of range
// inserts at the nearer end); the list input takes its new value in place.
Outs insert(NodeContext& ctx) {
    auto items = ctx.list(0);
    auto n = static_cast<int64_t>(items.size());
    int64_t i = ctx.const_int(1);
    if (i < 0) i += n;
    i = std::clamp<int64_t>(i, 0, n);
    items.insert(items.begin() + i, ctx.value(2));
    ctx.set_input_value(0, TValue::list(items));
    return {};
}

// str(x) of a value known at conversion time (torchvision names feature maps str(i)).
Outs str(NodeContext& ctx) {
    ctx.check(ctx.is_const(0), "str() of a value known only at run time is not supported");
    auto c = ctx.value(0).as_const();
    switch (c.kind) {
        case ConstValue::Kind::string: return {c};
        case ConstValue::Kind::integer: return {ConstValue::string(std::to_string(c.i))};
        case ConstValue::Kind::boolean: return {ConstValue::string(c.b ? "True" : "False")};
        case ConstValue::Kind::none: return {ConstValue::string("None")};
        default: ctx.fail("str() of a ", c.to_string(), " is not supported (ints, bools, strings and None only)");
    }
}

}  // namespace

TValue dict_item(NodeContext& ctx, const TValue& d, size_t key_input) {
    auto k = ctx.value(key_input).as_const();
    std::string key = k.kind == ConstValue::Kind::string ? k.s : std::to_string(k.i);
    for (size_t i = 0; i < d.keys.size(); ++i)
        if (d.keys[i] == key) return d.items[i];
    ctx.fail("the dict has no key '", key, "'");
}

void add_prim_translators(TranslatorTable& t) {
    t["prim::ListConstruct"] = t["prim::TupleConstruct"] = list_construct;
    t["prim::ListUnpack"] = t["prim::TupleUnpack"] = list_unpack;
    t["prim::TupleIndex"] = tuple_index;
    t["prim::DictConstruct"] = dict_construct;
    t["prim::PythonOp"] = python_op;
    t["aten::dict"] = dict_new;
    t["aten::items"] = dict_items;
    t["aten::keys"] = dict_part<true>;
    t["aten::values"] = dict_part<false>;
    t["prim::If"] = prim_if;
    t["prim::Loop"] = prim_loop;
    t["aten::__range_length"] = range_length;
    t["aten::__derive_index"] = derive_index;
    t["prim::min"] = min_max<true>;
    t["prim::max"] = min_max<false>;
    t["aten::__is__"] = is_none<true>;
    t["aten::__isnot__"] = is_none<false>;
    t["prim::device"] = device;
    t["prim::dtype"] = dtype;
    t["aten::is_floating_point"] = is_floating_point;
    t["aten::warn"] = t["prim::RaiseException"] = nothing;
    t["aten::append"] = append;
    t["aten::_set_item"] = set_item;
    t["aten::format"] = format;
    t["aten::Bool"] = bool_of;
    t["aten::__not__"] = not_;
    t["aten::__contains__"] = contains;
    t["aten::all"] = all_any<true>;
    t["aten::any"] = all_any<false>;
    // Inference in kiln: no autograd, no autocast, no nested tensors, everything on the CPU.
    t["aten::is_grad_enabled"] = t["aten::is_autocast_enabled"] = t["prim::requires_grad"] =
        t["prim::is_nested"] = known<false>;
    t["prim::type"] = device;
    t["prim::layout"] = [](NodeContext&) -> Outs { return {ConstValue::integer(0)}; };  // torch.strided
    t["prim::Uninitialized"] = uninitialized;
    t["prim::CreateObject"] = create_object;
    t["prim::SetAttr"] = set_attr;
    t["prim::GetAttr"] = get_attr;
    t["prim::tolist"] = tolist;
    t["aten::insert"] = insert;
    t["aten::str"] = str;
}

}  // namespace kiln::frontend::pytorch
