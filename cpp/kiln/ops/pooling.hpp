// Pooling: MaxPool (opsets 1, 8, 14), AvgPool (opsets 1, 14), AdaptiveAvgPool and AdaptiveMaxPool
// (opset8). Data is [N, C, spatial...] with 1 to 3 spatial axes; pooling runs over the spatial axes.
// The -14 versions add rounding_type ceil_torch (see RoundingType).
#pragma once
#include "kiln/ops/convolution.hpp"

namespace kiln::op {

// MaxPool-8 (and -14, and -1: values only, no dilations, index_element_type or axis).
// One input; outputs: values, and indices (index_element_type) of each maximum,
// flattened over the input axes from `axis` on (axis 0: over the whole tensor). Padding
// counts as -inf; a window that sees only padding (possible under ceil rounding) gives the
// lowest finite value and index 0.
class MaxPool : public Op<MaxPool> {
public:
    MaxPool() = default;
    MaxPool(std::vector<int64_t> strides, std::vector<int64_t> dilations,
            std::vector<int64_t> pads_begin, std::vector<int64_t> pads_end,
            std::vector<int64_t> kernel, RoundingType rounding_type = RoundingType::floor,
            PadType auto_pad = PadType::explicit_pad, Type index_element_type = Type::i64,
            int64_t axis = 0)
        : strides(std::move(strides)), dilations(std::move(dilations)),
          pads_begin(std::move(pads_begin)), pads_end(std::move(pads_end)),
          kernel(std::move(kernel)), rounding_type(rounding_type), auto_pad(auto_pad),
          index_element_type(index_element_type), axis(axis) {}
    const char* type_name() const override { return "MaxPool"; }
    // The version field, raised to 14 by rounding_type ceil_torch (MaxPool-14's).
    const char* opset() const override {
        return opset_name(rounding_type == RoundingType::ceil_torch ? std::max<int64_t>(opset_version, 14) : opset_version);
    }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    // Divisor of the flat input index that gives the index output (elements before `axis`
    // are not counted): product of input dims [axis, rank).
    int64_t index_span(const Shape& data) const;

    std::vector<int64_t> strides, dilations, pads_begin, pads_end, kernel;
    RoundingType rounding_type = RoundingType::floor;
    PadType auto_pad = PadType::explicit_pad;
    Type index_element_type = Type::i64;
    int64_t axis = 0;
    int64_t opset_version = 8;  // 1, 8 or 14
};

// AvgPool-1 (and -14: rounding_type ceil_torch). exclude_pad (IR "exclude-pad"): padded elements are not counted in the divisor;
// otherwise the divisor counts the window clipped to the padded input (pads_end included,
// the extra reach of ceil rounding not).
class AvgPool : public Op<AvgPool> {
public:
    AvgPool() = default;
    AvgPool(std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
            std::vector<int64_t> pads_end, std::vector<int64_t> kernel, bool exclude_pad,
            RoundingType rounding_type = RoundingType::floor,
            PadType auto_pad = PadType::explicit_pad)
        : strides(std::move(strides)), pads_begin(std::move(pads_begin)),
          pads_end(std::move(pads_end)), kernel(std::move(kernel)), exclude_pad(exclude_pad),
          rounding_type(rounding_type), auto_pad(auto_pad) {}
    const char* type_name() const override { return "AvgPool"; }
    // The version field, raised to 14 by rounding_type ceil_torch (AvgPool-14's).
    const char* opset() const override {
        return opset_name(rounding_type == RoundingType::ceil_torch ? std::max<int64_t>(opset_version, 14) : opset_version);
    }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    std::vector<int64_t> strides, pads_begin, pads_end, kernel;
    bool exclude_pad = false;
    RoundingType rounding_type = RoundingType::floor;
    PadType auto_pad = PadType::explicit_pad;
    int64_t opset_version = 1;  // 1 or 14
};

// AdaptiveAvgPool-8. Inputs: data, output spatial shape (i32/i64, one value per spatial axis).
// Bin i of an axis of size L split into O covers [floor(i*L/O), ceil((i+1)*L/O)).
class AdaptiveAvgPool : public Op<AdaptiveAvgPool> {
public:
    AdaptiveAvgPool() = default;
    const char* type_name() const override { return "AdaptiveAvgPool"; }
    const char* opset() const override { return "opset8"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// AdaptiveMaxPool-8. As AdaptiveAvgPool; second output: indices of the maxima flattened
// over the spatial axes of each (n, c) plane.
class AdaptiveMaxPool : public Op<AdaptiveMaxPool> {
public:
    AdaptiveMaxPool() = default;
    explicit AdaptiveMaxPool(Type index_element_type) : index_element_type(index_element_type) {}
    const char* type_name() const override { return "AdaptiveMaxPool"; }
    const char* opset() const override { return "opset8"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type index_element_type = Type::i64;
};

// Static geometry of a MaxPool / AvgPool at these shapes (kernels use it too).
window::Geometry pool_geometry(const Shape& data, const Shape& out,
                               const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides,
                               const std::vector<int64_t>& dilations,
                               const std::vector<int64_t>& pads_begin,
                               const std::vector<int64_t>& pads_end, PadType auto_pad);

// The adaptive bins of one axis: [start, end) of bin i.
inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
    return ((i + 1) * in + out - 1) / out;
}

}  // namespace kiln::op
