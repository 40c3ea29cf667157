"""kiln.convert_model: a torch model object -> kiln.Model, with no ONNX in between."""
from __future__ import annotations

import torch

from kiln._kiln import PartialShape, Type, _translate_torch_graph
from kiln.dtypes import to_kiln_type
from kiln.frontend.torch.capture import capture
from kiln.frontend.torch.decoder import describe_graph
from kiln.frontend.torch.inputs import parse_input_spec


def convert_model(model, example_input=None, input=None, input_shape=None):  # noqa: A002
    """Converts a torch.nn.Module, torch.jit.ScriptModule or torch.jit.ScriptFunction.

    example_input: a kiln.Tensor, torch.Tensor, np.ndarray, a list/tuple of those, or a dict
        input name -> one of those. With it the model is traced (scripted if tracing fails);
        without it the model is scripted.
    input (or input_shape, its older name): each input's shape and type — a list of shapes, a
        kiln.PartialShape (-1 for dynamic dims), a list of (name, shape, dtype) tuples, or a
        dict name -> shape or (shape, dtype). Inputs not described get every dimension dynamic
        (the rank and dtype of example_input when given; else dynamic rank and f32).
    Raises kiln.ConversionError listing every unsupported op with its torch source line.
    """
    if input is not None and input_shape is not None:
        raise ValueError("give input= or input_shape= (its older name), not both")
    spec = input if input is not None else input_shape
    cap = capture(model, example_input)
    names = cap.input_names
    described = parse_input_spec(spec, names)
    examples = _examples_by_input(cap)

    inputs = []
    for i, name in enumerate(names):
        shape, dtype = described.get(i, (None, None))
        ex = examples.get(i)
        if shape is None:
            shape = PartialShape.dynamic(ex.dim()) if isinstance(ex, torch.Tensor) else PartialShape()
        if dtype is None:
            dtype = to_kiln_type(ex.dtype) if isinstance(ex, torch.Tensor) else Type.f32
        inputs.append((name, dtype, shape))
    model_name = type(model).__name__ if not hasattr(model, "original_name") else model.original_name
    self_obj = cap.keep_alive[0] if cap.has_self and cap.keep_alive else None
    desc = describe_graph(cap.graph, cap.has_self, inputs, model_name, self_obj, cap.output_names)
    return _translate_torch_graph(desc)


def _examples_by_input(cap) -> dict:
    """Graph input index -> its example tensor: by name, or by position for a flat positional
    example (a scripted graph names its inputs after the forward signature, as the example does)."""
    ex = cap.example
    if ex is None:
        return {}
    by_name = ex.by_name()
    found = {i: by_name[n] for i, n in enumerate(cap.input_names) if n in by_name}
    if not found and ex.flat and ex.positional:
        found = dict(enumerate(ex.tensors[:len(cap.input_names)]))
    return found
