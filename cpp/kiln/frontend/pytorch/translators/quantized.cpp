// Models quantized in PyTorch (eager post-training quantization, QAT fake quantization):
// quantize_per_tensor / quantize_per_channel, dequantize, fake_quantize_per_*_affine (and their
// _cachemask forms), and the quantized:: ops torchvision's quantized classifiers use.
//
// kiln has no quantized tensors: a torch quantized tensor becomes the float tensor of its
// dequantized values, and every op that quantizes becomes FakeQuantize (levels 256; input and
// output range (qmin - zp) * scale .. (qmax - zp) * scale) after the op computed in float:
// quantized::conv2d is Convolution with the packed weight dequantized (exactly the int8 grid
// times its scales), + bias, [Relu], FakeQuantize to its output scale and zero point; linear,
// add, mul, cat and hardswish likewise. A later INT8 pass can run these as integer kernels.
//
// torch ops that run on quantized tensors without requantizing keep the input's scale and zero
// point but may leave its grid (avg pooling, mean, upsampling round their averages to integers;
// hardsigmoid and sigmoid have fixed output qparams 1/256, 0). kiln computes those in float; where
// a quantized op or dequantize reads such a value, the grid torch would have rounded to is
// applied again (requantized()), so values agree with torch up to rounding ties.
//
// Activations are quint8 (the only activation type torch's x86/fbgemm/qnnpack quantized kernels
// take): a quantized op's output is quint8 at its output scale and zero point.
#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/interpolate.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/reduction.hpp"

