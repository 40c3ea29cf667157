// QuantizedConvolution and QuantizedMatMul (ops/internal/int8.hpp) on oneDNN's u8/s8 primitives:
// the integer product with oneDNN's zero points, the epilogue as output scales (x_scale *
// w_scale per channel, applied to the accumulator plus the bias divided by those scales) and
// post-ops (activations; fq as linear, round, clip, linear; the residual as an in-place sum, with
// its own scale and zero point when it is u8/s8, or a binary add of an f32 residual into an INT8
// output; the output quantization as linear and clip before oneDNN's saturating conversion).
// Convolutions take the activation layout oneDNN's implementation prefers (nhwc for the brgemm
// and jit int8 kernels) through the plan's layout negotiation; matmuls read plain tensors.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include "kiln/ops/internal/int8.hpp"
#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu::onednn {

// Whether oneDNN's int8 products are exact on this CPU: with AVX-512 VNNI (vpdpbusd) they are;
// without it oneDNN multiplies u8 x s8 pairs with vpmaddubsw, whose 16-bit pair sums saturate
// when two adjacent products together pass 32767 (u8 up to 255 times s8 weights beyond +-64).
bool int8_products_exact();

// nullptr when the node is none of the two or oneDNN has no implementation for it
// (KILN_DEBUG_INT8=1 prints oneDNN's reason to stderr).
KernelPtr make_int8_onednn_kernel(const Node& node, const KernelShapes& shapes);

// How the residual of a sum post-op enters the primitive.
enum class ResidualMode { none, sum, binary };
ResidualMode residual_mode(const op::Int8Epilogue& e, Type residual_type, Type output_type);

// The attributes of an INT8 primitive: output scales (mask: 0 or the channel axis), src / weights
// zero points, and the epilogue as post-ops.
//
// oneDNN 2.6's jit post-op code gives every eltwise post-op of one algorithm the parameters of
// the first of them (measured: linear(0.5, 0.25) then linear(3, 1) computes the first twice; two
// clips clip to the first's bounds), so no algorithm appears twice with different parameters
// here: the chain runs in units chosen to need few rescalings (the first rescaling folded into
// the output scales, homogeneous activations and sums rescaled by their parameters), and a
// rescaling or clip whose algorithm is taken uses another one (pow(x, 1), clip_v2) or a binary
// post-op with a scalar.
struct Int8Attr {
    dnnl::primitive_attr attr;
    int binary_residual = -1;  // post-op index of the binary residual
    // The f32 second operand of each other binary post-op: one value, or one per channel.
    struct Operand {
        int index;
        std::vector<float> values;
    };
    std::vector<Operand> operands;
    int channel_dim = 1, ndims = 4;
};
Int8Attr int8_attr(const op::Int8Epilogue& e, const std::vector<float>& osc, int channel_dim, int ndims,
                   int64_t src_zero_point, int64_t wei_zero_point, ResidualMode residual, Type residual_type,
                   const dnnl::memory::desc& binary_md);

// The memories of an attribute's binary operands, as execute() passes them (they point into `a`).
std::vector<std::pair<int, dnnl::memory>> operand_args(const Int8Attr& a);

}  // namespace kiln::cpu::onednn
