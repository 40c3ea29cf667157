// Linear algebra: einsum (any number of operands, diagonals, ellipsis), tensordot, outer, dot,
// mv, addmv, addr, addbmm, kron, cross, matrix_power, chain_matmul / multi_dot, inverse, det,
// slogdet; the SVD and what is computed from it (svdvals, pinv, matrix_rank; the matrix norms
// and cond of order 2 / nuc are in norm.cpp).
#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/linalg_factor.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// a * b; logical and for booleans.
Output mul(NodeContext& ctx, const Output& a, const Output& b) {
    if (a.type() == Type::boolean) return ctx.make<op::LogicalAnd>({a, b});
    return ctx.make<op::Multiply>({a, b});
}

// Elements [from, to) of x's shape as an i64 1-D tensor.
Output shape_part(NodeContext& ctx, const Output& x, int64_t from, int64_t to) {
    return ctx.make<op::Slice>({shape_of(ctx, x), ctx.i64({from}), ctx.i64({to}), ctx.i64({1}), ctx.i64({0})});
}

// The product of shape elements [from, to) as an i64 [1].
Output shape_prod(NodeContext& ctx, const Output& x, int64_t from, int64_t to) {
    return ctx.make<op::ReduceProd>({shape_part(ctx, x, from, to), ctx.i64({0})}, true);
}

Output permuted(NodeContext& ctx, const Output& x, const std::string& from, const std::string& to) {
    std::vector<int64_t> perm;
    for (char c : to) perm.push_back(static_cast<int64_t>(from.find(c)));
    bool id = true;
    for (size_t i = 0; i < perm.size(); ++i) id &= perm[i] == static_cast<int64_t>(i);
    return id ? x : ctx.make<op::Transpose>({x, ctx.i64(perm)});
}

// The diagonal of x over its axes i < j (equal sizes): those two axes become one, the last.
Output diagonal(NodeContext& ctx, Output x, std::string& labels, size_t i, size_t j) {
    char c = labels[i];
    std::string rest;
    for (size_t k = 0; k < labels.size(); ++k)
        if (k != i && k != j) rest += labels[k];
    std::string order = rest + std::string{c, '\x01'};
    std::string with_pair = labels;
    with_pair[j] = '\x01';
    x = permuted(ctx, x, with_pair, order);
    int64_t r = static_cast<int64_t>(order.size());
    Output n = shape_part(ctx, x, r - 1, r);
    Output flat = ctx.make<op::Reshape>({x, ctx.make<op::Concat>(OutputVector{shape_part(ctx, x, 0, r - 2), ctx.i64({-1})}, int64_t{0})}, false);
    Output step = ctx.make<op::Add>({n, ctx.i64({1})});
    x = ctx.make<op::Slice>({flat, ctx.i64({0}), ctx.i64({kMax}), step, ctx.i64({r - 2})});
    labels = rest + c;
    return x;
}

// Contracts two operands: labels in both and kept become (broadcasting) batch axes of one MatMul,
// labels in both and not kept are summed by it. `keep`: the labels wanted after this step.
Output contract_pair(NodeContext& ctx, Output A, std::string a, Output B, std::string b, const std::string& keep,
                     std::string& out_labels) {
    if (A.type() != B.type()) {
        Type t = promote_types(A.type(), B.type());
        A = to_type(ctx, A, t);
        B = to_type(ctx, B, t);
    }
    std::string batch, m, k, n;
    for (char c : a) {
        bool in_b = b.find(c) != std::string::npos, kept = keep.find(c) != std::string::npos;
        if (in_b && kept) batch += c;
        else if (in_b) k += c;
        else m += c;
    }
    for (char c : b)
        if (a.find(c) == std::string::npos) n += c;
    if (batch.empty() && k.empty()) {  // an outer product: a broadcast multiply
        Output Ap = permuted(ctx, A, a, m);
        std::vector<int64_t> tail;
        for (size_t i = 0; i < n.size(); ++i) tail.push_back(static_cast<int64_t>(m.size() + i));
        if (!tail.empty()) Ap = ctx.make<op::Unsqueeze>({Ap, ctx.i64(tail)});
        out_labels = m + n;
        return mul(ctx, Ap, permuted(ctx, B, b, n));
    }
    int64_t nb = static_cast<int64_t>(batch.size()), nm = static_cast<int64_t>(m.size()), nk = static_cast<int64_t>(k.size());
    Output Ap = permuted(ctx, A, a, batch + m + k), Bp = permuted(ctx, B, b, batch + k + n);
    int64_t ra = nb + nm + nk, rb = nb + nk + static_cast<int64_t>(n.size());
    Output A3 = ctx.make<op::Reshape>({Ap, ctx.make<op::Concat>(OutputVector{shape_part(ctx, Ap, 0, nb), shape_prod(ctx, Ap, nb, nb + nm),
                                                                            shape_prod(ctx, Ap, nb + nm, ra)}, int64_t{0})}, false);
    Output B3 = ctx.make<op::Reshape>({Bp, ctx.make<op::Concat>(OutputVector{shape_part(ctx, Bp, 0, nb), shape_prod(ctx, Bp, nb, nb + nk),
                                                                            shape_prod(ctx, Bp, nb + nk, rb)}, int64_t{0})}, false);
    Output C = ctx.make<op::MatMul>({A3, B3}, false, false);
    Output shape = ctx.make<op::Concat>(OutputVector{shape_part(ctx, C, 0, nb), shape_part(ctx, Ap, nb, nb + nm),
                                                     shape_part(ctx, Bp, nb + nk, rb)}, int64_t{0});
    out_labels = batch + m + n;
    return ctx.make<op::Reshape>({C, shape}, false);
}

