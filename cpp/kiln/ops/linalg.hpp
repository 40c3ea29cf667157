// Linear algebra on batches of square matrices: Inverse (OpenVINO opset14), and two kiln-internal
// ops, Determinant and LogDeterminant (opset "kiln": no OpenVINO op computes a determinant).
//
// Every op takes data [..., N, N] (rank >= 2, f32 or f64) and works on each of the leading
// "batch" matrices on its own. The reference kernels factor each matrix by Gaussian elimination
// with partial pivoting (LU, PA = LU) in double precision.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// Inverse-14. Output [..., N, N] of data's type: the inverse of each matrix, or of its adjoint
// (conjugate transpose; the transpose for real data) when `adjoint`. A singular matrix (a zero
// pivot) is an error at run time that names the batch element, as torch.linalg.inv raises.
class Inverse : public Op<Inverse> {
public:
    Inverse() = default;
    explicit Inverse(bool adjoint) : adjoint(adjoint) {}
    const char* type_name() const override { return "Inverse"; }
    const char* opset() const override { return "opset14"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("adjoint", adjoint); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool adjoint = false;
};

// kiln-internal. Output [...] (the batch shape): det of each matrix, the product of the LU
// pivots with the sign of the row permutation (0 for a singular matrix). N = 0 gives 1.
class Determinant : public Op<Determinant> {
public:
    const char* type_name() const override { return "Determinant"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// kiln-internal. Outputs [...] and [...]: sign (+1, -1, or 0 for a singular matrix) and
// log |det| (-inf for a singular matrix) of each matrix, as torch.linalg.slogdet gives them.
class LogDeterminant : public Op<LogDeterminant> {
public:
    const char* type_name() const override { return "LogDeterminant"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
