// Normalizations, softmax and reductions.
#include <cmath>
#include <limits>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/scan.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::frontend::pytorch {

namespace {

// Inference batch norm of x = input 0 with weight, bias, running mean and variance at inputs
// 1..4 and eps at input `eps_at`.
Output batch_norm_inference(NodeContext& ctx, size_t eps_at) {
    Output x = ctx.input(0);
    Output mean = ctx.input(3), var = ctx.input(4);
    auto ones_like_channels = [&](float v) {
        // gamma/beta may be None (affine=False): constants of the channel count, or a broadcast
        // to it when it is known only at run time (core ATen's instance norm repeats the running
        // statistics batch times).
        if (!mean.shape().is_static())
            return ctx.make<op::Broadcast>({typed_scalar(ctx, mean.type(), v), shape_of(ctx, mean)}, op::BroadcastMode::numpy);
        int64_t c = mean.shape()[0].get_length();
        return ctx.constant(std::vector<float>(static_cast<size_t>(c), v), {c});
    };
    Output gamma = ctx.has_input(1) ? ctx.input(1) : ones_like_channels(1.f);
    Output beta = ctx.has_input(2) ? ctx.input(2) : ones_like_channels(0.f);
    double eps = ctx.const_float(eps_at);
    return ctx.make<op::BatchNormInference>({x, gamma, beta, mean, var}, eps);
}

// x normalized over `axes` (MVN, eps inside the square root), times the weight at input w_i and
// plus the bias at input b_i where they are given (broadcast as they are: layer norm's trail x).
Output normalized(NodeContext& ctx, const Output& x, const std::vector<int64_t>& axes, double eps, size_t w_i, size_t b_i) {
    Output y = ctx.make<op::MVN>({x, ctx.i64(axes)}, true, eps, op::MVNEpsMode::inside_sqrt);
    if (ctx.has_input(w_i)) y = ctx.make<op::Multiply>({y, ctx.input(w_i)});
    if (ctx.has_input(b_i)) y = ctx.make<op::Add>({y, ctx.input(b_i)});
    return y;
}

// The per-channel affine of y [N, C, ...] of rank r: the weight and bias at inputs w_i and b_i
// (where given) as [C, 1, ...].
Output channel_affine(NodeContext& ctx, Output y, int64_t r, size_t w_i, size_t b_i) {
    std::vector<int64_t> cs{-1};
    for (int64_t i = 2; i < r; ++i) cs.push_back(1);
    if (ctx.has_input(w_i)) y = ctx.make<op::Multiply>({y, ctx.make<op::Reshape>({ctx.input(w_i), ctx.i64(cs)}, false)});
    if (ctx.has_input(b_i)) y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({ctx.input(b_i), ctx.i64(cs)}, false)});
    return y;
}

// (y, save_mean, save_invstd) of an inference batch norm: torch returns empty statistics ([0]).
Outs with_empty_statistics(NodeContext& ctx, const Output& y) {
    Output empty = ctx.constant(std::vector<float>{}, {0});
    return {y, empty, empty};
}

// batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
Outs batch_norm(NodeContext& ctx) {
    ctx.check(!ctx.const_bool(5), "batch_norm in training mode is not supported: call model.eval() first");
    return {batch_norm_inference(ctx, 7)};
}

// torch.export's inference form: _native_batch_norm_legit_no_training(x, weight, bias,
// running_mean, running_var, momentum, eps) -> (y, save_mean, save_invstd); the saved
// statistics are empty tensors in inference (torch returns shape [0]).
Outs native_batch_norm_no_training(NodeContext& ctx) { return with_empty_statistics(ctx, batch_norm_inference(ctx, 6)); }

// layer_norm(x, normalized_shape, weight, bias, eps, cudnn): MVN over the trailing axes.
Outs layer_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    auto shape = ctx.const_ints(1);
    std::vector<int64_t> axes;
    for (int64_t i = -static_cast<int64_t>(shape.size()); i < 0; ++i) axes.push_back(i);
    double eps = ctx.num_inputs() > 4 ? ctx.const_float(4) : 1e-5;
    return {normalized(ctx, x, axes, eps, 2, 3)};
}

// The mean and 1 / sqrt(biased variance + eps) of x over `axes` (kept as size-1 dims when `keep`):
// the statistics outputs of the core-ATen normalizations (native_layer_norm, native_group_norm,
// _native_batch_norm_legit). Computed apart from the MVN that normalizes, so that nothing is
// computed when they are unused (they rarely are: the dead nodes are dropped).
std::pair<Output, Output> moments(NodeContext& ctx, const Output& x, const std::vector<int64_t>& axes, double eps, bool keep) {
    Output a = ctx.i64(axes);
    Output mean = ctx.make<op::ReduceMean>({x, a}, true);
    Output d = ctx.make<op::Subtract>({x, mean});
    Output var = ctx.make<op::ReduceMean>({ctx.make<op::Multiply>({d, d}), a}, keep);
    Output rstd = ctx.make<op::Divide>({typed_scalar(ctx, x.type(), 1.0),
                                        ctx.make<op::Sqrt>({ctx.make<op::Add>({var, typed_scalar(ctx, x.type(), eps)})})},
                                       false);
    if (!keep) mean = ctx.make<op::Squeeze>({mean, a});
    return {mean, rstd};
}