// General contraction of operands with labelled axes into the `out` labels.
Output contract(NodeContext& ctx, OutputVector ops, std::vector<std::string> terms, const std::string& out) {
    for (size_t o = 0; o < ops.size(); ++o) {
        // A label repeated in one operand: its diagonal.
        for (bool again = true; again;) {
            again = false;
            std::string& t = terms[o];
            for (size_t i = 0; i < t.size() && !again; ++i) {
                size_t j = t.find(t[i], i + 1);
                if (j == std::string::npos) continue;
                ops[o] = diagonal(ctx, ops[o], t, i, j);
                again = true;
            }
        }
    }
    // Labels needed after operand o (by the output or a later operand).
    auto needed_after = [&](size_t o) {
        std::string s = out;
        for (size_t p = o + 1; p < terms.size(); ++p) s += terms[p];
        return s;
    };
    auto sum_unused = [&](Output x, std::string& t, const std::string& other) {
        std::vector<int64_t> axes;
        std::string kept;
        for (size_t i = 0; i < t.size(); ++i) {
            if (other.find(t[i]) == std::string::npos) axes.push_back(static_cast<int64_t>(i));
            else kept += t[i];
        }
        if (axes.empty()) return x;
        t = kept;
        // torch sums these out with sum(), which accumulates bools and integers in int64.
        if (!is_float(x.type()) && x.type() != Type::i64) x = to_type(ctx, x, Type::i64);
        return ctx.make<op::ReduceSum>({x, ctx.i64(axes)}, false);
    };
    Output acc = ops[0];
    std::string labels = terms[0];
    acc = sum_unused(acc, labels, needed_after(0));
    for (size_t o = 1; o < ops.size(); ++o) {
        std::string keep = needed_after(o);
        std::string t = terms[o];
        Output x = sum_unused(ops[o], t, keep + labels);
        std::string kept_acc = labels;
        acc = sum_unused(acc, kept_acc, keep + t);
        std::string result;
        acc = contract_pair(ctx, acc, kept_acc, x, t, keep, result);
        labels = result;
    }
    acc = sum_unused(acc, labels, out);
    for (char c : out)
        ctx.check(labels.find(c) != std::string::npos, "output label '", c, "' is in no operand");
    return permuted(ctx, acc, labels, out);
}

// einsum(equation, operands, path=None)
Outs einsum(NodeContext& ctx) {
    std::string eq;
    for (char c : ctx.const_str(0))
        if (c != ' ') eq += c;
    auto ops = ctx.tensor_list(1);
    auto arrow = eq.find("->");
    std::string lhs = eq.substr(0, arrow);
    std::vector<std::string> terms;
    for (size_t at = 0;;) {
        auto c = lhs.find(',', at);
        terms.push_back(lhs.substr(at, c == std::string::npos ? std::string::npos : c - at));
        if (c == std::string::npos) break;
        at = c + 1;
    }
    ctx.check(terms.size() == ops.size(), "equation '", eq, "' has ", terms.size(), " operands, got ", ops.size());
    // Ellipsis: the dims it covers get labels of their own ('0', '1', ... right-aligned).
    const std::string ell_labels = "0123456789";
    size_t max_ell = 0;
    std::vector<size_t> ell(terms.size(), 0);
    for (size_t o = 0; o < terms.size(); ++o) {
        auto e = terms[o].find("...");
        if (e == std::string::npos) continue;
        int64_t r = static_rank(ctx, ops[o]);
        int64_t named = static_cast<int64_t>(terms[o].size()) - 3;
        ctx.check(r >= named, "operand ", o, " has rank ", r, ", fewer than its ", named, " labels");
        ell[o] = static_cast<size_t>(r - named);
        max_ell = std::max(max_ell, ell[o]);
    }
    ctx.check(max_ell <= ell_labels.size(), "an ellipsis over more than 10 dims is not supported");
    std::string all_ell = ell_labels.substr(0, max_ell);
    for (size_t o = 0; o < terms.size(); ++o) {
        auto e = terms[o].find("...");
        if (e != std::string::npos) terms[o].replace(e, 3, all_ell.substr(max_ell - ell[o]));
        ctx.check(static_cast<int64_t>(terms[o].size()) == static_rank(ctx, ops[o]), "operand ", o, " has rank ",
                  static_rank(ctx, ops[o]), " but '", terms[o], "' labels");
    }
    std::string out;
    if (arrow == std::string::npos) {  // implicit: the ellipsis, then labels seen once, sorted
        std::map<char, int> count;
        for (auto& t : terms)
            for (char c : t) count[c]++;
        out = all_ell;
        for (auto& [c, n] : count)
            if (n == 1 && ell_labels.find(c) == std::string::npos) out += c;
    } else {
        out = eq.substr(arrow + 2);
        auto e = out.find("...");
        if (e != std::string::npos) out.replace(e, 3, all_ell);
    }
    return {contract(ctx, ops, terms, out)};
}

