// Detection ops (OpenVINO opset): NonMaxSuppression-9, ROIAlign-9, ROIPooling-2,
// DeformableConvolution-8. Reference kernels follow the opset semantics in the forms torchvision's
// ops use (checked against torchvision numerically in tests/python/test_ops_detection.py).
#pragma once
#include <vector>

#include "kiln/core/node.hpp"
#include "kiln/ops/convolution.hpp"

namespace kiln::op {

// NonMaxSuppression-9. Inputs: boxes [B, N, 4] (corner: [y1, x1, y2, x2], any diagonal pair of
// corners; center: [xc, yc, w, h]), scores [B, C, N], [max_output_boxes_per_class (integer scalar,
// default 0)], [iou_threshold (default 0)], [score_threshold (default 0)], [soft_nms_sigma (default
// 0)]. Per batch and class: repeatedly take the highest-scoring remaining box (equal scores: the
// lower index first); stop when its score is below score_threshold or max_output_boxes_per_class
// are taken; otherwise keep it and drop every remaining box whose IoU with it is above
// iou_threshold (soft_nms_sigma > 0: scale their scores by exp(-0.5 iou^2 / sigma) instead, and drop
// those that fall below score_threshold). Outputs (length known only once it has run):
// selected_indices [K, 3] (batch, class, box) of output_type, selected_scores [K, 3] (batch, class,
// score) of the scores' type, valid_outputs [1] = K. Order: batch, class, then selection order;
// sort_result_descending orders all by score (stable).
class NonMaxSuppression : public Op<NonMaxSuppression> {
public:
    enum class BoxEncoding { corner, center };
    NonMaxSuppression() = default;
    NonMaxSuppression(BoxEncoding e, bool sort, Type out) : box_encoding(e), sort_result_descending(sort), output_type(out) {}
    const char* type_name() const override { return "NonMaxSuppression"; }
    const char* opset() const override { return "opset9"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    BoxEncoding box_encoding = BoxEncoding::corner;
    bool sort_result_descending = true;
    Type output_type = Type::i64;
};

// ROIAlign-9. Inputs: data [N, C, H, W], rois [R, 4] (x1, y1, x2, y2 in input coordinates before
// spatial_scale), batch_indices [R] (integer). Output [R, C, pooled_h, pooled_w]. A roi scaled by
// spatial_scale (half_pixel: then shifted by -0.5; asymmetric: its size at least 1) is cut into
// pooled_h x pooled_w bins; each bin averages (mode avg) or takes the max of (mode max)
// sampling_ratio x sampling_ratio bilinear samples at the centres of a regular grid (sampling_ratio
// 0: ceil(bin size) per axis). A sample outside [-1, H] x [-1, W] reads 0; one in [-1, 0] reads the
// edge. aligned_mode half_pixel_for_nn is not supported.
class ROIAlign : public Op<ROIAlign> {
public:
    enum class Mode { avg, max };
    enum class AlignedMode { asymmetric, half_pixel_for_nn, half_pixel };
    ROIAlign() = default;
    ROIAlign(int64_t ph, int64_t pw, int64_t sampling_ratio, double spatial_scale, Mode mode, AlignedMode aligned)
        : pooled_h(ph), pooled_w(pw), sampling_ratio(sampling_ratio), spatial_scale(spatial_scale), mode(mode),
          aligned_mode(aligned) {}
    const char* type_name() const override { return "ROIAlign"; }
    const char* opset() const override { return "opset9"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t pooled_h = 1, pooled_w = 1, sampling_ratio = 0;
    double spatial_scale = 1;
    Mode mode = Mode::avg;
    AlignedMode aligned_mode = AlignedMode::asymmetric;
};

// ROIPooling-2, method max. Inputs: data [N, C, H, W], rois [R, 5] (batch index, x1, y1, x2, y2).
// Output [R, C, pooled_h, pooled_w]: the roi's corners scaled by spatial_scale and rounded (half
// away from zero), its size (end - start + 1, at least 1) cut into bins [floor(i * size / pooled),
// ceil((i + 1) * size / pooled)) clipped to the image; each bin's max, 0 for an empty bin.
// (method bilinear is not supported.)
class ROIPooling : public Op<ROIPooling> {
public:
    ROIPooling() = default;
    ROIPooling(int64_t ph, int64_t pw, double spatial_scale) : pooled_h(ph), pooled_w(pw), spatial_scale(spatial_scale) {}
    const char* type_name() const override { return "ROIPooling"; }
    const char* opset() const override { return "opset2"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t pooled_h = 1, pooled_w = 1;
    double spatial_scale = 1;
    std::string method = "max";
};

// DeformableConvolution-8. Inputs: data [N, C, H, W], offsets [N, DG * 2 * kh * kw, Ho, Wo],
// filters [O, C / group, kh, kw], [mask [N, DG * kh * kw, Ho, Wo]]. Output [N, O, Ho, Wo] (Ho, Wo as
// for Convolution). Kernel tap (i, j) of output (y, x) in deformable group g samples the input at
// (y * sy - pad_top + i * dy + off_y, x * sx - pad_left + j * dx + off_x), the offsets' channels
// being (off_y, off_x) pairs for tap i * kw + j of group g, bilinearly (bilinear_interpolation_pad:
// a point within one pixel outside the image blends with zeros, as torchvision does; otherwise
// points outside [0, H-1] x [0, W-1] read 0), times the mask value of that tap when given.
class DeformableConvolution : public Op<DeformableConvolution> {
public:
    DeformableConvolution() = default;
    DeformableConvolution(std::vector<int64_t> strides, std::vector<int64_t> pads_begin, std::vector<int64_t> pads_end,
                          std::vector<int64_t> dilations, int64_t group, int64_t deformable_group, bool pad)
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)), pads_end(std::move(pads_end)),
          dilations(std::move(dilations)), group(group), deformable_group(deformable_group),
          bilinear_interpolation_pad(pad) {}
    const char* type_name() const override { return "DeformableConvolution"; }
    const char* opset() const override { return "opset8"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, dilations;
    PadType auto_pad = PadType::explicit_pad;
    int64_t group = 1, deformable_group = 1;
    bool bilinear_interpolation_pad = false;

    // The columns of image n, [C * kh * kw, Ho * Wo] (row c * K + tap): each tap's bilinear sample,
    // times its mask value. The reference kernel and the fast one (a GEMM of the filters with
    // these) both build them here, so the sampling is written once. f32 only.
    struct Geometry {
        int64_t N, C, H, W, O, Cg, KH, KW, Ho, Wo, sy, sx, dy, dx, py, px;
    };
    Geometry geometry(const Shape& data, const Shape& filters, const Shape& out) const;
    void columns(const Geometry& g, int64_t n, const float* x, const float* offsets, const float* mask, float* col) const;
};

}  // namespace kiln::op
