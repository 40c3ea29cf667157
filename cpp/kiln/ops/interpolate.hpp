// Interpolate (OpenVINO opset11): resizing along any set of axes.
//
// Inputs: image (any numeric type), scales_or_sizes (1-D; integer sizes or floating scales, one
// per axis), [axes] (1-D integer; default 0..rank-1). The image is first zero-padded by
// pads_begin / pads_end (per axis, missing entries 0); every length below is a padded length.
// Output: the image type; dims not in axes keep their padded length, dim axes[i] becomes
//   sizes:  scales_or_sizes[i]
//   scales: floor(scales_or_sizes[i] * padded length)
//
// How one output index d of an axis maps to the input axis (in = input length, out = output
// length, ratio = in / out, or 1 / scale in scales mode, as torch computes it):
//   half_pixel            x = (d + 0.5) * ratio - 0.5
//   pytorch_half_pixel    as half_pixel, but 0 when out == 1
//   asymmetric            x = d * ratio
//   tf_half_pixel_for_nn  x = (d + 0.5) * ratio
//   align_corners         x = d * (in - 1) / (out - 1), 0 when out == 1
// Modes: nearest rounds x by nearest_mode and clamps it into the axis; linear_onnx blends the
// two neighbours of x clamped into the axis; cubic takes the 4 neighbours of floor(x) (clamped
// into the axis) with Keys' cubic of parameter cube_coeff; linear is a triangle filter around x
// (widened by 1 / scale when antialias and downsampling), normalized over the taps inside the
// axis; bilinear_pillow / bicubic_pillow are Pillow's resampling filters (triangle / cubic of
// cube_coeff, widened by the ratio when downsampling, normalized), which always centre output d
// at ratio * (d + 0.5) and ignore coordinate_transformation_mode and antialias.
//
// Coordinates are computed in f32 (f64 for f64 images), in the order written above, which is
// how torch's upsample kernels compute them: nearest then picks the same input elements.
#pragma once
#include <optional>

#include "kiln/core/node.hpp"

namespace kiln::op {

enum class InterpolateMode { nearest, linear, linear_onnx, cubic, bilinear_pillow, bicubic_pillow };
enum class ShapeCalcMode { sizes, scales };
enum class CoordinateTransformMode {
    half_pixel, pytorch_half_pixel, asymmetric, tf_half_pixel_for_nn, align_corners
};
enum class NearestMode { round_prefer_floor, round_prefer_ceil, floor, ceil, simple };

// How one axis of the output reads the same axis of the (padded) input: each output index has
// `taps` (index, weight) pairs, stored at [o * taps, (o + 1) * taps). Indices always lie inside
// the input; unused pairs have weight 0. The reference kernel and the fast kernel both read
// these tables, so the semantics above are computed in one place.
struct AxisTaps {
    int64_t in = 0, out = 0, taps = 1;
    std::vector<int64_t> index;
    std::vector<double> weight;
    // Output index o reads input index o with weight 1 (an axis the op leaves alone).
    bool identity() const;
    static AxisTaps identity(int64_t n);
};

class Interpolate : public Op<Interpolate> {
public:
    Interpolate() = default;
    Interpolate(InterpolateMode mode, ShapeCalcMode shape_calculation_mode,
                CoordinateTransformMode coordinate_transformation_mode = CoordinateTransformMode::half_pixel,
                NearestMode nearest_mode = NearestMode::round_prefer_floor, bool antialias = false,
                double cube_coeff = -0.75, std::vector<int64_t> pads_begin = {},
                std::vector<int64_t> pads_end = {})
        : mode(mode), shape_calculation_mode(shape_calculation_mode),
          coordinate_transformation_mode(coordinate_transformation_mode), nearest_mode(nearest_mode),
          antialias(antialias), cube_coeff(cube_coeff), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)) {}
    const char* type_name() const override { return "Interpolate"; }
    const char* opset() const override { return "opset11"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    // The image shape after padding.
    Shape padded_shape(const Shape& image) const;
    // The interpolated axes (normalized) from the axes input value, or 0..rank-1 without one.
    // Throws ValueError for an axis out of range or repeated.
    std::vector<int64_t> axes_of(int64_t rank, const Tensor* axes) const;
    // Taps of one axis from padded length `in` to `out`; `scale` is the axis' value of the
    // scales input in scales mode (nullopt in sizes mode). f64: coordinates in double.
    AxisTaps axis_taps(int64_t in, int64_t out, std::optional<double> scale, bool f64) const;
    // Taps of every axis of the padded image (identity for axes not interpolated), at concrete
    // shapes and input values. Throws ValueError when the inputs disagree.
    std::vector<AxisTaps> taps(const Shape& image, const Shape& out, const Tensor& scales_or_sizes,
                               const Tensor* axes, bool f64) const;

    InterpolateMode mode = InterpolateMode::nearest;
    ShapeCalcMode shape_calculation_mode = ShapeCalcMode::sizes;
    CoordinateTransformMode coordinate_transformation_mode = CoordinateTransformMode::half_pixel;
    NearestMode nearest_mode = NearestMode::round_prefer_floor;
    bool antialias = false;
    double cube_coeff = -0.75;
    std::vector<int64_t> pads_begin, pads_end;
};

// Output length of an axis of padded length `len` in scales mode. f64 scales are taken as
// given (torch computes floor(len * scale) in double); scales of narrower types get 1e-5 of
// slack, since they carry the rounding of the decimal their author meant (0.7f * 10 = 6.99..).
int64_t scaled_length(int64_t len, double scale, Type scale_type);

}  // namespace kiln::op
