"""Capturing a torch model as a TorchScript graph: tracing or scripting, then freezing.

The result is a torch._C.Graph with weights inlined as constants that share memory with the
model's parameters (torch._C._freeze_module inlines attributes without copying; the
numerics-changing frozen-graph optimizations of torch.jit.freeze are left out on purpose: kiln
folds batch norm into convolution itself at compile time).

capture_export is the third path: torch.export.export of the same flattening wrapper that tracing
uses (so inputs and outputs are named alike on both paths), read by fx_decoder.py.
"""
from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from dataclasses import dataclass, field

import torch

from kiln._kiln import ConversionError
from kiln.frontend.torch.inputs import Example, normalize_example, parse_input_spec
from kiln.frontend.torch.structure import flatten_output


@dataclass
class Captured:
    graph: "torch._C.Graph"
    method: str                    # "trace", "script" or "script_function"
    input_names: list[str]
    keep_alive: list = field(default_factory=list)  # owners of the constants' memory
    has_self: bool = True
    output_names: list[str] = field(default_factory=list)  # empty: named by the C++ front end
    example: Example | None = None


class _Flattened(torch.nn.Module):
    """What kiln traces: the model between flat tensors in and flat tensors out (structure.py)."""

    def __init__(self, model, example: Example):
        super().__init__()
        self.model = model
        self._example = example
        # torch.export restores the module's attributes, lists' contents too, after tracing
        # forward: the names live in a list no attribute holds, behind two closures
        names: list[str] = []
        self._record = lambda found: names.__setitem__(slice(None), found)
        self._names = lambda: list(names)

    @property
    def output_names(self) -> list[str]:
        return self._names()

    def forward(self, *leaves):
        names, tensors = flatten_output(self._example.call(self.model, leaves))
        if not tensors:
            raise TypeError("the model returned no tensor")
        self._record(names)
        return tuple(tensors)


@contextlib.contextmanager
def _quiet():
    # torch 2.9+ marks TorchScript deprecated with a FutureWarning on every call; kiln's use of it
    # is deliberate (see the README), so do not repeat the warning to the user.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        yield


def _forward_names(model) -> list[str] | None:
    fwd = getattr(model, "forward", None)
    if fwd is None:
        return None
    try:
        sig = inspect.signature(fwd)
    except (TypeError, ValueError):
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return None
        names.append(p.name)
    return names


def _graph_input_names(graph, has_self: bool) -> list[str]:
    ins = list(graph.inputs())[1 if has_self else 0:]
    names = []
    for v in ins:
        n = v.debugName()
        base = n.split(".")[0] if "." in n and n.rsplit(".", 1)[1].isdigit() else n
        names.append(base)
    return names


def _freeze(script_module) -> tuple["torch._C.Graph", object]:
    if script_module.training:
        script_module.eval()
    frozen = torch._C._freeze_module(script_module._c)
    graph = frozen._get_method("forward").graph
    _simplify(graph)
    return graph, frozen


def _simplify(graph):
    # Inline calls, then fold what torch itself can prove constant (e.g. `self.training`
    # branches, attribute checks), so the decoder sees fewer control-flow nodes.
    torch._C._jit_pass_inline(graph)
    torch._C._jit_pass_constant_propagation(graph)
    torch._C._jit_pass_dce(graph)


def _module_capture(script_module, method, names_hint) -> Captured:
    graph, frozen = _freeze(script_module)
    names = _graph_input_names(graph, True)
    if names_hint and len(names_hint) == len(names):
        names = names_hint
    return Captured(graph, method, names, [frozen, script_module], True)


def _trace(model, example: Example) -> Captured:
    wrapper = _Flattened(model, example).eval()
    traced = torch.jit.trace(wrapper, tuple(example.tensors), strict=False, check_trace=False)
    cap = _module_capture(traced, "trace", example.names)
    cap.output_names = wrapper.output_names
    cap.example = example
    return cap


