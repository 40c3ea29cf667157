"""NNCF's spelling of kiln's quantization, so that code written for NNCF + OpenVINO runs with its
imports changed:

    from kiln import nncf                       # instead of: import nncf
    from kiln.nncf import ModelType             # or: from kiln.nncf.parameters import ModelType
    calibration_dataset = nncf.Dataset(data_source, transform_fn)
    quantized_model = nncf.quantize(model, calibration_dataset, model_type=ModelType.TRANSFORMER)

The functions are kiln's own (kiln.quantize, kiln.Dataset, ...): see python/kiln/quantization.py.
"""
from kiln.quantization import (  # noqa: F401
    AdvancedQuantizationParameters,
    Dataset,
    IgnoredScope,
    ModelType,
    OverflowFix,
    QuantizationPreset,
    TargetDevice,
    quantize,
)
from kiln.nncf import parameters  # noqa: F401,E402

__all__ = ["AdvancedQuantizationParameters", "Dataset", "IgnoredScope", "ModelType", "OverflowFix",
           "QuantizationPreset", "TargetDevice", "quantize", "parameters"]