// tensordot(a, b, dims_a, dims_b): the listed dims contracted pairwise, a's free dims then b's.
Outs tensordot(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    auto da = ctx.const_ints(2), db = ctx.const_ints(3);
    ctx.check(da.size() == db.size(), "dims lists differ in length: ", da.size(), " and ", db.size());
    int64_t ra = static_rank(ctx, a), rb = static_rank(ctx, b);
    ctx.check(ra + rb <= 52, "too many dims for tensordot");
    const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::string ta = letters.substr(0, static_cast<size_t>(ra)), tb(static_cast<size_t>(rb), ' ');
    size_t next = static_cast<size_t>(ra);
    for (size_t i = 0; i < da.size(); ++i) tb[static_cast<size_t>(axis_of(ctx, b, db[i]))] = ta[static_cast<size_t>(axis_of(ctx, a, da[i]))];
    for (auto& c : tb)
        if (c == ' ') c = letters[next++];
    std::string out;
    for (char c : ta)
        if (tb.find(c) == std::string::npos) out += c;
    for (char c : tb)
        if (ta.find(c) == std::string::npos) out += c;
    return {contract(ctx, {a, b}, {ta, tb}, out)};
}

// beta * input + alpha * product (input ignored when beta is 0, as torch does).
Output add_scaled(NodeContext& ctx, const Output& input, const Output& product, size_t beta_i, size_t alpha_i) {
    double beta = ctx.num_inputs() > beta_i ? ctx.const_float(beta_i) : 1.0;
    double alpha = ctx.num_inputs() > alpha_i ? ctx.const_float(alpha_i) : 1.0;
    Type t = product.type();
    if (t == Type::boolean) {
        Output p = alpha != 0 ? product : ctx.make<op::LogicalAnd>({product, typed_scalar(ctx, t, 0.0)});
        if (beta == 0) return ctx.make<op::Broadcast>({p, shape_of(ctx, input)}, op::BroadcastMode::bidirectional);
        return ctx.make<op::LogicalOr>({input, p});
    }
    auto scaled = [&](Output o, double s) { return s == 1.0 ? o : ctx.make<op::Multiply>({o, typed_scalar(ctx, t, s)}); };
    if (beta == 0) return ctx.make<op::Broadcast>({scaled(product, alpha), shape_of(ctx, input)}, op::BroadcastMode::bidirectional);
    return ctx.make<op::Add>({scaled(to_type(ctx, input, t), beta), scaled(product, alpha)});
}

Output outer_of(NodeContext& ctx, const Output& a, const Output& b) {
    return mul(ctx, ctx.make<op::Unsqueeze>({a, ctx.i64({1})}), ctx.make<op::Unsqueeze>({b, ctx.i64({0})}));
}

Outs outer(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {outer_of(ctx, a, b)};
}

Outs dot(NodeContext& ctx) {  // dot / vdot of real vectors
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::ReduceSum>({ctx.make<op::Multiply>({a, b}), ctx.i64({0})}, false)};
}

Outs mv(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    return {ctx.make<op::MatMul>({a, b}, false, false)};
}

// addmv(input, mat, vec, beta, alpha)
Outs addmv(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 1, 2);
    return {add_scaled(ctx, ctx.input(0), ctx.make<op::MatMul>({a, b}, false, false), 3, 4)};
}

// addr(input, vec1, vec2, beta, alpha)
Outs addr(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 1, 2);
    return {add_scaled(ctx, ctx.input(0), outer_of(ctx, a, b), 3, 4)};
}

// addbmm(input, batch1, batch2, beta, alpha): the batch of products summed.
Outs addbmm(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 1, 2);
    Output p = ctx.make<op::ReduceSum>({ctx.make<op::MatMul>({a, b}, false, false), ctx.i64({0})}, false);
    return {add_scaled(ctx, ctx.input(0), p, 3, 4)};
}

// kron(a, b): [a0*b0, a1*b1, ...] (the lower rank padded with leading 1s).
Outs kron(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    int64_t ra = static_rank(ctx, a), rb = static_rank(ctx, b), r = std::max(ra, rb);
    auto lift = [&](Output x, int64_t rx) {
        if (rx == r) return x;
        std::vector<int64_t> lead;
        for (int64_t i = 0; i < r - rx; ++i) lead.push_back(i);
        return ctx.make<op::Unsqueeze>({x, ctx.i64(lead)});
    };
    a = lift(a, ra);
    b = lift(b, rb);
    std::vector<int64_t> odd, even;
    for (int64_t i = 0; i < r; ++i) {
        odd.push_back(2 * i + 1);
        even.push_back(2 * i);
    }
    Output prod = mul(ctx, ctx.make<op::Unsqueeze>({a, ctx.i64(odd)}), ctx.make<op::Unsqueeze>({b, ctx.i64(even)}));
    Output shape = ctx.make<op::Multiply>({shape_of(ctx, a), shape_of(ctx, b)});
    return {ctx.make<op::Reshape>({prod, shape}, false)};
}

