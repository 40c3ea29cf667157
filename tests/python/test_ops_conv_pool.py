"""Per-op tests of the convolution and pooling family (translators/conv_pool.cpp): transposed
convolutions (traced: aten::_convolution with transposed=True; scripted: aten::conv_transposeNd),
1-D/3-D convolution with every padding mode of nn.Conv*, max/avg/adaptive pooling in 1-D, 2-D and
3-D with indices, ceil_mode as torch rounds it, divisor_override and count_include_pad, prelu and
weight norm. Same helper and rules as test_ops.py: scripted and traced, static and dynamic shapes,
against torch eager at rtol = atol = 1e-4.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_ops import C, F32, In, check, fn, params

I64 = ("float32", "int64")
INT = ("float32", "int64", "int32")


class Wrap(nn.Module):
    """Calls a module with one argument (the nn.ConvTranspose* forward has an optional second one,
    output_size, which a scripted top-level module would take as a model input)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, a):
        return self.m(a)


def wrap(make):
    return lambda: Wrap(make())


def seeded(make):
    def build():
        torch.manual_seed(0)
        return make()
    return build


# ---- transposed convolution

@fn
def ConvT1dFn(self, a, w):
    return F.conv_transpose1d(a, w, stride=2, padding=1, output_padding=1)


@fn
def ConvT2dFn(self, a, w):
    return F.conv_transpose2d(a, w, None, 2, 1, 1, 2, 2)  # stride, padding, output_padding, groups, dilation


@fn
def ConvT3dFn(self, a, w):
    return F.conv_transpose3d(a, w, stride=(1, 2, 2), padding=(0, 1, 0))


@fn
def ConvolutionTransposed(self, a, w):
    return torch.convolution(a, w, None, [2, 1], [1, 0], [1, 2], True, [1, 0], 1)


# ---- convolution

@fn
def Conv2dFn(self, a, w):
    return F.conv2d(a, w, None, 2, 1, 1, 1)


@fn
def Conv1dFn(self, a, w):
    return F.conv1d(a, w, padding="same", dilation=2)


@fn
def Conv3dFn(self, a, w):
    return F.conv3d(a, w, stride=(1, 2, 1), padding=1, groups=3)


def conv(n, **kw):
    return seeded(lambda: getattr(nn, f"Conv{n}d")(3, 4, 3, **kw))


# ---- pooling

def pool(kind, n, *args, **kw):
    return lambda: getattr(nn, f"{kind}{n}d")(*args, **kw)


@fn
def MaxPool1dIndices(self, a):
    return F.max_pool1d(a, 3, 2, 1, return_indices=True)


@fn
def MaxPool2dIndicesPadded(self, a):
    return F.max_pool2d(a, 3, 2, 1, dilation=1, ceil_mode=True, return_indices=True)


@fn
def MaxPool3dIndices(self, a):
    return F.max_pool3d(a, 2, (1, 2, 2), (1, 1, 0), return_indices=True)


@fn
def AdaptiveMax1dIndices(self, a):
    return F.adaptive_max_pool1d(a, 4, return_indices=True)


@fn
def AdaptiveMax3dIndices(self, a):
    return F.adaptive_max_pool3d(a, (2, 3, 2), return_indices=True)


@fn
def AvgDivisor(self, a):
    return F.avg_pool2d(a, 3, 2, 1, divisor_override=4)


@fn
def AvgDivisorCeil(self, a):
    return F.avg_pool2d(a, 2, 3, 1, ceil_mode=True, count_include_pad=False, divisor_override=3)


@fn
def AvgDivisor1d(self, a):
    return F.avg_pool1d(a, 3, 2, 1, ceil_mode=True)  # no divisor_override in 1-D: torch has none


@fn
def AvgDivisor3d(self, a):
    return F.avg_pool3d(a, 2, 2, 1, divisor_override=5)


@fn
def AvgPoolInt(self, a):
    return F.avg_pool2d(a, 2, 2, 1, count_include_pad=False), F.avg_pool2d(a, 3, 2, 1), F.avg_pool2d(a, 3, 2, 1, True)


# ---- prelu, weight norm

class PReLU(nn.Module):
    def __init__(self, n=1):
        super().__init__()
        self.p = nn.PReLU(n)
        with torch.no_grad():
            self.p.weight.copy_(torch.linspace(-0.5, 0.5, n))

    def forward(self, a):
        return self.p(a)