// native_layer_norm(x, normalized_shape, weight, bias, eps) -> (y, mean, rstd): the core-ATen
// layer_norm (a program decomposed with run_decompositions() holds it); mean and rstd keep the
// normalized axes as size-1 dims, as torch gives them.
Outs native_layer_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    const size_t n = ctx.is_const(1) ? ctx.const_ints(1).size() : ctx.list(1).size();
    std::vector<int64_t> axes;
    for (int64_t i = -static_cast<int64_t>(n); i < 0; ++i) axes.push_back(i);
    const double eps = ctx.const_float(4);
    auto [mean, rstd] = moments(ctx, x, axes, eps, true);
    return {normalized(ctx, x, axes, eps, 2, 3), mean, rstd};
}

// rms_norm(x, normalized_shape, weight, eps): x / sqrt(mean(x^2 over the trailing axes) + eps)
// [* weight], computed as torch does: in f32 for f16 / bf16 inputs (converted back before the
// weight), eps defaulting to the machine epsilon of that computing type. passes/fuse_layer_norm
// makes one kernel of it.
Outs rms_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    const Type t = x.type();
    if (!is_float(t)) ctx.fail("rms_norm of a non-floating tensor (", type_name(t), ")");
    const Type ct = t == Type::f64 ? Type::f64 : Type::f32;
    // Only how many trailing axes: normalized_shape may be computed (x.shape[-1:]).
    const size_t n = ctx.is_const(1) ? ctx.const_ints(1).size() : ctx.list(1).size();
    std::vector<int64_t> axes;
    for (int64_t i = -static_cast<int64_t>(n); i < 0; ++i) axes.push_back(i);
    const double eps = ctx.has_input(3) ? ctx.const_float(3)
                                        : (ct == Type::f64 ? std::numeric_limits<double>::epsilon()
                                                           : static_cast<double>(std::numeric_limits<float>::epsilon()));
    Output u = ct == t ? x : to_type(ctx, x, ct);
    Output ms = ctx.make<op::ReduceMean>({ctx.make<op::Multiply>({u, u}), ctx.i64(axes)}, true);
    Output inv = ctx.make<op::Divide>({typed_scalar(ctx, ct, 1.0), ctx.make<op::Sqrt>({ctx.make<op::Add>({ms, typed_scalar(ctx, ct, eps)})})}, false);
    Output y = ctx.make<op::Multiply>({u, inv});
    if (ct != t) y = to_type(ctx, y, t);
    if (ctx.has_input(2)) {
        // A weight of another float type (an f32 weight on an f16 input) multiplies in the wider
        // type; the result has the input's type, as torch gives it.
        Output w = ctx.input(2);
        const Type wt = w.type();
        if (wt != t && is_float(wt)) {
            const Type pt = type_size(wt) > type_size(t) ? wt : t;
            y = to_type(ctx, ctx.make<op::Multiply>({to_type(ctx, y, pt), to_type(ctx, w, pt)}), t);
        } else {
            y = ctx.make<op::Multiply>({y, w});
        }
    }
    return {y};
}

// x [N, C, ...] viewed as [N, g, -1], normalized along the last axis, back, with the per-channel
// affine of inputs w_i, b_i; and that grouped view.
std::pair<Output, Output> group_normalized(NodeContext& ctx, const Output& x, int64_t g, double eps, size_t w_i, size_t b_i) {
    Output grouped = ctx.make<op::Reshape>({x, ctx.i64({0, g, -1})}, true);
    Output y = ctx.make<op::MVN>({grouped, ctx.i64({-1})}, true, eps, op::MVNEpsMode::inside_sqrt);
    y = ctx.make<op::Reshape>({y, shape_of(ctx, x)}, false);
    return {channel_affine(ctx, y, static_rank(ctx, x), w_i, b_i), grouped};
}

// group_norm(x, groups, weight, bias, eps, cudnn)
Outs group_norm(NodeContext& ctx) {
    double eps = ctx.num_inputs() > 4 ? ctx.const_float(4) : 1e-5;
    return {group_normalized(ctx, ctx.input(0), ctx.const_int(1), eps, 2, 3).first};
}

// native_group_norm(x, weight, bias, N, C, HxW, group, eps) -> (y, mean [N, group], rstd [N, group])
Outs native_group_norm(NodeContext& ctx) {
    const double eps = ctx.const_float(7);
    auto [y, grouped] = group_normalized(ctx, ctx.input(0), ctx.const_int(6), eps, 1, 2);
    auto [mean, rstd] = moments(ctx, grouped, {-1}, eps, false);
    return {y, mean, rstd};
}