// cross(a, b, dim=None) / linalg_cross(a, b, dim=-1): along a dim of size 3 (None: the first).
Outs cross(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    int64_t dim;
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) {
        dim = ctx.const_int(2);
    } else {
        dim = -1;
        ctx.check(a.shape().rank_is_static(), "cross without dim needs the input's rank");
        for (int64_t i = 0; i < a.shape().rank(); ++i)
            if (a.shape()[i] == Dimension(3)) {
                dim = i;
                break;
            }
        ctx.check(dim >= 0, "cross without dim needs a dim of size 3 known at conversion time, got ", a.shape().to_string());
    }
    int64_t r = std::max(static_rank(ctx, a), static_rank(ctx, b));
    if (dim < 0) dim += r;
    int64_t ax = dim - r;  // counted from the end, so it names the same dim of both operands
    auto rot = [&](const Output& x, std::vector<int64_t> idx) {
        return ctx.make<op::Gather>({x, ctx.i64(idx), ctx.i64_scalar(ax)}, int64_t{0});
    };
    Output l = ctx.make<op::Multiply>({rot(a, {1, 2, 0}), rot(b, {2, 0, 1})});
    Output rr = ctx.make<op::Multiply>({rot(a, {2, 0, 1}), rot(b, {1, 2, 0})});
    return {ctx.make<op::Subtract>({l, rr})};
}

// The row and column indices [n, 1] and [1, n] of an n x n matrix, n = x's last dim: compared,
// they make the identity (==) or a triangle's mask (>=, >).
std::pair<Output, Output> index_grid(NodeContext& ctx, const Output& x) {
    Output n = dim_of(ctx, x, static_rank(ctx, x) - 1);
    Output idx = ctx.make<op::Range>({ctx.i64_scalar(0), n, ctx.i64_scalar(1)}, Type::i64);
    return {ctx.make<op::Unsqueeze>({idx, ctx.i64({1})}), ctx.make<op::Unsqueeze>({idx, ctx.i64({0})})};
}

// matrix_power(A, n): repeated squaring; n < 0 powers the inverse, n = 0 gives the identity.
Outs matrix_power(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t n = ctx.const_int(1);
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "matrix_power needs [..., N, N], got rank ", r);
    if (n < 0) {
        ctx.check(is_float(x.type()), "a negative matrix power needs a floating point matrix");
        x = ctx.make<op::Inverse>({x}, false);
        n = -n;
    }
    if (n == 0) {
        auto [rows, cols] = index_grid(ctx, x);
        Output eye = to_type(ctx, ctx.make<op::Equal>({rows, cols}), x.type());
        return {ctx.make<op::Broadcast>({eye, shape_of(ctx, x)}, op::BroadcastMode::numpy)};
    }
    Output result, base = x;
    bool have = false;
    while (n > 0) {
        if (n & 1) {
            result = have ? ctx.make<op::MatMul>({result, base}, false, false) : base;
            have = true;
        }
        n >>= 1;
        if (n) base = ctx.make<op::MatMul>({base, base}, false, false);
    }
    return {result};
}

// chain_matmul(matrices) / linalg_multi_dot(tensors): the product, left to right (multi_dot's
// first and last operand may be vectors).
Outs multi_dot(NodeContext& ctx) {
    auto ops = ctx.tensor_list(0);
    ctx.check(!ops.empty(), "needs at least one tensor");
    Output acc = ops[0];
    for (size_t i = 1; i < ops.size(); ++i) acc = ctx.make<op::MatMul>({acc, ops[i]}, false, false);
    return {acc};
}

Outs inverse(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "inverse takes floating point matrices, got ", type_name(x.type()));
    return {ctx.make<op::Inverse>({x}, false)};
}

Outs det(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "det takes floating point matrices, got ", type_name(x.type()));
    return {ctx.make<op::Determinant>({x})};
}

Outs slogdet(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "slogdet takes floating point matrices, got ", type_name(x.type()));
    auto n = ctx.make_node<op::LogDeterminant>({x});
    return {n->output(0), n->output(1)};
}

// The core-ATen forms, whose extra outputs (LU factors, pivots) kiln does not compute.
// linalg_inv_ex's info: 1 for a singular matrix (det exactly 0: an LU pivot is 0), else 0 (LAPACK
// gives the pivot's index; programs test it against 0). A singular matrix also fails the Inverse
// at run time, so a program that replaces its result where info > 0 (linalg.cond) gets the error.
Outs inverse_ex(NodeContext& ctx) {
    Output x = ctx.input(0);
    Output singular = ctx.make<op::Equal>({ctx.make<op::Determinant>({x}), typed_scalar(ctx, x.type(), 0.0)});
    return {inverse(ctx)[0], to_type(ctx, singular, Type::i32)};
}
Outs det_lu(NodeContext& ctx) { return {det(ctx)[0], not_computed(ctx, "the LU factors"), not_computed(ctx, "the LU pivots")}; }
Outs slogdet_lu(NodeContext& ctx) {
    Outs r = slogdet(ctx);
    return {r[0], r[1], not_computed(ctx, "the LU factors"), not_computed(ctx, "the LU pivots")};
}

