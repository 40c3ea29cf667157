"""Post-training INT8 quantization: kiln.quantize and kiln.Dataset (NNCF's API, kiln's algorithms).

    calibration = kiln.Dataset(data_source, transform_fn)      # any iterable + item -> model inputs
    int8 = kiln.quantize(model, calibration, model_type=kiln.ModelType.TRANSFORMER)
    compiled = kiln.Core().compile_model(int8, "CPU")

The result is a new kiln.Model: the float graph with FakeQuantize ops (OpenVINO opset1), which
prints, saves as IR v11 and runs like any other (the input model is left as it was). What is
decided and computed (placement, statistics, SmoothQuant, bias correction) is C++
(cpp/kiln/quantize/quantize.hpp); this module iterates the calibration set with kiln's runtime.
`from kiln import nncf` gives the same functions under NNCF's names.
"""
from __future__ import annotations

import dataclasses
import enum
import itertools
import re
import warnings

from kiln._kiln import Model, _Quantizer


class ModelType(enum.Enum):
    """Model type: TRANSFORMER adds SmoothQuant and the transformer placement rules."""
    TRANSFORMER = "transformer"


class QuantizationPreset(enum.Enum):
    """PERFORMANCE: symmetric weights and activations. MIXED: symmetric weights, asymmetric
    activations (the default for ModelType.TRANSFORMER)."""
    PERFORMANCE = "performance"
    MIXED = "mixed"


class TargetDevice(enum.Enum):
    """kiln runs on the CPU: ANY, CPU and CPU_SPR give the CPU's quantization scheme."""
    ANY = "ANY"
    CPU = "CPU"
    CPU_SPR = "CPU_SPR"
    GPU = "GPU"
    NPU = "NPU"


class OverflowFix(enum.Enum):
    """How weights are kept from saturating u8 x s8 pair sums on CPUs without VNNI: FIRST_LAYER
    (NNCF's default) uses half the weight levels on the first convolutions after the inputs,
    ENABLE on every convolution and matmul, DISABLE nowhere."""
    ENABLE = "enable"
    DISABLE = "disable"
    FIRST_LAYER = "first_layer"


@dataclasses.dataclass
class IgnoredScope:
    """Nodes whose inputs stay float: by exact node name (`names`), by op type (`types`, e.g.
    "MatMul") and by regular expression on node names (`patterns`, matched from the start of the
    name as Python's re.match does). With validate=True (the default, as NNCF) a name that is not
    in the model, a type no node has, or a pattern that matches nothing is an error naming it."""
    names: list = dataclasses.field(default_factory=list)
    patterns: list = dataclasses.field(default_factory=list)
    types: list = dataclasses.field(default_factory=list)
    validate: bool = True


@dataclasses.dataclass
class AdvancedQuantizationParameters:
    """The few advanced knobs kiln has (NNCF's names): overflow_fix, smooth_quant_alpha (for
    ModelType.TRANSFORMER; negative: no SmoothQuant), disable_bias_correction."""
    overflow_fix: OverflowFix = OverflowFix.FIRST_LAYER
    smooth_quant_alpha: float = 0.95
    disable_bias_correction: bool = False


class Dataset:
    """A calibration set: any iterable (a list, a torch DataLoader, a generator) or a function
    returning one (called each time the set is read, e.g. a generator function), and an optional
    transform_fn turning one item into the model's inputs: an array or tensor (a one-input
    model), a tuple/list (in input order) or a dict by input name. Without transform_fn the items
    are the inputs."""

    def __init__(self, data_source, transform_fn=None):
        if data_source is None:
            raise TypeError("Dataset needs a data source (an iterable of calibration items)")
        if transform_fn is not None and not callable(transform_fn):
            raise TypeError(f"transform_fn must be callable, got {type(transform_fn).__name__}")
        self._source = data_source
        self._transform = transform_fn
        self._used = False

    def _iterate(self):
        src = self._source
        if callable(src) and not hasattr(src, "__iter__"):
            src = src()
        if iter(src) is src:  # a one-shot iterator (a generator object)
            if self._used:
                raise ValueError("this Dataset's data source is an iterator that was already consumed; "
                                 "give a list, an iterable or a function that returns a new iterator")
            self._used = True
        return iter(src)

    def get_data(self, indices=None):
        """The items (all, or those at the sorted `indices`)."""
        it = self._iterate()
        if indices is None:
            return it
        wanted = sorted(set(int(i) for i in indices))
        return (item for i, item in enumerate(it) if i in set(wanted))

    def get_inference_data(self, indices=None):
        """The items turned into model inputs by transform_fn."""
        t = self._transform
        return (item if t is None else t(item) for item in self.get_data(indices))

    def get_length(self):
        """The number of items, when the source knows it; else None."""
        try:
            return len(self._source)
        except TypeError:
            return None

    def get_batch_size(self):
        return getattr(self._source, "batch_size", None)


