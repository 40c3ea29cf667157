"""The FX decoder: a torch.export ExportedProgram into the graph description that the TorchScript
decoder (decoder.py) builds, so that both front ends reach the one translator table.

Which op level kiln reads. `torch.export.export` returns the *training IR*: ATen ops before
decomposition (`linear`, `conv2d`, `batch_norm`, `layer_norm`, `scaled_dot_product_attention`,
`gelu` whole: what kiln's fusion passes look for), with in-place ops (`relu_`, `add_`) left in.
kiln reads that IR as it is when its in-place ops write only values of the graph that are no
view of anything: there, export's tracer already points every later use at the in-place op's
result, so the graph means what its functional twin means and the translators' in-place handling
(shared with TorchScript) is exact. A program whose in-place ops write through a view, into an
input, a parameter or a buffer, or that holds higher-order ops (`wrap_with_set_grad_enabled`...),
or that calls an op kiln has no translator for (its decomposition may have), is first
functionalized by `run_decompositions({})` — the inference IR: functional, with the same
whole ops (an empty decomposition table decomposes only composites with no inference kernel:
`batch_norm` becomes `_native_batch_norm_legit_no_training`, eval-mode `dropout` disappears).
Always decomposing would cost two to five times the export itself (resnet50: export 0.9 s,
run_decompositions 2.1 s) for nothing in the common case. Core ATen (`run_decompositions()` with
the default table) is never chosen by kiln: it splits up exactly what kiln wants to see whole; a
program a user decomposed that far is still read as it is.

The differences between the two graphs live here, not in the translators:
- an op's arguments are ordered by its schema, keyword arguments and defaults included (a
  TorchScript node carries every schema argument positionally; an FX node only those given);
- `aten.add.Tensor` becomes the node kind `aten::add` (TorchScript kinds carry no overload name;
  translators tell overloads apart by their inputs);
- `operator.getitem` of a tuple-returning op is that op's output k (TorchScript's TupleUnpack);
  of a list-returning op (`split`), an `aten::__getitem__` node;
- Python arithmetic on symbolic sizes (`operator.mul`, `torch.sym_max`, ...) becomes the
  TorchScript scalar ops (`aten::mul`, `prim::max`) the shape translators already know;
- lists that hold values of the graph (`[1, -1, sym_size]`) become `prim::ListConstruct` nodes;
- parameters, buffers and lifted constants (placeholders of the graph signature) become tensor
  constants that share the program's memory, as frozen weights do on the TorchScript path;
- assertion-only nodes (`_assert_scalar`, `sym_constrain_range_for_size`, ...) are dropped, and so
  are core ATen's `with_effects`-wrapped linalg error checks (its effect tokens are nothing to
  kiln; another op under `with_effects` is read as its own call);
- `torch.cond` becomes TorchScript's `prim::If` (its branch graphs the two blocks, their
  placeholders bound to the operands) and `while_loop` a `prim::Loop` with no trip limit (the
  condition graph walked before the loop and again at the end of the body block);
- `squeeze(x, dims)` keeps only the dims export saw as size 1: export took every symbolic size to
  be other than 1, which a TorchScript graph's dynamic dim does not promise.
"""
from __future__ import annotations

import math
import operator
import re

import torch

from kiln._kiln import ConversionError, Dimension, PartialShape
from kiln.dtypes import to_kiln_type
from kiln.frontend.torch.decoder import Unsupported, _KILN_DIR, _TORCH_DIR, _convert_const, _type_str
from kiln.frontend.torch.structure import flatten_output

