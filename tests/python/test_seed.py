"""The seed article's first two code samples, verbatim but for the import line.

They ask for `pretrained=True`, i.e. a download from the PyTorch model hub, which no machine here
reaches: the hub loader is replaced by one that returns seeded random weights, so the samples'
own lines run unchanged.
"""
import textwrap
from unittest import mock

import numpy as np
import pytest
import torch
import torchvision

import kiln

SAMPLE_1 = """
import torchvision
import torch
from kiln.tools.mo import convert_model
model = torchvision.models.resnet50(pretrained=True)
ov_model=convert_model(model)
"""

SAMPLE_2 = """
import torchvision
import torch
from kiln.tools.mo import convert_model
model = torchvision.models.resnet50(pretrained=True)
ov_model=convert_model(model,example_input=torch.zeros(1,3,100,100))
"""


def _random_weights(url, *args, **kwargs):
    torch.manual_seed(0)
    return torchvision.models.resnet50().state_dict()


@pytest.mark.parametrize("sample", [SAMPLE_1, SAMPLE_2], ids=["scripting", "tracing"])
def test_seed_sample(sample):
    scope = {}
    with mock.patch("torchvision.models._api.load_state_dict_from_url", _random_weights), \
            pytest.warns(UserWarning, match="pretrained"):
        exec(textwrap.dedent(sample), scope)
    model, ov_model = scope["model"].eval(), scope["ov_model"]
    assert isinstance(ov_model, kiln.Model)
    compiled = kiln.Core().compile_model(ov_model, "CPU")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = compiled(x)[compiled.outputs[0]]
    assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max()
