#include "kiln/frontend/pytorch/translators/lists.hpp"

#include "kiln/frontend/pytorch/translation.hpp"

namespace kiln::frontend::pytorch {

namespace {

Output scalar_i64(NodeContext& ctx, const Output& x) {
    Output o = to_type(ctx, x, Type::i64);
    if (o.shape().rank_is_static() && o.shape().rank() == 1) o = ctx.make<op::Squeeze>({o, ctx.i64({0})});
    return o;
}

Output as_1d(NodeContext& ctx, const Output& x) {
    if (x.shape().rank_is_static() && x.shape().rank() == 0) return ctx.make<op::Unsqueeze>({x, ctx.i64({0})});
    return x;
}

// Number of pieces: the dimension, or ceil(dimension / piece).
Output piece_count(NodeContext& ctx, const Pieces& p) {
    Output len = dim_of(ctx, p.data, p.axis);
    if (p.unbound()) return len;
    Output num = ctx.make<op::Add>({len, ctx.make<op::Subtract>({p.piece, ctx.i64_scalar(1)})});
    return ctx.make<op::Divide>({num, p.piece}, true);
}

// Moves axis `from` of x to position `to` (the other axes keep their order).
Output move_axis(NodeContext& ctx, const Output& x, int64_t from, int64_t to) {
    if (from == to) return x;
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i)
        if (i != from) perm.push_back(i);
    perm.insert(perm.begin() + to, from);
    return ctx.make<op::Transpose>({x, ctx.i64(perm)});
}

}  // namespace

std::optional<int64_t> known_int(const NodeContext& ctx, size_t i) {
    auto& v = ctx.value(i);
    if (v.kind == TValue::Kind::constant && (v.c.kind == ConstValue::Kind::integer || v.c.kind == ConstValue::Kind::boolean))
        return ctx.const_int(i);
    if (v.kind == TValue::Kind::tensor)
        if (auto c = v.out.node->constant_value(); c && c->size() == 1) return c->as_i64_vector()[0];
    return std::nullopt;
}

TValue pieces_list(Pieces p, std::vector<TValue> items) {
    if (items.empty()) return TValue::runtime_list(std::move(p));
    TValue t = TValue::list(std::move(items));
    t.pieces = std::make_shared<const Pieces>(std::move(p));
    return t;
}

TValue list_length(NodeContext& ctx, const TValue& list) {
    if (list.kind == TValue::Kind::runtime_list) {
        TValue r(piece_count(ctx, *list.pieces));
        r.scalar = true;
        return r;
    }
    TValue l = as_list(list);
    ctx.check(l.kind == TValue::Kind::list, "len() needs a list");
    return TValue(ConstValue::integer(static_cast<int64_t>(l.items.size())));
}

TValue list_item(NodeContext& ctx, const TValue& list, const Output& index) {
    Output i = scalar_i64(ctx, index);
    TValue r;
    if (list.pieces) {
        auto& p = *list.pieces;
        if (p.unbound()) {
            r = TValue(ctx.make<op::Gather>({p.data, i, ctx.i64_scalar(p.axis)}, int64_t{0}));
        } else {
            // Python indexing: a negative index counts from the end (FloorMod maps [-n, n) to [0, n)).
            Output k = ctx.make<op::FloorMod>({i, piece_count(ctx, p)});
            Output start = as_1d(ctx, ctx.make<op::Multiply>({k, p.piece}));
            Output stop = ctx.make<op::Add>({start, as_1d(ctx, p.piece)});
            r = TValue(ctx.make<op::Slice>({p.data, start, stop, ctx.i64({1}), ctx.i64({p.axis})}));
        }
        return r;
    }
    TValue l = as_list(list);
    ctx.check(l.kind == TValue::Kind::list && !l.items.empty(), "indexing at run time needs a non-empty list");
    bool numbers = true;
    for (auto& item : l.items) numbers = numbers && (item.kind == TValue::Kind::constant || item.scalar);
    if (numbers) {
        // A list of ints (or floats): one 1-D tensor, gathered.
        r = TValue(ctx.make<op::Gather>({ctx.tensor_of(l), i, ctx.i64_scalar(0)}, int64_t{0}));
        r.scalar = true;
        return r;
    }
    OutputVector parts;
    Type t = Type::dynamic;
    for (auto& item : l.items) t = promote_types(t, ctx.tensor_of(item).type());
    for (auto& item : l.items) {
        Output x = to_type(ctx, ctx.tensor_of(item), t);
        ctx.check(x.shape().rank_is_static(), "indexing a list of tensors at run time needs their rank");
        parts.push_back(ctx.make<op::Unsqueeze>({x, ctx.i64({0})}));
    }
    // Concat checks that the items have one shape (at conversion, or when a plan fixes the shapes).
    Output stacked = parts.size() == 1 ? parts[0] : ctx.make<op::Concat>(parts, int64_t{0});
    return TValue(ctx.make<op::Gather>({stacked, i, ctx.i64_scalar(0)}, int64_t{0}));
}

