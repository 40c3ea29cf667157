"""The Python face of the CPU runtime: Core, CompiledModel, InferRequest, InferResult,
AsyncInferQueue and ProfilingInfo (OpenVINO's names and behaviour)."""
from __future__ import annotations

import atexit
import collections
import datetime
import enum
import functools
import os
import threading
import warnings
import weakref

import numpy as np

from kiln._kiln import Model, Port, Tensor, _available_cores, _compile


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


class ProfilingInfo:
    """One step of an inference (PERF_COUNT): OpenVINO's ProfilingInfo fields, plus `layout` and
    `detail` (more about the kernel, e.g. the implementation a library picked; "" when none)."""

    class Status(enum.Enum):
        NOT_RUN = 0
        OPTIMIZED_OUT = 1
        EXECUTED = 2

    __slots__ = ("node_name", "node_type", "exec_type", "real_time", "cpu_time", "status", "layout", "detail")

    def __init__(self, node_name, node_type, exec_type, layout, detail, microseconds):
        self.node_name = node_name
        self.node_type = node_type
        self.exec_type = exec_type  # the kernel's name
        self.layout = layout
        self.detail = detail
        # Wall time of the step; kernels run on the request's thread and its OpenMP team, so
        # cpu_time is reported equal to real_time (as OpenVINO's CPU plugin does).
        self.real_time = datetime.timedelta(microseconds=microseconds)
        self.cpu_time = self.real_time
        self.status = ProfilingInfo.Status.EXECUTED

    def __repr__(self):
        us = self.real_time / datetime.timedelta(microseconds=1)
        return f"<ProfilingInfo {self.node_type} {self.node_name}: {self.exec_type}, {us:.1f} us>"


# Requests with an asynchronous job in flight, kept alive until it is done (and waited for at
# interpreter exit, so that no worker thread takes the GIL of a dying interpreter).
_in_flight: set = set()
_in_flight_lock = threading.Lock()


@atexit.register
def _wait_in_flight():
    with _in_flight_lock:
        pending = list(_in_flight)
    for r in pending:
        try:
            r._req.wait()
        except Exception:  # noqa: BLE001  (errors of jobs nobody waited for: nothing to tell at exit)
            pass


def _job_done(wref, ok):
    """Runs on the request's worker thread with the GIL, after each asynchronous inference."""
    self = wref()
    if self is None:
        return
    error = None
    self._callback_thread = threading.get_ident()
    try:
        if ok:
            self._last = InferResult(self._compiled.outputs, self._req.outputs_numpy())
        else:
            try:
                self._req.take_error()
            except Exception as e:  # noqa: BLE001  (kept, raised at wait())
                error = e
        hook, userdata = self._hook, self._job_userdata
        if hook is not None:  # an AsyncInferQueue's request: the queue reports errors
            hook(self, error, userdata)
        else:
            if error is None and self._callback is not None:
                try:
                    self._callback(userdata)
                except BaseException as e:  # noqa: BLE001  (raised at wait())
                    error = e
            self._error = error
    finally:
        self._callback_thread = None
        with _in_flight_lock:
            _in_flight.discard(self)


