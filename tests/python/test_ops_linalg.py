"""Per-op tests of the linear algebra family (translators/linalg.cpp, linear.cpp): einsum with
diagonals, ellipsis, implicit output and several operands; tensordot, outer, dot, vdot, mv, addmv,
addr, addbmm, addmm with beta = 0, kron, cross, matrix_power, chain_matmul / multi_dot, inverse,
det and slogdet; the SVD (linalg.svd, svd, svdvals) and what is computed from it (pinv, pinverse,
matrix_rank); the factorizations (cholesky and its solve and inverse, QR in every mode, eigh and
eigvalsh of either triangle), linalg.solve (matrix and vector right-hand sides, left=False),
triangular solves, vander. A singular vector is defined up to its sign, which LAPACK (torch) and kiln choose
differently: the SVD cases compare S, |U|, |Vh|, U^T U, Vh Vh^T and U diag(S) Vh, all sign-free. Same helper and rules as test_ops.py: scripted and traced, static and dynamic
shapes, against torch eager at rtol = atol = 1e-4.
"""
import pytest
import torch

from test_ops import ALL, C, F32, INTS, In, check, fn, params

V = In((5,), alt=(3,))
M = In((4, 5), alt=(2, 3))


@fn
def Outer(self, a, b):
    return torch.outer(a, b), torch.ger(a, b)


@fn
def Dot(self, a, b):
    return torch.dot(a, b), torch.vdot(a, b)


@fn
def Mv(self, a, v):
    return torch.mv(a, v)


@fn
def Addmv(self, c, a, v):
    return torch.addmv(c, a, v), torch.addmv(c, a, v, beta=2, alpha=3)


@fn
def AddmvBetaZero(self, c, a, v):
    return torch.addmv(c * float("nan"), a, v, beta=0.0, alpha=0.5)


@fn
def AddmmBetaZero(self, c, a, b):
    return torch.addmm(c * float("inf"), a, b, beta=0)


@fn
def Addr(self, c, a, b):
    return torch.addr(c, a, b)


@fn
def AddrScaled(self, c, a, b):
    return torch.addr(c, a, b, beta=2, alpha=-1)


@fn
def Addbmm(self, c, a, b):
    return torch.addbmm(c, a, b), torch.addbmm(c, a, b, beta=0.5, alpha=2)


@fn
def InplaceProducts(self, c, a, v, m, b1, b2):
    y = c * 1
    y.addmv_(m, v)
    z = m * 1
    z.addr_(a, v, beta=2)
    w = m * 1
    w.addbmm_(b1, b2)
    x = m * 1
    x.addmm_(m, b2[0], alpha=3)
    u = b1 * 1
    u.baddbmm_(b1, b2, beta=2)
    return y, z, w, x, u


@fn
def Kron(self, a, b):
    return torch.kron(a, b)


@fn
def Cross(self, a, b):
    return torch.cross(a, b, dim=1), torch.linalg.cross(a.transpose(1, 2), b.transpose(1, 2))


@fn
def CrossBroadcast(self, a, b):
    return torch.linalg.cross(a, b, dim=-1)


@fn
def MatrixPower(self, a):
    return (torch.linalg.matrix_power(a, 0), torch.linalg.matrix_power(a, 1), torch.matrix_power(a, 2),
            torch.linalg.matrix_power(a, 3), torch.linalg.matrix_power(a, 5))


@fn
def MatrixPowerNeg(self, a):
    a = a + 4 * torch.eye(a.shape[-1])
    return torch.linalg.matrix_power(a, -1), torch.linalg.matrix_power(a, -2)


@fn
def Inverse(self, a):
    a = a + 4 * torch.eye(a.shape[-1])
    return torch.inverse(a), torch.linalg.inv(a)


@fn
def Det(self, a):
    return torch.det(a), torch.linalg.det(a)


@fn
def SlogDet(self, a):
    return torch.slogdet(a), torch.linalg.slogdet(a)


def _svd_parts(u, s, vh):
    k = s.shape[-1]
    return (s, u[..., :k].abs(), vh[..., :k, :].abs(), u.mT @ u, vh @ vh.mT, (u[..., :k] * s.unsqueeze(-2)) @ vh[..., :k, :])


@fn
def Svd(self, a):
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    return _svd_parts(u, s, vh)


@fn
def SvdFull(self, a):
    u, s, vh = torch.linalg.svd(a)
    return _svd_parts(u, s, vh)


@fn
def SvdCore(self, a):
    u, s, vh = torch.ops.aten._linalg_svd(a, False, True)  # core ATen's spelling of linalg.svd
    return _svd_parts(u, s, vh)


