"""kiln: convert PyTorch models straight into kiln's own graph and run them fast on the CPU.

    import kiln, torchvision
    model = kiln.convert_model(torchvision.models.resnet50().eval())
    compiled = kiln.Core().compile_model(model, "CPU")
    scores = compiled(x)[compiled.outputs[0]]
    kiln.save_model(model, "resnet50.xml")      # IR v11, read by kiln.Core().read_model and OpenVINO
"""
from kiln._kiln import (  # noqa: F401  (the C++ core)
    ConversionError,
    Dimension,
    IRError,
    Model,
    Node,
    PartialShape,
    Port,
    Tensor,
    Type,
)
from kiln import model_api as _model_api  # noqa: F401  (adds Model.reshape)
from kiln.convert import convert_model  # noqa: F401
from kiln.ir import save_model, serialize  # noqa: F401
from kiln.runtime import AsyncInferQueue, CompiledModel, Core, InferRequest, InferResult, ProfilingInfo  # noqa: F401

__all__ = [
    "ConversionError", "Dimension", "IRError", "Model", "Node", "PartialShape", "Port", "Tensor", "Type",
    "convert_model", "save_model", "serialize", "Core", "CompiledModel", "InferRequest", "InferResult",
    "AsyncInferQueue", "ProfilingInfo",
]
