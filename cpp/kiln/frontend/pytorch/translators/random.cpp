// Random and uninitialized tensors that appear in eval graphs: empty* (any values are valid: kiln
// gives zeros), rand / randn / rand_like / randn_like, randint / randint_like, randperm, normal,
// uniform_, bernoulli, multinomial. All draw from RandomUniform (opset8); torch's generator
// stream cannot be reproduced, so the numbers follow the same distributions, not the same values.
// randn is Box-Muller on two uniforms; randperm and multinomial without replacement rank uniform
// keys; multinomial with replacement inverts the cumulative distribution.
#include <atomic>
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/random.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

Type dtype_at(NodeContext& ctx, size_t i, Type dflt) {
    if (i >= ctx.num_inputs() || ctx.is_none(i)) return dflt;
    return torch_dtype(ctx, ctx.const_int(i));
}

// The dtype argument counted from the end, which the generator= overloads do not move: factories
// end with (dtype, layout, device, pin_memory), *_like ops and empty with memory_format after.
Type dtype_from_end(NodeContext& ctx, size_t back, Type dflt) {
    if (ctx.num_inputs() < back) return dflt;
    return dtype_at(ctx, ctx.num_inputs() - back, dflt);
}

// Each RandomUniform gets its own op_seed, so that two draws in one model differ.
int64_t next_seed() {
    static std::atomic<int64_t> n{0};
    return ++n;
}

// Uniform numbers of type t in [lo, hi) of the given shape (1-D i64).
Output uniform(NodeContext& ctx, const Output& shape, Type t, const Output& lo, const Output& hi) {
    // Never folded: a new draw at every run.
    return ctx.make_node<op::RandomUniform>({shape, to_type(ctx, lo, t), to_type(ctx, hi, t)}, t, int64_t{0}, next_seed())
        ->output(0);
}

Output uniform01(NodeContext& ctx, const Output& shape, Type t) {
    Type w = t == Type::f64 ? Type::f64 : Type::f32;
    return uniform(ctx, shape, w, typed_scalar(ctx, w, 0), typed_scalar(ctx, w, 1));
}

// Standard normal numbers: Box-Muller, sqrt(-2 ln(1 - u1)) cos(2 pi u2).
Output normal01(NodeContext& ctx, const Output& shape, Type t) {
    Type w = t == Type::f64 ? Type::f64 : Type::f32;
    Output u1 = uniform01(ctx, shape, w), u2 = uniform01(ctx, shape, w);
    Output r = ctx.make<op::Sqrt>({ctx.make<op::Multiply>(
        {typed_scalar(ctx, w, -2), ctx.make<op::Log>({ctx.make<op::Subtract>({typed_scalar(ctx, w, 1), u1})})})});
    Output c = ctx.make<op::Cos>({ctx.make<op::Multiply>({u2, typed_scalar(ctx, w, 2 * M_PI)})});
    return ctx.make<op::Multiply>({r, c});
}

Output float_result(NodeContext& ctx, const Output& v, Type t) {
    ctx.check(is_float(t), "needs a floating-point dtype, got ", type_name(t));
    return to_type(ctx, v, t);
}

Output zeros(NodeContext& ctx, const Output& shape, Type t) {
    return ctx.make<op::Broadcast>({typed_scalar(ctx, t, 0), shape}, op::BroadcastMode::numpy);
}

Outs empty(NodeContext& ctx) { return {zeros(ctx, int_list(ctx, 0), dtype_from_end(ctx, 5, Type::f32))}; }
Outs empty_strided(NodeContext& ctx) { return {zeros(ctx, int_list(ctx, 0), dtype_from_end(ctx, 4, Type::f32))}; }
Outs empty_like(NodeContext& ctx) { return {zeros(ctx, shape_of(ctx, ctx.input(0)), dtype_from_end(ctx, 5, ctx.input(0).type()))}; }
Outs new_empty(NodeContext& ctx) { return {zeros(ctx, int_list(ctx, 1), dtype_from_end(ctx, 4, ctx.input(0).type()))}; }
Outs new_empty_strided(NodeContext& ctx) { return {zeros(ctx, int_list(ctx, 1), dtype_from_end(ctx, 4, ctx.input(0).type()))}; }

// rand(size, dtype...) / randn
template <bool Normal>
Outs rand(NodeContext& ctx) {
    Type t = dtype_from_end(ctx, 4, Type::f32);
    Output s = int_list(ctx, 0);
    return {float_result(ctx, Normal ? normal01(ctx, s, t) : uniform01(ctx, s, t), t)};
}

