#include "kiln/ops/internal/int8.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "kiln/ops/infer_util.hpp"
#include "kiln/ops/matmul.hpp"

namespace kiln::op {

int64_t int_min(Type t) { return t == Type::i8 ? -128 : 0; }
int64_t int_max(Type t) { return t == Type::i8 ? 127 : 255; }

namespace {

bool is_int8(Type t) { return t == Type::u8 || t == Type::i8; }

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> r;
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, sep)) r.push_back(part);
    return r;
}

void check_quantized_input(InferContext& ctx, size_t i, const char* what) {
    const Type t = ctx.input_type(i);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || is_int8(t), what, " must be u8 or i8, got ", kiln::type_name(t));
}

void check_f32_input(InferContext& ctx, size_t i, const char* what) {
    const Type t = ctx.input_type(i);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || t == Type::f32, what, " must be f32, got ", kiln::type_name(t));
}

void check_range(InferContext& ctx, Type t, int64_t lo, int64_t hi, const char* what) {
    KILN_INFER_CHECK(ctx, is_int8(t), what, " type must be u8 or i8, got ", kiln::type_name(t));
    KILN_INFER_CHECK(ctx, int_min(t) <= lo && lo <= hi && hi <= int_max(t), what, " range [", lo, ", ", hi,
                     "] is not within ", kiln::type_name(t), "'s [", int_min(t), ", ", int_max(t), "]");
}

void check_channels(InferContext& ctx, size_t i, const Dimension& channels, const char* what, bool one_ok) {
    const PartialShape& s = ctx.input_shape(i);
    if (!s.rank_is_static()) return;
    const bool ok = s.rank() == 1 && (Dimension::merge(s[0], channels) || (one_ok && s[0] == Dimension(1)));
    KILN_INFER_CHECK(ctx, ok, what, " must be [", channels.to_string(), "]", one_ok ? " or [1]" : "", ", got ",
                     s.to_string());
}

}  // namespace

// ---- post-ops

bool QuantPostOp::operator==(const QuantPostOp& o) const {
    if (kind != o.kind) return false;
    if (kind == Kind::activation) return activation == o.activation;
    if (kind == Kind::fq)
        return s_in == o.s_in && offset == o.offset && s_out == o.s_out && lo == o.lo && hi == o.hi && zp == o.zp;
    return true;
}

std::string quant_post_ops_to_string(const std::vector<QuantPostOp>& ops) {
    std::string s;
    for (auto& p : ops) {
        if (!s.empty()) s += ';';
        switch (p.kind) {
            case QuantPostOp::Kind::activation: s += post_ops_to_string({p.activation}); break;
            case QuantPostOp::Kind::sum: s += "sum"; break;
            case QuantPostOp::Kind::fq:
                s += str_cat("fq:", fmt(p.s_in), ":", fmt(p.offset), ":", p.lo, ":", p.hi, ":", fmt(p.s_out), ":", p.zp);
                break;
        }
    }
    return s;
}

std::vector<QuantPostOp> quant_post_ops_from_string(const std::string& s) {
    std::vector<QuantPostOp> r;
    for (auto& item : split(s, ';')) {
        if (item.empty()) continue;
        QuantPostOp p;
        if (item == "sum") {
            p.kind = QuantPostOp::Kind::sum;
        } else if (item.rfind("fq:", 0) == 0) {
            auto parts = split(item, ':');
            if (parts.size() != 7) throw ValueError(str_cat("post_ops: '", item, "' needs 6 parameters"));
            try {
                p.kind = QuantPostOp::Kind::fq;
                p.s_in = std::stod(parts[1]);
                p.offset = std::stod(parts[2]);
                p.lo = std::stoll(parts[3]);
                p.hi = std::stoll(parts[4]);
                p.s_out = std::stod(parts[5]);
                p.zp = std::stoll(parts[6]);
            } catch (const std::exception&) {
                throw ValueError(str_cat("post_ops: bad number in '", item, "'"));
            }
        } else {
            auto a = post_ops_from_string(item);
            if (a.size() != 1 || a[0].sum)
                throw ValueError(str_cat("post_ops: bad entry '", item, "'"));
            p.activation = a[0];
        }
        r.push_back(p);
    }
    return r;
}

// ---- epilogue

bool Int8Epilogue::has_sum() const {
    for (auto& p : post_ops)
        if (p.kind == QuantPostOp::Kind::sum) return true;
    return false;
}

