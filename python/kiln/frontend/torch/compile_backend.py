"""torch.compile(model, backend="kiln"): the parts of TorchDynamo's graphs that kiln can run, in kiln.

    import torch, kiln
    fast = torch.compile(model.eval(), backend="kiln", options={"threads": 2})
    with torch.no_grad():
        y = fast(x)

What happens to one graph that dynamo captures (a torch-level FX GraphModule and its example inputs):

1. **Op level.** The graph goes through aot_autograd (`aot_module_simplified`), which turns it into
   a functional ATen graph (no aliasing, no in-place ops on intermediates), binds parameters and
   buffers as graph inputs, and handles what the FX graph alone cannot say: input mutations,
   outputs that alias inputs, symbolic sizes from dynamo's own shape environment. It traces inside
   the same override `ExportedProgram.run_decompositions({})` uses, so the composite ops kiln fuses
   (`linear`, `conv2d`, `layer_norm`, `scaled_dot_product_attention`, `gelu`, `matmul`...) stay
   whole, exactly the op level fx_decoder reads (see its docstring). Why not the alternatives:
   `torch.export` of dynamo's GraphModule traces the graph a second time, needs dynamo's symbolic
   sizes re-expressed as export `Dim`s (and fails where dynamo's guards relate them), and treats
   the lifted parameters as user inputs anyway; plain `make_fx` is below autograd, where
   `linear` is already `t` + `addmm` and `layer_norm` is `native_layer_norm`. aot_autograd is what
   every dynamo backend builds on, so shapes, guards and mutations are torch's own.
   (A torch without the override keeps aot_autograd's default level; kiln then runs what it has
   translators for, and torch the rest.)
2. **Weights.** Parameters and buffers reach the forward graph as inputs that aot_autograd marks
   static (`fw_metadata.static_input_indices`); get_attr nodes hold lifted constants. Both become
   kiln constants that share the tensors' memory (no copy), so that kiln folds and pre-packs them.
   kiln thereby freezes them: each call checks that the same tensors come with the same version
   counter, and a weight replaced or changed in place (an optimizer step, `load_state_dict`)
   makes that partition convert again at the next call, so a result is never stale.
3. **Partitions.** A node goes to kiln when kiln's op table has a translator for its kind, it is
   functional and not random (torch's RNG stream cannot be reproduced), and its tensors are CPU
   tensors of f32, f64 or an integer/bool type (f16/bf16 tensors stay in torch: kiln runs them
   through reference kernels only). `CapabilityBasedPartitioner` groups these nodes into the
   largest acyclic partitions; each becomes one kiln model, compiled once with
   `kiln.Core().compile_model` and called from the FX graph; torch runs everything else. A
   partition kiln fails to convert or compile falls back to torch with one warning naming the op
   and the reason: when kiln's error names an aten op, the graph is partitioned again without
   that op kind (so the rest still runs in kiln), otherwise the whole partition runs in torch.
   An error of kiln at run time also puts that partition back on torch (with a warning).
4. **Small partitions stay in torch.** A call into kiln costs about 7-15 us more than torch
   running the same op (inputs made contiguous and wrapped, outputs wrapped as torch tensors;
   measured with 2 threads: one add on 64x768 floats, torch 15 us, kiln 22 us; `(x + y) * 2 - 1`,
   torch 26 us, kiln 40 us; but four ops with a tanh among them, torch 104 us, kiln 46 us, as
   kiln fuses element-wise chains), and a view or reshape is free in torch but a copy at kiln's
   boundary. So: views at a partition's output edge are left to torch, and a partition runs in
   kiln only if it holds at least one heavy op (convolution, matmul/linear, attention, a norm, a
   pool, softmax, embedding, resampling) or at least `MIN_LIGHT_OPS` (4) other ops that compute.
5. **Shapes** follow torch's conventions. Without dynamic sizes (`dynamic=False`, or the first
   graph of the default automatic mode) kiln gets static shapes and plans once; a new input
   shape makes dynamo recompile, and kiln converts the new graph. With `dynamic=True`, or when
   automatic dynamic marks a size dynamic, the graph's sizes are SymInts: they become dynamic kiln
   dimensions (with dynamo's bounds), and kiln's compiled model re-plans per new shape (plan cache).
   A SymInt placeholder of the graph is read from the size of a tensor input carrying the same
   symbol (so kiln can plan from shapes), else it is a 0-d int64 input.
6. **Autograd.** kiln runs inference only. Under grad mode with an input or parameter that
   requires grad, the graph runs in torch (eager) and one warning says to call the model under
   `torch.no_grad()` or `torch.inference_mode()`.

`reports()` lists what each compiled graph put where (kiln partitions, op kinds left to torch and
why); `clear_reports()` empties it. Logging: logger "kiln.torch_compile".
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import importlib.abc
import importlib.metadata
import logging
import operator
import re
import sys
import threading
import time
import warnings
import weakref

import numpy as np
import torch

from kiln.frontend.torch.decoder import _convert_const
from kiln.frontend.torch.fx_decoder import _SYM_OPS, FxWalker, dimension_of, schema_args

log = logging.getLogger("kiln.torch_compile")

BACKEND_NAME = "kiln"
ENTRY_POINT = "kiln.frontend.torch.compile_backend:kiln_backend"

# options= of torch.compile -> kiln compile config keys (kiln's own keys are accepted as they are).
OPTIONS = {
    "threads": "INFERENCE_NUM_THREADS",
    "num_threads": "INFERENCE_NUM_THREADS",
    "precision": "INFERENCE_PRECISION_HINT",
    "plan_cache_size": "PLAN_CACHE_SIZE",
    "perf_count": "PERF_COUNT",
}
CONFIG_KEYS = ("INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT", "PLAN_CACHE_SIZE", "PERF_COUNT")

# The partition rule of point 4 of the module docstring.
MIN_LIGHT_OPS = 4
_HEAVY = re.compile(r"conv|linear|matmul|^aten::(mm|bmm|addmm|baddbmm|addbmm|einsum)$|attention|norm|pool|"
                    r"softmax|embedding|upsample|interpolate|grid_sampler|lstm|gru|rnn")

# dtypes of the tensors a node may touch to run in kiln (f16/bf16: see point 3).
_DTYPES = {torch.float32, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool}
# Ops without alias information that still only reinterpret their input.
_VIEW_KINDS = {"aten::_unsafe_view", "aten::sym_size", "aten::sym_numel", "aten::sym_stride",
               "aten::sym_storage_offset"}
_NO_TRANSLATOR = "kiln has no translator for it yet"
_MAX_ROUNDS = 4  # partitionings tried when kiln's errors name op kinds to leave to torch


class KilnFallbackWarning(UserWarning):
    """Part of a torch.compile(backend="kiln") graph runs in torch instead of kiln."""


# ---------------------------------------------------------------------------------------------
# Options

def compile_config(options) -> dict:
    """torch.compile's options= -> kiln's compile config; unknown keys and bad values raise ValueError."""
    from kiln.runtime import _flag, _precision
    config = {}
    for key, value in dict(options or {}).items():
        name = OPTIONS.get(key, key if key in CONFIG_KEYS else None)
        if name is None:
            raise ValueError(f"torch.compile(backend='kiln'): unknown option {key!r}; kiln takes "
                             f"{', '.join(sorted(OPTIONS))} (or its config keys {', '.join(CONFIG_KEYS)})")
        if name == "INFERENCE_NUM_THREADS":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"torch.compile(backend='kiln'): option {key!r} must be an int >= 0 (0: all cores), "
                                 f"got {value!r}")
            value = int(value)
        elif name == "PLAN_CACHE_SIZE":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"torch.compile(backend='kiln'): option {key!r} must be an int >= 1, got {value!r}")
            value = int(value)
        elif name == "INFERENCE_PRECISION_HINT":
            _precision(value)
        elif name == "PERF_COUNT":
            value = _flag(name, value)
        config[name] = value
    return config


# ---------------------------------------------------------------------------------------------
# Reports and warnings

@dataclasses.dataclass
class PartitionReport:
    name: str
    ops: dict          # op kind -> count, of the nodes kiln runs
    inputs: list       # kiln input shapes ('[1,3,64,64]', '[2,?]'): the values crossing in at run time
    outputs: int       # (weights are constants of the kiln model, not inputs)


@dataclasses.dataclass
class GraphReport:
    """Where the nodes of one graph (one dynamo frame's forward, after aot_autograd) run."""
    name: str
    nodes: int                                   # call_function nodes of the ATen graph
    kiln: list = dataclasses.field(default_factory=list)    # PartitionReport per partition in kiln
    torch: dict = dataclasses.field(default_factory=dict)   # op kind -> why torch runs it
    built: bool = False                          # partitions are made at the graph's first call
    seconds: float = 0.0                         # time of that partitioning and conversion

    @property
    def kiln_partitions(self) -> int:
        return len(self.kiln)

    @property
    def kiln_ops(self) -> int:
        return sum(sum(p.ops.values()) for p in self.kiln)


_reports: list = []
_warned: set = set()
_lock = threading.Lock()


def reports() -> list:
    """GraphReport of every graph compiled with backend='kiln' since the last clear_reports()."""
    with _lock:
        return list(_reports)


def clear_reports() -> None:
    with _lock:
        _reports.clear()


def _warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, KilnFallbackWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# The backend

def kiln_backend(gm: torch.fx.GraphModule, example_inputs, options=None, mode=None):
    """The TorchDynamo backend: torch.compile(model, backend="kiln", options={...})."""
    if mode is not None:
        raise ValueError(f"torch.compile(backend='kiln') has no modes (got mode={mode!r}); use options=, e.g. "
                         "options={'threads': 2}")
    config = compile_config(options)
    from torch._functorch.aot_autograd import aot_module_simplified

    compile_id = str(torch._guards.CompileContext.current_compile_id() or len(_reports))
    if torch.is_grad_enabled() and any(isinstance(x, torch.Tensor) and x.requires_grad for x in example_inputs):
        _warn_once("torch.compile(backend='kiln'): kiln runs inference only, and this graph needs autograd (grad "
                   "mode is on and an input or parameter requires grad), so torch runs it (eager). Call the model "
                   "under torch.no_grad() or torch.inference_mode() to run it in kiln.")
        report = GraphReport(compile_id, _count_calls(gm), torch={"(whole graph)": "autograd is needed"}, built=True)
        with _lock:
            _reports.append(report)
        return gm.forward

    def forward_compiler(fw_gm, fake_inputs):
        return _forward_compiler(fw_gm, fake_inputs, config, compile_id)

    with _composite_ops_kept() as decompositions:
        return aot_module_simplified(gm, example_inputs, fw_compiler=forward_compiler, decompositions=decompositions,
                                     keep_inference_input_mutations=True)


@functools.cache
def _preserved_composites():
    from torch.export.exported_program import _split_decomp_table_to_cia_and_python_decomp
    return _split_decomp_table_to_cia_and_python_decomp({})


@contextlib.contextmanager
def _composite_ops_kept():
    """While aot_autograd traces: composite-implicit ops kept whole, as in run_decompositions({})."""
    try:
        from torch.export.exported_program import _override_composite_implicit_decomp
        cia, python_table = _preserved_composites()
    except (ImportError, AttributeError):  # another torch: aot_autograd's own op level
        yield {}
        return
    with _override_composite_implicit_decomp(cia):
        yield dict(python_table)


def _count_calls(gm) -> int:
    return sum(1 for n in gm.graph.nodes if n.op == "call_function")


def _forward_compiler(fw_gm, fake_inputs, config, compile_id):
    tc = torch._guards.TracingContext.try_get()
    meta = getattr(tc, "fw_metadata", None) if tc is not None else None
    static = set(getattr(meta, "static_input_indices", None) or ())
    infos = getattr(meta, "input_info", None) or []
    static -= {i for i, info in enumerate(infos) if getattr(info, "mutates_data", False) or
               getattr(info, "mutates_metadata", False)}
    fake_mode = torch._guards.detect_fake_mode(fake_inputs)
    shape_env = getattr(fake_mode, "shape_env", None)
    ranges = dict(shape_env.var_to_range) if shape_env is not None else {}
    _rewrite(fw_gm)
    report = GraphReport(compile_id, _count_calls(fw_gm))
    with _lock:
        _reports.append(report)
    return _KilnGraph(fw_gm, static, ranges, config, report)


def _rewrite(gm):
    """Local rewrites before partitioning, each the same values for kiln and for torch:
    `_unsafe_view` (a view without alias tracking, made by aot_autograd's own decompositions) is
    `reshape`; the functional `fill.Scalar(x, v)` that functionalization makes of `x[...] = v`
    (Swin's attention masks) is `full_like(x, v)`."""
    aten = torch.ops.aten
    changed = False
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.target is aten._unsafe_view.default:
            n.target = aten.reshape.default
            changed = True
        elif n.target is aten.fill.Scalar and not n.kwargs:
            n.target = aten.full_like.default
            changed = True
    if changed:
        gm.recompile()


class _KilnGraph:
    """The compiled forward: partitioned and converted at its first call (when the weights are real
    tensors, not the fake ones of tracing), then the partitioned FX graph itself."""

    def __init__(self, fw_gm, static, ranges, config, report):
        self.fw_gm = fw_gm
        self.static = static
        self.ranges = ranges
        self.config = config
        self.report = report
        self.run = None
        self.lock = threading.Lock()

    def __call__(self, *args):
        run = self.run
        if run is None:
            with self.lock:
                if self.run is None:
                    t0 = time.perf_counter()
                    try:
                        self.run = self._build(args)
                    except Exception as e:  # noqa: BLE001 - a fault of the partitioning: torch runs the graph
                        log.exception("graph %s: partitioning failed", self.report.name)
                        _warn_once(f"torch.compile(backend='kiln'): graph {self.report.name} runs in torch: "
                                   f"partitioning it failed: {type(e).__name__}: {e}")
                        self.report.torch = {"(whole graph)": f"partitioning failed: {type(e).__name__}: {e}"}
                        self.run = self.fw_gm.forward
                    self.report.seconds = time.perf_counter() - t0
                    self.report.built = True
                run = self.run
        return run(*args)

    def _build(self, args):
        excluded: dict = {}    # op kind -> why kiln does not take it in this graph
        converted: dict = {}   # partition key -> _KilnPartition (converted or failed)
        for rnd in range(_MAX_ROUNDS):
            gm = _copy_module(self.fw_gm)
            nodes = list(gm.graph.nodes)
            placeholders = [n for n in nodes if n.op == "placeholder"]
            frozen = {ph: args[i] for i, ph in enumerate(placeholders)
                      if i in self.static and isinstance(args[i], torch.Tensor)}
            for n in nodes:
                if n.op == "get_attr":
                    v = _get_attr(gm, n.target)
                    if isinstance(v, torch.Tensor):
                        frozen[n] = v
            support = _Support(excluded)
            groups, why_torch = _propose(gm, support)
            retry = False
            plans = []
            for k, group in enumerate(groups):
                part, key = self._partition(gm, group, frozen, converted, k)
                if part.error is not None and part.error_kind and part.error_kind not in excluded \
                        and rnd < _MAX_ROUNDS - 1:
                    excluded[part.error_kind] = f"kiln failed to convert it: {part.error}"
                    retry = True
                plans.append(group)
            if retry:
                continue
            self._finish(gm, plans, frozen, converted, why_torch, excluded)
            return gm.forward
        raise AssertionError("unreachable")

    def _partition(self, gm, group, frozen, converted, k):
        from torch.fx.passes.utils.fuser_utils import fuse_as_graphmodule, topo_sort
        sub, ins, _ = fuse_as_graphmodule(gm, topo_sort(list(group)), f"kiln_{k}", dict.fromkeys(group),
                                          always_return_tuple=True)
        key = (tuple(n.name for n in sub.graph.nodes if n.op != "placeholder"),
               tuple(i.name if i in frozen else _signature(i) for i in ins))
        part = converted.get(key)
        if part is None:
            const_pos = {i: frozen[n] for i, n in enumerate(ins) if n in frozen}
            part = _KilnPartition(f"{self.report.name}:kiln_{len(converted)}", sub, const_pos, self.ranges,
                                  self.config)
            part.convert()
            converted[key] = part
        return part, key

    def _finish(self, gm, groups, frozen, converted, why_torch, excluded):
        from torch.fx.passes.utils.fuser_utils import erase_nodes, fuse_as_graphmodule, topo_sort
        report = self.report
        in_kiln = set()
        for k, group in enumerate(groups):
            nodes = topo_sort(list(group))
            sub, ins, outs = fuse_as_graphmodule(gm, nodes, f"kiln_{k}", dict.fromkeys(group), always_return_tuple=True)
            key = (tuple(n.name for n in sub.graph.nodes if n.op != "placeholder"),
                   tuple(i.name if i in frozen else _signature(i) for i in ins))
            part = converted.get(key)
            if part is None:  # not seen in the last round's form (inputs renamed by an earlier fusion)
                const_pos = {i: frozen[n] for i, n in enumerate(ins) if n in frozen}
                part = _KilnPartition(f"{report.name}:kiln_{len(converted)}", sub, const_pos, self.ranges, self.config)
                part.convert()
                converted[key] = part
            if part.error is not None:
                for n in group:
                    why_torch.setdefault(_kind(n), f"its partition failed in kiln: {part.error}")
                _warn_once(f"torch.compile(backend='kiln'): a partition of {len(group)} ops "
                           f"({_summary(group)}) runs in torch: {part.error}")
                continue
            name = f"kiln_{k}"
            _insert(gm, name, part, ins, outs, nodes[-1])
            erase_nodes(gm, nodes)
            in_kiln.update(n.name for n in group)
            report.kiln.append(PartitionReport(part.name, _ops(group), part.input_shapes(), len(outs)))
        torch.fx.passes.tools_common.stable_topological_sort(gm)
        gm.graph.lint()
        gm.recompile()
        for kind, why in excluded.items():
            why_torch[kind] = why
        report.torch = {k: v for k, v in sorted(why_torch.items())}
        for kind, why in excluded.items():
            _warn_once(f"torch.compile(backend='kiln'): {kind} runs in torch: {why}")
        for kind, why in why_torch.items():
            if why == _NO_TRANSLATOR:
                _warn_once(f"torch.compile(backend='kiln'): {kind} runs in torch: {why}")
        log.info("graph %s: %d of %d ATen nodes in %d kiln partition(s); torch runs %s", report.name,
                 len(in_kiln), report.nodes, len(report.kiln), report.torch or "nothing")


def _copy_module(gm):
    """A GraphModule with a copy of gm's graph (nodes and their meta), sharing gm's attributes."""
    graph = torch.fx.Graph()
    env: dict = {}
    out = graph.graph_copy(gm.graph, env)
    graph.output(out)
    return torch.fx.GraphModule(gm, graph)


def _get_attr(gm, target):
    v = gm
    for part in target.split("."):
        v = getattr(v, part)
    return v


def _signature(n) -> str:
    v = n.meta.get("val")
    if isinstance(v, torch.Tensor):
        return f"{v.dtype}{tuple(v.shape)}"
    return type(v).__name__


def _insert(gm, name, module, ins, outs, last):
    """gm.name(*ins) after `last`, its tuple's items replacing `outs`."""
    gm.add_submodule(name, module)
    with gm.graph.inserting_after(last):
        call = gm.graph.call_module(name, args=tuple(ins))
    with gm.graph.inserting_after(call):
        for i, o in enumerate(outs):
            item = gm.graph.call_function(operator.getitem, (call, i))
            item.meta = dict(o.meta)
            o.replace_all_uses_with(item)
    call.meta["val"] = tuple(o.meta.get("val") for o in outs)


# ---------------------------------------------------------------------------------------------
# Which nodes kiln takes

def _kind(n) -> str:
    t = n.target
    if isinstance(t, torch._ops.OpOverload):
        return t._schema.name
    if t is operator.getitem:
        return "getitem"
    if t in _SYM_OPS:
        return f"sym::{getattr(t, '__name__', t)}"
    return f"python::{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', t)}"


def _is_view(n) -> bool:
    t = n.target
    if t is operator.getitem or t in _SYM_OPS:
        return True
    if not isinstance(t, torch._ops.OpOverload):
        return False
    s = t._schema
    if s.name in _VIEW_KINDS:
        return True
    return not s.is_mutable and any(r.alias_info is not None for r in s.returns)


def _randomness_off(node, op) -> bool:
    """Whether a random op is deterministic as called: train=False, or a dropout probability of 0
    (scaled_dot_product_attention without dropout)."""
    values = {a.name: v for a, v in zip(op._schema.arguments, schema_args(node, op._schema))
              if a.name in ("dropout_p", "p", "train", "training")}
    if any(v is False for k, v in values.items() if k in ("train", "training")):
        return True
    return any(isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0
               for k, v in values.items() if k in ("dropout_p", "p"))


def _tensors(v):
    if isinstance(v, torch.Tensor):
        yield v
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _tensors(x)


class _Support:
    """OperatorSupport for CapabilityBasedPartitioner; `why` keeps the reason of each refusal."""

    def __init__(self, excluded):
        self.excluded = excluded
        self.why: dict = {}   # op kind -> reason
        self.cache: dict = {}

    def is_node_supported(self, submodules, node) -> bool:
        ok = self.cache.get(node)
        if ok is None:
            if node.op != "call_function":
                return False
            reason = self._reason(node)
            ok = reason is None
            if not ok:
                self.why.setdefault(_kind(node), reason)
            self.cache[node] = ok
        return ok

    def _reason(self, node):
        from kiln._kiln import _has_torch_translator
        t = node.target
        if t is operator.getitem:
            src = node.args[0]
            return None if isinstance(src, torch.fx.Node) and self.is_node_supported(None, src) else "its tuple is in torch"
        if t in _SYM_OPS or getattr(t, "__name__", "") == "sym_sum":
            return None
        if not isinstance(t, torch._ops.OpOverload):
            return "not an ATen op"
        kind = t._schema.name
        if kind in self.excluded:
            return self.excluded[kind]
        if t._schema.is_mutable:
            return "it changes its input in place"
        if torch.Tag.nondeterministic_seeded in t.tags and not _randomness_off(node, t):
            return "a random op: torch's random stream stays torch's"
        if not _has_torch_translator(kind):
            return _NO_TRANSLATOR
        if "val" not in node.meta:
            return "no shape information"
        for v in [node.meta.get("val")] + [a.meta.get("val") for a in node.all_input_nodes]:
            for x in _tensors(v):
                if x.device.type != "cpu":
                    return f"a tensor on {x.device}"
                if x.layout != torch.strided or x.is_quantized:
                    return f"a {x.layout} tensor"
                if x.dtype not in _DTYPES:
                    return f"a {x.dtype} tensor"
        return None


def _propose(gm, support):
    """Node groups kiln runs: the partitioner's, less output-edge views, less the small ones."""
    from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
    partitioner = CapabilityBasedPartitioner(gm, support, allows_single_node_partition=True)
    why = dict(support.why)
    groups = []
    for p in partitioner.propose_partitions():
        nodes = dict(p.nodes)
        _trim_output_views(nodes)
        heavy = sum(1 for n in nodes if _HEAVY.search(_kind(n)) and not _is_view(n))
        light = sum(1 for n in nodes if not _is_view(n)) - heavy
        if not nodes:
            continue
        if heavy == 0 and light < MIN_LIGHT_OPS:
            for n in nodes:
                if not _is_view(n):
                    why.setdefault(_kind(n), f"in a partition too small for kiln ({light} op(s), no heavy op)")
            continue
        groups.append(nodes)
    why.update(support.why)
    return groups, why


def _trim_output_views(nodes: dict):
    """Views whose every user is outside the group are free in torch and a copy in kiln: drop them."""
    changed = True
    while changed:
        changed = False
        for n in list(nodes):
            if _is_view(n) and n.target is not operator.getitem and all(u not in nodes for u in n.users):
                del nodes[n]
                changed = True


def _ops(group) -> dict:
    counts: dict = {}
    for n in group:
        if n.target is operator.getitem:
            continue
        k = _kind(n)
        counts[k] = counts.get(k, 0) + 1
    return counts


def _summary(group) -> str:
    counts = _ops(group)
    return ", ".join(f"{k} x{c}" if c > 1 else k for k, c in sorted(counts.items(), key=lambda kv: -kv[1])[:8]) + \
        (", ..." if len(counts) > 8 else "")


# ---------------------------------------------------------------------------------------------
# One partition in kiln

_live = weakref.WeakSet()  # every _KilnPartition alive
_KIND_RE = re.compile(r"^((?:aten|prims?|quantized|torchvision)::[A-Za-z0-9_]+)")


class _KilnPartition(torch.nn.Module):
    """One partition: a kiln compiled model, called from the FX graph with the partition's inputs.
    Its ATen subgraph stays beside it (`graph`), for the fallback to torch."""

    def __init__(self, name, sub_gm, const_pos: dict, ranges, config):
        super().__init__()
        self.name = name
        self.graph_module = sub_gm
        self.const_pos = const_pos           # input position -> the tensor frozen into kiln
        self.versions = {}
        self.ranges = ranges
        self.config = config
        self.compiled = None
        self.runtime: list = []              # input positions kiln takes at run time, in its input order
        self.scalars: dict = {}              # runtime position -> numpy dtype of a 0-d scalar input
        self.outs: list = []                 # per output: torch dtype, or int/float/bool
        self.error = None
        self.error_kind = None
        self.local = threading.local()
        self.checked = False
        self.dropped = False
        self.lock = threading.Lock()
        _live.add(self)

    # -- conversion
    def convert(self):
        from kiln._kiln import _translate_torch_graph
        from kiln.runtime import Core
        self.error = self.error_kind = None
        # kiln's compiler shares pre-packed weights between live compiled models by the weights'
        # address (onednn packed_weights), so every model made from a weight changed in place since
        # must be gone before converting, or the new model would get the old packing.
        for p in list(_live):
            if p is not self and p.compiled is not None and p._stale():
                p._drop()
        self.versions = {i: _version(t) for i, t in self.const_pos.items()}
        self._consts = tuple(self.const_pos.values())
        self._versions = tuple(self.versions.values())
        self._pick = operator.itemgetter(*self.const_pos) if self.const_pos else None
        try:
            desc = self._describe()
            model = _translate_torch_graph(desc)
            compiled = Core().compile_model(model, "CPU", self.config)
            if len(compiled.outputs) != len(self.outs):
                raise ValueError(f"kiln's model has {len(compiled.outputs)} outputs, the partition {len(self.outs)} "
                                 "(a list crossing the partition's edge)")
        except Exception as e:  # noqa: BLE001 - any failure of kiln here means: torch runs this partition
            text = str(e).strip()
            m = _KIND_RE.match(text)
            self.error_kind = m.group(1) if m and m.group(1).startswith("aten::") else None
            first = text.splitlines()[0] if text else type(e).__name__
            where = [ln.strip() for ln in text.splitlines()[1:] if ln.strip().startswith("at ")][:1]
            self.error = f"{type(e).__name__}: {first}" + (f" ({where[0]})" if where else "")
            self.compiled = None
            log.info("%s: kiln failed: %s", self.name, text)
            return
        self.compiled = compiled
        self.local = threading.local()
        self.checked = False

    def _describe(self):
        from kiln._kiln import PartialShape, Type
        from kiln.dtypes import to_kiln_type
        w = FxWalker()
        phs = [n for n in self.graph_module.graph.nodes if n.op == "placeholder"]
        inputs, runtime, scalars = [], [], {}
        sized = []  # (sympy expr, value id, dim) of the dynamic sizes of tensor inputs
        deferred = []
        for i, ph in enumerate(phs):
            if i in self.const_pos:
                w.ids[ph] = w.const(_convert_const(self.const_pos[i]))
                continue
            val = ph.meta.get("val")
            if isinstance(val, torch.Tensor):
                vid = w.new_id()
                w.ids[ph] = vid
                dims = [dimension_of(d, self.ranges) for d in val.shape]
                inputs.append((vid, ph.name, to_kiln_type(val.dtype), PartialShape(dims)))
                runtime.append(i)
                for d, s in enumerate(val.shape):
                    if isinstance(s, torch.SymInt) and not s.node.expr.is_number:
                        sized.append((s.node.expr, vid, d))
            else:
                deferred.append((i, ph, val))
        for i, ph, val in deferred:
            if isinstance(val, (bool, int, float)) and not isinstance(val, torch.SymInt):
                w.ids[ph] = w.const(val)  # a size dynamo made static
                continue
            if isinstance(val, torch.SymInt) and val.node.expr.is_number:
                w.ids[ph] = w.const(int(val.node.expr))  # a symbol the guards pin to one value
                continue
            if isinstance(val, torch.SymInt):
                expr = val.node.expr
                src = next(((vid, d) for e, vid, d in sized if e == expr), None)
                if src is not None:
                    out = w.new_id()
                    w.nodes.append(("aten::size", [src[0], w.const(src[1])], [out], ["int"], ph.name, "", [], []))
                    w.ids[ph] = out
                    continue
                kt, nt = Type.i64, np.int64
            elif isinstance(val, torch.SymFloat):
                kt, nt = Type.f64, np.float64
            elif isinstance(val, torch.SymBool):
                kt, nt = Type.boolean, np.bool_
            else:
                raise ValueError(f"input '{ph.name}' of a partition is a {type(val).__name__}")
            vid = w.new_id()
            w.ids[ph] = vid
            inputs.append((vid, ph.name, kt, PartialShape([])))
            runtime.append(i)
            scalars[i] = nt
        outputs = w.walk(self.graph_module)
        out_node = next(n for n in self.graph_module.graph.nodes if n.op == "output")
        results = list(out_node.args[0])
        outs = []
        for r in results:
            v = r.meta.get("val") if isinstance(r, torch.fx.Node) else r
            if isinstance(v, torch.Tensor):
                outs.append(v.dtype)
            elif isinstance(v, (torch.SymBool, bool)):
                outs.append(bool)
            elif isinstance(v, (torch.SymInt, int)):
                outs.append(int)
            elif isinstance(v, (torch.SymFloat, float)):
                outs.append(float)
            else:
                raise ValueError(f"output '{getattr(r, 'name', r)}' of a partition is a {type(v).__name__}")
        self.runtime, self.scalars, self.outs = runtime, scalars, outs
        names = [r.name if isinstance(r, torch.fx.Node) else f"output{k}" for k, r in enumerate(results)]
        return (self.name, inputs, ([], w.nodes, outputs), names, w.constants)

    # -- running
    def forward(self, *args):
        if self.compiled is None:
            if self.dropped:
                return self._refreeze(args)
            return self.graph_module(*args)
        if not self._frozen_unchanged(args):
            return self._refreeze(args)
        compiled = self.compiled
        req = getattr(self.local, "req", None)
        if req is None:
            req = self.local.req = compiled._cm.create_infer_request()
        arrays = []
        for i in self.runtime:
            a = args[i]
            nt = self.scalars.get(i)
            if nt is not None:
                arrays.append(np.asarray(a, dtype=nt))
            else:
                arrays.append(a.detach().contiguous() if a.requires_grad else a.contiguous())
        try:
            results = req.infer_arrays(arrays)
            return self._wrap(results)
        except Exception as e:  # noqa: BLE001 - kiln failed at run time: torch runs this partition from now on
            _warn_once(f"torch.compile(backend='kiln'): partition {self.name} failed in kiln at run time and runs in "
                       f"torch from now on: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            self.compiled = None
            return self.graph_module(*args)

    def _wrap(self, results):
        out = []
        for a, want in zip(results, self.outs):
            if isinstance(want, torch.dtype):
                t = torch.from_numpy(a)
                if t.dtype != want:
                    if want in (torch.bfloat16, torch.float16) and t.dtype == torch.float32:
                        t = t.to(want)
                    else:
                        raise TypeError(f"kiln gave a {t.dtype} output where torch gives {want}")
                out.append(t)
            else:
                out.append(want(a.item()))
        if not self.checked:
            self._check_static(out)
            self.checked = True
        return tuple(out)

    def _check_static(self, out):
        out_node = next(n for n in self.graph_module.graph.nodes if n.op == "output")
        for r, t in zip(out_node.args[0], out):
            v = r.meta.get("val")
            if isinstance(v, torch.Tensor) and isinstance(t, torch.Tensor):
                if t.dim() != v.dim() or any(isinstance(s, int) and s != g for s, g in zip(v.shape, t.shape)):
                    raise ValueError(f"kiln gave an output of shape {list(t.shape)} where torch gives "
                                     f"{list(v.shape)} ({r.name})")

    def input_shapes(self) -> list:
        return [str(p.partial_shape) for p in self.compiled.inputs] if self.compiled is not None else []

    def _frozen_unchanged(self, args) -> bool:
        """Whether the frozen inputs are the same tensors at the same versions (about 0.1 us a
        weight: 30 us a call for resnet50's 267)."""
        if not self.const_pos:
            return True
        got = self._pick(args)
        if len(self.const_pos) == 1:
            got = (got,)
        try:
            return all(map(operator.is_, got, self._consts)) and tuple(map(_VERSION, got)) == self._versions
        except RuntimeError:  # an inference tensor among them: no version counter to read
            return all(a is t and _version(a) == self.versions[i] for (i, t), a in zip(self.const_pos.items(), got))

    def _stale(self) -> bool:
        return any(_version(t) != self.versions.get(i) for i, t in self.const_pos.items())

    def _drop(self):
        self.compiled = None
        self.local = threading.local()
        self.dropped = True

    def _refreeze(self, args):
        with self.lock:
            if self.dropped or any(args[i] is not t or _version(args[i]) != self.versions.get(i)
                                   for i, t in self.const_pos.items()):
                log.info("%s: a frozen weight was replaced or changed in place: converting again", self.name)
                self._drop()
                self.const_pos = {i: args[i] for i in self.const_pos}
                self.dropped = False
                self.convert()
                if self.compiled is None:
                    _warn_once(f"torch.compile(backend='kiln'): partition {self.name} runs in torch: {self.error}")
        return self.forward(*args)


@atexit.register
def _release_all():
    """Drops kiln's compiled models at exit: dynamo's caches keep the graphs alive until then."""
    for p in list(_live):
        p.compiled = None
        p.local = threading.local()


_VERSION = operator.attrgetter("_version")


def _version(t):
    try:
        return t._version
    except RuntimeError:  # an inference tensor has no version counter: identity is all there is
        return None


# ---------------------------------------------------------------------------------------------
# Registration under the name "kiln"

class _RegistryHook(importlib.abc.MetaPathFinder):
    """Adds kiln to dynamo's backend registry when torch imports it (so that `import kiln` does
    not import torch._dynamo, about a second)."""

    TARGET = "torch._dynamo.backends.registry"

    def find_spec(self, name, path=None, target=None):
        if name != self.TARGET:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            _add_to(module)

        loader.exec_module = exec_and_register
        return spec


def _add_to(registry) -> None:
    """kiln in dynamo's registry as an entry point, as the installed package's metadata declares
    it (pyproject.toml); lookup_backend loads it on first use, as any entry point."""
    backends = getattr(registry, "_BACKENDS", None)
    fns = getattr(registry, "_COMPILER_FNS", {})
    if backends is None or BACKEND_NAME in fns or backends.get(BACKEND_NAME) is not None:
        return
    backends[BACKEND_NAME] = importlib.metadata.EntryPoint(name=BACKEND_NAME, value=ENTRY_POINT,
                                                           group="torch_dynamo_backends")


def register() -> None:
    """Makes torch.compile(backend="kiln") work in this process (`import kiln` calls it)."""
    registry = sys.modules.get(_RegistryHook.TARGET)
    if registry is not None:
        _add_to(registry)
    elif not any(isinstance(f, _RegistryHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegistryHook())
