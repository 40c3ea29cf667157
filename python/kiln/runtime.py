"""The Python face of the CPU runtime: Core, CompiledModel, InferRequest, InferResult."""
from __future__ import annotations

import os
import threading

import numpy as np

from kiln._kiln import Model, Port, Tensor, _compile


def _as_array(x, what):
    """numpy array / torch tensor / kiln.Tensor / number -> a contiguous CPU array object."""
    if isinstance(x, np.ndarray):
        # ascontiguousarray turns a 0-d array into shape (1,): keep scalars (a trip count) 0-d.
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    if isinstance(x, Tensor):
        return x.data
    mod = type(x).__module__
    if mod.startswith("torch"):
        t = x.detach()
        if t.device.type != "cpu":
            raise ValueError(f"{what}: kiln runs on the CPU; got a tensor on {t.device}")
        return t.contiguous()
    if isinstance(x, (bool, int, float, np.generic)):
        return np.asarray(x)
    raise TypeError(f"{what}: expected a numpy.ndarray, torch.Tensor or kiln.Tensor, got {type(x).__name__}")


class InferResult:
    """Outputs of one inference, indexable by output Port, index or name."""

    def __init__(self, ports: list[Port], arrays: list[np.ndarray]):
        self._ports = ports
        self._arrays = arrays

    def __getitem__(self, key):
        if isinstance(key, Port):
            for p, a in zip(self._ports, self._arrays):
                if p == key:
                    return a
            raise KeyError(f"{key!r} is not an output of this model")
        if isinstance(key, (int, np.integer)):
            return self._arrays[key]
        if isinstance(key, str):
            for p, a in zip(self._ports, self._arrays):
                if key in p.names:
                    return a
            raise KeyError(f"no output named '{key}'; outputs: {[p.any_name for p in self._ports]}")
        raise TypeError(f"index results by output Port, int or str, not {type(key).__name__}")

    def __len__(self):
        return len(self._arrays)

    def __iter__(self):
        return iter(self._arrays)

    def keys(self):
        return list(self._ports)

    def values(self):
        return list(self._arrays)

    def items(self):
        return list(zip(self._ports, self._arrays))

    def to_dict(self):
        return {p: a for p, a in zip(self._ports, self._arrays)}


def _ordered_inputs(inputs, ports: list[Port]) -> list:
    """One array per model input, from an array, a list/tuple or a dict (by name, index or Port)."""
    n = len(ports)
    if isinstance(inputs, dict):
        arrays = [None] * n
        for k, v in inputs.items():
            if isinstance(k, Port):
                i = k.index
            elif isinstance(k, (int, np.integer)):
                if not 0 <= k < n:
                    raise ValueError(f"input index {k} is out of range: the model has {n} input(s)")
                i = int(k)
            elif isinstance(k, str):
                matches = [p.index for p in ports if k in p.names]
                if not matches:
                    raise ValueError(f"the model has no input named '{k}'; its inputs are "
                                     f"{[p.any_name for p in ports]}")
                i = matches[0]
            else:
                raise TypeError(f"input keys must be names, indices or Ports, not {type(k).__name__}")
            arrays[i] = _as_array(v, f"input '{ports[i].any_name}'")
        missing = [ports[i].any_name for i, a in enumerate(arrays) if a is None]
        if missing:
            raise ValueError(f"missing input(s) {missing}; the model takes {[p.any_name for p in ports]}")
        return arrays
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != n:
            raise ValueError(f"the model takes {n} input(s) {[p.any_name for p in ports]}, got {len(inputs)}")
        return [_as_array(v, f"input '{p.any_name}'") for v, p in zip(inputs, ports)]
    if n != 1:
        raise ValueError(f"the model takes {n} inputs {[p.any_name for p in ports]}; pass a list or a dict")
    return [_as_array(inputs, f"input '{ports[0].any_name}'")]


class InferRequest:
    """One inference at a time with its own memory; make one per thread."""

    def __init__(self, compiled: "CompiledModel"):
        self._compiled = compiled
        self._req = compiled._cm.create_infer_request()
        self._last = None

    def infer(self, inputs=None) -> InferResult:
        """Runs on `inputs` (array, list or dict), or on the tensors set with set_tensor()."""
        ports = self._compiled.outputs
        if inputs is None:
            self._req.infer()
            arrays = self._req.outputs_numpy()
        else:
            arrays = self._req.infer_arrays(_ordered_inputs(inputs, self._compiled.inputs))
        self._last = InferResult(ports, arrays)
        return self._last

    def _index(self, key, ports):
        if isinstance(key, Port):
            return key.index
        if isinstance(key, (int, np.integer)):
            return int(key)
        for p in ports:
            if key in p.names:
                return p.index
        raise KeyError(f"no tensor named '{key}'")

    def set_tensor(self, key, value):
        """Sets an input by Port, index or name (shares the array's memory)."""
        i = self._index(key, self._compiled.inputs)
        self._req.set_input(i, _as_array(value, f"input '{self._compiled.inputs[i].any_name}'"))

    def set_input_tensor(self, value, index: int = 0):
        self.set_tensor(index, value)

    def get_tensor(self, key) -> Tensor:
        """An output (after infer) or input by Port, index or name, as a kiln.Tensor."""
        if isinstance(key, Port) and key.is_input:
            return self._req.get_input(key.index)
        if isinstance(key, str) and any(key in p.names for p in self._compiled.inputs):
            return self._req.get_input(self._index(key, self._compiled.inputs))
        return self._req.get_output(self._index(key, self._compiled.outputs))

    def get_output_tensor(self, index: int = 0) -> Tensor:
        return self._req.get_output(index)

    @property
    def results(self) -> InferResult | None:
        return self._last


