// Data movement that torch expresses as views or copies of index grids: flip / fliplr / flipud /
// rot90, movedim, tile, broadcast_to / broadcast_tensors, as_strided, Tensor.unfold, diagonal /
// diag / diag_embed / diagflat, narrow_copy, select/slice/diagonal_scatter, linspace / logspace,
// tril/triu_indices, and the order statistics kthvalue / median / nanmedian / msort.
#include <algorithm>
#include <cmath>
#include <optional>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

Output flipped(NodeContext& ctx, const Output& x, const std::vector<int64_t>& dims) {
    if (dims.empty()) return x;
    std::vector<int64_t> axes;
    for (int64_t d : dims) axes.push_back(axis_of(ctx, x, d));
    auto n = axes.size();
    return ctx.make<op::Slice>({x, ctx.i64(std::vector<int64_t>(n, -1)), ctx.i64(std::vector<int64_t>(n, INT64_MIN)),
                                ctx.i64(std::vector<int64_t>(n, -1)), ctx.i64(axes)});
}

Output swapped(NodeContext& ctx, const Output& x, int64_t a, int64_t b) {
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> perm(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = i;
    std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    return ctx.make<op::Transpose>({x, ctx.i64(perm)});
}

Outs flip(NodeContext& ctx) { return {flipped(ctx, ctx.input(0), ctx.const_ints(1))}; }

Outs fliplr(NodeContext& ctx) {
    ctx.check(static_rank(ctx, ctx.input(0)) >= 2, "needs a tensor of at least 2 dims");
    return {flipped(ctx, ctx.input(0), {1})};
}

Outs flipud(NodeContext& ctx) {
    ctx.check(static_rank(ctx, ctx.input(0)) >= 1, "needs a tensor of at least 1 dim");
    return {flipped(ctx, ctx.input(0), {0})};
}

// rot90(x, k=1, dims=[0, 1]): as torch: k=1 flips dims[1] then swaps; k=3 flips dims[0].
Outs rot90(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t k = ctx.num_inputs() > 1 ? ctx.const_int(1) : 1;
    auto dims = ctx.num_inputs() > 2 ? ctx.const_ints(2) : std::vector<int64_t>{0, 1};
    ctx.check(dims.size() == 2, "dims must have two entries");
    int64_t a = axis_of(ctx, x, dims[0]), b = axis_of(ctx, x, dims[1]);
    ctx.check(a != b, "dims must differ");
    k = ((k % 4) + 4) % 4;
    if (k == 0) return {x};
    if (k == 2) return {flipped(ctx, x, {a, b})};
    return {swapped(ctx, flipped(ctx, x, {k == 1 ? b : a}), a, b)};
}

// movedim(x, source, destination) / moveaxis
Outs movedim(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    auto src = ctx.const_ints(1), dst = ctx.const_ints(2);
    ctx.check(src.size() == dst.size(), "source and destination must have the same length");
    std::vector<int64_t> perm(static_cast<size_t>(r), -1);
    std::vector<bool> used(static_cast<size_t>(r), false);
    for (size_t i = 0; i < src.size(); ++i) {
        int64_t s = axis_of(ctx, x, src[i]), d = axis_of(ctx, x, dst[i]);
        ctx.check(perm[static_cast<size_t>(d)] == -1 && !used[static_cast<size_t>(s)], "repeated dims");
        perm[static_cast<size_t>(d)] = s;
        used[static_cast<size_t>(s)] = true;
    }
    int64_t next = 0;
    for (auto& p : perm) {
        if (p != -1) continue;
        while (used[static_cast<size_t>(next)]) ++next;
        p = next++;
    }
    return {ctx.make<op::Transpose>({x, ctx.i64(perm)})};
}

Outs tile(NodeContext& ctx) { return {ctx.make<op::Tile>({ctx.input(0), int_list(ctx, 1)})}; }

// broadcast_to(x, size): -1 keeps x's size (abs(-1) = 1 broadcasts bidirectionally to it).
Outs broadcast_to(NodeContext& ctx) {
    Output sizes = ctx.make<op::Abs>({int_list(ctx, 1)});
    return {ctx.make<op::Broadcast>({ctx.input(0), sizes}, op::BroadcastMode::bidirectional)};
}

Outs broadcast_tensors(NodeContext& ctx) {
    auto xs = ctx.tensor_list(0);
    ctx.check(!xs.empty(), "needs at least one tensor");
    Output z = ctx.make<op::Broadcast>({ctx.i64_scalar(0), shape_of(ctx, xs[0])}, op::BroadcastMode::numpy);
    for (size_t i = 1; i < xs.size(); ++i)
        z = ctx.make<op::Broadcast>({z, shape_of(ctx, xs[i])}, op::BroadcastMode::bidirectional);
    Output shape = shape_of(ctx, z);
    std::vector<TValue> out;
    for (auto& x : xs) out.push_back(ctx.make<op::Broadcast>({x, shape}, op::BroadcastMode::numpy));
    return {TValue::list(std::move(out))};
}

// as_strided(x, size, stride, storage_offset=None): the flat positions offset + sum_d i_d * stride_d
// (sizes and strides may be computed at run time) gathered from the memory torch reads: x's own,
// or, when x is a transpose (or a reshape torch does as a view of one) of a tensor with static
// shapes, that tensor's (layout_of follows the strides). A view of part of another tensor (slice,
// expand, select, split) addresses memory kiln's tensors do not keep: refused.
// The strides torch's view(new_shape) would give a tensor of shape `old` and strides `st`, or none
// when no view is possible (then reshape copies into fresh memory).
std::optional<std::vector<int64_t>> view_strides(const Shape& old, const std::vector<int64_t>& st, const Shape& nw) {
    std::vector<int64_t> out(nw.size(), 1);
    if (old.empty() || shape_size(old) == 0) return std::nullopt;
    auto view_d = static_cast<int64_t>(nw.size()) - 1;
    int64_t base = st.back(), tensor_n = 1, view_n = 1;
    for (auto d = static_cast<int64_t>(old.size()) - 1; d >= 0; --d) {
        tensor_n *= old[static_cast<size_t>(d)];
        // A chunk of dims that are contiguous with each other ends here.
        if (d == 0 || (old[static_cast<size_t>(d - 1)] != 1 && st[static_cast<size_t>(d - 1)] != tensor_n * base)) {
            while (view_d >= 0 && (view_n < tensor_n || nw[static_cast<size_t>(view_d)] == 1)) {
                out[static_cast<size_t>(view_d)] = view_n * base;
                view_n *= nw[static_cast<size_t>(view_d)];
                --view_d;
            }
            if (view_n != tensor_n) return std::nullopt;
            if (d > 0) {
                base = st[static_cast<size_t>(d - 1)];
                tensor_n = view_n = 1;
            }
        }
    }
    if (view_d != -1) return std::nullopt;
    return out;
}

// How a value lies in the memory torch would give it: contiguous (its elements in kiln's order),
// a strided view of the memory of `base` (transposes, and reshapes of them that torch can do as
// views, offset 0), or unknown (a view of part of another tensor: slice, expand, select, split;
// or shapes not known at conversion).
struct Layout {
    bool known = true;
    bool contiguous = true;
    std::vector<int64_t> strides;  // when !contiguous: in elements of base's memory
    Output base;                   // when !contiguous: whose memory (contiguous) it views
};

bool is_contiguous(const Shape& s, const std::vector<int64_t>& st) {
    auto want = op::contiguous_strides(s);
    for (size_t i = 0; i < s.size(); ++i)
        if (s[i] != 1 && st[i] != want[i]) return false;
    return true;
}

Layout layout_of(const Output& x) {
    Node* p = x.node.get();
    Layout unknown{false, false, {}, {}};
    if (dynamic_cast<op::Reshape*>(p) || dynamic_cast<op::Squeeze*>(p) || dynamic_cast<op::Unsqueeze*>(p)) {
        Layout in = layout_of(p->input(0));
        if (!in.known || in.contiguous) return in;
        auto& is = p->input(0).shape();
        if (!is.is_static() || !x.shape().is_static()) return unknown;
        auto v = view_strides(is.to_shape(), in.strides, x.shape().to_shape());
        if (!v) return Layout{};  // torch copies: fresh contiguous memory
        if (is_contiguous(x.shape().to_shape(), *v)) return Layout{};
        return Layout{true, false, *v, in.base};
    }
    if (dynamic_cast<op::Transpose*>(p)) {
        Layout in = layout_of(p->input(0));
        auto perm_c = p->input(1).node->constant_value();
        auto& is = p->input(0).shape();
        if (!in.known || !perm_c || !is.is_static()) return unknown;
        auto st = in.contiguous ? op::contiguous_strides(is.to_shape()) : in.strides;
        Output base = in.contiguous ? p->input(0) : in.base;
        Shape ts;
        std::vector<int64_t> out;
        for (int64_t q : perm_c->as_i64_vector()) {
            ts.push_back(is.to_shape()[static_cast<size_t>(q)]);
            out.push_back(st[static_cast<size_t>(q)]);
        }
        if (is_contiguous(ts, out)) return Layout{};
        return Layout{true, false, out, base};
    }
    if (dynamic_cast<op::Slice*>(p) || dynamic_cast<op::StridedSlice*>(p) || dynamic_cast<op::Broadcast*>(p) ||
        dynamic_cast<op::Gather*>(p) || dynamic_cast<op::Split*>(p) || dynamic_cast<op::VariadicSplit*>(p))
        return unknown;
    return Layout{};
}

// The flat positions offset + sum_d i_d * stride_d of the view as_strided(_, size, stride,
// storage_offset) takes (size, stride and storage_offset at inputs `at`, `at` + 1, `at` + 2), in the
// view's shape, checked against the `n` elements of the memory they address.
Output strided_positions(NodeContext& ctx, size_t at, const Output& n_elements) {
    auto sizes = ctx.list(at), strides = ctx.list(at + 1);
    ctx.check(sizes.size() == strides.size(), "size and stride must have the same length");
    auto r = static_cast<int64_t>(sizes.size());
    Output idx = ctx.num_inputs() > at + 2 && !ctx.is_none(at + 2) ? to_type(ctx, ctx.input(at + 2), Type::i64)
                                                                   : ctx.i64_scalar(0);
    for (int64_t d = 0; d < r; ++d) {
        Output n = to_type(ctx, ctx.tensor_of(sizes[static_cast<size_t>(d)]), Type::i64);
        Output st = to_type(ctx, ctx.tensor_of(strides[static_cast<size_t>(d)]), Type::i64);
        std::vector<int64_t> shape(static_cast<size_t>(r), 1);
        shape[static_cast<size_t>(d)] = -1;
        Output steps = ctx.make<op::Range>({ctx.i64_scalar(0), n, ctx.i64_scalar(1)}, Type::i64);
        idx = ctx.make<op::Add>({idx, ctx.make<op::Reshape>({ctx.make<op::Multiply>({steps, st}), ctx.i64(shape)}, false)});
    }
    if (r == 0) idx = ctx.make<op::Reshape>({idx, ctx.i64({})}, false);
    else {
        // The view's shape also when a size is 0 or 1 (the broadcast above keeps it).
        OutputVector dims;
        for (auto& sz : sizes) dims.push_back(ctx.make<op::Reshape>({to_type(ctx, ctx.tensor_of(sz), Type::i64), ctx.i64({1})}, false));
        idx = ctx.make<op::Broadcast>({idx, ctx.make<op::Concat>(dims, int64_t{0})}, op::BroadcastMode::numpy);
    }
    return checked_indices(ctx, idx, n_elements, false, "the as_strided view positions");
}

Outs as_strided(NodeContext& ctx) {
    Layout l = layout_of(ctx.input(0));
    ctx.check(l.known, "as_strided of a view of part of another tensor (a slice, expand, select or split, or a "
                       "transpose of shapes not known at conversion) addresses memory that kiln's tensors do not "
                       "keep; only as_strided of a tensor with its own memory, or of a transpose or reshape of one "
                       "with static shapes, is expressible");
    // The positions index the memory torch reads: the viewed tensor's, in its own (row-major) order.
    Output x = ctx.make<op::Reshape>({l.contiguous ? ctx.input(0) : l.base, ctx.i64({-1})}, false);
    Output i = strided_positions(ctx, 1, dim_of(ctx, x, 0));
    return {ctx.make<op::Gather>({x, i, ctx.i64_scalar(0)}, int64_t{0})};
}

// as_strided_scatter(x, src, size, stride, storage_offset=None), torch.export's functional form of
// writing into an as_strided view (x.fill_diagonal_ becomes one): a copy of x with src at the view's
// positions of x's memory. Only for x in its own (row-major) memory; a transposed x would need the
// result written back through its strides.
Outs as_strided_scatter(NodeContext& ctx) {
    Output x = ctx.input(0);
    Layout l = layout_of(x);
    ctx.check(l.known && l.contiguous, "as_strided_scatter into a view of another tensor's memory (a transpose, "
                                       "slice, expand or split) is not supported; only into a tensor with its own memory");
    Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    Output i = strided_positions(ctx, 2, dim_of(ctx, flat, 0));
    Output src = ctx.make<op::Broadcast>({to_type(ctx, ctx.input(1), x.type()), shape_of(ctx, i)}, op::BroadcastMode::numpy);
    Output y = ctx.make<op::ScatterNDUpdate>({flat, ctx.make<op::Unsqueeze>({i, ctx.i64({-1})}), src});
    return {ctx.make<op::Reshape>({y, shape_of(ctx, x)}, false)};
}

// Tensor.unfold(dim, size, step): windows of `size` every `step` along dim, as a new last dim.
Outs unfold(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    int64_t d = r == 0 ? 0 : axis_of(ctx, x, ctx.const_int(1));
    int64_t size = ctx.const_int(2), step = ctx.const_int(3);
    ctx.check(step > 0, "step must be positive");
    if (r == 0) x = ctx.make<op::Reshape>({x, ctx.i64({1})}, false);
    Output n = dim_of(ctx, x, d);
    Output count = ctx.make<op::Add>({ctx.make<op::Divide>({ctx.make<op::Subtract>({n, ctx.i64_scalar(size)}),
                                                            ctx.i64_scalar(step)},
                                                           true),
                                      ctx.i64_scalar(1)});
    Output too_big = ctx.make<op::IndexCheck>({ctx.make<op::Subtract>({ctx.i64_scalar(size), ctx.i64_scalar(1)}),
                                               ctx.make<op::Add>({n, ctx.i64_scalar(0)})},
                                              false, "the window size (minus 1)");
    Output starts = ctx.make<op::Multiply>(
        {ctx.make<op::Range>({ctx.i64_scalar(0), ctx.make<op::Maximum>({count, ctx.i64_scalar(0)}), ctx.i64_scalar(1)}, Type::i64),
         ctx.i64_scalar(step)});
    Output offs = ctx.make<op::Add>({ctx.make<op::Range>({ctx.i64_scalar(0), ctx.i64_scalar(size), ctx.i64_scalar(1)}, Type::i64),
                                     ctx.make<op::Multiply>({too_big, ctx.i64_scalar(0)})});
    Output idx = ctx.make<op::Add>({ctx.make<op::Unsqueeze>({starts, ctx.i64({1})}), ctx.make<op::Unsqueeze>({offs, ctx.i64({0})})});
    Output g = ctx.make<op::Gather>({x, idx, ctx.i64_scalar(d)}, int64_t{0});  // [.., count, size, ..]
    int64_t gr = (r == 0 ? 1 : r) + 1;
    std::vector<int64_t> perm;
    for (int64_t a = 0; a < gr; ++a)
        if (a != d + 1) perm.push_back(a);
    perm.push_back(d + 1);
    Output y = ctx.make<op::Transpose>({g, ctx.i64(perm)});
    if (r == 0) y = ctx.make<op::Reshape>({y, ctx.i64({size})}, false);
    return {y};
}

}  // namespace

