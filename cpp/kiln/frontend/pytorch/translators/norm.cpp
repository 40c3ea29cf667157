// Normalizations, softmax and reductions.
#include <cmath>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

// batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
Outs batch_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(!ctx.const_bool(5), "batch_norm in training mode is not supported: call model.eval() first");
    Output mean = ctx.input(3), var = ctx.input(4);
    auto ones_like_channels = [&](float v) {
        // gamma/beta may be None (affine=False): build constants of the channel count.
        ctx.check(mean.shape().is_static(), "batch_norm without affine parameters needs static statistics");
        int64_t c = mean.shape()[0].get_length();
        return ctx.constant(std::vector<float>(static_cast<size_t>(c), v), {c});
    };
    Output gamma = ctx.has_input(1) ? ctx.input(1) : ones_like_channels(1.f);
    Output beta = ctx.has_input(2) ? ctx.input(2) : ones_like_channels(0.f);
    double eps = ctx.const_float(7);
    return {ctx.make<op::BatchNormInference>({x, gamma, beta, mean, var}, eps)};
}

// layer_norm(x, normalized_shape, weight, bias, eps, cudnn): MVN over the trailing axes.
Outs layer_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto shape = ctx.const_ints(1);
    std::vector<int64_t> axes;
    for (int64_t i = -static_cast<int64_t>(shape.size()); i < 0; ++i) axes.push_back(i);
    double eps = ctx.num_inputs() > 4 ? ctx.const_float(4) : 1e-5;
    Output y = ctx.make<op::MVN>({x, ctx.i64(axes)}, true, eps, op::MVNEpsMode::inside_sqrt);
    if (ctx.has_input(2)) y = ctx.make<op::Multiply>({y, ctx.input(2)});
    if (ctx.has_input(3)) y = ctx.make<op::Add>({y, ctx.input(3)});
    return {y};
}

// group_norm(x, groups, weight, bias, eps, cudnn)
Outs group_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t g = ctx.const_int(1);
    int64_t r = static_rank(ctx, x);
    double eps = ctx.num_inputs() > 4 ? ctx.const_float(4) : 1e-5;
    // [N, C, ...] -> [N, G, -1], normalize the last axis, back.
    Output shape = shape_of(ctx, x);
    Output grouped = ctx.make<op::Reshape>({x, ctx.i64({0, g, -1})}, true);
    Output y = ctx.make<op::MVN>({grouped, ctx.i64({-1})}, true, eps, op::MVNEpsMode::inside_sqrt);
    y = ctx.make<op::Reshape>({y, shape}, false);
    std::vector<int64_t> cs{-1};
    for (int64_t i = 2; i < r; ++i) cs.push_back(1);
    if (ctx.has_input(2)) y = ctx.make<op::Multiply>({y, ctx.make<op::Reshape>({ctx.input(2), ctx.i64(cs)}, false)});
    if (ctx.has_input(3)) y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({ctx.input(3), ctx.i64(cs)}, false)});
    return {y};
}

// softmax(x, dim, dtype)
template <typename T>
Outs softmax(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(2)));
    else if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return {ctx.make<T>({x}, ctx.const_int(1))};
}

// Reductions: mean/sum(x, dim, keepdim, dtype); amax/amin(x, dim, keepdim).
template <typename T>
Outs reduce(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool keep = false;
    Output axes;
    if (ctx.num_inputs() == 1 || ctx.is_none(1) || (ctx.is_const(1) && ctx.const_ints(1).empty())) {
        // Over every axis.
        int64_t r = static_rank(ctx, x);
        std::vector<int64_t> all;
        for (int64_t i = 0; i < r; ++i) all.push_back(i);
        axes = ctx.i64(all);
        if (ctx.num_inputs() > 2 && ctx.value(2).kind == TValue::Kind::constant &&
            ctx.value(2).c.kind == ConstValue::Kind::boolean)
            keep = ctx.const_bool(2);
    } else {
        axes = int_list(ctx, 1);
        keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    }
    if (ctx.num_inputs() > 3 && !ctx.is_none(3)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(3)));
    if (std::is_same_v<T, op::ReduceMean> && !is_float(x.type())) x = to_type(ctx, x, Type::f32);
    // torch sums and multiplies bools and every integer type narrower than int64 in int64.
    if ((std::is_same_v<T, op::ReduceSum> || std::is_same_v<T, op::ReduceProd>) && !is_float(x.type()) &&
        x.type() != Type::i64 && x.type() != Type::u64 && x.type() != Type::dynamic)
        x = to_type(ctx, x, Type::i64);
    if constexpr (std::is_same_v<T, op::ReduceMax> || std::is_same_v<T, op::ReduceMin>) {
        if (x.type() == Type::boolean)  // amax/amin of bools: as bytes
            return {to_type(ctx, ctx.make<T>({to_type(ctx, x, Type::u8), axes}, keep), Type::boolean)};
    }
    return {ctx.make<T>({x, axes}, keep)};
}

