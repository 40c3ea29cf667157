// aten element-wise ops: arithmetic, comparisons, activations, casts.
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

template <typename T>
Outs binary_impl(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if constexpr (std::is_same_v<T, op::Multiply>) {
        if (a.type() == Type::boolean) return {ctx.make<op::LogicalAnd>({a, b})};  // torch: bool * bool
    }
    return {ctx.make<T>({a, b})};
}

// A Python number beside a half-type tensor stays f32 in torch (the op runs in f32, rounded once).
bool scalar_operand(const NodeContext& ctx) { return ctx.is_scalar(0) || (ctx.num_inputs() > 1 && ctx.is_scalar(1)); }

template <typename T>
Outs binary(NodeContext& ctx) {
    if (scalar_operand(ctx)) return half_via_f32(ctx, binary_impl<T>);
    return binary_impl<T>(ctx);
}

// list * n (TorchScript's aten::mul.left_t: torchvision's `(shift_x, shift_y) * len(...)`): the items
// repeated n times; else an elementwise product.
Outs mul(NodeContext& ctx) {
    const std::string& ty = ctx.output_type(0);
    if (ty.size() > 2 && ty.compare(ty.size() - 2, 2, "[]") == 0) {
        auto items = ctx.list(0);
        int64_t n = ctx.const_int(1);
        std::vector<TValue> r;
        for (int64_t k = 0; k < n; ++k) r.insert(r.end(), items.begin(), items.end());
        return {TValue::list(r)};
    }
    return binary<op::Multiply>(ctx);
}

// a == b / a != b where TorchScript gives one bool (the output type says so): on lists (shapes,
// `key.shape != value.shape`) the lists are equal when every item is.
template <bool Equal>
Outs compare_eq(NodeContext& ctx) {
    // Two strings (torch.nn.utils.rnn: `batch_sizes.device.type != "cpu"`).
    if (ctx.is_const(0) && ctx.is_const(1) && ctx.value(0).c.kind == ConstValue::Kind::string &&
        ctx.value(1).c.kind == ConstValue::Kind::string)
        return {ConstValue::boolean((ctx.const_str(0) == ctx.const_str(1)) == Equal)};
    if (ctx.output_type(0) != "bool") return binary<std::conditional_t<Equal, op::Equal, op::NotEqual>>(ctx);
    auto [a, b] = promoted(ctx, 0, 1);
    auto& sa = a.shape();
    auto& sb = b.shape();
    if (sa.rank_is_static() && sa.rank() == 0 && sb.rank_is_static() && sb.rank() == 0)
        return binary<std::conditional_t<Equal, op::Equal, op::NotEqual>>(ctx);
    ctx.check(sa.rank_is_static() && sb.rank_is_static() && sa.rank() == 1 && sb.rank() == 1 && sa[0].is_static() &&
                  sb[0].is_static(),
              "compares lists whose lengths are not known at conversion time");
    if (sa[0] != sb[0]) return {ConstValue::boolean(!Equal)};
    if (sa[0].get_length() == 0) return {ConstValue::boolean(Equal)};
    Output same = to_type(ctx, ctx.make<op::Equal>({a, b}), Type::i32);
    Output all = to_type(ctx, ctx.make<op::ReduceMin>({same, ctx.i64({0})}, false), Type::boolean);
    if (!Equal) all = ctx.make<op::LogicalNot>({all});
    return {all};
}

// add/sub take an optional alpha: a + alpha * b.
bool has_alpha(const NodeContext& ctx) { return ctx.num_inputs() > 2 && !ctx.is_none(2) && ctx.const_float(2) != 1.0; }

template <typename T>
Outs add_sub_impl(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if constexpr (std::is_same_v<T, op::Add>) {
        if (a.type() == Type::boolean) return {ctx.make<op::LogicalOr>({a, b})};  // torch: bool + bool
    }
    if (has_alpha(ctx)) b = ctx.make<op::Multiply>({b, typed_scalar(ctx, b.type(), ctx.const_float(2))});
    return {ctx.make<T>({a, b})};
}

