"""Every torchvision classification model through torch.export: exported once with dynamic dims
(Dim.AUTO: batch, and height and width where the model allows; see BATCH_ONLY and SPATIAL_CI), converted from the ExportedProgram,
run at batch 1 and 2 and at two image sizes from that one converted model, and compared with
torch: max |kiln - torch| <= 1e-3 * max |torch|. Where export fixes or bounds a dim (ViT's 224,
Swin's window decisions), kiln's model refuses the shapes outside it, and the test checks that
torch's own program refuses them too.

CI runs one model of each family (EXPORT_CI); `pytest -m export_sweep tests/python/test_zoo_export.py`
runs the rest (the largest models stay with `-m large`, as in test_zoo.py).
"""
import warnings

import numpy as np
import pytest
import torch
from torch.export import Dim

import kiln
from model_check import assert_close
from test_zoo import LARGE, MODELS, build, sizes_for

# One member of each family, the cheapest to export and run.
EXPORT_CI = {"alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s", "googlenet",
             "inception_v3", "maxvit_t", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "regnet_x_400mf",
             "resnet18", "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_0", "swin_t", "swin_v2_t", "vgg11",
             "vit_b_32", "wide_resnet50_2"}
# Image sizes stay static for these: torch.export itself cannot make them dynamic (its symbolic
# reasoning gives up), or takes minutes doing it (measured on 2 loaded cores: maxvit_t over 8
# minutes without finishing, Hugging Face's Swin 132 s), or the model fixes them anyway.
BATCH_ONLY = {
    "alexnet": "torch.export: NotImplementedError: The inequality, Eq((((x/8)//4)) - 2, 0), cannot be solved "
               "using solve_univariate_inequality (AdaptiveAvgPool2d on a dynamic size)",
    **{n: "torch.export takes minutes over the window partitioning of a dynamic image size"
       for n in MODELS if n.startswith(("maxvit", "swin"))},
}
# In CI the rest of EXPORT_CI export with a dynamic batch only too (dynamic image sizes cost
# export 3-5x: densenet121 22 s), except these, which keep every dim dynamic there as well.
SPATIAL_CI = {"resnet18", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_0", "googlenet", "convnext_tiny"}


def cases():
    for name in MODELS:
        marks = [pytest.mark.large] if name in LARGE else [] if name in EXPORT_CI else [pytest.mark.export_sweep]
        yield pytest.param(name, id=name, marks=marks)


def export(model, name, size):
    x = torch.zeros(2, 3, size, size)
    batch_only = name in BATCH_ONLY or (name in EXPORT_CI and name not in SPATIAL_CI)
    dims = {0: Dim.AUTO} if batch_only else {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.export.export(model, (x,), dynamic_shapes=(dims,))


@pytest.mark.parametrize("name", list(cases()))
def test_zoo_model_export(name):
    model = build(name)
    sizes = sizes_for(name)
    ep = export(model, name, sizes[0])
    km = kiln.convert_model(ep)
    shape = km.inputs[0].get_partial_shape()
    assert shape[0].is_dynamic, f"{name}: batch not dynamic ({shape})"
    compiled = kiln.Core().compile_model(km, "CPU")
    rng = np.random.default_rng(0)
    ran = 0
    for size in sizes:
        for batch in (1, 2):
            x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
            if not shape.compatible(kiln.PartialShape([batch, 3, size, size])):
                with pytest.raises(Exception):  # torch's program refuses it as well
                    ep.module()(torch.from_numpy(x))
                continue
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            got = compiled(x)[compiled.outputs[0]]
            assert_close(got, ref, 1e-3, f"{name} export batch {batch} size {size}")
            ran += 1
    assert ran >= 2
