"""Per-op tests of the normalization and reduction family (translators/norm.cpp): instance, group,
batch and layer norm on every rank, local response norm, std/var/std_mean/var_mean (dims,
correction/unbiased, keepdim), vector/matrix/Frobenius norms of every order kiln can compute,
cdist, pairwise_distance, cosine_similarity, and the dtype rules of mean/sum/prod. Same helper and
rules as test_ops.py: scripted and traced, static and dynamic shapes, against torch eager at
rtol = atol = 1e-4.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_ops import ALL, C, F32, F32_X, INTS, In, X, check, fn, params

X3 = In((2, 3, 5), alt=(3, 3, 4))


def affine(m):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if getattr(m, "weight", None) is not None:
            m.weight.copy_(torch.randn(m.weight.shape, generator=g))
        if getattr(m, "bias", None) is not None:
            m.bias.copy_(torch.randn(m.bias.shape, generator=g))
        if getattr(m, "running_mean", None) is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return m


class Norm(nn.Module):
    def __init__(self, make):
        super().__init__()
        self.n = affine(make())

    def forward(self, a):
        return self.n(a)


def norm(make):
    return lambda: Norm(make)


@fn
def RmsNormFn(self, a, w):
    return F.rms_norm(a, (a.shape[-1],), w, 1e-6)


# ---- std / var

@fn
def StdDim(self, a):
    return torch.std(a, 1), torch.std(a, (0, 2), keepdim=True)


@fn
def StdUnbiased(self, a):
    return torch.std(a, unbiased=False), torch.std(a), torch.std(a, -1, False, True)


@fn
def StdCorrection(self, a):
    return torch.std(a, dim=1, correction=0), torch.std(a, dim=(1, 2), correction=2, keepdim=True), torch.std(a, correction=3)


@fn
def VarDim(self, a):
    return torch.var(a, 1), a.var((0, 2), keepdim=True), torch.var(a, unbiased=False), a.var()


@fn
def VarCorrection(self, a):
    return torch.var(a, dim=-1, correction=0, keepdim=True), torch.var(a, dim=None, correction=2)


@fn
def StdMean(self, a):
    return torch.std_mean(a, 1), torch.std_mean(a, (0, 2), keepdim=True), torch.std_mean(a, unbiased=False)


@fn
def VarMean(self, a):
    return torch.var_mean(a, -1, correction=0), torch.var_mean(a, (1, 2), keepdim=True), torch.var_mean(a)


@fn
def VarOne(self, a):
    return torch.var(a, 1), torch.std(a, 1, correction=0)  # a one-element dim: nan, and 0


# ---- norms

@fn
def VectorNorms(self, a):
    return (torch.linalg.vector_norm(a, 3, dim=1), torch.linalg.vector_norm(a, 0.5, dim=(0, 2), keepdim=True),
            torch.linalg.vector_norm(a, 0), torch.linalg.vector_norm(a, float("inf"), dim=-1),
            torch.linalg.vector_norm(a, -float("inf"), dim=-1), torch.linalg.vector_norm(a, -1.5, dim=1))


@fn
def NormP(self, a):
    return torch.norm(a), torch.norm(a, 3, 1), torch.norm(a, 1, (0, 2), True), torch.norm(a, p=float("inf")), torch.norm(a, "fro")


@fn
def VectorNormDtype(self, a):
    return torch.linalg.vector_norm(a, 2, dim=1, dtype=torch.float32)


@fn
def MatrixNorms(self, a):
    return (torch.linalg.matrix_norm(a), torch.linalg.matrix_norm(a, 1), torch.linalg.matrix_norm(a, -1),
            torch.linalg.matrix_norm(a, float("inf"), keepdim=True), torch.linalg.matrix_norm(a, -float("inf")),
            torch.linalg.matrix_norm(a, "fro", dim=(0, 2)), torch.linalg.matrix_norm(a, 1, dim=(2, 0)))


@fn
def MatrixNormNuc(self, a):
    return (torch.linalg.matrix_norm(a, "nuc"), torch.linalg.matrix_norm(a, "nuc", dim=(2, 0), keepdim=True),
            torch.linalg.norm(a, "nuc", dim=(1, 2)), torch.nuclear_norm(a[0]), torch.nuclear_norm(a, dim=(0, 1), keepdim=True))


@fn
def MatrixNorm2(self, a):
    sq = a[..., :3, :3]
    return (torch.linalg.matrix_norm(a, 2), torch.linalg.matrix_norm(a, -2, keepdim=True),
            torch.linalg.norm(a, 2, dim=(2, 1)), torch.linalg.cond(a), torch.linalg.cond(a, -2),
            torch.linalg.cond(sq, "fro"), torch.linalg.cond(sq, 1), torch.linalg.cond(sq, float("inf")))


@fn
def LinalgNorm(self, a):
    return (torch.linalg.norm(a), torch.linalg.norm(a, dim=1), torch.linalg.norm(a, 3, dim=-1, keepdim=True),
            torch.linalg.norm(a, dim=(1, 2)), torch.linalg.norm(a, float("inf"), dim=(0, 1)), torch.linalg.norm(a, "fro", (0, 2)))


@fn
def LinalgNorm2d(self, a):
    return torch.linalg.norm(a, 1), torch.linalg.norm(a, -float("inf")), torch.linalg.norm(a[0], 4)


@fn
def FrobeniusNorm(self, a):
    return torch.frobenius_norm(a, [1, 2]), torch.frobenius_norm(a, [0], True)


# ---- distances

@fn
def Cdist(self, a, b):
    return torch.cdist(a, b), torch.cdist(a, b, 1.0), torch.cdist(a, b, 0.0), torch.cdist(a, b, float("inf")), torch.cdist(a, b, 1.5)


@fn
def CdistBatched(self, a, b):
    return torch.cdist(a, b, 3.0)


@fn
def PairwiseDistance(self, a, b):
    return F.pairwise_distance(a, b), F.pairwise_distance(a, b, 1.0, 1e-3, True), F.pairwise_distance(a, b, float("inf"))


@fn
def CosineSimilarity(self, a, b):
    return F.cosine_similarity(a, b), F.cosine_similarity(a, b, -1, 1e-3)


@fn
def CosineBroadcast(self, a, b):
    return F.cosine_similarity(a, b, 1)


@fn
def CosineZero(self, a):
    return F.cosine_similarity(a, a * 0.0)


# ---- mean / sum / prod dtype rules

@fn
def SumDtypeOnly(self, a):
    return torch.sum(a, dtype=torch.float32), torch.sum(a, dtype=torch.int64)


@fn
def SumDims(self, a):
    return a.sum((0, 2)), a.sum(1, keepdim=True), a.sum(-1, dtype=torch.int32)


@fn
def ProdAll(self, a):
    return torch.prod(a), torch.prod(a, dtype=torch.float32), torch.prod(a, -1, keepdim=True)


@fn
def MeanDtype(self, a):
    return torch.mean(a, dtype=torch.float32), torch.mean(a, (0, 2), True, dtype=torch.float32)


@fn
def MeanFloat(self, a):
    return torch.mean(a), a.mean(-1), a.mean((1, 2), keepdim=True)


@fn
def LRN(self, a):
    return F.local_response_norm(a, 3), F.local_response_norm(a, 2, alpha=0.1, beta=0.5, k=2.0)


@fn
def InstanceNormFn(self, a):
    return F.instance_norm(a)


@fn
def GroupNormFn(self, a, w, b):
    return F.group_norm(a, 2, w, b, 1e-3)


CASES = [
    # instance norm: with and without running stats / affine, 1-D, 2-D and 3-D
    C("instance_norm1d", norm(lambda: nn.InstanceNorm1d(3)), X3),
    C("instance_norm1d_affine", norm(lambda: nn.InstanceNorm1d(3, affine=True)), X3),
    C("instance_norm2d", norm(lambda: nn.InstanceNorm2d(3, affine=True)), In((2, 3, 4, 5), alt=(1, 3, 6, 3))),
    C("instance_norm2d_running", norm(lambda: nn.InstanceNorm2d(3, track_running_stats=True)), In((2, 3, 4, 5), alt=(1, 3, 6, 3))),
    C("instance_norm3d_running_affine", norm(lambda: nn.InstanceNorm3d(2, affine=True, track_running_stats=True)),
      In((2, 2, 3, 4, 5), alt=(1, 2, 2, 3, 4))),
    C("instance_norm3d", norm(lambda: nn.InstanceNorm3d(2, eps=1e-3)), In((2, 2, 3, 4, 5), alt=(1, 2, 2, 3, 4))),
    C("instance_norm_fn", InstanceNormFn, In((2, 3, 4, 5), alt=(1, 3, 6, 3))),
    # group norm on any rank
    C("group_norm_2d_input", norm(lambda: nn.GroupNorm(2, 4)), In((3, 4), alt=(2, 4))),
    C("group_norm_1d", norm(lambda: nn.GroupNorm(3, 6)), In((2, 6, 5), alt=(1, 6, 7))),
    C("group_norm_3d", norm(lambda: nn.GroupNorm(2, 4, affine=False)), In((2, 4, 3, 4, 2), alt=(1, 4, 2, 3, 5))),
    C("group_norm_fn", GroupNormFn, [In((2, 4, 3), alt=(1, 4, 5)), In((4,), alt=(4,)), In((4,), alt=(4,))]),
    # batch norm on 2-D/3-D (BatchNorm1d) and 5-D (BatchNorm3d) inputs
    C("batch_norm1d_2d", norm(lambda: nn.BatchNorm1d(5)), In((3, 5), alt=(2, 5))),
    C("batch_norm1d_3d", norm(lambda: nn.BatchNorm1d(3)), X3),
    C("batch_norm1d_no_affine", norm(lambda: nn.BatchNorm1d(3, affine=False)), X3),
    C("batch_norm3d", norm(lambda: nn.BatchNorm3d(2)), In((2, 2, 3, 4, 5), alt=(1, 2, 2, 3, 4))),
    # layer norm over several trailing dims
    C("layer_norm_3dims", norm(lambda: nn.LayerNorm((3, 4, 5))), In((2, 3, 4, 5), alt=(1, 3, 4, 5))),
    C("layer_norm_3dims_no_bias", norm(lambda: nn.LayerNorm((4, 5), bias=False)), In((2, 3, 4, 5), alt=(1, 2, 4, 5))),
    # RMS norm (aten::rms_norm): with and without a weight, over one or two trailing dims, eps
    # given or torch's default (the computing type's machine epsilon)
    C("rms_norm", norm(lambda: nn.RMSNorm(5)), In((2, 3, 5), alt=(3, 4, 5)), F32_X),
    C("rms_norm_2dims_eps", norm(lambda: nn.RMSNorm((3, 5), eps=1e-3)), In((2, 3, 5), alt=(4, 3, 5)), F32_X),
    C("rms_norm_no_weight", norm(lambda: nn.RMSNorm(5, elementwise_affine=False)), In((2, 5), alt=(7, 5)), F32_X),
    C("rms_norm_fn", RmsNormFn, [X3, In((5,), alt=(4,))]),
    # local response norm (torch composes it of pad/avg_pool/pow; 3-D, 4-D and 5-D inputs)
    C("local_response_norm_3d", LRN, X3),
    C("local_response_norm_4d", LRN, In((2, 5, 3, 4), alt=(1, 5, 4, 3))),
    C("local_response_norm_5d", LRN, In((1, 4, 2, 3, 3), alt=(2, 4, 3, 2, 2))),
    # std / var and their _mean forms
    C("std", StdDim, X3),
    C("std_unbiased", StdUnbiased, X3),
    C("std_correction", StdCorrection, X3),
    C("var", VarDim, X3),
    C("var_correction", VarCorrection, X3),
    C("std_mean", StdMean, X3),
    C("var_mean", VarMean, X3),
    C("var_one_element", VarOne, In((2, 1, 3), alt=(3, 1, 2))),
    # norms
    C("vector_norm_orders", VectorNorms, X3),
    C("norm_p", NormP, X3),
    C("vector_norm_dtype", VectorNormDtype, X3),
    C("matrix_norm", MatrixNorms, X3),
    C("matrix_norm_nuc", MatrixNormNuc, X3),
    C("matrix_norm_2", MatrixNorm2, X3),
    C("linalg_norm", LinalgNorm, X3),
    C("linalg_norm_2d", LinalgNorm2d, In((4, 3), alt=(2, 5))),
    C("frobenius_norm", FrobeniusNorm, X3),
    # distances
    C("cdist", Cdist, [In((4, 3), alt=(2, 3)), In((5, 3), alt=(3, 3))]),
    C("cdist_batched", CdistBatched, [In((2, 4, 3), alt=(1, 2, 3)), In((2, 5, 3), alt=(1, 6, 3))]),
    C("pairwise_distance", PairwiseDistance, [In((4, 5), alt=(3, 5)), In((4, 5), alt=(3, 5))], INTS),
    C("cosine_similarity", CosineSimilarity, [X3, X3]),
    C("cosine_similarity_broadcast", CosineBroadcast, [In((2, 3, 5), alt=(3, 3, 4)), In((1, 3, 1), alt=(1, 3, 1))]),
    C("cosine_similarity_zero", CosineZero, X3),
    # dtype rules of sum / prod / mean
    C("sum_dtype_only", SumDtypeOnly, X3, ALL),
    C("sum_dims", SumDims, X3, ALL),
    C("prod_all", ProdAll, In((2, 3, 4), alt=(1, 3, 5), values="unit"), ALL),
    C("mean_dtype", MeanDtype, X3, ALL),
    C("mean_float", MeanFloat, X3),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
