// FakeQuantize (OpenVINO opset1): element-wise linear quantization onto `levels` values, kept in
// floating point.
//
// Inputs: X, input_low, input_high, output_low, output_high (floating, of X's type; each range
// numpy-broadcast against X: a scalar, or per channel such as [1, C, 1, 1]). Output: X's type,
// the numpy broadcast of the five shapes (X's shape when the ranges broadcast into it). For each
// element, with il, ih, ol, oh its broadcast range values:
//   x <= min(il, ih):  ol
//   x >  max(il, ih):  oh
//   otherwise:         round((x - il) / (ih - il) * (levels - 1)) / (levels - 1) * (oh - ol) + ol
// round is to nearest, ties to even (std::nearbyint, as OpenVINO's reference and torch's
// quantize). A degenerate range il == ih has no middle region: ol up to il, oh above it.
// torch's quantize_per_tensor(x, s, zp, quint8) then dequantize is FakeQuantize with levels 256,
// il = ol = (0 - zp) s, ih = oh = (255 - zp) s (qint8: -128 and 127).
#pragma once
#include <algorithm>
#include <cmath>

#include "kiln/core/node.hpp"
#include "kiln/ops/elementwise_binary.hpp"

namespace kiln::op {

class FakeQuantize : public Op<FakeQuantize> {
public:
    FakeQuantize() = default;
    explicit FakeQuantize(int64_t levels) : levels(levels) {}
    const char* type_name() const override { return "FakeQuantize"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t levels = 256;
    AutoBroadcast auto_broadcast = AutoBroadcast::numpy;
};

// The formula above for one element (the reference and the fast kernel's scalar path).
template <typename T>
inline T fake_quantize_value(T x, T il, T ih, T ol, T oh, int64_t levels) {
    if (x <= std::min(il, ih)) return ol;
    if (x > std::max(il, ih)) return oh;
    const T n = static_cast<T>(levels - 1);
    return std::nearbyint((x - il) / (ih - il) * n) / n * (oh - ol) + ol;
}

}  // namespace kiln::op
