// Shape and data-movement ops: size, view/reshape, flatten, permute, cat, split, slice, ...
#include <algorithm>
#include <limits>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/lists.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

Outs size(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() > 1) return {dim_of(ctx, x, ctx.const_int(1))};
    if (x.shape().is_static()) {
        std::vector<TValue> dims;
        for (auto d : x.shape().to_shape()) dims.emplace_back(ConstValue::integer(d));
        return {TValue::list(dims)};
    }
    return {shape_of(ctx, x)};
}

// torch._shape_as_tensor(x): the shape as a 1-D int64 tensor (what torchvision's traced detection
// transforms read sizes through), a tensor even when the shape is static.
Outs shape_as_tensor(NodeContext& ctx) { return {shape_of(ctx, ctx.input(0))}; }

Outs dim(NodeContext& ctx) { return {ConstValue::integer(static_rank(ctx, ctx.input(0)))}; }

Outs numel(NodeContext& ctx) {
    return {ctx.make<op::ReduceProd>({shape_of(ctx, ctx.input(0)), ctx.i64({0})}, false)};
}

Outs reshape(NodeContext& ctx) { return {ctx.make<op::Reshape>({ctx.input(0), int_list(ctx, 1)}, false)}; }

Outs reshape_as(NodeContext& ctx) {
    return {ctx.make<op::Reshape>({ctx.input(0), shape_of(ctx, ctx.input(1))}, false)};
}

// flatten(x, start_dim, end_dim)
Outs flatten(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    if (r == 0) return {ctx.make<op::Reshape>({x, ctx.i64({1})}, false)};
    int64_t s = ctx.num_inputs() > 1 ? axis_of(ctx, x, ctx.const_int(1)) : 0;
    int64_t e = ctx.num_inputs() > 2 ? axis_of(ctx, x, ctx.const_int(2)) : r - 1;
    if (s >= e) return {x};
    if (e == r - 1) {
        std::vector<int64_t> target(static_cast<size_t>(s), 0);
        target.push_back(-1);
        return {ctx.make<op::Reshape>({x, ctx.i64(target)}, true)};
    }
    Output shape = shape_of(ctx, x);
    OutputVector parts;
    auto slice = [&](int64_t a, int64_t b) {
        return ctx.make<op::Slice>({shape, ctx.i64({a}), ctx.i64({b}), ctx.i64({1}), ctx.i64({0})});
    };
    if (s > 0) parts.push_back(slice(0, s));
    parts.push_back(ctx.i64({-1}));
    parts.push_back(slice(e + 1, r));
    return {ctx.make<op::Reshape>({x, ctx.make<op::Concat>(parts, int64_t{0})}, false)};
}

// unflatten(x, dim, sizes)
Outs unflatten(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output shape = shape_of(ctx, x);
    auto slice = [&](int64_t a, int64_t b) {
        return ctx.make<op::Slice>({shape, ctx.i64({a}), ctx.i64({b}), ctx.i64({1}), ctx.i64({0})});
    };
    OutputVector parts;
    if (d > 0) parts.push_back(slice(0, d));
    parts.push_back(int_list(ctx, 2));
    if (d + 1 < r) parts.push_back(slice(d + 1, r));
    return {ctx.make<op::Reshape>({x, ctx.make<op::Concat>(parts, int64_t{0})}, false)};
}

Outs permute(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto dims = ctx.const_ints(1);
    for (auto& d : dims) d = axis_of(ctx, x, d);
    return {ctx.make<op::Transpose>({x, ctx.i64(dims)})};
}

Outs transpose(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    int64_t a = axis_of(ctx, x, ctx.const_int(1)), b = axis_of(ctx, x, ctx.const_int(2));
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i) perm.push_back(i);
    std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    return {ctx.make<op::Transpose>({x, ctx.i64(perm)})};
}

Outs t_op(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (static_rank(ctx, x) < 2) return {x};
    return {ctx.make<op::Transpose>({x, ctx.i64({1, 0})})};
}

// x.T (every dim reversed) and x.mT (the last two swapped), as the export IR keeps them.
Outs numpy_t(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> perm;
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
    return {r < 2 ? x : ctx.make<op::Transpose>({x, ctx.i64(perm)})};
}

Outs matrix_t(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "x.mT needs a tensor of rank 2 or more, got rank ", r);
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i) perm.push_back(i);
    std::swap(perm[r - 1], perm[r - 2]);
    return {ctx.make<op::Transpose>({x, ctx.i64(perm)})};
}

