// Discrete Fourier transforms: DFT, IDFT (opset7), RDFT, IRDFT (opset9).
// Complex tensors are real tensors with a trailing dimension of 2: [..., 0] the real parts,
// [..., 1] the imaginary parts (f32 or f64).
// Inputs of each: data, axes (1-D integer, constant: the axes to transform, in any order; for
// complex data they index the dims before the trailing 2), optional signal_size (1-D integer, one
// per axis: the length the axis is cut or zero-padded to first; -1 keeps it).
// DFT:  complex -> complex, unnormalized: X[k] = sum_t x[t] e^{-2 pi i k t / n} along each axis.
// IDFT: complex -> complex, the inverse: divided by the product of the transformed lengths.
// RDFT: real -> complex, as DFT with the last of `axes` keeping n / 2 + 1 (the other half is the
//       conjugate mirror).
// IRDFT: complex (half spectrum on the last of axes) -> real, the inverse of RDFT; the last axis
//       has signal_size (or 2 * (m - 1) for m input values), the half spectrum is extended by
//       its conjugate mirror, imaginary parts that the mirror cannot hold are ignored.
// The kernel is O(n log n) for every length: radix-2 for powers of two, Bluestein's chirp
// convolution (through radix-2 FFTs) for the others above 16, the direct sum below.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

enum class FFTKind { dft, idft, rdft, irdft };

template <typename Derived, FFTKind Kind>
class FFTOp : public Op<Derived> {
public:
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

class DFT : public FFTOp<DFT, FFTKind::dft> {
public:
    const char* type_name() const override { return "DFT"; }
    const char* opset() const override { return "opset7"; }
};
class IDFT : public FFTOp<IDFT, FFTKind::idft> {
public:
    const char* type_name() const override { return "IDFT"; }
    const char* opset() const override { return "opset7"; }
};
class RDFT : public FFTOp<RDFT, FFTKind::rdft> {
public:
    const char* type_name() const override { return "RDFT"; }
    const char* opset() const override { return "opset9"; }
};
class IRDFT : public FFTOp<IRDFT, FFTKind::irdft> {
public:
    const char* type_name() const override { return "IRDFT"; }
    const char* opset() const override { return "opset9"; }
};

}  // namespace kiln::op
