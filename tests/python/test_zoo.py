"""Every torchvision classification model: converted by tracing and by scripting (where torch
can script it), run at batch 1 and 2 and at two image sizes from ONE converted model, and
compared with torch: max |kiln - torch| <= 1e-3 * max |torch|.

The largest models (hundreds of millions of parameters) are marked `large` and run with
`bash scripts/test.sh -m large` (in a pytest process of their own: after the rest of the suite
they outgrow 24 GiB); every family has smaller members in the default run.
"""
import functools
import warnings

import numpy as np
import pytest
import torch
import torchvision

import kiln
from model_check import assert_close

MODELS = torchvision.models.list_models(module=torchvision.models)

LARGE = {"vit_h_14", "vit_l_16", "vit_l_32", "regnet_y_128gf", "regnet_y_32gf", "convnext_large",
         "efficientnet_v2_l", "regnet_y_16gf", "swin_v2_b", "swin_b", "vit_b_16"}

# Image sizes each network allows (ViT and MaxViT are built for one size).
FIXED = {"vit_b_16": (224,), "vit_b_32": (224,), "vit_l_16": (224,), "vit_l_32": (224,),
         "vit_h_14": (224,), "maxvit_t": (224,)}
DEFAULT_SIZES = (64, 96)
# Tracing records Swin's Python-level window decisions (`if window_size >= padded size`) for the
# example's size, so a traced Swin is valid only for sizes whose stages take the same decisions,
# as in torch itself: 224 and 192 for window 7 (v1), 224 and 256 for window 8 (v2).
SIZES = {"inception_v3": (80, 112),
         **{n: (224, 192) for n in MODELS if n.startswith("swin_") and not n.startswith("swin_v2")},
         **{n: (224, 256) for n in MODELS if n.startswith("swin_v2")}}


def sizes_for(name):
    return FIXED.get(name, SIZES.get(name, DEFAULT_SIZES))


@functools.lru_cache(maxsize=1)
def build(name):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, **kwargs).eval()
    # Some heads start at zero (torchvision's ViT): their output would be all zeros and the
    # comparison say nothing, so they get small random weights.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.normal_(0, 0.02)
    return model


def cases():
    for name in MODELS:
        marks = [pytest.mark.large] if name in LARGE else []
        for capture in ("trace", "script"):
            yield pytest.param(name, capture, id=f"{name}-{capture}", marks=marks)


def convert(model, capture, size):
    """kiln's model of a zoo model, traced at size x size or scripted (skipped where torch itself
    cannot script it)."""
    if capture == "trace":
        return kiln.convert_model(model, example_input=torch.zeros(1, 3, size, size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.jit.script(model)
        except Exception as e:  # torch itself cannot script this model
            pytest.skip(f"torch.jit.script fails: {type(e).__name__}: {str(e).splitlines()[0]}")
        return kiln.convert_model(model)


@pytest.mark.parametrize("name,capture", list(cases()))
def test_zoo_model(name, capture):
    model = build(name)
    sizes = sizes_for(name)
    km = convert(model, capture, sizes[0])
    compiled = kiln.Core().compile_model(km, "CPU")
    rng = np.random.default_rng(0)
    for size in sizes:
        for batch in (1, 2):
            x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            got = compiled(x)[compiled.outputs[0]]
            assert_close(got, ref, 1e-3, f"{name} {capture} batch {batch} size {size}")
