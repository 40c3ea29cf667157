"""`from kiln.tools.mo import convert_model` — OpenVINO's Model Optimizer spelling of
kiln.convert_model, so that code written for `openvino.tools.mo` runs with its import changed."""
from kiln.convert import convert_model  # noqa: F401

__all__ = ["convert_model"]