// x with its last two dims swapped (the transpose of each matrix; real data: the adjoint too).
Output swap_last(NodeContext& ctx, const Output& x) {
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i) perm.push_back(i);
    std::swap(perm[r - 2], perm[r - 1]);
    return ctx.make<op::Transpose>({x, ctx.i64(perm)});
}

std::shared_ptr<Node> svd_node(NodeContext& ctx, const Output& x, bool full) {
    ctx.check(is_float(x.type()), "the SVD takes floating point matrices, got ", type_name(x.type()));
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "the SVD needs matrices [..., M, N], got rank ", r);
    return ctx.make_node<op::Svd>({x}, full);
}

// linalg_svd(A, full_matrices=True, driver=None) -> (U, S, Vh)
Outs linalg_svd(NodeContext& ctx) {
    bool full = ctx.num_inputs() < 2 || ctx.is_none(1) || ctx.const_bool(1);
    auto n = svd_node(ctx, ctx.input(0), full);
    return {n->output(0), n->output(1), n->output(2)};
}

// _linalg_svd(A, full_matrices=False, compute_uv=True, driver=None) (core ATen; svdvals is it
// without compute_uv, when torch returns empty U and Vh: kiln does not make those).
Outs core_svd(NodeContext& ctx) {
    bool full = ctx.num_inputs() > 1 && !ctx.is_none(1) && ctx.const_bool(1);
    bool uv = ctx.num_inputs() < 3 || ctx.is_none(2) || ctx.const_bool(2);
    auto n = svd_node(ctx, ctx.input(0), full);
    if (!uv) return {not_computed(ctx, "U (compute_uv=False)"), n->output(1), not_computed(ctx, "Vh (compute_uv=False)")};
    return {n->output(0), n->output(1), n->output(2)};
}

// svd(A, some=True, compute_uv=True) -> (U, S, V), V = Vh^T; without compute_uv U and V are zeros
// of the full shapes [..., M, M] and [..., N, N], as torch returns them.
Outs svd_legacy(NodeContext& ctx) {
    bool some = ctx.num_inputs() < 2 || ctx.const_bool(1);
    bool uv = ctx.num_inputs() < 3 || ctx.const_bool(2);
    auto n = svd_node(ctx, ctx.input(0), uv ? !some : true);
    Output u = n->output(0), v = swap_last(ctx, n->output(2));
    if (!uv) {
        Output zero = typed_scalar(ctx, u.type(), 0.0);
        u = ctx.make<op::Broadcast>({zero, shape_of(ctx, u)}, op::BroadcastMode::numpy);
        v = ctx.make<op::Broadcast>({zero, shape_of(ctx, v)}, op::BroadcastMode::numpy);
    }
    return {u, n->output(1), v};
}

// linalg_svdvals(A, driver=None)
Outs svdvals(NodeContext& ctx) { return {svd_node(ctx, ctx.input(0), false)->output(1)}; }

// The tolerance below which a singular value counts as zero, [..., 1] against S [..., K]:
// max(atol, rtol * S_max), torch's rule: rtol absent is eps(dtype) * max(M, N), or 0 when atol is
// given and positive; atol absent is 0.
Output singular_tolerance(NodeContext& ctx, const Output& a, const Output& s, std::optional<size_t> atol_i,
                          std::optional<size_t> rtol_i) {
    Type t = s.type();
    auto given = [&](std::optional<size_t> i) { return i && *i < ctx.num_inputs() && !ctx.is_none(*i); };
    auto batched = [&](size_t i) {  // a float or a tensor of the batch shape, as [..., 1]
        Output v = to_type(ctx, ctx.input(i), t);
        return ctx.make<op::Unsqueeze>({v, ctx.i64({-1})});
    };
    int64_t r = static_rank(ctx, a);
    Output m = to_type(ctx, dim_of(ctx, a, r - 2), t), n = to_type(ctx, dim_of(ctx, a, r - 1), t);
    double eps = t == Type::f64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
    Output dflt = ctx.make<op::Multiply>({ctx.make<op::Maximum>({m, n}), typed_scalar(ctx, t, eps)});
    Output zero = typed_scalar(ctx, t, 0.0);
    Output atol = given(atol_i) ? batched(*atol_i) : zero;
    Output rtol = given(rtol_i)   ? batched(*rtol_i)
                  : given(atol_i) ? ctx.make<op::Select>({ctx.make<op::Greater>({atol, zero}), zero, dflt})
                                  : dflt;
    Output smax = ctx.make<op::ReduceMax>({s, ctx.i64({-1})}, true);
    return ctx.make<op::Maximum>({atol, ctx.make<op::Multiply>({rtol, smax})});
}