// _native_batch_norm_legit(x, weight, bias, running_mean, running_var, training, momentum, eps)
// and its no_stats overload (x, weight, bias, training, momentum, eps) -> (y, save_mean,
// save_rstd). Training mode normalizes by the batch's own statistics (over every axis but the
// channels; core ATen's instance_norm is this on an [1, N * C, ...] view); the running statistics
// it would update are buffers kiln does not write back. Otherwise: the running statistics, and
// empty saved ones, as torch gives them.
Outs native_batch_norm_legit(NodeContext& ctx) {
    const bool stats = ctx.num_inputs() == 8;
    const size_t training_at = stats ? 5 : 3;
    const bool training = ctx.const_bool(training_at);
    const double eps = ctx.const_float(training_at + 2);
    if (!training) {
        ctx.check(stats, "needs running statistics when not training");
        return with_empty_statistics(ctx, batch_norm_inference(ctx, 7));
    }
    Output x = ctx.input(0);
    const int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "needs [N, C, ...], got rank ", r);
    std::vector<int64_t> axes{0};
    for (int64_t i = 2; i < r; ++i) axes.push_back(i);
    Output y = ctx.make<op::MVN>({x, ctx.i64(axes)}, true, eps, op::MVNEpsMode::inside_sqrt);
    auto [mean, rstd] = moments(ctx, x, axes, eps, false);
    return {channel_affine(ctx, y, r, 1, 2), mean, rstd};
}

// softmax(x, dim, dtype)
template <typename T>
Outs softmax(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() > 2 && !ctx.is_none(2)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(2)));
    else if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return {ctx.make<T>({x}, ctx.const_int(1))};
}

// _softmax(x, dim, half_to_float) / _log_softmax: core ATen's softmax; half_to_float asks for an
// f32 result of an f16 input.
template <typename T>
Outs core_softmax(NodeContext& ctx) {
    Output x = ctx.input(0);
    if (ctx.num_inputs() > 2 && ctx.const_bool(2) && x.type() == Type::f16) x = to_type(ctx, x, Type::f32);
    ctx.check(is_float(x.type()), "needs a floating tensor, got ", type_name(x.type()));
    return {ctx.make<T>({x}, ctx.const_int(1))};
}