std::vector<TValue> unpack_pieces(NodeContext& ctx, const Pieces& p, size_t n) {
    ctx.check(n > 0, "unpacks no values from a list");
    Output lengths;
    if (p.unbound()) {
        lengths = ctx.i64(std::vector<int64_t>(n, 1));
    } else {
        // n - 1 full pieces and a last one of 1..piece: the lengths add up to the dimension only
        // when it has exactly n pieces, and VariadicSplit says so when a plan's shapes do not.
        Output len = dim_of(ctx, p.data, p.axis);
        Output rest = ctx.make<op::Subtract>({len, ctx.make<op::Multiply>({p.piece, ctx.i64_scalar(static_cast<int64_t>(n - 1))})});
        Output last = ctx.make<op::Minimum>({ctx.make<op::Maximum>({rest, ctx.i64_scalar(1)}), p.piece});
        OutputVector parts(n - 1, as_1d(ctx, p.piece));
        parts.push_back(as_1d(ctx, last));
        lengths = parts.size() == 1 ? parts[0] : ctx.make<op::Concat>(parts, int64_t{0});
    }
    auto split = ctx.make_node<op::VariadicSplit>({p.data, ctx.i64_scalar(p.axis), lengths});
    std::vector<TValue> r;
    for (size_t i = 0; i < n; ++i) {
        Output o = split->output(i);
        if (p.unbound()) o = ctx.make<op::Squeeze>({o, ctx.i64({p.axis})});
        r.emplace_back(o);
    }
    return r;
}

Output stack_pieces(NodeContext& ctx, const Pieces& p, int64_t dim) {
    ctx.check(p.unbound(), "stacking the pieces of a split of run-time length is not supported (cat them instead)");
    int64_t r = static_rank(ctx, p.data);
    if (dim < 0) dim += r;
    ctx.check(dim >= 0 && dim < r, "dim ", dim, " is out of range for stacking items of rank ", r - 1);
    return move_axis(ctx, p.data, p.axis, dim);
}

Output cat_pieces(NodeContext& ctx, const Pieces& p, int64_t dim) {
    int64_t r = static_rank(ctx, p.data);
    if (!p.unbound()) {
        if (dim < 0) dim += r;
        ctx.check(dim == p.axis, "cat of split pieces along another dim than the split's is not supported");
        return p.data;
    }
    // Items have rank r - 1; joining them along dim merges the pieces' axis into dim.
    if (dim < 0) dim += r - 1;
    ctx.check(dim >= 0 && dim < r - 1, "dim ", dim, " is out of range for items of rank ", r - 1);
    Output moved = move_axis(ctx, p.data, p.axis, dim);
    Output shape = shape_of(ctx, moved);
    auto slice = [&](int64_t a, int64_t b) {
        return ctx.make<op::Slice>({shape, ctx.i64({a}), ctx.i64({b}), ctx.i64({1}), ctx.i64({0})});
    };
    OutputVector parts;
    if (dim > 0) parts.push_back(slice(0, dim));
    parts.push_back(ctx.i64({-1}));
    if (dim + 2 < r) parts.push_back(slice(dim + 2, r));
    return ctx.make<op::Reshape>({moved, parts.size() == 1 ? parts[0] : ctx.make<op::Concat>(parts, int64_t{0})}, false);
}

}  // namespace kiln::frontend::pytorch