Outs squeeze(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() == 1) return {ctx.make<op::Squeeze>({x})};
    auto dims = ctx.const_ints(1);
    // torch ignores dims whose size is not 1; the op would reject them.
    std::vector<int64_t> keep;
    for (auto d : dims) {
        int64_t a = axis_of(ctx, x, d);
        auto& dim = x.shape()[static_cast<size_t>(a)];
        if (dim.is_static() && dim.get_length() != 1) continue;
        keep.push_back(a);
    }
    if (keep.empty()) return {x};
    return {ctx.make<op::Squeeze>({x, ctx.i64(keep)})};
}

Outs unsqueeze(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = ctx.const_int(1);
    if (d < 0) d += static_rank(ctx, x) + 1;
    return {ctx.make<op::Unsqueeze>({x, ctx.i64({d})})};
}

Outs expand(NodeContext& ctx) {
    // -1 keeps the input's size: abs(-1) = 1 broadcasts bidirectionally to it.
    Output sizes = ctx.make<op::Abs>({int_list(ctx, 1)});
    return {ctx.make<op::Broadcast>({ctx.input(0), sizes}, op::BroadcastMode::bidirectional)};
}

Outs expand_as(NodeContext& ctx) {
    return {ctx.make<op::Broadcast>({ctx.input(0), shape_of(ctx, ctx.input(1))}, op::BroadcastMode::bidirectional)};
}

Outs repeat(NodeContext& ctx) { return {ctx.make<op::Tile>({ctx.input(0), int_list(ctx, 1)})}; }

OutputVector promoted_list(NodeContext& ctx, size_t i) {
    auto xs = ctx.tensor_list(i);
    Type t = Type::dynamic;
    for (auto& x : xs) t = promote_types(t, x.type());
    for (auto& x : xs) x = to_type(ctx, x, t);
    return xs;
}

Outs cat(NodeContext& ctx) {
    if (ctx.value(0).kind == TValue::Kind::runtime_list)
        return {cat_pieces(ctx, *ctx.value(0).pieces, ctx.num_inputs() > 1 ? ctx.const_int(1) : 0)};
    auto xs = promoted_list(ctx, 0);
    ctx.check(!xs.empty(), "cat of an empty list");
    // torch skips 1-D empty tensors in cat whatever the other ranks (a cache that starts as
    // torch.tensor([]) and grows by cat, as transformers' DynamicLayer does).
    auto legacy_empty = [](const Output& x) { return x.shape() == PartialShape(Shape{0}); };
    OutputVector kept;
    for (auto& x : xs)
        if (!legacy_empty(x)) kept.push_back(x);
    if (kept.empty()) return {xs[0]};
    xs = kept;
    int64_t d = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    if (d < 0) d = axis_of(ctx, xs[0], d);
    return {ctx.make<op::Concat>(xs, d)};
}

Outs stack(NodeContext& ctx) {
    if (ctx.value(0).kind == TValue::Kind::runtime_list)
        return {stack_pieces(ctx, *ctx.value(0).pieces, ctx.num_inputs() > 1 ? ctx.const_int(1) : 0)};
    auto xs = promoted_list(ctx, 0);
    ctx.check(!xs.empty(), "stack of an empty list");
    int64_t d = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    if (d < 0) d += static_rank(ctx, xs[0]) + 1;
    for (auto& x : xs) x = ctx.make<op::Unsqueeze>({x, ctx.i64({d})});
    return {ctx.make<op::Concat>(xs, d)};
}

// The outputs of a split as a list that remembers its pieces (for indexing it at run time).
Outs split_outputs(NodeContext& ctx, const std::shared_ptr<Node>& n, Pieces p, bool squeeze = false) {
    std::vector<TValue> items;
    for (size_t i = 0; i < n->num_outputs(); ++i)
        items.emplace_back(squeeze ? ctx.make<op::Squeeze>({n->output(i), ctx.i64({p.axis})}) : n->output(i));
    return {pieces_list(std::move(p), std::move(items))};
}

std::optional<int64_t> static_dim(const Output& x, int64_t axis) {
    auto& d = x.shape()[static_cast<size_t>(axis)];
    if (!d.is_static()) return std::nullopt;
    return d.get_length();
}