class InferRequest:
    """One inference at a time with its own memory; make one per thread. start_async() runs it
    on the request's own C++ thread (the GIL released), wait() collects it."""

    def __init__(self, compiled: "CompiledModel"):
        self._compiled = compiled
        self._req = compiled._cm.create_infer_request()
        self._last = None
        self._callback = None
        self._userdata = None
        self._job_userdata = None
        self._hook = None  # set by AsyncInferQueue
        self._error = None
        self._callback_thread = None  # the worker thread while it runs the callback
        self._req.set_callback(functools.partial(_job_done, weakref.ref(self)))

    def _check_idle(self):
        # Its callback may read the request (it runs before the request is done).
        if self._req.busy and threading.get_ident() != self._callback_thread:
            raise RuntimeError("the infer request is busy: an asynchronous inference is running (wait() for it first)")

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

    def start_async(self, inputs=None, userdata=None) -> None:
        """Starts an inference on `inputs` (array, list or dict; None: the tensors set) and returns
        at once. The callback (set_callback) gets `userdata` (else the one given to set_callback)."""
        if self._req.busy:
            raise RuntimeError("the infer request is busy: an asynchronous inference is running (wait() for it first)")
        if inputs is not None:
            for i, a in enumerate(_ordered_inputs(inputs, self._compiled.inputs)):
                self._req.set_input(i, a)
        if self._error is not None:  # the last job's error, never collected by wait(): say so
            e, self._error = self._error, None
            warnings.warn(f"an earlier asynchronous inference of this request failed and nobody waited for it: "
                          f"{type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)
        self._job_userdata = self._userdata if userdata is None else userdata
        self._last = None
        with _in_flight_lock:
            _in_flight.add(self)
        try:
            self._req.start_async()
        except BaseException:
            with _in_flight_lock:
                _in_flight.discard(self)
            raise

    def wait(self) -> None:
        """Waits for the asynchronous inference and its callback; raises the inference's error
        (or the callback's) if there was one."""
        self._req.wait()
        self._raise_error()

    def wait_for(self, timeout: int) -> bool:
        """Waits at most `timeout` milliseconds: True when the inference is done (errors raised
        as by wait()); a negative timeout waits without limit, as OpenVINO's does."""
        if timeout < 0:
            self.wait()
            return True
        if not self._req.wait_for(int(timeout)):
            return False
        self._raise_error()
        return True

    def _raise_error(self):
        e, self._error = self._error, None
        if e is not None:
            raise e

    def set_callback(self, callback, userdata=None) -> None:
        """callback(userdata) runs after each asynchronous inference that succeeded, on the
        request's worker thread (with the GIL); its exception is raised by wait()."""
        self._callback = callback
        self._userdata = userdata

    @property
    def userdata(self):
        return self._job_userdata

    def is_ready(self) -> bool:
        """Whether no asynchronous inference is running."""
        return not self._req.busy

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
        self._check_idle()
        if isinstance(key, Port) and key.is_input:
            return self._req.get_input(key.index)
        if isinstance(key, str) and any(key in p.names for p in self._compiled.inputs):
            return self._req.get_input(self._index(key, self._compiled.inputs))
        return self._req.get_output(self._index(key, self._compiled.outputs))

    def get_output_tensor(self, index: int = 0) -> Tensor:
        self._check_idle()
        return self._req.get_output(index)

    @property
    def results(self) -> InferResult | None:
        """The outputs of the last inference (sync or async, once done), or None."""
        return self._last

    @property
    def profiling_info(self) -> list[ProfilingInfo]:
        """One ProfilingInfo per step of the last inference, in execution order. Empty unless the
        model was compiled with PERF_COUNT, as in OpenVINO (profiling off costs nothing)."""
        self._check_idle()
        return [ProfilingInfo(*t) for t in self._req.profiling_info()]

    def get_profiling_info(self) -> list[ProfilingInfo]:
        return self.profiling_info


class AsyncInferQueue:
    """A pool of infer requests kept busy, as OpenVINO's: start_async(inputs, userdata) gives the
    job to an idle request (waiting for one if all are busy); the callback set_callback(cb) gets
    (request, userdata) after each job on that request's thread; wait_all() waits for every job
    and raises the first error of an inference or a callback since the last wait_all().
    jobs=0: OPTIMAL_NUMBER_OF_INFER_REQUESTS of the compiled model (one per stream)."""

    def __init__(self, compiled: "CompiledModel", jobs: int = 0):
        if jobs < 0:
            raise ValueError(f"jobs must be >= 0, got {jobs}")
        n = int(jobs) or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._requests = [compiled.create_infer_request() for _ in range(n)]
        self._cond = threading.Condition()
        self._idle = collections.deque(range(n))
        self._callback = None
        self._errors = []
        self._userdata = [None] * n
        me = weakref.ref(self)
        for i, r in enumerate(self._requests):
            r._hook = functools.partial(AsyncInferQueue._job_done, me, i)

    @staticmethod
    def _job_done(qref, i, request, error, userdata):
        q = qref()
        if q is None:
            return
        try:
            if error is None and q._callback is not None:
                try:
                    q._callback(request, userdata)
                except BaseException as e:  # noqa: BLE001  (raised at wait_all())
                    error = e
        finally:
            with q._cond:
                if error is not None:
                    q._errors.append(error)
                q._idle.append(i)
                q._cond.notify_all()

    def set_callback(self, callback) -> None:
        """callback(request, userdata) after each job that succeeded."""
        self._callback = callback

    def start_async(self, inputs=None, userdata=None) -> None:
        with self._cond:
            while not self._idle:
                self._cond.wait()
            i = self._idle.popleft()
        self._userdata[i] = userdata
        try:
            # Idle for the queue once its callback has run; the C++ request is done a moment
            # after the callback returns.
            self._requests[i]._req.wait()
            self._requests[i].start_async(inputs, userdata)
        except BaseException:
            with self._cond:
                self._idle.appendleft(i)
                self._cond.notify_all()
            raise

    def wait_all(self) -> None:
        me = threading.get_ident()
        if any(r._callback_thread == me for r in self._requests):
            raise RuntimeError("wait_all() from a callback of the same queue would never return")
        for r in self._requests:
            r._req.wait()
        with self._cond:
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def is_ready(self) -> bool:
        """Whether some request is idle (start_async would not wait)."""
        with self._cond:
            return bool(self._idle)

    def get_idle_request_id(self) -> int:
        """The index of an idle request, waiting for one if all are busy."""
        with self._cond:
            while not self._idle:
                self._cond.wait()
            return self._idle[0]

    @property
    def userdata(self) -> list:
        """The userdata of each request's last job."""
        return list(self._userdata)

    def __len__(self):
        return len(self._requests)

    def __iter__(self):
        return iter(self._requests)

    def __getitem__(self, i) -> InferRequest:
        return self._requests[i]


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


def _flag(key, v) -> bool:
    """True/False, or OpenVINO's 'YES'/'NO' strings (also 'TRUE'/'FALSE', '1'/'0')."""
    if isinstance(v, (bool, int, np.bool_)):
        return bool(v)
    s = str(v).strip().upper()
    if s in ("YES", "TRUE", "1", "ON"):
        return True
    if s in ("NO", "FALSE", "0", "OFF"):
        return False
    raise ValueError(f"{key} must be True/False or 'YES'/'NO', got {v!r}")


def _hint(v) -> str:
    """PERFORMANCE_HINT: 'LATENCY' or 'THROUGHPUT' (any case, or an enum with that name)."""
    s = str(getattr(v, "name", v)).strip().upper()
    s = s.rpartition(".")[2]  # "PerformanceMode.THROUGHPUT"
    if s not in ("LATENCY", "THROUGHPUT"):
        raise ValueError(f"PERFORMANCE_HINT must be 'LATENCY' or 'THROUGHPUT', got {v!r}")
    return s


def _streams(v) -> int:
    """NUM_STREAMS: a positive int, or 'AUTO' / 0 / -1 (from the hint) -> 0."""
    if isinstance(v, str):
        if v.strip().upper() in ("AUTO", "NUMA"):
            return 0
        try:
            v = int(v)
        except ValueError:
            raise ValueError(f"NUM_STREAMS must be a positive integer or 'AUTO', got {v!r}") from None
    n = int(v)
    if n < -1:
        raise ValueError(f"NUM_STREAMS must be a positive integer or 'AUTO', got {v!r}")
    return max(n, 0)


class CompiledModel:
    """A model compiled for the CPU. Call it like a function; results index by Port/int/str.

    Config (OpenVINO's keys): INFERENCE_NUM_THREADS, INFERENCE_PRECISION_HINT, PERF_COUNT,
    PERFORMANCE_HINT (LATENCY: one stream on every core; THROUGHPUT: one stream per core),
    NUM_STREAMS (int or 'AUTO'), PLAN_CACHE_SIZE."""

    def __init__(self, model: Model, config: dict | None = None):
        config = dict(config or {})
        threads = 0
        for key in ("INFERENCE_NUM_THREADS", "NUM_THREADS", "num_threads"):
            if key in config:
                threads = int(config.pop(key))
        cache = int(config.pop("PLAN_CACHE_SIZE", config.pop("plan_cache_size", 16)))
        precision = _precision(config.pop("INFERENCE_PRECISION_HINT", "f32"))
        perf_count = _flag("PERF_COUNT", config.pop("PERF_COUNT", False))
        hint = _hint(config.pop("PERFORMANCE_HINT", "LATENCY"))
        streams = _streams(config.pop("NUM_STREAMS", "AUTO"))
        if config:
            raise ValueError(f"unknown config key(s) {sorted(config)}; kiln takes INFERENCE_NUM_THREADS "
                             "(or num_threads), INFERENCE_PRECISION_HINT, PLAN_CACHE_SIZE, PERF_COUNT, "
                             "PERFORMANCE_HINT and NUM_STREAMS")
        if threads < 0:
            raise ValueError(f"INFERENCE_NUM_THREADS must be >= 0, got {threads}")
        self._cm = _compile(model, threads, cache, precision, perf_count, hint, streams)
        self._threads = threads
        self._cache = cache
        self._precision_hint = precision
        self.inputs = self._cm.inputs
        self.outputs = self._cm.outputs
        self._default = None
        self._lock = threading.Lock()

    def get_property(self, name: str):
        """OpenVINO's CompiledModel.get_property: OPTIMAL_NUMBER_OF_INFER_REQUESTS, NUM_STREAMS,
        PERFORMANCE_HINT, INFERENCE_NUM_THREADS (threads of all streams together),
        INFERENCE_PRECISION_HINT (the precision in force), PERF_COUNT, PLAN_CACHE_SIZE,
        SUPPORTED_PROPERTIES."""
        name = getattr(name, "name", name) if not isinstance(name, str) else name
        props = {
            "OPTIMAL_NUMBER_OF_INFER_REQUESTS": lambda: self._cm.optimal_number_of_infer_requests,
            "NUM_STREAMS": lambda: self._cm.num_streams,
            "PERFORMANCE_HINT": lambda: self._cm.performance_hint,
            "INFERENCE_NUM_THREADS": lambda: self._threads or _available_cores(),
            "INFERENCE_PRECISION_HINT": lambda: self._cm.inference_precision,
            "PERF_COUNT": lambda: self._cm.perf_count,
            "PLAN_CACHE_SIZE": lambda: self._cache,
        }
        if name == "SUPPORTED_PROPERTIES":
            return sorted(props) + ["SUPPORTED_PROPERTIES"]
        if name not in props:
            raise ValueError(f"unknown property '{name}'; kiln's compiled model has {sorted(props)}")
        return props[name]()

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

    @property
    def cached_plans(self) -> int:
        """Shape signatures in the plan cache (at most PLAN_CACHE_SIZE)."""
        return self._cm.cached_plans

    @property
    def plans_built(self) -> int:
        """Plans built so far: once per shape signature, however many requests bring it at once."""
        return self._cm.plans_built

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
