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


// The causal mask of sdpa(is_causal=True): query i sees keys j <= i (top-left aligned, as torch).
Output causal_mask(NodeContext& ctx, const Output& q, const Output& k) {
    Output one = ctx.i64_scalar(1), zero = ctx.i64_scalar(0);
    Output rows = ctx.make<op::Range>({zero, dim_of(ctx, q, -2), one}, Type::i64);
    Output cols = ctx.make<op::Range>({zero, dim_of(ctx, k, -2), one}, Type::i64);
    return ctx.make<op::LessEqual>({cols, ctx.make<op::Unsqueeze>({rows, ctx.i64({1})})});
}

// Grouped-query attention: k/v [B, Hkv, S, D] -> [B, Hq, S, D], each kv head repeated Hq / Hkv
// times in place (torch's repeat_interleave on dim -3).
Output repeat_heads(NodeContext& ctx, const Output& q, const Output& kv) {
    Output hq = dim_of(ctx, q, -3), hkv = dim_of(ctx, kv, -3);
    Output groups = ctx.make<op::Divide>({hq, hkv}, true);
    Output s = shape_of(ctx, kv);
    int64_t r = static_rank(ctx, kv);
    auto part = [&](int64_t b, int64_t e) {
        return ctx.make<op::Slice>({s, ctx.i64({b}), ctx.i64({e}), ctx.i64({1}), ctx.i64({0})});
    };
    Output lead = part(0, r - 2);  // [..., Hkv]
    Output tail = part(r - 2, r);  // [S, D]
    Output g1 = ctx.make<op::Unsqueeze>({groups, ctx.i64({0})});
    Output expanded = ctx.make<op::Broadcast>(
        {ctx.make<op::Unsqueeze>({kv, ctx.i64({r - 2})}), ctx.make<op::Concat>(OutputVector{lead, g1, tail}, int64_t{0})},
        op::BroadcastMode::bidirectional);
    Output merged = ctx.make<op::Concat>(OutputVector{part(0, r - 3), ctx.make<op::Unsqueeze>({hq, ctx.i64({0})}), tail},
                                         int64_t{0});
    return ctx.make<op::Reshape>({expanded, merged}, false);
}

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

// The masks of torch's fused attention ops, in the [B, H, L, S] layout of the scores: a boolean
// mask marks positions NOT to attend (nn.MultiheadAttention's convention), a float mask is added.
// mask_type 0: attn_mask [L, S]; 1: key padding [B, S]; 2: both merged [B, H, L, S].
Output fused_mask(NodeContext& ctx, Output mask, int64_t mask_type) {
    if (mask_type == 1) mask = ctx.make<op::Unsqueeze>({mask, ctx.i64({1, 2})});
    if (mask.type() == Type::boolean) mask = ctx.make<op::LogicalNot>({mask});
    return mask;
}

// Multi-head attention with one packed in-projection [3E, E] (+ bias [3E]) and an out-projection:
// the computation of _native_multi_head_attention and of the attention in
// _transformer_encoder_layer_fwd. Inputs [B, L, E]; returns (output [B, L, E], probs [B, H, L, S]).
std::pair<Output, Output> packed_mha(NodeContext& ctx, const Output& query, const Output& key, const Output& value,
                                     int64_t e, int64_t h, const Output& w, const Output& b, const Output& proj_w,
                                     const Output& proj_b, const Output* mask) {
    ctx.check(h > 0 && e % h == 0, "embed_dim ", e, " is not divisible by num_heads ", h);
    int64_t d = e / h;
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
    auto [o, p] = attend(ctx, q, k, v, d, mask);
    o = ctx.make<op::Transpose>({o, ctx.i64({0, 2, 1, 3})});
    o = ctx.make<op::Reshape>({o, ctx.i64({0, 0, e})}, true);
    o = ctx.make<op::Add>({ctx.make<op::MatMul>({o, proj_w}, false, true), proj_b});
    return {o, p};
}

int64_t mask_type_arg(NodeContext& ctx, size_t i, const Output& mask) {
    if (ctx.num_inputs() > i && !ctx.is_none(i)) return ctx.const_int(i);
    return mask.shape().rank_is_static() && mask.shape().rank() == 4 ? 2 : 0;
}