// Pieces of `step` along d: known ones when the dimension and the step are known at conversion,
// else a list of run-time length (resolved when it is unpacked, indexed or measured).
Outs split_by(NodeContext& ctx, const Output& x, int64_t d, const Output& step) {
    auto len = static_dim(x, d);
    auto c = step.node->constant_value();
    Pieces p{x, d, step};
    if (!len || !c) return {pieces_list(std::move(p))};
    int64_t k = c->as_i64_vector().at(0);
    ctx.check(k > 0, "split size must be positive, got ", k);
    std::vector<int64_t> sizes;
    for (int64_t s = 0; s < *len; s += k) sizes.push_back(std::min(k, *len - s));
    if (sizes.empty()) sizes.push_back(0);
    auto n = ctx.make_node<op::VariadicSplit>({x, ctx.i64_scalar(d), ctx.i64(sizes)});
    return split_outputs(ctx, n, std::move(p));
}

// split(x, split_size_or_sections, dim)
Outs split(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : 0);
    auto& val = ctx.value(1);
    bool single = (val.kind == TValue::Kind::constant && val.c.kind == ConstValue::Kind::integer) ||
                  (val.kind == TValue::Kind::tensor && val.scalar);
    if (single) return split_by(ctx, x, d, to_type(ctx, ctx.input(1), Type::i64));
    // Sections: their number is the list's, their sizes may be computed at run time.
    auto n = ctx.make_node<op::VariadicSplit>({x, ctx.i64_scalar(d), int_list(ctx, 1)});
    std::vector<TValue> items;
    for (size_t i = 0; i < n->num_outputs(); ++i) items.emplace_back(n->output(i));
    return {TValue::list(items)};
}

// chunk(x, chunks, dim): torch sizes chunks by ceil(len / chunks).
Outs chunk(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t chunks = ctx.const_int(1);
    ctx.check(chunks > 0, "chunks must be positive, got ", chunks);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : 0);
    Output len = dim_of(ctx, x, d);
    Output step = ctx.make<op::Divide>({ctx.make<op::Add>({len, ctx.i64_scalar(chunks - 1)}), ctx.i64_scalar(chunks)}, true);
    return split_by(ctx, x, d, step);
}

// tensor_split(x, indices | sections, dim): with indices, the pieces x[:i0], x[i0:i1], ..., x[ik:]
// (Python slice bounds: negative ones count from the end, out-of-range ones clamp); with k
// sections, the first len % k pieces one longer than the others (bound i = (i+1)(len / k) +
// min(i+1, len % k), computed at run time when the length is).
Outs tensor_split(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : 0);
    ctx.check(ctx.is_const(1), "the indices or sections must be known at conversion time");
    auto& arg = ctx.value(1);
    std::vector<Output> bounds;
    if (arg.kind == TValue::Kind::constant && arg.c.kind == ConstValue::Kind::integer) {
        int64_t k = ctx.const_int(1);
        ctx.check(k > 0, "the number of sections must be positive, got ", k);
        Output len = ctx.make<op::Unsqueeze>({dim_of(ctx, x, d), ctx.i64({0})});
        Output q = ctx.make<op::Divide>({len, ctx.i64({k})}, true);
        Output r = ctx.make<op::Subtract>({len, ctx.make<op::Multiply>({q, ctx.i64({k})})});
        for (int64_t i = 1; i < k; ++i)
            bounds.push_back(ctx.make<op::Add>({ctx.make<op::Multiply>({q, ctx.i64({i})}),
                                                ctx.make<op::Minimum>({r, ctx.i64({i})})}));
    } else {
        for (int64_t b : ctx.const_ints(1)) bounds.push_back(ctx.i64({b}));
    }
    std::vector<TValue> items;
    Output start = ctx.i64({0});
    for (size_t i = 0; i <= bounds.size(); ++i) {
        Output end = i < bounds.size() ? bounds[i] : ctx.i64({std::numeric_limits<int64_t>::max()});
        items.emplace_back(ctx.make<op::Slice>({x, start, end, ctx.i64({1}), ctx.i64({d})}));
        if (i < bounds.size()) start = bounds[i];
    }
    return {TValue::list(items)};
}

Outs unbind(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 1 ? ctx.const_int(1) : 0);
    auto len = static_dim(x, d);
    if (!len) return {pieces_list(Pieces{x, d, {}})};
    auto n = ctx.make_node<op::Split>({x, ctx.i64_scalar(d)}, *len);
    return split_outputs(ctx, n, Pieces{x, d, {}}, true);
}

