// Indexing: embedding, index_select, x[i, j] with index tensors and boolean masks, x[i] = v
// (index_put), argmax/argmin, topk, sort,
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

// The index tensors of x[items] (torch's list: a tensor or None per leading dim). A boolean
// (or uint8) mask of rank m covers m dims of x and stands for the m rows of its NonZero, as in
// torch; its shape is checked against those dims where both are known.
struct IndexItems {
    std::vector<int64_t> axes;  // the indexed axes of x, ascending
    OutputVector idx;           // one index tensor per axis, i64, checked (negatives allowed)
};

IndexItems index_items(NodeContext& ctx, const Output& x, const std::vector<TValue>& items) {
    IndexItems r;
    int64_t axis = 0;
    for (auto& item : items) {
        if (item.is_none()) {
            ++axis;
            continue;
        }
        Output t = ctx.tensor_of(item);
        if (t.type() == Type::boolean || t.type() == Type::u8) {
            int64_t m = static_rank(ctx, t);
            ctx.check(m >= 1, "a 0-d boolean index is not supported");
            auto& xs = x.shape();
            for (int64_t j = 0; j < m; ++j) {
                auto& md = t.shape()[static_cast<size_t>(j)];
                ctx.check(xs.rank_is_dynamic() || axis + j < xs.rank(), "the mask ", t.shape().to_string(),
                          " has more dims than the tensor ", xs.to_string());
                auto& xd = xs[static_cast<size_t>(axis + j)];
                ctx.check(!(md.is_static() && xd.is_static()) || md == xd, "the shape of the mask ",
                          t.shape().to_string(), " does not match the shape of the indexed tensor ", xs.to_string(),
                          " at dim ", axis + j);
            }
            Output nz = ctx.make<op::NonZero>({t}, Type::i64);
            for (int64_t j = 0; j < m; ++j) {
                Output row = ctx.make<op::Gather>({nz, ctx.i64_scalar(j), ctx.i64_scalar(0)}, int64_t{0});
                r.axes.push_back(axis + j);
                r.idx.push_back(checked_axis_indices(ctx, x, axis + j, row, "the mask"));
            }
            axis += m;
            continue;
        }
        r.axes.push_back(axis);
        r.idx.push_back(checked_axis_indices(ctx, x, axis, t, "the index"));
        ++axis;
    }
    ctx.check(!r.axes.empty(), "indexing without an index tensor");
    return r;
}

// The index tensors broadcast together and stacked for GatherND / ScatterNDUpdate over x with
// the indexed axes moved to the front (`src`). As in numpy and torch, the broadcast index dims
// (B) replace the indexed axes in place in the result when those are adjacent, and come first
// otherwise: the torch result is [B..., rest...] or [x before..., B..., x after...] (in_place).
struct NdIndex {
    Output src, nd, zero;
    std::vector<int64_t> perm;
    bool identity = true, in_place = false;
    int64_t index_rank = 0, before = 0;
};

NdIndex nd_index(NodeContext& ctx, const Output& x, const IndexItems& it) {
    NdIndex r;
    int64_t rank = static_rank(ctx, x);
    // Adding a zero of every index tensor broadcasts them by numpy's rules.
    Output zero = ctx.make<op::Multiply>({it.idx[0], ctx.i64_scalar(0)});
    for (size_t k = 1; k < it.idx.size(); ++k)
        zero = ctx.make<op::Add>({zero, ctx.make<op::Multiply>({it.idx[k], ctx.i64_scalar(0)})});
    r.zero = zero;
    r.index_rank = static_rank(ctx, zero);
    OutputVector stacked;
    for (size_t k = 0; k < it.idx.size(); ++k) {
        Output i = wrapped(ctx, it.idx[k], dim_of(ctx, x, it.axes[k]));
        i = ctx.make<op::Add>({i, zero});
        stacked.push_back(ctx.make<op::Unsqueeze>({i, ctx.i64({-1})}));
    }
    r.nd = stacked.size() == 1 ? stacked[0] : ctx.make<op::Concat>(stacked, int64_t{-1});
    r.perm = it.axes;
    for (int64_t a = 0; a < rank; ++a)
        if (std::find(it.axes.begin(), it.axes.end(), a) == it.axes.end()) r.perm.push_back(a);
    for (int64_t a = 0; a < rank; ++a) r.identity = r.identity && r.perm[static_cast<size_t>(a)] == a;
    r.src = r.identity ? x : ctx.make<op::Transpose>({x, ctx.i64(r.perm)});
    bool adjacent = true;
    for (size_t k = 1; k < it.axes.size(); ++k) adjacent = adjacent && it.axes[k] == it.axes[k - 1] + 1;
    r.before = it.axes[0];
    r.in_place = adjacent && r.before > 0;
    return r;
}