// _native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias,
//                              proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)
Outs native_mha(NodeContext& ctx) {
    Output mask;
    bool has_mask = ctx.num_inputs() > 9 && ctx.has_input(9);
    if (has_mask) mask = ctx.input(9), mask = fused_mask(ctx, mask, mask_type_arg(ctx, 12, mask));
    auto [o, p] = packed_mha(ctx, ctx.input(0), ctx.input(1), ctx.input(2), ctx.const_int(3), ctx.const_int(4),
                             ctx.input(5), ctx.input(6), ctx.input(7), ctx.input(8), has_mask ? &mask : nullptr);
    bool need_weights = ctx.num_inputs() > 10 && ctx.const_bool(10);
    if (!need_weights) return {o, ConstValue::none()};
    bool average = ctx.num_inputs() <= 11 || ctx.const_bool(11);
    if (average) p = ctx.make<op::ReduceMean>({p, ctx.i64({1})}, false);
    return {o, p};
}

// _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight,
//     proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
//     ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type): the eval fast path of
// nn.TransformerEncoderLayer.
Outs encoder_layer(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t e = ctx.const_int(1), h = ctx.const_int(2);
    bool gelu = ctx.const_bool(7), norm_first = ctx.const_bool(8);
    double eps = ctx.const_float(9);
    Output mask;
    bool has_mask = ctx.num_inputs() > 18 && ctx.has_input(18);
    if (has_mask) mask = ctx.input(18), mask = fused_mask(ctx, mask, mask_type_arg(ctx, 19, mask));
    auto norm = [&](const Output& y, size_t w) {
        Output n = ctx.make<op::MVN>({y, ctx.i64({-1})}, true, eps, op::MVNEpsMode::inside_sqrt);
        return ctx.make<op::Add>({ctx.make<op::Multiply>({n, ctx.input(w)}), ctx.input(w + 1)});
    };
    auto self_attention = [&](const Output& y) {
        return packed_mha(ctx, y, y, y, e, h, ctx.input(3), ctx.input(4), ctx.input(5), ctx.input(6),
                          has_mask ? &mask : nullptr).first;
    };
    auto ffn = [&](const Output& y) {
        Output z = ctx.make<op::Add>({ctx.make<op::MatMul>({y, ctx.input(14)}, false, true), ctx.input(15)});
        z = gelu ? ctx.make<op::Gelu>({z}, op::GeluApproximation::erf) : ctx.make<op::Relu>({z});
        return ctx.make<op::Add>({ctx.make<op::MatMul>({z, ctx.input(16)}, false, true), ctx.input(17)});
    };
    if (norm_first) {
        x = ctx.make<op::Add>({x, self_attention(norm(x, 10))});
        x = ctx.make<op::Add>({x, ffn(norm(x, 12))});
    } else {
        x = norm(ctx.make<op::Add>({x, self_attention(x)}), 10);
        x = norm(ctx.make<op::Add>({x, ffn(x)}), 12);
    }
    return {x};
}

// scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
Outs sdpa(NodeContext& ctx) {
    Output q = ctx.input(0), k = ctx.input(1), v = ctx.input(2);
    ctx.check(q.shape().rank_is_static(), "needs the rank of the query at conversion time");
    auto& last = q.shape()[q.shape().size() - 1];
    int64_t d = last.is_static() ? last.get_length() : 0;
    double scale = ctx.num_inputs() > 6 && !ctx.is_none(6) ? ctx.const_float(6) : 0.0;
    bool causal = ctx.num_inputs() > 5 && !ctx.is_none(5) && ctx.const_bool(5);
    bool gqa = ctx.num_inputs() > 7 && !ctx.is_none(7) && ctx.const_bool(7);
    if (gqa) {
        k = repeat_heads(ctx, q, k);
        v = repeat_heads(ctx, q, v);
    }
    Output mask;
    bool has_mask = ctx.has_input(3);
    ctx.check(!(causal && has_mask), "is_causal=True with an attn_mask: torch refuses it too");
    if (has_mask) mask = ctx.input(3);
    if (causal) mask = causal_mask(ctx, q, k);
    return {attend(ctx, q, k, v, d, has_mask || causal ? &mask : nullptr, scale).first};
}

}  // namespace

void add_attention_translators(TranslatorTable& t) {
    t["aten::_native_multi_head_attention"] = native_mha;
    t["aten::_transformer_encoder_layer_fwd"] = encoder_layer;
    t["aten::scaled_dot_product_attention"] = sdpa;
}

}  // namespace kiln::frontend::pytorch
