// Convolution and GroupConvolution (OpenVINO opset1), plus the window geometry that
// convolution and pooling share (auto_pad, dilations, rounding).
//
// Layouts are plain row-major:
//   data     [N, C_in, spatial...]   1 to 3 spatial axes (z, y, x)
//   weights  Convolution:      [C_out, C_in, k...]
//            GroupConvolution: [G, C_out/G, C_in/G, k...]
//   output   [N, C_out, spatial_out...]
// ConvolutionBackpropData / GroupConvolutionBackpropData (transposed convolution, opset1):
//   data     [N, C_in, spatial...]
//   weights  ConvolutionBackpropData:      [C_in, C_out, k...]
//            GroupConvolutionBackpropData: [G, C_in/G, C_out/G, k...]
//   output   [N, C_out, spatial_out...]
#pragma once
#include <array>

#include "kiln/core/node.hpp"

namespace kiln::op {

// How padding is chosen. explicit_pad: pads_begin/pads_end as given; same_upper/same_lower:
// output = ceil(input / stride) with the odd pad element at the end / the beginning;
// valid: no padding.
enum class PadType { explicit_pad, same_upper, same_lower, valid };
void visit_pad_type(AttributeVisitor& v, const char* name, PadType& p);

// Output size rounding of MaxPool/AvgPool. ceil: opset8's rule, ceil((L + pads - extent) /
// stride) + 1; ceil_torch (opset14): the same, less one when the last window would start in the
// end padding (past L + pads_begin), as torch computes it.
enum class RoundingType { floor, ceil, ceil_torch };
void visit_rounding_type(AttributeVisitor& v, const char* name, RoundingType& r);

namespace window {

// Per-axis attributes: empty means "all `fill`"; otherwise the size must be `n`.
std::vector<int64_t> per_axis(const InferContext& ctx, const std::vector<int64_t>& v, size_t n,
                              int64_t fill, const char* what);

// Output size along one axis for a window of `extent` = (k - 1) * dilation + 1. torch_ceil (with
// ceil_mode): a last window that would start in the end padding is not counted.
Dimension out_dim(const InferContext& ctx, const Dimension& in, int64_t extent, int64_t stride,
                  int64_t pad_begin, int64_t pad_end, PadType pad, bool ceil_mode, size_t axis,
                  bool torch_ceil = false);

// The geometry of one conv/pool at static shapes, spatial axes padded to 3 (leading 1s) so
// that a single loop nest serves 1-D, 2-D and 3-D.
struct Geometry {
    int64_t n = 1, c_in = 1, c_out = 1;
    int nsp = 0;  // real number of spatial axes
    std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1},
        dil{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0};
    int64_t extent(int i) const { return (k[i] - 1) * dil[i] + 1; }
    int64_t pe_reach(int i) const {
        int64_t r = (out[i] - 1) * stride[i] + extent(i) - in[i] - pb[i];
        return r > pe[i] ? r : pe[i];
    }
};

// Resolves pads for auto_pad at static shapes (pe is the requested end padding; pe_reach()
// is what the last window actually reaches, larger than pe under ceil rounding).
Geometry resolve(const Shape& data, const Shape& out, const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                 const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                 PadType pad);

}  // namespace window

// The reference convolution. Weights are [G, C_out/G, C_in/G, k...] (plain weights are G = 1
// of the same memory). Bias (nullable) is [C_out].
template <typename T>
void conv_reference(const window::Geometry& g, int64_t groups, const T* x, const T* w,
                    const T* bias, T* y);

// Shape inference shared by Convolution, GroupConvolution and FusedConvolution.
// `weights` is in the plain form [C_out, C_in/groups, k...] (or dynamic rank).
void infer_conv(InferContext& ctx, const PartialShape& weights, const Dimension& groups,
                const std::vector<int64_t>& strides, const std::vector<int64_t>& pads_begin,
                const std::vector<int64_t>& pads_end, const std::vector<int64_t>& dilations,
                PadType auto_pad);