// [B..., before..., after...] -> [before..., B..., after...] (out_rank dims), or back (inverse).
std::vector<int64_t> b_to_place(int64_t index_rank, int64_t before, int64_t out_rank, bool inverse) {
    std::vector<int64_t> p;
    for (int64_t a = 0; a < before; ++a) p.push_back(index_rank + a);
    for (int64_t a = 0; a < index_rank; ++a) p.push_back(a);
    for (int64_t a = index_rank + before; a < out_rank; ++a) p.push_back(a);
    if (!inverse) return p;
    std::vector<int64_t> q(p.size());
    for (size_t i = 0; i < p.size(); ++i) q[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
    return q;
}

// x[i0, i1, ...]: aten::index(x, [tensor or None per leading dim]). One index tensor is a Gather
// on its axis; several (or a mask of rank > 1) are gathered at once (GatherND).
Outs index(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto it = index_items(ctx, x, ctx.list(1));
    if (it.axes.size() == 1) return {ctx.make<op::Gather>({x, it.idx[0], ctx.i64_scalar(it.axes[0])}, int64_t{0})};
    int64_t r = static_rank(ctx, x);
    auto nd = nd_index(ctx, x, it);
    Output g = ctx.make<op::GatherND>({nd.src, nd.nd}, int64_t{0});
    if (!nd.in_place) return {g};
    int64_t out_rank = nd.index_rank + r - static_cast<int64_t>(it.axes.size());
    return {ctx.make<op::Transpose>({g, ctx.i64(b_to_place(nd.index_rank, nd.before, out_rank, false))})};
}

// index_put(x, indices, values, accumulate) / index_put_: x[indices] = values (or += with
// accumulate: repeated indices add up). values broadcast to the shape of x[indices].
Outs index_put(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto it = index_items(ctx, x, ctx.list(1));
    bool accumulate = ctx.num_inputs() > 3 && ctx.const_bool(3);
    int64_t r = static_rank(ctx, x);
    auto nd = nd_index(ctx, x, it);
    auto k = static_cast<int64_t>(it.axes.size());
    // The shape of x[indices] in torch's layout.
    Output xs = shape_of(ctx, nd.src);
    Output rest = ctx.make<op::Slice>({xs, ctx.i64({k}), ctx.i64({r}), ctx.i64({1})});
    Output bshape = shape_of(ctx, nd.zero);
    Output target;
    if (nd.in_place) {
        Output before = ctx.make<op::Slice>({rest, ctx.i64({0}), ctx.i64({nd.before}), ctx.i64({1})});
        Output after = ctx.make<op::Slice>({rest, ctx.i64({nd.before}), ctx.i64({r}), ctx.i64({1})});
        target = ctx.make<op::Concat>(OutputVector{before, bshape, after}, int64_t{0});
    } else {
        target = ctx.make<op::Concat>(OutputVector{bshape, rest}, int64_t{0});
    }
    Output v = ctx.make<op::Broadcast>({to_type(ctx, ctx.input(2), x.type()), target}, op::BroadcastMode::numpy);
    int64_t out_rank = nd.index_rank + r - k;
    if (nd.in_place) v = ctx.make<op::Transpose>({v, ctx.i64(b_to_place(nd.index_rank, nd.before, out_rank, true))});
    auto red = accumulate ? (x.type() == Type::boolean ? op::ScatterReduction::max : op::ScatterReduction::sum)
                          : op::ScatterReduction::none;
    Output y = ctx.make<op::ScatterNDUpdate>({nd.src, nd.nd, v}, red);
    if (nd.identity) return {y};
    std::vector<int64_t> inv(nd.perm.size());
    for (size_t i = 0; i < nd.perm.size(); ++i) inv[static_cast<size_t>(nd.perm[i])] = static_cast<int64_t>(i);
    return {ctx.make<op::Transpose>({y, ctx.i64(inv)})};
}

// argmax(x, dim=None, keepdim=False) / argmin
template <bool Max>
Outs arg_extreme(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    if (ctx.num_inputs() < 2 || ctx.is_none(1)) {
        Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
        Output i = top_k(ctx, flat, ctx.i64_scalar(1), 0, Max, op::TopK::Sort::value).second;
        std::vector<int64_t> shape(keep ? static_cast<size_t>(r) : 0, 1);
        return {ctx.make<op::Reshape>({i, ctx.i64(shape)}, false)};
    }
    int64_t a = axis_of(ctx, x, ctx.const_int(1));
    if (r == 0) return {ctx.i64_scalar(0)};
    Output i = top_k(ctx, x, ctx.i64_scalar(1), a, Max, op::TopK::Sort::value).second;
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
    if (ctx.num_inputs() == 2) {
        // repeat_interleave(repeats, output_size=None): each index i repeated repeats[i] times
        // (core ATen writes x.repeat_interleave(r, dim) as an index_select by these).
        Output r = to_type(ctx, ctx.input(0), Type::i64);  // holds the node constant_value points into
        auto c = r.node->constant_value();
        ctx.check(c != nullptr, "repeats must be known at conversion time (the output size depends on their values)");
        std::vector<int64_t> v;
        auto reps = c->as_i64_vector();
        for (size_t i = 0; i < reps.size(); ++i) {
            ctx.check(reps[i] >= 0, "repeats must not be negative, got ", reps[i], " at ", i);
            for (int64_t k = 0; k < reps[i]; ++k) v.push_back(static_cast<int64_t>(i));
        }
        return {ctx.i64(v)};
    }
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
    auto [v, i] = top_k(ctx, x, ctx.i64_scalar(1), a, is_max, op::TopK::Sort::value);
    if (keep) return {v, i};
    Output ax = ctx.i64({a});
    return {ctx.make<op::Squeeze>({v, ax}), ctx.make<op::Squeeze>({i, ax})};
}

void add_index_translators(TranslatorTable& t) {
    t["aten::embedding"] = embedding;
    t["aten::index_select"] = index_select;
    t["aten::index"] = index;
    t["aten::index_put"] = index_put;
    t["aten::index_put_"] = index_put;
    t["aten::argmax"] = arg_extreme<true>;
    t["aten::argmin"] = arg_extreme<false>;
    t["aten::topk"] = topk;
    t["aten::sort"] = sort;
    t["aten::argsort"] = argsort;
    t["aten::repeat_interleave"] = repeat_interleave;
}

}  // namespace kiln::frontend::pytorch