def _enum(value, cls, what):
    if value is None or isinstance(value, cls):
        return value
    name = getattr(value, "name", None) or getattr(value, "value", None) or value
    s = str(name).rpartition(".")[2]
    for m in cls:
        if s.upper() == m.name or s.lower() == str(m.value).lower():
            return m
    raise ValueError(f"{what} must be one of {[m.name for m in cls]}, got {value!r}")


def _ignored_names(model: Model, scope) -> set:
    if scope is None:
        return set()
    if not hasattr(scope, "names"):
        raise TypeError(f"ignored_scope must be a kiln.IgnoredScope, got {type(scope).__name__}")
    ops = model.get_ops()
    names = [n.name for n in ops]
    known = set(names)
    validate = getattr(scope, "validate", True)
    ignored, missing = set(), []
    for n in list(scope.names or []):
        if n in known:
            ignored.add(n)
        else:
            missing.append(f"name '{n}'")
    for t in list(scope.types or []):
        hit = {o.name for o in ops if o.type_name == t}
        if hit:
            ignored |= hit
        else:
            missing.append(f"type '{t}'")
    for p in list(scope.patterns or []):
        rx = re.compile(p)
        hit = {n for n in known if rx.match(n)}
        if hit:
            ignored |= hit
        else:
            missing.append(f"pattern '{p}'")
    if missing and validate:
        raise ValueError("ignored_scope: " + ", ".join(missing) + " matched no node of the model (pass "
                         "IgnoredScope(..., validate=False) to allow that); node names are those of "
                         "model.get_ops(), e.g. " + ", ".join(repr(n) for n in names[:5]))
    return ignored


def _check_item(inputs, i, ports):
    """The item's inputs as runtime arguments, or a ValueError/TypeError naming item i."""
    from kiln.runtime import _ordered_inputs
    try:
        arrays = _ordered_inputs(inputs, ports)
    except (ValueError, TypeError) as e:
        raise type(e)(f"calibration item {i}: {e}") from None
    for a, p in zip(arrays, ports):
        shape = getattr(a, "shape", None)
        ps = p.partial_shape
        if shape is not None and ps.rank_is_static and len(shape) != ps.rank:
            raise ValueError(f"calibration item {i}: input '{p.any_name}' should have rank {ps.rank} "
                             f"({ps}), got shape {tuple(shape)}")
    return arrays


