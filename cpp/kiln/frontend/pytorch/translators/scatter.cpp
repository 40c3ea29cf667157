// Scatters and data-dependent selections: scatter / scatter_add / scatter_reduce, index_add /
// index_copy / index_fill, masked_scatter / masked_select, nonzero / argwhere, one_hot,
// bucketize / searchsorted, unique (sorted, consecutive, along a dim), embedding_bag, take /
// take_along_dim, bincount, count_nonzero, histc. Every index torch checks goes through
// IndexCheck first (checked_indices): the opset's scatters would ignore it or write elsewhere.
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/scatter.hpp"

namespace kiln::frontend::pytorch {

namespace {

using R = op::ScatterReduction;

Output scatter_elements(NodeContext& ctx, const Output& x, const Output& idx, const Output& upd, int64_t axis, R red,
                        bool use_init = true) {
    return ctx.make<op::ScatterElementsUpdate>({x, idx, upd, ctx.i64_scalar(axis)}, red, use_init);
}

// src cut to the shape of index (torch reads only that corner of src).
Output corner(NodeContext& ctx, const Output& src, const Output& idx) {
    if (src.shape().is_static() && idx.shape().is_static() && src.shape() == idx.shape()) return src;
    int64_t r = static_rank(ctx, idx);
    return ctx.make<op::Slice>({src, ctx.i64(std::vector<int64_t>(static_cast<size_t>(r), 0)), shape_of(ctx, idx),
                                ctx.i64(std::vector<int64_t>(static_cast<size_t>(r), 1))});
}

R reduce_kind(NodeContext& ctx, const std::string& s) {
    if (s == "add" || s == "sum") return R::sum;
    if (s == "multiply" || s == "prod") return R::prod;
    if (s == "mean") return R::mean;
    if (s == "amax") return R::max;
    if (s == "amin") return R::min;
    ctx.fail("unknown reduction '", s, "'");
}

// scatter(x, dim, index, src | value [, reduce='add'|'multiply']) / scatter_ / scatter_add(_)
Outs scatter(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    ctx.check(static_rank(ctx, x) == static_rank(ctx, ctx.input(2)), "index must have the rank of the tensor");
    Output idx = checked_indices(ctx, ctx.input(2), dim_of(ctx, x, d), false, "the scatter index");
    Output upd = ctx.is_scalar(3) || (ctx.input(3).shape().rank_is_static() && ctx.input(3).shape().rank() == 0)
                     ? ctx.make<op::Broadcast>({to_type(ctx, ctx.input(3), x.type()), shape_of(ctx, idx)},
                                               op::BroadcastMode::numpy)
                     : corner(ctx, to_type(ctx, ctx.input(3), x.type()), idx);
    R red = R::none;
    if (ctx.kind() == "aten::scatter_add" || ctx.kind() == "aten::scatter_add_") red = R::sum;
    else if (ctx.num_inputs() > 4 && !ctx.is_none(4)) red = reduce_kind(ctx, ctx.const_str(4));
    return {scatter_elements(ctx, x, idx, upd, d, red)};
}

// scatter_reduce(x, dim, index, src, reduce, include_self=True) / scatter_reduce_
Outs scatter_reduce(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output idx = checked_indices(ctx, ctx.input(2), dim_of(ctx, x, d), false, "the scatter index");
    Output upd = corner(ctx, to_type(ctx, ctx.input(3), x.type()), idx);
    bool include_self = ctx.num_inputs() <= 5 || ctx.const_bool(5);
    return {scatter_elements(ctx, x, idx, upd, d, reduce_kind(ctx, ctx.const_str(4)), include_self)};
}

// The 1-D index of index_add/index_copy spread over source's shape along dim.
Output spread(NodeContext& ctx, const Output& x, int64_t d, const Output& index, const Output& source) {
    int64_t r = static_rank(ctx, x);
    Output idx = checked_indices(ctx, index, dim_of(ctx, x, d), false, "the index");
    if (r == 0) return idx;
    std::vector<int64_t> shape(static_cast<size_t>(r), 1);
    shape[static_cast<size_t>(d)] = -1;
    idx = ctx.make<op::Reshape>({idx, ctx.i64(shape)}, false);
    return ctx.make<op::Broadcast>({idx, shape_of(ctx, source)}, op::BroadcastMode::numpy);
}

// index_add(x, dim, index, source, alpha=1) / index_copy(x, dim, index, source), and the _ forms
Outs index_add_copy(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output src = to_type(ctx, ctx.input(3), x.type());
    bool add = ctx.kind() == "aten::index_add" || ctx.kind() == "aten::index_add_";
    if (add && ctx.num_inputs() > 4 && !(ctx.is_const(4) && ctx.const_float(4) == 1.0))
        src = ctx.make<op::Multiply>({src, to_type(ctx, ctx.input(4), x.type())});
    Output idx = spread(ctx, x, d, ctx.input(2), src);
    return {scatter_elements(ctx, x, idx, src, d, add ? R::sum : R::none)};
}

// index_fill(x, dim, index, value) / index_fill_: the slices named by index take value.
Outs index_fill(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output n = dim_of(ctx, x, d);
    Output idx = checked_indices(ctx, ctx.input(2), n, true, "the index");
    idx = ctx.make<op::Reshape>({idx, ctx.i64({-1})}, false);
    // A 0/1 flag per slice: OneHot rows of the indices, or-ed.
    Output hot = ctx.make<op::OneHot>({ctx.make<op::Select>({ctx.make<op::Less>({idx, ctx.i64_scalar(0)}),
                                                             ctx.make<op::Add>({idx, n}), idx}),
                                       n, ctx.i64_scalar(1), ctx.i64_scalar(0)},
                                      int64_t{-1});
    Output none = ctx.make<op::Broadcast>(
        {ctx.i64_scalar(0), ctx.make<op::Concat>(OutputVector{ctx.i64({1}), ctx.make<op::Unsqueeze>({n, ctx.i64({0})})}, int64_t{0})},
        op::BroadcastMode::numpy);
    Output flag = ctx.make<op::ReduceMax>({ctx.make<op::Concat>(OutputVector{hot, none}, int64_t{0}), ctx.i64({0})}, false);
    if (r == 0) flag = ctx.make<op::Reshape>({flag, ctx.i64({})}, false);
    else {
        std::vector<int64_t> shape(static_cast<size_t>(r), 1);
        shape[static_cast<size_t>(d)] = -1;
        flag = ctx.make<op::Reshape>({flag, ctx.i64(shape)}, false);
    }
    Output on = ctx.make<op::Equal>({flag, ctx.i64_scalar(1)});
    return {ctx.make<op::Select>({on, to_type(ctx, ctx.input(3), x.type()), x})};
}

// NonZero as torch's [count, rank] i64.
Output nonzero_rows(NodeContext& ctx, const Output& x) {
    ctx.check(static_rank(ctx, x) >= 1, "nonzero of a 0-d tensor is not supported");
    return ctx.make<op::Transpose>({ctx.make<op::NonZero>({x}, Type::i64), ctx.i64({1, 0})});
}

Outs nonzero(NodeContext& ctx) { return {nonzero_rows(ctx, ctx.input(0))}; }

// nonzero(x, as_tuple=True): one 1-D index tensor per dim.
Outs nonzero_numpy(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 1, "nonzero of a 0-d tensor is not supported");
    Output nz = ctx.make<op::NonZero>({x}, Type::i64);
    std::vector<TValue> items;
    for (int64_t i = 0; i < r; ++i)
        items.push_back(ctx.make<op::Gather>({nz, ctx.i64_scalar(i), ctx.i64_scalar(0)}, int64_t{0}));
    return {TValue::list(std::move(items))};
}

// x and mask broadcast to one shape.
std::pair<Output, Output> with_mask(NodeContext& ctx, Output x, Output mask) {
    Output shape = shape_of(ctx, ctx.make<op::Broadcast>({ctx.make<op::Broadcast>({ctx.i64_scalar(0), shape_of(ctx, x)},
                                                                                  op::BroadcastMode::numpy),
                                                           shape_of(ctx, mask)},
                                                          op::BroadcastMode::bidirectional));
    auto b = [&](const Output& t) { return ctx.make<op::Broadcast>({t, shape}, op::BroadcastMode::numpy); };
    return {b(x), b(to_type(ctx, mask, Type::boolean))};
}

// masked_select(x, mask): the elements where mask is true, 1-D.
Outs masked_select(NodeContext& ctx) {
    auto [x, mask] = with_mask(ctx, ctx.input(0), ctx.input(1));
    if (static_rank(ctx, x) == 0) {
        x = ctx.make<op::Reshape>({x, ctx.i64({1})}, false);
        mask = ctx.make<op::Reshape>({mask, ctx.i64({1})}, false);
    }
    return {ctx.make<op::GatherND>({x, nonzero_rows(ctx, mask)}, int64_t{0})};
}

// masked_scatter(x, mask, source) / masked_scatter_: the positions where mask is true take
// source's elements in order.
Outs masked_scatter(NodeContext& ctx) {
    Output x = ctx.input(0);
    Output shape = shape_of(ctx, x);
    Output mask = ctx.make<op::Broadcast>({to_type(ctx, ctx.input(1), Type::boolean), shape}, op::BroadcastMode::numpy);
    bool scalar = static_rank(ctx, x) == 0;
    if (scalar) {
        x = ctx.make<op::Reshape>({x, ctx.i64({1})}, false);
        mask = ctx.make<op::Reshape>({mask, ctx.i64({1})}, false);
    }
    Output pos = nonzero_rows(ctx, mask);
    Output count = ctx.make<op::Gather>({shape_of(ctx, pos), ctx.i64({0}), ctx.i64_scalar(0)}, int64_t{0});
    Output src = ctx.make<op::Reshape>({to_type(ctx, ctx.input(2), x.type()), ctx.i64({-1})}, false);
    src = ctx.make<op::Slice>({src, ctx.i64({0}), count, ctx.i64({1})});
    Output y = ctx.make<op::ScatterNDUpdate>({x, pos, src});
    return {scalar ? ctx.make<op::Reshape>({y, ctx.i64({})}, false) : y};
}

// one_hot(x, num_classes=-1): i64; -1 takes max(x) + 1 classes.
Outs one_hot(NodeContext& ctx) {
    Output x = to_type(ctx, ctx.input(0), Type::i64);
    int64_t n = ctx.num_inputs() > 1 ? ctx.const_int(1) : -1;
    Output depth;
    if (n >= 0) {
        depth = ctx.i64_scalar(n);
    } else {
        Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
        Output m = ctx.make<op::ReduceMax>({ctx.make<op::Concat>(OutputVector{flat, ctx.i64({-1})}, int64_t{0}),
                                            ctx.i64({0})},
                                           false);
        depth = ctx.make<op::Add>({m, ctx.i64_scalar(1)});
    }
    Output idx = checked_indices(ctx, x, depth, false, "the class values");
    return {ctx.make<op::OneHot>({idx, depth, ctx.i64_scalar(1), ctx.i64_scalar(0)}, int64_t{-1})};
}

// The number of boundaries below each value (or at most it, right): Bucketize for 1-D
// boundaries, a comparison count along the last dim for N-D ones.
Output search(NodeContext& ctx, Output seq, Output values, bool right, bool int32) {
    Type ot = int32 ? Type::i32 : Type::i64;
    Type t = promote_types(seq.type(), values.type());
    seq = to_type(ctx, seq, t);
    values = to_type(ctx, values, t);
    int64_t r = static_rank(ctx, seq);
    if (r == 1) return ctx.make<op::Bucketize>({values, seq}, ot, !right);
    ctx.check(static_rank(ctx, values) == r, "the values must have the rank of the N-D sorted sequence");
    Output s = ctx.make<op::Unsqueeze>({seq, ctx.i64({-2})});
    Output v = ctx.make<op::Unsqueeze>({values, ctx.i64({-1})});
    Output hit = right ? ctx.make<op::LessEqual>({s, v}) : ctx.make<op::Less>({s, v});
    Output n = ctx.make<op::ReduceSum>({to_type(ctx, hit, Type::i64), ctx.i64({-1})}, false);
    return to_type(ctx, n, ot);
}

// bucketize(x, boundaries, out_int32=False, right=False)
Outs bucketize(NodeContext& ctx) {
    bool int32 = ctx.num_inputs() > 2 && ctx.const_bool(2);
    bool right = ctx.num_inputs() > 3 && ctx.const_bool(3);
    ctx.check(static_rank(ctx, ctx.input(1)) == 1, "boundaries must be 1-D");
    return {search(ctx, ctx.input(1), ctx.input(0), right, int32)};
}

// searchsorted(sorted_sequence, values, out_int32=False, right=False, side=None, sorter=None)
Outs searchsorted(NodeContext& ctx) {
    bool int32 = ctx.num_inputs() > 2 && ctx.const_bool(2);
    bool right = ctx.num_inputs() > 3 && ctx.const_bool(3);
    if (ctx.num_inputs() > 4 && !ctx.is_none(4)) {
        std::string side = ctx.const_str(4);
        ctx.check(side == "left" || side == "right", "side must be 'left' or 'right', got '", side, "'");
        ctx.check(!(right && side == "left"), "side='left' contradicts right=True");
        right = side == "right";
    }
    Output seq = ctx.input(0);
    if (ctx.num_inputs() > 5 && !ctx.is_none(5)) {
        Output sorter = checked_indices(ctx, ctx.input(5), dim_of(ctx, seq, -1), false, "the sorter");
        seq = ctx.make<op::GatherElements>({seq, sorter}, int64_t{-1});
    }
    Output v = ctx.input(1);
    if (static_rank(ctx, seq) > 1 && static_rank(ctx, v) == 0) ctx.fail("a scalar value needs a 1-D sorted sequence");
    return {search(ctx, seq, v, right, int32)};
}

Output empty_i64(NodeContext& ctx) { return ctx.constant(Tensor(Type::i64, {0})); }

// _unique2(x, sorted=True, return_inverse=False, return_counts=False) -> (values, inverse, counts).
// torch's CPU kernel sorts whatever `sorted` says; so does kiln. The outputs not asked for are
// empty, as torch's are.
Outs unique2(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool inverse = ctx.num_inputs() > 2 && ctx.const_bool(2);
    bool counts = ctx.num_inputs() > 3 && ctx.const_bool(3);
    Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    auto u = ctx.make_node<op::Unique>({flat}, true);
    Output inv = inverse ? ctx.make<op::Reshape>({u->output(2), shape_of(ctx, x)}, false) : empty_i64(ctx);
    return {u->output(0), inv, counts ? u->output(3) : empty_i64(ctx)};
}

// unique_dim(x, dim, sorted=True, return_inverse=False, return_counts=False)
Outs unique_dim(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    bool inverse = ctx.num_inputs() > 3 && ctx.const_bool(3);
    bool counts = ctx.num_inputs() > 4 && ctx.const_bool(4);
    auto u = ctx.make_node<op::Unique>({x, ctx.i64({d})}, true);
    return {u->output(0), inverse ? u->output(2) : empty_i64(ctx), counts ? u->output(3) : empty_i64(ctx)};
}

// unique_consecutive(x, return_inverse=False, return_counts=False, dim=None): a new group starts
// where an element (a slice along dim) differs from the one before it.
Outs unique_consecutive(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool inverse = ctx.num_inputs() > 1 && ctx.const_bool(1);
    bool counts = ctx.num_inputs() > 2 && ctx.const_bool(2);
    bool has_dim = ctx.num_inputs() > 3 && !ctx.is_none(3);
    int64_t d = has_dim ? axis_of(ctx, x, ctx.const_int(3)) : 0;
    Output src = has_dim ? x : ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    Output rows = src;
    if (has_dim) {
        int64_t r = static_rank(ctx, x);
        std::vector<int64_t> perm{d};
        for (int64_t a = 0; a < r; ++a)
            if (a != d) perm.push_back(a);
        rows = ctx.make<op::Transpose>({x, ctx.i64(perm)});
    }
    Output n = dim_of(ctx, rows, 0);
    rows = ctx.make<op::Reshape>({rows, ctx.make<op::Concat>(OutputVector{ctx.make<op::Unsqueeze>({n, ctx.i64({0})}),
                                                                          ctx.i64({-1})},
                                                             int64_t{0})},
                                 false);
    auto slice0 = [&](int64_t b, int64_t e) {
        return ctx.make<op::Slice>({rows, ctx.i64({b}), ctx.i64({e}), ctx.i64({1}), ctx.i64({0})});
    };
    Output diff = ctx.make<op::NotEqual>({slice0(1, INT64_MAX), slice0(0, -1)});
    // Any difference in the slice: max over its elements (an empty slice: no difference).
    Output any = ctx.make<op::ReduceMax>(
        {ctx.make<op::Concat>(OutputVector{to_type(ctx, diff, Type::i64),
                                           ctx.make<op::Broadcast>({ctx.i64_scalar(0),
                                                                    ctx.make<op::Concat>(OutputVector{
                                                                        ctx.make<op::Unsqueeze>({ctx.make<op::Subtract>({n, ctx.i64_scalar(1)}), ctx.i64({0})}),
                                                                        ctx.i64({1})}, int64_t{0})},
                                                                   op::BroadcastMode::numpy)},
                              int64_t{1}),
         ctx.i64({1})},
        false);
    Output starts_mask = ctx.make<op::Concat>(OutputVector{ctx.i64({1}), any}, int64_t{0});
    // An empty input has no group.
    starts_mask = ctx.make<op::Slice>({starts_mask, ctx.i64({0}), ctx.make<op::Unsqueeze>({n, ctx.i64({0})}), ctx.i64({1})});
    Output starts = ctx.make<op::Reshape>({ctx.make<op::NonZero>({starts_mask}, Type::i64), ctx.i64({-1})}, false);
    Output values = ctx.make<op::Gather>({src, starts, ctx.i64_scalar(d)}, int64_t{0});
    Output inv = empty_i64(ctx), cnt = empty_i64(ctx);
    if (inverse) {
        inv = ctx.make<op::Subtract>({ctx.make<op::CumSum>({starts_mask, ctx.i64_scalar(0)}, false, false), ctx.i64_scalar(1)});
        if (!has_dim) inv = ctx.make<op::Reshape>({inv, shape_of(ctx, x)}, false);
    }
    if (counts) {
        Output ends = ctx.make<op::Concat>(OutputVector{ctx.make<op::Slice>({starts, ctx.i64({1}), ctx.i64({INT64_MAX}), ctx.i64({1})}),
                                                        ctx.make<op::Unsqueeze>({n, ctx.i64({0})})},
                                           int64_t{0});
        cnt = ctx.make<op::Subtract>({ends, starts});
    }
    return {values, inv, cnt};
}

// embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
// include_last_offset[, padding_idx]) -> (output, offset2bag, bag_size, max_indices).
// mode 0 (sum) is EmbeddingBagOffsetsSum / EmbeddingBagPackedSum; mean and max (and sum with a
// padding_idx) are a Gather of the rows and a ScatterElementsUpdate into the bags (mean: over
// the bag's rows; max: per column; an empty bag gives zeros, as in torch). Rows equal to
// padding_idx are left out of their bag. Only the first output is computed: the others (for
// gradients) are given as torch's shapes of zeros would not be; using them is an error.
Outs embedding_bag(NodeContext& ctx) {
    Output w = ctx.input(0);
    Output idx = ctx.input(1);
    int64_t mode = ctx.num_inputs() > 4 ? ctx.const_int(4) : 0;
    ctx.check(mode >= 0 && mode <= 2, "unknown mode ", mode);
    bool has_psw = ctx.num_inputs() > 6 && !ctx.is_none(6);
    bool last_offset = ctx.num_inputs() > 7 && ctx.const_bool(7);
    int64_t pad = -1;
    if (ctx.num_inputs() > 8 && !ctx.is_none(8)) pad = ctx.const_int(8);
    ctx.check(!has_psw || mode == 0, "per_sample_weights are only supported with mode='sum' (as in torch)");
    ctx.check(static_rank(ctx, w) == 2, "the weight must be 2-D");
    Output rows = dim_of(ctx, w, 0);
    if (pad < 0 && pad != -1) pad += w.shape()[0].is_static() ? w.shape()[0].get_length() : 0;
    int64_t ir = static_rank(ctx, idx);
    ctx.check(ir == 1 || ir == 2, "indices must be 1-D or 2-D");
    Output ci = checked_indices(ctx, idx, rows, false, "the embedding_bag indices");
    Output psw = has_psw ? to_type(ctx, ctx.input(6), w.type()) : Output{};
    // Bag of each index, and the number of bags.
    Output bag, bags;
    if (ir == 2) {
        ctx.check(ctx.is_none(2), "offsets must be None for 2-D indices");
        if (mode == 0 && pad == -1)
            return {has_psw ? ctx.make<op::EmbeddingBagPackedSum>({w, ci, psw}) : ctx.make<op::EmbeddingBagPackedSum>({w, ci}),
                    empty_i64(ctx), empty_i64(ctx), empty_i64(ctx)};
        bags = dim_of(ctx, ci, 0);
        Output range = ctx.make<op::Range>({ctx.i64_scalar(0), bags, ctx.i64_scalar(1)}, Type::i64);
        bag = ctx.make<op::Broadcast>({ctx.make<op::Unsqueeze>({range, ctx.i64({1})}), shape_of(ctx, ci)},
                                      op::BroadcastMode::numpy);
        bag = ctx.make<op::Reshape>({bag, ctx.i64({-1})}, false);
        ci = ctx.make<op::Reshape>({ci, ctx.i64({-1})}, false);
        if (has_psw) psw = ctx.make<op::Reshape>({psw, ctx.i64({-1})}, false);
    } else {
        Output off = to_type(ctx, ctx.input(2), Type::i64);
        if (last_offset) {
            // The last offset ends the last bag: the indices after it belong to no bag.
            Output end = ctx.make<op::Slice>({off, ctx.i64({-1}), ctx.i64({INT64_MAX}), ctx.i64({1})});
            ci = ctx.make<op::Slice>({ci, ctx.i64({0}), end, ctx.i64({1})});
            if (has_psw) psw = ctx.make<op::Slice>({psw, ctx.i64({0}), end, ctx.i64({1})});
            off = ctx.make<op::Slice>({off, ctx.i64({0}), ctx.i64({-1}), ctx.i64({1})});
        }
        if (mode == 0 && pad == -1) {
            Output none = ctx.i64_scalar(-1);
            Output out = has_psw ? ctx.make<op::EmbeddingBagOffsetsSum>({w, ci, off, none, psw})
                                 : ctx.make<op::EmbeddingBagOffsetsSum>({w, ci, off});
            return {out, empty_i64(ctx), empty_i64(ctx), empty_i64(ctx)};
        }
        bags = dim_of(ctx, off, 0);
        Output pos = ctx.make<op::Range>({ctx.i64_scalar(0), dim_of(ctx, ci, 0), ctx.i64_scalar(1)}, Type::i64);
        bag = ctx.make<op::Subtract>({ctx.make<op::Bucketize>({pos, off}, Type::i64, false), ctx.i64_scalar(1)});
    }
    // Padding rows go to an extra bag that is dropped at the end.
    if (pad != -1) bag = ctx.make<op::Select>({ctx.make<op::Equal>({ci, ctx.i64_scalar(pad)}), bags, bag});
    Output gathered = ctx.make<op::Gather>({w, ci, ctx.i64_scalar(0)}, int64_t{0});
    if (has_psw) gathered = ctx.make<op::Multiply>({gathered, ctx.make<op::Unsqueeze>({psw, ctx.i64({1})})});
    Output cols = dim_of(ctx, w, 1);
    Output all = ctx.make<op::Add>({bags, ctx.i64_scalar(1)});
    auto vec = [&](const Output& s) { return ctx.make<op::Unsqueeze>({s, ctx.i64({0})}); };
    Output zeros = ctx.make<op::Broadcast>({typed_scalar(ctx, w.type(), 0),
                                            ctx.make<op::Concat>(OutputVector{vec(all), vec(cols)}, int64_t{0})},
                                           op::BroadcastMode::numpy);
    Output target = ctx.make<op::Broadcast>({ctx.make<op::Unsqueeze>({bag, ctx.i64({1})}), shape_of(ctx, gathered)},
                                            op::BroadcastMode::numpy);
    R red = mode == 0 ? R::sum : mode == 1 ? R::mean : R::max;
    Output out = scatter_elements(ctx, zeros, target, gathered, 0, red, false);
    out = ctx.make<op::Slice>({out, ctx.i64({0}), vec(bags), ctx.i64({1})});
    return {out, empty_i64(ctx), empty_i64(ctx), empty_i64(ctx)};
}

// take(x, index): x flattened, indexed (negative counts from the end); index's shape.
Outs take(NodeContext& ctx) {
    Output x = ctx.make<op::Reshape>({ctx.input(0), ctx.i64({-1})}, false);
    Output idx = checked_indices(ctx, ctx.input(1), dim_of(ctx, x, 0), true, "the take index");
    return {ctx.make<op::Gather>({x, idx, ctx.i64_scalar(0)}, int64_t{0})};
}

// take_along_dim(x, indices, dim=None): gather along dim after broadcasting the other dims. Along
// a dim torch takes negative indices (from the end); flattened (dim=None) it does not.
Outs take_along_dim(NodeContext& ctx) {
    Output x = ctx.input(0), idx = ctx.input(1);
    if (ctx.num_inputs() < 3 || ctx.is_none(2)) {
        x = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
        idx = ctx.make<op::Reshape>({idx, ctx.i64({-1})}, false);
        Output ci = checked_indices(ctx, idx, dim_of(ctx, x, 0), false, "the indices");
        return {ctx.make<op::GatherElements>({x, ci}, int64_t{0})};
    }
    int64_t r = static_rank(ctx, x);
    ctx.check(static_rank(ctx, idx) == r, "indices must have the rank of the tensor");
    int64_t d = axis_of(ctx, x, ctx.const_int(2));
    Output sx = shape_of(ctx, x), si = shape_of(ctx, idx);
    Output both = ctx.make<op::Maximum>({sx, si});
    Output onehot = ctx.constant([&] {
        std::vector<uint8_t> m(static_cast<size_t>(r), 0);
        m[static_cast<size_t>(d)] = 1;
        Tensor t(Type::boolean, {r});
        for (int64_t i = 0; i < r; ++i) t.data<bool>()[i] = m[static_cast<size_t>(i)];
        return t;
    }());
    x = ctx.make<op::Broadcast>({x, ctx.make<op::Select>({onehot, sx, both})}, op::BroadcastMode::numpy);
    idx = ctx.make<op::Broadcast>({idx, ctx.make<op::Select>({onehot, si, both})}, op::BroadcastMode::numpy);
    Output ci = checked_indices(ctx, idx, dim_of(ctx, x, d), true, "the indices");
    return {ctx.make<op::GatherElements>({x, ci}, d)};
}

// bincount(x, weights=None, minlength=0): counts (or summed weights) of each value, as long as
// max(x) + 1 or minlength. Negative values are an error, as in torch.
Outs bincount(NodeContext& ctx) {
    Output x = to_type(ctx, ctx.input(0), Type::i64);
    ctx.check(static_rank(ctx, x) == 1, "bincount takes a 1-D tensor");
    bool weighted = ctx.num_inputs() > 1 && !ctx.is_none(1);
    int64_t minlength = ctx.num_inputs() > 2 ? ctx.const_int(2) : 0;
    Output m = ctx.make<op::ReduceMax>({ctx.make<op::Concat>(OutputVector{x, ctx.i64({-1})}, int64_t{0}), ctx.i64({0})}, false);
    Output n = ctx.make<op::Maximum>({ctx.make<op::Add>({m, ctx.i64_scalar(1)}), ctx.i64_scalar(minlength)});
    Output ci = checked_indices(ctx, x, n, false, "the bincount values");
    // As torch: counts are i64; sums of f32 weights f32, of any other weights f64.
    Type t = Type::i64;
    Output w;
    if (weighted) {
        t = ctx.input(1).type() == Type::f32 ? Type::f32 : Type::f64;
        w = to_type(ctx, ctx.input(1), t);
    } else {
        w = ctx.make<op::Broadcast>({ctx.i64_scalar(1), shape_of(ctx, x)}, op::BroadcastMode::numpy);
    }
    Output zeros = ctx.make<op::Broadcast>({typed_scalar(ctx, t, 0), ctx.make<op::Unsqueeze>({n, ctx.i64({0})})},
                                           op::BroadcastMode::numpy);
    return {scatter_elements(ctx, zeros, ci, w, 0, R::sum)};
}

// count_nonzero(x, dim=None | dims)
Outs count_nonzero(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    Output nz = to_type(ctx, ctx.make<op::NotEqual>({x, typed_scalar(ctx, x.type(), 0)}), Type::i64);
    std::vector<int64_t> dims;
    if (ctx.num_inputs() > 1 && !ctx.is_none(1)) {
        for (int64_t d : ctx.const_ints(1)) dims.push_back(axis_of(ctx, x, d));
    } else {
        for (int64_t d = 0; d < r; ++d) dims.push_back(d);
    }
    if (dims.empty()) return {nz};
    return {ctx.make<op::ReduceSum>({nz, ctx.i64(dims)}, false)};
}

// histc(x, bins=100, min=0, max=0): bins equal-width buckets over [min, max] (min == max: the
// data's range), elements outside ignored, the top edge in the last bucket.
Outs histc(NodeContext& ctx) {
    Output x = ctx.make<op::Reshape>({ctx.input(0), ctx.i64({-1})}, false);
    ctx.check(is_float(x.type()), "histc takes a floating-point tensor");
    Type t = x.type();
    int64_t bins = ctx.num_inputs() > 1 ? ctx.const_int(1) : 100;
    ctx.check(bins > 0, "bins must be positive");
    double lo_c = ctx.num_inputs() > 2 ? ctx.const_float(2) : 0, hi_c = ctx.num_inputs() > 3 ? ctx.const_float(3) : 0;
    Output lo = typed_scalar(ctx, t, lo_c), hi = typed_scalar(ctx, t, hi_c);
    if (lo_c == hi_c) {
        auto pad = [&](double v) { return ctx.make<op::Concat>(OutputVector{x, typed_scalar(ctx, t, v, {1})}, int64_t{0}); };
        Output mn = ctx.make<op::ReduceMin>({pad(lo_c), ctx.i64({0})}, false);
        Output mx = ctx.make<op::ReduceMax>({pad(hi_c), ctx.i64({0})}, false);
        // An empty input keeps (lo, hi); torch widens an empty range by 1 on each side.
        Output same = ctx.make<op::Equal>({mn, mx});
        lo = ctx.make<op::Select>({same, ctx.make<op::Subtract>({mn, typed_scalar(ctx, t, 1)}), mn});
        hi = ctx.make<op::Select>({same, ctx.make<op::Add>({mx, typed_scalar(ctx, t, 1)}), mx});
    }
    // In torch's order: (x - min) * bins / (max - min).
    Output scaled = ctx.make<op::Divide>({ctx.make<op::Multiply>({ctx.make<op::Subtract>({x, lo}), typed_scalar(ctx, t, static_cast<double>(bins))}),
                                          ctx.make<op::Subtract>({hi, lo})},
                                         false);
    Output b = to_type(ctx, ctx.make<op::Floor>({scaled}), Type::i64);
    b = ctx.make<op::Minimum>({b, ctx.i64_scalar(bins - 1)});
    Output inside = ctx.make<op::LogicalAnd>({ctx.make<op::GreaterEqual>({x, lo}), ctx.make<op::LessEqual>({x, hi})});
    b = ctx.make<op::Select>({inside, b, ctx.i64_scalar(bins)});
    Output zeros = ctx.make<op::Broadcast>({typed_scalar(ctx, t, 0), ctx.i64({bins + 1})}, op::BroadcastMode::numpy);
    Output ones = ctx.make<op::Broadcast>({typed_scalar(ctx, t, 1), shape_of(ctx, x)}, op::BroadcastMode::numpy);
    Output h = scatter_elements(ctx, zeros, b, ones, 0, R::sum);
    return {ctx.make<op::Slice>({h, ctx.i64({0}), ctx.i64({bins}), ctx.i64({1})})};
}

}  // namespace