template <bool Normal>
Outs rand_like(NodeContext& ctx) {
    Output x = ctx.input(0);
    Type t = dtype_from_end(ctx, 5, x.type());
    Output s = shape_of(ctx, x);
    return {float_result(ctx, Normal ? normal01(ctx, s, t) : uniform01(ctx, s, t), t)};
}

Output int_uniform(NodeContext& ctx, const Output& shape, const Output& lo, const Output& hi, Type t) {
    Output v = uniform(ctx, shape, Type::i64, lo, hi);
    return to_type(ctx, v, t);
}

// A size argument (a list, or a 1-D tensor of one).
bool is_size(const TValue& v) {
    return v.kind == TValue::Kind::list || (v.kind == TValue::Kind::tensor && v.out.shape().rank_is_static() &&
                                            v.out.shape().rank() == 1);
}

// randint(high, size, dtype=long...) / randint(low, high, size, dtype...)
Outs randint(NodeContext& ctx) {
    bool low = !is_size(ctx.value(1));
    size_t size_at = low ? 2 : 1;
    Output lo = low ? ctx.input(0) : ctx.i64_scalar(0), hi = ctx.input(low ? 1 : 0);
    return {int_uniform(ctx, int_list(ctx, size_at), lo, hi, dtype_from_end(ctx, 4, Type::i64))};
}

// randint_like(x, high, dtype...) / randint_like(x, low, high, dtype...)
Outs randint_like(NodeContext& ctx) {
    Output x = ctx.input(0);
    // (x, high, ...) or (x, low, high, ...): the numbers before the dtype.
    bool low = ctx.num_inputs() > 2 && (ctx.is_scalar(2) || (ctx.value(2).kind == TValue::Kind::tensor &&
                                                             ctx.value(2).out.shape().rank_is_static() &&
                                                             ctx.value(2).out.shape().rank() == 0));
    Output lo = low ? ctx.input(1) : ctx.i64_scalar(0), hi = ctx.input(low ? 2 : 1);
    return {int_uniform(ctx, shape_of(ctx, x), lo, hi, dtype_from_end(ctx, 5, x.type()))};
}

// randperm(n, dtype=long...): the ranks of n uniform keys.
Outs randperm(NodeContext& ctx) {
    Output n = to_type(ctx, ctx.input(0), Type::i64);
    Output keys = uniform01(ctx, ctx.make<op::Unsqueeze>({n, ctx.i64({0})}), Type::f32);
    auto t = ctx.make_node<op::TopK>({keys, n}, int64_t{0}, op::TopK::Mode::max, op::TopK::Sort::value);
    return {to_type(ctx, t->output(1), dtype_from_end(ctx, 4, Type::i64))};
}

// normal(mean, std) with tensors or floats; normal(mean, std, size, ...).
Outs normal(NodeContext& ctx) {
    bool tm = !ctx.is_scalar(0), ts = !ctx.is_scalar(1);
    Output shape;
    Type t = Type::f32;
    if (!tm && !ts) {
        shape = int_list(ctx, 2);
        t = dtype_from_end(ctx, 4, Type::f32);
    } else {
        Output a = tm ? ctx.input(0) : ctx.input(1);
        t = a.type();
        if (tm && ts) {
            t = promote_types(ctx.input(0).type(), ctx.input(1).type());
            shape = shape_of(ctx, ctx.make<op::Add>({to_type(ctx, ctx.input(0), t), to_type(ctx, ctx.input(1), t)}));
        } else {
            shape = shape_of(ctx, a);
        }
    }
    ctx.check(is_float(t), "needs floating-point mean and std");
    Output z = to_type(ctx, normal01(ctx, shape, t), t);
    return {ctx.make<op::Add>({ctx.make<op::Multiply>({z, to_type(ctx, ctx.input(1), t)}), to_type(ctx, ctx.input(0), t)})};
}

// x.uniform_(from=0, to=1), and torch.export's functional uniform(x, from, to)
Outs uniform_(NodeContext& ctx) {
    Output x = ctx.input(0);
    Type t = x.type();
    ctx.check(is_float(t), "needs a floating-point tensor");
    Type w = t == Type::f64 ? Type::f64 : Type::f32;
    Output lo = ctx.num_inputs() > 1 ? ctx.input(1) : typed_scalar(ctx, w, 0);
    Output hi = ctx.num_inputs() > 2 ? ctx.input(2) : typed_scalar(ctx, w, 1);
    return {to_type(ctx, uniform(ctx, shape_of(ctx, x), w, lo, hi), t)};
}

