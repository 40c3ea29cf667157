// GridSample (OpenVINO opset9): samples an image at normalized (x, y) positions.
//
// Inputs: data [N, C, H, W] (floating), grid [N, H_out, W_out, 2] (floating; the last axis is
// (x, y), -1 .. 1 across the image). Output [N, C, H_out, W_out] of the data type.
// A grid value g along an axis of length L becomes the pixel coordinate
//   align_corners = true:  (g + 1) / 2 * (L - 1)   (-1 and 1 are the centres of the end pixels)
//   align_corners = false: ((g + 1) * L - 1) / 2   (-1 and 1 are the outer edges of the image)
// as in torch.nn.functional.grid_sample and ONNX. Positions outside the image read zeros
// (padding_mode zeros), the nearest edge pixel (border) or the image mirrored about its edges
// (reflection: about the end pixels' centres with align_corners, their outer edges without).
// Modes: bilinear (4 neighbours), nearest (round half to even), bicubic (4 x 4 neighbours,
// Keys' cubic with a = -0.75, the padding rule applied to each neighbour).
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

enum class GridSampleMode { bilinear, bicubic, nearest };
enum class GridSamplePadding { zeros, border, reflection };

class GridSample : public Op<GridSample> {
public:
    GridSample() = default;
    GridSample(GridSampleMode mode, GridSamplePadding padding_mode, bool align_corners)
        : align_corners(align_corners), mode(mode), padding_mode(padding_mode) {}
    const char* type_name() const override { return "GridSample"; }
    const char* opset() const override { return "opset9"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool align_corners = false;
    GridSampleMode mode = GridSampleMode::bilinear;
    GridSamplePadding padding_mode = GridSamplePadding::zeros;
};

}  // namespace kiln::op