// list[start:end:step] (aten::slice.t): on a list value, or on a shape tensor used as a list.
Outs slice_list(NodeContext& ctx) {
    auto arg = [&](size_t i, int64_t dflt) {
        return ctx.num_inputs() > i && !ctx.is_none(i) ? ctx.const_int(i) : dflt;
    };
    int64_t step = arg(3, 1);
    ctx.check(step != 0, "list slices need a non-zero step");
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
    auto& v = ctx.value(0);
    if (v.kind == TValue::Kind::tensor) {
        Output start = ctx.i64({arg(1, step > 0 ? 0 : kMax)});
        Output end = ctx.i64({arg(2, step > 0 ? kMax : kMin)});
        return {ctx.make<op::Slice>({v.out, start, end, ctx.i64({step}), ctx.i64({0})})};
    }
    auto items = ctx.list(0);
    int64_t n = static_cast<int64_t>(items.size());
    std::vector<TValue> out;
    if (step > 0) {
        auto clampi = [&](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
        int64_t b = clampi(arg(1, 0)), e = clampi(arg(2, n));
        for (int64_t i = b; i < e; i += step) out.push_back(items[static_cast<size_t>(i)]);
    } else {
        // Python's rule for a negative step: bounds clamp to [-1, n - 1], -1 meaning before the start
        auto clampi = [&](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{-1}, n - 1); };
        int64_t b = ctx.num_inputs() > 1 && !ctx.is_none(1) ? clampi(ctx.const_int(1)) : n - 1;
        int64_t e = ctx.num_inputs() > 2 && !ctx.is_none(2) ? clampi(ctx.const_int(2)) : -1;
        for (int64_t i = b; i > e; i += step) out.push_back(items[static_cast<size_t>(i)]);
    }
    return {TValue::list(out)};
}

// slice(x, dim, start, end, step)
Outs slice(NodeContext& ctx) {
    auto& ot = ctx.output_type(0);
    if (ot.size() > 2 && ot.compare(ot.size() - 2, 2, "[]") == 0) return slice_list(ctx);
    Output x = ctx.input(0);
    int64_t d = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    if (d < 0) d = axis_of(ctx, x, d);
    Output start = ctx.num_inputs() > 2 && !ctx.is_none(2) ? int_list(ctx, 2) : ctx.i64({0});
    Output end = ctx.num_inputs() > 3 && !ctx.is_none(3) ? int_list(ctx, 3)
                                                         : ctx.i64({std::numeric_limits<int64_t>::max()});
    Output step = ctx.num_inputs() > 4 && !ctx.is_none(4) ? int_list(ctx, 4) : ctx.i64({1});
    return {ctx.make<op::Slice>({x, start, end, step, ctx.i64({d})})};
}

// narrow(x, dim, start, length)
Outs narrow(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output start = int_list(ctx, 2);
    if (!start.node->constant_value() || start.node->constant_value()->as_i64_vector().at(0) < 0) {
        // A negative start counts from the end: start + size, so that start + length stays right.
        Output size = ctx.make<op::Unsqueeze>({dim_of(ctx, x, d), ctx.i64({0})});
        Output neg = ctx.make<op::Less>({start, ctx.i64({0})});
        start = ctx.make<op::Select>({neg, ctx.make<op::Add>({start, size}), start});
    }
    Output end = ctx.make<op::Add>({start, int_list(ctx, 3)});
    return {ctx.make<op::Slice>({x, start, end, ctx.i64({1}), ctx.i64({d})})};
}

Outs select(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output idx = to_type(ctx, ctx.input(2), Type::i64);
    return {ctx.make<op::Gather>({x, idx, ctx.i64_scalar(d)}, int64_t{0})};
}

// gather(x, dim, index, sparse_grad=False): sparse_grad only matters for gradients. torch raises
// on an index out of [0, size): so does IndexCheck.
Outs gather(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    return {ctx.make<op::GatherElements>({x, checked_indices(ctx, ctx.input(2), dim_of(ctx, x, d), false, "the gather index")}, d)};
}

Outs roll(NodeContext& ctx) {
    Output x = ctx.input(0);
    Output shifts = int_list(ctx, 1);
    std::vector<int64_t> dims = ctx.num_inputs() > 2 ? ctx.const_ints(2) : std::vector<int64_t>{};
    if (dims.empty()) {
        // Roll the flattened tensor, then restore the shape.
        Output shape = shape_of(ctx, x);
        Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
        Output r = ctx.make<op::Roll>({flat, shifts, ctx.i64({0})});
        return {ctx.make<op::Reshape>({r, shape}, false)};
    }
    return {ctx.make<op::Roll>({x, shifts, ctx.i64(dims)})};
}

}  // namespace