namespace kiln::frontend::pytorch {

namespace {

// torch ScalarType codes of the quantized types.
constexpr int64_t kQInt8 = 12, kQUInt8 = 13, kQInt32 = 14;

std::pair<int64_t, int64_t> qlimits(NodeContext& ctx, int64_t dtype) {
    if (dtype == kQUInt8) return {0, 255};
    if (dtype == kQInt8) return {-128, 127};
    if (dtype == kQInt32) ctx.fail("qint32 quantization is not supported yet (only quint8 and qint8)");
    ctx.fail("quantized dtype code ", dtype, " is not supported (only quint8 and qint8)");
}

// FakeQuantize of x onto [qmin, qmax] with scale s and zero point zp (scalars or per-channel
// tensors already shaped to broadcast against x): range (qmin - zp) * s .. (qmax - zp) * s.
Output fake_quantize(NodeContext& ctx, const Output& x, const Output& scale, const Output& zp, int64_t qmin,
                     int64_t qmax) {
    const Type t = x.type() == Type::dynamic ? Type::f32 : x.type();
    Output s = to_type(ctx, scale, t), z = to_type(ctx, zp, t);
    Output lo = ctx.make<op::Multiply>({ctx.make<op::Subtract>({typed_scalar(ctx, t, static_cast<double>(qmin)), z}), s});
    Output hi = ctx.make<op::Multiply>({ctx.make<op::Subtract>({typed_scalar(ctx, t, static_cast<double>(qmax)), z}), s});
    return ctx.make<op::FakeQuantize>({x, lo, hi, lo, hi}, qmax - qmin + 1);
}

// The same, with a scale and zero point known at conversion (computed in f64, as torch holds them).
Output fake_quantize(NodeContext& ctx, const Output& x, double s, int64_t zp, int64_t qmin, int64_t qmax) {
    const Type t = x.type() == Type::dynamic ? Type::f32 : x.type();
    Output lo = typed_scalar(ctx, t, static_cast<double>(qmin - zp) * s);
    Output hi = typed_scalar(ctx, t, static_cast<double>(qmax - zp) * s);
    return ctx.make<op::FakeQuantize>({x, lo, hi, lo, hi}, qmax - qmin + 1);
}

// The output quantization of a quantized:: op: inputs si (scale) and si + 1 (zero point), quint8.
Output requantize_output(NodeContext& ctx, const Output& y, size_t si) {
    if (ctx.is_const(si) && ctx.is_const(si + 1))
        return fake_quantize(ctx, y, ctx.const_float(si), ctx.const_int(si + 1), 0, 255);
    return fake_quantize(ctx, y, ctx.input(si), ctx.input(si + 1), 0, 255);
}

bool is_a(const Node* n, std::initializer_list<bool (*)(const Node*)> kinds) {
    for (auto k : kinds)
        if (k(n)) return true;
    return false;
}
template <typename T>
bool kind(const Node* n) {
    return dynamic_cast<const T*>(n) != nullptr;
}

// x as torch holds it when a quantized op (or dequantize) reads it: on the grid of the quantized
// tensor it is. Walks back through the ops torch runs on quantized tensors to the FakeQuantize
// that made the tensor. Ops that keep the grid (data movement, max pooling, relu) are left as they
// are; ops that keep the scale and zero point but may leave the grid (average pooling, mean,
// upsampling: torch rounds their results to integers) and Sigmoid / HSigmoid (quint8 output with
// scale 1/256, zero point 0 in torch) are rebuilt on the rounded values of their input with a
// FakeQuantize after them, so every later value is what torch computes up to rounding ties.
struct QValue {
    Output v;
    bool known = false;  // v is a quantized tensor whose FakeQuantize is `fq`
    std::shared_ptr<op::FakeQuantize> fq;
};

QValue traced_q(NodeContext& ctx, const Output& x, int depth) {
    const Node* n = x.node.get();
    if (!n || depth > 64) return QValue{x, false, nullptr};
    if (auto fq = std::dynamic_pointer_cast<op::FakeQuantize>(x.node)) return {x, true, fq};
    const bool fixed = is_a(n, {kind<op::Sigmoid>, kind<op::HSigmoid>});
    const bool inexact = is_a(n, {kind<op::AvgPool>, kind<op::AdaptiveAvgPool>, kind<op::ReduceMean>, kind<op::Interpolate>});
    const bool exact = is_a(n, {kind<op::Reshape>, kind<op::Transpose>, kind<op::Squeeze>, kind<op::Unsqueeze>,
                                kind<op::Slice>, kind<op::StridedSlice>, kind<op::Gather>, kind<op::Split>,
                                kind<op::VariadicSplit>, kind<op::MaxPool>, kind<op::AdaptiveMaxPool>, kind<op::Relu>,
                                kind<op::Broadcast>, kind<op::Tile>});
    if (!(fixed || inexact || exact) || n->num_inputs() == 0) return QValue{x, false, nullptr};
    QValue in = traced_q(ctx, n->input(0), depth + 1);
    if (!in.known && !fixed) return QValue{x, false, nullptr};
    Output y = x;
    if (in.v != n->input(0)) {
        OutputVector ins = n->inputs();
        ins[0] = in.v;
        auto c = n->clone(ins);
        y = c->output(x.index);
    }
    if (exact) return {y, true, in.fq};
    std::shared_ptr<Node> q;
    if (fixed) {
        q = fake_quantize(ctx, y, 1.0 / 256.0, 0, 0, 255).node;
    } else {
        auto& f = *in.fq;
        q = ctx.make_node<op::FakeQuantize>({y, f.input(1), f.input(2), f.input(3), f.input(4)}, f.levels);
    }
    return {q->output(0), true, std::dynamic_pointer_cast<op::FakeQuantize>(q)};
}

Output requantized(NodeContext& ctx, const Output& x) { return traced_q(ctx, x, 0).v; }

// aten::quantize_per_tensor(x, scale, zero_point, dtype) (also with tensor scale / zero point).
Outs quantize_per_tensor(NodeContext& ctx) {
    auto [qmin, qmax] = qlimits(ctx, ctx.const_int(3));
    Output x = ctx.input(0);
    if (ctx.is_const(1) && ctx.is_const(2) && ctx.is_scalar(1))
        return {fake_quantize(ctx, x, ctx.const_float(1), ctx.const_int(2), qmin, qmax)};
    return {fake_quantize(ctx, x, ctx.input(1), ctx.input(2), qmin, qmax)};
}

// A per-channel parameter [C] shaped to broadcast along `axis` of x.
Output along(NodeContext& ctx, const Output& v, const Output& x, int64_t axis) {
    const int64_t r = static_rank(ctx, x);
    std::vector<int64_t> s(static_cast<size_t>(r), 1);
    s[static_cast<size_t>(axis)] = -1;
    return ctx.make<op::Reshape>({v, ctx.i64(s)}, false);
}

// aten::quantize_per_channel(x, scales, zero_points, axis, dtype)
Outs quantize_per_channel(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t axis = axis_of(ctx, x, ctx.const_int(3));
    auto [qmin, qmax] = qlimits(ctx, ctx.const_int(4));
    return {fake_quantize(ctx, x, along(ctx, ctx.input(1), x, axis), along(ctx, ctx.input(2), x, axis), qmin, qmax)};
}

Outs dequantize(NodeContext& ctx) { return {requantized(ctx, ctx.input(0))}; }

// torch's mask of the elements fake quantization did not clamp: qmin <= round(x / s + zp) <= qmax.
Output unclamped(NodeContext& ctx, const Output& x, const Output& s, const Output& zp, int64_t qmin, int64_t qmax) {
    const Type t = x.type();
    Output q = ctx.make<op::Round>({ctx.make<op::Add>({ctx.make<op::Divide>({x, to_type(ctx, s, t)}), to_type(ctx, zp, t)})},
                                   op::RoundMode::half_to_even);
    return ctx.make<op::LogicalAnd>({ctx.make<op::GreaterEqual>({q, typed_scalar(ctx, t, static_cast<double>(qmin))}),
                                     ctx.make<op::LessEqual>({q, typed_scalar(ctx, t, static_cast<double>(qmax))})});
}

// fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max) and
// fake_quantize_per_tensor_affine_cachemask (-> output, mask).
Outs fake_quantize_per_tensor(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t qmin = ctx.const_int(3), qmax = ctx.const_int(4);
    ctx.check(qmin < qmax, "quant_min ", qmin, " must be below quant_max ", qmax);
    Output y = ctx.is_const(1) && ctx.is_const(2) && ctx.is_scalar(1)
                   ? fake_quantize(ctx, x, ctx.const_float(1), ctx.const_int(2), qmin, qmax)
                   : fake_quantize(ctx, x, ctx.input(1), ctx.input(2), qmin, qmax);
    if (ctx.kind().find("cachemask") == std::string::npos) return {y};
    return {y, unclamped(ctx, x, ctx.input(1), ctx.input(2), qmin, qmax)};
}

// _fake_quantize_per_tensor_affine_cachemask_tensor_qparams(x, scale, zero_point, fake_quant_enabled,
// quant_min, quant_max) -> (output, mask): x itself and an all-true mask when fake_quant_enabled is 0.
Outs fake_quantize_tensor_qparams(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t qmin = ctx.const_int(4), qmax = ctx.const_int(5);
    ctx.check(qmin < qmax, "quant_min ", qmin, " must be below quant_max ", qmax);
    Output s = ctx.make<op::Reshape>({ctx.input(1), ctx.i64({})}, false);
    Output z = ctx.make<op::Reshape>({ctx.input(2), ctx.i64({})}, false);
    Output on = ctx.make<op::NotEqual>({ctx.make<op::Reshape>({to_type(ctx, ctx.input(3), Type::i64), ctx.i64({})}, false),
                                        ctx.i64_scalar(0)});
    Output y = ctx.make<op::Select>({on, fake_quantize(ctx, x, s, z, qmin, qmax), x});
    Output mask = ctx.make<op::LogicalOr>({unclamped(ctx, x, s, z, qmin, qmax), ctx.make<op::LogicalNot>({on})});
    return {y, mask};
}

// fake_quantize_per_channel_affine(x, scale [C], zero_point [C], axis, quant_min, quant_max)
// and the _cachemask form.
Outs fake_quantize_per_channel(NodeContext& ctx) {
    Output x = ctx.input(0);
    const int64_t axis = axis_of(ctx, x, ctx.const_int(3));
    const int64_t qmin = ctx.const_int(4), qmax = ctx.const_int(5);
    ctx.check(qmin < qmax, "quant_min ", qmin, " must be below quant_max ", qmax);
    Output s = along(ctx, ctx.input(1), x, axis), z = along(ctx, ctx.input(2), x, axis);
    Output y = fake_quantize(ctx, x, s, z, qmin, qmax);
    if (ctx.kind().find("cachemask") == std::string::npos) return {y};
    return {y, unclamped(ctx, x, s, z, qmin, qmax)};
}

// The packed conv params the decoder unpacked: [weight, bias, stride, padding, dilation, groups,
// transposed, output_padding].
Output quantized_conv(NodeContext& ctx, const Output& x, bool relu) {
    auto p = ctx.list(1);
    ctx.check(p.size() == 8, "expected the unpacked conv parameters (8 items), got ", p.size(),
              " (a packed-params object kiln's decoder did not read)");
    ctx.check(!(p[6].is_const() && p[6].as_const().kind == ConstValue::Kind::boolean && p[6].as_const().b),
              "a transposed quantized convolution needs ConvolutionBackpropData, which kiln does not have yet");
    Output w = ctx.tensor_of(p[0]);
    auto ints = [&](size_t i) {
        std::vector<int64_t> v;
        for (auto& item : p[i].as_const().items) v.push_back(item.i);
        return v;
    };
    auto stride = ints(2), pad = ints(3), dil = ints(4);
    const int64_t groups = p[5].as_const().i;
    Output y;
    if (groups == 1) {
        y = ctx.make<op::Convolution>({x, w}, stride, pad, pad, dil);
    } else {
        const int64_t o = w.shape()[0].get_length();
        std::vector<int64_t> s{groups, o / groups};
        for (size_t k = 1; k < static_cast<size_t>(w.shape().rank()); ++k) s.push_back(w.shape()[k].get_length());
        y = ctx.make<op::GroupConvolution>({x, ctx.make<op::Reshape>({w, ctx.i64(s)}, false)}, stride, pad, pad, dil);
    }
    if (!p[1].is_none()) {
        std::vector<int64_t> bs{1, -1};
        for (size_t k = 0; k < stride.size(); ++k) bs.push_back(1);
        y = ctx.make<op::Add>({y, ctx.make<op::Reshape>({ctx.tensor_of(p[1]), ctx.i64(bs)}, false)});
    }
    if (relu) y = ctx.make<op::Relu>({y});
    return y;
}

template <bool Relu>
Outs qconv(NodeContext& ctx) {  // quantized::conv2d(qx, packed, output_scale, output_zero_point)
    return {requantize_output(ctx, quantized_conv(ctx, requantized(ctx, ctx.input(0)), Relu), 2)};
}

template <bool Relu>
Outs qlinear(NodeContext& ctx) {  // quantized::linear(qx, packed, output_scale, output_zero_point)
    auto p = ctx.list(1);
    ctx.check(p.size() == 2, "expected the unpacked linear parameters (weight, bias), got ", p.size(), " items");
    Output y = ctx.make<op::MatMul>({requantized(ctx, ctx.input(0)), ctx.tensor_of(p[0])}, false, true);
    if (!p[1].is_none()) y = ctx.make<op::Add>({y, ctx.tensor_of(p[1])});
    if (Relu) y = ctx.make<op::Relu>({y});
    return {requantize_output(ctx, y, 2)};
}

// quantized::add / add_relu / mul / mul_relu (qa, qb, scale, zero_point)
template <typename Op, bool Relu>
Outs qbinary(NodeContext& ctx) {
    Output y = ctx.make<Op>({requantized(ctx, ctx.input(0)), requantized(ctx, ctx.input(1))});
    if (Relu) y = ctx.make<op::Relu>({y});
    return {requantize_output(ctx, y, 2)};
}

Outs qcat(NodeContext& ctx) {  // quantized::cat(tensors, dim, scale, zero_point)
    OutputVector xs;
    for (auto& v : ctx.list(0)) xs.push_back(requantized(ctx, ctx.tensor_of(v)));
    ctx.check(!xs.empty(), "cat of no tensors");
    Output y = ctx.make<op::Concat>(xs, axis_of(ctx, xs[0], ctx.const_int(1)));
    return {requantize_output(ctx, y, 2)};
}

Outs qhardswish(NodeContext& ctx) {  // quantized::hardswish(qx, scale, zero_point)
    return {requantize_output(ctx, ctx.make<op::HSwish>({requantized(ctx, ctx.input(0))}), 1)};
}

Outs qconv_transpose(NodeContext& ctx) {
    ctx.fail("a transposed quantized convolution needs ConvolutionBackpropData, which kiln does not have yet");
}

}  // namespace

void add_quantized_translators(TranslatorTable& t) {
    t["aten::quantize_per_tensor"] = quantize_per_tensor;
    t["aten::quantize_per_channel"] = quantize_per_channel;
    t["aten::dequantize"] = dequantize;
    t["aten::fake_quantize_per_tensor_affine"] = fake_quantize_per_tensor;
    t["aten::fake_quantize_per_tensor_affine_cachemask"] = fake_quantize_per_tensor;
    t["aten::_fake_quantize_per_tensor_affine_cachemask_tensor_qparams"] = fake_quantize_tensor_qparams;
    t["aten::fake_quantize_per_channel_affine"] = fake_quantize_per_channel;
    t["aten::fake_quantize_per_channel_affine_cachemask"] = fake_quantize_per_channel;
    t["quantized::conv2d"] = qconv<false>;
    t["quantized::conv2d_relu"] = qconv<true>;
    t["quantized::conv_transpose2d"] = qconv_transpose;
    t["quantized::linear"] = qlinear<false>;
    t["quantized::linear_relu"] = qlinear<true>;
    t["quantized::add"] = qbinary<op::Add, false>;
    t["quantized::add_relu"] = qbinary<op::Add, true>;
    t["quantized::mul"] = qbinary<op::Multiply, false>;
    t["quantized::mul_relu"] = qbinary<op::Multiply, true>;
    t["quantized::cat"] = qcat;
    t["quantized::hardswish"] = qhardswish;
}

}  // namespace kiln::frontend::pytorch
