"""Per-op tests of data movement built from index grids (translators/movement.cpp): flip, rot90,
movedim, tile, broadcast_to / broadcast_tensors, as_strided / as_strided_scatter, Tensor.unfold,
diagonal / diag / diag_embed / diagflat, narrow_copy, select/slice/diagonal_scatter, linspace /
logspace, tril/triu_indices, roll. Same helper and rules as test_ops.py.
"""
import pytest
import torch

from test_ops import ALL, C, F32, INTS, In, X, check, fn, params


@fn
def Flip(self, a):
    return torch.flip(a, [0, -1])


@fn
def FlipOne(self, a):
    return a.flip(2)


@fn
def Fliplr(self, a):
    return torch.fliplr(a)


@fn
def Flipud(self, a):
    return torch.flipud(a)


@fn
def Rot90(self, a):
    return torch.rot90(a)


@fn
def Rot90K3(self, a):
    return torch.rot90(a, 3, [1, 3])


@fn
def Rot90K2(self, a):
    return torch.rot90(a, -2, [-1, 0])


@fn
def Movedim(self, a):
    return torch.movedim(a, 1, -1)


@fn
def MovedimList(self, a):
    return torch.movedim(a, [0, 3], [2, 0])


@fn
def Moveaxis(self, a):
    return torch.moveaxis(a, -1, 0)


@fn
def Tile(self, a):
    return torch.tile(a, (2, 1, 3))


@fn
def TileLonger(self, a):
    return a.tile((2, 1, 1, 1, 2))


@fn
def BroadcastTo(self, a):
    return torch.broadcast_to(a, (4, 5, 7))


@fn
def BroadcastToKeep(self, a):
    return a.broadcast_to((2, -1, 5, 7))


@fn
def BroadcastTensors(self, a, b):
    x, y = torch.broadcast_tensors(a, b)
    return x, y


@fn
def AsStrided(self, a):
    return torch.as_strided(a, (3, 4), (2, 1), 1)


@fn
def AsStridedOverlap(self, a):
    return a.as_strided((4, 3, 2), (4, 1, 3))


@fn
def AsStridedRuntime(self, a):
    return a.as_strided((a.size(0) - 1, 2), (a.size(1), 1), 1)


@fn
def AsStridedAfterCopy(self, a):
    b = a.transpose(0, 1).reshape(-1, a.size(0) * a.size(2))  # a copy in torch (no view can merge these)
    return b.as_strided((2, 3), (b.size(1), 2))


@fn
def AsStridedOfView(self, a):
    return a.t().as_strided((2, 2), (1, 2))


@fn
def AsStridedOfReshapedView(self, a):
    return a.t().reshape(a.size(1), a.size(0)).as_strided((2, 2), (1, 2))  # still a view of a


@fn
def AsStridedScatter(self, a, b):
    # b's 3 x 2 values onto the positions 1 + 2 i + j of a's memory (torch.export's form of writing
    # through an as_strided view, e.g. fill_diagonal_)
    return torch.as_strided_scatter(a, b * 10, (3, 2), (2, 1), 1)


@fn
def AsStridedScatterRuntime(self, a, b):
    return torch.as_strided_scatter(a, b, (2, a.size(1) - 2), (a.size(1), 1))


@fn
def AsStridedOfSlice(self, a):
    return a[1:].as_strided((2, 2), (1, 2))


def test_as_strided_of_a_slice_is_refused():
    import kiln
    with pytest.raises(kiln.ConversionError, match="as_strided of a view of part of another tensor"):
        kiln.convert_model(AsStridedOfSlice(), example_input=(torch.randn(3, 4),))


@fn
def Unfold(self, a):
    return a.unfold(3, 3, 2)


@fn
def UnfoldDim0(self, a):
    return a.unfold(0, 2, 1)


@fn
def Diagonal(self, a):
    return torch.diagonal(a)


@fn
def DiagonalOffset(self, a):
    return torch.diagonal(a, 1, 2, 3)


@fn
def DiagonalNegative(self, a):
    return torch.diagonal(a, -2, -1, 1)


@fn
def Diag(self, a):
    return torch.diag(a, 1)


@fn
def DiagVector(self, v):
    return torch.diag(v), torch.diag(v, -2)


@fn
def DiagEmbed(self, a):
    return torch.diag_embed(a)


@fn
def DiagEmbedDims(self, a):
    return torch.diag_embed(a, 1, 0, 2)


@fn
def DiagEmbedNeg(self, a):
    return torch.diag_embed(a, -1, -1, 1)


@fn
def Diagflat(self, a):
    return torch.diagflat(a, 2)


@fn
def NarrowCopy(self, a):
    return a.narrow_copy(3, 2, 3), a.narrow_copy(1, -2, 2)


@fn
def SelectScatter(self, a, b):
    return torch.select_scatter(a, b, 1, -1)


@fn
def SliceScatter(self, a, b):
    return torch.slice_scatter(a, b, 3, 1, 7, 2)


@fn
def SliceScatterDefault(self, a):
    return torch.slice_scatter(a, a * 2)


@fn
def DiagonalScatter(self, a, b):
    return torch.diagonal_scatter(a, b, 1, 2, 3)


@fn
def Linspace(self, a):
    return torch.linspace(-1.5, 3.0, 7) + a.sum() * 0


@fn
def LinspaceRuntime(self, a):
    return torch.linspace(0, a.size(0), a.size(1))


@fn
def LinspaceOne(self, a):
    return torch.linspace(2.0, 5.0, 1) + a.sum() * 0, torch.logspace(1.0, 5.0, 1) + a.sum() * 0


