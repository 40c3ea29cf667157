"""Resampling and layout ops (translators/resample.cpp) against torch: every upsample mode and
align_corners value in size and scale-factor form, up and down, 1-D to 3-D, antialias, odd sizes;
grid_sample in every mode and padding; pixel/channel shuffles, meshgrid, unfold and fold. Each case
is converted by scripting and by tracing, with static and dynamic shapes (test_ops.check), at
rtol = atol = 1e-4. Then whole models that resample: torchvision's segmentation nets and Hugging
Face DINOv2, BEiT and MobileViT from tiny configs, at two image sizes each.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kiln
from test_ops import C, In, _matches, check, fn

# ---------------------------------------------------------------------------------------------
# Modules. Each interpolation case is one small class so that scripting reads its own source.


def interp(name, **kw):
    """A module calling F.interpolate with fixed keyword arguments."""
    return type(name, (Interp,), {"kw": kw})


class Interp(nn.Module):
    kw: dict = {}

    def __init__(self):
        super().__init__()
        k = dict(self.kw)
        self.size = k.pop("size", None)
        self.scale = k.pop("scale_factor", None)
        self.mode = k.pop("mode", "nearest")
        self.ac = k.pop("align_corners", None)
        self.rsf = k.pop("recompute_scale_factor", None)
        self.aa = k.pop("antialias", False)

    def forward(self, x):
        return F.interpolate(x, size=self.size, scale_factor=self.scale, mode=self.mode, align_corners=self.ac,
                             recompute_scale_factor=self.rsf, antialias=self.aa)


@fn
def InterpLike(self, x, y):
    # The size of another tensor: known only at run time in a dynamic model.
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=False)


@fn
def InterpLikeNearest(self, x, y):
    return F.interpolate(x, size=(y.size(2), y.size(3)), mode="nearest")


class UpsampleModules(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Upsample(scale_factor=2, mode="nearest")
        self.b = nn.UpsamplingBilinear2d(scale_factor=1.5)  # align_corners=True
        self.c = nn.Upsample(size=(5, 4), mode="bicubic")

    def forward(self, x):
        return self.a(x), self.b(x), self.c(x)


@fn
def UpsampleSizeAndScales(self, x):
    # The older overload (what torch.export records): the size sets the output, the scales the
    # step, and they need not agree.
    return (torch._C._nn.upsample_bilinear2d(x, [10, 15], False, 2.0, 2.0),
            torch._C._nn.upsample_nearest2d(x, [4, 15], 0.5, 1.7),
            torch._C._nn.upsample_bicubic2d(x, [11, 3], False, 2.0, 0.5))


@fn
def PixelShuffle(self, x):
    return F.pixel_shuffle(x, 2)


@fn
def PixelUnshuffle(self, x):
    return F.pixel_unshuffle(x, 3)


@fn
def ShuffleRoundTrip(self, x):
    # Extra leading batch dims, and the two undoing each other.
    return F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2), F.pixel_shuffle(x, 2)


@fn
def ChannelShuffle(self, x):
    return F.channel_shuffle(x, 3)


@fn
def MeshgridIJ(self, a, b):
    return torch.meshgrid(a, b, indexing="ij")


@fn
def MeshgridXY(self, a, b, c):
    return torch.meshgrid(a, b, c, indexing="xy")


@fn
def MeshgridDefault(self, a, b):
    gx, gy = torch.meshgrid([a, b])
    return gx + gy


@fn
def Unfold(self, x):
    return F.unfold(x, kernel_size=3)


@fn
def UnfoldStrided(self, x):
    return F.unfold(x, kernel_size=(2, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 3))


@fn
def Fold(self, x):
    return F.fold(x, output_size=(5, 6), kernel_size=2)


@fn
def FoldStrided(self, x):
    return F.fold(x, output_size=(7, 5), kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1))


@fn
def UnfoldFold(self, x):
    return F.fold(F.unfold(x, 3, padding=1), x.shape[-2:], 3, padding=1)


def grid_sample(mode, padding, ac):
    return type(f"GridSample_{mode}_{padding}_{ac}", (GridSampleMod,), {"cfg": (mode, padding, ac)})


class GridSampleMod(nn.Module):
    cfg = ("bilinear", "zeros", False)

    def __init__(self):
        super().__init__()
        self.mode, self.padding, self.ac = self.cfg

    def forward(self, x, grid):
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding, align_corners=self.ac)


# ---------------------------------------------------------------------------------------------
# Cases

X1 = In((2, 3, 7), alt=(1, 3, 10))
X2 = In((2, 3, 5, 7), alt=(1, 3, 6, 9))
X2S = In((1, 2, 9, 11), alt=(2, 2, 13, 8))  # for downsampling
X3 = In((1, 2, 3, 4, 5), alt=(2, 2, 4, 3, 6))

CASES = []
for mode, xin, dims in (("nearest", X1, 1), ("nearest", X2, 2), ("nearest", X3, 3),
                        ("nearest-exact", X1, 1), ("nearest-exact", X2, 2), ("nearest-exact", X3, 3)):
    tag = mode.replace("-", "_")
    CASES += [
        C(f"{tag}{dims}d_up_scale", interp("I", mode=mode, scale_factor=1.7), xin),
        C(f"{tag}{dims}d_down_size", interp("I", mode=mode, size=(3, 2, 2)[:dims] if dims > 1 else 4), xin),
        C(f"{tag}{dims}d_scale_2", interp("I", mode=mode, scale_factor=2.0), xin),
    ]
CASES += [
    # torch's 2-D nearest copies rows when the output length equals the input length, whatever
    # the scale factor says (10 * 1.05 -> 10), and halves the index at twice the length.
    C("nearest2d_scale_1_05", interp("I", mode="nearest", scale_factor=(1.05, 2.05)), In((1, 2, 10, 10), alt=(1, 2, 12, 10))),
    C("nearest2d_down_scale", interp("I", mode="nearest", scale_factor=0.45), X2S),
    C("nearest_exact2d_down_scale", interp("I", mode="nearest-exact", scale_factor=0.45), X2S),
]
for mode, xin, dims in (("linear", X1, 1), ("bilinear", X2, 2), ("trilinear", X3, 3), ("bicubic", X2, 2)):
    for ac in (False, True):
        a = "ac" if ac else "hp"
        CASES += [
            C(f"{mode}_{a}_up_scale", interp("I", mode=mode, align_corners=ac, scale_factor=1.7), xin),
            C(f"{mode}_{a}_size", interp("I", mode=mode, align_corners=ac, size=(6, 3, 2)[:dims] if dims > 1 else 13), xin),
        ]
    CASES.append(C(f"{mode}_down_scale", interp("I", mode=mode, scale_factor=0.45), X2S if dims == 2 else xin))
    CASES.append(C(f"{mode}_recompute", interp("I", mode=mode, scale_factor=1.3, recompute_scale_factor=True), xin))
for mode in ("bilinear", "bicubic"):
    CASES += [
        C(f"{mode}_aa_down_scale", interp("I", mode=mode, antialias=True, scale_factor=0.4), X2S),
        C(f"{mode}_aa_down_size", interp("I", mode=mode, antialias=True, size=(4, 3)), X2S),
        C(f"{mode}_aa_up_size", interp("I", mode=mode, antialias=True, size=(11, 8)), X2),
        # align_corners with antialias: torch's step (in - 1) / (out - 1) is beyond the opset's
        # Pillow modes; kiln resamples by weight matrices built in the graph.
        C(f"{mode}_aa_ac_down", interp("I", mode=mode, antialias=True, align_corners=True, size=(4, 5)), X2S),
        C(f"{mode}_aa_ac_scale", interp("I", mode=mode, antialias=True, align_corners=True, scale_factor=(0.6, 1.4)), X2S),
        C(f"{mode}_aa_ac_to_1", interp("I", mode=mode, antialias=True, align_corners=True, size=(1, 3)), X2S),
    ]
CASES += [
    C("interpolate_to_other_size", InterpLike, [X2, In((1, 1, 8, 4), alt=(1, 1, 3, 11))]),
    C("interpolate_to_other_size_nearest", InterpLikeNearest, [X2, In((1, 1, 8, 4), alt=(1, 1, 3, 11))]),
    C("upsample_modules", UpsampleModules, X2, script=False),  # nn.Upsample does not script its float scale
    C("upsample_size_and_scales", UpsampleSizeAndScales, X2),
    C("interpolate_1x1", interp("I", mode="bilinear", size=(1, 1)), X2),
    C("interpolate_from_1x1", interp("I", mode="bicubic", size=(4, 3), align_corners=False), In((2, 3, 1, 1), alt=(1, 3, 1, 1))),
]
for mode in ("bilinear", "nearest", "bicubic"):
    for padding in ("zeros", "border", "reflection"):
        for ac in (False, True):
            CASES.append(C(f"grid_sample_{mode}_{padding}_{'ac' if ac else 'hp'}", grid_sample(mode, padding, ac),
                           [In((2, 3, 5, 6), alt=(1, 3, 7, 4)), In((2, 4, 3, 2), alt=(1, 2, 5, 2))]))
CASES += [
    C("pixel_shuffle", PixelShuffle, In((2, 12, 3, 5), alt=(1, 12, 4, 2))),
    C("pixel_unshuffle", PixelUnshuffle, In((2, 2, 6, 9), alt=(1, 2, 3, 12))),
    C("pixel_shuffle_batch_dims", ShuffleRoundTrip, In((2, 3, 8, 3, 5), alt=(1, 2, 8, 2, 3))),
    C("channel_shuffle", ChannelShuffle, In((2, 6, 3, 5), alt=(1, 6, 4, 2))),
    C("meshgrid_ij", MeshgridIJ, [In((3,), alt=(5,)), In((4,), alt=(2,))]),
    C("meshgrid_xy", MeshgridXY, [In((3,), alt=(5,)), In((4,), alt=(2,)), In((2,), alt=(3,))]),
    C("meshgrid_default", MeshgridDefault, [In((3,), alt=(5,)), In((4,), alt=(2,))]),
    C("unfold", Unfold, In((2, 3, 5, 6), alt=(1, 3, 4, 7))),
    C("unfold_strided", UnfoldStrided, In((2, 2, 7, 9), alt=(1, 2, 8, 6))),
    C("fold", Fold, In((2, 8, 20), alt=(1, 8, 20))),
    C("fold_strided", FoldStrided, In((1, 12, 20), alt=(2, 12, 20))),
    C("unfold_fold", UnfoldFold, In((1, 2, 5, 6), alt=(2, 2, 4, 7))),
]


def params():
    for case in CASES:
        for dtype in case.dtypes:
            modes = [(cap, shapes) for cap in ("script", "trace") for shapes in ("static", "dynamic")
                     if not (cap == "script" and not case.script) and not (shapes == "dynamic" and not case.dynamic)]
            if dtype == case.dtypes[0]:  # as test_ops.params: once captured by torch.export
                modes.append(("export", "dynamic" if case.dynamic and case.export_dynamic else "static"))
            for cap, shapes in modes:
                tags = {cap, shapes, dtype, "all"}
                marks = [pytest.mark.xfail(strict=True, reason=r)
                         for k, r in case.xfail.items() if _matches(k, tags)][:1]
                yield pytest.param(case, dtype, cap, shapes, marks=marks, id=f"{case.id}-{cap}-{shapes}")


@pytest.mark.parametrize("case,dtype,capture,shapes", list(params()))
def test_resample_op(case, dtype, capture, shapes):
    check(case.module(), case.ins, capture=capture, shapes=shapes, dtype=dtype)


def test_nearest_uses_the_fast_kernel_and_matches_reference():
    # The fast kernel and the reference kernel agree on a converted model (the C++ tests cover
    # the shapes; this covers the plan's choice of kernel for a translated upsample).
    m = interp("I", mode="bilinear", scale_factor=2.0)().eval()
    x = torch.randn(1, 3, 17, 23)
    model = kiln.convert_model(m, example_input=x)
    assert [n.type_name for n in model.get_ops() if n.type_name == "Interpolate"] == ["Interpolate"]
    got = kiln.Core().compile_model(model, "CPU")(x.numpy())[0]
    np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Models that resample. Random weights, tiny configs; two image sizes from one converted model.

BOUND = 1e-3


def _compare(model, runs, example, outputs, retrace=False):
    """Converts `model` by tracing `example` (each run's own input with `retrace`), checks that
    it resamples, and compares it with torch on every run."""
    def convert(ex):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = kiln.convert_model(model, example_input=ex)
        assert "Interpolate" in {n.type_name for n in converted.get_ops()}
        return kiln.Core().compile_model(converted, "CPU")

    compiled = None if retrace else convert(example)
    for inputs in runs:
        c = convert(inputs) if retrace else compiled
        with torch.no_grad():
            expected = outputs(model(**inputs) if isinstance(inputs, dict) else model(inputs))
        got = c({k: v.numpy() for k, v in inputs.items()} if isinstance(inputs, dict) else inputs.numpy())
        assert len(got) >= len(expected)
        for g, e in zip(got, expected):
            e = e.numpy()
            g = np.asarray(g)
            assert g.shape == e.shape
            scale = np.abs(e).max()
            assert scale > 0, "torch's output is all zeros: the test model says nothing"
            err = np.abs(g - e).max() / scale
            print(f"{type(model).__name__} {tuple(e.shape)}: max |kiln - torch| / max |torch| = {err:.2e}")
            assert err <= BOUND, f"max |kiln - torch| / max |torch| = {err:.2e}"


class OutOf(nn.Module):
    """The "out" entry of a segmentation model's dict (kiln has no prim::DictConstruct yet)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_large", "fcn_resnet50"])
def test_segmentation_model(name):
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, num_classes=5)
    model = OutOf(model).eval()
    x1, x2 = torch.randn(1, 3, 64, 64), torch.randn(2, 3, 48, 80)
    _compare(model, [x1, x2], x1, lambda out: [out])


