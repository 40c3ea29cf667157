// Matrix products: linear, matmul, mm, bmm, addmm, einsum (batched-matmul forms).
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
    return {ctx.make<op::Add>({scaled(ctx.input(0), beta), scaled(y, alpha)})};
}

// einsum for the forms that are one (batched) matmul after permutes: "...ij,...jk->...ik" and
// permutations of labels, as used by attention blocks. Anything else is reported.
Outs einsum(NodeContext& ctx) {
    std::string eq = ctx.const_str(0);
    auto ops = ctx.tensor_list(1);
    std::string clean;
    for (char c : eq)
        if (c != ' ') clean += c;
    auto arrow = clean.find("->");
    ctx.check(arrow != std::string::npos, "equation '", eq, "' needs an explicit output ('->')");
    auto lhs = clean.substr(0, arrow), out = clean.substr(arrow + 2);
    ctx.check(lhs.find('.') == std::string::npos, "ellipsis in einsum is not supported");
    std::vector<std::string> terms;
    for (size_t at = 0;;) {
        auto c = lhs.find(',', at);
        terms.push_back(lhs.substr(at, c == std::string::npos ? std::string::npos : c - at));
        if (c == std::string::npos) break;
        at = c + 1;
    }
    ctx.check((ops.size() == 1 || ops.size() == 2) && terms.size() == ops.size(),
              "only one- and two-operand einsum is supported, got '", eq, "'");
    for (auto& t : terms)
        for (size_t i = 0; i < t.size(); ++i)
            ctx.check(t.find(t[i], i + 1) == std::string::npos, "a label repeated in one operand (a diagonal) is not "
                                                                "supported in '", eq, "'");
    // A label in one operand only and not in the output is summed out of that operand first.
    for (size_t o = 0; o < ops.size(); ++o) {
        const std::string& other = ops.size() == 2 ? terms[1 - o] : std::string();
        std::vector<int64_t> axes;
        std::string kept;
        for (size_t i = 0; i < terms[o].size(); ++i) {
            char c = terms[o][i];
            if (out.find(c) == std::string::npos && other.find(c) == std::string::npos) axes.push_back(static_cast<int64_t>(i));
            else kept += c;
        }
        if (axes.empty()) continue;
        ops[o] = ctx.make<op::ReduceSum>({ops[o], ctx.i64(axes)}, false);
        terms[o] = kept;
    }
    auto perm_to = [&](Output x, const std::string& from, const std::string& to) {
        std::vector<int64_t> perm;
        for (char c : to) perm.push_back(static_cast<int64_t>(from.find(c)));
        bool id = true;
        for (size_t i = 0; i < perm.size(); ++i) id &= perm[i] == static_cast<int64_t>(i);
        return id ? x : ctx.make<op::Transpose>({x, ctx.i64(perm)});
    };
    if (ops.size() == 1) {
        for (char c : out)
            ctx.check(terms[0].find(c) != std::string::npos, "output label '", c, "' is not in the operand of '", eq, "'");
        return {perm_to(ops[0], terms[0], out)};
    }
    std::string a = terms[0], b = terms[1];
    // Classify labels: batch (in a, b, out), m (a, out), n (b, out), k (a, b, not out).
    std::string batch, m, n, k;
    for (char c : a) {
        bool in_b = b.find(c) != std::string::npos, in_o = out.find(c) != std::string::npos;
        if (in_b && in_o) batch += c;
        else if (in_o) m += c;
        else k += c;
    }
    for (char c : b)
        if (a.find(c) == std::string::npos) n += c;
    // Collapse each group into one dimension so the product is [B, M, K] x [B, K, N].
    auto dims = [&](Output x, const std::string& labels, const std::string& group) {
        OutputVector parts;
        for (char c : group) parts.push_back(ctx.make<op::Unsqueeze>({dim_of(ctx, x, static_cast<int64_t>(labels.find(c))), ctx.i64({0})}));
        return parts;
    };
    auto prod = [&](const OutputVector& parts) {
        if (parts.empty()) return ctx.i64({1});
        Output p = parts[0];
        for (size_t i = 1; i < parts.size(); ++i) p = ctx.make<op::Multiply>({p, parts[i]});
        return p;
    };
    Output A = perm_to(ops[0], a, batch + m + k), B = perm_to(ops[1], b, batch + k + n);
    auto bd = dims(ops[0], a, batch), md = dims(ops[0], a, m), kd = dims(ops[0], a, k), nd = dims(ops[1], b, n);
    Output A3 = ctx.make<op::Reshape>({A, ctx.make<op::Concat>({prod(bd), prod(md), prod(kd)}, int64_t{0})}, false);
    Output B3 = ctx.make<op::Reshape>({B, ctx.make<op::Concat>({prod(bd), prod(kd), prod(nd)}, int64_t{0})}, false);
    Output C = ctx.make<op::MatMul>({A3, B3}, false, false);
    OutputVector full;
    for (auto& v : {bd, md, nd}) full.insert(full.end(), v.begin(), v.end());
    Output shaped = full.empty() ? ctx.make<op::Reshape>({C, ctx.i64({})}, false)
                                 : ctx.make<op::Reshape>({C, ctx.make<op::Concat>(full, int64_t{0})}, false);
    return {perm_to(shaped, batch + m + n, out)};
}

}  // namespace

void add_linear_translators(TranslatorTable& t) {
    t["aten::linear"] = linear;
    t["aten::matmul"] = t["aten::mm"] = t["aten::bmm"] = matmul;
    t["aten::addmm"] = t["aten::baddbmm"] = addmm;
    t["aten::einsum"] = einsum;
}

}  // namespace kiln::frontend::pytorch