void Int8Epilogue::visit(AttributeVisitor& v) {
    std::string s = quant_post_ops_to_string(post_ops);
    v.on("post_ops", s);
    if (v.reading()) post_ops = quant_post_ops_from_string(s);
    v.on("residual_scale", residual_scale);
    v.on("residual_zero_point", residual_zero_point);
    v.on("output_type", output_type);
    v.on("output_scale", output_scale);
    v.on("output_zero_point", output_zero_point);
    v.on("output_qmin", output_qmin);
    v.on("output_qmax", output_qmax);
    v.on("output_multiplier", output_multiplier);
}

size_t Int8Epilogue::check(InferContext& ctx) const {
    int sums = 0;
    for (auto& p : post_ops) {
        sums += p.kind == QuantPostOp::Kind::sum;
        if (p.kind == QuantPostOp::Kind::fq)
            KILN_INFER_CHECK(ctx, p.s_in > 0 && p.s_out > 0 && p.lo <= p.hi, "fq post-op needs positive scales and lo <= hi");
    }
    KILN_INFER_CHECK(ctx, sums <= 1, "post_ops has ", sums, " sums, at most 1 is supported");
    KILN_INFER_CHECK(ctx, output_type == Type::f32 || is_int8(output_type), "output_type must be f32, u8 or i8, got ",
                     kiln::type_name(output_type));
    if (output_type != Type::f32) {
        check_range(ctx, output_type, output_qmin, output_qmax, "output");
        KILN_INFER_CHECK(ctx, output_scale > 0, "output_scale must be positive, got ", output_scale);
    }
    return static_cast<size_t>(sums);
}

void int8_output_scales(double x_scale, const float* w_scale, int64_t w_scales, int64_t channels, const float* bias,
                        std::vector<float>& osc, std::vector<float>& bias_acc) {
    osc.resize(static_cast<size_t>(channels));
    bias_acc.assign(static_cast<size_t>(channels), 0.f);
    for (int64_t c = 0; c < channels; ++c) {
        const double s = x_scale * static_cast<double>(w_scale[w_scales == 1 ? 0 : c]);
        osc[c] = static_cast<float>(s);
        if (bias) bias_acc[c] = static_cast<float>(static_cast<double>(bias[c]) / s);
    }
}

void Int8Epilogue::apply(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner, const float* osc,
                         const float* bias_acc, const Tensor* residual, Tensor& out) const {
    const int64_t total = outer * channels * inner;
    const bool quantized_residual = residual && is_int8(residual->type());
    const float rscale = static_cast<float>(residual_scale);
    std::vector<float> o_k(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c)
        o_k[c] = static_cast<float>((output_multiplier.empty() ? 1.0 : output_multiplier.at(c)) / output_scale);
    const float o_zp = static_cast<float>(output_zero_point);
    const float o_lo = static_cast<float>(output_qmin), o_hi = static_cast<float>(output_qmax);
    struct Fq {
        float k, off, lo, hi, s, b;
    };
    std::vector<Fq> fqs;
    for (auto& p : post_ops)
        if (p.kind == QuantPostOp::Kind::fq)
            fqs.push_back(Fq{static_cast<float>(1.0 / p.s_in), static_cast<float>(p.offset), static_cast<float>(p.lo),
                             static_cast<float>(p.hi), static_cast<float>(p.s_out),
                             static_cast<float>(-static_cast<double>(p.zp) * p.s_out)});
    auto residual_at = [&](int64_t i) -> float {
        if (!quantized_residual) return residual->data<float>()[i];
        const int64_t r = residual->type() == Type::u8 ? residual->data<uint8_t>()[i] : residual->data<int8_t>()[i];
        return static_cast<float>(r - residual_zero_point) * rscale;
    };
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total; ++i) {
        const int64_t c = (i / inner) % channels;
        float v = (static_cast<float>(acc[i]) + bias_acc[c]) * osc[c];
        size_t f = 0;
        for (auto& p : post_ops) {
            switch (p.kind) {
                case QuantPostOp::Kind::activation: v = static_cast<float>(activation_value(p.activation.act, v)); break;
                case QuantPostOp::Kind::sum: v = v + residual_at(i); break;
                case QuantPostOp::Kind::fq: {
                    const Fq& q = fqs[f++];
                    v = std::fma(quantize_level(v, q.k, q.off, q.lo, q.hi), q.s, q.b);
                    break;
                }
            }
        }
        switch (output_type) {
            case Type::u8: out.data<uint8_t>()[i] = static_cast<uint8_t>(quantize_level(v, o_k[c], o_zp, o_lo, o_hi)); break;
            case Type::i8: out.data<int8_t>()[i] = static_cast<int8_t>(quantize_level(v, o_k[c], o_zp, o_lo, o_hi)); break;
            default: out.data<float>()[i] = v; break;
        }
    }
}