// Convolution-1. Inputs: data, weights. Attributes: strides, pads_begin, pads_end, dilations
// (one value per spatial axis; empty = 1 / 0), auto_pad.
class Convolution : public Op<Convolution> {
public:
    Convolution() = default;
    Convolution(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                std::vector<int64_t> pads_end, std::vector<int64_t> dilations,
                PadType auto_pad = PadType::explicit_pad)
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), dilations(std::move(dilations)), auto_pad(auto_pad) {}
    const char* type_name() const override { return "Convolution"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
};

// GroupConvolution-1. Inputs: data [N, G*Ig, ...], weights [G, Og, Ig, k...]; output channels
// G*Og. Attributes as Convolution.
class GroupConvolution : public Op<GroupConvolution> {
public:
    GroupConvolution() = default;
    GroupConvolution(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                     std::vector<int64_t> pads_end, std::vector<int64_t> dilations,
                     PadType auto_pad = PadType::explicit_pad)
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), dilations(std::move(dilations)), auto_pad(auto_pad) {}
    const char* type_name() const override { return "GroupConvolution"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
};

// The geometry of a transposed convolution at static shapes: `in` is the data's spatial size,
// `out` the output's, pb/pe the (resolved) pads cropped off the full result of length
// (in - 1) * stride + extent + output_padding. Spatial axes padded to 3 as in Geometry.
// Weights are [G, C_in/G, C_out/G, k...] (plain weights: G = 1).
template <typename T>
void deconv_reference(const window::Geometry& g, int64_t groups, const T* x, const T* w,
                      const T* bias, T* y);

// Output spatial size of a transposed convolution along one axis (spec of
// ConvolutionBackpropData-1 without the output_shape input).
Dimension deconv_out_dim(const Dimension& in, int64_t extent, int64_t stride, int64_t pad_begin,
                         int64_t pad_end, int64_t output_padding, PadType pad);

// Resolves the pads of a transposed convolution at static shapes (same_upper/same_lower split
// the total padding as the spec says; valid: none) into a Geometry (c_in/c_out from data/out).
window::Geometry resolve_deconv(const Shape& data, const Shape& out,
                                const std::vector<int64_t>& kernel,
                                const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& dilations,
                                const std::vector<int64_t>& pads_begin,
                                const std::vector<int64_t>& pads_end,
                                const std::vector<int64_t>& output_padding, PadType pad);

// ConvolutionBackpropData-1 (transposed convolution). Inputs: data, weights [C_in, C_out, k...]
// (the optional output_shape input of the spec is not supported: infer() says so). Attributes
// as Convolution plus output_padding (extra elements at the end of each spatial axis; each
// must be smaller than the stride or the dilation of its axis).
class ConvolutionBackpropData : public Op<ConvolutionBackpropData> {
public:
    ConvolutionBackpropData() = default;
    ConvolutionBackpropData(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                            std::vector<int64_t> pads_end, std::vector<int64_t> dilations,
                            PadType auto_pad = PadType::explicit_pad,
                            std::vector<int64_t> output_padding = {})
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), dilations(std::move(dilations)), auto_pad(auto_pad),
          output_padding(std::move(output_padding)) {}
    const char* type_name() const override { return "ConvolutionBackpropData"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
    std::vector<int64_t> output_padding;
};

// GroupConvolutionBackpropData-1. Inputs: data [N, G*Ig, ...], weights [G, Ig, Og, k...];
// output channels G*Og. Attributes as ConvolutionBackpropData.
class GroupConvolutionBackpropData : public Op<GroupConvolutionBackpropData> {
public:
    GroupConvolutionBackpropData() = default;
    GroupConvolutionBackpropData(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                                 std::vector<int64_t> pads_end, std::vector<int64_t> dilations,
                                 PadType auto_pad = PadType::explicit_pad,
                                 std::vector<int64_t> output_padding = {})
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), dilations(std::move(dilations)), auto_pad(auto_pad),
          output_padding(std::move(output_padding)) {}
    const char* type_name() const override { return "GroupConvolutionBackpropData"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
    std::vector<int64_t> output_padding;
};

}  // namespace kiln::op
