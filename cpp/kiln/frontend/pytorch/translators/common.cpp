#include "kiln/frontend/pytorch/translators/common.hpp"

namespace kiln::frontend::pytorch {

Type torch_dtype(const NodeContext& ctx, int64_t code) {
    const TorchDtype* d = torch_dtype_by_code(code);
    if (d && d->type != Type::dynamic) return d->type;
    if (d) ctx.fail("torch.", d->name, " tensors are not supported (kiln takes ", torch_dtypes_supported(), ")");
    ctx.fail("torch dtype code ", code, " is not known (kiln takes ", torch_dtypes_supported(), ")");
}

Output to_type(NodeContext& ctx, Output x, Type t) {
    if (x.type() == t || t == Type::dynamic) return x;
    return ctx.make<op::Convert>({x}, t);
}

namespace {
int type_rank(Type t) {
    switch (t) {
        case Type::boolean: return 0;
        case Type::u8: return 1;
        case Type::i8: return 2;
        case Type::i16: return 3;
        case Type::i32: return 4;
        case Type::i64: return 5;
        case Type::f16: return 6;
        case Type::bf16: return 7;
        case Type::f32: return 8;
        case Type::f64: return 9;
        // torch does not promote the wide unsigned types with anything else; rank them by width.
        case Type::u16: return 3;
        case Type::u32: return 4;
        case Type::u64: return 5;
        default: return -1;
    }
}
// torch's combine_categories: `higher` (a group of higher priority) wins unless `lower` is of a
// higher category (float over integer over bool).
Type combine_categories(Type higher, Type lower) {
    if (higher == Type::dynamic) return lower;
    if (lower == Type::dynamic || is_float(higher)) return higher;
    if (higher == Type::boolean || is_float(lower)) return promote_types(higher, lower);
    return higher;
}
}  // namespace

Type promote_types(Type a, Type b) {
    if (a == b) return a;
    if (a == Type::dynamic) return b;
    if (b == Type::dynamic) return a;
    if ((a == Type::f16 && b == Type::bf16) || (a == Type::bf16 && b == Type::f16)) return Type::f32;
    if ((a == Type::u8 && b == Type::i8) || (a == Type::i8 && b == Type::u8)) return Type::i16;
    return type_rank(a) >= type_rank(b) ? a : b;
}

Output scalar_like(NodeContext& ctx, const Output& x, double v) { return typed_scalar(ctx, x.type(), v); }

Output as_float(NodeContext& ctx, size_t i) {
    Output x = ctx.input(i);
    return is_float(x.type()) ? x : to_type(ctx, x, Type::f32);
}

OutputVector promoted_all(NodeContext& ctx, const std::vector<size_t>& idx, bool to_float) {
    Type t = result_type(ctx, idx);
    if (to_float && !is_float(t)) t = Type::f32;
    OutputVector r;
    for (size_t i : idx) r.push_back(to_type(ctx, ctx.input(i), t));
    return r;
}

Type result_type(NodeContext& ctx, const std::vector<size_t>& inputs) {
    // torch's result_type: operands in three groups of falling priority — tensors with dims,
    // 0-d tensors, Python numbers (a float among these counts as the default dtype, f32) —
    // each promoted within itself; a lower group only matters when its category is higher.
    Type dim = Type::dynamic, zero = Type::dynamic, wrapped = Type::dynamic;
    for (size_t i : inputs) {
        Output o = ctx.input(i);
        Type t = o.type();
        if (ctx.is_scalar(i)) {
            if (is_float(t)) t = Type::f32;
            else if (t != Type::boolean) t = Type::i64;
            wrapped = promote_types(wrapped, t);
        } else if (o.shape().rank_is_static() && o.shape().rank() == 0) {
            zero = promote_types(zero, t);
        } else {
            dim = promote_types(dim, t);
        }
    }
    return combine_categories(dim, combine_categories(zero, wrapped));
}

std::pair<Output, Output> promoted(NodeContext& ctx, size_t ia, size_t ib) {
    Type t = result_type(ctx, {ia, ib});
    if (is_float(t) && ctx.is_scalar(ia) && ctx.is_scalar(ib)) {
        // Arithmetic of two Python numbers (symbolic sizes, scale factors): a Python float is a
        // double, so it is computed in f64 (a constant made f64 from its own value), and only an
        // op with a tensor rounds it to the tensor's type, as torch does.
        auto f64 = [&](size_t i) {
            const TValue& v = ctx.value(i);
            if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::floating)
                return typed_scalar(ctx, Type::f64, v.c.f);
            return to_type(ctx, ctx.input(i), Type::f64);
        };
        return {f64(ia), f64(ib)};
    }
    return {to_type(ctx, ctx.input(ia), t), to_type(ctx, ctx.input(ib), t)};
}