// Reductions: mean/sum(x, dim, keepdim, dtype); amax/amin(x, dim, keepdim).
template <typename T>
Outs reduce(NodeContext& ctx) {
    Output x = ctx.input(0);
    bool keep = false;
    Output axes;
    const bool dtype_only = ctx.num_inputs() == 2 && !std::is_same_v<T, op::ReduceMax> && !std::is_same_v<T, op::ReduceMin>;
    size_t dtype_i = dtype_only ? 1 : 3;  // sum/mean/prod(x, dtype) over every axis
    if (ctx.num_inputs() == 1 || dtype_only || ctx.is_none(1) || (ctx.is_const(1) && ctx.const_ints(1).empty())) {
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
    const bool has_dtype = ctx.num_inputs() > dtype_i && !ctx.is_none(dtype_i);
    if (has_dtype) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(dtype_i)));
    // torch rejects the mean of an integer tensor without dtype=; such a node can still sit in a
    // branch that never runs (both branches of a shape-dependent `if` are converted), so it
    // converts (as f32) rather than failing the whole model.
    if (std::is_same_v<T, op::ReduceMean> && !is_float(x.type())) x = to_type(ctx, x, Type::f32);
    // torch sums and multiplies bools and every integer type narrower than int64 in int64, unless a
    // dtype is given.
    if ((std::is_same_v<T, op::ReduceSum> || std::is_same_v<T, op::ReduceProd>) && !has_dtype && !is_float(x.type()) &&
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
    // max(a, b) of two tensors; the (values, indices) overload along a dim has two outputs. A traced
    // `torch.tensor(0)` second operand arrives as a constant, so the output count decides.
    if (ctx.num_inputs() == 2 && ((ctx.value(1).kind == TValue::Kind::tensor && !ctx.value(1).scalar) ||
                                  ctx.desc().outputs.size() == 1)) {
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

// The axes a `dim` argument names (normalized), or every axis when it is None / empty.
std::vector<int64_t> dims_or_all(NodeContext& ctx, const Output& x, size_t i) {
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> axes;
    if (i < ctx.num_inputs() && !ctx.is_none(i)) {
        ctx.check(ctx.is_const(i), "the dims to reduce must be known at conversion time");
        for (int64_t d : ctx.const_ints(i)) axes.push_back(axis_of(ctx, x, d));
    }
    if (axes.empty())
        for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    return axes;
}

// Removes the (sorted, distinct) axes of a keep_dims result.
Output squeeze_axes(NodeContext& ctx, const Output& x, std::vector<int64_t> axes) {
    if (axes.empty()) return x;
    return ctx.make<op::Squeeze>({x, ctx.i64(axes)});
}

// ||x||_p over axes: p = 2, 1, inf, -inf, 0 (the count of non-zeros) or any other (sum |x|^p)^(1/p).
Output p_norm(NodeContext& ctx, const Output& x, double p, const std::vector<int64_t>& axes, bool keep) {
    Output ax = ctx.i64(axes);
    if (p == 2.0) return ctx.make<op::ReduceL2>({x, ax}, keep);
    if (p == 1.0) return ctx.make<op::ReduceL1>({x, ax}, keep);
    if (std::isinf(p)) {
        Output a = ctx.make<op::Abs>({x});
        if (p > 0) return ctx.make<op::ReduceMax>({a, ax}, keep);
        return ctx.make<op::ReduceMin>({a, ax}, keep);
    }
    if (p == 0.0) {
        Output nz = ctx.make<op::NotEqual>({x, typed_scalar(ctx, x.type(), 0.0)});
        return ctx.make<op::ReduceSum>({to_type(ctx, nz, x.type()), ax}, keep);
    }
    Output powed = ctx.make<op::Power>({ctx.make<op::Abs>({x}), typed_scalar(ctx, x.type(), p)});
    Output sum = ctx.make<op::ReduceSum>({powed, ax}, keep);
    return ctx.make<op::Power>({sum, typed_scalar(ctx, x.type(), 1.0 / p)});
}

// The singular values of the matrices x spans over axes (a, b) (rows, columns): [..., K], the
// other axes first in their order.
Output singular_values(NodeContext& ctx, const Output& x, int64_t a, int64_t b) {
    int64_t r = static_rank(ctx, x);
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i)
        if (i != a && i != b) perm.push_back(i);
    perm.push_back(a);
    perm.push_back(b);
    Output m = x;
    if (a != r - 2 || b != r - 1) m = ctx.make<op::Transpose>({x, ctx.i64(perm)});
    return ctx.make_node<op::Svd>({m}, false)->output(1);
}

// The matrix norms of x over axes (a, b) (rows, columns): 'fro', 1, -1, inf, -inf from sums of
// |x|; 'nuc' (the sum), 2 and -2 (the largest and the smallest) of the singular values.
Output matrix_norm(NodeContext& ctx, const Output& x, const std::string& ord, double p, int64_t a, int64_t b,
                   bool keep) {
    auto sorted = [](int64_t u, int64_t v) { return u < v ? std::vector<int64_t>{u, v} : std::vector<int64_t>{v, u}; };
    ctx.check(a != b, "the two matrix dims must differ, got ", a, " twice");
    if (ord == "fro") return ctx.make<op::ReduceL2>({x, ctx.i64(sorted(a, b))}, keep);
    if (ord == "nuc" || (ord.empty() && std::abs(p) == 2.0)) {
        Output sv = singular_values(ctx, x, a, b);
        Output last = ctx.i64({-1});
        Output n = ord == "nuc" ? ctx.make<op::ReduceSum>({sv, last}, false)
                   : p > 0      ? ctx.make<op::ReduceMax>({sv, last}, false)
                                : ctx.make<op::ReduceMin>({sv, last}, false);
        return keep ? ctx.make<op::Unsqueeze>({n, ctx.i64(sorted(a, b))}) : n;
    }
    ctx.check(ord.empty() && (std::abs(p) == 1.0 || std::isinf(p)), "matrix norm order ", ord.empty() ? std::to_string(p) : ord,
              " is not one torch defines ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)");
    // 1: the largest column sum of |x| (sum over rows a, extreme over columns b); inf: the rows'.
    int64_t sum_axis = std::isinf(p) ? b : a, ext_axis = std::isinf(p) ? a : b;
    Output sums = ctx.make<op::ReduceSum>({ctx.make<op::Abs>({x}), ctx.i64({sum_axis})}, true);
    Output ext = p > 0 ? ctx.make<op::ReduceMax>({sums, ctx.i64({ext_axis})}, true)
                       : ctx.make<op::ReduceMin>({sums, ctx.i64({ext_axis})}, true);
    return keep ? ext : squeeze_axes(ctx, ext, sorted(a, b));
}

// An optional dtype argument converts first; integers are normed as f32, as torch rejects them.
Output norm_input(NodeContext& ctx, Output x, size_t dtype_i) {
    if (dtype_i < ctx.num_inputs() && !ctx.is_none(dtype_i)) x = to_type(ctx, x, torch_dtype(ctx, ctx.const_int(dtype_i)));
    if (!is_float(x.type())) x = to_type(ctx, x, Type::f32);
    return x;
}

// norm(x, p=2, dim=None, keepdim=False, dtype=None) / linalg_vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None)
Outs vector_norm(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), 4);
    if (ctx.kind() == "aten::norm" && ctx.num_inputs() == 3) x = norm_input(ctx, ctx.input(0), 2);  // norm(x, p, dtype)
    double p = ctx.num_inputs() > 1 && !ctx.is_none(1) ? ctx.const_float(1) : 2.0;
    bool has_dim = ctx.num_inputs() > 3;
    auto axes = has_dim ? dims_or_all(ctx, x, 2) : dims_or_all(ctx, x, ctx.num_inputs());
    bool keep = has_dim && ctx.const_bool(3);
    return {p_norm(ctx, x, p, axes, keep)};
}