def capture(model, example_input=None) -> Captured:
    """Captures `model` (nn.Module, ScriptModule or ScriptFunction).

    example_input: None, or what convert_model takes (a tensor, a tuple/list or a dict of them,
    nested structures and transformers caches included). With an example the model is traced
    first and scripted if tracing fails; without one it is scripted.
    """
    with _quiet(), torch.no_grad():
        if isinstance(model, torch.jit.ScriptFunction):
            graph = model.graph.copy()
            _simplify(graph)
            return Captured(graph, "script_function", _graph_input_names(graph, False), [model], False,
                            example=normalize_example(example_input))
        if isinstance(model, torch.jit.ScriptModule):
            cap = _module_capture(model, "script", None)
            cap.example = normalize_example(example_input)
            return cap
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"convert_model takes a torch.nn.Module, torch.jit.ScriptModule or "
                            f"torch.jit.ScriptFunction, got {type(model).__name__}")
        names = _forward_names(model)
        example = normalize_example(example_input, names)
        if model.training:
            model.eval()
        errors = []
        if example is not None:
            try:
                return _trace(model, example)
            except Exception as e:  # noqa: BLE001 - any tracing failure falls back to scripting
                errors.append(f"tracing failed: {type(e).__name__}: {_short(e)}")
        try:
            cap = _module_capture(torch.jit.script(model), "script", names)
            cap.example = example
            return cap
        except Exception as e:  # noqa: BLE001
            errors.append(f"scripting failed: {type(e).__name__}: {_short(e)}")
        raise ConversionError("kiln could not capture the model:\n" + "\n".join(errors))


def _short(e: Exception, limit: int = 600) -> str:
    """An exception's message without the tensors some of them print in full (the tracer's
    "cannot infer type of ModelOutput(last_hidden_state=tensor([[...]]))")."""
    text = re.sub(r"tensor\((\[[^()]*\])[^()]*\)", "tensor(...)", str(e), flags=re.S)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def _export_dims(example: Example, described: dict):
    """dynamic_shapes for torch.export from input=: a dynamic dim -> Dim.DYNAMIC (with its bounds;
    export fails if the model forces it static, rather than silently making it static), a static
    dim -> static; an input input= does not describe -> Dim.AUTO on every dim (dynamic where the
    model allows, as the TorchScript path makes undescribed dims dynamic)."""
    from torch.export import Dim

    dims = []
    for i, t in enumerate(example.tensors):
        shape, _ = described.get(i, (None, None))
        if shape is None or not shape.rank_is_static:
            dims.append({d: Dim.AUTO for d in range(t.dim())})
            continue
        if len(shape) != t.dim():
            raise ValueError(f"input=: input '{example.names[i]}' is described with rank {len(shape)}, "
                             f"its example has rank {t.dim()}")
        spec = {}
        for d in range(t.dim()):
            dim = shape[d]
            if dim.is_static:
                continue
            lo, hi = dim.min_length, dim.max_length
            kw = {}
            if lo > 0:
                kw["min"] = lo
            if hi >= 0:
                kw["max"] = hi
            spec[d] = Dim.DYNAMIC(**kw) if kw else Dim.DYNAMIC
        dims.append(spec)
    return tuple(dims)


def capture_export(model, example_input, spec):
    """torch.export.export of `model` with example_input -> (ExportedProgram, input names,
    output names). input= dims become export's dynamic dims (see _export_dims)."""
    if example_input is None:
        raise ConversionError("capture='export' needs example_input: torch.export runs the model once on it")
    names = _forward_names(model)
    example = normalize_example(example_input, names)
    if model.training:
        model.eval()
    described = parse_input_spec(spec, example.names)
    wrapper = _Flattened(model, example).eval()
    try:
        with _quiet(), torch.no_grad():
            ep = torch.export.export(wrapper, tuple(example.tensors), dynamic_shapes=(_export_dims(example, described),),
                                     strict=False)
    except Exception as e:  # noqa: BLE001 - every export failure is the user's conversion error
        raise ConversionError(f"torch.export failed: {type(e).__name__}: {_short(e, 1500)}") from None
    return ep, example.names, wrapper.output_names
