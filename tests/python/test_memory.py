"""Weights reach kiln without a copy: converting resnet50 (scripted, traced, or through torch.export)
raises peak RSS by at most a quarter of its weight bytes above what torch already holds."""
import re

import pytest
import torch
import torchvision

import kiln


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def _reset_peak():
    # Writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


@pytest.mark.parametrize("capture", ["script", "trace", "export"])
def test_resnet50_conversion_does_not_copy_weights(capture):
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    example = torch.zeros(1, 3, 64, 64)

    def convert(m):
        if capture == "script":
            return kiln.convert_model(m)
        return kiln.convert_model(m, example_input=example, capture="torchscript" if capture == "trace" else "export")

    # Warm up torch's and kiln's one-time allocations (libraries, caches) on a small model.
    convert(torchvision.models.resnet18().eval())
    base = _status("VmRSS")
    _reset_peak()
    m = convert(model)
    peak = _status("VmHWM")
    rise = peak - base
    print(f"{capture}: weights {weight_bytes / 2**20:.1f} MiB, peak RSS rise {rise / 2**20:.1f} MiB "
          f"({rise / weight_bytes:.1%} of the weights)")
    assert rise <= weight_bytes / 4, f"peak RSS rose {rise / 2**20:.1f} MiB for {weight_bytes / 2**20:.1f} MiB of weights"
    assert len(m.get_ops()) > 100


def test_plans_for_new_shapes_share_packed_weights():
    # A dynamic model gets one plan per input shape; their kernels must share the packed
    # weights, or every new shape would add a copy of them.
    import numpy as np

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    compiled = kiln.Core().compile_model(kiln.convert_model(model, example_input=torch.zeros(1, 3, 64, 64)), "CPU")
    compiled(np.zeros((1, 3, 64, 64), np.float32))
    base = _status("VmRSS")
    for size in (72, 80, 88, 96):
        compiled(np.zeros((1, 3, size, size), np.float32))
    rise = _status("VmRSS") - base
    print(f"4 more plans: RSS rise {rise / 2**20:.1f} MiB for {weight_bytes / 2**20:.1f} MiB of weights")
    assert rise <= weight_bytes / 2


def test_weights_changed_in_place_are_packed_again():
    # Live compiled models share packed weights by their memory; a weight changed in place and
    # compiled again must not get the packing of its old values.
    import numpy as np

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5)).eval()
    x = torch.randn(1, 3, 8, 8)
    first = kiln.Core().compile_model(kiln.convert_model(model, example_input=x), "CPU")
    before = first(x.numpy())[first.outputs[0]]
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] += 1.0  # one element of each
        model[2].weight[0, 0] += 1.0
    second = kiln.Core().compile_model(kiln.convert_model(model, example_input=x), "CPU")
    got = second(x.numpy())[second.outputs[0]]
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert np.abs(before - ref).max() > 1e-3  # the change mattered
