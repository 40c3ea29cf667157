#include "kiln/ops/internal/fused.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "kiln/ops/matmul.hpp"

namespace kiln::op {

namespace {
std::string fmt_double(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
}  // namespace

std::string post_ops_to_string(const std::vector<PostOp>& ops) {
    std::string s;
    for (auto& p : ops) {
        if (!s.empty()) s += ';';
        if (p.sum) {
            s += "sum";
            continue;
        }
        s += activation_name(p.act.kind);
        int n = activation_param_count(p.act.kind);
        if (n >= 1) s.append(1, ':').append(fmt_double(p.act.alpha));
        if (n >= 2) s.append(1, ':').append(fmt_double(p.act.beta));
    }
    return s;
}

std::vector<PostOp> post_ops_from_string(const std::string& s) {
    std::vector<PostOp> r;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ';')) {
        if (item.empty()) continue;
        std::vector<std::string> parts;
        std::stringstream is(item);
        std::string part;
        while (std::getline(is, part, ':')) parts.push_back(part);
        if (parts[0] == "sum" && parts.size() == 1) {
            r.push_back(PostOp::residual());
            continue;
        }
        auto kind = activation_from_name(parts[0]);
        if (!kind) throw ValueError(str_cat("post_ops: unknown post-op '", parts[0], "' in '", s, "'"));
        PostOp p(*kind);
        int n = activation_param_count(*kind);
        if (static_cast<int>(parts.size()) != n + 1)
            throw ValueError(str_cat("post_ops: '", item, "' needs ", n, " parameters"));
        try {
            if (n >= 1) p.act.alpha = std::stod(parts[1]);
            if (n >= 2) p.act.beta = std::stod(parts[2]);
        } catch (const std::exception&) {
            throw ValueError(str_cat("post_ops: bad number in '", item, "'"));
        }
        r.push_back(p);
    }
    return r;
}

bool has_sum(const std::vector<PostOp>& ops) {
    for (auto& p : ops)
        if (p.sum) return true;
    return false;
}

namespace {

void visit_post_ops(AttributeVisitor& v, std::vector<PostOp>& ops) {
    std::string s = post_ops_to_string(ops);
    v.on("post_ops", s);
    ops = post_ops_from_string(s);
}

// Shared input checks of the fused ops: bias and residual inputs after the first two.
size_t check_extra_inputs(InferContext& ctx, bool with_bias, const std::vector<PostOp>& ops) {
    size_t n = 2 + (with_bias ? 1 : 0) + (has_sum(ops) ? 1 : 0);
    ctx.check_inputs(n);
    int sums = 0;
    for (auto& p : ops) sums += p.sum;
    if (sums > 1) ctx.fail("post_ops has ", sums, " sums, at most 1 is supported");
    return n;
}

void check_residual(InferContext& ctx, size_t i, const PartialShape& out) {
    if (!PartialShape::merge(ctx.input_shape(i), out))
        ctx.fail("residual input ", ctx.input_shape(i).to_string(),
                 " does not match the output shape ", out.to_string());
}

void check_bias(InferContext& ctx, const Dimension& channels) {
    const PartialShape& b = ctx.input_shape(2);
    if (b.rank_is_static() && (b.rank() != 1 || !Dimension::merge(b[0], channels)))
        ctx.fail("bias must be [", channels.to_string(), "], got ", b.to_string());
}

// bias, then post-ops in order; `inner` is the length of the run that shares one bias value
// (spatial size for conv, 1 for matmul), `channels` the bias period.
template <typename T>
void apply_chain(T* y, int64_t total, int64_t channels, int64_t inner, const T* bias,
                 const T* residual, const std::vector<PostOp>& ops) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total; ++i) {
        double v = y[i];
        if (bias) v += bias[(i / inner) % channels];
        for (auto& p : ops) {
            if (p.sum) v += residual[i];
            else v = activation_value(p.act, v);
            // Each step rounds to T, as an unfused graph does.
            v = static_cast<T>(v);
        }
        y[i] = static_cast<T>(v);
    }
}