@fn
def SvdLegacy(self, a):
    u, s, v = torch.svd(a)
    uf, sf, vf = torch.svd(a, some=False)
    u0, s0, v0 = torch.svd(a, compute_uv=False)
    return _svd_parts(u, s, v.mT) + _svd_parts(uf, sf, vf.mT) + (u0, s0, v0)


@fn
def SvdVals(self, a):
    return torch.linalg.svdvals(a), torch.linalg.svdvals(a.mT)


@fn
def Pinv(self, a):
    sym = a[..., :3, :3]
    return (torch.linalg.pinv(a), torch.pinverse(a), torch.pinverse(a, rcond=0.5), torch.linalg.pinv(a, rtol=0.3),
            torch.linalg.pinv(a, atol=0.8), torch.linalg.pinv(a, atol=0.2, rtol=0.4),
            torch.linalg.pinv(sym, hermitian=True))


@fn
def MatrixRank(self, a):
    low = a[..., :, :2] @ a[..., :2, :]  # rank 2
    return (torch.linalg.matrix_rank(a), torch.linalg.matrix_rank(low), torch.linalg.matrix_rank(a, tol=0.9),
            torch.linalg.matrix_rank(a, atol=0.5, rtol=0.1), torch.linalg.matrix_rank(a, rtol=0.6),
            torch.linalg.matrix_rank(low[..., :3, :3] @ low[..., :3, :3].mT, hermitian=True))


@fn
def DetSingular(self, a):
    b = torch.cat([a[..., :1, :], a[..., :1, :], a[..., 2:, :]], -2)  # two equal rows
    return torch.linalg.det(b)  # (slogdet's sign there depends on LAPACK's rounding)


@fn
def Tensordot(self, a, b):
    return torch.tensordot(a, b, dims=([1, 2], [0, 1])), torch.tensordot(a, b, dims=([2], [1]))


@fn
def TensordotInt(self, a, b):
    return torch.tensordot(a, b, 2), torch.tensordot(a, b, 0)


@fn
def ChainMatmul(self, a, b, c):
    return torch.chain_matmul(a, b, c)


@fn
def MultiDot(self, v, a, b, w):
    return torch.linalg.multi_dot([v, a, b, w]), torch.linalg.multi_dot([a, b])


@fn
def EinsumDiag(self, a):
    return torch.einsum("ii->i", a), torch.einsum("ii->", a), torch.einsum("ii", a)


@fn
def EinsumBatchDiag(self, a):
    return torch.einsum("bii->bi", a), torch.einsum("...ii->...i", a), torch.einsum("bjj->b", a)


@fn
def EinsumEllipsis(self, a, b):
    return torch.einsum("...ij,...jk->...ik", a, b)


@fn
def EinsumEllipsisBroadcast(self, a, b, c, d):
    return torch.einsum("...ij,jk->...ik", a, b), torch.einsum("b...i,bi->b...", a, c), torch.einsum("...ij,...jk->...ik", a, d)


@fn
def EinsumImplicit(self, a, b):
    return torch.einsum("ij,jk", a, b), torch.einsum("ba,ca", a, b.t())


@fn
def EinsumThree(self, a, b, c):
    return torch.einsum("ij,jk,kl->il", a, b, c), torch.einsum("ij,jk,kl->", a, b, c)


@fn
def EinsumVectors(self, a, b):
    return torch.einsum("i,i->", a, b), torch.einsum("i,j->ij", a, b), torch.einsum("i,j", a, b)


@fn
def EinsumDiagProduct(self, a, b):
    return torch.einsum("iij,jk->ik", a, b)


def _spd(a):
    """A symmetric positive-definite matrix from any square one."""
    return a @ a.mT + torch.eye(a.size(-1), dtype=a.dtype)


def _dominant(a):
    """A well-conditioned (diagonally dominant) matrix from a square one with entries in (-0.9, 0.9)."""
    return a + a.size(-1) * torch.eye(a.size(-1), dtype=a.dtype)


@fn
def Cholesky(self, a, b):
    s = _spd(a)
    low = torch.linalg.cholesky(s)
    ex = torch.linalg.cholesky_ex(s)
    return (low, torch.linalg.cholesky(s, upper=True), ex.L, ex.info, torch.cholesky_inverse(low),
            torch.cholesky_inverse(low.mT, upper=True), torch.cholesky_solve(b, low))


@fn
def CholeskyNotDefinite(self, a):
    # info: the order of the first leading minor that is not positive definite (here 2)
    s = _spd(a)
    s = torch.cat([s[..., :1, :], -s[..., 1:2, :] * 4, s[..., 2:, :]], -2)
    return torch.linalg.cholesky_ex(s).info