// diagonal(x, offset, dim1, dim2): dims d1, d2 moved to the end and flattened; the diagonal is
// every (n2 + 1)-th element from its start.
Output diagonal_of(NodeContext& ctx, const Output& x, int64_t off, int64_t dim1, int64_t dim2) {
    int64_t r = static_rank(ctx, x);
    int64_t a = axis_of(ctx, x, dim1), b = axis_of(ctx, x, dim2);
    ctx.check(a != b, "the diagonal dims must differ");
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i)
        if (i != a && i != b) perm.push_back(i);
    perm.push_back(a);
    perm.push_back(b);
    Output xt = ctx.make<op::Transpose>({x, ctx.i64(perm)});
    Output n1 = dim_of(ctx, xt, r - 2), n2 = dim_of(ctx, xt, r - 1);
    Output len = ctx.make<op::Minimum>({ctx.make<op::Subtract>({n1, ctx.i64_scalar(std::max<int64_t>(-off, 0))}),
                                        ctx.make<op::Subtract>({n2, ctx.i64_scalar(std::max<int64_t>(off, 0))})});
    len = ctx.make<op::Maximum>({len, ctx.i64_scalar(0)});
    Output start = off >= 0 ? ctx.i64_scalar(off) : ctx.make<op::Multiply>({n2, ctx.i64_scalar(-off)});
    Output idx = ctx.make<op::Add>({ctx.make<op::Multiply>({ctx.make<op::Range>({ctx.i64_scalar(0), len, ctx.i64_scalar(1)}, Type::i64),
                                                            ctx.make<op::Add>({n2, ctx.i64_scalar(1)})}),
                                    start});
    Output shape = ctx.make<op::Concat>(OutputVector{ctx.make<op::Slice>({shape_of(ctx, xt), ctx.i64({0}), ctx.i64({r - 2}), ctx.i64({1})}),
                                                     ctx.i64({-1})},
                                        int64_t{0});
    Output flat = ctx.make<op::Reshape>({xt, shape}, false);
    return ctx.make<op::Gather>({flat, idx, ctx.i64_scalar(r - 2)}, int64_t{0});
}