// The matrix pinv/matrix_rank read for hermitian=True: torch uses only the lower triangle.
Output hermitian_from_lower(NodeContext& ctx, const Output& a) {
    auto [rows, cols] = index_grid(ctx, a);
    Output zero = typed_scalar(ctx, a.type(), 0.0);
    Output lower = ctx.make<op::Select>({ctx.make<op::GreaterEqual>({rows, cols}), a, zero});
    Output strict = ctx.make<op::Select>({ctx.make<op::Greater>({rows, cols}), a, zero});
    return ctx.make<op::Add>({lower, swap_last(ctx, strict)});
}

// Where (atol, rtol) or the single tolerance sit: linalg_pinv / linalg_matrix_rank take
// (A, atol, rtol, hermitian) or (A, rcond/tol, hermitian); pinverse (A, rcond).
struct Tolerances {
    std::optional<size_t> atol, rtol;
    std::optional<size_t> hermitian;
};

Tolerances tolerances(NodeContext& ctx, bool relative_single) {
    if (ctx.kind() == "aten::pinverse") return {std::nullopt, 1, std::nullopt};
    if (ctx.num_inputs() >= 4) return {1, 2, 3};
    // one tolerance: pinv's rcond is relative, matrix_rank's tol absolute (rtol 0)
    if (relative_single) return {std::nullopt, 1, 2};
    return {1, std::nullopt, 2};
}

Output for_svd(NodeContext& ctx, const Tolerances& tol) {
    Output a = ctx.input(0);
    ctx.check(is_float(a.type()), ctx.kind(), " takes floating point matrices, got ", type_name(a.type()));
    if (tol.hermitian && *tol.hermitian < ctx.num_inputs() && ctx.const_bool(*tol.hermitian)) a = hermitian_from_lower(ctx, a);
    return a;
}

// linalg_pinv / pinverse: V diag(1/S, 0 where S <= tol) U^T.
Outs pinv(NodeContext& ctx) {
    Tolerances tol = tolerances(ctx, true);
    Output a = for_svd(ctx, tol);
    auto n = svd_node(ctx, a, false);
    Output u = n->output(0), s = n->output(1), vh = n->output(2);
    Output keep = ctx.make<op::Greater>({s, singular_tolerance(ctx, a, s, tol.atol, tol.rtol)});
    Output inv = ctx.make<op::Select>({keep, ctx.make<op::Divide>({typed_scalar(ctx, s.type(), 1.0), s}),
                                       typed_scalar(ctx, s.type(), 0.0)});
    Output scaled = ctx.make<op::Multiply>({swap_last(ctx, vh), ctx.make<op::Unsqueeze>({inv, ctx.i64({-2})})});
    return {ctx.make<op::MatMul>({scaled, u}, false, true)};
}

// linalg_matrix_rank: the number of singular values above the tolerance, int64.
Outs matrix_rank(NodeContext& ctx) {
    Tolerances tol = tolerances(ctx, false);
    Output a = for_svd(ctx, tol);
    Output s = svd_node(ctx, a, false)->output(1);
    Output above = ctx.make<op::Greater>({s, singular_tolerance(ctx, a, s, tol.atol, tol.rtol)});
    return {ctx.make<op::ReduceSum>({to_type(ctx, above, Type::i64), ctx.i64({-1})}, false)};
}

// ---- factorizations and solves (ops/linalg_factor.hpp; solves through kiln's Inverse)

Output float_matrices(NodeContext& ctx, size_t i, const char* what) {
    Output x = ctx.input(i);
    ctx.check(is_float(x.type()), what, " takes floating point matrices, got ", type_name(x.type()));
    ctx.check(static_rank(ctx, x) >= 2, what, " needs matrices [..., M, N], got rank ", static_rank(ctx, x));
    return x;
}

bool flag(NodeContext& ctx, size_t i, bool dflt) {
    return i < ctx.num_inputs() && !ctx.is_none(i) ? ctx.const_bool(i) : dflt;
}

// linalg_cholesky(A, *, upper=False); linalg_cholesky_ex adds info.
Outs cholesky(NodeContext& ctx) {
    auto n = ctx.make_node<op::Cholesky>({float_matrices(ctx, 0, "cholesky")}, flag(ctx, 1, false));
    return {n->output(0)};
}
Outs cholesky_ex(NodeContext& ctx) {
    auto n = ctx.make_node<op::Cholesky>({float_matrices(ctx, 0, "cholesky")}, flag(ctx, 1, false));
    return {n->output(0), n->output(1)};
}

// A = L Lᵀ (or Uᵀ U) from its factor.
Output from_factor(NodeContext& ctx, const Output& f, bool upper) {
    return upper ? ctx.make<op::MatMul>({f, f}, true, false) : ctx.make<op::MatMul>({f, f}, false, true);
}