int64_t static_rank(const NodeContext& ctx, const Output& x) {
    if (!x.shape().rank_is_static())
        ctx.fail("needs the rank of its input at conversion time; give the input's rank with "
                 "input=[...] or example_input");
    return x.shape().rank();
}

int64_t axis_of(const NodeContext& ctx, const Output& x, int64_t axis) {
    int64_t r = static_rank(ctx, x);
    int64_t a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= std::max<int64_t>(r, 1)) ctx.fail("dim ", axis, " is out of range for rank ", r);
    return a;
}

Output shape_of(NodeContext& ctx, const Output& x) { return ctx.make<op::ShapeOf>({x}, Type::i64); }

Output dim_of(NodeContext& ctx, const Output& x, int64_t axis) {
    int64_t a = axis_of(ctx, x, axis);
    if (x.shape()[static_cast<size_t>(a)].is_static())
        return ctx.i64_scalar(x.shape()[static_cast<size_t>(a)].get_length());
    return ctx.make<op::Gather>({shape_of(ctx, x), ctx.i64_scalar(a), ctx.i64_scalar(0)}, int64_t{0});
}

Output int_list(NodeContext& ctx, size_t i) {
    Output o = ctx.input(i);
    o = to_type(ctx, o, Type::i64);
    if (o.shape().rank_is_static() && o.shape().rank() == 0) o = ctx.make<op::Unsqueeze>({o, ctx.i64({0})});
    return o;
}

Outs identity(NodeContext& ctx) { return {ctx.value(0)}; }

Outs half_via_f32(NodeContext& ctx, Translator f, bool only_with_scalars) {
    Type half = Type::dynamic;
    bool mixed = false, scalar = false;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        auto& v = ctx.value(i);
        if (v.kind == TValue::Kind::tensor && is_half(v.out.type())) {
            mixed = mixed || (half != Type::dynamic && half != v.out.type());
            half = v.out.type();
        }
        scalar = scalar || ctx.is_scalar(i);
    }
    if (half == Type::dynamic || mixed || (only_with_scalars && !scalar)) return f(ctx);
    std::vector<std::pair<size_t, TValue>> saved;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        auto v = ctx.value(i);
        if (v.kind != TValue::Kind::tensor || v.out.type() != half) continue;
        saved.emplace_back(i, v);
        TValue w(ctx.make<op::Convert>({v.out}, Type::f32));
        w.scalar = v.scalar;
        ctx.set_input_value(i, w);
    }
    Outs r;
    try {
        r = f(ctx);
    } catch (...) {
        for (auto& [i, v] : saved) ctx.set_input_value(i, v);
        throw;
    }
    for (auto& [i, v] : saved) ctx.set_input_value(i, v);
    for (auto& o : r)
        if (o.kind == TValue::Kind::tensor && o.out.type() == Type::f32) {
            bool sc = o.scalar;
            o = TValue(ctx.make<op::Convert>({o.out}, half));
            o.scalar = sc;
        }
    return r;
}

TValue not_computed(NodeContext& ctx, const std::string& what) {
    return TValue(ConstValue::unsupported_value(str_cat(what, " (an output of ", ctx.kind(), " that kiln does not compute)")));
}

Output typed_scalar(NodeContext& ctx, Type t, double v, Shape shape) {
    Tensor x(t, std::move(shape));
    convert_elements(&v, Type::f64, x.data(), t, 1);
    return ctx.constant(x);
}

}  // namespace kiln::frontend::pytorch