// a + alpha * b runs in f32 for half types (one rounding), as torch's kernel does.
template <typename T>
Outs add_sub(NodeContext& ctx) {
    if constexpr (std::is_same_v<T, op::Add>) {
        // list + list concatenates (e.g. [n, g] + list(x.size()[2:]) in F.group_norm's check).
        auto is_list = [&](size_t i) {
            const TValue& v = ctx.value(i);
            return v.kind == TValue::Kind::list || (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::list);
        };
        if (ctx.num_inputs() == 2 && is_list(0) && is_list(1)) {
            auto items = ctx.list(0);
            for (auto& v : ctx.list(1)) items.push_back(v);
            return {TValue::list(items)};
        }
        if (ctx.num_inputs() == 2 && ctx.output_type(0) == "int[]")  // a list held as a shape tensor
            return {ctx.make<op::Concat>(OutputVector{to_type(ctx, ctx.input(0), Type::i64), to_type(ctx, ctx.input(1), Type::i64)},
                                         int64_t{0})};
    }
    if (has_alpha(ctx) || scalar_operand(ctx)) return half_via_f32(ctx, add_sub_impl<T>);
    return add_sub_impl<T>(ctx);
}

Outs rsub(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if (ctx.num_inputs() > 2 && !ctx.is_none(2) && ctx.const_float(2) != 1.0) {
        a = ctx.make<op::Multiply>({a, typed_scalar(ctx, a.type(), ctx.const_float(2))});
    }
    return {ctx.make<op::Subtract>({b, a})};
}

Outs div(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    std::string mode = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_str(2) : "";
    if (mode.empty()) {
        // True division: integers divide as floats.
        if (!is_float(a.type())) {
            a = to_type(ctx, a, Type::f32);
            b = to_type(ctx, b, Type::f32);
        }
        return {ctx.make<op::Divide>({a, b}, false)};
    }
    if (mode == "floor") {
        if (is_float(a.type())) return {ctx.make<op::Floor>({ctx.make<op::Divide>({a, b}, false)})};
        return {ctx.make<op::Divide>({a, b}, true)};
    }
    if (mode == "trunc") {
        if (!is_float(a.type())) return {ctx.make<op::Divide>({a, b}, false)};
        Output q = ctx.make<op::Divide>({a, b}, false);
        // trunc(q) = sign(q) * floor(|q|)
        return {ctx.make<op::Multiply>({ctx.make<op::Sign>({q}), ctx.make<op::Floor>({ctx.make<op::Abs>({q})})})};
    }
    ctx.fail("rounding_mode '", mode, "' is not one of None, 'trunc', 'floor'");
}

// torch divides half types in f32 and rounds once, except for rounding_mode='trunc', whose
// kernel divides in the half type itself before truncating.
Outs div_any(NodeContext& ctx) {
    bool trunc = ctx.num_inputs() > 2 && !ctx.is_none(2) && ctx.const_str(2) == "trunc";
    return trunc ? div(ctx) : half_via_f32(ctx, div);
}

Outs floordiv(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if (is_float(a.type())) return {ctx.make<op::Floor>({ctx.make<op::Divide>({a, b}, false)})};
    return {ctx.make<op::Divide>({a, b}, true)};
}

Outs remainder(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::FloorMod>({a, b})};
}

Outs pow(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::Power>({a, b})};
}

template <typename T>
Outs unary(NodeContext& ctx) {
    return {ctx.make<T>({ctx.input(0)})};
}

// Ops whose result is float even for integer inputs (exp, sqrt, sigmoid, ...).
template <typename T>
Outs unary_float(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return {ctx.make<T>({x})};
}

Outs rsqrt(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return {ctx.make<op::Divide>({typed_scalar(ctx, x.type(), 1.0), ctx.make<op::Sqrt>({x})}, false)};
}

Outs relu6(NodeContext& ctx) { return {ctx.make<op::Clamp>({ctx.input(0)}, 0.0, 6.0)}; }

Outs hardtanh(NodeContext& ctx) {
    double lo = ctx.num_inputs() > 1 ? ctx.const_float(1) : -1.0;
    double hi = ctx.num_inputs() > 2 ? ctx.const_float(2) : 1.0;
    return {ctx.make<op::Clamp>({ctx.input(0)}, lo, hi)};
}

// A bound of clamp in x's element type: torch casts a Python int into an integer dtype with
// wrap-around (clamp(uint8, -1, 2) has min 255), a float as it is.
double clamp_bound(NodeContext& ctx, size_t i, Type t) {
    auto& v = ctx.value(i);
    if (is_float(t) || v.kind != TValue::Kind::constant || v.c.kind != ConstValue::Kind::integer) return ctx.const_float(i);
    Tensor b(t, {});
    convert_elements(&v.c.i, Type::i64, b.data(), t, 1);
    return b.as_f64_vector()[0];
}