// frobenius_norm(x, dim, keepdim)
Outs frobenius_norm(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), ctx.num_inputs());
    auto axes = dims_or_all(ctx, x, 1);
    bool keep = ctx.num_inputs() > 2 && ctx.const_bool(2);
    return {ctx.make<op::ReduceL2>({x, ctx.i64(axes)}, keep)};
}

// linalg_matrix_norm(x, ord='fro', dim=(-2, -1), keepdim=False, dtype=None)
Outs linalg_matrix_norm(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), 4);
    std::string ord;
    double p = 0;
    if (ctx.value(1).kind == TValue::Kind::constant && ctx.value(1).c.kind == ConstValue::Kind::string) ord = ctx.const_str(1);
    else p = ctx.const_float(1);
    auto dims = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_ints(2) : std::vector<int64_t>{-2, -1};
    ctx.check(dims.size() == 2, "a matrix norm needs two dims, got ", dims.size());
    bool keep = ctx.num_inputs() > 3 && ctx.const_bool(3);
    return {matrix_norm(ctx, x, ord, p, axis_of(ctx, x, dims[0]), axis_of(ctx, x, dims[1]), keep)};
}

// linalg_cond(A, p=None): for p None, 2, -2 the ratio of the extreme singular values (inf for a
// singular matrix, as torch); for 'fro', 'nuc', 1, -1, inf, -inf: norm(A, p) * norm(inv(A), p)
// (square A; a singular one is a run-time error of the inverse, where torch gives inf).
Outs linalg_cond(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), ctx.num_inputs());
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "linalg.cond needs matrices [..., M, N], got rank ", r);
    std::string ord;
    double p = 2.0;
    if (ctx.num_inputs() > 1 && !ctx.is_none(1)) {
        if (ctx.value(1).kind == TValue::Kind::constant && ctx.value(1).c.kind == ConstValue::Kind::string) ord = ctx.const_str(1);
        else p = ctx.const_float(1);
    }
    if (ord.empty() && std::abs(p) == 2.0) {
        Output sv = singular_values(ctx, x, r - 2, r - 1);
        Output hi = ctx.make<op::ReduceMax>({sv, ctx.i64({-1})}, false);
        Output lo = ctx.make<op::ReduceMin>({sv, ctx.i64({-1})}, false);
        return {p > 0 ? ctx.make<op::Divide>({hi, lo}) : ctx.make<op::Divide>({lo, hi})};
    }
    Output inv = ctx.make<op::Inverse>({x}, false);
    return {ctx.make<op::Multiply>({matrix_norm(ctx, x, ord, p, r - 2, r - 1, false),
                                    matrix_norm(ctx, inv, ord, p, r - 2, r - 1, false)})};
}

// nuclear_norm(x, keepdim=False) / nuclear_norm(x, dim, keepdim=False): the sum of singular values.
Outs nuclear_norm(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), ctx.num_inputs());
    bool has_dim = ctx.num_inputs() > 2;
    auto dims = has_dim ? ctx.const_ints(1) : std::vector<int64_t>{-2, -1};
    ctx.check(dims.size() == 2, "nuclear_norm needs two dims, got ", dims.size());
    bool keep = ctx.const_bool(has_dim ? 2 : 1);
    return {matrix_norm(ctx, x, "nuc", 0, axis_of(ctx, x, dims[0]), axis_of(ctx, x, dims[1]), keep)};
}

// linalg_norm(x, ord=None, dim=None, keepdim=False, dtype=None): a vector norm for one dim (or
// none, ord None: of all elements), a matrix norm for two (or none, a 2-D input and an ord).
Outs linalg_norm(NodeContext& ctx) {
    Output x = norm_input(ctx, ctx.input(0), 4);
    bool keep = ctx.num_inputs() > 3 && ctx.const_bool(3);
    std::string ord;
    bool has_ord = ctx.num_inputs() > 1 && !ctx.is_none(1);
    double p = 2.0;
    if (has_ord) {
        if (ctx.value(1).kind == TValue::Kind::constant && ctx.value(1).c.kind == ConstValue::Kind::string) ord = ctx.const_str(1);
        else p = ctx.const_float(1);
    }
    std::vector<int64_t> dims;
    bool has_dim = ctx.num_inputs() > 2 && !ctx.is_none(2);
    if (has_dim) dims = ctx.const_ints(2);
    int64_t r = static_rank(ctx, x);
    if (!has_dim) {
        if (!has_ord) return {p_norm(ctx, x, 2.0, dims_or_all(ctx, x, ctx.num_inputs()), keep)};
        ctx.check(r == 1 || r == 2, "an ord without dim needs a 1-D or 2-D input, got rank ", r);
        if (r == 2) dims = {0, 1};
        else dims = {0};
    }
    if (dims.size() == 1) {
        ctx.check(ord.empty(), "ord '", ord, "' is a matrix norm, but one dim was given");
        return {p_norm(ctx, x, p, {axis_of(ctx, x, dims[0])}, keep)};
    }
    ctx.check(dims.size() == 2, "linalg.norm takes one or two dims, got ", dims.size());
    if (!has_ord) ord = "fro";
    return {matrix_norm(ctx, x, ord, p, axis_of(ctx, x, dims[0]), axis_of(ctx, x, dims[1]), keep)};
}

