// Matrix factorizations (opset "kiln": OpenVINO has none of them), on batches [..., M, N] of f32
// or f64 matrices, computed in double precision by their reference kernels:
//   Cholesky  A = L Lᵀ of a symmetric positive-definite A (its lower triangle read), as LAPACK's
//             potrf; outputs L (or U = Lᵀ with `upper`) and info [...] i32: 0, or the 1-based
//             order of the first leading minor that is not positive definite (L is then NaN from
//             that column on, where torch's linalg.cholesky would raise).
//   Qr        A = Q R by Householder reflections with LAPACK's sign choice (geqrf's β = -sign(α)‖x‖,
//             no reflection for a column already reduced), so Q and R equal LAPACK's, not only
//             up to signs; mode reduced (Q [M, K], R [K, N], K = min(M, N)), complete (Q [M, M],
//             R [M, N]) or r (R [K, N] and an empty Q [0]).
//   Eigh      the eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric
//             matrix given by its lower (default) or upper triangle: cyclic Jacobi rotations. An
//             eigenvector's sign is a choice (LAPACK's is torch's): kiln makes the largest-magnitude
//             entry of each positive, so V diag(w) Vᵀ, w and |V| (distinct eigenvalues) match.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

class Cholesky : public Op<Cholesky> {
public:
    Cholesky() = default;
    explicit Cholesky(bool upper) : upper(upper) {}
    const char* type_name() const override { return "Cholesky"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("upper", upper); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool upper = false;
};

enum class QrMode { reduced, complete, r };

class Qr : public Op<Qr> {
public:
    Qr() = default;
    explicit Qr(QrMode mode) : mode(mode) {}
    const char* type_name() const override { return "Qr"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    QrMode mode = QrMode::reduced;
};

class Eigh : public Op<Eigh> {
public:
    Eigh() = default;
    explicit Eigh(bool lower) : lower(lower) {}
    const char* type_name() const override { return "Eigh"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override { v.on("lower", lower); }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool lower = true;
};

}  // namespace kiln::op