// cholesky_inverse(L, upper=False) = (L Lᵀ)⁻¹; cholesky_solve(B, L, upper=False) = (L Lᵀ)⁻¹ B
Outs cholesky_inverse(NodeContext& ctx) {
    Output f = float_matrices(ctx, 0, "cholesky_inverse");
    return {ctx.make<op::Inverse>({from_factor(ctx, f, flag(ctx, 1, false))}, false)};
}
Outs cholesky_solve(NodeContext& ctx) {
    Output b = ctx.input(0), f = float_matrices(ctx, 1, "cholesky_solve");
    Output inv = ctx.make<op::Inverse>({from_factor(ctx, f, flag(ctx, 2, false))}, false);
    return {ctx.make<op::MatMul>({inv, to_type(ctx, b, f.type())}, false, false)};
}

std::shared_ptr<Node> qr_node(NodeContext& ctx, op::QrMode mode) {
    return ctx.make_node<op::Qr>({float_matrices(ctx, 0, "qr")}, mode);
}

// linalg_qr(A, mode='reduced') -> (Q, R)
Outs linalg_qr(NodeContext& ctx) {
    const std::string mode = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_str(1) : "reduced";
    op::QrMode m = op::QrMode::reduced;
    if (mode == "complete") m = op::QrMode::complete;
    else if (mode == "r") m = op::QrMode::r;
    else if (mode != "reduced") ctx.fail("qr mode '", mode, "' is not 'reduced', 'complete' or 'r'");
    auto n = qr_node(ctx, m);
    return {n->output(0), n->output(1)};
}

bool lower_triangle(NodeContext& ctx, size_t i) {
    const std::string uplo = i < ctx.num_inputs() && !ctx.is_none(i) ? ctx.const_str(i) : "L";
    ctx.check(uplo == "L" || uplo == "U" || uplo == "l" || uplo == "u", "UPLO must be 'L' or 'U', got '", uplo, "'");
    return uplo == "L" || uplo == "l";
}

// linalg_eigh(A, UPLO='L') -> (eigenvalues, eigenvectors); linalg_eigvalsh the first;
// _linalg_eigh(A, UPLO='L', compute_v=True) the core-ATen form.
Outs eigh(NodeContext& ctx) {
    auto n = ctx.make_node<op::Eigh>({float_matrices(ctx, 0, "eigh")}, lower_triangle(ctx, 1));
    if (ctx.num_inputs() > 2 && !ctx.is_none(2) && !ctx.const_bool(2))
        return {n->output(0), not_computed(ctx, "the eigenvectors (compute_v=False)")};
    return {n->output(0), n->output(1)};
}
Outs eigvalsh(NodeContext& ctx) {
    return {ctx.make_node<op::Eigh>({float_matrices(ctx, 0, "eigvalsh")}, lower_triangle(ctx, 1))->output(0)};
}

// X with A X = B (left) or X A = B. B is a vector (or a batch of them) when torch says so: rank
// 1, or one less than A's with B's shape A's without its last dim.
Output solve(NodeContext& ctx, const Output& a, Output b, bool left) {
    b = to_type(ctx, b, a.type());
    const int64_t ra = static_rank(ctx, a), rb = static_rank(ctx, b);
    bool vector = rb == 1;
    if (rb == ra - 1) {
        const PartialShape& sa = a.shape();
        const PartialShape& sb = b.shape();
        vector = true;
        if (sa.is_static() && sb.is_static())
            for (int64_t i = 0; i < rb; ++i) vector = vector && sa[i].get_length() == sb[i].get_length();
    }
    Output inv = ctx.make<op::Inverse>({a}, false);
    if (vector) {
        const int64_t at = left ? -1 : -2;
        Output m = ctx.make<op::Unsqueeze>({b, ctx.i64({at})});
        Output x = left ? ctx.make<op::MatMul>({inv, m}, false, false) : ctx.make<op::MatMul>({m, inv}, false, false);
        return ctx.make<op::Squeeze>({x, ctx.i64({at})});
    }
    return left ? ctx.make<op::MatMul>({inv, b}, false, false) : ctx.make<op::MatMul>({b, inv}, false, false);
}

Output singular_info(NodeContext& ctx, const Output& a) {
    Output singular = ctx.make<op::Equal>({ctx.make<op::Determinant>({a}), typed_scalar(ctx, a.type(), 0.0)});
    return to_type(ctx, singular, Type::i32);
}

// linalg_solve(A, B, *, left=True); linalg_solve_ex adds info; _linalg_solve_ex (core ATen) also
// the LU factors and pivots, which kiln does not compute.
Outs linalg_solve(NodeContext& ctx) {
    Output a = float_matrices(ctx, 0, "solve");
    return {solve(ctx, a, ctx.input(1), flag(ctx, 2, true))};
}
Outs linalg_solve_ex(NodeContext& ctx) {
    Output a = float_matrices(ctx, 0, "solve");
    return {solve(ctx, a, ctx.input(1), flag(ctx, 2, true)), singular_info(ctx, a)};
}
Outs core_solve_ex(NodeContext& ctx) {
    Output a = float_matrices(ctx, 0, "solve");
    return {solve(ctx, a, ctx.input(1), flag(ctx, 2, true)), not_computed(ctx, "the LU factors"),
            not_computed(ctx, "the LU pivots"), singular_info(ctx, a)};
}