@fn
def PreluFn(self, a, w):
    return F.prelu(a, w)


class WeightNormConv(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3))

    def forward(self, a):
        return self.c(a)


class WeightNormLinearAll(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.l = nn.utils.parametrizations.weight_norm(nn.Linear(7, 5), dim=None)

    def forward(self, a):
        return self.l(a)


class WeightNormHook(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.utils.weight_norm(nn.Conv1d(3, 4, 3), dim=1)

    def forward(self, a):
        return self.c(a)


@fn
def WeightNormFn(self, v, g):
    return torch._weight_norm(v, g, 1)


CASES = [
    # transposed convolution: every module form, groups, dilation, output_padding, padding, bias
    C("conv_transpose1d", wrap(seeded(lambda: nn.ConvTranspose1d(4, 6, 3, stride=3, output_padding=2, groups=2))),
      In((2, 4, 5), alt=(1, 4, 7))),
    C("conv_transpose2d", wrap(seeded(lambda: nn.ConvTranspose2d(3, 2, 3, stride=2))), In((1, 3, 4, 5), alt=(2, 3, 3, 3))),
    C("conv_transpose2d_full", wrap(seeded(lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                                      groups=2, dilation=2))),
      In((2, 4, 4, 5), alt=(1, 4, 3, 6))),
    C("conv_transpose2d_no_bias", wrap(seeded(lambda: nn.ConvTranspose2d(3, 5, (2, 3), stride=(1, 2), padding=(0, 1),
                                                                         bias=False))),
      In((2, 3, 4, 5), alt=(1, 3, 6, 2))),
    C("conv_transpose2d_depthwise", wrap(seeded(lambda: nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4))),
      In((1, 4, 5, 5), alt=(2, 4, 3, 4))),
    C("conv_transpose3d", wrap(seeded(lambda: nn.ConvTranspose3d(2, 3, 2, stride=2, padding=1, output_padding=1))),
      In((1, 2, 3, 4, 3), alt=(2, 2, 2, 3, 4))),
    C("conv_transpose3d_groups", wrap(seeded(lambda: nn.ConvTranspose3d(4, 2, 3, stride=(1, 2, 1), groups=2, dilation=(2, 1, 1)))),
      In((1, 4, 3, 3, 4), alt=(2, 4, 2, 4, 3))),
    C("conv_transpose1d_fn", ConvT1dFn, [In((2, 3, 5), alt=(1, 3, 7)), In((3, 2, 3), alt=(3, 2, 3))], I64),
    C("conv_transpose2d_fn", ConvT2dFn, [In((1, 4, 4, 3), alt=(2, 4, 5, 5)), In((4, 3, 3, 2), alt=(4, 3, 3, 2))], I64),
    C("conv_transpose3d_fn", ConvT3dFn, [In((1, 2, 3, 3, 4), alt=(2, 2, 2, 4, 3)), In((2, 3, 2, 3, 2), alt=(2, 3, 2, 3, 2))], I64),
    C("convolution_transposed", ConvolutionTransposed, [In((1, 3, 4, 5), alt=(2, 3, 5, 3)), In((3, 2, 3, 2), alt=(3, 2, 3, 2))]),
    # convolution in 1-D, 2-D, 3-D, functional with weights as inputs, every dtype torch takes
    C("conv2d_fn", Conv2dFn, [In((2, 3, 7, 6), alt=(1, 3, 5, 8)), In((4, 3, 3, 3), alt=(4, 3, 3, 3))], I64),
    C("conv1d_fn_same", Conv1dFn, [In((2, 3, 9), alt=(1, 3, 6)), In((4, 3, 3), alt=(4, 3, 3))], I64),
    C("conv3d_fn_groups", Conv3dFn, [In((1, 3, 4, 5, 4), alt=(2, 3, 3, 4, 5)), In((6, 1, 3, 2, 3), alt=(6, 1, 3, 2, 3))], I64),
    # every padding_mode of nn.Conv*, explicit and 'same'
    *[C(f"conv{n}d_{mode}", conv(n, padding=1, padding_mode=mode, stride=1 if n == 3 else 2),
        In(shape, alt=alt))
      for mode in ("zeros", "reflect", "replicate", "circular")
      for n, shape, alt in ((1, (2, 3, 9), (1, 3, 6)), (2, (2, 3, 7, 6), (1, 3, 5, 8)), (3, (1, 3, 4, 5, 4), (2, 3, 3, 4, 5)))],
    *[C(f"conv2d_same_{mode}", conv(2, padding="same", padding_mode=mode, dilation=(1, 2)), In((1, 3, 6, 7), alt=(2, 3, 5, 6)))
      for mode in ("reflect", "replicate", "circular")],
    C("conv2d_circular_asym", conv(2, padding=(1, 2), padding_mode="circular"), In((1, 3, 5, 6), alt=(2, 3, 6, 4))),
    # max pooling with indices (flat per plane), 1-D/2-D/3-D, padding and ceil_mode
    C("max_pool1d_with_indices", MaxPool1dIndices, In((2, 3, 9), alt=(1, 3, 12))),
    C("max_pool2d_with_indices_ceil", MaxPool2dIndicesPadded, In((2, 3, 6, 8), alt=(1, 3, 7, 5)), INT),
    C("max_pool3d_with_indices", MaxPool3dIndices, In((1, 3, 4, 5, 6), alt=(2, 3, 3, 4, 5)), INT),
    C("max_pool2d_int", pool("MaxPool", 2, 3, 2, 1), In((2, 3, 7, 6), alt=(1, 3, 5, 8)), INT),
    C("max_pool3d_int", pool("MaxPool", 3, 2, 2, 1, dilation=(1, 2, 1)), In((1, 3, 4, 6, 4), alt=(2, 3, 5, 5, 3)), INT),
    # ceil_mode where torch drops a last window that would start in the end padding
    C("max_pool1d_ceil_torch", pool("MaxPool", 1, 2, 3, 1, ceil_mode=True), In((2, 3, 4), alt=(1, 3, 7))),
    C("max_pool2d_ceil_torch", pool("MaxPool", 2, 2, 3, 1, ceil_mode=True), In((1, 3, 4, 7), alt=(2, 3, 10, 4))),
    C("max_pool3d_ceil_torch", pool("MaxPool", 3, 2, 3, 1, ceil_mode=True), In((1, 2, 4, 7, 4), alt=(1, 2, 5, 4, 10))),
    C("avg_pool1d_ceil_torch", pool("AvgPool", 1, 2, 3, 1, ceil_mode=True), In((2, 3, 4), alt=(1, 3, 7))),
    C("avg_pool2d_ceil_torch", pool("AvgPool", 2, 2, 3, 1, ceil_mode=True), In((1, 3, 4, 7), alt=(2, 3, 10, 4))),
    C("avg_pool2d_ceil_torch_exclude", pool("AvgPool", 2, 2, 3, 1, ceil_mode=True, count_include_pad=False),
      In((1, 3, 4, 7), alt=(2, 3, 10, 4))),
    C("avg_pool3d_ceil_torch", pool("AvgPool", 3, 3, 2, 1, ceil_mode=True), In((1, 2, 4, 7, 5), alt=(1, 2, 5, 4, 6))),
    C("avg_pool2d_ceil_clipped", pool("AvgPool", 2, 3, 2, 1, ceil_mode=True), In((1, 3, 6, 7), alt=(2, 3, 8, 5))),
    # avg pooling: divisor_override (2-D, 3-D; floor and ceil), count_include_pad both ways, integers
    C("avg_pool2d_divisor_override", AvgDivisor, In((2, 3, 6, 7), alt=(1, 3, 5, 8)), I64),
    C("avg_pool2d_divisor_ceil", AvgDivisorCeil, In((1, 3, 4, 7), alt=(2, 3, 10, 4)), I64),
    C("avg_pool3d_divisor_override", AvgDivisor3d, In((1, 2, 4, 5, 3), alt=(2, 2, 3, 4, 5)), I64),
    C("avg_pool1d_ceil_pad", AvgDivisor1d, In((2, 3, 8), alt=(1, 3, 5))),
    C("avg_pool1d_exclude", pool("AvgPool", 1, 3, 2, 1, count_include_pad=False), In((2, 3, 9), alt=(1, 3, 6))),
    C("avg_pool3d_pad", pool("AvgPool", 3, 3, 2, 1), In((1, 2, 5, 4, 6), alt=(2, 2, 4, 6, 5))),
    C("avg_pool3d_exclude", pool("AvgPool", 3, 3, 2, 1, count_include_pad=False), In((1, 2, 5, 4, 6), alt=(2, 2, 4, 6, 5))),
    C("avg_pool2d_int", AvgPoolInt, In((2, 3, 6, 7), alt=(1, 3, 5, 8)), I64),
    # adaptive pooling with indices in 1-D and 3-D
    C("adaptive_max_pool1d_indices", AdaptiveMax1dIndices, In((2, 3, 9), alt=(1, 3, 7))),
    C("adaptive_max_pool3d_indices", AdaptiveMax3dIndices, In((1, 2, 4, 5, 6), alt=(2, 2, 5, 7, 3))),
    C("adaptive_avg_pool3d_uneven", pool("AdaptiveAvgPool", 3, (3, 2, 4)), In((1, 2, 4, 5, 6), alt=(2, 2, 7, 3, 5))),
    # prelu: one slope or one per channel, ranks 1 to 5
    C("prelu", PReLU, In((2, 3, 5, 7))),
    C("prelu_channels", lambda: PReLU(3), In((2, 3, 5, 3), alt=(1, 3, 4, 4))),
    C("prelu_channels_1d", lambda: PReLU(4), In((2, 4), alt=(3, 4))),
    C("prelu_channels_3d", lambda: PReLU(3), In((2, 3, 4), alt=(1, 3, 3))),
    C("prelu_channels_5d", lambda: PReLU(2), In((1, 2, 3, 4, 2), alt=(2, 2, 2, 3, 3))),
    C("prelu_scalar_input", PReLU, In((5,), alt=(7,))),
    C("prelu_fn", PreluFn, [In((2, 3, 4), alt=(1, 3, 6)), In((3,), alt=(3,))]),
    # weight norm: parametrizations (frozen into the graph) and the op on model inputs
    # (torch cannot script parametrizations: "Parametrization is not working with scripting.")
    C("weight_norm_conv", WeightNormConv, In((1, 3, 6, 5), alt=(2, 3, 4, 7)), script=False),
    C("weight_norm_linear_all", WeightNormLinearAll, In((2, 7), alt=(3, 7)), script=False),
    # (nor the forward pre-hook of the older nn.utils.weight_norm)
    C("weight_norm_hook", WeightNormHook, In((2, 3, 6), alt=(1, 3, 8)), script=False),
    C("_weight_norm", WeightNormFn, [In((3, 4, 5), alt=(2, 4, 6)), In((1, 4, 1), alt=(1, 4, 1))]),
]


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params(CASES)))
def test_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)