def quantize(model, calibration_dataset, *, mode=None, preset=None, target_device=TargetDevice.CPU,
             subset_size: int = 300, fast_bias_correction: bool = True, model_type=None, ignored_scope=None,
             advanced_parameters=None, show_progress: bool = True) -> Model:
    """A new kiln.Model quantized to INT8 after calibrating on `calibration_dataset`.

    - preset: QuantizationPreset.PERFORMANCE (default) or MIXED (default for TRANSFORMER).
    - model_type: None or ModelType.TRANSFORMER (SmoothQuant, no quantizer on Add/Softmax/norm
      inputs or attention's P.V, Q.K^T symmetric).
    - subset_size: calibration items used (the first ones), default 300.
    - fast_bias_correction: correct the biases of quantized convolutions and matmuls for the mean
      shift their weight quantization causes (False: no bias correction; NNCF's slower
      BiasCorrection is not implemented).
    - ignored_scope: a kiln.IgnoredScope of nodes to leave float.
    - target_device: "CPU" (or ANY / CPU_SPR, the same scheme here).
    - advanced_parameters: kiln.AdvancedQuantizationParameters.
    Statistics come from one inference per item of the model with extra outputs; a progress bar
    on stderr shows it (show_progress=False hides it). An item the transform cannot turn into the
    model's inputs, of the wrong dtype or shape, raises an error naming the item's index.
    """
    if not isinstance(model, Model):
        raise TypeError(f"quantize takes a kiln.Model (from kiln.convert_model or Core.read_model), "
                        f"got {type(model).__name__}")
    if not isinstance(calibration_dataset, Dataset):
        if hasattr(calibration_dataset, "get_inference_data"):
            pass  # a Dataset-like object (an nncf.Dataset works too)
        else:
            raise TypeError("calibration_dataset must be a kiln.Dataset (kiln.Dataset(data_source, transform_fn)), "
                            f"got {type(calibration_dataset).__name__}")
    if mode is not None:
        raise ValueError(f"mode={mode!r}: kiln quantizes to INT8 only (FP8 modes are not supported)")
    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or subset_size < 1:
        raise ValueError(f"subset_size must be a positive integer, got {subset_size!r}")
    model_type = _enum(model_type, ModelType, "model_type")
    preset = _enum(preset, QuantizationPreset, "preset")
    device = _enum(target_device, TargetDevice, "target_device")
    if device in (TargetDevice.GPU, TargetDevice.NPU):
        raise ValueError(f"target_device {device.name}: kiln runs on the CPU (use 'CPU')")
    adv = advanced_parameters or AdvancedQuantizationParameters()
    transformer = model_type == ModelType.TRANSFORMER
    if preset is None:
        preset = QuantizationPreset.MIXED if transformer else QuantizationPreset.PERFORMANCE
    overflow = _enum(getattr(adv, "overflow_fix", OverflowFix.FIRST_LAYER) or OverflowFix.FIRST_LAYER,
                     OverflowFix, "overflow_fix")
    alpha = getattr(adv, "smooth_quant_alpha", 0.95)
    fbc = bool(fast_bias_correction) and not getattr(adv, "disable_bias_correction", False)

    ignored = _ignored_names(model, ignored_scope)
    q = _Quantizer(model, transformer, preset == QuantizationPreset.PERFORMANCE, fbc, overflow.value,
                   float(alpha if alpha is not None else 0.95), ignored)

    from kiln.benchmark import _Bar
    from kiln.runtime import CompiledModel
    stats = CompiledModel(q.statistics_model(), {"PLAN_CACHE_SIZE": 64})
    ports = model.inputs
    length = calibration_dataset.get_length() if hasattr(calibration_dataset, "get_length") else None
    total = min(subset_size, length) if length is not None else subset_size
    bar = _Bar(total, "items", show_progress, desc="Statistics collection")
    n = 0
    try:
        source = iter(calibration_dataset.get_data())
        transform = getattr(calibration_dataset, "_transform", None)
        if not isinstance(calibration_dataset, Dataset):
            source = iter(calibration_dataset.get_inference_data())
            transform = None
        for i, item in enumerate(itertools.islice(source, subset_size)):
            if transform is not None:
                try:
                    item = transform(item)
                except Exception as e:  # noqa: BLE001  (the user's function: say which item)
                    raise ValueError(f"calibration item {i}: transform_fn raised {type(e).__name__}: {e}") from e
            arrays = _check_item(item, i, ports)
            try:
                out = stats(arrays)
            except (ValueError, TypeError) as e:
                raise type(e)(f"calibration item {i}: {e}") from None
            q.accumulate(list(out))
            n += 1
            bar.update_to(n)
    finally:
        bar.close()
    if n == 0:
        raise ValueError("the calibration dataset is empty: quantization needs at least one item")
    result = q.finish()
    result.name = model.name
    for note in q.notes:
        warnings.warn(f"kiln.quantize: {note}", RuntimeWarning, stacklevel=2)
    return result