namespace {

Outs diagonal(NodeContext& ctx) {
    int64_t off = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    int64_t d1 = ctx.num_inputs() > 2 ? ctx.const_int(2) : 0, d2 = ctx.num_inputs() > 3 ? ctx.const_int(3) : 1;
    return {diagonal_of(ctx, ctx.input(0), off, d1, d2)};
}

// x's last dim placed on a diagonal of a new pair of dims (dim1, dim2 of the result).
Output embed_diagonal(NodeContext& ctx, const Output& x, int64_t off, int64_t dim1, int64_t dim2) {
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 1, "needs a tensor of at least 1 dim");
    int64_t R = r + 1;
    auto norm = [&](int64_t d) {
        int64_t n = d < 0 ? d + R : d;
        ctx.check(n >= 0 && n < R, "dim ", d, " is out of range for a result of rank ", R);
        return n;
    };
    int64_t a = norm(dim1), b = norm(dim2);
    ctx.check(a != b, "the diagonal dims must differ");
    Output n = dim_of(ctx, x, r - 1);
    Output m = ctx.make<op::Add>({n, ctx.i64_scalar(off < 0 ? -off : off)});
    Output range = ctx.make<op::Range>({ctx.i64_scalar(0), m, ctx.i64_scalar(1)}, Type::i64);
    Output rows = ctx.make<op::Unsqueeze>({range, ctx.i64({1})}), cols = ctx.make<op::Unsqueeze>({range, ctx.i64({0})});
    Output on = ctx.make<op::Equal>({ctx.make<op::Subtract>({cols, rows}), ctx.i64_scalar(off)});
    Output pick = ctx.make<op::Minimum>({range, ctx.make<op::Subtract>({n, ctx.i64_scalar(1)})});
    pick = ctx.make<op::Maximum>({pick, ctx.i64_scalar(0)});
    Output v = ctx.make<op::Gather>({x, pick, ctx.i64_scalar(r - 1)}, int64_t{0});  // [..., m]
    v = ctx.make<op::Unsqueeze>({v, ctx.i64({off >= 0 ? -1 : -2})});
    Output y = ctx.make<op::Select>({on, v, typed_scalar(ctx, x.type(), 0)});  // [..., m, m]
    std::vector<int64_t> perm;
    int64_t batch = 0;
    for (int64_t p = 0; p < R; ++p) perm.push_back(p == a ? R - 2 : p == b ? R - 1 : batch++);
    bool identity = true;
    for (int64_t p = 0; p < R; ++p) identity = identity && perm[static_cast<size_t>(p)] == p;
    return identity ? y : ctx.make<op::Transpose>({y, ctx.i64(perm)});
}

