"""Per-op tests of random and uninitialized tensors (translators/random.cpp): empty*, rand /
randn / *_like, randint / randint_like, randperm, normal, uniform_, bernoulli, multinomial.
torch's generator stream cannot be reproduced, so each case checks what kiln's numbers must
satisfy: shape, dtype, range, and statistics of a few thousand draws (bounds many standard errors
wide, with kiln's seeded generator the same numbers every run), and that two runs differ.
Each model is converted by scripting and by tracing, with static and dynamic shapes, and captured
by torch.export with dynamic dims.
"""
import warnings

import numpy as np
import pytest
import torch

import kiln
from test_ops import C, F32, In, exported, fn, torch_rejects

CORE = kiln.Core()
N = In((40, 50), alt=(30, 70))  # 2000 / 2100 draws


@fn
def Empty(self, a):
    return torch.empty(a.shape[0], 3) + a.sum() * 0, torch.empty_like(a, dtype=torch.int64)


@fn
def NewEmpty(self, a):
    return a.new_empty((a.size(1), 2)), a.new_empty_strided((2, 3), (3, 1)), torch.empty_strided((a.size(0),), (1,))


@fn
def Rand(self, a):
    return torch.rand(a.size(0), a.size(1))


@fn
def RandLike(self, a):
    return torch.rand_like(a)


@fn
def Randn(self, a):
    return torch.randn(a.shape, dtype=torch.float64)


@fn
def RandnLike(self, a):
    return torch.randn_like(a)


@fn
def Randint(self, a):
    return torch.randint(3, 10, a.shape)


@fn
def RandintHigh(self, a):
    return torch.randint(5, (a.size(0), a.size(1)), dtype=torch.int32)


@fn
def RandintLike(self, a):
    return torch.randint_like(a, 4), torch.randint_like(a, -2, 2)


@fn
def Randperm(self, a):
    return torch.randperm(a.size(1))


@fn
def Normal(self, a):
    return torch.normal(a * 0 + 3.0, a * 0 + 2.0)


@fn
def NormalFloat(self, a):
    return torch.normal(-1.0, 0.5, (a.size(0), a.size(1)))


@fn
def NormalTensorFloat(self, a):
    return torch.normal(a * 0 + 1.0, 3.0)


@fn
def Uniform(self, a):
    b = a.clone()
    b.uniform_(-2.0, 5.0)
    return b


@fn
def Bernoulli(self, a):
    return torch.bernoulli(torch.full_like(a, 0.3))


@fn
def BernoulliP(self, a):
    return torch.bernoulli(a, 0.8)


@fn
def BernoulliInplace(self, a):
    b = a.clone()
    b.bernoulli_(0.25)
    return b


@fn
def Multinomial(self, a):
    w = torch.tensor([0.1, 0.0, 0.6, 0.3])
    return torch.multinomial(w, a.size(0) * a.size(1), replacement=True)


@fn
def MultinomialRows(self, a):
    w = torch.tensor([[1.0, 0.0, 3.0, 1.0, 2.0], [0.0, 1.0, 1.0, 0.0, 5.0]])
    return torch.multinomial(w, 3) + a.sum().long() * 0


def _stats(x, mean, std, n_sigma=6):
    x = np.asarray(x, dtype=np.float64).ravel()
    se = std / np.sqrt(x.size)
    assert abs(x.mean() - mean) < n_sigma * se + 1e-9, f"mean {x.mean()} vs {mean}"
    if std > 0:
        assert abs(x.std() - std) < 0.1 * std, f"std {x.std()} vs {std}"


def _empty(outs, a):
    z, i = outs
    assert z.shape == (a.shape[0], 3) and z.dtype == np.float32 and not z.any()
    assert i.shape == a.shape and i.dtype == np.int64 and not i.any()


def _new_empty(outs, a):
    assert outs[0].shape == (a.shape[1], 2) and outs[0].dtype == np.float32
    assert outs[1].shape == (2, 3) and outs[2].shape == (a.shape[0],)


def _uniform(lo, hi, dtype=np.float32):
    def chk(outs, a):
        x = outs[0]
        assert x.dtype == dtype and x.shape == a.shape
        assert x.min() >= lo and x.max() < hi
        _stats(x, (lo + hi) / 2, (hi - lo) / np.sqrt(12))
    return chk


def _normal(mean, std, dtype=np.float32):
    def chk(outs, a):
        x = outs[0]
        assert x.dtype == dtype and x.shape == a.shape
        _stats(x, mean, std)
    return chk


def _ints(lo, hi, dtype):
    def chk(outs, a):
        for x, (l, h) in zip(outs, [(lo, hi)] if not isinstance(lo, list) else list(zip(lo, hi))):
            assert x.dtype == dtype and x.shape == a.shape
            assert x.min() == l and x.max() == h - 1, (x.min(), x.max())
            _stats(x, (l + h - 1) / 2, np.sqrt(((h - l) ** 2 - 1) / 12))
    return chk