// std/var(x, unbiased) / (x, dim, unbiased, keepdim) / (x, dim, correction=, keepdim) and the
// _mean forms: sum((x - mean)^2) / max(N - correction, 0) over the dims, N their element count.
Outs variance(NodeContext& ctx, bool is_std, bool with_mean) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "std and var take floating point tensors, got ", type_name(x.type()));
    size_t dim_i = 1, corr_i = 2, keep_i = 3;
    if (ctx.num_inputs() == 2) {  // (x, unbiased)
        dim_i = ctx.num_inputs();
        corr_i = 1;
        keep_i = ctx.num_inputs();
    }
    auto axes = dims_or_all(ctx, x, dim_i);
    double correction = 1.0;
    if (corr_i < ctx.num_inputs() && !ctx.is_none(corr_i)) {
        const TValue& c = ctx.value(corr_i);
        if (c.kind == TValue::Kind::constant && c.c.kind == ConstValue::Kind::boolean) correction = c.c.b ? 1.0 : 0.0;
        else correction = ctx.const_float(corr_i);
    }
    bool keep = keep_i < ctx.num_inputs() && ctx.const_bool(keep_i);
    Output ax = ctx.i64(axes);
    Output mean = ctx.make<op::ReduceMean>({x, ax}, true);
    Output d = ctx.make<op::Subtract>({x, mean});
    Output ss = ctx.make<op::ReduceSum>({ctx.make<op::Multiply>({d, d}), ax}, keep);
    Output n = ctx.make<op::ReduceProd>({ctx.make<op::Gather>({shape_of(ctx, x), ax, ctx.i64_scalar(0)}, int64_t{0}),
                                         ctx.i64({0})}, false);
    Output denom = ctx.make<op::Maximum>({ctx.make<op::Subtract>({to_type(ctx, n, x.type()), typed_scalar(ctx, x.type(), correction)}),
                                          typed_scalar(ctx, x.type(), 0.0)});
    Output v = ctx.make<op::Divide>({ss, denom});
    if (is_std) v = ctx.make<op::Sqrt>({v});
    if (!with_mean) return {v};
    return {v, keep ? mean : squeeze_axes(ctx, mean, axes)};
}

// cdist(x1 [..., P, M], x2 [..., R, M], p=2, compute_mode) -> [..., P, R]
Outs cdist(NodeContext& ctx) {
    Output a = ctx.input(0), b = ctx.input(1);
    ctx.check(is_float(a.type()) && is_float(b.type()), "cdist takes floating point tensors");
    double p = ctx.num_inputs() > 2 && !ctx.is_none(2) ? ctx.const_float(2) : 2.0;
    ctx.check(p >= 0, "cdist needs p >= 0, got ", p);
    Output diff = ctx.make<op::Subtract>({ctx.make<op::Unsqueeze>({a, ctx.i64({-2})}), ctx.make<op::Unsqueeze>({b, ctx.i64({-3})})});
    return {p_norm(ctx, diff, p, {static_rank(ctx, diff) - 1}, false)};
}

// pairwise_distance(x1, x2, p=2, eps=1e-6, keepdim=False) = ||x1 - x2 + eps||_p over the last dim
Outs pairwise_distance(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if (!is_float(a.type())) {
        a = to_type(ctx, a, Type::f32);
        b = to_type(ctx, b, Type::f32);
    }
    double p = ctx.num_inputs() > 2 ? ctx.const_float(2) : 2.0;
    double eps = ctx.num_inputs() > 3 ? ctx.const_float(3) : 1e-6;
    bool keep = ctx.num_inputs() > 4 && ctx.const_bool(4);
    Output d = ctx.make<op::Add>({ctx.make<op::Subtract>({a, b}), typed_scalar(ctx, a.type(), eps)});
    int64_t r = static_rank(ctx, d);
    if (r == 0) return {ctx.make<op::Abs>({d})};
    return {p_norm(ctx, d, p, {r - 1}, keep)};
}

