// kiln-internal INT8 ops (opset "kiln"), made at compile time by passes/fuse_int8.hpp from
// FakeQuantize graphs; never written to IR.
//
// A quantized tensor holds integers q (u8 or s8) that stand for the real values
//     real = scale * (q - zero_point)                                          (1)
// with one scale and one integer zero point for the whole tensor.
//
//   Quantize    f32 -> u8/s8:  q = clamp(round(fma(x, k, zero_point)), qmin, qmax), k = 1 / scale.
//               round is to nearest, ties to even; NaN gives qmin. The zero point may be
//               fractional here (FakeQuantize's input range need not put 0 on a level); what the
//               integers mean is (1) with the Dequantize parameters. Optional inputs fold the
//               per-channel affine map and ReLU before the quantizer in (a batch norm and ReLU
//               in front of a convolution's input): it quantizes u = relu?(x * multiplier[c] +
//               bias[c]), as q = clamp(round(fma(x, k[c], o[c])), lo, qmax) with
//               k[c] = multiplier[c] / scale, o[c] = zero_point + bias[c] / scale and
//               lo = relu ? max(qmin, zero_point) : qmin (1 / scale > 0, so the ReLU's max with 0
//               is the max with the zero point's level).
//   Dequantize  u8/s8 -> f32:  y = float(q - zero_point) * float(scale), or * float(scale[c])
//               with the optional per-channel scale input (NNCF's per-channel ranges of a
//               depthwise convolution's input: one zero point, a scale per channel).
//   QuantizedConvolution, QuantizedMatMul: integer products of a quantized input and s8 weights,
//               accumulated exactly in 32 bits, then the epilogue below in f32.
//
// Epilogue, per output element with output channel c (conv: axis 1; matmul: the last axis) and
// integer accumulator acc = sum (x - x_zero_point) * w (padding contributes 0):
//     v = (float(acc) + bias_acc[c]) * osc[c]       osc[c] = float(x_scale * w_scale[c])
//                                                    bias_acc[c] = float(bias[c] / (x_scale * w_scale[c]))
//     v = post_op(v) for each post-op in order:
//         an activation (op::PostOp kinds but sum), computed in double and rounded to f32;
//         fq:  v = fma(clamp(round(fma(v, 1 / s_in, offset)), lo, hi), s_out, -zp * s_out)
//              (a FakeQuantize whose result stays in floating point);
//         sum: v = v + residual (f32), or v + float(r - residual_zero_point) * residual_scale
//              when the residual is quantized (u8/s8);
//     output f32: v; u8/s8: clamp(round(fma(v, k[c], output_zero_point)), qmin, qmax) with
//         k[c] = 1 / output_scale, or output_multiplier[c] / output_scale.
// This is the order and the rounding of oneDNN's int8 primitives (output scales applied to the
// accumulator plus bias, then post-ops, then the conversion to the destination type), so the
// fast kernels (runtime/cpu/onednn/int8_*.cpp) and these reference kernels agree to 1 in the last
// place of the integer output (where oneDNN's activation approximations or fused multiply-adds
// round a tie the other way).
#pragma once
#include <cmath>

#include "kiln/ops/convolution.hpp"
#include "kiln/ops/internal/fused.hpp"

namespace kiln::op {

// The integers of a tensor type (u8: [0, 255], s8: [-128, 127]).
int64_t int_min(Type t);
int64_t int_max(Type t);

// One step of an INT8 epilogue.
struct QuantPostOp {
    enum class Kind { activation, fq, sum };
    Kind kind = Kind::activation;
    PostOp activation;  // activation
    // fq: levels from s_in / offset, clamped to [lo, hi], back to reals with s_out and zp.
    double s_in = 1, offset = 0, s_out = 1;
    int64_t lo = 0, hi = 255, zp = 0;
    bool operator==(const QuantPostOp& o) const;
};

// IR spelling: "relu:0;fq:0.5:3:0:255:0.5:3;sum" (fq: s_in:offset:lo:hi:s_out:zp).
std::string quant_post_ops_to_string(const std::vector<QuantPostOp>& ops);
std::vector<QuantPostOp> quant_post_ops_from_string(const std::string& s);  // ValueError on a bad entry

// What QuantizedConvolution and QuantizedMatMul do after the integer product (above).
struct Int8Epilogue {
    std::vector<QuantPostOp> post_ops;
    // A quantized residual (the sum's input of type u8/s8).
    double residual_scale = 1;
    int64_t residual_zero_point = 0;
    Type output_type = Type::f32;  // f32, u8 or s8
    double output_scale = 1, output_zero_point = 0;
    int64_t output_qmin = 0, output_qmax = 255;
    // Per output channel: the output's levels are fma(v, output_multiplier[c] / output_scale,
    // output_zero_point) (a Quantize with a per-channel multiplier); empty: 1.
    std::vector<double> output_multiplier;