// ---- Quantize

void Quantize::visit_attributes(AttributeVisitor& v) {
    v.on("destination_type", destination_type);
    v.on("scale", scale);
    v.on("zero_point", zero_point);
    v.on("qmin", qmin);
    v.on("qmax", qmax);
    v.on("axis", axis);
    v.on("relu", relu);
}

void Quantize::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 3);
    check_f32_input(ctx, 0, "x");
    check_range(ctx, destination_type, qmin, qmax, "destination");
    KILN_INFER_CHECK(ctx, scale > 0 && std::isfinite(scale), "scale must be positive, got ", scale);
    const PartialShape& x = ctx.input_shape(0);
    static const char* const names[] = {"x", "multiplier", "bias"};
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        check_f32_input(ctx, i, names[i]);
        if (x.rank_is_static()) {
            const int64_t r = x.rank();
            KILN_INFER_CHECK(ctx, axis >= -r && axis < r, "axis ", axis, " is out of range for rank ", r);
            check_channels(ctx, i, x[axis < 0 ? axis + r : axis], names[i], true);
        }
    }
    ctx.set_output(0, destination_type, x);
}

QuantizeLevels quantize_levels(const Quantize& q, const Tensor* multiplier, const Tensor* bias, int64_t channels) {
    QuantizeLevels l;
    l.k.resize(static_cast<size_t>(channels));
    l.offset.resize(static_cast<size_t>(channels));
    auto at = [](const Tensor* t, int64_t c, double none) {
        return t ? static_cast<double>(t->data<float>()[t->size() == 1 ? 0 : c]) : none;
    };
    for (int64_t c = 0; c < channels; ++c) {
        l.k[c] = static_cast<float>(at(multiplier, c, 1.0) / q.scale);
        l.offset[c] = static_cast<float>(q.zero_point + at(bias, c, 0.0) / q.scale);
    }
    l.lo = static_cast<float>(q.relu ? std::max(static_cast<double>(q.qmin), q.zero_point) : static_cast<double>(q.qmin));
    l.hi = static_cast<float>(q.qmax);
    return l;
}

void Quantize::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& x = in[0];
    const Shape& s = x.shape();
    int64_t channels = 1, inner = 1;
    if (in.size() >= 2 && !s.empty()) {
        const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(s.size()) : axis;
        channels = s[ax];
        for (size_t i = static_cast<size_t>(ax) + 1; i < s.size(); ++i) inner *= s[i];
    }
    const auto l = quantize_levels(*this, in.size() >= 2 ? &in[1] : nullptr, in.size() >= 3 ? &in[2] : nullptr, channels);
    const float* px = x.data<float>();
    const int64_t n = x.size();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = (i / inner) % channels;
        const float q = quantize_level(px[i], l.k[c], l.offset[c], l.lo, l.hi);
        if (destination_type == Type::u8) out[0].data<uint8_t>()[i] = static_cast<uint8_t>(q);
        else out[0].data<int8_t>()[i] = static_cast<int8_t>(q);
    }
}

// ---- Dequantize

void Dequantize::visit_attributes(AttributeVisitor& v) {
    v.on("scale", scale);
    v.on("zero_point", zero_point);
    v.on("axis", axis);
}

void Dequantize::infer(InferContext& ctx) const {
    ctx.check_inputs(1, 2);
    check_quantized_input(ctx, 0, "q");
    KILN_INFER_CHECK(ctx, scale > 0 && std::isfinite(scale), "scale must be positive, got ", scale);
    const PartialShape& x = ctx.input_shape(0);
    if (ctx.num_inputs() == 2) {
        check_f32_input(ctx, 1, "scale");
        if (x.rank_is_static()) {
            const int64_t r = x.rank();
            KILN_INFER_CHECK(ctx, axis >= -r && axis < r, "axis ", axis, " is out of range for rank ", r);
            check_channels(ctx, 1, x[axis < 0 ? axis + r : axis], "scale", true);
        }
    }
    ctx.set_output(0, Type::f32, x);
}

