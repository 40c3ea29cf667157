"""Per-op tests of the indexing family (translators/index.cpp): embedding, index_select, indexing
with index tensors, argmax/argmin, topk, sort/argsort, max/min along a dim, repeat_interleave.
Same helper and rules as test_ops.py: scripted and traced, static and dynamic shapes, against
torch eager at rtol = atol = 1e-4. Out-of-range indices are tested in test_errors.py.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_ops import ALL, C, F32, INTS, In, X, check, fn, params

IDS = In((2, 5), alt=(3, 7), dtype="int64", values="idx:10")


class Embedding(nn.Module):
    def __init__(self, padding_idx=None):
        super().__init__()
        self.emb = nn.Embedding(10, 4, padding_idx=padding_idx)

    def forward(self, ids):
        return self.emb(ids)


@fn
def EmbeddingFunctional(self, ids, w):
    return F.embedding(ids, w)


@fn
def EmbeddingInt32(self, ids):
    return F.embedding(ids.to(torch.int32), torch.arange(40.0).reshape(10, 4))


@fn
def IndexSelectNeg(self, a, i):
    return a.index_select(-1, i)


@fn
def IndexNegative(self, a, i):
    return a[i - 2]


@fn
def IndexAdjacent(self, a, i, j):
    return a[:, i, j]


@fn
def IndexApart(self, a, i, j):
    return a[i, :, j]


@fn
def IndexBroadcast(self, a, i, j):
    return a[i.unsqueeze(1), j]


@fn
def IndexThree(self, a, i, j, k):
    return a[i, j, :, k]


@fn
def Argmax(self, a):
    return torch.argmax(a, 1)


@fn
def ArgmaxKeep(self, a):
    return a.argmax(-1, keepdim=True)


@fn
def ArgmaxAll(self, a):
    return torch.argmax(a)


@fn
def Argmin(self, a):
    return torch.argmin(a, 2)


@fn
def ArgminAllKeep(self, a):
    return torch.argmin(a, keepdim=True)


@fn
def Topk(self, a):
    return torch.topk(a, 3, dim=-1)


@fn
def TopkSmallest(self, a):
    return torch.topk(a, 2, dim=1, largest=False)


@fn
def TopkRuntimeK(self, a):
    return torch.topk(a, a.size(1) // 2, dim=1)


@fn
def Sort(self, a):
    return torch.sort(a, dim=-1)


@fn
def SortDescending(self, a):
    return torch.sort(a, 1, descending=True)


@fn
def SortStable(self, a):
    return torch.sort(a, stable=True, dim=2)


@fn
def Argsort(self, a):
    return torch.argsort(a, dim=-1, descending=True)


@fn
def ArgsortStable(self, a):
    return torch.argsort(a, dim=1, stable=True)


@fn
def MaxDimKeep(self, a):
    return torch.max(a, -1, keepdim=True)


@fn
def MinDimValues(self, a):
    return a.min(dim=0).values


@fn
def RepeatInterleave(self, a):
    return torch.repeat_interleave(a, 2, dim=1)


@fn
def RepeatInterleaveFlat(self, a):
    return a.repeat_interleave(3)


@fn
def RepeatInterleaveTensor(self, a):
    return torch.repeat_interleave(a, torch.tensor([1, 0, 2]), dim=1)


@fn
def RepeatInterleaveRuntime(self, a):
    return torch.repeat_interleave(a, a.size(0), dim=-1)


# Sorting ints meets ties: torch's default sort does not promise their order, stable sorts do.
DISTINCT = In((2, 3, 5, 7), values="any")

CASES = [
    C("embedding", Embedding, IDS),
    C("embedding_padding_idx", lambda: Embedding(padding_idx=0), IDS),
    C("embedding_functional", EmbeddingFunctional, [IDS, In((10, 4), alt=(10, 4))]),
    C("embedding_int32", EmbeddingInt32, IDS),
    C("index_select_neg", IndexSelectNeg, [X, In((4,), alt=(6,), dtype="int64", values="idx:5")], INTS),
    C("index_negative", IndexNegative, [X, In((4, 2), alt=(3, 3), dtype="int64", values="idx:4")], ALL),
    C("index_adjacent", IndexAdjacent, [X, In((4,), alt=(2,), dtype="int64", values="idx:3"),
                                        In((4,), alt=(2,), dtype="int64", values="idx:5")], INTS),
    C("index_apart", IndexApart, [X, In((4,), alt=(2,), dtype="int64", values="idx:2"),
                                  In((4,), alt=(2,), dtype="int64", values="idx:5")]),
    C("index_broadcast", IndexBroadcast, [X, In((4,), alt=(2,), dtype="int64", values="idx:2"),
                                          In((3,), alt=(5,), dtype="int64", values="idx:3")], ALL),
    C("index_three", IndexThree, [X, In((2, 1), alt=(1, 3), dtype="int64", values="idx:2"),
                                  In((3,), alt=(3,), dtype="int64", values="idx:3"),
                                  In((2, 3), alt=(1, 3), dtype="int64", values="idx:7")]),
    C("argmax", Argmax, X, INTS),
    C("argmax_keep", ArgmaxKeep, X),
    C("argmax_all", ArgmaxAll, X, INTS),
    C("argmin", Argmin, X),
    C("argmin_all_keep", ArgminAllKeep, X),
    C("topk", Topk, DISTINCT),
    C("topk_smallest", TopkSmallest, DISTINCT),
    C("topk_runtime_k", TopkRuntimeK, DISTINCT),
    C("sort", Sort, DISTINCT),
    C("sort_descending", SortDescending, DISTINCT),
    C("sort_stable", SortStable, X, INTS),
    C("argsort", Argsort, DISTINCT),
    C("argsort_stable", ArgsortStable, X, INTS),
    C("max_dim_keep", MaxDimKeep, X, INTS),
    C("min_dim_values", MinDimValues, X, INTS),
    C("repeat_interleave", RepeatInterleave, X, ALL),
    C("repeat_interleave_flat", RepeatInterleaveFlat, X),
    C("repeat_interleave_tensor", RepeatInterleaveTensor, X, INTS),
    C("repeat_interleave_runtime", RepeatInterleaveRuntime, X),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
