// Indexing: embedding, index_select, x[i, j] with index tensors, argmax/argmin, topk, sort,
// max/min along a dim, repeat_interleave. Every index that torch checks is checked here too (IndexCheck), since the
// opset's gathers give zeros where torch raises.
#include <algorithm>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/indexing.hpp"

namespace kiln::frontend::pytorch {

namespace {

// What the indices are, for IndexCheck's message: the model input they come from, when they do.
std::string describe_indices(const Output& idx, const char* role) {
    Output o = idx;
    // Through the type and shape changes that keep the values.
    while (o.node->num_inputs() >= 1 &&
           (dynamic_cast<op::Convert*>(o.node.get()) || dynamic_cast<op::Reshape*>(o.node.get()) ||
            dynamic_cast<op::Unsqueeze*>(o.node.get()) || dynamic_cast<op::Squeeze*>(o.node.get())))
        o = o.node->input(0);
    if (auto* p = dynamic_cast<op::Parameter*>(o.node.get())) return str_cat(role, " of input '", p->name(), "'");
    return role;
}

}  // namespace

Output checked_indices(NodeContext& ctx, const Output& idx, const Output& size, bool allow_negative, const char* role) {
    Output i = to_type(ctx, idx, Type::i64);
    return ctx.make<op::IndexCheck>({i, size}, allow_negative, describe_indices(idx, role));
}

// Indices into axis `axis` of x, negative ones allowed (torch's x[idx] takes them).
Output checked_axis_indices(NodeContext& ctx, const Output& x, int64_t axis, const Output& idx, const char* role) {
    return checked_indices(ctx, idx, dim_of(ctx, x, axis), true, role);
}

std::pair<Output, Output> top_k(NodeContext& ctx, const Output& x, const Output& k, int64_t axis, bool largest,
                                op::TopK::Sort sort) {
    auto n = ctx.make_node<op::TopK>({x, k}, axis, largest ? op::TopK::Mode::max : op::TopK::Mode::min, sort);
    return {n->output(0), n->output(1)};
}

namespace {

// embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse): padding_idx only matters
// for gradients.
Outs embedding(NodeContext& ctx) {
    Output w = ctx.input(0);
    Output idx = checked_indices(ctx, ctx.input(1), dim_of(ctx, w, 0), false, "the embedding indices");
    return {ctx.make<op::Gather>({w, idx, ctx.i64_scalar(0)}, int64_t{0})};
}

Outs index_select(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output idx = checked_indices(ctx, ctx.input(2), dim_of(ctx, x, d), false, "the index");
    return {ctx.make<op::Gather>({x, idx, ctx.i64_scalar(d)}, int64_t{0})};
}

// Negative indices count from the end (after IndexCheck allowed them).
Output wrapped(NodeContext& ctx, const Output& idx, const Output& size) {
    Output neg = ctx.make<op::Less>({idx, ctx.i64_scalar(0)});
    return ctx.make<op::Select>({neg, ctx.make<op::Add>({idx, size}), idx});
}

// x[i0, i1, ...]: aten::index(x, [tensor or None per leading dim]). One index tensor is a Gather
// on its axis; several are broadcast together and gathered at once (GatherND over the indexed
// axes moved to the front). As in numpy and torch, the broadcast index dims replace the indexed
// axes in place when those are adjacent, and come first otherwise.
Outs index(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto items = ctx.list(1);
    std::vector<int64_t> axes;
    OutputVector idx;
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].is_none()) continue;
        Output t = ctx.tensor_of(items[i]);
        ctx.check(t.type() != Type::boolean && t.type() != Type::u8,
                  "boolean mask indexing is not supported yet (its shape depends on the data)");
        axes.push_back(static_cast<int64_t>(i));
        idx.push_back(t);
    }
    ctx.check(!axes.empty(), "indexing without an index tensor");
    if (axes.size() == 1) {
        Output i = checked_axis_indices(ctx, x, axes[0], idx[0], "the index");
        return {ctx.make<op::Gather>({x, i, ctx.i64_scalar(axes[0])}, int64_t{0})};
    }
    int64_t r = static_rank(ctx, x);
    // Broadcast the index tensors to one shape, wrap negatives, stack on a new last axis.
    // Adding a zero of every index tensor broadcasts them by numpy's rules.
    Output zero = ctx.make<op::Multiply>({to_type(ctx, idx[0], Type::i64), ctx.i64_scalar(0)});
    for (size_t k = 1; k < idx.size(); ++k)
        zero = ctx.make<op::Add>({zero, ctx.make<op::Multiply>({to_type(ctx, idx[k], Type::i64), ctx.i64_scalar(0)})});
    OutputVector stacked;
    int64_t index_rank = static_rank(ctx, zero);
    for (size_t k = 0; k < idx.size(); ++k) {
        Output size = dim_of(ctx, x, axes[k]);
        Output i = wrapped(ctx, checked_axis_indices(ctx, x, axes[k], idx[k], "the index"), size);
        i = ctx.make<op::Add>({i, zero});
        stacked.push_back(ctx.make<op::Unsqueeze>({i, ctx.i64({-1})}));
    }
    Output nd = ctx.make<op::Concat>(stacked, int64_t{-1});
    // Indexed axes first, the others after in their order.
    std::vector<int64_t> perm(axes), rest;
    for (int64_t a = 0; a < r; ++a)
        if (std::find(axes.begin(), axes.end(), a) == axes.end()) rest.push_back(a);
    perm.insert(perm.end(), rest.begin(), rest.end());
    bool identity = true;
    for (int64_t a = 0; a < r; ++a) identity = identity && perm[static_cast<size_t>(a)] == a;
    Output src = identity ? x : ctx.make<op::Transpose>({x, ctx.i64(perm)});
    Output g = ctx.make<op::GatherND>({src, nd}, int64_t{0});
    bool adjacent = true;
    for (size_t k = 1; k < axes.size(); ++k) adjacent = adjacent && axes[k] == axes[k - 1] + 1;
    int64_t before = axes[0];
    if (!adjacent || before == 0) return {g};
    // g is [I..., x dims before the indexed ones..., after...]: move I after the `before` dims.
    std::vector<int64_t> back;
    for (int64_t a = 0; a < before; ++a) back.push_back(index_rank + a);
    for (int64_t a = 0; a < index_rank; ++a) back.push_back(a);
    int64_t out_rank = index_rank + r - static_cast<int64_t>(axes.size());
    for (int64_t a = index_rank + before; a < out_rank; ++a) back.push_back(a);
    return {ctx.make<op::Transpose>({g, ctx.i64(back)})};
}