std::pair<OutputVector, OutputVector> pad_amounts(NodeContext& ctx, size_t i, int64_t r) {
    auto items = ctx.list(i);
    size_t n = items.size();
    ctx.check(n % 2 == 0 && static_cast<int64_t>(n) / 2 <= r, "pad has ", n, " values for a rank ", r, " input");
    // Per dim (first to last): torch lists (begin, end) pairs from the last dim backwards. The
    // amounts may be computed at run time (e.g. padding up to a multiple of a window size).
    OutputVector b(static_cast<size_t>(r)), e(static_cast<size_t>(r));
    auto zero = ctx.i64({0});
    for (size_t d = 0; d < static_cast<size_t>(r); ++d) b[d] = e[d] = zero;
    auto one = [&](const TValue& v) {
        Output o = to_type(ctx, ctx.tensor_of(v), Type::i64);
        if (o.shape().rank_is_static() && o.shape().rank() == 0) o = ctx.make<op::Unsqueeze>({o, ctx.i64({0})});
        return o;
    };
    for (size_t k = 0; k < n / 2; ++k) {
        size_t d = static_cast<size_t>(r) - 1 - k;
        b[d] = one(items[2 * k]);
        e[d] = one(items[2 * k + 1]);
    }
    return {b, e};
}

namespace {

// pad(x, pad, mode, value) / constant_pad_nd(x, pad, value): pad lists pairs from the last dim.
Outs pad(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    auto items = ctx.list(1);
    size_t n = items.size();
    auto [b, e] = pad_amounts(ctx, 1, r);
    std::string mode = "constant";
    size_t value_i = 2;
    if (ctx.kind() == "aten::pad") {
        mode = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_str(2) : "constant";
        value_i = 3;
    }
    op::PadMode m = op::PadMode::constant;
    if (mode == "reflect") m = op::PadMode::reflect;
    else if (mode == "replicate") m = op::PadMode::edge;
    else if (mode == "circular") {
        // Wrap around: each padded dim becomes [x[-b:], x, x[:e]] (torch requires b, e <= size).
        for (size_t i = 0; i < n / 2; ++i) {
            auto d = static_cast<int64_t>(r) - 1 - static_cast<int64_t>(i);
            ctx.check(items[2 * i].is_const() && items[2 * i + 1].is_const(),
                      "circular padding needs pad amounts known at conversion time");
            int64_t pb = items[2 * i].as_const().i, pe = items[2 * i + 1].as_const().i;
            ctx.check(pb >= 0 && pe >= 0, "circular padding by a negative amount (", pb, ", ", pe, ") is not supported");
            OutputVector parts;
            auto piece = [&](int64_t start, int64_t stop) {
                return ctx.make<op::Slice>({x, ctx.i64({start}), ctx.i64({stop}), ctx.i64({1}), ctx.i64({d})});
            };
            if (pb > 0) parts.push_back(piece(-pb, std::numeric_limits<int64_t>::max()));
            parts.push_back(x);
            if (pe > 0) parts.push_back(piece(0, pe));
            if (parts.size() > 1) x = ctx.make<op::Concat>(parts, d);
        }
        return {x};
    }
    else if (mode != "constant") ctx.fail("padding mode '", mode, "' is not supported");
    OutputVector ins{x, ctx.make<op::Concat>(b, int64_t{0}), ctx.make<op::Concat>(e, int64_t{0})};
    if (m == op::PadMode::constant) {
        double v = ctx.num_inputs() > value_i && !ctx.is_none(value_i) ? ctx.const_float(value_i) : 0.0;
        ins.push_back(typed_scalar(ctx, x.type(), v));
    }
    return {ctx.make<op::Pad>(ins, m)};
}

Outs getitem(NodeContext& ctx) {
    auto& v = ctx.value(0);
    if (v.is_dict()) return {dict_item(ctx, v, 1)};
    if (!known_int(ctx, 1) || v.kind == TValue::Kind::runtime_list) {
        // An index known only at run time (a loop counter), or a list of run-time length.
        if (v.kind == TValue::Kind::tensor) {
            TValue r(ctx.make<op::Gather>({v.out, to_type(ctx, ctx.input(1), Type::i64), ctx.i64_scalar(0)}, int64_t{0}));
            r.scalar = true;
            return {r};
        }
        return {list_item(ctx, v, ctx.input(1))};
    }
    int64_t i = ctx.const_int(1);
    if (v.kind == TValue::Kind::tensor) {
        // A shape tensor used as a list.
        return {ctx.make<op::Gather>({v.out, ctx.i64_scalar(i), ctx.i64_scalar(0)}, int64_t{0})};
    }
    auto items = ctx.list(0);
    int64_t n = static_cast<int64_t>(items.size());
    if (i < 0) i += n;
    ctx.check(i >= 0 && i < n, "index ", ctx.const_int(1), " is out of range for a list of ", n);
    return {items[static_cast<size_t>(i)]};
}

Outs len(NodeContext& ctx) {
    auto& v = ctx.value(0);
    if (v.kind == TValue::Kind::tensor) return {dim_of(ctx, v.out, 0)};
    if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::tensor) {  // a weight: len(self._wh_pairs[k])
        ctx.check(v.c.tensor.shape().size() > 0, "len() of a 0-d tensor");
        return {ConstValue::integer(v.c.tensor.shape()[0])};
    }
    if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::string)
        return {ConstValue::integer(static_cast<int64_t>(v.c.s.size()))};
    return {list_length(ctx, v)};
}

