"""kiln.convert_model: a torch model object -> kiln.Model, with no ONNX in between."""
from __future__ import annotations

import os
import warnings

import torch

from kiln._kiln import ConversionError, PartialShape, Type, _translate_torch_graph
from kiln.dtypes import to_kiln_type
from kiln.frontend.torch.capture import _short, capture as capture_torchscript, capture_export
from kiln.frontend.torch.decoder import describe_graph
from kiln.frontend.torch.fx_decoder import (describe_exported, equal_input_dims, inference_program, mutated_state,
                                            user_tensor_inputs)
from kiln.frontend.torch.inputs import parse_input_spec

CAPTURES = ("auto", "torchscript", "export")


def convert_model(model, example_input=None, input=None, input_shape=None, capture="auto"):  # noqa: A002
    """Converts a torch.nn.Module, torch.jit.ScriptModule, torch.jit.ScriptFunction, a
    torch.export.ExportedProgram, or the path of a program saved with torch.export.save (.pt2).

    example_input: a kiln.Tensor, torch.Tensor, np.ndarray, a list/tuple of those, or a dict
        input name -> one of those.
    input (or input_shape, its older name): each input's shape and type — a list of shapes, a
        kiln.PartialShape (-1 for dynamic dims, (min, max) for bounded ones), a list of
        (name, shape, dtype) tuples, or a dict name -> shape or (shape, dtype). Inputs not
        described get every dimension dynamic (the rank and dtype of example_input when given;
        else dynamic rank and f32) on the TorchScript path; through torch.export, the dims export
        can keep dynamic (Dim.AUTO).
    capture: how an nn.Module is captured —
        "torchscript": traced with example_input (scripted if tracing fails), scripted without;
        "export": torch.export.export with example_input, input= dims becoming export's Dims;
        "auto" (default): TorchScript, and torch.export when TorchScript cannot capture the model
        (or this torch has no TorchScript); the error names each path's failure.
    Raises kiln.ConversionError listing every unsupported op with its torch source line.
    """
    if input is not None and input_shape is not None:
        raise ValueError("give input= or input_shape= (its older name), not both")
    if capture not in CAPTURES:
        raise ValueError(f"capture={capture!r}: expected one of {', '.join(map(repr, CAPTURES))}")
    spec = input if input is not None else input_shape
    if isinstance(model, (str, os.PathLike)):
        model = _load_program(model)
    if isinstance(model, torch.export.ExportedProgram):
        return _convert_program(model, spec, "model")
    if capture == "export":
        return _convert_by_export(model, example_input, spec)
    try:
        cap = capture_torchscript(model, example_input)
    except ConversionError as ts_error:
        if capture != "auto" or isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)) or \
                example_input is None:
            raise
        try:
            return _convert_by_export(model, example_input, spec)
        except ConversionError as ex_error:
            raise ConversionError(f"{ts_error}\ntorch.export failed: {_short(ex_error)}") from None
    return _convert_torchscript(model, cap, spec)


def _convert_torchscript(model, cap, spec):
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


def _convert_by_export(model, example_input, spec):
    if not isinstance(model, torch.nn.Module) or isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise TypeError(f"capture='export' takes a torch.nn.Module, got {type(model).__name__}")
    ep, names, out_names = capture_export(model, example_input, spec)
    return _convert_program(ep, None, type(model).__name__, names, out_names)


def _convert_program(ep, spec, name, input_names=None, output_names=None):
    ep = inference_program(ep)
    written = mutated_state(ep)
    if written:
        warnings.warn(f"convert_model: the program writes {', '.join(written)} in place; kiln reads buffers as "
                      "constants with their values at conversion and does not write inputs, so the converted "
                      "model computes every call as torch's next call would and keeps no state between calls",
                      UserWarning, stacklevel=3)
    names = input_names or [spec_.arg.name for spec_, _ in user_tensor_inputs(ep)]
    desc = describe_exported(ep, parse_input_spec(spec, names), name, names, output_names)
    model = _translate_torch_graph(desc)
    model.equal_input_dims = equal_input_dims(ep)
    return model


def _load_program(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"convert_model: no file '{path}'")
    try:
        return torch.export.load(path)
    except Exception as e:  # noqa: BLE001 - not a torch.export archive
        raise ConversionError(f"convert_model: '{path}' is not a program saved with torch.export.save: "
                              f"{type(e).__name__}: {_short(e)}") from None


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
