"""kiln: convert PyTorch models straight into kiln's own graph and run them fast on the CPU.

    import kiln, torchvision
    model = kiln.convert_model(torchvision.models.resnet50().eval())
    compiled = kiln.Core().compile_model(model, "CPU")
    scores = compiled(x)[compiled.outputs[0]]
    kiln.save_model(model, "resnet50.xml")      # IR v11, read by kiln.Core().read_model and OpenVINO
"""
# OpenMP waiting is left to libgomp's default (threads spin a while, then sleep): on an idle
# machine that is what small kernels need (mobilenet_v3_large, 2 threads: 1.9 ms spinning, 5.9 ms
# with OMP_WAIT_POLICY=PASSIVE); on a machine shared with other busy processes PASSIVE is better
# (3.95 ms against 6.1 with one other process spinning). Set OMP_WAIT_POLICY yourself, before
# anything loads OpenMP (torch does), to choose: the README's "OpenMP waiting" says more.

from kiln._kiln import (  # noqa: F401,E402  (the C++ core)
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
from kiln.quantization import (  # noqa: F401
    AdvancedQuantizationParameters, Dataset, IgnoredScope, ModelType, OverflowFix, QuantizationPreset, TargetDevice,
    quantize,
)

__all__ = [
    "ConversionError", "Dimension", "IRError", "Model", "Node", "PartialShape", "Port", "Tensor", "Type",
    "convert_model", "save_model", "serialize", "Core", "CompiledModel", "InferRequest", "InferResult",
    "AsyncInferQueue", "ProfilingInfo", "quantize", "Dataset", "IgnoredScope", "ModelType", "QuantizationPreset",
    "TargetDevice", "OverflowFix", "AdvancedQuantizationParameters",
]

# torch.compile(model, backend="kiln"): registered with dynamo when torch imports its registry
# (the installed package also declares it as a torch_dynamo_backends entry point).
from kiln.frontend.torch import compile_backend as _compile_backend  # noqa: E402
_compile_backend.register()