// atleast_1d / 2d / 3d(x) or of a list of tensors: lower ranks padded with size-1 dims as torch
// places them (1-D [n] -> [1, n] -> [1, n, 1]; 2-D [m, n] -> [m, n, 1]).
template <int N>
Outs atleast(NodeContext& ctx) {
    auto one = [&](const Output& x) -> Output {
        const int64_t r = static_rank(ctx, x);
        if (r >= N) return x;
        std::vector<int64_t> at;
        if (r == 0) for (int64_t i = 0; i < N; ++i) at.push_back(i);
        else if (r == 1) at = N == 2 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 2};
        else at = {2};  // r == 2, N == 3
        return ctx.make<op::Unsqueeze>({x, ctx.i64(at)});
    };
    const TValue& v = ctx.value(0);
    if (v.kind == TValue::Kind::list) {
        std::vector<TValue> items;
        for (auto& it : v.items) {
            ctx.check(it.kind == TValue::Kind::tensor, "takes tensors");
            items.emplace_back(one(it.out));
        }
        return {TValue::list(items)};
    }
    return {one(ctx.input(0))};
}

}  // namespace

void add_shape_translators(TranslatorTable& t) {
    t["aten::atleast_1d"] = atleast<1>;
    t["aten::atleast_2d"] = atleast<2>;
    t["aten::atleast_3d"] = atleast<3>;
    t["aten::size"] = size;
    t["aten::dim"] = dim;
    t["aten::_shape_as_tensor"] = shape_as_tensor;
    t["aten::numel"] = t["aten::sym_numel"] = numel;
    t["aten::sym_size"] = size;  // torch.export's x.size(d)
    t["aten::view"] = t["aten::reshape"] = t["aten::_unsafe_view"] = reshape;
    t["aten::view_as"] = t["aten::reshape_as"] = reshape_as;
    t["aten::flatten"] = flatten;
    t["aten::unflatten"] = unflatten;
    t["aten::permute"] = permute;
    t["aten::transpose"] = t["aten::swapaxes"] = transpose;
    t["aten::t"] = t_op;
    t["aten::numpy_T"] = numpy_t;
    t["aten::mT"] = matrix_t;
    t["aten::squeeze"] = squeeze;
    t["aten::unsqueeze"] = unsqueeze;
    t["aten::expand"] = expand;
    t["aten::expand_as"] = expand_as;
    t["aten::repeat"] = repeat;
    t["aten::cat"] = t["aten::concat"] = t["aten::concatenate"] = cat;
    t["aten::stack"] = stack;
    t["aten::split"] = t["aten::split_with_sizes"] = split;
    t["aten::chunk"] = chunk;
    t["aten::unbind"] = unbind;
    t["aten::tensor_split"] = tensor_split;
    t["aten::slice"] = slice;
    t["aten::narrow"] = narrow;
    t["aten::select"] = select;
    t["aten::gather"] = gather;
    t["aten::roll"] = roll;
    t["aten::pad"] = t["aten::constant_pad_nd"] = pad;
    t["aten::__getitem__"] = getitem;
    t["aten::len"] = len;
    for (const char* k : {"aten::contiguous", "aten::detach", "aten::detach_", "aten::clone", "aten::dropout", "aten::dropout_",
                          "aten::feature_dropout", "aten::alpha_dropout", "aten::lift_fresh",
                          "aten::lift_fresh_copy", "prim::unchecked_cast", "aten::list",
                          "prim::NumToTensor", "aten::stop_gradient"})
        t[k] = identity;
}

}  // namespace kiln::frontend::pytorch