// clamp(x, min, max): the bounds take part in type promotion (clamp(int, 0.5) is float); with
// min > max every element is max, as torch's min(max(x, min), max) gives.
Outs clamp(NodeContext& ctx) {
    bool has_lo = ctx.num_inputs() > 1 && !ctx.is_none(1), has_hi = ctx.num_inputs() > 2 && !ctx.is_none(2);
    std::vector<size_t> idx{0};
    if (has_lo) idx.push_back(1);
    if (has_hi) idx.push_back(2);
    Type t = result_type(ctx, idx);
    Output x = to_type(ctx, ctx.input(0), t);
    if ((!has_lo || ctx.is_const(1)) && (!has_hi || ctx.is_const(2)) && (has_lo || has_hi)) {
        double lo = has_lo ? clamp_bound(ctx, 1, t) : -INFINITY, hi = has_hi ? clamp_bound(ctx, 2, t) : INFINITY;
        if (lo <= hi) return {ctx.make<op::Clamp>({x}, lo, hi)};
        if (has_lo) x = ctx.make<op::Maximum>({x, typed_scalar(ctx, t, lo)});
        return {ctx.make<op::Minimum>({x, typed_scalar(ctx, t, hi)})};
    }
    if (has_lo) x = ctx.make<op::Maximum>({x, to_type(ctx, ctx.input(1), t)});
    if (has_hi) x = ctx.make<op::Minimum>({x, to_type(ctx, ctx.input(2), t)});
    return {x};
}

Outs clamp_min(NodeContext& ctx) {
    Output x = ctx.input(0);
    return {ctx.make<op::Maximum>({x, to_type(ctx, ctx.input(1), x.type())})};
}

Outs clamp_max(NodeContext& ctx) {
    Output x = ctx.input(0);
    return {ctx.make<op::Minimum>({x, to_type(ctx, ctx.input(1), x.type())})};
}

Outs gelu(NodeContext& ctx) {
    std::string approx = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_str(1) : "none";
    if (approx != "none" && approx != "tanh") ctx.fail("approximate='", approx, "' is not 'none' or 'tanh'");
    return {ctx.make<op::Gelu>({ctx.input(0)},
                               approx == "tanh" ? op::GeluApproximation::tanh : op::GeluApproximation::erf)};
}

Outs silu(NodeContext& ctx) { return {ctx.make<op::Swish>({ctx.input(0)})}; }

// elu(x, alpha=1, scale=1, input_scale=1): scale * x for x > 0, else
// scale * alpha * (exp(input_scale * x) - 1). F.elu leaves scale and input_scale at 1; torch.export
// writes selu as elu with selu's scale.
Outs elu(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto scalar_at = [&](size_t i) { return ctx.num_inputs() > i && !ctx.is_none(i) ? ctx.const_float(i) : 1.0; };
    double alpha = scalar_at(1), scale = scalar_at(2), input_scale = scalar_at(3);
    Output y;
    if (input_scale == 1.0) {
        y = ctx.make<op::Elu>({x}, alpha);
    } else {
        Output neg = ctx.make<op::Multiply>(
            {ctx.make<op::Subtract>({ctx.make<op::Exp>({ctx.make<op::Multiply>({x, typed_scalar(ctx, x.type(), input_scale)})}),
                                     typed_scalar(ctx, x.type(), 1.0)}),
             typed_scalar(ctx, x.type(), alpha)});
        y = ctx.make<op::Select>({ctx.make<op::Greater>({x, typed_scalar(ctx, x.type(), 0.0)}), x, neg});
    }
    return {scale == 1.0 ? y : ctx.make<op::Multiply>({y, typed_scalar(ctx, x.type(), scale)})};
}

Outs leaky_relu(NodeContext& ctx) {
    Output x = ctx.input(0);
    double slope = ctx.num_inputs() > 1 ? ctx.const_float(1) : 0.01;
    return {ctx.make<op::PRelu>({x, typed_scalar(ctx, x.type(), slope, {1})})};
}