Outs diag_embed(NodeContext& ctx) {
    int64_t off = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    int64_t d1 = ctx.num_inputs() > 2 ? ctx.const_int(2) : -2, d2 = ctx.num_inputs() > 3 ? ctx.const_int(3) : -1;
    return {embed_diagonal(ctx, ctx.input(0), off, d1, d2)};
}

// diag(x, diagonal=0): a 1-D x becomes a matrix, a 2-D x gives its diagonal.
Outs diag(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t off = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    int64_t r = static_rank(ctx, x);
    ctx.check(r == 1 || r == 2, "takes a 1-D or 2-D tensor");
    return {r == 1 ? embed_diagonal(ctx, x, off, 0, 1) : diagonal_of(ctx, x, off, 0, 1)};
}

Outs diagflat(NodeContext& ctx) {
    int64_t off = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    return {embed_diagonal(ctx, ctx.make<op::Reshape>({ctx.input(0), ctx.i64({-1})}, false), off, 0, 1)};
}

// narrow_copy(x, dim, start, length): a negative start counts from the end.
Outs narrow_copy(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    Output start = int_list(ctx, 2);
    Output n = dim_of(ctx, x, d);
    start = ctx.make<op::Select>({ctx.make<op::Less>({start, ctx.i64_scalar(0)}), ctx.make<op::Add>({start, n}), start});
    Output end = ctx.make<op::Add>({start, int_list(ctx, 3)});
    return {ctx.make<op::Slice>({x, start, end, ctx.i64({1}), ctx.i64({d})})};
}