// The triangle of A a triangular solve reads, with a unit diagonal when unitriangular.
Output triangle(NodeContext& ctx, const Output& a, bool upper, bool unit) {
    auto [rows, cols] = index_grid(ctx, a);
    Output zero = typed_scalar(ctx, a.type(), 0.0);
    Output keep = upper ? ctx.make<op::LessEqual>({rows, cols}) : ctx.make<op::GreaterEqual>({rows, cols});
    Output t = ctx.make<op::Select>({keep, a, zero});
    if (unit) t = ctx.make<op::Select>({ctx.make<op::Equal>({rows, cols}), typed_scalar(ctx, a.type(), 1.0), t});
    return t;
}

// linalg_solve_triangular(A, B, *, upper, left=True, unitriangular=False)
Outs solve_triangular(NodeContext& ctx) {
    Output a = float_matrices(ctx, 0, "solve_triangular");
    Output t = triangle(ctx, a, ctx.const_bool(2), flag(ctx, 4, false));
    Output b = to_type(ctx, ctx.input(1), a.type());
    Output inv = ctx.make<op::Inverse>({t}, false);
    return {flag(ctx, 3, true) ? ctx.make<op::MatMul>({inv, b}, false, false) : ctx.make<op::MatMul>({b, inv}, false, false)};
}

// triangular_solve(b, A, upper=True, transpose=False, unitriangular=False) -> (X, A's copy)
Outs triangular_solve(NodeContext& ctx) {
    Output b = ctx.input(0), a = float_matrices(ctx, 1, "triangular_solve");
    Output t = triangle(ctx, a, flag(ctx, 2, true), flag(ctx, 4, false));
    if (flag(ctx, 3, false)) t = swap_last(ctx, t);
    Output x = ctx.make<op::MatMul>({ctx.make<op::Inverse>({t}, false), to_type(ctx, b, a.type())}, false, false);
    return {x, a};
}

// linalg_vander(x, *, N=None): [..., n] -> [..., n, N], column j = x^j
Outs vander(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(static_rank(ctx, x) >= 1, "vander needs a tensor of rank >= 1, got a 0-d one");
    Output count = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.i64_scalar(ctx.const_int(1))
                                                           : dim_of(ctx, x, static_rank(ctx, x) - 1);
    Output powers = ctx.make<op::Range>({ctx.i64_scalar(0), count, ctx.i64_scalar(1)}, Type::i64);
    Output base = ctx.make<op::Unsqueeze>({x, ctx.i64({-1})});
    return {ctx.make<op::Power>({base, to_type(ctx, powers, x.type())})};
}

}  // namespace

void add_linalg_translators(TranslatorTable& t) {
    t["aten::einsum"] = einsum;
    t["aten::tensordot"] = tensordot;
    t["aten::outer"] = t["aten::ger"] = outer;
    t["aten::dot"] = t["aten::vdot"] = dot;
    t["aten::mv"] = mv;
    t["aten::addmv"] = t["aten::addmv_"] = addmv;
    t["aten::addr"] = t["aten::addr_"] = addr;
    t["aten::addbmm"] = t["aten::addbmm_"] = addbmm;
    t["aten::kron"] = kron;
    t["aten::cross"] = t["aten::linalg_cross"] = cross;
    t["aten::matrix_power"] = t["aten::linalg_matrix_power"] = matrix_power;
    t["aten::chain_matmul"] = t["aten::linalg_multi_dot"] = multi_dot;
    t["aten::inverse"] = t["aten::linalg_inv"] = inverse;
    t["aten::det"] = t["aten::linalg_det"] = det;
    t["aten::slogdet"] = t["aten::linalg_slogdet"] = slogdet;
    t["aten::linalg_inv_ex"] = inverse_ex;
    t["aten::_linalg_det"] = det_lu;
    t["aten::_linalg_slogdet"] = slogdet_lu;
    t["aten::linalg_svd"] = linalg_svd;
    t["aten::_linalg_svd"] = core_svd;
    t["aten::svd"] = svd_legacy;
    t["aten::linalg_svdvals"] = svdvals;
    t["aten::linalg_pinv"] = t["aten::pinverse"] = pinv;
    t["aten::linalg_matrix_rank"] = matrix_rank;
    t["aten::linalg_cholesky"] = cholesky;  // (torch 2.14 removed torch.cholesky and torch.qr)
    t["aten::linalg_cholesky_ex"] = cholesky_ex;
    t["aten::cholesky_inverse"] = cholesky_inverse;
    t["aten::cholesky_solve"] = cholesky_solve;
    t["aten::linalg_qr"] = linalg_qr;
    t["aten::linalg_eigh"] = t["aten::_linalg_eigh"] = eigh;
    t["aten::linalg_eigvalsh"] = eigvalsh;
    t["aten::linalg_solve"] = linalg_solve;
    t["aten::linalg_solve_ex"] = linalg_solve_ex;
    t["aten::_linalg_solve_ex"] = core_solve_ex;
    t["aten::linalg_solve_triangular"] = solve_triangular;
    t["aten::triangular_solve"] = triangular_solve;
    t["aten::linalg_vander"] = vander;
}

}  // namespace kiln::frontend::pytorch