@fn
def Qr(self, a):
    q, r = torch.linalg.qr(a)
    qc, rc = torch.linalg.qr(a, mode="complete")
    return q, r, qc, rc, torch.linalg.qr(a, mode="r")[1]


@fn
def Eigh(self, a):
    s = _spd(a)
    w, v = torch.linalg.eigh(s)
    wu, vu = torch.linalg.eigh(a, UPLO="U")  # reads only the upper triangle of a
    return (w, v.abs(), (v * w.unsqueeze(-2)) @ v.mT, v.mT @ v, torch.linalg.eigvalsh(a), torch.linalg.eigvalsh(a, UPLO="U"),
            wu, (vu * wu.unsqueeze(-2)) @ vu.mT)


@fn
def FactorCoreSpellings(self, a, b):
    # core ATen's forms of eigh and solve (what torch.export's decomposition leaves)
    s = _spd(a)
    w, v = torch.ops.aten._linalg_eigh(s, "L", True)
    x = torch.ops.aten._linalg_solve_ex(_dominant(a * 0.1), b)
    return w, v.abs(), x[0], x[3]


@fn
def Solve(self, a, b, v):
    m = _dominant(a)
    return (torch.linalg.solve(m, b), torch.linalg.solve(m, v), torch.linalg.solve(m, b.mT, left=False),
            torch.linalg.solve_ex(m, b).result, torch.linalg.solve_ex(m, b).info)


@fn
def SolveTriangular(self, a, b):
    m = _dominant(a)
    return (torch.linalg.solve_triangular(m, b, upper=True), torch.linalg.solve_triangular(m, b, upper=False),
            torch.linalg.solve_triangular(m, b.mT, upper=True, left=False),
            torch.linalg.solve_triangular(m, b, upper=False, unitriangular=True),
            torch.triangular_solve(b, m).solution, torch.triangular_solve(b, m, upper=False, transpose=True).solution,
            torch.triangular_solve(b, m, unitriangular=True).solution)


@fn
def Vander(self, x):
    return torch.linalg.vander(x), torch.linalg.vander(x, N=3)


