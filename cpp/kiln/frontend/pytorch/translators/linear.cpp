// Matrix products: linear, matmul, mm, bmm, addmm, baddbmm (einsum and the rest: linalg.cpp).
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

// linear(x, W, b): x @ W^T + b
Outs linear(NodeContext& ctx) {
    Output y = ctx.make<op::MatMul>({ctx.input(0), ctx.input(1)}, false, true);
    if (ctx.has_input(2)) y = ctx.make<op::Add>({y, ctx.input(2)});
    return {y};
}

Outs matmul(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::MatMul>({a, b}, false, false)};
}

// addmm(bias, a, b, beta, alpha) = beta * bias + alpha * (a @ b); baddbmm: the same, batched.
Outs addmm(NodeContext& ctx) {
    Output y = ctx.make<op::MatMul>({ctx.input(1), ctx.input(2)}, false, false);
    double beta = ctx.num_inputs() > 3 ? ctx.const_float(3) : 1.0;
    double alpha = ctx.num_inputs() > 4 ? ctx.const_float(4) : 1.0;
    auto scaled = [&](Output o, double s) {
        if (s == 1.0) return o;
        return ctx.make<op::Multiply>({o, typed_scalar(ctx, o.type(), s)});
    };
    // beta = 0: torch ignores the input (its nan/inf do not show), only its shape broadcasts.
    if (beta == 0.0) return {ctx.make<op::Broadcast>({scaled(y, alpha), shape_of(ctx, ctx.input(0))}, op::BroadcastMode::bidirectional)};
    return {ctx.make<op::Add>({scaled(ctx.input(0), beta), scaled(y, alpha)})};
}

}  // namespace

void add_linear_translators(TranslatorTable& t) {
    t["aten::linear"] = linear;
    t["aten::matmul"] = t["aten::mm"] = t["aten::bmm"] = matmul;
    t["aten::addmm"] = t["aten::baddbmm"] = t["aten::addmm_"] = t["aten::baddbmm_"] = addmm;
}

}  // namespace kiln::frontend::pytorch