void check_float(const Node& n, Type t) {
    if (t != Type::f32 && t != Type::f64)
        throw Error(str_cat("[", n.type_name(), " ", n.name(), "] element type ", kiln::type_name(t),
                            " has no reference kernel (f32, f64)"));
}

}  // namespace

// ---- FusedConvolution

void FusedConvolution::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
    v.on("dilations", dilations);
    visit_pad_type(v, "auto_pad", auto_pad);
    v.on("group", group);
    v.on("with_bias", with_bias);
    visit_post_ops(v, post_ops);
}

void FusedConvolution::infer(InferContext& ctx) const {
    size_t n = check_extra_inputs(ctx, with_bias, post_ops);
    if (group < 1) ctx.fail("group must be positive, got ", group);
    infer_conv(ctx, ctx.input_shape(1), Dimension(group), strides, pads_begin, pads_end,
               dilations, auto_pad);
    const PartialShape out = ctx.outputs().at(0).shape;
    if (with_bias) check_bias(ctx, out.rank_is_static() ? out[1] : Dimension());
    if (has_sum(post_ops)) check_residual(ctx, n - 1, out);
}

void FusedConvolution::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor &x = in[0], &w = in[1];
    check_float(*this, x.type());
    Shape kernel(w.shape().begin() + 2, w.shape().end());
    auto g = window::resolve(x.shape(), out[0].shape(), kernel, strides, dilations, pads_begin,
                             pads_end, auto_pad);
    const Tensor* bias = with_bias ? &in[2] : nullptr;
    const Tensor* res = has_sum(post_ops) ? &in.back() : nullptr;
    int64_t inner = g.out[0] * g.out[1] * g.out[2];
    auto run = [&](auto zero) {
        using T = decltype(zero);
        T* y = out[0].data<T>();
        conv_reference<T>(g, group, x.data<T>(), w.data<T>(), nullptr, y);
        apply_chain<T>(y, out[0].size(), g.c_out, inner, bias ? bias->data<T>() : nullptr,
                       res ? res->data<T>() : nullptr, post_ops);
    };
    if (x.type() == Type::f32) run(float{});
    else run(double{});
}

// ---- FusedMatMul

void FusedMatMul::visit_attributes(AttributeVisitor& v) {
    v.on("transpose_a", transpose_a);
    v.on("transpose_b", transpose_b);
    v.on("with_bias", with_bias);
    visit_post_ops(v, post_ops);
}

void FusedMatMul::infer(InferContext& ctx) const {
    size_t n = check_extra_inputs(ctx, with_bias, post_ops);
    Type t = ctx.input_type(0), tb = ctx.input_type(1);
    if (t == Type::dynamic) t = tb;
    else if (tb != Type::dynamic && tb != t)
        ctx.fail("element types differ: A is ", kiln::type_name(t), ", B is ", kiln::type_name(tb));
    auto out = matmul_shape(ctx, ctx.input_shape(0), ctx.input_shape(1), transpose_a, transpose_b);
    const PartialShape& b = ctx.input_shape(1);
    if (with_bias) {
        Dimension nd;
        if (b.rank_is_static())
            nd = b.rank() == 1 ? Dimension(1) : transpose_b ? b[b.size() - 2] : b[b.size() - 1];
        check_bias(ctx, nd);
    }
    if (has_sum(post_ops)) check_residual(ctx, n - 1, out);
    ctx.set_output(0, t, out);
}

void FusedMatMul::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor &a = in[0], &b = in[1];
    check_float(*this, a.type());
    const Tensor* bias = with_bias ? &in[2] : nullptr;
    const Tensor* res = has_sum(post_ops) ? &in.back() : nullptr;
    int64_t n = bias ? bias->size() : 1;
    auto run = [&](auto zero) {
        using T = decltype(zero);
        T* y = out[0].data<T>();
        matmul_reference<T>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), transpose_a,
                            transpose_b, y, out[0].shape());
        apply_chain<T>(y, out[0].size(), n, 1, bias ? bias->data<T>() : nullptr,
                       res ? res->data<T>() : nullptr, post_ops);
    };
    if (a.type() == Type::f32) run(float{});
    else run(double{});
}

}  // namespace kiln::op