CASES = [
    C("outer", Outer, [V, In((4,), alt=(6,))], ALL),
    C("dot", Dot, [V, V], INTS),
    C("mv", Mv, [M, In((5,), alt=(3,))], INTS),
    C("addmv", Addmv, [In((4,), alt=(2,)), M, In((5,), alt=(3,))], INTS),
    C("addmv_beta_zero", AddmvBetaZero, [In((4,), alt=(2,)), M, In((5,), alt=(3,))]),
    C("addmm_beta_zero", AddmmBetaZero, [In((4, 6), alt=(2, 3)), M, In((5, 6), alt=(3, 3))]),
    C("addr", Addr, [In((5, 4), alt=(3, 6)), V, In((4,), alt=(6,))], ALL),
    C("addr_scaled", AddrScaled, [In((1, 4), alt=(1, 6)), V, In((4,), alt=(6,))], INTS),
    C("addbmm", Addbmm, [In((4, 6), alt=(2, 3)), In((3, 4, 5), alt=(2, 2, 4)), In((3, 5, 6), alt=(2, 4, 3))], INTS),
    C("inplace_products", InplaceProducts, [In((4,), alt=(4,)), In((4,), alt=(4,)), In((5,), alt=(5,)), In((4, 5), alt=(4, 5)),
                                            In((3, 4, 5), alt=(2, 4, 5)), In((3, 5, 5), alt=(2, 5, 5))], INTS),
    C("kron", Kron, [In((2, 3), alt=(3, 2)), In((4, 2), alt=(2, 5))], ALL),
    C("kron_ranks", Kron, [In((3,), alt=(2,)), In((2, 2, 3), alt=(1, 3, 2))], INTS),
    C("cross", Cross, [In((2, 3, 4), alt=(1, 3, 5)), In((2, 3, 4), alt=(1, 3, 5))], INTS),
    C("cross_broadcast", CrossBroadcast, [In((2, 4, 3), alt=(3, 2, 3)), In((1, 4, 3), alt=(1, 2, 3))], INTS),
    C("matrix_power", MatrixPower, In((2, 3, 3), alt=(1, 4, 4), values="unit"), INTS),
    C("matrix_power_negative", MatrixPowerNeg, In((2, 3, 3), alt=(1, 4, 4), values="unit")),
    C("inverse", Inverse, In((2, 4, 4), alt=(3, 3, 3), values="unit")),
    C("inverse_2d", Inverse, In((5, 5), alt=(2, 2), values="unit")),
    C("det", Det, In((2, 3, 3), alt=(4, 4, 4))),
    C("slogdet", SlogDet, In((2, 3, 3), alt=(4, 4, 4))),
    C("det_singular", DetSingular, In((2, 3, 3), alt=(1, 4, 4))),
    C("svd", Svd, In((2, 5, 3), alt=(3, 4, 4)), ("float32", "float64")),
    C("svd_wide", Svd, In((3, 6), alt=(2, 5))),
    C("svd_full", SvdFull, In((2, 5, 3), alt=(1, 3, 6)), ("float32", "float64")),
    C("svd_legacy", SvdLegacy, In((4, 3), alt=(3, 5))),
    C("svd_core_spelling", SvdCore, In((2, 4, 3), alt=(1, 3, 5))),
    C("svdvals", SvdVals, In((2, 4, 3), alt=(3, 3, 5))),
    C("pinv", Pinv, In((2, 4, 3), alt=(1, 3, 5))),
    C("matrix_rank", MatrixRank, In((2, 4, 4), alt=(3, 3, 5))),
    C("cholesky", Cholesky, [In((2, 4, 4), alt=(3, 3, 3)), In((2, 4, 2), alt=(3, 3, 5))], ("float32", "float64")),
    C("cholesky_not_definite", CholeskyNotDefinite, In((2, 4, 4), alt=(1, 3, 3))),
    C("qr", Qr, In((2, 5, 3), alt=(1, 3, 4)), ("float32", "float64")),
    C("qr_wide", Qr, In((3, 6), alt=(4, 4))),
    C("eigh", Eigh, In((2, 4, 4), alt=(3, 5, 5)), ("float32", "float64")),
    C("solve", Solve, [In((2, 4, 4), alt=(1, 3, 3), values="unit"), In((2, 4, 3), alt=(1, 3, 2)), In((2, 4), alt=(1, 3))],
      ("float32", "float64")),
    C("solve_triangular", SolveTriangular, [In((2, 4, 4), alt=(1, 3, 3), values="unit"), In((2, 4, 3), alt=(1, 3, 2))]),
    C("factor_core_spellings", FactorCoreSpellings, [In((2, 4, 4), alt=(1, 3, 3)), In((2, 4, 3), alt=(1, 3, 2))]),
    C("vander", Vander, In((5,), alt=(3,)), ("float32", "float64", "int64")),
    C("tensordot", Tensordot, [In((2, 3, 4), alt=(3, 3, 4)), In((3, 4, 5), alt=(3, 4, 2))], INTS),
    C("tensordot_int_dims", TensordotInt, [In((2, 3, 4), alt=(3, 3, 4)), In((3, 4), alt=(3, 4))], INTS),
    C("chain_matmul", ChainMatmul, [In((2, 3), alt=(4, 3)), In((3, 4), alt=(3, 2)), In((4, 5), alt=(2, 3))], INTS),
    C("multi_dot", MultiDot, [In((2,), alt=(2,)), In((2, 3), alt=(2, 4)), In((3, 4), alt=(4, 5)), In((4,), alt=(5,))], INTS),
    C("einsum_diagonal", EinsumDiag, In((4, 4), alt=(3, 3)), ALL[:3]),
    C("einsum_diagonal_bool", lambda: _EinsumDiagOnly(), In((4, 4), alt=(3, 3)), ("bool",)),
    C("einsum_batch_diagonal", EinsumBatchDiag, In((2, 3, 3), alt=(3, 4, 4)), INTS),
    C("einsum_ellipsis", EinsumEllipsis, [In((2, 3, 4, 5), alt=(1, 2, 3, 4)), In((2, 3, 5, 6), alt=(1, 2, 4, 2))], INTS),
    C("einsum_ellipsis_broadcast", EinsumEllipsisBroadcast, [In((2, 3, 4), alt=(3, 2, 5)), In((4, 6), alt=(5, 3)),
                                                             In((2, 4), alt=(3, 5)), In((1, 4, 2), alt=(1, 5, 3))]),
    C("einsum_implicit", EinsumImplicit, [In((3, 4), alt=(2, 5)), In((4, 5), alt=(5, 2))]),
    C("einsum_three", EinsumThree, [In((2, 3), alt=(4, 3)), In((3, 4), alt=(3, 2)), In((4, 5), alt=(2, 3))], ("float32", "int64")),  # torch's own int32 path fails
    C("einsum_vectors", EinsumVectors, [In((4,), alt=(3,)), In((4,), alt=(3,))], INTS),
    C("einsum_diagonal_product", EinsumDiagProduct, [In((3, 3, 4), alt=(2, 2, 5)), In((4, 2), alt=(5, 3))]),
]


@fn
def _EinsumDiagOnly(self, a):
    return torch.einsum("ii->i", a), torch.einsum("ij->ji", a)


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