    bool has_sum() const;
    void visit(AttributeVisitor& v);
    // Checks the output type and ranges, and returns the number of inputs the sum adds (0 or 1).
    size_t check(InferContext& ctx) const;
    // Runs the epilogue over y32 [outer, channels, inner] accumulators into `out` (its type is the
    // output type), with osc / bias_acc per channel and the residual (nullable) of out's shape.
    void apply(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner, const float* osc,
               const float* bias_acc, const Tensor* residual, Tensor& out) const;
};

// The multipliers of the epilogue: osc[c] and bias_acc[c] (bias nullable), as both kernels use.
void int8_output_scales(double x_scale, const float* w_scale, int64_t w_scales, int64_t channels,
                        const float* bias, std::vector<float>& osc, std::vector<float>& bias_acc);

// Quantize. Inputs: x (f32), optionally multiplier (f32 [C] or [1], C = x's size along `axis`),
// optionally bias (f32 [C] or [1], after a multiplier).
class Quantize : public Op<Quantize> {
public:
    Quantize() = default;
    Quantize(Type destination_type, double scale, double zero_point, int64_t qmin, int64_t qmax, int64_t axis = -1,
             bool relu = false)
        : destination_type(destination_type), scale(scale), zero_point(zero_point), qmin(qmin), qmax(qmax), axis(axis),
          relu(relu) {}
    const char* type_name() const override { return "Quantize"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type destination_type = Type::u8;
    double scale = 1, zero_point = 0;
    int64_t qmin = 0, qmax = 255;
    int64_t axis = -1;  // of the multiplier and bias
    bool relu = false;
};

// Quantize's formula per channel: q = clamp(round(fma(x, k[c], offset[c])), lo, hi).
struct QuantizeLevels {
    std::vector<float> k, offset;
    float lo = 0, hi = 255;
};
// For `channels` channels (1 without a multiplier); multiplier and bias nullable.
QuantizeLevels quantize_levels(const Quantize& q, const Tensor* multiplier, const Tensor* bias, int64_t channels);
// Quantize's formula for one element with multiplier k.
inline float quantize_level(float x, float k, float zero_point, float qmin, float qmax) {
    float v = std::fma(x, k, zero_point);
    v = v > qmin ? v : qmin;  // NaN -> qmin, as the vector kernels' max(v, qmin)
    v = v < qmax ? v : qmax;
    return std::nearbyint(v);
}

// Dequantize. Inputs: q (u8/s8), optionally scale (f32 [C] along `axis`, the scale attribute
// then unused). Output f32.
class Dequantize : public Op<Dequantize> {
public:
    Dequantize() = default;
    Dequantize(double scale, int64_t zero_point, int64_t axis = 1) : scale(scale), zero_point(zero_point), axis(axis) {}
    const char* type_name() const override { return "Dequantize"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    double scale = 1;
    int64_t zero_point = 0;
    int64_t axis = 1;  // of the per-channel scale
};

// QuantizedConvolution. Inputs: x (u8/s8 [N, C_in, spatial...]), weights (s8 [C_out, C_in/group,
// k...]), w_scale (f32 [C_out] or [1]), bias (f32 [C_out]) if with_bias, residual (output shape;
// f32, or u8/s8 read with residual_scale / residual_zero_point) if a post-op is a sum.
// Attributes: those of Convolution, group, x_scale, x_zero_point, with_bias, and the epilogue's.
class QuantizedConvolution : public Op<QuantizedConvolution> {
public:
    QuantizedConvolution() = default;
    const char* type_name() const override { return "QuantizedConvolution"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
    int64_t group = 1;
    double x_scale = 1;
    int64_t x_zero_point = 0;
    bool with_bias = false;
    Int8Epilogue epilogue;
};

// QuantizedMatMul. Inputs: A (u8/s8), B (s8: constant weights, or an activation with
// b_zero_point), b_scale (f32 [N] along the output's last axis, or [1]), bias (f32 [N]) if
// with_bias, residual as QuantizedConvolution's. Shapes as MatMul's.
class QuantizedMatMul : public Op<QuantizedMatMul> {
public:
    QuantizedMatMul() = default;
    const char* type_name() const override { return "QuantizedMatMul"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool transpose_a = false, transpose_b = false;
    double a_scale = 1;
    int64_t a_zero_point = 0, b_zero_point = 0;
    bool with_bias = false;
    Int8Epilogue epilogue;
};

}  // namespace kiln::op
