// Linear algebra on batches of matrices: Inverse (OpenVINO opset14), and kiln-internal ops
// (opset "kiln": no OpenVINO op computes them): Determinant, LogDeterminant and Svd.
//
// Every op takes data [..., M, N] (rank >= 2, f32 or f64; square for all but Svd) and works on
// each of the leading "batch" matrices on its own. The reference kernels factor each matrix by
// Gaussian elimination with partial pivoting (LU, PA = LU) or by one-sided Jacobi rotations
// (Svd), in double precision.
#pragma once
#include <optional>
#include <vector>

#include "kiln/core/node.hpp"

namespace kiln::op {

// Shared by the linear-algebra ops (linalg.cpp, linalg_factor.cpp).
//
// The reference kernels take f32 and f64: an error naming the node otherwise.
void check_float(const Node& n, Type t);

// The one input of an op on matrices, [..., M, N] f32 or f64 (square when `square`): its batch
// dims, M, N and K = min(M, N) with their intervals. nullopt when its rank is dynamic; a wrong
// type, a rank below 2 or non-square matrices fail through ctx.
struct MatrixShape {
    std::vector<Dimension> batch;
    Dimension m, n, k;
    // batch followed by `tail`
    PartialShape with(std::initializer_list<Dimension> tail) const;
};
std::optional<MatrixShape> matrix_input(const InferContext& ctx, bool square);

// kiln's sign for a singular vector or an eigenvector (column `col` of the rows x cols row-major
// `a`): +1 or -1, whichever makes its largest-magnitude entry (the first of equal ones) positive.
double column_sign(const std::vector<double>& a, int64_t rows, int64_t cols, int64_t col);

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

// kiln-internal. Singular value decomposition data = U diag(S) Vh of each matrix [..., M, N], with
// K = min(M, N): U [..., M, M] (full_matrices) or [..., M, K], S [..., K] in descending order, Vh
// [..., N, N] (full_matrices) or [..., K, N]; U's and Vh's rows/columns are orthonormal. A singular
// vector is defined up to sign (up to a rotation for equal singular values), as in LAPACK, whose
// choice torch returns: kiln makes the largest-magnitude entry of each column of U positive (the
// first of equal magnitudes), so its choice may differ from torch's while U diag(S) Vh, S, |U|
// and |Vh| (for distinct singular values) agree. Columns of U for zero singular values, and the
// extra ones of full_matrices, complete an orthonormal basis.
class Svd : public Op<Svd> {
public:
    Svd() = default;
    explicit Svd(bool full_matrices) : full_matrices(full_matrices) {}
    const char* type_name() const override { return "Svd"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("full_matrices", full_matrices); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool full_matrices = false;
};

}  // namespace kiln::op