// select/slice/diagonal_scatter(x, src, ...): the view's positions in x come from the same view
// of an index grid of x; src is scattered there.
Output scatter_into_view(NodeContext& ctx, const Output& x, const Output& positions, const Output& src) {
    Output flat = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    Output idx = ctx.make<op::Reshape>({positions, ctx.i64({-1, 1})}, false);
    Output upd = ctx.make<op::Reshape>({to_type(ctx, src, x.type()), ctx.i64({-1})}, false);
    ctx.check(!(positions.shape().is_static() && src.shape().is_static()) || positions.shape() == src.shape(),
              "src has shape ", src.shape().to_string(), ", the view of the tensor has ", positions.shape().to_string());
    return ctx.make<op::Reshape>({ctx.make<op::ScatterNDUpdate>({flat, idx, upd}), shape_of(ctx, x)}, false);
}

Output index_grid(NodeContext& ctx, const Output& x) {
    Output shape = shape_of(ctx, x);
    Output count = ctx.make<op::ReduceProd>({shape, ctx.i64({0})}, false);
    Output g = ctx.make<op::Range>({ctx.i64_scalar(0), count, ctx.i64_scalar(1)}, Type::i64);
    return ctx.make<op::Reshape>({g, shape}, false);
}

Outs select_scatter(NodeContext& ctx) {  // (x, src, dim, index)
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(2));
    Output i = checked_indices(ctx, ctx.input(3), dim_of(ctx, x, d), true, "the index");
    Output pos = ctx.make<op::Gather>({index_grid(ctx, x), i, ctx.i64_scalar(d)}, int64_t{0});
    return {scatter_into_view(ctx, x, pos, ctx.input(1))};
}