// cosine_similarity(x1, x2, dim=1, eps=1e-8): both broadcast, each divided by its norm clamped
// to eps, then the products summed over dim (torch's order of operations).
Outs cosine_similarity(NodeContext& ctx) {
    auto [a, b] = promoted(ctx, 0, 1);
    if (!is_float(a.type())) {
        a = to_type(ctx, a, Type::f32);
        b = to_type(ctx, b, Type::f32);
    }
    int64_t dim = ctx.num_inputs() > 2 ? ctx.const_int(2) : 1;
    double eps = ctx.num_inputs() > 3 ? ctx.const_float(3) : 1e-8;
    Output shape = shape_of(ctx, ctx.make<op::Add>({a, b}));
    a = ctx.make<op::Broadcast>({a, shape}, op::BroadcastMode::numpy);
    b = ctx.make<op::Broadcast>({b, shape}, op::BroadcastMode::numpy);
    int64_t d = axis_of(ctx, a, dim);
    auto unit = [&](const Output& v) {
        Output n = ctx.make<op::ReduceL2>({v, ctx.i64({d})}, true);
        return ctx.make<op::Divide>({v, ctx.make<op::Maximum>({n, typed_scalar(ctx, v.type(), eps)})});
    };
    return {ctx.make<op::ReduceSum>({ctx.make<op::Multiply>({unit(a), unit(b)}), ctx.i64({d})}, false)};
}

// instance_norm(x, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn):
// each (n, c) plane normalized by its own statistics, or by the running ones (eval with
// track_running_stats), then the optional per-channel affine.
Outs instance_norm(NodeContext& ctx) {
    Output x = ctx.input(0);
    int64_t r = static_rank(ctx, x);
    ctx.check(r >= 2, "instance_norm needs [N, C, ...], got rank ", r);
    bool use_input_stats = ctx.const_bool(5);
    double eps = ctx.const_float(7);
    std::vector<int64_t> cs{-1};
    for (int64_t i = 2; i < r; ++i) cs.push_back(1);
    auto channel = [&](size_t i) { return ctx.make<op::Reshape>({ctx.input(i), ctx.i64(cs)}, false); };
    Output y;
    if (use_input_stats) {
        std::vector<int64_t> axes;
        for (int64_t i = 2; i < r; ++i) axes.push_back(i);
        y = axes.empty() ? ctx.make<op::Multiply>({x, typed_scalar(ctx, x.type(), 0.0)})
                         : ctx.make<op::MVN>({x, ctx.i64(axes)}, true, eps, op::MVNEpsMode::inside_sqrt);
    } else {
        ctx.check(ctx.has_input(3) && ctx.has_input(4), "instance_norm without input statistics needs running_mean and running_var");
        Output inv = ctx.make<op::Sqrt>({ctx.make<op::Add>({channel(4), typed_scalar(ctx, x.type(), eps)})});
        y = ctx.make<op::Divide>({ctx.make<op::Subtract>({x, channel(3)}), inv});
    }
    return {channel_affine(ctx, y, r, 1, 2)};
}

// nansum(x, dim, keepdim, dtype) / nanmean: NaNs count as zero (nanmean: and are not counted).
Output without_nan(NodeContext& ctx, const Output& x) {
    if (!is_float(x.type())) return x;
    return ctx.make<op::Select>({ctx.make<op::IsNaN>({x}), typed_scalar(ctx, x.type(), 0.0), x});
}

// reduce<ReduceSum> of `x` in place of input 0 (the reduce reads its dims and dtype from the
// node's other inputs); input 0 is given back after, as the graph's other readers see it.
Output sum_of(NodeContext& ctx, const Output& x) {
    const TValue saved = ctx.value(0);
    ctx.set_input_value(0, TValue(x));
    Outs r;
    try {
        r = reduce<op::ReduceSum>(ctx);
    } catch (...) {
        ctx.set_input_value(0, saved);
        throw;
    }
    ctx.set_input_value(0, saved);
    return r[0].out;
}

Outs nansum(NodeContext& ctx) { return {sum_of(ctx, without_nan(ctx, ctx.input(0)))}; }

Outs nanmean(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()) || (ctx.num_inputs() > 3 && !ctx.is_none(3)),
              "nanmean needs a floating tensor or dtype=, got ", type_name(x.type()));
    Output kept = to_type(ctx, ctx.make<op::LogicalNot>({ctx.make<op::IsNaN>({x})}), x.type());
    Output sum = sum_of(ctx, without_nan(ctx, x));
    Output count = sum_of(ctx, kept);
    return {ctx.make<op::Divide>({sum, to_type(ctx, count, sum.type())}, false)};
}

// aminmax(x, *, dim=None, keepdim=False) -> (min, max)
Outs aminmax(NodeContext& ctx) {
    Output x = ctx.input(0);
    const bool keep = ctx.num_inputs() > 2 && !ctx.is_none(2) && ctx.const_bool(2);
    const int64_t r = static_rank(ctx, x);
    std::vector<int64_t> axes;
    if (ctx.num_inputs() > 1 && !ctx.is_none(1)) axes.push_back(axis_of(ctx, x, ctx.const_int(1)));
    else
        for (int64_t i = 0; i < r; ++i) axes.push_back(i);
    if (r == 0) return {x, x};
    Output a = ctx.i64(axes);
    if (x.type() == Type::boolean) {
        Output b = to_type(ctx, x, Type::u8);
        return {to_type(ctx, ctx.make<op::ReduceMin>({b, a}, keep), Type::boolean),
                to_type(ctx, ctx.make<op::ReduceMax>({b, a}, keep), Type::boolean)};
    }
    return {ctx.make<op::ReduceMin>({x, a}, keep), ctx.make<op::ReduceMax>({x, a}, keep)};
}

