"""Structured inputs and outputs (python/kiln/frontend/torch/structure.py): dicts, tuples,
ModelOutput-like objects and autograd Functions, named as the README says — dict keys by their
path ("b.0"), top-level tuple items "output<i>", nested example inputs "<arg>.<i>".
"""
import warnings
from collections import OrderedDict
from typing import Dict, List

import numpy as np
import pytest
import torch
from torch import nn

import kiln

CORE = kiln.Core()


def convert(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kiln.convert_model(*args, **kwargs)


class DictOut(nn.Module):
    def forward(self, x) -> Dict[str, List[torch.Tensor]]:
        return {"a": [x + 1], "b": [x * 2, x * 3]}


class ModelOutputLike(OrderedDict):
    """What transformers' ModelOutput is: an ordered dict whose None fields are left out."""


class RichOut(nn.Module):
    def forward(self, x):
        return ModelOutputLike(logits=x.sum(-1), hidden=(x, x.relu()), extra=None, flag=True)


class TupleOut(nn.Module):
    def forward(self, x):
        return x - 1, (x * 2, x.exp())


class NestedIn(nn.Module):
    def forward(self, x, pair, scale: bool = True):
        y = x + pair[0] * pair[1]
        return y * 2 if scale else y


class GeluFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 0.5 * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))

    @staticmethod
    def backward(ctx, g):
        return g


class UsesFunction(nn.Module):
    def forward(self, x):
        return GeluFn.apply(x) + 1


def names(ports):
    return [p.any_name for p in ports]


@pytest.mark.parametrize("capture", ["trace", "script"])
def test_dict_output_names(capture):
    x = torch.randn(2, 3)
    km = convert(DictOut(), example_input=x) if capture == "trace" else convert(DictOut(), input=[[-1, -1]])
    assert names(km.outputs) == ["a.0", "b.0", "b.1"]
    compiled = CORE.compile_model(km, "CPU")
    got = compiled(x)
    np.testing.assert_allclose(got["b.1"], (x * 3).numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[compiled.output("a.0")], (x + 1).numpy(), rtol=1e-6)


def test_model_output_like_leaves_out_none_and_flags():
    x = torch.randn(2, 3)
    compiled = CORE.compile_model(convert(RichOut(), example_input=x), "CPU")
    assert names(compiled.outputs) == ["logits", "hidden.0", "hidden.1"]
    np.testing.assert_allclose(compiled(x)["hidden.1"], x.relu().numpy())


def test_tuple_output_names():
    km = convert(TupleOut(), example_input=torch.randn(2, 3))
    assert names(km.outputs) == ["output0", "output1.0", "output1.1"]


def test_nested_example_input_and_constant_flag():
    x, a, b = torch.randn(2, 3), torch.randn(2, 3), torch.randn(1, 3)
    km = convert(NestedIn(), example_input={"x": x, "pair": (a, b), "scale": False})
    assert names(km.inputs) == ["x", "pair.0", "pair.1"]  # the bool stays a constant of the call
    compiled = CORE.compile_model(km, "CPU")
    a2, b2 = torch.randn(4, 3), torch.randn(4, 3)
    x2 = torch.randn(4, 3)
    np.testing.assert_allclose(compiled({"x": x2, "pair.0": a2, "pair.1": b2})[0],
                               NestedIn()(x2, (a2, b2), False).numpy(), rtol=1e-6)
    km = convert(NestedIn(), example_input=(x, (a, b)))  # positional: named after forward's parameters
    assert names(km.inputs) == ["x", "pair.0", "pair.1"]


def test_autograd_function_is_inlined():
    """A traced torch.autograd.Function (prim::PythonOp) is translated from its traced forward."""
    x = torch.randn(3, 5) * 3
    compiled = CORE.compile_model(convert(UsesFunction(), example_input=x), "CPU")
    for xi in (x, torch.randn(2, 7)):
        np.testing.assert_allclose(compiled(xi)[0], UsesFunction()(xi).numpy(), rtol=1e-5, atol=1e-6)


def test_trace_error_is_short():
    """The tracer's message for an output it cannot type prints whole tensors; kiln's does not."""
    class Odd(nn.Module):
        def forward(self, x):
            return {"x": x, "obj": object()}

    with pytest.raises((kiln.ConversionError, TypeError)) as e:
        convert(Odd(), example_input=torch.randn(300, 300))
    assert len(str(e.value)) < 2000, str(e.value)[:3000]