Outs slice_scatter(NodeContext& ctx) {  // (x, src, dim=0, start=None, end=None, step=1)
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : 0);
    Output start = ctx.num_inputs() > 3 && !ctx.is_none(3) ? int_list(ctx, 3) : ctx.i64({0});
    Output end = ctx.num_inputs() > 4 && !ctx.is_none(4) ? int_list(ctx, 4) : ctx.i64({INT64_MAX});
    Output step = ctx.num_inputs() > 5 ? int_list(ctx, 5) : ctx.i64({1});
    Output pos = ctx.make<op::Slice>({index_grid(ctx, x), start, end, step, ctx.i64({d})});
    return {scatter_into_view(ctx, x, pos, ctx.input(1))};
}

Outs diagonal_scatter(NodeContext& ctx) {  // (x, src, offset=0, dim1=0, dim2=1)
    Output x = ctx.input(0);
    int64_t off = ctx.num_inputs() > 2 ? ctx.const_int(2) : 0;
    int64_t d1 = ctx.num_inputs() > 3 ? ctx.const_int(3) : 0, d2 = ctx.num_inputs() > 4 ? ctx.const_int(4) : 1;
    return {scatter_into_view(ctx, x, diagonal_of(ctx, index_grid(ctx, x), off, d1, d2), ctx.input(1))};
}

// linspace(start, end, steps, dtype...) as torch computes it: the first half from start, the
// second from end (so both ends are exact); logspace(start, end, steps, base, dtype...) = base ** that.
Output linear_steps(NodeContext& ctx, Output start, Output end, Output steps) {
    Type w = Type::f64;
    start = to_type(ctx, start, w);
    end = to_type(ctx, end, w);
    Output n = to_type(ctx, steps, Type::i64);
    Output i = ctx.make<op::Range>({ctx.i64_scalar(0), n, ctx.i64_scalar(1)}, Type::i64);
    Output fi = to_type(ctx, i, w);
    Output nm1 = to_type(ctx, ctx.make<op::Maximum>({ctx.make<op::Subtract>({n, ctx.i64_scalar(1)}), ctx.i64_scalar(1)}), w);
    Output step = ctx.make<op::Divide>({ctx.make<op::Subtract>({end, start}), nm1}, false);
    Output lo = ctx.make<op::Add>({start, ctx.make<op::Multiply>({fi, step})});
    Output back = ctx.make<op::Subtract>({to_type(ctx, ctx.make<op::Subtract>({n, ctx.i64_scalar(1)}), w), fi});
    Output hi = ctx.make<op::Subtract>({end, ctx.make<op::Multiply>({back, step})});
    // The first half from start, the rest from end; one step is start alone.
    Output half = ctx.make<op::LogicalOr>({ctx.make<op::Less>({i, ctx.make<op::Divide>({n, ctx.i64_scalar(2)}, true)}),
                                           ctx.make<op::Equal>({n, ctx.i64_scalar(1)})});
    return ctx.make<op::Select>({half, lo, hi});
}

Type dtype_at(NodeContext& ctx, size_t i, Type dflt) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return dflt;
    return torch_dtype(ctx, ctx.const_int(i));
}

Outs linspace(NodeContext& ctx) {
    ctx.check(!ctx.is_none(2), "steps is required");
    Output v = linear_steps(ctx, ctx.input(0), ctx.input(1), ctx.input(2));
    return {to_type(ctx, v, dtype_at(ctx, 3, Type::f32))};
}

Outs logspace(NodeContext& ctx) {
    Output v = linear_steps(ctx, ctx.input(0), ctx.input(1), ctx.input(2));
    double base = ctx.num_inputs() > 3 ? ctx.const_float(3) : 10.0;
    v = ctx.make<op::Power>({typed_scalar(ctx, Type::f64, base), v});
    return {to_type(ctx, v, dtype_at(ctx, 4, Type::f32))};
}

// tril_indices(row, col, offset=0, dtype=long) / triu_indices: [2, n], row-major: the NonZero of
// the triangle's mask.
template <bool Lower>
Outs tri_indices(NodeContext& ctx) {
    Output rows = to_type(ctx, ctx.input(0), Type::i64), cols = to_type(ctx, ctx.input(1), Type::i64);
    Output off = ctx.num_inputs() > 2 ? to_type(ctx, ctx.input(2), Type::i64) : ctx.i64_scalar(0);
    Output i = ctx.make<op::Unsqueeze>({ctx.make<op::Range>({ctx.i64_scalar(0), rows, ctx.i64_scalar(1)}, Type::i64), ctx.i64({1})});
    Output j = ctx.make<op::Unsqueeze>({ctx.make<op::Range>({ctx.i64_scalar(0), cols, ctx.i64_scalar(1)}, Type::i64), ctx.i64({0})});
    Output d = ctx.make<op::Subtract>({j, i});
    Output mask = Lower ? ctx.make<op::LessEqual>({d, off}) : ctx.make<op::GreaterEqual>({d, off});
    return {to_type(ctx, ctx.make<op::NonZero>({mask}, Type::i64), dtype_at(ctx, 3, Type::i64))};
}