void add_scatter_translators(TranslatorTable& t) {
    for (const char* k : {"aten::scatter", "aten::scatter_", "aten::scatter_add", "aten::scatter_add_"}) t[k] = scatter;
    t["aten::scatter_reduce"] = scatter_reduce;
    t["aten::scatter_reduce_"] = scatter_reduce;
    t["aten::index_add"] = index_add_copy;
    t["aten::index_add_"] = index_add_copy;
    t["aten::index_copy"] = index_add_copy;
    t["aten::index_copy_"] = index_add_copy;
    t["aten::index_fill"] = index_fill;
    t["aten::index_fill_"] = index_fill;
    t["aten::nonzero"] = nonzero;
    t["aten::argwhere"] = nonzero;
    t["aten::nonzero_numpy"] = nonzero_numpy;
    t["aten::masked_select"] = masked_select;
    t["aten::masked_scatter"] = masked_scatter;
    t["aten::masked_scatter_"] = masked_scatter;
    t["aten::one_hot"] = one_hot;
    t["aten::bucketize"] = bucketize;
    t["aten::searchsorted"] = searchsorted;
    t["aten::_unique2"] = unique2;
    t["aten::unique_dim"] = unique_dim;
    t["aten::unique_consecutive"] = unique_consecutive;
    t["aten::embedding_bag"] = t["aten::_embedding_bag"] = embedding_bag;
    t["aten::take"] = take;
    t["aten::take_along_dim"] = take_along_dim;
    t["aten::bincount"] = bincount;
    t["aten::count_nonzero"] = count_nonzero;
    t["aten::histc"] = histc;
}

}  // namespace kiln::frontend::pytorch
