"""Per-op tests of the math family (translators/math.cpp, and the dtype rules of elementwise.cpp):
trigonometric and hyperbolic functions, log/exp variants, rounding, activations built from opset
ops, NaN/inf tests, integer bitwise ops and shifts, integer matmul, scans, diff, fill_diagonal_,
identities; then regressions of the fidelity issue (out= arguments, 0-d inputs, torch's type
promotion, all/any along dims, constants kiln cannot represent, common forms of supported ops).
Same helper and rules as test_ops.py: scripted and traced, static and dynamic shapes, every dtype
torch takes for the op (the first in all four modes, the others scripted with dynamic shapes),
against torch eager at rtol = atol = 1e-4 (one half-type ulp for float16 / bfloat16).
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kiln
from test_ops import CORE, C, DATA_INT, EXPORT_FAILED, In, X, check, fn, params

FLOATS = ("float32", "float64", "float16", "bfloat16")
INTEGERS = ("int64", "int32", "int16", "int8", "uint8")
NUMERIC = FLOATS + INTEGERS
SIGNED = ("int64", "int32", "int16", "int8")
FLOAT_OF_INT = FLOATS + ("int64", "int32")  # float ops that take integers (result: float32)
X2 = [X, In((2, 3, 5, 7))]
XB = [In((2, 3, 5, 7)), In((3, 1, 7), alt=(3, 1, 8))]
NZ = In((2, 3, 5, 7), values="nonzero")
UNIT = In((2, 3, 5, 7), values="unit")
POS = In((2, 3, 5, 7), values="pos")
SHIFT = In((2, 3, 5, 7), dtype=None, values="idx:6")


# ---------------------------------------------------------------------------------------------
# log / exp variants, trigonometry


@fn
def Erfc(self, a):
    return torch.erfc(a)


@fn
def Expm1(self, a):
    return torch.expm1(a)


@fn
def Log1p(self, a):
    return torch.log1p(a)


@fn
def Log2(self, a):
    return torch.log2(a)


@fn
def Log10(self, a):
    return torch.log10(a)


@fn
def Tan(self, a):
    return torch.tan(a)


@fn
def Asin(self, a):
    return torch.asin(a)


@fn
def Acos(self, a):
    return torch.acos(a)


@fn
def Atan(self, a):
    return torch.atan(a)


@fn
def Sinh(self, a):
    return torch.sinh(a)


@fn
def Cosh(self, a):
    return torch.cosh(a)


@fn
def Asinh(self, a):
    return torch.asinh(a)


@fn
def Acosh(self, a):
    return torch.acosh(a.abs() + 1)


@fn
def Atanh(self, a):
    return torch.atanh(a)


@fn
def Atan2(self, a, b):
    return torch.atan2(a, b)


@fn
def TrigInplace(self, a):
    y = a.clone()
    y.sin_()
    y.cos_()
    y.tan_()
    y.atan_()
    y.sinh_()
    y.asinh_()
    return y


@fn
def LogInplace(self, a):
    y = a.abs() + 0.5
    y.log2_()
    y.log10_()
    y.log1p_()
    y.expm1_()
    y.erfc_()
    return y


# ---------------------------------------------------------------------------------------------
# rounding and remainders


@fn
def Round(self, a):
    return torch.round(a * 2.5)


@fn
def RoundDecimals(self, a):
    return torch.round(a, decimals=2) + torch.round(a * 100, decimals=-1)


@fn
def Trunc(self, a):
    return torch.trunc(a * 1.5)


@fn
def Fix(self, a):
    return torch.fix(a * 1.5)


@fn
def Frac(self, a):
    return torch.frac(a * 1.5)


@fn
def RoundInplace(self, a):
    y = a * 1.5
    y.round_()
    z = a * 1.7
    z.trunc_()
    w = a * 1.3
    w.frac_()
    return y + z + w


@fn
def Fmod(self, a, b):
    return torch.fmod(a, b)


@fn
def FmodScalar(self, a):
    return torch.fmod(a, 3)


@fn
def Gcd(self, a, b):
    y = a.clone()
    y.gcd_(b)
    z = a.clone()
    z.lcm_(b)
    return torch.gcd(a, b), torch.lcm(a, b), y, z


# ---------------------------------------------------------------------------------------------
# activations and other compositions


@fn
def Celu(self, a):
    return F.celu(a, alpha=0.7) + F.celu(a)


@fn
def Selu(self, a):
    return F.selu(a)


@fn
def Glu(self, a):
    return F.glu(a, dim=1) .sum() + F.glu(a.transpose(1, 3), dim=1).sum()


@fn
def GluLast(self, a):
    return F.glu(a)


@fn
def LogSigmoid(self, a):
    return F.logsigmoid(a)


@fn
def Softsign(self, a):
    return F.softsign(a)


@fn
def Hardshrink(self, a):
    return F.hardshrink(a, 0.8)


@fn
def Softshrink(self, a):
    return F.softshrink(a, 0.8)


@fn
def Threshold(self, a):
    return F.threshold(a, 0.3, -2.0)


@fn
def ThresholdInplace(self, a):
    y = a.clone()
    F.threshold(y, 0.3, -2.0, inplace=True)
    return y


@fn
def Logit(self, a):
    return torch.logit(a) + torch.logit(a, eps=0.2)


@fn
def Xlogy(self, a, b):
    return torch.xlogy(torch.relu(a), b)


@fn
def Addcmul(self, a, b, c):
    return torch.addcmul(a, b, c) + torch.addcmul(a, b, c, value=0.5)


@fn
def Addcdiv(self, a, b, c):
    return torch.addcdiv(a, b, c, value=2)


@fn
def AddcInplace(self, a, b, c):
    y = a.clone()
    y.addcmul_(b, c, value=3)
    y.addcdiv_(b, c)
    return y


@fn
def LerpScalar(self, a, b):
    return torch.lerp(a, b, 0.3) + torch.lerp(a, b, 0.8)


@fn
def LerpTensor(self, a, b, w):
    return torch.lerp(a, b, w)


@fn
def Logsumexp(self, a):
    return torch.logsumexp(a, 1) + torch.logsumexp(a, (1, 3), keepdim=True).sum()


@fn
def Logaddexp(self, a, b):
    return torch.logaddexp(a, b)


@fn
def ClampTensors(self, a, lo, hi):
    return torch.clamp(a, lo, hi)


@fn
def Copysign(self, a, b):
    return torch.copysign(a, b)


@fn
def IsNan(self, a):
    y = torch.where(a > 1.5, torch.full_like(a, float("inf")), a)
    y = torch.where(a < -1.5, torch.full_like(a, float("-inf")), y)
    y = torch.where(a.abs() < 0.2, torch.full_like(a, float("nan")), y)
    return torch.isnan(y), torch.isinf(y), torch.isfinite(y), torch.isposinf(y), torch.isneginf(y)


@fn
def IsNanInt(self, a):
    return torch.isnan(a), torch.isinf(a), torch.isfinite(a)


@fn
def NanToNum(self, a):
    y = torch.where(a > 1.5, torch.full_like(a, float("inf")), a)
    y = torch.where(a < -1.5, torch.full_like(a, float("-inf")), y)
    y = torch.where(a.abs() < 0.2, torch.full_like(a, float("nan")), y)
    return torch.nan_to_num(y, nan=0.5, posinf=9.0, neginf=-9.0), torch.nan_to_num(y).clamp(-1e3, 1e3)


# ---------------------------------------------------------------------------------------------
# bitwise


@fn
def BitAnd(self, a, b):
    return torch.bitwise_and(a, b), a & b


@fn
def BitOr(self, a, b):
    return torch.bitwise_or(a, b), a | b


@fn
def BitXor(self, a, b):
    return torch.bitwise_xor(a, b), a ^ b


@fn
def BitNot(self, a):
    return torch.bitwise_not(a), ~a


@fn
def BitScalar(self, a):
    return a & 5, a | 2, a ^ 3


@fn
def BitInplace(self, a, b):
    y = a.clone()
    y &= b
    z = a.clone()
    z |= b
    w = a.clone()
    w ^= b
    v = a.clone()
    v.bitwise_and_(b)
    return y, z, w, v


@fn
def Shifts(self, a, s):
    return a << s, a >> s, torch.bitwise_left_shift(a, s), torch.bitwise_right_shift(a, s)


@fn
def ShiftScalar(self, a):
    return a << 2, a >> 1


@fn
def ShiftInplace(self, a, s):
    y = a.clone()
    y <<= s
    z = a.clone()
    z >>= s
    return y, z


# ---------------------------------------------------------------------------------------------
# matrix products of integers, scans, diff, fills, identities


@fn
def Matmul(self, a, b):
    return torch.matmul(a, b)


@fn
def Mm(self, a, b):
    return torch.mm(a, b)


@fn
def Bmm(self, a, b):
    return torch.bmm(a, b)


@fn
def Cumprod(self, a):
    return torch.cumprod(a, 1), torch.cumprod(a, -1)


@fn
def CumprodDtype(self, a):
    return torch.cumprod(a, 2, dtype=torch.float64)


@fn
def CumprodInplace(self, a):
    y = a.clone()
    y.cumprod_(0)
    return y


@fn
def Cummax(self, a):
    v, i = torch.cummax(a, 2)
    return v, i


@fn
def Cummin(self, a):
    v, i = torch.cummin(a, -1)
    return v, i


@fn
def Diff(self, a):
    return torch.diff(a)


@fn
def DiffPrepend(self, a, b):
    return torch.diff(a, n=2, dim=1, prepend=b, append=b)


@fn
def Fill(self, a):
    y = a.clone()
    y.fill_(3)
    return y


@fn
def FillTensor(self, a, v):
    y = a.clone()
    y.fill_(v.sum())
    return y


@fn
def FillDiagonal(self, a):
    y = a.clone()
    y.fill_diagonal_(7)
    return y


@fn
def FillDiagonalWrap(self, a):
    y = a.clone()
    y.fill_diagonal_(7, wrap=True)
    return y


@fn
def IdentityKinds(self, a):
    return a.clone().detach().contiguous() + torch.positive(a) + a.resolve_conj() + a.resolve_neg()


@fn
def InverseTrigInplace(self, a):
    y = a * 0.5
    y.asin_()
    z = a * 0.5
    z.acos_()
    w = a * 0.5
    w.atanh_()
    v = a.abs() + 1
    v.acosh_()
    u = a.clone()
    u.cosh_()
    u.atan2_(a)
    return y + z + w + v + u


@fn
def ActivationInplace(self, a):
    y = a.clone()
    F.celu(y, inplace=True)
    F.selu(y, inplace=True)
    z = torch.sigmoid(a)
    z.logit_()
    w = a.clone()
    w.copysign_(a - 0.5)
    w.lerp_(a, 0.3)
    w.xlogy_(a.abs() + 0.5)
    return y + z + w


@fn
def FmodNanInplace(self, a):
    y = a.clone()
    y.fmod_(1.5)
    z = a / (a - a)
    z.nan_to_num_(1.0, 2.0, -2.0)
    return y + z


@fn
def BitwiseMethodsInplace(self, a, b):
    y = a.clone()
    y.bitwise_or_(b)
    y.bitwise_xor_(b)
    y.bitwise_not_()
    z = a.clone()
    z.bitwise_left_shift_(2)
    z.bitwise_right_shift_(1)
    return y, z


@fn
def IntImplicit(self, a, n):
    k = n.sum()
    return a[:, :k] * 2


def _scale(x, s: float):
    return x * s


@fn
def FloatImplicit(self, a):
    return _scale(a, a.max())


class Alias(nn.Module):
    def forward(self, a):
        return torch.ops.aten.alias(a) * 2


# ---------------------------------------------------------------------------------------------
# Regressions of the fidelity issue: out=, type promotion, all/any, common forms of supported ops


@fn
def AddOut(self, a, b, o):
    torch.add(a, b, out=o)
    return o, o * 2


@fn
def MulOutView(self, a, b):
    o = torch.zeros_like(a)
    torch.mul(a[0], b, out=o[0])
    return o


@fn
def SumOutCast(self, a, o):
    torch.sum(a, 1, out=o)
    return o + 1


@fn
def Empties(self, a):
    e = torch.empty(2, 3)
    f = torch.empty_like(a, dtype=torch.int32)
    g = a.new_empty((4,))
    return e.shape[0] + f.shape[1] + g.shape[0] + a, f * 0


@fn
def MaxOutTuple(self, a):
    v = torch.empty(0)
    i = torch.empty(0, dtype=torch.long)
    torch.max(a, 1, out=(v, i))
    return v * 2, i


@fn
def MixedFloat(self, a, b):
    return a + b, a * b, torch.maximum(a, b)


@fn
def IntWithZeroDimFloat(self, a, b):
    return a * b.sum(), a + 2.5, a // 2


@fn
def Uint8Int8(self, a, b):
    return a + b, a * b


@fn
def HalfWithFloatZeroDim(self, a, b):
    return a + b.sum(), a * 0.1


@fn
def ReduceDtypes(self, a):
    return a.prod(), a.sum(1), torch.cumsum(a, 0), a.amax(1), a.prod(0)


@fn
def AllAnyDims(self, a):
    return torch.all(a > 0, 1), torch.any(a > 0, dim=2, keepdim=True), torch.all(a > -9), torch.any(a < -1, 0)


@fn
def AllAnyUint8(self, a):
    return torch.all(a, 1), torch.any(a, dim=0, keepdim=True), torch.all(a)


@fn
def VectorNorms(self, a):
    r = []
    for p in [0.0, 1.0, -1.0, 2.0, -2.0, float("inf"), float("-inf"), 0.5, 3.0]:
        r.append(torch.linalg.vector_norm(a, p, dim=(1, 3)))
    return torch.stack(r)


@fn
def NormDtype(self, a):
    return torch.linalg.vector_norm(a, 2, dim=(1,), dtype=torch.float64), torch.norm(a, p=3)


@fn
def MatrixNorms(self, a):
    return (torch.linalg.matrix_norm(a), torch.linalg.matrix_norm(a, 1), torch.linalg.matrix_norm(a, -1),
            torch.linalg.matrix_norm(a, float("inf"), dim=(0, 2)), torch.linalg.matrix_norm(a, float("-inf"), keepdim=True),
            torch.linalg.norm(a, dim=(0, 1)), torch.linalg.norm(a))


@fn
def MatrixNorm2(self, a):
    return torch.linalg.matrix_norm(a, 2)


@fn
def ReduceDimNone(self, a):
    return a.sum(dim=None), torch.sum(a, dim=None, keepdim=True), a.mean(dim=None)


@fn
def ReduceRuntimeDim(self, a):
    d = a.dim() - 1
    return a.sum(d), torch.amax(a, d), torch.amin(a, dim=d - 1, keepdim=True)


@fn
def ReduceDataDim(self, a, n):
    d = int(n.sum())
    return a.sum(d), torch.amax(a, d, keepdim=True), torch.amin(a, dim=[d])


@fn
def NarrowRuntime(self, a, s):
    return a.narrow(1, s.sum(), 2), a.narrow(-1, s.sum() - 3, 2)


@fn
def FullLikeRuntime(self, a):
    return torch.full_like(a, a.max().item()), a.new_full((2, 3), a.min().item())


@fn
def WhereNonzero(self, a):
    i, j = torch.where(a > 0.5)
    return i, j, a[i, j]


@fn
def ArangeTensorEnds(self, a, n):
    return torch.arange(n.sum()) * 2, torch.arange(n.sum() - 4, n.sum(), 2), torch.arange(n.max().float() / 2)


@fn
def TensorOfScalars(self, a):
    return a * torch.tensor([a.sum().item(), 2.0, a.max().item()]), a + torch.tensor([1, 2, 3])


@fn
def Hypot(self, a, b):
    return torch.hypot(a, b), a.clone().hypot_(b * 2)


@fn
def Logaddexp2(self, a, b):
    return torch.logaddexp2(a, b), torch.logaddexp2(a, a)


@fn
def AngleUnits(self, a):
    return torch.rad2deg(a), torch.deg2rad(a), a.clone().rad2deg_(), a.clone().deg2rad_()


@fn
def Signbit(self, a):
    return torch.signbit(a), torch.signbit(a * 0 - 0.0), torch.sgn(a), a.clone().sgn_()


@fn
def SignbitInt(self, a):
    return torch.signbit(a), torch.sgn(a)


@fn
def FloatPower(self, a, b):
    return torch.float_power(a, b), torch.float_power(a, 2), torch.float_power(2.5, b)


@fn
def Heaviside(self, a, v):
    return torch.heaviside(a.round(), v), a.round().heaviside_(v)


@fn
def Ldexp(self, a, e):
    return torch.ldexp(a, e), a.clone().ldexp_(e)


@fn
def Trapezoid(self, y, x):
    return (torch.trapezoid(y), torch.trapezoid(y, dx=0.5, dim=1), torch.trapezoid(y, x, dim=-1), torch.trapz(y, x),
            torch.cumulative_trapezoid(y, dim=2), torch.cumulative_trapezoid(y, x))


@fn
def Cov(self, a):
    return torch.cov(a), torch.cov(a, correction=0), torch.corrcoef(a), torch.cov(a[0]), torch.corrcoef(a[0])


@fn
def NanReductions(self, a):
    x = torch.where(a > 1.5, torch.full_like(a, float("nan")), a)
    return (torch.nansum(x), torch.nansum(x, 1), torch.nansum(x, (0, 2), keepdim=True), torch.nanmean(x, -1),
            torch.nanmean(x, dim=(1, 3), keepdim=True), torch.nansum(a, dtype=torch.float64))


@fn
def Aminmax(self, a):
    lo, hi = torch.aminmax(a)
    lo1, hi1 = torch.aminmax(a, dim=1)
    lo2, hi2 = torch.aminmax(a, dim=-1, keepdim=True)
    return lo, hi, lo1, hi1, lo2, hi2


@fn
def Logcumsumexp(self, a):
    return torch.logcumsumexp(a, 1), torch.logcumsumexp(a * 300, -1)  # terms far below the running max


@fn
def Renorm(self, a):
    return torch.renorm(a, 2, 0, 5.0), torch.renorm(a, 1, 1, 3.0), torch.renorm(a, float("inf"), 3, 1.0), a.clone().renorm_(3, 2, 2.0)


@fn
def Atleast(self, a, v, s):
    return (torch.atleast_1d(s), torch.atleast_2d(v), torch.atleast_3d(v), torch.atleast_3d(a), torch.atleast_2d(a),
            torch.atleast_3d(s), torch.atleast_1d(a))


@fn
def AtleastList(self, a, v):
    return torch.atleast_2d([a, v]), torch.atleast_3d((v, a))


@fn
def SpecialAliasesOfOthers(self, a):
    return (torch.special.expit(a), torch.special.logit(a.sigmoid()), torch.special.log1p(a.abs()), torch.special.round(a),
            torch.special.xlogy(a, a.abs() + 1), torch.special.erf(a), torch.special.erfc(a), torch.special.expm1(a),
            torch.special.softmax(a, 1), torch.special.log_softmax(a, -1), torch.special.logsumexp(a, 1))


def _cases():
    return [
        # log / exp variants and trigonometry
        C("erfc", Erfc, X, FLOAT_OF_INT),
        C("expm1", Expm1, X, FLOAT_OF_INT),
        C("log1p", Log1p, POS, FLOAT_OF_INT),
        C("log2", Log2, POS, FLOAT_OF_INT),
        C("log10", Log10, POS, FLOAT_OF_INT),
        C("tan", Tan, UNIT, FLOAT_OF_INT),
        C("asin", Asin, UNIT, FLOAT_OF_INT),
        C("acos", Acos, UNIT, FLOAT_OF_INT),
        C("atan", Atan, X, FLOAT_OF_INT),
        C("sinh", Sinh, X, FLOAT_OF_INT),
        C("cosh", Cosh, X, FLOAT_OF_INT),
        C("asinh", Asinh, X, FLOAT_OF_INT),
        C("acosh", Acosh, X, FLOAT_OF_INT),
        C("atanh", Atanh, UNIT, FLOAT_OF_INT),
        C("atan2", Atan2, XB, FLOAT_OF_INT),
        C("trig_", TrigInplace, UNIT, FLOATS),
        C("log_", LogInplace, X, FLOATS),
        # rounding and remainders
        C("round", Round, X, FLOATS),
        C("round_decimals", RoundDecimals, X, ("float32", "float64")),
        C("trunc", Trunc, X, FLOATS),
        C("fix", Fix, X, FLOATS),
        C("frac", Frac, X, FLOATS),
        C("round_", RoundInplace, X, FLOATS),
        C("fmod", Fmod, [X, NZ], NUMERIC),
        C("fmod_scalar", FmodScalar, X, NUMERIC),
        C("gcd_lcm", Gcd, XB, INTEGERS),
        # activations and compositions
        C("celu", Celu, X, FLOATS),
        C("selu", Selu, X, FLOATS),
        C("glu", Glu, In((2, 4, 5, 6), alt=(3, 4, 5, 8)), FLOATS),
        C("glu_last", GluLast, In((2, 3, 6), alt=(3, 4, 8)), FLOATS),
        C("log_sigmoid", LogSigmoid, X, FLOATS),
        C("softsign", Softsign, X, FLOATS),
        C("hardshrink", Hardshrink, X, FLOATS),
        C("softshrink", Softshrink, X, FLOATS),
        C("threshold", Threshold, X, FLOATS + SIGNED),
        C("threshold_", ThresholdInplace, X, FLOATS),
        C("logit", Logit, In((2, 3, 5, 7), values="unit"), FLOATS),
        C("xlogy", Xlogy, [X, POS], FLOATS),
        C("addcmul", Addcmul, [X, XB[1], In((5, 1), alt=(5, 1))], FLOATS + ("int64", "int32")),
        C("addcdiv", Addcdiv, [X, XB[1], In((5, 1), alt=(5, 1), values="nonzero")], FLOATS),
        C("addc_", AddcInplace, [X, XB[1], In((5, 1), alt=(5, 1), values="nonzero")], FLOATS),
        C("lerp", LerpScalar, XB, FLOATS),
        C("lerp_tensor", LerpTensor, [X, X, In((2, 3, 5, 7), values="unit")], FLOATS),
        C("logsumexp", Logsumexp, X, FLOATS),
        C("logaddexp", Logaddexp, XB, FLOATS),
        C("clamp_tensors", ClampTensors, [X, In((5, 7), alt=(5, 8)), In((7,), alt=(8,), values="pos")],
          ("float32", "float64", "int64", "int32")),
        C("copysign", Copysign, XB, FLOATS),
        C("isnan_isinf_isfinite", IsNan, X, FLOATS),
        C("isnan_int", IsNanInt, X, INTEGERS),
        C("nan_to_num", NanToNum, X, FLOATS),
        # bitwise
        C("bitwise_and", BitAnd, XB, INTEGERS + ("bool",)),
        C("bitwise_or", BitOr, XB, INTEGERS + ("bool",)),
        C("bitwise_xor", BitXor, XB, INTEGERS + ("bool",)),
        C("bitwise_not", BitNot, X, INTEGERS + ("bool",)),
        C("bitwise_scalar", BitScalar, X, INTEGERS),
        C("bitwise_inplace", BitInplace, X2, INTEGERS + ("bool",)),
        C("shifts", Shifts, [X, SHIFT], INTEGERS),
        C("shift_scalar", ShiftScalar, X, INTEGERS),
        C("shift_inplace", ShiftInplace, [X, SHIFT], INTEGERS),
        # integer matmul
        C("matmul_int", Matmul, [In((2, 3, 4, 5), alt=(1, 3, 6, 2)), In((5, 6), alt=(2, 3))], ("int64", "int32", "float64")),
        C("mm_int", Mm, [In((4, 5), alt=(2, 3)), In((5, 6), alt=(3, 7))], ("int64", "int32", "int16", "int8", "uint8")),
        C("bmm_int", Bmm, [In((2, 4, 5), alt=(3, 2, 3)), In((2, 5, 6), alt=(3, 3, 4))], ("int64", "int32")),
        # scans, diff, fills
        C("cumprod", Cumprod, In((2, 3, 5, 7), values="unit", alt=(3, 3, 4, 5)), FLOATS + ("int64", "int32")),
        C("cumprod_dtype", CumprodDtype, In((2, 3, 5, 7), values="unit"), ("float32", "int32")),
        C("cumprod_", CumprodInplace, In((2, 3, 5, 7), values="unit"), FLOATS),
        C("cummax", Cummax, X, NUMERIC + ("bool",)),
        C("cummin", Cummin, X, NUMERIC),
        C("diff", Diff, X, NUMERIC + ("bool",)),
        C("diff_prepend", DiffPrepend, [In((2, 5, 7), alt=(3, 6, 4)), In((2, 1, 7), alt=(3, 1, 4))], ("float32", "int64")),
        C("fill_", Fill, X, NUMERIC),
        C("fill_tensor", FillTensor, [X, In((3,))], ("float32", "int64")),
        C("fill_diagonal_", FillDiagonal, In((5, 7), alt=(8, 3)), ("float32", "int64", "bool")),
        C("fill_diagonal_3d", FillDiagonal, In((4, 4, 4), alt=(3, 3, 3)), ("float32", "int64")),
        # torch.export with dynamic dims: "RuntimeError: Cannot call numel() on tensor with symbolic sizes/strides"
        C("fill_diagonal_wrap", FillDiagonalWrap, In((9, 4), alt=(4, 6)), ("float32", "int32"), export_dynamic=False),
        C("identity_kinds", IdentityKinds, X, ("float32", "int64")),
        C("alias", Alias, X, ("float32",), script=False),
        C("inverse_trig_", InverseTrigInplace, UNIT, FLOATS),
        C("activation_", ActivationInplace, X, FLOATS),
        C("fmod_nan_to_num_", FmodNanInplace, X, FLOATS),
        C("bitwise_methods_", BitwiseMethodsInplace, X2, SIGNED),
        # a 0-d tensor used as an int / a float under scripting (tracing bakes the value in)
        C("IntImplicit", IntImplicit, [In((3, 6), alt=(2, 5)), In((2,), alt=(2,), dtype="int64", values="idx:3")],
          ("float32", "int64"), trace_dynamic=False),
        C("FloatImplicit", FloatImplicit, X, ("float32", "float64"), trace_dynamic=False),
        # out= (the result lands in the out tensor, views and dtype casts included)
        C("out", AddOut, [X, X, In((2, 3, 5, 7))], ("float32", "int64", "float16")),
        C("out_view", MulOutView, [In((2, 3, 5)), In((3, 5), alt=(3, 6))], ("float32", "int32")),
        C("empty", Empties, X, ("float32", "int64")),
        C("out_tuple", MaxOutTuple, In((3, 5), alt=(4, 6)), ("float32",), script=False),
        C("out_cast", SumOutCast, [In((2, 3, 5)), In((2, 5), dtype="float64")], ("float32", "int64"), dynamic=False),
        # torch's type promotion
        C("mixed_float", MixedFloat, [X, In((5, 7), alt=(5, 8), dtype="float64")], ("float32", "float16", "int32")),
        C("int_with_0d_float", IntWithZeroDimFloat, [X, In((3,), dtype="float64")], ("int32", "int16", "uint8")),
        C("uint8_int8", Uint8Int8, [In((2, 3, 5, 7), dtype="uint8"), In((5, 7), alt=(5, 8), dtype="int8")]),
        C("half_with_f32_0d", HalfWithFloatZeroDim, [X, In((3,), dtype="float32")], ("float16", "bfloat16")),
        C("reduce_dtypes", ReduceDtypes, In((2, 3, 4), values="unit"), ("int32", "int16", "int8", "uint8", "bool", "float16")),
        C("all_any_dims", AllAnyDims, X, FLOATS + ("int64",)),
        C("all_any_uint8", AllAnyUint8, In((3, 4, 5), alt=(2, 3, 6)), ("uint8",)),
        # norms of any order, with dtype=
        C("vector_norms", VectorNorms, X, FLOATS),
        C("norm_dtype", NormDtype, X, ("float32", "float16")),
        C("matrix_norms", MatrixNorms, In((4, 5, 6), alt=(3, 4, 7)), ("float32", "float64")),
        C("matrix_norm_2", MatrixNorm2, In((4, 5))),
        # reductions over dim=None or a dim computed at conversion
        C("reduce_dim_none", ReduceDimNone, X, ("float32",)),
        C("reduce_runtime_dim", ReduceRuntimeDim, X, ("float32", "int64")),
        C("reduce_data_dim", ReduceDataDim, [X, In((1,), alt=(1,), dtype="int64", values="idx:4")], ("float32",),
          trace_dynamic=False, xfail={"export": DATA_INT}),
        # values known only at run time
        C("narrow_runtime", NarrowRuntime, [X, In((1,), alt=(1,), dtype="int64", values="idx:2")], ("float32",), trace_dynamic=False,
          xfail={"export": EXPORT_FAILED.format("PendingUnbackedSymbolNotFound: Pending unbacked symbols {u0} not in "
                                                "returned outputs")}),
        C("full_like_runtime", FullLikeRuntime, X, ("float32", "int64"), trace_dynamic=False),
        C("where_nonzero", WhereNonzero, In((4, 5), alt=(6, 3))),
        C("arange_tensor_ends", ArangeTensorEnds, [X, In((1,), alt=(1,), dtype="int64", values="pos")], ("float32",), trace_dynamic=False),
        C("tensor_of_scalars", TensorOfScalars, In((2, 3), alt=(4, 3)), ("float32",), trace_dynamic=False),
        C("hypot", Hypot, XB, ("float32", "float64")),  # torch has no integer hypot
        C("logaddexp2", Logaddexp2, XB, FLOATS),
        C("rad2deg", AngleUnits, X, FLOATS),
        C("signbit_sgn", Signbit, X, FLOATS),
        C("signbit_int", SignbitInt, X, INTEGERS),
        C("float_power", FloatPower, [POS, XB[1]], ("float32", "float64", "int64")),
        C("heaviside", Heaviside, [X, In((5, 7), alt=(5, 8))], ("float32", "float64")),
        C("ldexp", Ldexp, [X, In((5, 7), alt=(5, 8), dtype="int64", values="idx:5")], ("float32", "float64")),
        C("trapezoid", Trapezoid, [X, In((7,), alt=(8,))], ("float32", "float64")),
        C("cov", Cov, In((3, 8), alt=(4, 6)), ("float32", "float64"),
          xfail={"export": EXPORT_FAILED.format("DataDependentOutputException: aten.equal.default")}),
        C("nan_reductions", NanReductions, X, ("float32", "float64")),
        C("aminmax", Aminmax, X, ("float32", "float64", "int64", "int32", "uint8")),
        C("logcumsumexp", Logcumsumexp, X, ("float32", "float64")),
        C("renorm", Renorm, X, ("float32", "float64")),
        C("atleast", Atleast, [X, In((5,), alt=(6,)), In(())], ("float32", "int64")),
        C("atleast_list", AtleastList, [X, In((5,), alt=(6,))]),
        C("special_aliases_of_others", SpecialAliasesOfOthers, In((3, 5), alt=(4, 6))),
    ]


CASES = _cases()


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Inputs, constants and errors


class Scale(nn.Module):
    def forward(self, x, s):
        return x * s + s


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_zero_dim_inputs(kind):
    """A 0-d numpy array or torch tensor stays 0-d on the way in (it used to become shape (1,))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = kiln.convert_model(Scale(), example_input=(torch.ones(2, 3), torch.tensor(2.0)))
    compiled = CORE.compile_model(model, "CPU")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    s = np.array(1.5, dtype=np.float32) if kind == "numpy" else torch.tensor(1.5)
    assert model.inputs[1].partial_shape.rank == 0
    np.testing.assert_allclose(compiled([x, s])[0], x * 1.5 + 1.5)


