"""kiln: convert PyTorch models straight into kiln's own graph and run them fast on the CPU.

    import kiln, torchvision
    model = kiln.convert_model(torchvision.models.resnet50().eval())
    compiled = kiln.Core().compile_model(model, "CPU")
    scores = compiled(x)[compiled.outputs[0]]
"""
from kiln._kiln import (  # noqa: F401  (the C++ core)
    ConversionError,
    Dimension,
    Model,
    Node,
    PartialShape,
    Port,
    Tensor,
    Type,
)
from kiln import model_api as _model_api  # noqa: F401  (adds Model.reshape)
from kiln.convert import convert_model  # noqa: F401
from kiln.runtime import CompiledModel, Core, InferRequest, InferResult  # noqa: F401

__all__ = [
    "ConversionError", "Dimension", "Model", "Node", "PartialShape", "Port", "Tensor", "Type",
    "convert_model", "Core", "CompiledModel", "InferRequest", "InferResult",
]