def _precision(hint):
    """INFERENCE_PRECISION_HINT ('f32', 'bf16', a kiln.Type or numpy-style names) -> kiln.Type."""
    from kiln._kiln import Type
    if isinstance(hint, Type):
        name = hint.name
    else:
        name = str(hint).lower().replace("float32", "f32").replace("bfloat16", "bf16")
    if name not in ("f32", "bf16"):
        raise ValueError(f"INFERENCE_PRECISION_HINT must be 'f32' or 'bf16', got {hint!r}")
    return Type.f32 if name == "f32" else Type.bf16


class CompiledModel:
    """A model compiled for the CPU. Call it like a function; results index by Port/int/str."""

    def __init__(self, model: Model, config: dict | None = None):
        config = dict(config or {})
        threads = 0
        for key in ("INFERENCE_NUM_THREADS", "NUM_THREADS", "num_threads"):
            if key in config:
                threads = int(config.pop(key))
        cache = int(config.pop("PLAN_CACHE_SIZE", config.pop("plan_cache_size", 16)))
        precision = _precision(config.pop("INFERENCE_PRECISION_HINT", "f32"))
        if config:
            raise ValueError(f"unknown config key(s) {sorted(config)}; kiln takes INFERENCE_NUM_THREADS "
                             "(or num_threads), INFERENCE_PRECISION_HINT and PLAN_CACHE_SIZE")
        if threads < 0:
            raise ValueError(f"INFERENCE_NUM_THREADS must be >= 0, got {threads}")
        self._cm = _compile(model, threads, cache, precision)
        self.inputs = self._cm.inputs
        self.outputs = self._cm.outputs
        self._default = None
        self._lock = threading.Lock()

    def input(self, key=0) -> Port:
        return self._port(self.inputs, key)

    def output(self, key=0) -> Port:
        return self._port(self.outputs, key)

    @staticmethod
    def _port(ports, key):
        if isinstance(key, (int, np.integer)):
            return ports[key]
        for p in ports:
            if key in p.names:
                return p
        raise KeyError(f"no port named '{key}'; have {[p.any_name for p in ports]}")

    def create_infer_request(self) -> InferRequest:
        return InferRequest(self)

    def __call__(self, inputs) -> InferResult:
        with self._lock:
            if self._default is None:
                self._default = InferRequest(self)
            return self._default.infer(inputs)

    @property
    def inference_precision(self):
        """The precision kernels compute in: bf16 only when hinted and the CPU has AVX512_BF16."""
        return self._cm.inference_precision

    def kernel_summary(self, input_shapes):
        """(op type, node name, kernel) for each step of the plan for these input shapes."""
        return self._cm.kernel_summary([list(s) for s in input_shapes])

    def layout_summary(self, input_shapes):
        """(node name, memory layout of its first output, e.g. 'nChw16c') for each step of the plan;
        steps named '.../reorder_A_B' convert between layouts."""
        return self._cm.layout_summary([list(s) for s in input_shapes])

    def runtime_model(self) -> Model:
        """The graph after compile-time passes (constant folding, fusions)."""
        return self._cm.runtime_model()


class Core:
    """Entry point of the runtime, as in OpenVINO: Core().compile_model(model, "CPU")."""

    available_devices = ["CPU"]

    def compile_model(self, model, device_name: str = "CPU", config: dict | None = None) -> CompiledModel:
        """Compiles a kiln.Model, or the IR v11 file at a path (str or os.PathLike)."""
        if device_name.upper() != "CPU":
            raise ValueError(f"kiln has one device, 'CPU'; got '{device_name}'")
        if isinstance(model, (str, os.PathLike)):
            model = self.read_model(model)
        if not isinstance(model, Model):
            raise TypeError("compile_model takes a kiln.Model (from kiln.convert_model or Core.read_model) or the "
                            f"path of an IR .xml file, got {type(model).__name__}")
        return CompiledModel(model, config)

    def read_model(self, model, weights=None) -> Model:
        """A kiln.Model from IR v11 (kiln's own files and OpenVINO's).

        model: the .xml path, or the XML text (str starting with '<', or bytes); weights: the
        .bin path (default: beside the XML; memory-mapped, not copied) or the weights as bytes /
        a buffer. Raises kiln.IRError naming the file, the layer and the fault.
        """
        from kiln.ir import read_model
        return read_model(model, weights)

    def get_available_devices(self):
        return list(self.available_devices)
