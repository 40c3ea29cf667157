#include "kiln/frontend/pytorch/translators/common.hpp"

namespace kiln::frontend::pytorch {

Type torch_dtype(const NodeContext& ctx, int64_t code) {
    switch (code) {
        case 0: return Type::u8;
        case 1: return Type::i8;
        case 3: return Type::i32;
        case 4: return Type::i64;
        case 5: return Type::f16;
        case 6: return Type::f32;
        case 7: return Type::f64;
        case 11: return Type::boolean;
        case 15: return Type::bf16;
        default: break;
    }
    ctx.fail("torch dtype code ", code, " is not supported (kiln takes uint8, int8, int32, int64, float16, "
             "bfloat16, float32, float64, bool)");
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
        case Type::i32: return 3;
        case Type::i64: return 4;
        case Type::f16: return 5;
        case Type::bf16: return 6;
        case Type::f32: return 7;
        case Type::f64: return 8;
        default: return -1;
    }
}
bool is_dimless(const NodeContext& ctx, size_t i, const Output& o) {
    return ctx.is_scalar(i) || (o.shape().rank_is_static() && o.shape().rank() == 0);
}
}  // namespace

Type promote_types(Type a, Type b) {
    if (a == b) return a;
    if (a == Type::dynamic) return b;
    if (b == Type::dynamic) return a;
    if ((a == Type::f16 && b == Type::bf16) || (a == Type::bf16 && b == Type::f16)) return Type::f32;
    if ((a == Type::u8 && b == Type::i8) || (a == Type::i8 && b == Type::u8)) return Type::i32;
    return type_rank(a) >= type_rank(b) ? a : b;
}

std::pair<Output, Output> promoted(NodeContext& ctx, size_t ia, size_t ib) {
    Output a = ctx.input(ia), b = ctx.input(ib);
    Type ta = a.type(), tb = b.type();
    if (ta == tb) return {a, b};
    bool da = is_dimless(ctx, ia, a), db = is_dimless(ctx, ib, b);
    Type t;
    if (da != db) {
        // The dimensioned tensor decides unless the scalar is of a higher category.
        Type tensor_t = da ? tb : ta, scalar_t = da ? ta : tb;
        bool cat_up = (is_float(scalar_t) && !is_float(tensor_t)) ||
                      (is_integral(scalar_t) && tensor_t == Type::boolean);
        t = cat_up ? (is_float(scalar_t) ? Type::f32 : Type::i64) : tensor_t;
    } else {
        t = promote_types(ta, tb);
    }
    return {to_type(ctx, a, t), to_type(ctx, b, t)};
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

Output typed_scalar(NodeContext& ctx, Type t, double v, Shape shape) {
    Tensor x(t, std::move(shape));
    convert_elements(&v, Type::f64, x.data(), t, 1);
    return ctx.constant(x);
}

}  // namespace kiln::frontend::pytorch