// bernoulli(p_tensor) / bernoulli(x, p) / x.bernoulli_(p): 1 where a uniform number is below p.
Outs bernoulli(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "needs a floating-point tensor");
    Output p = ctx.num_inputs() > 1 && !ctx.is_none(1) && (ctx.is_scalar(1) || ctx.kind() == "aten::bernoulli_")
                   ? to_type(ctx, ctx.input(1), Type::f32)
                   : to_type(ctx, x, Type::f32);
    if (ctx.kind() == "aten::bernoulli_" && ctx.num_inputs() > 1 && !ctx.is_scalar(1))
        p = ctx.make<op::Broadcast>({p, shape_of(ctx, x)}, op::BroadcastMode::numpy);
    Output u = uniform01(ctx, shape_of(ctx, x), Type::f32);
    return {to_type(ctx, ctx.make<op::Less>({u, p}), x.type())};
}

// multinomial(probs, n, replacement=False): 1-D or 2-D probs (weights, not normalized).
Outs multinomial(NodeContext& ctx) {
    Output p = ctx.input(0);
    int64_t r = static_rank(ctx, p);
    ctx.check(r == 1 || r == 2, "probs must be 1-D or 2-D");
    ctx.check(is_float(p.type()), "probs must be floating point");
    bool replacement = ctx.num_inputs() > 2 && ctx.const_bool(2);
    Output n = to_type(ctx, ctx.input(1), Type::i64);
    if (r == 1) p = ctx.make<op::Unsqueeze>({p, ctx.i64({0})});
    p = to_type(ctx, p, Type::f32);
    Output rows = dim_of(ctx, p, 0);
    auto vec = [&](const Output& s) { return ctx.make<op::Unsqueeze>({s, ctx.i64({0})}); };
    Output out;
    if (replacement) {
        Output cdf = ctx.make<op::CumSum>({p, ctx.i64_scalar(1)}, false, false);
        Output total = ctx.make<op::Gather>({cdf, ctx.i64({-1}), ctx.i64_scalar(1)}, int64_t{0});  // [rows, 1]
        Output u = uniform01(ctx, ctx.make<op::Concat>(OutputVector{vec(rows), vec(n)}, int64_t{0}), Type::f32);
        u = ctx.make<op::Multiply>({u, total});  // [rows, n]
        // Category = how many cumulative sums are <= u.
        Output le = ctx.make<op::LessEqual>({ctx.make<op::Unsqueeze>({cdf, ctx.i64({1})}), ctx.make<op::Unsqueeze>({u, ctx.i64({2})})});
        out = ctx.make<op::ReduceSum>({to_type(ctx, le, Type::i64), ctx.i64({2})}, false);
        Output last = ctx.make<op::Subtract>({dim_of(ctx, p, 1), ctx.i64_scalar(1)});
        out = ctx.make<op::Minimum>({out, last});
    } else {
        // Keys u^(1/p): the n largest are a sample without replacement (zero weights never come
        // first: their key is 0).
        Output u = uniform01(ctx, shape_of(ctx, p), Type::f32);
        Output keys = ctx.make<op::Power>({u, ctx.make<op::Divide>({typed_scalar(ctx, Type::f32, 1), p}, false)});
        out = ctx.make_node<op::TopK>({keys, n}, int64_t{1}, op::TopK::Mode::max, op::TopK::Sort::value)->output(1);
    }
    if (r == 1) out = ctx.make<op::Squeeze>({out, ctx.i64({0})});
    return {out};
}

}  // namespace

void add_random_translators(TranslatorTable& t) {
    t["aten::empty"] = empty;
    t["aten::empty_strided"] = t["aten::empty_permuted"] = empty_strided;
    t["aten::empty_like"] = empty_like;
    t["aten::new_empty"] = new_empty;
    t["aten::new_empty_strided"] = new_empty_strided;
    t["aten::rand"] = rand<false>;
    t["aten::randn"] = rand<true>;
    t["aten::rand_like"] = rand_like<false>;
    t["aten::randn_like"] = rand_like<true>;
    t["aten::randint"] = randint;
    t["aten::randint_like"] = randint_like;
    t["aten::randperm"] = randperm;
    t["aten::normal"] = normal;
    t["aten::uniform_"] = t["aten::uniform"] = uniform_;
    t["aten::bernoulli"] = bernoulli;
    t["aten::bernoulli_"] = bernoulli;
    t["aten::multinomial"] = multinomial;
}

}  // namespace kiln::frontend::pytorch