Outs softplus(NodeContext& ctx) {
    Output x = ctx.input(0);
    double beta = ctx.num_inputs() > 1 ? ctx.const_float(1) : 1.0;
    double threshold = ctx.num_inputs() > 2 ? ctx.const_float(2) : 20.0;
    // torch: x where beta * x > threshold, else log1p(exp(beta * x)) / beta. With beta 1 and the
    // default threshold 20 that is SoftPlus itself (log1p(exp(y)) rounds to y above 20 in f32).
    ctx.check(is_float(x.type()), "softplus of a non-floating tensor (", type_name(x.type()), ")");
    ctx.check(beta != 0.0, "softplus with beta=0 divides by zero");
    Output y = beta == 1.0 ? x : ctx.make<op::Multiply>({x, typed_scalar(ctx, x.type(), beta)});
    Output sp = ctx.make<op::SoftPlus>({y});
    if (beta != 1.0) sp = ctx.make<op::Divide>({sp, typed_scalar(ctx, x.type(), beta)}, false);
    if (beta == 1.0 && threshold >= 20.0) return {sp};
    Output above = ctx.make<op::Greater>({y, typed_scalar(ctx, x.type(), threshold)});
    return {ctx.make<op::Select>({above, x, sp})};
}

// torch.where(cond) = cond.nonzero(as_tuple=True): one index tensor per dim, as long as the
// count of nonzeros (known only at run time: NonZero ends the static part of a plan).
Outs where_nonzero(NodeContext& ctx) {
    Output c = ctx.input(0);
    int64_t r = std::max<int64_t>(static_rank(ctx, c), 1);
    Output idx = ctx.make<op::NonZero>({c}, Type::i64);
    std::vector<TValue> items;
    for (int64_t i = 0; i < r; ++i)
        items.emplace_back(ctx.make<op::Gather>({idx, ctx.i64_scalar(i), ctx.i64_scalar(0)}, int64_t{0}));
    return {TValue::list(items)};
}

Outs where(NodeContext& ctx) {
    if (ctx.num_inputs() == 1) return where_nonzero(ctx);
    Output c = to_type(ctx, ctx.input(0), Type::boolean);
    auto [a, b] = promoted(ctx, 1, 2);
    return {ctx.make<op::Select>({c, a, b})};
}

Outs masked_fill(NodeContext& ctx) {
    Output x = ctx.input(0);
    Output mask = to_type(ctx, ctx.input(1), Type::boolean);
    Output v = to_type(ctx, ctx.input(2), x.type());
    return {ctx.make<op::Select>({mask, v, x})};
}

// aten::to / aten::type_as / aten::float etc.: a dtype change (device, copy flags ignored).
Outs to(NodeContext& ctx) {
    Output x = ctx.input(0);
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        auto& v = ctx.value(i);
        if (v.kind == TValue::Kind::constant && v.c.kind == ConstValue::Kind::integer &&
            ctx.desc().output_types.size() && i <= 2) {
            // aten::to(x, dtype, ...) or aten::to(x, device, dtype, ...): the first int is the dtype.
            return {to_type(ctx, x, torch_dtype(ctx, v.c.i))};
        }
        if (v.kind == TValue::Kind::tensor && !v.scalar && i == 1) return {to_type(ctx, x, v.out.type())};
    }
    return {x};
}

// torch.export's functional form of .to(dtype): _to_copy(x, *, dtype, layout, device, pin_memory,
// non_blocking, memory_format); only the dtype (input 1, None to keep it) changes anything here.
Outs to_copy(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (!ctx.has_input(1)) return {x};
    const int64_t code = ctx.const_int(1);
    if (code == 9 || code == 10) return {real_to_complex(ctx, code)};  // complex64, complex128
    return {to_type(ctx, x, torch_dtype(ctx, code))};
}

Outs type_as(NodeContext& ctx) { return {to_type(ctx, ctx.input(0), ctx.input(1).type())}; }

template <Type T>
Outs cast_to(NodeContext& ctx) {
    return {to_type(ctx, ctx.input(0), T)};
}

Outs logical_not(NodeContext& ctx) { return {ctx.make<op::LogicalNot>({to_type(ctx, ctx.input(0), Type::boolean)})}; }

template <typename T>
Outs logical(NodeContext& ctx) {
    return {ctx.make<T>({to_type(ctx, ctx.input(0), Type::boolean), to_type(ctx, ctx.input(1), Type::boolean)})};
}

Outs square(NodeContext& ctx) {
    Output x = ctx.input(0);
    return {ctx.make<op::Multiply>({x, x})};
}

Outs reciprocal(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return {ctx.make<op::Divide>({typed_scalar(ctx, x.type(), 1.0), x}, false)};
}

}  // namespace