// The k-th smallest (1-based, k an i64 scalar) along axis a: values and indices, axis kept.
std::pair<Output, Output> kth_smallest(NodeContext& ctx, const Output& x, int64_t a, const Output& k) {
    auto t = ctx.make_node<op::TopK>({x, k}, a, op::TopK::Mode::min, op::TopK::Sort::value);
    Output pos = ctx.make<op::Unsqueeze>({ctx.make<op::Subtract>({k, ctx.i64_scalar(1)}), ctx.i64({0})});
    return {ctx.make<op::Gather>({t->output(0), pos, ctx.i64_scalar(a)}, int64_t{0}),
            ctx.make<op::Gather>({t->output(1), pos, ctx.i64_scalar(a)}, int64_t{0})};
}

Outs squeezed(NodeContext& ctx, std::pair<Output, Output> vi, int64_t a, bool keep) {
    if (keep) return {vi.first, vi.second};
    return {ctx.make<op::Squeeze>({vi.first, ctx.i64({a})}), ctx.make<op::Squeeze>({vi.second, ctx.i64({a})})};
}

// kthvalue(x, k, dim=-1, keepdim=False)
Outs kthvalue(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool scalar = static_rank(ctx, x) == 0;
    if (scalar) x = ctx.make<op::Reshape>({x, ctx.i64({1})}, false);
    int64_t a = axis_of(ctx, x, ctx.num_inputs() > 2 ? ctx.const_int(2) : -1);
    bool keep = ctx.num_inputs() > 3 && ctx.const_bool(3);
    Output k = to_type(ctx, ctx.input(1), Type::i64);
    Output kc = ctx.make<op::Add>({ctx.make<op::IndexCheck>({ctx.make<op::Subtract>({k, ctx.i64_scalar(1)}), dim_of(ctx, x, a)},
                                                            false, "k - 1 (k must be in [1, the dim's size])"),
                                   ctx.i64_scalar(1)});
    auto vi = kth_smallest(ctx, x, a, kc);
    if (scalar) return {ctx.make<op::Reshape>({vi.first, ctx.i64({})}, false), ctx.make<op::Reshape>({vi.second, ctx.i64({})}, false)};
    return squeezed(ctx, vi, a, keep);
}

// median(x) / median(x, dim, keepdim): the lower median, position (n - 1) // 2 in sorted order.
// A slice with NaN gives NaN (at its first NaN) as torch does. nanmedian: NaN left out (sorted
// last as +inf, the position from the count of the others).
template <bool Nan>
Outs median(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool global = ctx.num_inputs() < 2;
    if (global) x = ctx.make<op::Reshape>({x, ctx.i64({-1})}, false);
    if (static_rank(ctx, x) == 0) {
        if (global) return {x};
        return {x, ctx.i64_scalar(0)};
    }
    int64_t a = global ? 0 : axis_of(ctx, x, ctx.const_int(1));
    bool keep = !global && ctx.num_inputs() > 2 && ctx.const_bool(2);
    Output n = dim_of(ctx, x, a);
    ctx.check(!global || !(x.shape()[0].is_static() && x.shape()[0].get_length() == 0), "median of an empty tensor");
    std::pair<Output, Output> vi;
    if (!Nan || !is_float(x.type())) {
        Output k = ctx.make<op::Add>({ctx.make<op::Divide>({ctx.make<op::Subtract>({n, ctx.i64_scalar(1)}), ctx.i64_scalar(2)}, true),
                                      ctx.i64_scalar(1)});
        vi = kth_smallest(ctx, x, a, k);
        if (is_float(x.type())) {
            // torch: NaN when the slice has one, at the first NaN's index.
            Output nan = to_type(ctx, ctx.make<op::NotEqual>({x, x}), Type::i64);
            auto first = ctx.make_node<op::TopK>({nan, ctx.i64_scalar(1)}, a, op::TopK::Mode::max, op::TopK::Sort::value);
            Output has = ctx.make<op::Equal>({first->output(0), ctx.i64_scalar(1)});
            vi = {ctx.make<op::Select>({has, typed_scalar(ctx, x.type(), NAN), vi.first}),
                  ctx.make<op::Select>({has, first->output(1), vi.second})};
        }
    } else {
        Output nan = ctx.make<op::NotEqual>({x, x});
        Output key = ctx.make<op::Select>({nan, typed_scalar(ctx, x.type(), INFINITY), x});
        auto t = ctx.make_node<op::TopK>({key, n}, a, op::TopK::Mode::min, op::TopK::Sort::value);
        Output cnt = ctx.make<op::ReduceSum>({to_type(ctx, ctx.make<op::LogicalNot>({nan}), Type::i64), ctx.i64({a})}, true);
        Output pos = ctx.make<op::Maximum>({ctx.make<op::Divide>({ctx.make<op::Subtract>({cnt, ctx.i64_scalar(1)}), ctx.i64_scalar(2)}, true),
                                            ctx.i64_scalar(0)});
        Output idx = ctx.make<op::GatherElements>({t->output(1), pos}, a);
        vi = {ctx.make<op::GatherElements>({x, idx}, a), idx};
    }
    if (global) return {ctx.make<op::Reshape>({vi.first, ctx.i64({})}, false)};
    return squeezed(ctx, vi, a, keep);
}

