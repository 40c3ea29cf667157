"""Nested model inputs and outputs as flat lists of named tensors.

Models from `transformers` take and return structures, not tensors: a `past_key_values` cache
object in, a `ModelOutput` (a dict) with tuples of hidden states and a cache out. TorchScript's
tracer takes and returns tensors and tuples only, so kiln traces a thin wrapper: it takes one
flat tensor per leaf of the example, rebuilds the structure around the traced tensors, calls the
model, and flattens what comes back. The paths to the leaves become the names of kiln's inputs
and outputs (one scheme for both, documented in the README):

    dict / ModelOutput key          "logits", "last_hidden_state"
    tuple or list item              "hidden_states.1"; at the top level "output0", "output1", ...
    cache layer (DynamicCache)      "past_key_values.0.key", "past_key_values.0.value"
    encoder-decoder cache layer     "past_key_values.0.decoder.key", "past_key_values.0.encoder.key"
    the cache a model returns       "present.0.key", "present.0.value" (its inputs stay
                                    "past_key_values.*"), as optimum and OpenVINO name them
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


def _is_cache(x) -> bool:
    # transformers' Cache classes keep a list of layers, each with .keys and .values tensors.
    layers = getattr(x, "layers", None)
    return isinstance(layers, list) and all(hasattr(l, "keys") and hasattr(l, "values") for l in layers)


def _is_encoder_decoder_cache(x) -> bool:
    return _is_cache(getattr(x, "self_attention_cache", None)) and _is_cache(getattr(x, "cross_attention_cache", None))


def _join(prefix: str, part) -> str:
    return f"{prefix}.{part}" if prefix else str(part)


@dataclass
class Flat:
    """The leaves of a structure: names, tensors, and how to put new tensors back in their place."""
    names: list[str] = field(default_factory=list)
    tensors: list[torch.Tensor] = field(default_factory=list)
    rebuild: Callable[[list], Any] = lambda leaves: None


def flatten_input(value, name: str, to_tensor: Callable[[Any, str], torch.Tensor]) -> Flat:
    """One input (a tensor, array, nested tuple/list/dict of them, or a transformers cache).
    bool and None stay constants of the call (`use_cache=False`); other leaves become tensors."""
    flat = Flat()
    flat.rebuild = _flatten_in(value, name, to_tensor, flat)
    return flat


def _flatten_in(v, name, to_tensor, flat: Flat):
    if v is None or isinstance(v, bool):
        return lambda leaves: v
    if _is_encoder_decoder_cache(v):
        dec = _cache_leaves(v.self_attention_cache, name, "decoder", to_tensor, flat)
        enc = _cache_leaves(v.cross_attention_cache, name, "encoder", to_tensor, flat)

        def rebuild_ed(leaves, v=v):
            c = copy.copy(v)
            c.self_attention_cache = dec(leaves)
            c.cross_attention_cache = enc(leaves)
            c.is_updated = copy.copy(getattr(v, "is_updated", {}))
            return c
        return rebuild_ed
    if _is_cache(v):
        return _cache_leaves(v, name, None, to_tensor, flat)
    if isinstance(v, dict):
        parts = {k: _flatten_in(x, _join(name, k), to_tensor, flat) for k, x in v.items()}
        return lambda leaves: {k: f(leaves) for k, f in parts.items()}
    if isinstance(v, (list, tuple)) and not isinstance(v, torch.Size):
        parts = [_flatten_in(x, _join(name, i), to_tensor, flat) for i, x in enumerate(v)]
        return lambda leaves: type(v)(f(leaves) for f in parts)
    i = len(flat.tensors)
    flat.names.append(name)
    flat.tensors.append(to_tensor(v, name))
    return lambda leaves: leaves[i]


def _cache_leaves(cache, name, part, to_tensor, flat: Flat):
    """A DynamicCache's layers as key/value leaves; rebuilt as a fresh copy each call (the model
    grows the cache it is given in place)."""
    slots = []
    for i, layer in enumerate(cache.layers):
        base = _join(_join(name, i), part) if part else _join(name, i)
        if getattr(layer, "keys", None) is None or not getattr(layer, "is_initialized", True):
            slots.append(None)
            continue
        k = len(flat.tensors)
        flat.names += [f"{base}.key", f"{base}.value"]
        flat.tensors += [to_tensor(layer.keys, f"{base}.key"), to_tensor(layer.values, f"{base}.value")]
        slots.append(k)

    def rebuild(leaves):
        c = copy.copy(cache)
        c.layers = []
        for layer, k in zip(cache.layers, slots):
            nl = copy.copy(layer)
            if k is not None:
                nl.keys, nl.values = leaves[k], leaves[k + 1]
            c.layers.append(nl)
        return c
    return rebuild


def flatten_output(value) -> tuple[list[str], list[torch.Tensor]]:
    """What a model returns -> (names, tensors), None leaves and non-tensor values left out."""
    names: list[str] = []
    tensors: list[torch.Tensor] = []
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten_out(v, f"output{i}", names, tensors)
    else:
        _flatten_out(value, "" if hasattr(value, "keys") else "output0", names, tensors)
    return names, tensors


def _flatten_out(v, name, names, tensors):
    if isinstance(v, torch.Tensor):
        names.append(name)
        tensors.append(v)
    elif v is None or isinstance(v, (bool, int, float, str)):
        return
    elif _is_encoder_decoder_cache(v):
        base = _present(name)
        _cache_out(v.self_attention_cache, base, "decoder", names, tensors)
        _cache_out(v.cross_attention_cache, base, "encoder", names, tensors)
    elif _is_cache(v):
        _cache_out(v, _present(name), None, names, tensors)
    elif hasattr(v, "keys") and hasattr(v, "items"):  # dict, ModelOutput
        for k, x in v.items():
            _flatten_out(x, _join(name, k), names, tensors)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            _flatten_out(x, _join(name, i), names, tensors)
    else:
        raise TypeError(f"output '{name or 'output0'}': kiln cannot return a {type(v).__name__}")


def _present(name: str) -> str:
    # The cache a model returns is the "present" state: its names differ from the input cache's.
    return "present" if name.split(".")[-1] == "past_key_values" else name


def _cache_out(cache, base, part, names, tensors):
    for i, layer in enumerate(cache.layers):
        if getattr(layer, "keys", None) is None or not isinstance(layer.keys, torch.Tensor):
            continue
        prefix = _join(_join(base, i), part) if part else _join(base, i)
        names += [f"{prefix}.key", f"{prefix}.value"]
        tensors += [layer.keys, layer.values]
