// Real INT8 execution of quantized graphs (FakeQuantize, OpenVINO opset1 semantics): the patterns
// become kiln's INT8 ops (ops/internal/int8.hpp), which the runtime runs on oneDNN's u8/s8
// primitives. Runs before constant folding (the weights' FakeQuantize or decompression chain must
// still be visible) and before fuse_dnn_ops.
//
// 1. Every FakeQuantize of an activation with one range for the whole tensor (levels <= 256, a
//    zero point on a level) becomes Quantize -> Dequantize (u8, or s8 when its levels are
//    symmetric about zero). Dequantize moves down through MaxPool, Reshape, Transpose, Squeeze and
//    Unsqueeze, which then run on the integers.
// 2. Convolution / GroupConvolution / MatMul whose input is a Dequantize and whose weights are
//    integers times a scale per output channel become QuantizedConvolution / QuantizedMatMul with
//    s8 weights quantized now. The weights are recognized in either form:
//      (a) FakeQuantize of f32 constant weights (kiln / NNCF's simulated form: levels 255 or 256,
//          per output channel ranges);
//      (b) what NNCF + OpenVINO save: an i8/u8 Constant -> Convert -> [Subtract zero point] ->
//          Multiply by a scale per output channel;
//      (c) f32 constants already on such levels (a FakeQuantize folded away, as torch's
//          fake_quantize of a parameter is when traced): each channel's largest magnitude taken
//          as level 127 (or 128), every weight checked to be on a level.
//    A MatMul whose two inputs are Dequantize (attention's Q.K^T) becomes a QuantizedMatMul when
//    B is s8 and the CPU's int8 products are exact (VNNI: onednn/int8.hpp).
// 3. The per-channel affine maps (Multiply / Add / Subtract of constants, BatchNormInference) and a
//    ReLU before a Quantize that INT8 ops read (NNCF's SmoothQuant multiply; DenseNet's batch norm
//    and ReLU in front of each convolution) fold into that Quantize. Each INT8 op absorbs what follows it, while each
//    intermediate tensor has a single reader: a per-channel Multiply / Add of constants and
//    BatchNormInference (before any activation),
//    activations, one residual Add (of a Dequantize: read as integers when the output is too), a
//    Quantize -> Dequantize that only float ops read (rounded to its levels, output stays f32),
//    and a final Quantize read by other INT8 ops (per tensor, or per channel): the op then writes
//    u8/s8 directly.
// 4. A Quantize -> Dequantize pair that nothing INT8 uses becomes the FakeQuantize it was; the
//    affine maps and ReLU before a remaining Quantize fold into it.
// What does not match stays as it was, so the graph computes what the FakeQuantize graph does.
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of convolutions and matmuls now running as INT8 ops. KILN_INT8=0 in the
// environment turns the pass off (the FakeQuantize graph then runs in floating point, for
// comparisons).
size_t fuse_int8(Model& m);

}  // namespace kiln::passes