// argmax(x, dim=None, keepdim=False) / argmin
template <bool Max>
Outs arg_extreme(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    if (ctx.num_inputs() < 2 || ctx.is_none(1)) {
        Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
        Output i = top_k(ctx, flat, ctx.i64_scalar(1), 0, Max, op::TopK::Sort::none).second;
        std::vector<int64_t> shape(keep ? static_cast<size_t>(r) : 0, 1);
        return {ctx.make<op::Reshape>({i, ctx.i64(shape)}, false)};
    }
    int64_t a = axis_of(ctx, x, ctx.const_int(1));
    if (r == 0) return {ctx.i64_scalar(0)};
    Output i = top_k(ctx, x, ctx.i64_scalar(1), a, Max, op::TopK::Sort::none).second;
    return {keep ? i : ctx.make<op::Squeeze>({i, ctx.i64({a})})};
}

// topk(x, k, dim=-1, largest=True, sorted=True) -> (values, indices)
Outs topk(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t a = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : -1);
    bool largest = ctx.num_inputs() <= 3 || ctx.const_bool(3);
    Output k = to_type(ctx, ctx.input(1), Type::i64);
    auto [v, i] = top_k(ctx, x, k, a, largest, op::TopK::Sort::value);
    return {v, i};
}

// sort(x, dim=-1, descending=False) or sort(x, stable, dim, descending) -> (values, indices);
// argsort(x, dim, descending) / argsort(x, stable, dim, descending) -> indices.
// TopK keeps equal values in index order: a stable sort.
std::pair<Output, Output> sorted(NodeContext& ctx) {
    Output x = ctx.input(0);
    size_t first = ctx.num_inputs() > 1 && ctx.value(1).kind == TValue::Kind::constant &&
                           (ctx.value(1).c.kind == ConstValue::Kind::boolean || ctx.value(1).is_none()) &&
                           ctx.num_inputs() == 4
                       ? 2
                       : 1;
    int64_t a = axis_of(ctx, x, ctx.num_inputs() > first ? ctx.const_int(first) : -1);
    bool descending = ctx.num_inputs() > first + 1 && ctx.const_bool(first + 1);
    if (static_rank(ctx, x) == 0) return {x, ctx.i64_scalar(0)};
    return top_k(ctx, x, dim_of(ctx, x, a), a, descending, op::TopK::Sort::value);
}

