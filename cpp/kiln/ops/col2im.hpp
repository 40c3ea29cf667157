// Col2Im (OpenVINO opset15): the inverse of sliding-block extraction, torch.nn.functional.fold.
//
// Inputs: data [N, C * kh * kw, L] or unbatched [C * kh * kw, L]; output_size (1-D, 2 integers:
// H, W); kernel_size (1-D, 2 integers: kh, kw). Output [N, C, H, W] (or [C, H, W]) of the data
// type. Column l holds the block at block row l / bw, block column l % bw, where
//   bh = (H + pads_begin[0] + pads_end[0] - dilations[0] * (kh - 1) - 1) / strides[0] + 1
// (bw likewise) and L must be bh * bw; row c * kh * kw + i * kw + j of the block holds the
// padded-image element (c, y * s0 + i * d0, x * s1 + j * d1). Overlapping elements add up;
// elements that fall into the padding are dropped.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

class Col2Im : public Op<Col2Im> {
public:
    Col2Im() = default;
    Col2Im(std::vector<int64_t> strides, std::vector<int64_t> dilations, std::vector<int64_t> pads_begin,
           std::vector<int64_t> pads_end)
        : strides(std::move(strides)), dilations(std::move(dilations)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)) {}
    const char* type_name() const override { return "Col2Im"; }
    const char* opset() const override { return "opset15"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides{1, 1}, dilations{1, 1}, pads_begin{0, 0}, pads_end{0, 0};
};

}  // namespace kiln::op