void add_elementwise_translators(TranslatorTable& t) {
    t["aten::add"] = t["aten::add_"] = add_sub<op::Add>;
    t["aten::sub"] = t["aten::sub_"] = t["aten::subtract"] = add_sub<op::Subtract>;
    t["aten::rsub"] = in_f32<rsub>;
    t["aten::mul"] = mul;
    t["aten::mul_"] = t["aten::multiply"] = binary<op::Multiply>;
    t["aten::div"] = t["aten::div_"] = t["aten::divide"] = t["aten::true_divide"] = div_any;
    t["aten::floordiv"] = t["aten::floor_divide"] = in_f32<floordiv>;
    t["aten::remainder"] = remainder;
    t["aten::pow"] = in_f32_with_scalars<pow>;
    t["aten::maximum"] = binary<op::Maximum>;
    t["aten::minimum"] = binary<op::Minimum>;
    t["aten::eq"] = compare_eq<true>;
    t["aten::ne"] = compare_eq<false>;
    t["aten::not_equal"] = binary<op::NotEqual>;
    t["aten::lt"] = t["aten::less"] = binary<op::Less>;
    t["aten::le"] = t["aten::less_equal"] = binary<op::LessEqual>;
    t["aten::gt"] = t["aten::greater"] = binary<op::Greater>;
    t["aten::ge"] = t["aten::greater_equal"] = binary<op::GreaterEqual>;
    t["aten::logical_and"] = logical<op::LogicalAnd>;
    t["aten::logical_or"] = logical<op::LogicalOr>;
    t["aten::logical_xor"] = logical<op::LogicalXor>;
    t["aten::logical_not"] = logical_not;
    t["aten::relu"] = t["aten::relu_"] = unary<op::Relu>;
    t["aten::relu6"] = t["aten::relu6_"] = relu6;
    t["aten::hardtanh"] = t["aten::hardtanh_"] = hardtanh;
    t["aten::hardswish"] = t["aten::hardswish_"] = unary<op::HSwish>;
    t["aten::hardsigmoid"] = t["aten::hardsigmoid_"] = unary<op::HSigmoid>;
    t["aten::sigmoid"] = t["aten::sigmoid_"] = unary_float<op::Sigmoid>;
    t["aten::tanh"] = t["aten::tanh_"] = unary_float<op::Tanh>;
    t["aten::silu"] = t["aten::silu_"] = silu;
    t["aten::gelu"] = gelu;
    t["aten::elu"] = t["aten::elu_"] = elu;
    t["aten::leaky_relu"] = t["aten::leaky_relu_"] = leaky_relu;
    t["aten::mish"] = unary<op::Mish>;
    t["aten::softplus"] = softplus;
    t["aten::exp"] = unary_float<op::Exp>;
    t["aten::log"] = unary_float<op::Log>;
    t["aten::sqrt"] = unary_float<op::Sqrt>;
    t["aten::rsqrt"] = in_f32<rsqrt>;
    t["aten::erf"] = unary_float<op::Erf>;
    t["aten::sin"] = unary_float<op::Sin>;
    t["aten::cos"] = unary_float<op::Cos>;
    t["aten::abs"] = t["aten::absolute"] = unary<op::Abs>;
    t["aten::neg"] = t["aten::negative"] = unary<op::Negative>;
    t["aten::sign"] = unary<op::Sign>;
    t["aten::floor"] = unary<op::Floor>;
    t["aten::ceil"] = unary<op::Ceiling>;
    t["aten::square"] = square;
    t["aten::reciprocal"] = reciprocal;
    t["aten::clamp"] = t["aten::clamp_"] = t["aten::clip"] = clamp;
    t["aten::clamp_min"] = t["aten::clamp_min_"] = clamp_min;
    t["aten::clamp_max"] = t["aten::clamp_max_"] = clamp_max;
    t["aten::where"] = where;
    t["aten::masked_fill"] = t["aten::masked_fill_"] = masked_fill;
    t["aten::to"] = to;
    t["aten::_to_copy"] = to_copy;
    t["aten::type_as"] = type_as;
    t["aten::float"] = cast_to<Type::f32>;
    t["aten::int"] = cast_to<Type::i32>;
    t["aten::long"] = cast_to<Type::i64>;
    t["aten::bool"] = cast_to<Type::boolean>;
}

}  // namespace kiln::frontend::pytorch