def _convert_error(module, example=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(kiln.ConversionError) as e:
            kiln.convert_model(module, example_input=example) if example is not None else kiln.convert_model(module)
    return str(e.value)


class EmptyDict(nn.Module):
    def forward(self, x):
        d: dict[str, torch.Tensor] = {}
        d["y"] = x * 2
        return d["y"] + 1


def test_empty_dict_constant():
    """An empty {} constant is a dict (torchvision's detection models script one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = kiln.convert_model(EmptyDict(), input=[[2, 3]])
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(CORE.compile_model(model, "CPU")(x)[0], x * 2 + 1)


class ComplexConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.ones(3, dtype=torch.complex64))

    def forward(self, x):
        return x + self.w


def test_unrepresentable_constant_names_its_node():
    """A constant kiln cannot hold fails at the node that uses it, with the source line."""
    msg = _convert_error(ComplexConstant(), (torch.ones(2, 3),))
    assert "constant kiln cannot represent: a torch.complex64 tensor" in msg and "test_ops_math.py" in msg, msg


def test_quantized_module_packed_params_convert():
    """Packed quantized parameters (a ScriptObject, once a bare TypeError from the constant
    conversion) are unpacked into the weights they hold: the model converts by scripting and by
    tracing and matches torch to within one output quantization step."""
    qm = nn.Sequential(torch.ao.nn.quantized.Quantize(0.1, 0, torch.quint8), torch.ao.nn.quantized.Linear(4, 3),
                       torch.ao.nn.quantized.DeQuantize()).eval()
    x = torch.randn(2, 4)
    with torch.no_grad():
        want = qm(x).numpy()
    for example in (None, (x,)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = kiln.convert_model(qm, example_input=example, input=[((2, 4), torch.float32)])
        got = kiln.Core().compile_model(km, "CPU")(x.numpy())[0]
        step = qm[1].scale
        assert np.abs(got - want).max() <= step * 1.01, (got, want)


class EmptyMatrixConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("b", torch.zeros(0, 0))  # a [0, 0] constant after freezing

    def forward(self, x):
        e = torch.zeros(0, 0)
        return x.sum() + e.sum() + self.b.sum()


def test_empty_matrix_constant():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ex in (None, (torch.ones(2, 3),)):
            model = (kiln.convert_model(EmptyMatrixConstant(), example_input=ex) if ex
                     else kiln.convert_model(EmptyMatrixConstant(), input=[[2, 3]]))
            np.testing.assert_allclose(CORE.compile_model(model, "CPU")(np.ones((2, 3), np.float32))[0], 6.0)


def test_dtype_table_round_trip():
    """Every torch dtype kiln takes maps to one kiln type and back (one table for both ways)."""
    from kiln.dtypes import to_kiln_type, torch_dtype_code
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
               torch.int16, torch.int8, torch.uint8, torch.bool, torch.uint16, torch.uint32, torch.uint64):
        assert to_kiln_type(dt) is not None
        assert torch_dtype_code(dt) >= 0
    with pytest.raises(TypeError, match="complex64"):
        to_kiln_type(torch.complex64)
