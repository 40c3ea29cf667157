"""IR v11 files: kiln models saved as an XML + BIN pair and read back (also OpenVINO's files).

    kiln.save_model(model, "model.xml")                  # model.xml + model.bin
    kiln.serialize(model, "model.xml", "weights.bin")
    model = kiln.Core().read_model("model.xml")          # the .bin beside it is memory-mapped
    compiled = kiln.Core().compile_model("model.xml", "CPU")

Every fault in a file raises kiln.IRError naming the file, the layer and the fault.
"""
from __future__ import annotations

import os

from kiln._kiln import IRError, Model, _read_model, _read_model_from_memory, _read_model_text, _save_model, _serialize  # noqa: F401


def _path(p, what: str) -> str:
    if isinstance(p, os.PathLike):
        p = os.fspath(p)
    if not isinstance(p, str):
        raise TypeError(f"{what}: expected a path (str or os.PathLike), got {type(p).__name__}")
    return p


def _check_model(model, what):
    if not isinstance(model, Model):
        raise TypeError(f"{what} takes a kiln.Model, got {type(model).__name__}")


def save_model(model: Model, output_model, compress_to_fp16: bool = False) -> None:
    """Writes `model` as IR v11: `output_model` (.xml) and the .bin beside it.

    compress_to_fp16: store f32 weights (constants of 16 or more elements whose values fit f16)
    as f16, each followed by a Convert to f32, as OpenVINO does; the default keeps every value
    exact. Raises kiln.IRError for a model that cannot be written (a compiled model's
    runtime_model(), whose fused ops are kiln's own) or a file that cannot be written.
    """
    _check_model(model, "save_model")
    _save_model(model, _path(output_model, "output_model"), "", bool(compress_to_fp16))


def serialize(model: Model, xml_path, bin_path=None) -> None:
    """Writes `model` as IR v11 to `xml_path` and `bin_path` (default: the .bin beside the XML),
    every value exact."""
    _check_model(model, "serialize")
    _save_model(model, _path(xml_path, "xml_path"), "" if bin_path is None else _path(bin_path, "bin_path"), False)


def serialize_to_memory(model: Model, compress_to_fp16: bool = False) -> tuple[str, bytes]:
    """The IR v11 of `model` in memory: (XML text, weights bytes)."""
    _check_model(model, "serialize_to_memory")
    return _serialize(model, bool(compress_to_fp16))


def _is_xml_text(x) -> bool:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return True
    return isinstance(x, str) and x.lstrip().startswith("<")


def read_model(model, weights=None) -> Model:
    """A kiln.Model from IR v11.

    model: the path of the .xml file, or its text (a str starting with '<', or bytes).
    weights: the .bin file's path (default for a path: the .bin beside the XML), or the weights
        themselves as bytes / bytearray / memoryview / a contiguous numpy array, used without a
        copy; None for XML text without weights. A weights file is memory-mapped, not read.
    """
    text = _is_xml_text(model)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        if not text:
            with open(_path(model, "model"), "rb") as f:
                model = f.read()
        return _read_model_from_memory(model, weights, "<memory>" if text else _path(model, "model"))
    if text:
        return _read_model_text(model, "" if weights is None else _path(weights, "weights"))
    return _read_model(_path(model, "model"), "" if weights is None else _path(weights, "weights"))
