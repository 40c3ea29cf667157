"""Parsing convert_model's example_input and input= arguments."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from kiln._kiln import Dimension, PartialShape, Tensor, Type
from kiln.dtypes import to_kiln_type
from kiln.frontend.torch.structure import flatten_input


def to_torch(x, what="example_input"):
    """kiln.Tensor, torch.Tensor, np.ndarray or number -> torch.Tensor."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, Tensor):
        return torch.from_numpy(np.array(x.data))
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, (bool, int, float)):
        return torch.tensor(x)
    raise TypeError(f"{what}: expected a kiln.Tensor, torch.Tensor or numpy.ndarray, got {type(x).__name__}")


@dataclasses.dataclass
class Example:
    """example_input as flat named tensors (the leaves of nested inputs, see structure.py) and
    the way to call a model with new tensors in their places."""
    names: list
    tensors: list
    positional: bool                # the model takes the example's items as positional arguments
    rebuild: Callable[[list], list | dict]
    flat: bool                      # every item is one tensor (no nesting)

    def call(self, model, leaves):
        args = self.rebuild(list(leaves))
        return model(*args) if self.positional else model(**args)

    def by_name(self) -> dict:
        return dict(zip(self.names, self.tensors))


def normalize_example(example, param_names=None) -> Example | None:
    """example_input -> Example. param_names: the model's forward parameters, which name the items
    of a positional example and order the items of a dict (the rest follow in the dict's order)."""
    if example is None:
        return None
    if isinstance(example, dict):
        keys = list(example)
        if param_names:
            keys = [k for k in param_names if k in example] + [k for k in keys if k not in param_names]
        parts = [(k, flatten_input(example[k], k, _leaf_to_torch)) for k in keys]
        rebuild = lambda leaves: {k: f.rebuild(leaves[o:o + len(f.tensors)])  # noqa: E731
                                  for (k, f), o in zip(parts, _offsets(parts))}
        positional = False
    else:
        items = list(example) if isinstance(example, (list, tuple)) else [example]
        names = list(param_names or [])
        names += [f"input{i}" for i in range(len(names), len(items))]
        parts = [(names[i], flatten_input(v, names[i], _leaf_to_torch)) for i, v in enumerate(items)]
        rebuild = lambda leaves: [f.rebuild(leaves[o:o + len(f.tensors)])  # noqa: E731
                                  for (_, f), o in zip(parts, _offsets(parts))]
        positional = True
    flat = all(len(f.tensors) == 1 and f.names == [k] for k, f in parts)
    return Example([n for _, f in parts for n in f.names], [t for _, f in parts for t in f.tensors],
                   positional, rebuild, flat)


def _offsets(parts):
    o, r = 0, []
    for _, f in parts:
        r.append(o)
        o += len(f.tensors)
    return r


def _leaf_to_torch(x, name):
    return to_torch(x, f"example_input['{name}']")


def _is_dim(x) -> bool:
    return isinstance(x, (int, np.integer, Dimension)) and not isinstance(x, bool)


def _is_shape(x) -> bool:
    if isinstance(x, PartialShape):
        return True
    if isinstance(x, torch.Size):
        return True
    return isinstance(x, (list, tuple)) and all(_is_dim(d) or _is_interval(d) for d in x)


def _is_interval(d) -> bool:
    return isinstance(d, tuple) and len(d) == 2 and all(_is_dim(v) for v in d)


def to_partial_shape(x) -> PartialShape:
    if isinstance(x, PartialShape):
        return x
    dims = []
    for d in x:
        if isinstance(d, Dimension):
            dims.append(d)
        elif isinstance(d, tuple):  # (min, max) interval
            dims.append(Dimension(int(d[0]), int(d[1])))
        else:
            dims.append(Dimension(int(d)))
    return PartialShape(dims)


def _is_dtype(x) -> bool:
    if isinstance(x, (Type, torch.dtype)):
        return True
    if isinstance(x, type) and issubclass(x, np.generic):
        return True
    return isinstance(x, np.dtype)


def _parse_one(spec):
    """-> (name or None, PartialShape or None, Type or None)"""
    if spec is None:
        return None, None, None
    if isinstance(spec, str):
        return spec, None, None
    if _is_dtype(spec):
        return None, None, to_kiln_type(spec)
    if _is_shape(spec):
        return None, to_partial_shape(spec), None
    if isinstance(spec, tuple):
        name = shape = dtype = None
        for part in spec:
            if isinstance(part, str):
                name = part
            elif _is_dtype(part):
                dtype = to_kiln_type(part)
            elif _is_shape(part):
                shape = to_partial_shape(part)
            else:
                raise TypeError(f"input=: cannot read {part!r} in {spec!r} as a name, shape or dtype")
        return name, shape, dtype
    raise TypeError(f"input=: cannot read {spec!r} as a shape, (name, shape, dtype) or dtype")


def parse_input_spec(spec, names: list[str]):
    """input= / input_shape= -> {index: (PartialShape or None, Type or None)}."""
    if spec is None:
        return {}
    out = {}

    def index_of(name, pos):
        if name is None:
            if pos >= len(names):
                raise ValueError(f"input=: {pos + 1} inputs described, the model has {len(names)} ({names})")
            return pos
        if name not in names:
            raise ValueError(f"input=: the model has no input named '{name}'; its inputs are {names}")
        return names.index(name)

    if isinstance(spec, dict):
        for name, v in spec.items():
            if isinstance(v, tuple) and len(v) == 2 and _is_dtype(v[1]):
                shape, dtype = to_partial_shape(v[0]), to_kiln_type(v[1])
            else:
                _, shape, dtype = _parse_one(v)
            out[index_of(name, 0)] = (shape, dtype)
        return out
    if _is_shape(spec) or isinstance(spec, (str, tuple)) and not isinstance(spec, list):
        spec = [spec]
    for pos, item in enumerate(spec):
        name, shape, dtype = _parse_one(item)
        out[index_of(name, pos)] = (shape, dtype)
    return out