// max(x) / max(x, dim, keepdim) -> (values, indices) / max(x, y)
Outs max_min(NodeContext& ctx, bool is_max) {
    if (ctx.num_inputs() == 2 && ctx.value(1).kind == TValue::Kind::tensor && !ctx.value(1).scalar) {
        auto [a, b] = promoted(ctx, 0, 1);
        if (is_max) return {ctx.make<op::Maximum>({a, b})};
        return {ctx.make<op::Minimum>({a, b})};
    }
    Output x = ctx.input(0);
    if (ctx.num_inputs() == 1) {
        int64_t r = static_rank(ctx, x);
        std::vector<int64_t> all;
        for (int64_t i = 0; i < r; ++i) all.push_back(i);
        if (is_max) return {ctx.make<op::ReduceMax>({x, ctx.i64(all)}, false)};
        return {ctx.make<op::ReduceMin>({x, ctx.i64(all)}, false)};
    }
    auto [v, i] = extreme_along(ctx, x, ctx.const_int(1), ctx.num_inputs() > 2 && ctx.const_bool(2), is_max);
    return {v, i};
}

// norm(x, p, dim, keepdim[, dtype]) / linalg_vector_norm(x, ord, dim, keepdim, dtype): any order
// (vector_norm_of, math.cpp); dim None or [] is every axis.
Outs vector_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() > 4 && !ctx.is_none(4)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(4)));
    if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    double p = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_float(1) : 2.0;
    Output axes;
    if (ctx.num_inputs() > 2 && !ctx.is_none(2) && !(ctx.is_const(2) && ctx.const_ints(2).empty())) {
        axes = int_list(ctx, 2);
    } else {
        std::vector<int64_t> all;
        for (int64_t i = 0; i < static_rank(ctx, x); ++i) all.push_back(i);
        axes = ctx.i64(all);
    }
    bool keep = ctx.num_inputs() > 3 && ctx.const_bool(3);
    return {vector_norm_of(ctx, x, p, axes, keep)};
}

// cumsum(x, dim, dtype=None): integers and bools sum in int64, as in torch.
Outs cumsum(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t d = axis_of(ctx, x, ctx.const_int(1));
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(2)));
    else if (!is_float(x.type())) x = to_type(ctx, x, Type::i64);
    if (static_rank(ctx, x) == 0) return {x};
    return {ctx.make<op::CumSum>({x, ctx.i64_scalar(d)}, false, false)};
}

}  // namespace

void add_norm_translators(TranslatorTable& t) {
    t["aten::cumsum"] = t["aten::cumsum_"] = cumsum;
    t["aten::batch_norm"] = batch_norm;
    t["aten::layer_norm"] = layer_norm;
    t["aten::group_norm"] = group_norm;
    t["aten::softmax"] = softmax<op::Softmax>;
    t["aten::log_softmax"] = softmax<op::LogSoftmax>;
    t["aten::mean"] = reduce<op::ReduceMean>;
    t["aten::sum"] = reduce<op::ReduceSum>;
    t["aten::amax"] = reduce<op::ReduceMax>;
    t["aten::amin"] = reduce<op::ReduceMin>;
    t["aten::prod"] = reduce<op::ReduceProd>;
    t["aten::norm"] = t["aten::linalg_vector_norm"] = in_f32<vector_norm>;
    t["aten::max"] = [](NodeContext& c) { return max_min(c, true); };
    t["aten::min"] = [](NodeContext& c) { return max_min(c, false); };
}

}  // namespace kiln::frontend::pytorch