// logcumsumexp(x, dim): kiln's LogCumSumExp scan (ops/scan.hpp)
Outs logcumsumexp(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "logcumsumexp needs a floating tensor, got ", type_name(x.type()));
    if (static_rank(ctx, x) == 0) return {x};
    const int64_t d = axis_of(ctx, x, ctx.const_int(1));
    return {ctx.make<op::LogCumSumExp>({x, ctx.i64_scalar(d)})};
}

// renorm(x, p, dim, maxnorm): each slice along dim whose p-norm exceeds maxnorm is scaled to
// maxnorm (by maxnorm / (norm + 1e-7), as torch does).
Outs renorm(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(is_float(x.type()), "renorm needs a floating tensor, got ", type_name(x.type()));
    const double p = ctx.const_float(1);
    const int64_t r = static_rank(ctx, x);
    const int64_t d = axis_of(ctx, x, ctx.const_int(2));
    const double maxnorm = ctx.const_float(3);
    std::vector<int64_t> others;
    for (int64_t i = 0; i < r; ++i)
        if (i != d) others.push_back(i);
    Output norm = others.empty() ? ctx.make<op::Abs>({x}) : p_norm(ctx, x, p, others, true);
    Output factor = ctx.make<op::Divide>({typed_scalar(ctx, x.type(), maxnorm),
                                          ctx.make<op::Add>({norm, typed_scalar(ctx, x.type(), 1e-7)})}, false);
    Output over = ctx.make<op::Greater>({norm, typed_scalar(ctx, x.type(), maxnorm)});
    return {ctx.make<op::Multiply>({x, ctx.make<op::Select>({over, factor, typed_scalar(ctx, x.type(), 1.0)})})};
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
    t["aten::nansum"] = nansum;
    t["aten::nanmean"] = nanmean;
    t["aten::aminmax"] = aminmax;
    t["aten::logcumsumexp"] = in_f32<logcumsumexp>;
    t["aten::renorm"] = t["aten::renorm_"] = in_f32<renorm>;
    t["aten::batch_norm"] = batch_norm;
    t["aten::_native_batch_norm_legit_no_training"] = native_batch_norm_no_training;
    t["aten::layer_norm"] = layer_norm;
    t["aten::group_norm"] = group_norm;
    t["aten::rms_norm"] = rms_norm;
    t["aten::native_layer_norm"] = native_layer_norm;
    t["aten::native_group_norm"] = native_group_norm;
    t["aten::_native_batch_norm_legit"] = native_batch_norm_legit;
    t["aten::_softmax"] = core_softmax<op::Softmax>;
    t["aten::_log_softmax"] = core_softmax<op::LogSoftmax>;
    t["aten::softmax"] = softmax<op::Softmax>;
    t["aten::log_softmax"] = softmax<op::LogSoftmax>;
    t["aten::mean"] = reduce<op::ReduceMean>;
    t["aten::sum"] = reduce<op::ReduceSum>;
    t["aten::amax"] = reduce<op::ReduceMax>;
    t["aten::amin"] = reduce<op::ReduceMin>;
    t["aten::prod"] = reduce<op::ReduceProd>;
    t["aten::norm"] = t["aten::linalg_vector_norm"] = in_f32<vector_norm>;
    t["aten::frobenius_norm"] = in_f32<frobenius_norm>;
    t["aten::linalg_matrix_norm"] = in_f32<linalg_matrix_norm>;
    t["aten::nuclear_norm"] = in_f32<nuclear_norm>;
    t["aten::linalg_cond"] = in_f32<linalg_cond>;
    t["aten::linalg_norm"] = in_f32<linalg_norm>;
    t["aten::std"] = [](NodeContext& c) { return variance(c, true, false); };
    t["aten::var"] = [](NodeContext& c) { return variance(c, false, false); };
    t["aten::std_mean"] = [](NodeContext& c) { return variance(c, true, true); };
    t["aten::var_mean"] = [](NodeContext& c) { return variance(c, false, true); };
    t["aten::cdist"] = t["aten::_cdist_forward"] = cdist;
    t["aten::pairwise_distance"] = pairwise_distance;
    t["aten::cosine_similarity"] = cosine_similarity;
    t["aten::instance_norm"] = instance_norm;
    t["aten::max"] = [](NodeContext& c) { return max_min(c, true); };
    t["aten::min"] = [](NodeContext& c) { return max_min(c, false); };
}

}  // namespace kiln::frontend::pytorch
