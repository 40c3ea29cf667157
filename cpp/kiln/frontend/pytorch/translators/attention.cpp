// Attention: torch's fused multi-head attention (the nn.MultiheadAttention fast path) and
// scaled_dot_product_attention, decomposed into MatMul / Softmax.
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

Output scalar_like(NodeContext& ctx, const Output& like, double v) { return typed_scalar(ctx, like.type(), v); }

// softmax(q k^T * scale + mask) v on [..., L, D] tensors; returns (output, probabilities).
// head_dim 0: read the head size from q's shape at run time.
std::pair<Output, Output> attend(NodeContext& ctx, Output q, const Output& k, const Output& v, int64_t head_dim,
                                 const Output* mask, double scale = 0.0) {
    if (scale != 0.0 || head_dim > 0) {
        if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
        q = ctx.make<op::Multiply>({q, scalar_like(ctx, q, scale)});
    } else {
        Output d = to_type(ctx, dim_of(ctx, q, -1), q.type());
        q = ctx.make<op::Divide>({q, ctx.make<op::Sqrt>({d})}, false);
    }
    Output s = ctx.make<op::MatMul>({q, k}, false, true);
    if (mask) {
        Output m = *mask;
        if (m.type() == Type::boolean) {
            // True = may attend (sdpa) — callers pass masks already in that convention.
            m = ctx.make<op::Select>({m, scalar_like(ctx, s, 0.0), scalar_like(ctx, s, -INFINITY)});
        }
        s = ctx.make<op::Add>({s, to_type(ctx, m, s.type())});
    }
    Output p = ctx.make<op::Softmax>({s}, int64_t{-1});
    return {ctx.make<op::MatMul>({p, v}, false, false), p};
}

// _native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias,
//                              proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)
Outs native_mha(NodeContext& ctx) {
    Output query = ctx.input(0), key = ctx.input(1), value = ctx.input(2);
    int64_t e = ctx.const_int(3), h = ctx.const_int(4);
    ctx.check(h > 0 && e % h == 0, "embed_dim ", e, " is not divisible by num_heads ", h);
    int64_t d = e / h;
    Output w = ctx.input(5), b = ctx.input(6);
    auto part = [&](const Output& x, int64_t i) {
        return ctx.make<op::Slice>({x, ctx.i64({i * e}), ctx.i64({(i + 1) * e}), ctx.i64({1}), ctx.i64({0})});
    };
    // [B, L, E] -> [B, H, L, D]
    auto heads = [&](const Output& x, int64_t i) {
        Output y = ctx.make<op::Add>({ctx.make<op::MatMul>({x, part(w, i)}, false, true), part(b, i)});
        y = ctx.make<op::Reshape>({y, ctx.i64({0, 0, h, d})}, true);
        return ctx.make<op::Transpose>({y, ctx.i64({0, 2, 1, 3})});
    };
    Output q = heads(query, 0), k = heads(key, 1), v = heads(value, 2);
    Output mask;
    bool has_mask = ctx.num_inputs() > 9 && ctx.has_input(9);
    if (has_mask) {
        mask = ctx.input(9);
        // nn.MultiheadAttention's boolean masks mark positions NOT to attend.
        if (mask.type() == Type::boolean) mask = ctx.make<op::LogicalNot>({mask});
    }
    auto [o, p] = attend(ctx, q, k, v, d, has_mask ? &mask : nullptr);
    o = ctx.make<op::Transpose>({o, ctx.i64({0, 2, 1, 3})});
    o = ctx.make<op::Reshape>({o, ctx.i64({0, 0, e})}, true);
    o = ctx.make<op::Add>({ctx.make<op::MatMul>({o, ctx.input(7)}, false, true), ctx.input(8)});
    bool need_weights = ctx.num_inputs() > 10 && ctx.const_bool(10);
    if (!need_weights) return {o, ConstValue::none()};
    bool average = ctx.num_inputs() <= 11 || ctx.const_bool(11);
    if (average) p = ctx.make<op::ReduceMean>({p, ctx.i64({1})}, false);
    return {o, p};
}

// scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
Outs sdpa(NodeContext& ctx) {
    Output q = ctx.input(0), k = ctx.input(1), v = ctx.input(2);
    ctx.check(ctx.num_inputs() <= 5 || ctx.is_none(5) || !ctx.const_bool(5), "is_causal=True is not supported yet");
    ctx.check(q.shape().rank_is_static(), "needs the rank of the query at conversion time");
    auto& last = q.shape()[q.shape().size() - 1];
    int64_t d = last.is_static() ? last.get_length() : 0;
    double scale = ctx.num_inputs() > 6 && !ctx.is_none(6) ? ctx.const_float(6) : 0.0;
    Output mask;
    bool has_mask = ctx.has_input(3);
    if (has_mask) mask = ctx.input(3);
    return {attend(ctx, q, k, v, d, has_mask ? &mask : nullptr, scale).first};
}

}  // namespace

void add_attention_translators(TranslatorTable& t) {
    t["aten::_native_multi_head_attention"] = native_mha;
    t["aten::scaled_dot_product_attention"] = sdpa;
}

}  // namespace kiln::frontend::pytorch