# A frame of a stack trace; its code line is missing where Python has no source (stdin, exec).
_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+), in \S+(?:\n[ \t]*(?!File ")([^ \t\n].*))?')

# Python operators on symbolic ints/floats/bools -> the TorchScript scalar op of the same meaning.
_SYM_OPS = {
    operator.add: "aten::add", operator.sub: "aten::sub", operator.mul: "aten::mul",
    operator.floordiv: "aten::floordiv", operator.truediv: "aten::div", operator.mod: "aten::remainder",
    operator.pow: "aten::pow", operator.neg: "aten::neg", operator.eq: "aten::eq", operator.ne: "aten::ne",
    operator.lt: "aten::lt", operator.le: "aten::le", operator.gt: "aten::gt", operator.ge: "aten::ge",
    operator.and_: "aten::__and__", operator.or_: "aten::__or__", operator.not_: "aten::__not__",
    torch.sym_max: "prim::max", torch.sym_min: "prim::min", torch.sym_float: "aten::Float",
    torch.sym_int: "aten::Int", torch.sym_not: "aten::__not__", math.ceil: "aten::ceil",
    math.floor: "aten::floor", math.trunc: "aten::Int",
}
for _name in ("sym_sqrt", "_sym_sqrt"):
    if hasattr(torch, _name):
        _SYM_OPS[getattr(torch, _name)] = "aten::sqrt"

# Nodes that only check (export's guards on symbolic sizes); they produce nothing kiln computes.
_ASSERTS = {"_assert_scalar", "_assert_async", "sym_constrain_range", "sym_constrain_range_for_size",
            "_assert_tensor_metadata", "_functional_assert_scalar", "_functional_sym_constrain_range",
            "_functional_sym_constrain_range_for_size", "_functional_assert_async"}


def source_of(node) -> str:
    """'file:line: code' of the innermost frame of the node's stack trace outside torch and kiln."""
    trace = node.meta.get("stack_trace") or ""
    frames = _FRAME_RE.findall(trace)
    if not frames:
        return ""
    outside = [f for f in frames if not f[0].startswith((_TORCH_DIR, _KILN_DIR))]
    path, line, code = (outside or frames)[-1]
    code = code.strip()
    return f"{path}:{line}: {code}" if code else f"{path}:{line}"


def _val_type(val) -> str:
    """The TorchScript type name of an FX value's example (node.meta['val'])."""
    if isinstance(val, torch.Tensor):
        return "Tensor"
    if isinstance(val, (bool, torch.SymBool)):
        return "bool"
    if isinstance(val, (int, torch.SymInt)):
        return "int"
    if isinstance(val, (float, torch.SymFloat)):
        return "float"
    if isinstance(val, (list, tuple)) and val and all(isinstance(v, torch.Tensor) for v in val):
        return "Tensor[]"
    return "Any"


def dimension_of(d, ranges) -> Dimension:
    """A size of an FX example (int or SymInt) -> kiln Dimension with the export's bounds."""
    if isinstance(d, int):
        return Dimension(d)
    expr = d.node.expr
    if expr.is_number:
        return Dimension(int(expr))
    vr = ranges.get(expr)
    if vr is None:
        return Dimension()
    # torch's int_oo claims is_finite (it is an integer); float() tells infinities apart
    lo = int(vr.lower) if math.isfinite(float(vr.lower)) else 0
    hi = int(vr.upper) if math.isfinite(float(vr.upper)) else -1
    # A lower bound of 2 is export's 0/1 specialization (it traces dynamic dims as >= 2), and the
    # program torch made takes sizes 0 and 1 too (its input check skips lower bounds <= 2): so does
    # kiln's, which computes each shape at run time.
    if lo <= 2:
        lo = 0
    return Dimension(lo, hi)


def schema_args(n, schema, args=None) -> list:
    """The values of call node n's arguments (or of `args` with n's keywords) in schema order, as a
    TorchScript node carries them: positional, else keyword, else the schema's default (None where
    it has none)."""
    args = n.args if args is None else args
    out = []
    for i, a in enumerate(schema.arguments):
        if not a.kwarg_only and i < len(args):
            out.append(args[i])
        elif a.name in n.kwargs:
            out.append(n.kwargs[a.name])
        else:
            out.append(a.default_value if a.has_default_value() else None)
    return out


def user_tensor_inputs(ep) -> list:
    """(input spec, placeholder) of the program's tensor user inputs, in order: kiln's inputs."""
    from torch.export.graph_signature import InputKind, TensorArgument

    placeholders = [n for n in ep.graph_module.graph.nodes if n.op == "placeholder"]
    return [(spec, ph) for spec, ph in zip(ep.graph_signature.input_specs, placeholders)
            if spec.kind == InputKind.USER_INPUT and isinstance(spec.arg, TensorArgument)]


class FxWalker:
    """Walks one FX graph (placeholders already bound by the caller) into (nodes, constants)."""

    def __init__(self):
        self.ids: dict = {}          # fx.Node -> value id, or list of ids for a multi-output node
        self.constants: dict = {}
        self.nodes: list = []
        self.next_id = 1
        self.graphs: dict = {}       # get_attr fx.Node -> the sub-graph (GraphModule) it names

    def new_id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i

    def const(self, value) -> int:
        i = self.new_id()
        self.constants[i] = value
        return i

    def arg(self, value, type_name="") -> int:
        """An argument of a call: an FX value, a constant, or a list mixing both."""
        if isinstance(value, torch.fx.Node):
            ids = self.ids[value]
            if isinstance(ids, list):
                # the whole tuple of a multi-output node (rare): a TupleConstruct of its outputs
                return self._construct("prim::TupleConstruct", ids, "Any", value)
            return ids
        if isinstance(value, (list, tuple)) and _has_node(value):
            elem = type_name[:-2] if type_name.endswith("[]") else ""
            items = [self.arg(v, elem) for v in value]
            return self._construct("prim::ListConstruct", items, type_name or _list_type(value), None)
        return self.const(_convert_const(value))

    def _construct(self, kind, items, type_name, node) -> int:
        out = self.new_id()
        self.nodes.append((kind, items, [out], [type_name], kind.split("::")[1], source_of(node) if node else "",
                           [], []))
        return out

    def walk(self, gm, keep=None) -> list:
        """Every node of gm's graph after its placeholders (bound in self.ids by the caller);
        returns the ids of the graph's results (those `keep` marks, when given)."""
        outputs = []
        for n in gm.graph.nodes:
            if n.op == "call_function":
                self.call(n)
            elif n.op == "get_attr":
                v = getattr(gm, n.target)
                if isinstance(v, torch.fx.GraphModule):
                    self.graphs[n] = v  # the branch or body of a higher-order op
                    continue
                self.ids[n] = self.const(_convert_const(v) if isinstance(v, torch.Tensor) else
                                         Unsupported(f"the graph attribute '{n.target}' ({type(v).__name__})"))
            elif n.op == "output":
                results = n.args[0] if isinstance(n.args[0], (list, tuple)) else [n.args[0]]
                for i, r in enumerate(results):
                    if (keep is None or (i < len(keep) and keep[i])) and r is not None:
                        outputs.append(self.arg(r))
            elif n.op == "placeholder":
                if n not in self.ids:
                    raise ValueError(f"placeholder '{n.name}' was not bound")
            else:
                raise ValueError(f"kiln reads ATen-level FX graphs; this one has a {n.op} node ({n.target})")
        return outputs

    def call(self, n):
        target = n.target
        if target is operator.getitem:
            return self._getitem(n)
        if isinstance(target, torch._ops.OpOverload):
            name = target._schema.name.split("::", 1)[1]
            if name in _ASSERTS:
                return
            return self._aten(n, target)
        if target in _SYM_OPS:
            ins = [self.arg(a) for a in n.args]
            out = self.new_id()
            self.ids[n] = out
            self.nodes.append((_SYM_OPS[target], ins, [out], [_val_type(n.meta.get("val"))], n.name, source_of(n),
                               [], []))
            return
        if getattr(target, "__name__", "") == "sym_sum":
            self._sym_sum(n)
            return
        if isinstance(target, torch._ops.HigherOrderOperator):
            read = {"with_effects": self._with_effects, "cond": self._cond, "while_loop": self._while_loop}
            if target.name() in read:
                read[target.name()](n)
                return
            kind = f"higher_order::{target.name()}"
        else:
            kind = f"python::{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)}"
        # No translator has this kind: translation lists it as unsupported with its source line.
        out = self.new_id()
        self.ids[n] = out
        self.nodes.append((kind, [], [out], [_val_type(n.meta.get("val"))], n.name, source_of(n), [], []))

    def _with_effects(self, n):
        """with_effects(token, op, *args) -> (token, *op's results): an op with side effects, kept in
        order by an effect token (core ATen wraps linalg's error checks so). The token is nothing to
        kiln; an error check is dropped as the asserts are; another op is read as its own call."""
        op = n.args[1]
        token = self.const(None)
        if not isinstance(op, torch._ops.OpOverload):
            raise ValueError(f"with_effects of {op!r}, which is not an ATen op")
        name = op._schema.name.split("::", 1)[1]
        if name in _ASSERTS or name == "_linalg_check_errors":
            self.ids[n] = [token]
            return
        self._aten(n, op, n.args[2:])
        ids = self.ids[n]
        self.ids[n] = [token] + (ids if isinstance(ids, list) else [ids])

    def inline(self, gm, bound) -> list:
        """Walks sub-graph gm with its placeholders bound to the value ids `bound`, appending its
        nodes to self.nodes; returns the ids of its results."""
        placeholders = [p for p in gm.graph.nodes if p.op == "placeholder"]
        if len(placeholders) != len(bound):
            raise ValueError(f"a sub-graph takes {len(placeholders)} values and is given {len(bound)}")
        for p, i in zip(placeholders, bound):
            self.ids[p] = i
        return self.walk(gm)

    def block(self, gm, inputs, bound, tail=None) -> tuple:
        """(input ids, nodes, output ids) of sub-graph gm as a block of the description, its
        placeholders bound to `bound`; tail(outputs) may walk more into the block (a loop's
        condition) and returns the block's outputs."""
        outer, self.nodes = self.nodes, []
        try:
            outs = self.inline(gm, bound)
            if tail is not None:
                outs = tail(outs)
            return (list(inputs), self.nodes, outs)
        finally:
            self.nodes = outer

    def _results(self, n) -> tuple:
        """Output ids and types of a higher-order op whose value is a tuple of tensors."""
        vals = n.meta.get("val")
        vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
        outs = [self.new_id() for _ in vals]
        self.ids[n] = outs
        return outs, [_val_type(v) for v in vals]

    def _cond(self, n):
        """torch.cond(pred, true_fn, false_fn, operands): TorchScript's prim::If, whose two blocks
        are the branch graphs with their placeholders bound to the operands (a block reads the
        values outside it directly). The If translator decides: a condition known at conversion
        time takes one branch, one on shapes only both joined by Choose, one on data a real If."""
        pred, then_g, else_g, operands = n.args[:4]
        ops = [self.arg(v) for v in operands]
        blocks = [self.block(self.graphs[g], [], ops) for g in (then_g, else_g)]
        p = self.arg(pred)
        outs, types = self._results(n)
        self.nodes.append(("prim::If", [p], outs, types, n.name, source_of(n), blocks, []))

    def _while_loop(self, n):
        """while_loop(cond_fn, body_fn, carried, additional): TorchScript's prim::Loop with no trip
        limit. The first condition is cond_fn on the initial values, walked before the loop; the
        body block is body_fn, then cond_fn on its results (the condition of the next iteration)."""
        cond_g, body_g, carried, extra = n.args[:4]
        cond_gm, body_gm = self.graphs[cond_g], self.graphs[body_g]
        init = [self.arg(v) for v in carried]
        more = [self.arg(v) for v in extra]
        first = self.inline(cond_gm, init + more)
        if len(first) != 1:
            raise ValueError(f"a while_loop condition gives {len(first)} values, not one")
        iteration = self.new_id()
        params = [self.new_id() for _ in init]

        def condition_then(outs):
            if len(outs) != len(init):
                raise ValueError(f"a while_loop body gives {len(outs)} values for {len(init)} carried")
            return self.inline(cond_gm, list(outs) + more) + list(outs)

        body = self.block(body_gm, [iteration] + params, params + more, condition_then)
        outs, types = self._results(n)
        self.nodes.append(("prim::Loop", [self.const(2**63 - 1), first[0]] + init, outs, types, n.name,
                           source_of(n), [body], []))

    def _aten(self, n, op, args=None):
        schema = op._schema
        kind = schema.name  # "aten::add" for aten.add.Tensor and aten.add.Scalar alike
        values = schema_args(n, schema, args)
        if kind == "aten::squeeze" and len(values) > 1:
            values[1] = _squeezed_dims(values[0], values[1])
        ins = [self.arg(v, _type_str(a.type)) for a, v in zip(schema.arguments, values)]
        rets = schema.returns
        if len(rets) == 1:
            ty = _type_str(rets[0].type)
            if ty == "number":
                ty = _val_type(n.meta.get("val"))
            out = self.new_id()
            self.ids[n] = out
            outs, types = [out], [ty]
        else:
            outs = [self.new_id() for _ in rets]
            self.ids[n] = outs
            types = [_type_str(r.type) for r in rets]
        self.nodes.append((kind, ins, outs, types, n.name, source_of(n), [], []))

    def _getitem(self, n):
        src, k = n.args
        ids = self.ids[src]
        if isinstance(ids, list):
            self.ids[n] = ids[k]
            return
        out = self.new_id()
        self.ids[n] = out
        self.nodes.append(("aten::__getitem__", [ids, self.const(int(k))], [out], [_val_type(n.meta.get("val"))],
                           n.name, source_of(n), [], []))

    def _sym_sum(self, n):
        terms = list(n.args[0])
        acc = self.arg(terms[0]) if terms else self.const(0)
        ty = _val_type(n.meta.get("val"))
        for t in terms[1:]:
            out = self.new_id()
            self.nodes.append(("aten::add", [acc, self.arg(t)], [out], [ty], n.name, source_of(n), [], []))
            acc = out
        self.ids[n] = acc


def _squeezed_dims(x, dims):
    """The dims of squeeze(x, dims) that torch squeezes: those of size 1. torch.export took every
    symbolic size to be other than 1 (a dim it saw as 1 it specialized), so a symbolic dim stays;
    kiln's translator, which also serves TorchScript graphs (where a dynamic dim may be 1 at run
    time), cannot tell that from the shape alone."""
    val = x.meta.get("val") if isinstance(x, torch.fx.Node) else None
    if val is None or not hasattr(val, "shape"):
        return dims
    rank = len(val.shape)
    one = isinstance(dims, int)
    kept = [d for d in ([dims] if one else dims)
            if -rank <= d < max(rank, 1) and (rank == 0 or (isinstance(val.shape[d], int) and val.shape[d] == 1))]
    return kept[0] if one and kept else kept


def _has_node(v) -> bool:
    if isinstance(v, torch.fx.Node):
        return True
    return isinstance(v, (list, tuple)) and any(_has_node(x) for x in v)


def _list_type(items) -> str:
    vals = [x.meta.get("val") if isinstance(x, torch.fx.Node) else x for x in items]
    kinds = {_val_type(v) for v in vals if v is not None}
    if kinds == {"Tensor"}:
        return "Tensor[]" if None not in vals else "Optional[Tensor][]"
    if kinds <= {"int"}:
        return "int[]"
    return "Any[]"


def _is_inference_ir(ep) -> bool:
    """True when run_decompositions({}) would give back the program's own graph: it returns only user
    outputs (no input or buffer mutation), calls only OpOverloads, getitem and symbolic-size
    arithmetic, none of them mutating, and no composite op that export decomposes (the composites
    it keeps whole -- linear, layer_norm, softmax, sdpa -- are kept whole by both). Such a training
    IR is its inference IR up to the ops torch rewrites only while re-tracing (hardshrink becomes
    abs/le/where, unused tensors are dropped), which are ATen ops too: the same translators read
    both forms."""
    try:
        from torch._export.utils import _is_preservable_cia_op
        from torch.export.graph_signature import OutputKind
    except ImportError:  # a torch without these: always decompose
        return False
    if any(spec.kind != OutputKind.USER_OUTPUT for spec in ep.graph_signature.output_specs):
        return False
    for n in ep.graph.nodes:
        if n.op == "get_attr":
            return False  # sub-graphs of higher-order ops
        if n.op != "call_function" or n.target is operator.getitem or n.target in _SYM_OPS:
            continue
        op = n.target
        if not isinstance(op, torch._ops.OpOverload) or op._schema.is_mutable:
            return False
        if torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd") and \
                not _is_preservable_cia_op(op):
            return False
    return True


def inference_program(ep):
    """The program kiln reads (see the module docstring): `ep` itself when it is already the
    inference IR (dialect ATEN, or nothing to functionalize or decompose: _is_inference_ir), or
    when its in-place ops are safe to read as they are and kiln has a translator for every op it
    calls; else its functional inference IR, run_decompositions({})."""
    if getattr(ep, "dialect", None) == "ATEN" or _is_inference_ir(ep) or (readable_as_is(ep) and _all_translated(ep)):
        return ep
    try:
        return ep.run_decompositions({})
    except Exception as e:  # noqa: BLE001 - torch's own decomposition failing is the user's conversion error
        from kiln.frontend.torch.capture import _short
        raise ConversionError(f"torch.export's run_decompositions({{}}) failed on this program: "
                              f"{type(e).__name__}: {_short(e, 600)}") from None


def _all_translated(ep) -> bool:
    """Every ATen op of the graph has a translator (else its decomposition may have)."""
    from kiln._kiln import _has_torch_translator
    return all(_has_torch_translator(n.target._schema.name) for n in ep.graph.nodes
               if n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)
               and n.target._schema.name.split("::", 1)[1] not in _ASSERTS)


_EVAL_DROPOUTS = {"aten::dropout_", "aten::alpha_dropout_", "aten::feature_dropout_", "aten::feature_alpha_dropout_"}


def _arg(n, schema, name):
    """The value of argument `name` of call node n (see schema_args)."""
    return dict(zip((a.name for a in schema.arguments), schema_args(n, schema))).get(name)


def readable_as_is(ep) -> bool:
    """True when no in-place op of the graph writes a view, an input, a parameter or a buffer,
    and the graph has no higher-order op."""
    views = set()  # nodes that alias another value: placeholders, view ops' results
    for n in ep.graph_module.graph.nodes:
        if n.op == "placeholder":
            views.add(n)
            continue
        if n.op != "call_function":
            continue
        t = n.target
        if isinstance(t, torch._ops.HigherOrderOperator):
            return False
        if t is operator.getitem:
            if n.args[0] in views:
                views.add(n)
            continue
        if not isinstance(t, torch._ops.OpOverload):
            continue
        schema = t._schema
        if schema.name in _EVAL_DROPOUTS and not _arg(n, schema, "train"):
            continue  # dropout_ in eval mode writes nothing
        if schema.is_mutable:
            for i, a in enumerate(schema.arguments):
                if a.alias_info is None or not a.alias_info.is_write:
                    continue
                v = _arg(n, schema, a.name)
                if v in views or not isinstance(v, torch.fx.Node):
                    return False
        if any(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns):
            views.add(n)
    return True


def _output_names(ep, count: int) -> list:
    """Names of the user outputs after the structure the program returns (ModelOutput keys,
    'output0'...), as the tracing path names them; [] when they cannot be matched."""
    try:
        spec = ep.call_spec.out_spec
        if spec is None or spec.num_leaves != count:
            return []
        markers = [torch.empty(0) for _ in range(count)]
        names, tensors = flatten_output(torch.utils._pytree.tree_unflatten(markers, spec))
    except Exception:  # noqa: BLE001 - a structure kiln cannot name: the C++ front end names them
        return []
    by_id = {id(t): nm for nm, t in zip(names, tensors)}
    out = [by_id.get(id(m)) for m in markers]
    return out if all(out) and len(set(out)) == count else []


def describe_exported(ep, inputs_override=None, name="model", input_names=None, output_names=None):
    """ExportedProgram (already the inference IR) -> the graph description of decoder.py.

    inputs_override: {user input index: (PartialShape or None, Type or None)} from input=;
    input_names / output_names: names to give the user inputs / outputs (default: the program's)."""
    from torch.export.graph_signature import InputKind, OutputKind, TensorArgument

    gm = ep.graph_module
    w = FxWalker()
    ranges = dict(ep.range_constraints)
    specs = list(ep.graph_signature.input_specs)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(specs) != len(placeholders):
        raise ValueError(f"the program has {len(placeholders)} placeholders and {len(specs)} input specs")
    inputs_override = inputs_override or {}
    desc_inputs = []
    user = 0
    for spec, ph in zip(specs, placeholders):
        if spec.kind == InputKind.USER_INPUT:
            if not isinstance(spec.arg, TensorArgument):
                # a non-tensor argument export specialized (an int, a bool): a constant of the call
                w.ids[ph] = w.const(_convert_const(getattr(spec.arg, "value", None)))
                continue
            val = ph.meta.get("val")
            shape = PartialShape([dimension_of(d, ranges) for d in val.shape])
            dtype = to_kiln_type(val.dtype)
            o_shape, o_type = inputs_override.get(user, (None, None))
            nm = input_names[user] if input_names and user < len(input_names) else spec.arg.name
            vid = w.new_id()
            w.ids[ph] = vid
            desc_inputs.append((vid, nm, o_type or dtype, o_shape or shape))
            user += 1
            continue
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            t = ep.state_dict.get(spec.target) if spec.kind != InputKind.CONSTANT_TENSOR else None
            if t is None:
                t = ep.constants.get(spec.target)
            w.ids[ph] = w.const(_convert_const(t) if t is not None else
                                Unsupported(f"the {spec.kind.name.lower()} '{spec.target}' the program lacks"))
            continue
        w.ids[ph] = w.const(Unsupported(f"a {spec.kind.name.lower()} input ('{spec.target}')"))

    keep = [spec.kind == OutputKind.USER_OUTPUT for spec in ep.graph_signature.output_specs]
    outputs = w.walk(gm, keep)
    names = list(output_names) if output_names else _output_names(ep, len(outputs))
    return (name, desc_inputs, ([], w.nodes, outputs), names, w.constants)


def mutated_state(ep) -> list:
    """What the program writes besides its outputs, as 'buffer count' / 'input x' strings: the
    mutation outputs of its (functional) graph signature. kiln keeps no state between calls."""
    from torch.export.graph_signature import OutputKind
    kinds = {OutputKind.BUFFER_MUTATION: "buffer", OutputKind.USER_INPUT_MUTATION: "input",
             getattr(OutputKind, "PARAMETER_MUTATION", None): "parameter"}
    return [f"{kinds[spec.kind]} '{spec.target}'" for spec in ep.graph_signature.output_specs
            if spec.kind in kinds and spec.kind is not None]


def equal_input_dims(ep) -> list:
    """Groups of (user input index, axis) whose sizes are one symbol of the program (a dimension
    two inputs share, such as the sequence length of input_ids and attention_mask)."""
    by_symbol: dict = {}
    for user, (_, ph) in enumerate(user_tensor_inputs(ep)):
        for axis, d in enumerate(ph.meta["val"].shape):
            if isinstance(d, torch.SymInt) and d.node.expr.is_Symbol:
                by_symbol.setdefault(d.node.expr, []).append((user, axis))
    return [g for g in by_symbol.values() if len(g) > 1]