class LastHidden(nn.Module):
    """A Hugging Face vision model called with pixel_values only, giving last_hidden_state."""

    def __init__(self, model, **kw):
        super().__init__()
        self.model, self.kw = model, kw

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values, **self.kw).last_hidden_state


def _hf(name):
    """A tiny model and two image sizes, both unlike the config's image_size: tracing records
    the models' `if size == config size` shortcuts (no position interpolation) as taken."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if name == "dinov2":
        cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, image_size=28, patch_size=7)
        return LastHidden(transformers.Dinov2Model(cfg)), (35, 49)
    if name == "beit":
        cfg = transformers.BeitConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, image_size=32, patch_size=8,
                                      use_relative_position_bias=True, use_mean_pooling=True)
        return LastHidden(transformers.BeitModel(cfg), interpolate_pos_encoding=True), (40, 56)
    # Image sizes whose feature maps are odd, so that MobileViT resizes them to whole patches
    # (bilinear); a larger initializer_range keeps activations from vanishing in the tiny net.
    cfg = transformers.MobileViTConfig(image_size=64, hidden_sizes=[16, 24, 32],
                                       neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
                                       num_attention_heads=2, expand_ratio=2.0, initializer_range=0.1)
    return LastHidden(transformers.MobileViTModel(cfg)), (72, 100)


@pytest.mark.parametrize("name", ["dinov2", "beit", "mobilevit"])
def test_hf_vision_model(name):
    model, (s1, s2) = _hf(name)
    model = model.eval()
    r1 = {"pixel_values": torch.randn(1, 3, s1, s1)}
    r2 = {"pixel_values": torch.randn(2, 3, s2, s2)}
    # MobileViT computes its patch grid with Python arithmetic (math.ceil on sizes), which a trace
    # records as constants: a traced MobileViT holds for its example's size only, in torch too.
    _compare(model, [r1, r2], r1, lambda out: [out], retrace=name == "mobilevit")
