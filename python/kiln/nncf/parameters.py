"""nncf.parameters' names (ModelType, QuantizationPreset, TargetDevice) for kiln.nncf."""
from kiln.quantization import ModelType, QuantizationPreset, TargetDevice  # noqa: F401