// mode(x, dim=-1, keepdim=False): the most frequent value along dim (the smallest of those tied),
// and the index of its last occurrence, as torch gives them. Counts come from comparing every pair
// of the dim's elements (O(n^2) per slice).
Outs mode(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    if (r == 0) return {x, ctx.i64_scalar(0)};
    int64_t a = axis_of(ctx, x, ctx.num_inputs() > 1 ? ctx.const_int(1) : -1);
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    Output eq = ctx.make<op::Equal>({ctx.make<op::Unsqueeze>({x, ctx.i64({a + 1})}), ctx.make<op::Unsqueeze>({x, ctx.i64({a})})});
    Output counts = ctx.make<op::ReduceSum>({to_type(ctx, eq, Type::i64), ctx.i64({a + 1})}, false);
    Output best = ctx.make<op::ReduceMax>({counts, ctx.i64({a})}, true);
    Output top = ctx.make<op::ReduceMax>({x, ctx.i64({a})}, true);
    Output value = ctx.make<op::ReduceMin>({ctx.make<op::Select>({ctx.make<op::Equal>({counts, best}), x, top}), ctx.i64({a})}, true);
    std::vector<int64_t> shape(static_cast<size_t>(r), 1);
    shape[static_cast<size_t>(a)] = -1;
    Output pos = ctx.make<op::Reshape>({ctx.make<op::Range>({ctx.i64_scalar(0), dim_of(ctx, x, a), ctx.i64_scalar(1)}, Type::i64), ctx.i64(shape)}, false);
    Output idx = ctx.make<op::ReduceMax>({ctx.make<op::Select>({ctx.make<op::Equal>({x, value}), pos, ctx.i64_scalar(-1)}), ctx.i64({a})}, true);
    return squeezed(ctx, {value, idx}, a, keep);
}

// msort(x): sorted along dim 0.
Outs msort(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (static_rank(ctx, x) == 0) return {x};
    auto t = ctx.make_node<op::TopK>({x, dim_of(ctx, x, 0)}, int64_t{0}, op::TopK::Mode::min, op::TopK::Sort::value);
    return {t->output(0)};
}

}  // namespace

void add_movement_translators(TranslatorTable& t) {
    t["aten::flip"] = flip;
    t["aten::fliplr"] = fliplr;
    t["aten::flipud"] = flipud;
    t["aten::rot90"] = rot90;
    t["aten::movedim"] = movedim;
    t["aten::moveaxis"] = movedim;
    t["aten::tile"] = tile;
    t["aten::broadcast_to"] = broadcast_to;
    t["aten::broadcast_tensors"] = broadcast_tensors;
    t["aten::as_strided"] = as_strided;
    t["aten::as_strided_scatter"] = as_strided_scatter;
    t["aten::unfold"] = unfold;
    t["aten::diagonal"] = diagonal;
    t["aten::diag"] = diag;
    t["aten::diag_embed"] = diag_embed;
    t["aten::diagflat"] = diagflat;
    t["aten::narrow_copy"] = narrow_copy;
    t["aten::select_scatter"] = select_scatter;
    t["aten::slice_scatter"] = slice_scatter;
    t["aten::diagonal_scatter"] = diagonal_scatter;
    t["aten::linspace"] = linspace;
    t["aten::logspace"] = logspace;
    t["aten::tril_indices"] = tri_indices<true>;
    t["aten::triu_indices"] = tri_indices<false>;
    t["aten::kthvalue"] = kthvalue;
    t["aten::median"] = median<false>;
    t["aten::nanmedian"] = median<true>;
    t["aten::msort"] = msort;
    t["aten::mode"] = mode;
}

}  // namespace kiln::frontend::pytorch