void Dequantize::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    float* y = out[0].data<float>();
    const Shape& sh = in[0].shape();
    const int64_t n = in[0].size();
    int64_t channels = 1, inner = 1;
    std::vector<float> s{static_cast<float>(scale)};
    if (in.size() == 2 && !sh.empty()) {
        const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(sh.size()) : axis;
        channels = sh[ax];
        for (size_t i = static_cast<size_t>(ax) + 1; i < sh.size(); ++i) inner *= sh[i];
        s.assign(static_cast<size_t>(channels), 0.f);
        for (int64_t c = 0; c < channels; ++c) s[c] = in[1].data<float>()[in[1].size() == 1 ? 0 : c];
    }
    for (int64_t i = 0; i < n; ++i) {
        const int64_t q = in[0].type() == Type::u8 ? in[0].data<uint8_t>()[i] : in[0].data<int8_t>()[i];
        y[i] = static_cast<float>(q - zero_point) * s[(i / inner) % channels];
    }
}

// ---- QuantizedConvolution

void QuantizedConvolution::visit_attributes(AttributeVisitor& v) {
    v.on("strides", strides);
    v.on("pads_begin", pads_begin);
    v.on("pads_end", pads_end);
    v.on("dilations", dilations);
    visit_pad_type(v, "auto_pad", auto_pad);
    v.on("group", group);
    v.on("x_scale", x_scale);
    v.on("x_zero_point", x_zero_point);
    v.on("with_bias", with_bias);
    epilogue.visit(v);
}

namespace {

// The shape of a conv / matmul computed in f32 by the float op's own inference.
InferContext float_context(InferContext& ctx, size_t n) {
    std::vector<TensorDesc> d;
    for (size_t i = 0; i < n; ++i) d.push_back(TensorDesc{Type::f32, ctx.input_shape(i)});
    return InferContext(ctx.node(), std::move(d));
}

void check_residual(InferContext& ctx, size_t i, const PartialShape& out) {
    const Type t = ctx.input_type(i);
    KILN_INFER_CHECK(ctx, t == Type::dynamic || t == Type::f32 || is_int8(t), "residual must be f32, u8 or i8, got ",
                     kiln::type_name(t));
    KILN_INFER_CHECK(ctx, PartialShape::merge(ctx.input_shape(i), out), "residual input ",
                     ctx.input_shape(i).to_string(), " does not match the output shape ", out.to_string());
}

// The checks both INT8 products end with, on the inputs after the data and the weights (the
// weight scale, the bias, the residual) and the epilogue, then the output: `channels` is the
// output's channel dimension, which the scale, bias and output multiplier follow.
void finish_infer(InferContext& ctx, const Int8Epilogue& epilogue, bool with_bias, size_t sums, const char* scale_name,
                  const Dimension& channels, const PartialShape& out) {
    check_f32_input(ctx, 2, scale_name);
    check_channels(ctx, 2, channels, scale_name, true);
    if (with_bias) {
        check_f32_input(ctx, 3, "bias");
        check_channels(ctx, 3, channels, "bias", false);
    }
    if (sums) check_residual(ctx, ctx.num_inputs() - 1, out);
    KILN_INFER_CHECK(ctx, epilogue.output_multiplier.empty() || !channels.is_static() ||
                              static_cast<int64_t>(epilogue.output_multiplier.size()) == channels.get_length(),
                     "output_multiplier has ", epilogue.output_multiplier.size(), " values for ", channels.to_string(),
                     " channels");
    ctx.set_output(0, epilogue.output_type, out);
}

}  // namespace

void QuantizedConvolution::infer(InferContext& ctx) const {
    const size_t sums = epilogue.check(ctx);
    const size_t n = 3 + (with_bias ? 1 : 0) + sums;
    ctx.check_inputs(n);
    check_quantized_input(ctx, 0, "x");
    const Type wt = ctx.input_type(1);
    KILN_INFER_CHECK(ctx, wt == Type::dynamic || wt == Type::i8, "weights must be i8, got ", kiln::type_name(wt));
    KILN_INFER_CHECK(ctx, group >= 1, "group must be positive, got ", group);
    KILN_INFER_CHECK(ctx, x_scale > 0, "x_scale must be positive, got ", x_scale);
    InferContext f = float_context(ctx, 2);
    infer_conv(f, ctx.input_shape(1), Dimension(group), strides, pads_begin, pads_end, dilations, auto_pad);
    const PartialShape out = f.outputs().at(0).shape;
    const Dimension channels = out.rank_is_static() ? out[1] : Dimension();
    finish_infer(ctx, epilogue, with_bias, sums, "w_scale", channels, out);
}

