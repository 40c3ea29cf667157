// Tensor creation: zeros, ones, full, *_like, new_*, arange, scalar conversions.
#include "kiln/frontend/pytorch/translation.hpp"
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"

namespace kiln::frontend::pytorch {

namespace {

Output filled(NodeContext& ctx, Output shape, double value, Type t) {
    return ctx.make<op::Broadcast>({typed_scalar(ctx, t, value), shape}, op::BroadcastMode::numpy);
}

// The dtype argument at position i, or `dflt` when it is None / absent.
Type dtype_arg(NodeContext& ctx, size_t i, Type dflt) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return dflt;
    return torch_dtype(ctx, ctx.const_int(i));
}

template <int V>
Outs zeros_ones(NodeContext& ctx) {  // zeros(size, dtype, layout, device, pin_memory)
    return {filled(ctx, int_list(ctx, 0), V, dtype_arg(ctx, 1, Type::f32))};
}

Outs full(NodeContext& ctx) {  // full(size, fill_value, dtype, ...)
    Type t = dtype_arg(ctx, 2, ctx.value(1).kind == TValue::Kind::constant && ctx.value(1).c.kind == ConstValue::Kind::integer
                                   ? Type::i64 : Type::f32);
    if (ctx.is_const(1)) return {filled(ctx, int_list(ctx, 0), ctx.const_float(1), t)};
    return {ctx.make<op::Broadcast>({to_type(ctx, ctx.input(1), t), int_list(ctx, 0)}, op::BroadcastMode::numpy)};
}

template <int V>
Outs like(NodeContext& ctx) {  // zeros_like(x, dtype, ...)
    Output x = ctx.input(0);
    return {filled(ctx, shape_of(ctx, x), V, dtype_arg(ctx, 1, x.type()))};
}

// A fill value known only at run time (a 0-d tensor, x.max().item()) is broadcast as it is.
Output filled_with(NodeContext& ctx, Output shape, size_t value, Type t) {
    if (ctx.is_const(value)) return filled(ctx, shape, ctx.const_float(value), t);
    return ctx.make<op::Broadcast>({to_type(ctx, ctx.input(value), t), shape}, op::BroadcastMode::numpy);
}

Outs full_like(NodeContext& ctx) {  // full_like(x, value, dtype, ...)
    Output x = ctx.input(0);
    return {filled_with(ctx, shape_of(ctx, x), 1, dtype_arg(ctx, 2, x.type()))};
}

template <int V>
Outs new_filled(NodeContext& ctx) {  // new_zeros(self, size, dtype, ...)
    Output x = ctx.input(0);
    return {filled(ctx, int_list(ctx, 1), V, dtype_arg(ctx, 2, x.type()))};
}

Outs new_full(NodeContext& ctx) {  // new_full(self, size, value, dtype, ...)
    Output x = ctx.input(0);
    return {filled_with(ctx, int_list(ctx, 1), 2, dtype_arg(ctx, 3, x.type()))};
}

// arange(end, dtype...) / arange(start, end, dtype...) / arange(start, end, step, dtype...)
Outs arange(NodeContext& ctx) {
    // Count the leading numeric arguments (ints, floats or run-time scalars).
    size_t n = 0;
    while (n < ctx.num_inputs() && n < 3) {
        auto& v = ctx.value(n);
        bool num = (v.kind == TValue::Kind::constant &&
                    (v.c.kind == ConstValue::Kind::integer || v.c.kind == ConstValue::Kind::floating)) ||
                   (v.kind == TValue::Kind::tensor);
        if (!num) break;
        ++n;
    }
    // The torch schemas: (end, dtype, layout, device, pin) has 5 inputs; (start, end, dtype, ...) 6;
    // (start, end, step, dtype, ...) 7.
    size_t total = ctx.num_inputs();
    size_t nums = total >= 7 ? 3 : total == 6 ? 2 : 1;
    if (n < nums) nums = n;
    bool any_float = false;
    for (size_t i = 0; i < nums; ++i) {
        auto& v = ctx.value(i);
        any_float |= (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::floating) ||
                     (v.kind == TValue::Kind::tensor && is_float(v.out.type()));
    }
    Type t = dtype_arg(ctx, nums, any_float ? Type::f32 : Type::i64);
    Type work = is_float(t) ? t : Type::i64;
    auto num = [&](size_t i) { return to_type(ctx, ctx.input(i), work); };
    auto lit = [&](double v) { return typed_scalar(ctx, work, v); };
    Output start = nums >= 2 ? num(0) : lit(0), end = nums >= 2 ? num(1) : num(0), step = nums == 3 ? num(2) : lit(1);
    return {to_type(ctx, ctx.make<op::Range>({start, end, step}, work), t)};
}

// x.fill_(v) / x.zero_(): the new value of x (written back into its base when x is a view); also
// torch.export's functional fill(x, v) / zero(x), which are the same value.
Outs fill_(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool zero = ctx.kind() == "aten::zero_" || ctx.kind() == "aten::zero";
    Output v = zero ? to_type(ctx, ctx.i64_scalar(0), x.type()) : to_type(ctx, ctx.input(1), x.type());
    return {ctx.make<op::Broadcast>({v, shape_of(ctx, x)}, op::BroadcastMode::numpy)};
}

// x.copy_(src) and torch.export's functional copy(x, src): src broadcast to x's shape, in x's type.
// TorchScript's list.copy() is aten::copy too, with the list alone: lists are values here.
Outs copy_(NodeContext& ctx) {
    if (ctx.num_inputs() == 1) return identity(ctx);
    Output x = ctx.input(0);
    return {ctx.make<op::Broadcast>({to_type(ctx, ctx.input(1), x.type()), shape_of(ctx, x)}, op::BroadcastMode::numpy)};
}

// The dtype torch.tensor infers from (nested lists of) numbers: float (f32) over int (i64) over bool.
int number_rank(NodeContext& ctx, const TValue& v) {
    if (v.kind == TValue::Kind::list) {
        int r = 0;
        for (auto& i : v.items) r = std::max(r, number_rank(ctx, i));
        return r;
    }
    if (v.kind == TValue::Kind::constant) {
        if (v.c.kind == ConstValue::Kind::list) return number_rank(ctx, as_list(v));
        return v.c.kind == ConstValue::Kind::floating ? 2 : v.c.kind == ConstValue::Kind::integer ? 1 : 0;
    }
    Type t = ctx.tensor_of(v).type();
    return is_float(t) ? 2 : t == Type::boolean ? 0 : 1;
}

// (Nested) lists whose items are known only at run time (x.sum().item()): each item in the
// target type, stacked along a new leading axis per level.
Output list_tensor(NodeContext& ctx, const TValue& v, Type t) {
    TValue l = as_list(v);
    if (l.kind != TValue::Kind::list) {
        Output o = to_type(ctx, ctx.tensor_of(l), t);
        return o.shape().rank_is_static() && o.shape().rank() == 0 ? o : ctx.make<op::Reshape>({o, ctx.constant(Tensor(Type::i64, {0}))}, false);
    }
    OutputVector parts;
    for (auto& i : l.items) parts.push_back(ctx.make<op::Unsqueeze>({list_tensor(ctx, i, t), ctx.i64({0})}));
    ctx.check(!parts.empty(), "torch.tensor of an empty list is not supported");
    return parts.size() == 1 ? parts[0] : ctx.make<op::Concat>(parts, int64_t{0});
}

// torch.tensor(data, dtype, device, requires_grad) from numbers or lists of numbers.
Outs tensor(NodeContext& ctx) {
    auto& v = ctx.value(0);
    int rank = number_rank(ctx, v);
    Type dflt = rank == 2 ? Type::f32 : rank == 1 ? Type::i64 : Type::boolean;
    Type t = dtype_arg(ctx, 1, dflt);
    if (v.kind == TValue::Kind::list && !v.is_const()) return {list_tensor(ctx, v, t)};
    return {to_type(ctx, ctx.tensor_of(v), t)};
}

// torch.scalar_tensor(s, dtype): a 0-d tensor (float32 unless dtype says otherwise), as
// torchvision's mask and keypoint post-processing builds image sizes.
Outs scalar_tensor(NodeContext& ctx) {
    return {to_type(ctx, ctx.tensor_of(ctx.value(0)), dtype_arg(ctx, 1, Type::f32))};
}

Outs scalar_to_int(NodeContext& ctx) { return {to_type(ctx, ctx.input(0), Type::i64)}; }
// float(x): a Python float, a double (an op with a tensor rounds it to the tensor's type).
Outs scalar_to_float(NodeContext& ctx) { return {to_type(ctx, ctx.input(0), Type::f64)}; }

// triu(x, diagonal) / tril(x, diagonal): x where col - row >= diagonal (triu) or <= (tril), 0 elsewhere.
template <bool Upper>
Outs triangle(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t diag = ctx.num_inputs() > 1 ? ctx.const_int(1) : 0;
    ctx.check(static_rank(ctx, x) >= 2, "needs a tensor of rank 2 or more");
    Output one = ctx.i64_scalar(1), zero = ctx.i64_scalar(0);
    Output rows = ctx.make<op::Range>({zero, dim_of(ctx, x, -2), one}, Type::i64);
    Output cols = ctx.make<op::Range>({zero, dim_of(ctx, x, -1), one}, Type::i64);
    Output offset = ctx.make<op::Subtract>({cols, ctx.make<op::Unsqueeze>({rows, ctx.i64({1})})});
    Output keep = Upper ? ctx.make<op::GreaterEqual>({offset, ctx.i64_scalar(diag)})
                        : ctx.make<op::LessEqual>({offset, ctx.i64_scalar(diag)});
    return {ctx.make<op::Select>({keep, x, typed_scalar(ctx, x.type(), 0.0)})};
}

// eye(n, dtype, layout, device, pin_memory) / eye(n, m, dtype, ...): ones on the diagonal of an
// n x m matrix. The overloads differ by their argument count (a dtype is an int too).
Outs eye(NodeContext& ctx) {
    bool has_m = ctx.num_inputs() >= 6;
    Output one = ctx.i64_scalar(1), zero = ctx.i64_scalar(0);
    Output n = to_type(ctx, ctx.input(0), Type::i64);
    Output m = has_m ? to_type(ctx, ctx.input(1), Type::i64) : n;
    Output rows = ctx.make<op::Range>({zero, n, one}, Type::i64);
    Output cols = ctx.make<op::Range>({zero, m, one}, Type::i64);
    Output diag = ctx.make<op::Equal>({ctx.make<op::Unsqueeze>({rows, ctx.i64({1})}), cols});
    return {to_type(ctx, diag, dtype_arg(ctx, has_m ? 2 : 1, Type::f32))};
}

}  // namespace

void add_creation_translators(TranslatorTable& t) {
    t["aten::triu"] = t["aten::triu_"] = triangle<true>;
    t["aten::eye"] = eye;
    t["aten::tril"] = t["aten::tril_"] = triangle<false>;
    t["aten::zeros"] = zeros_ones<0>;
    t["aten::ones"] = zeros_ones<1>;
    t["aten::full"] = full;
    t["aten::zeros_like"] = like<0>;
    t["aten::ones_like"] = like<1>;
    t["aten::full_like"] = full_like;
    t["aten::new_zeros"] = new_filled<0>;
    t["aten::new_ones"] = new_filled<1>;
    t["aten::new_full"] = new_full;
    t["aten::arange"] = arange;
    t["aten::fill_"] = t["aten::zero_"] = t["aten::fill"] = t["aten::zero"] = fill_;
    t["aten::copy_"] = t["aten::copy"] = copy_;
    t["aten::tensor"] = tensor;
    t["aten::scalar_tensor"] = scalar_tensor;
    t["aten::Int"] = scalar_to_int;
    t["aten::Float"] = scalar_to_float;
}

}  // namespace kiln::frontend::pytorch