@fn
def LinspaceInt(self, a):
    return torch.linspace(0, 10, 4, dtype=torch.int64) + a.sum().long() * 0


@fn
def Logspace(self, a):
    return torch.logspace(-2, 1, 5) + a.sum() * 0


@fn
def LogspaceBase(self, a):
    return torch.logspace(0, a.size(0), 4, base=2.0)


@fn
def TrilIndicesRuntime(self, a):
    return torch.tril_indices(a.size(0), a.size(1), -1), torch.triu_indices(a.size(1), a.size(0))


@fn
def TrilIndices(self, a):
    return torch.tril_indices(4, 5, 1) + a.sum().long() * 0


@fn
def TriuIndices(self, a):
    return torch.triu_indices(3, 4, -1) + a.sum().long() * 0, torch.triu_indices(4, 3, 1, dtype=torch.int32) + a.sum().int() * 0


@fn
def ViewWriteSeen(self, a):
    b = a.clone()
    v = b.transpose(0, 1)
    w = v[1:]
    w[0] = 7.0  # writes into b through two views: v sees it too
    return v * 1, b * 1


@fn
def Roll(self, a):
    return torch.roll(a, (1, -2), (1, 3))


@fn
def RollFlat(self, a):
    return a.roll(3)


M = In((5, 7), alt=(6, 4))

CASES = [
    C("flip", Flip, X, ALL),
    C("flip_one", FlipOne, X, INTS),
    C("fliplr", Fliplr, X, ALL),
    C("flipud", Flipud, X, INTS),
    C("rot90", Rot90, M, ALL),
    C("rot90_k3", Rot90K3, X, INTS),
    C("rot90_k2", Rot90K2, X, INTS),
    C("movedim", Movedim, X, ALL),
    C("movedim_list", MovedimList, X, ALL),
    C("moveaxis", Moveaxis, X, INTS),
    C("tile", Tile, X, ALL),
    C("tile_longer", TileLonger, X, ALL),
    C("broadcast_to", BroadcastTo, In((5, 1), alt=(5, 1)), ALL, dynamic=False),
    C("broadcast_to_keep", BroadcastToKeep, In((1, 3, 1, 1), alt=(1, 4, 1, 1)), INTS),
    C("broadcast_tensors", BroadcastTensors, [In((2, 1, 7)), In((3, 1), alt=(4, 1))], ALL),
    C("as_strided", AsStrided, In((4, 5), alt=(3, 6)), ALL),
    C("as_strided_runtime", AsStridedRuntime, In((4, 5), alt=(3, 6)), INTS),
    C("as_strided_after_copy", AsStridedAfterCopy, In((2, 3, 4), alt=(3, 3, 4)), INTS, dynamic=False),
    C("as_strided_of_transpose", AsStridedOfView, In((3, 4)), INTS, dynamic=False),
    C("as_strided_of_reshaped_view", AsStridedOfReshapedView, In((3, 4)), INTS, dynamic=False),
    C("as_strided_overlap", AsStridedOverlap, In((4, 5), alt=(2, 9)), INTS),
    C("as_strided_scatter", AsStridedScatter, [In((4, 5), alt=(3, 6)), In((3, 2), alt=(3, 2))], ALL),
    C("as_strided_scatter_runtime", AsStridedScatterRuntime, [In((4, 5), alt=(3, 6)), In((2, 3), alt=(2, 4))], INTS),
    C("unfold", Unfold, X, ALL),
    C("unfold_dim0", UnfoldDim0, In((4, 3)), ALL),
    C("diagonal", Diagonal, X, ALL),
    C("diagonal_offset", DiagonalOffset, X, INTS),
    C("diagonal_negative", DiagonalNegative, X, ALL),
    C("diag", Diag, M, INTS),
    C("diag_vector", DiagVector, In((4,), alt=(6,)), ALL),
    C("diag_embed", DiagEmbed, In((2, 3)), ALL),
    C("diag_embed_dims", DiagEmbedDims, In((2, 3)), INTS),
    C("diag_embed_neg", DiagEmbedNeg, In((2, 4)), ALL),
    C("diagflat", Diagflat, In((2, 3)), INTS),
    C("narrow_copy", NarrowCopy, X, ALL),
    C("select_scatter", SelectScatter, [X, In((2, 5, 7))], ALL, dynamic=False),
    C("slice_scatter", SliceScatter, [In((2, 3, 5, 8)), In((2, 3, 5, 3))], INTS, dynamic=False),
    C("slice_scatter_default", SliceScatterDefault, X, INTS),
    C("diagonal_scatter", DiagonalScatter, [X, In((2, 3, 5))], ALL, dynamic=False),
    C("linspace", Linspace, X),
    C("linspace_runtime", LinspaceRuntime, In((3, 5), alt=(4, 9)), trace_dynamic=False),
    C("linspace_int", LinspaceInt, X),
    C("linspace_one", LinspaceOne, X),
    C("logspace", Logspace, X),
    C("logspace_base", LogspaceBase, X),
    C("tril_indices", TrilIndices, X),
    C("tril_indices_runtime", TrilIndicesRuntime, In((4, 6), alt=(5, 3)), trace_dynamic=False),
    C("triu_indices", TriuIndices, X),
    C("view_write_seen", ViewWriteSeen, In((3, 4), alt=(2, 5)), INTS),
    C("roll", Roll, X, ALL),
    C("roll_flat", RollFlat, X, INTS),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)