namespace {

// A u8 / i8 tensor minus its zero point, widened to T (i32 or i64) for the exact reference product.
template <typename T>
Tensor widened(const Tensor& t, int64_t zero_point) {
    Tensor r(type_of<T>::value, t.shape());
    T* d = r.data<T>();
    const int64_t n = t.size();
    if (t.type() == Type::u8)
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(t.data<uint8_t>()[i] - zero_point);
    else
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(t.data<int8_t>()[i] - zero_point);
    return r;
}

}  // namespace

void QuantizedConvolution::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& w = in[1];
    Shape kernel(w.shape().begin() + 2, w.shape().end());
    auto g = window::resolve(in[0].shape(), out[0].shape(), kernel, strides, dilations, pads_begin, pads_end, auto_pad);
    Tensor x32 = widened<int32_t>(in[0], x_zero_point), w32 = widened<int32_t>(w, 0);
    Tensor acc(Type::i32, out[0].shape());
    conv_reference<int32_t>(g, group, x32.data<int32_t>(), w32.data<int32_t>(), nullptr, acc.data<int32_t>());
    std::vector<float> osc, bias_acc;
    int8_output_scales(x_scale, in[2].data<float>(), in[2].size(), g.c_out, with_bias ? in[3].data<float>() : nullptr,
                       osc, bias_acc);
    const int64_t inner = g.out[0] * g.out[1] * g.out[2];
    epilogue.apply(acc.data<int32_t>(), g.n, g.c_out, inner, osc.data(), bias_acc.data(),
                   epilogue.has_sum() ? &in.back() : nullptr, out[0]);
}

// ---- QuantizedMatMul

void QuantizedMatMul::visit_attributes(AttributeVisitor& v) {
    v.on("transpose_a", transpose_a);
    v.on("transpose_b", transpose_b);
    v.on("a_scale", a_scale);
    v.on("a_zero_point", a_zero_point);
    v.on("b_zero_point", b_zero_point);
    v.on("with_bias", with_bias);
    epilogue.visit(v);
}

void QuantizedMatMul::infer(InferContext& ctx) const {
    const size_t sums = epilogue.check(ctx);
    const size_t n = 3 + (with_bias ? 1 : 0) + sums;
    ctx.check_inputs(n);
    check_quantized_input(ctx, 0, "A");
    const Type bt = ctx.input_type(1);
    KILN_INFER_CHECK(ctx, bt == Type::dynamic || bt == Type::i8, "B must be i8, got ", kiln::type_name(bt));
    KILN_INFER_CHECK(ctx, a_scale > 0, "a_scale must be positive, got ", a_scale);
    InferContext f = float_context(ctx, 2);
    const PartialShape out = matmul_shape(f, ctx.input_shape(0), ctx.input_shape(1), transpose_a, transpose_b);
    const Dimension channels = out.rank_is_static() && out.rank() > 0 ? out[out.rank() - 1] : Dimension();
    finish_infer(ctx, epilogue, with_bias, sums, "b_scale", channels, out);
}

void QuantizedMatMul::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Tensor a = widened<int64_t>(in[0], a_zero_point), b = widened<int64_t>(in[1], b_zero_point);
    Tensor acc64(Type::i64, out[0].shape());
    matmul_reference<int64_t>(a.data<int64_t>(), a.shape(), b.data<int64_t>(), b.shape(), transpose_a, transpose_b,
                              acc64.data<int64_t>(), out[0].shape());
    std::vector<int32_t> acc(static_cast<size_t>(acc64.size()));
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = static_cast<int32_t>(acc64.data<int64_t>()[i]);
    const Shape& ys = out[0].shape();
    const int64_t channels = ys.empty() ? 1 : ys.back();
    std::vector<float> osc, bias_acc;
    int8_output_scales(a_scale, in[2].data<float>(), in[2].size(), channels, with_bias ? in[3].data<float>() : nullptr,
                       osc, bias_acc);
    const int64_t outer = channels ? out[0].size() / channels : 0;
    epilogue.apply(acc.data(), outer, channels, 1, osc.data(), bias_acc.data(), epilogue.has_sum() ? &in.back() : nullptr,
                   out[0]);
}

}  // namespace kiln::op