def _randperm(outs, a):
    x = outs[0]
    assert x.dtype == np.int64 and sorted(x.tolist()) == list(range(a.shape[1]))


def _bernoulli(p):
    def chk(outs, a):
        x = outs[0]
        assert x.dtype == np.float32 and x.shape == a.shape and set(np.unique(x)) <= {0.0, 1.0}
        _stats(x, p, np.sqrt(p * (1 - p)))
    return chk


def _multinomial(outs, a):
    x = outs[0]
    assert x.dtype == np.int64 and x.shape == (a.shape[0] * a.shape[1],)
    counts = np.bincount(x, minlength=4) / x.size
    assert counts[1] == 0
    for k, p in enumerate([0.1, 0.0, 0.6, 0.3]):
        assert abs(counts[k] - p) < 6 * np.sqrt(p * (1 - p) / x.size) + 1e-9, (k, counts[k])


def _multinomial_rows(outs, a):
    x = outs[0]
    assert x.dtype == np.int64 and x.shape == (2, 3)
    w = np.array([[1.0, 0.0, 3.0, 1.0, 2.0], [0.0, 1.0, 1.0, 0.0, 5.0]])
    for r in range(2):
        assert len(set(x[r].tolist())) == 3 and all(w[r, k] > 0 for k in x[r])


CHECKS = {
    "empty": _empty, "new_empty": _new_empty,
    "rand": _uniform(0, 1), "rand_like": _uniform(0, 1), "randn": _normal(0, 1, np.float64),
    "randn_like": _normal(0, 1), "randint": _ints(3, 10, np.int64), "randint_high": _ints(0, 5, np.int32),
    "randint_like": _ints([0, -2], [4, 2], np.float32), "randperm": _randperm, "normal": _normal(3, 2),
    "normal_float": _normal(-1, 0.5), "normal_tensor_float": _normal(1, 3), "uniform_": _uniform(-2, 5),
    "bernoulli": _bernoulli(0.3), "bernoulli_p": _bernoulli(0.8), "bernoulli_": _bernoulli(0.25),
    "multinomial": _multinomial, "multinomial_rows": _multinomial_rows,
}

CASES = [
    C("empty", Empty, N), C("new_empty", NewEmpty, N),
    C("rand", Rand, N), C("rand_like", RandLike, N), C("randn", Randn, N), C("randn_like", RandnLike, N),
    C("randint", Randint, N), C("randint_high", RandintHigh, N), C("randint_like", RandintLike, N),
    C("randperm", Randperm, N), C("normal", Normal, N), C("normal_float", NormalFloat, N),
    C("normal_tensor_float", NormalTensorFloat, N), C("uniform_", Uniform, N), C("bernoulli", Bernoulli, N),
    C("bernoulli_p", BernoulliP, N), C("bernoulli_", BernoulliInplace, N), C("multinomial", Multinomial, N),
    C("multinomial_rows", MultinomialRows, N),
]


def _convert(module, ins, a, capture, shapes):
    if capture == "export":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = exported(module.eval(), ins, [a], shapes)[0]
            return CORE.compile_model(kiln.convert_model(ep), "CPU"), ep
    kwargs = {}
    if capture == "trace":
        kwargs["example_input"] = (a,)
    if shapes == "static":
        kwargs["input"] = {"a": (tuple(a.shape), a.dtype)}
    elif capture == "script":
        kwargs["input"] = {"a": (kiln.PartialShape.dynamic(a.dim()), a.dtype)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CORE.compile_model(kiln.convert_model(module.eval(), **kwargs), "CPU"), None


MODES = [(c, s) for c in ("script", "trace") for s in ("static", "dynamic")] + [("export", "dynamic")]


@pytest.mark.parametrize("capture,shapes", MODES, ids=[f"{c}-{s}" for c, s in MODES])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_random(case, capture, shapes):
    gen = torch.Generator().manual_seed(0)
    a = case.ins[0].make("float32", 0, gen)
    compiled, ep = _convert(case.module(), case.ins, a, capture, shapes)
    b = case.ins[0].make("float32", 1, gen)
    # tracing bakes the sizes in; torch.export may specialize them (then its own program refuses b)
    second = shapes == "dynamic" and (capture == "script" or (capture == "export" and not torch_rejects(ep, [b])))
    runs = [a] + ([b] if second else [])
    for x in runs:
        first = [np.asarray(o) for o in compiled([x.numpy()])]
        CHECKS[case.id](first, x.numpy())
        if case.id not in ("empty", "new_empty"):
            again = [np.asarray(o) for o in compiled([x.numpy()])]
            assert any(not np.array_equal(p, q) for p, q in zip(first, again)), "two runs gave the same numbers"
