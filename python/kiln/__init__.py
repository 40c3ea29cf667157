"""kiln: convert PyTorch models straight into kiln's own graph and run them fast on the CPU.

    import kiln, torchvision
    model = kiln.convert_model(torchvision.models.resnet50().eval())
    compiled = kiln.Core().compile_model(model, "CPU")
    scores = compiled(x)[compiled.outputs[0]]
    kiln.save_model(model, "resnet50.xml")      # IR v11, read by kiln.Core().read_model and OpenVINO
"""
import os as _os

# OpenMP threads that spin while they wait for work take the core from the thread they wait for
# when the machine is shared: on 2 busy cores resnet50 ran 4-5x slower with 2 threads spinning
# (libgomp's default) than sleeping (PASSIVE); one thread per stream (THROUGHPUT) has no team to
# spin. libgomp reads this once, when it loads: it takes effect when kiln is imported before
# torch (which brings the same libgomp) or anything else that loads OpenMP. Set
# OMP_WAIT_POLICY yourself to choose otherwise.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

__all__ = [
    "ConversionError", "Dimension", "IRError", "Model", "Node", "PartialShape", "Port", "Tensor", "Type",
    "convert_model", "save_model", "serialize", "Core", "CompiledModel", "InferRequest", "InferResult",
    "AsyncInferQueue", "ProfilingInfo",
]