Outs sort(NodeContext& ctx) {
    auto [v, i] = sorted(ctx);
    return {v, i};
}

Outs argsort(NodeContext& ctx) { return {sorted(ctx).second}; }

// repeat_interleave(x, repeats, dim=None, output_size=None): a Gather of each index repeated.
// repeats: an int (or run-time int), or a tensor known at conversion time; dim None flattens x.
Outs repeat_interleave(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = 0;
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) {
        d = axis_of(ctx, x, ctx.const_int(2));
    } else {
        x = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    }
    Output n = dim_of(ctx, x, d);
    Output idx;
    Output r = to_type(ctx, ctx.input(1), Type::i64);
    auto& rs = r.shape();
    bool per_item = rs.rank_is_static() && rs.rank() == 1 && !(rs[0].is_static() && rs[0].get_length() == 1);
    if (per_item) {
        auto c = r.node->constant_value();
        ctx.check(c != nullptr, "repeats given per element must be known at conversion time (the output size "
                                "depends on their values)");
        std::vector<int64_t> v;
        auto reps = c->as_i64_vector();
        for (size_t i = 0; i < reps.size(); ++i)
            for (int64_t k = 0; k < reps[i]; ++k) v.push_back(static_cast<int64_t>(i));
        idx = ctx.i64(v);
    } else {
        if (r.shape().rank_is_static() && r.shape().rank() == 1) r = ctx.make<op::Squeeze>({r, ctx.i64({0})});
        Output range = ctx.make<op::Range>({ctx.i64_scalar(0), n, ctx.i64_scalar(1)}, Type::i64);
        Output grid = ctx.make<op::Broadcast>(
            {ctx.make<op::Unsqueeze>({range, ctx.i64({1})}),
             ctx.make<op::Concat>(OutputVector{ctx.make<op::Unsqueeze>({n, ctx.i64({0})}),
                                               ctx.make<op::Unsqueeze>({r, ctx.i64({0})})},
                                  int64_t{0})},
            op::BroadcastMode::numpy);
        idx = ctx.make<op::Reshape>({grid, ctx.i64({-1})}, false);
    }
    return {ctx.make<op::Gather>({x, idx, ctx.i64_scalar(d)}, int64_t{0})};
}

}  // namespace

std::pair<Output, Output> extreme_along(NodeContext& ctx, const Output& x, int64_t dim, bool keep, bool is_max) {
    int64_t a = axis_of(ctx, x, dim);
    if (static_rank(ctx, x) == 0) return {x, ctx.i64_scalar(0)};
    auto [v, i] = top_k(ctx, x, ctx.i64_scalar(1), a, is_max, op::TopK::Sort::none);
    if (keep) return {v, i};
    Output ax = ctx.i64({a});
    return {ctx.make<op::Squeeze>({v, ax}), ctx.make<op::Squeeze>({i, ax})};
}

void add_index_translators(TranslatorTable& t) {
    t["aten::embedding"] = embedding;
    t["aten::index_select"] = index_select;
    t["aten::index"] = index;
    t["aten::argmax"] = arg_extreme<true>;
    t["aten::argmin"] = arg_extreme<false>;
    t["aten::topk"] = topk;
    t["aten::sort"] = sort;
    t["aten::argsort"] = argsort;
    t["aten::repeat_interleave"] = repeat_interleave;
}

}  // namespace kiln::frontend::pytorch