# ---- a small model of the family: a U-Net with transposed convolutions, against torch


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())

        self.d1, self.d2, self.mid = block(3, 8), block(8, 16), block(16, 32)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.u2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.c2 = block(32, 16)
        self.u1 = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.c1 = block(16, 8)
        self.out = nn.Conv2d(8, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(self.pool(a))
        c = self.mid(self.pool(b))
        b2 = self.c2(torch.cat([self.u2(c), b], 1))
        return self.out(self.c1(torch.cat([self.u1(b2), a], 1)))


class TinyAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.PReLU(8), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), nn.ReLU(),
                                 nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.dec(self.enc(x))


@pytest.mark.parametrize("capture", ["trace", "script"])
@pytest.mark.parametrize("make,channels", [(TinyUNet, 3), (TinyAutoencoder, 1)], ids=["unet", "autoencoder"])
def test_transposed_conv_models(make, channels, capture):
    """One converted model (every dim dynamic) at two image sizes, against torch."""
    import warnings

    import kiln

    model = make().eval()
    kw = {"example_input": torch.randn(1, channels, 32, 32)} if capture == "trace" else {}
    kw["input"] = [kiln.PartialShape([-1, channels, -1, -1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = kiln.Core().compile_model(kiln.convert_model(model, **kw), "CPU")
    g = torch.Generator().manual_seed(3)
    for shape in ((1, channels, 32, 32), (2, channels, 48, 40)):
        x = torch.randn(shape, generator=g)
        with torch.no_grad():
            want = model(x).numpy()
        got = compiled(x.numpy())[0]
        assert got.shape == want.shape
        assert abs(got - want).max() <= 1e-3 * abs(want).max(), f"{shape}: max diff {abs(got - want).max()}"
