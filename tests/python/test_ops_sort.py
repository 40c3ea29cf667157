"""Per-op tests of order statistics (translators/movement.cpp and index.cpp): kthvalue, median /
nanmedian (global and along a dim, values and indices), msort, and the stable and descending
forms of sort / argsort. Values are distinct where torch does not promise which of equal values
it picks. Same helper and rules as test_ops.py.
"""
import pytest
import torch

from test_ops import C, F32, INTS, In, X, check, fn, params

DISTINCT = In((2, 3, 5, 7), values="any")


@fn
def Kthvalue(self, a):
    return torch.kthvalue(a, 2, dim=1)


@fn
def KthvalueKeep(self, a):
    return a.kthvalue(3, -1, keepdim=True)


@fn
def KthvalueRuntime(self, a):
    return torch.kthvalue(a, a.size(2) // 2 + 1, 2)


@fn
def Median(self, a):
    return torch.median(a)


@fn
def MedianDim(self, a):
    return torch.median(a, 1)


@fn
def MedianDimKeep(self, a):
    return a.median(dim=-1, keepdim=True)


@fn
def MedianNan(self, a):
    b = torch.where(a > 2.0, torch.full_like(a, float("nan")), a)
    return torch.median(b, 1), torch.median(b)


@fn
def NanMedian(self, a):
    b = torch.where(a > 1.5, torch.full_like(a, float("nan")), a)
    return torch.nanmedian(b)


@fn
def NanMedianDim(self, a):
    b = torch.where(a > 1.0, torch.full_like(a, float("nan")), a)
    return torch.nanmedian(b, 3)


@fn
def Mode(self, a):
    return torch.mode(a), torch.mode(a, 1, keepdim=True)


@fn
def Msort(self, a):
    return torch.msort(a)


@fn
def SortStableDescending(self, a):
    return torch.sort(a, dim=1, descending=True, stable=True)


@fn
def ArgsortStableDescending(self, a):
    return torch.argsort(a, dim=-1, descending=True, stable=True)


CASES = [
    C("kthvalue", Kthvalue, DISTINCT),
    C("kthvalue_keep", KthvalueKeep, DISTINCT),
    C("kthvalue_runtime", KthvalueRuntime, DISTINCT),
    C("median", Median, DISTINCT),
    C("median_dim", MedianDim, DISTINCT),
    C("median_dim_keep", MedianDimKeep, DISTINCT),
    C("median_nan", MedianNan, DISTINCT),
    C("nanmedian", NanMedian, DISTINCT),
    C("nanmedian_dim", NanMedianDim, DISTINCT),
    C("mode", Mode, In((2, 3, 5, 7), values="idx:3"), INTS),
    C("msort", Msort, DISTINCT, INTS),
    C("sort_stable_descending", SortStableDescending, X, INTS),
    C("argsort_stable_descending", ArgsortStableDescending, X, INTS),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
