"""The TorchScript decoder: walks a torch._C.Graph into kiln's graph description.

The description is plain Python data handed to C++ in one call (kiln._kiln._translate_torch_graph):
    graph = (name, inputs, body, output_names, constants)
    inputs = [(value id, name, kiln.Type, kiln.PartialShape)]
    body / block = (input ids, nodes, output ids)
    node = (kind, input ids, output ids, output types, name, source, blocks, out ids)
    constants = {value id: None | bool | int | float | str | list | dict | tensor | Unsupported}
Tensor constants are the frozen weights themselves (shared memory, no copy). `out ids` are the
out= tensors of an aten out overload (torch.add(a, b, out=o)), taken off the inputs: each aliases
the node's output of the same position. A constant kiln cannot represent (a ScriptObject such as
quantized packed parameters, a complex tensor) is an Unsupported saying what it is; the node that
uses it fails with that and its source line.
"""
from __future__ import annotations

import linecache
import os
import re

import torch

from kiln._kiln import ConversionError
from kiln.dtypes import runs_torch_dtype, torch_dtype_code

_SCRIPT_RE = re.compile(r'File "([^"]+)", line (\d+)')   # scripted: the innermost source line
_TRACE_RE = re.compile(r"^(.+)\((\d+)\): (\S+)$")         # traced: one "file(line): function" per frame
# With the separator: ".../site-packages/torchvision" must not count as inside torch.
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_KILN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep


def _source(node) -> str:
    """'file:line: code' of the torch source a node came from, or ''."""
    try:
        text = node.sourceRange()
    except RuntimeError:
        return ""
    if not text:
        return ""
    m = _SCRIPT_RE.search(text)
    if m:
        path, line = m.group(1), int(m.group(2))
    else:
        frames = [f for f in (_TRACE_RE.match(ln.strip()) for ln in text.split("\n")) if f]
        if not frames:
            return ""
        # The innermost frame outside torch itself is the line the user wrote (or the model
        # library's); torch.nn internals are never the line to fix.
        outside = [f for f in frames if not f.group(1).startswith((_TORCH_DIR, _KILN_DIR))]
        f = (outside or frames)[0]
        path, line = f.group(1), int(f.group(2))
    code = linecache.getline(path, line).strip()
    return f"{path}:{line}: {code}" if code else f"{path}:{line}"


def _type_name(value) -> str:
    return _type_str(value.type())


def _type_str(t) -> str:
    """TorchScript type as the translators read it: 'Tensor', 'int', 'float', 'int[]', ..."""
    k = t.kind()
    if k == "ListType":
        return _type_str(t.getElementType()) + "[]"
    if k == "TensorType":
        return "Tensor"
    if k == "IntType":
        return "int"
    if k == "FloatType":
        return "float"
    if k == "BoolType":
        return "bool"
    if k == "NumberType":
        return "number"
    return str(t)


def _constant(value):
    v = value.toIValue()
    return _convert_const(v)


class Unsupported:
    """A constant kiln cannot represent; `kiln_unsupported` says what it is (the binding reads it)."""

    def __init__(self, what: str):
        self.kiln_unsupported = what



def _convert_const(v):
    if isinstance(v, torch.Tensor):
        if v.is_quantized or not runs_torch_dtype(v.dtype):
            return Unsupported(f"a {v.dtype} tensor of shape {list(v.shape)}")
        t = v.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if not t.is_contiguous():
            t = t.contiguous()
        return t
    if isinstance(v, torch.device):
        return str(v)
    if isinstance(v, torch.dtype):
        return torch_dtype_code(v)
    if isinstance(v, (list, tuple)):
        return [_convert_const(x) for x in v]
    if isinstance(v, dict):
        return {k: _convert_const(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (torch.layout, torch.memory_format)):
        return 0  # torch.strided / contiguous_format: the only ones an inference graph on the CPU takes
    if isinstance(v, torch.ScriptObject):
        packed = _packed_params(v)
        if packed is not None:
            return packed
    if hasattr(v, "__dict__") and _is_script_class(type(v)):
        # an instance of a TorchScript class (torchvision's LevelMapper): a record of its attributes
        return {k: _convert_const(x) for k, x in vars(v).items()}
    return Unsupported(f"a {type(v).__module__}.{type(v).__qualname__}" +
                       (f" ({v._type().qualified_name()})" if hasattr(v, "_type") else ""))


def _is_script_class(cls) -> bool:
    try:
        return torch.jit._state._get_script_class(cls) is not None
    except Exception:  # noqa: BLE001
        return False


_SCHEMA_OUTS = {}


def _out_positions(n) -> list:
    """Positions of the out= arguments of an aten out overload (aten::add.out's `out`)."""
    if not n.kind().startswith("aten::"):
        return []
    try:
        schema = n.schema()
    except RuntimeError:
        return []
    if "!" not in schema:
        return []
    pos = _SCHEMA_OUTS.get(schema)
    if pos is None:
        try:
            pos = [i for i, a in enumerate(torch._C.parse_schema(schema).arguments) if a.is_out]
        except RuntimeError:
            pos = []
        _SCHEMA_OUTS[schema] = pos
    return pos


def _packed_params(obj):
    """The packed weights of a quantized conv or linear module (a ScriptObject in the graph) as a
    list the quantized translators read: conv [weight, bias, stride, padding, dilation, groups,
    transposed, output_padding], linear [weight, bias]. The weight is dequantized (its values are
    exactly the int8 grid times its per-tensor or per-channel scale); bias is float or None."""
    try:
        name = obj._type().qualified_name()
    except Exception:  # noqa: BLE001 - not a TorchScript class
        return None
    if not name.startswith("__torch__.torch.classes.quantized."):
        return None
    kind = name.rsplit(".", 1)[-1]
    if kind.startswith("Conv") and kind.endswith("PackedParamsBase"):
        w, b = obj.unpack()
        return [_convert_const(w.dequantize()), None if b is None else _convert_const(b),
                list(obj.stride()), list(obj.padding()), list(obj.dilation()), int(obj.groups()),
                bool(obj.transpose()), list(obj.output_padding())]
    if kind == "LinearPackedParamsBase":
        w, b = torch.ops.quantized.linear_unpack(obj)
        return [_convert_const(w.dequantize()), None if b is None else _convert_const(b)]
    return None


class _Walker:
    def __init__(self):
        self.constants = {}
        self.objects = {}  # value id -> module object, for attribute reads freezing left in place
        # Value ids are unique within one torch graph only; a subgraph (prim::PythonOp's) is walked
        # with its ids moved past every id seen so far.
        self.offset = 0
        self.max_id = 0
        # prim::SetAttr in the top-level block (RAFT keeps its correlation pyramid in an
        # attribute during forward): (owner, name) -> the value id set, which later reads alias
        self.attrs = {}
        self.alias = {}
        self.paths = {}  # module value id -> its attribute path from `self` ("", ".model", ...)
        self.depth = 0
        # Module attributes set inside an If/Loop body (torchvision's MultiScaleRoIAlign sets up
        # its scales on the first call): all their reads and writes go to a record (an object
        # value of the C++ translation, like a prim::CreateObject's), which follows the branches
        # and iterations. `tracked`: "path.attr" keys known to need one (found by a first walk);
        # `nested_sets`: the keys this walk found set inside a body.
        self.tracked = set()
        self.nested_sets = set()
        self.records = {}  # module path -> the record's value id
        self.next_synthetic = 1 << 40  # ids of values the decoder makes (past any torch id)

    def synthetic(self, constant=None, has_constant=False) -> int:
        i = self.next_synthetic
        self.next_synthetic += 1
        if has_constant:
            self.constants[i] = constant
        return i

    def name_const(self, name: str) -> int:
        return self.synthetic(name, True)

    def start_records(self, root, out_nodes):
        """At the top of the graph: one record per module with tracked attributes, holding their
        values at conversion time."""
        by_path = {}
        for key in sorted(self.tracked):
            path, name = key.rsplit(".", 1)
            by_path.setdefault(path, []).append(name)
        for path, names in by_path.items():
            obj = root
            for part in path.split(".")[1:]:
                obj = obj.getattr(part) if hasattr(obj, "getattr") else getattr(obj, part)
            rid = self.synthetic()
            self.records[path] = rid
            out_nodes.append(("prim::CreateObject", [], [rid], ["object"], f"self{path}", "", [], []))
            for name in names:
                val = obj.getattr(name) if hasattr(obj, "getattr") else getattr(obj, name)
                out_nodes.append(("prim::SetAttr", [rid, self.name_const(name), self.synthetic(_convert_const(val), True)],
                                  [], [], f"self{path}.{name}", "", [], []))

    def id(self, v) -> int:
        i = v.unique() + self.offset
        self.max_id = max(self.max_id, i)
        return self.alias.get(i, i)

    def subgraph(self, g):
        """A separate torch graph (the traced forward of an autograd Function) as a block."""
        saved = self.offset
        self.offset = self.max_id + 1
        try:
            return self.block(list(g.inputs()), list(g.nodes()), list(g.outputs()))
        finally:
            self.offset = saved

    def _set_attr(self, n, out_nodes) -> bool:
        """prim::SetAttr on a known module, in the top-level block (executed once, in order): later
        reads of the attribute are the value set. Inside an If/Loop body, or for an attribute also
        set inside one, the attribute lives in a record (see `tracked`). On an object of a
        TorchScript class made in forward (prim::CreateObject), it is a node of the translation."""
        obj, value = list(n.inputs())
        owner = self.objects.get(self.id(obj))
        if owner is None:
            out_nodes.append(("prim::SetAttr", [self.id(obj), self.name_const(n.s("name")), self.id(value)], [], [],
                              n.s("name"), _source(n), [], []))
            return True
        path = self.paths.get(self.id(obj))
        if path is None:
            raise ConversionError(f"prim::SetAttr: sets attribute '{n.s('name')}' of a module kiln cannot follow; "
                                  f"at {_source(n) or '(no source line)'}")
        key = path + "." + n.s("name")
        if key in self.tracked:
            out_nodes.append(("prim::SetAttr", [self.records[path], self.name_const(n.s("name")), self.id(value)], [], [],
                              f"self{key}", _source(n), [], []))
            return True
        if self.depth != 1:
            self.nested_sets.add(key)  # the next walk tracks it
            return True
        self.attrs[key] = self.id(value)
        return True

    def _get_attr(self, n, out_nodes) -> bool:
        """Resolves prim::GetAttr on a known module into a constant (or another module), or into
        the value a prim::SetAttr before it gave the attribute."""
        owner = self.objects.get(self.id(n.input()))
        name = n.s("name")
        if owner is None:
            # An attribute of an object made in forward: read during the translation.
            out_nodes.append(("prim::GetAttr", [self.id(n.input()), self.name_const(name)], [self.id(n.output())],
                              [_type_name(n.output())], n.output().debugName(), _source(n), [], []))
            return True
        path = self.paths.get(self.id(n.input()))
        if path is not None and path + "." + name in self.tracked:
            out_nodes.append(("prim::GetAttr", [self.records[path], self.name_const(name)], [self.id(n.output())],
                              [_type_name(n.output())], n.output().debugName(), _source(n), [], []))
            return True
        if path is not None and path + "." + name in self.attrs:
            self.alias[n.output().unique() + self.offset] = self.attrs[path + "." + name]
            return True
        val = owner.getattr(name) if hasattr(owner, "getattr") else getattr(owner, name)
        packed = _packed_params(val) if isinstance(val, torch._C.ScriptObject) else None
        if packed is not None:
            self.constants[self.id(n.output())] = packed
        elif isinstance(val, (torch._C.ScriptModule, torch._C.ScriptObject, torch.nn.Module)):
            self.objects[self.id(n.output())] = val
            if path is not None:
                self.paths[self.id(n.output())] = path + "." + name
            if not isinstance(val, (torch._C.ScriptModule, torch.nn.Module)):
                # A ScriptObject (quantized packed parameters): a node reading it says so.
                self.constants[self.id(n.output())] = _convert_const(val)
        else:
            self.constants[self.id(n.output())] = _convert_const(val)
        return True

    def _isinstance(self, n) -> bool:
        """prim::isinstance on a value whose static type decides it (torch.nn.utils.rnn asks whether
        `lengths` is a Tensor): a constant, so the branch it guards is resolved at conversion."""
        t = n.input().type()
        types = n.tys("types")
        if any(t.isSubtypeOf(x) for x in types):
            self.constants[self.id(n.output())] = True
            return True
        if t.kind() in ("TensorType", "IntType", "FloatType", "BoolType", "StringType", "ListType", "TupleType") and \
                not any(t.isSubtypeOf(x) or x.isSubtypeOf(t) for x in types):
            self.constants[self.id(n.output())] = False
            return True
        return False

    def block(self, inputs, nodes, outputs):
        self.depth += 1
        try:
            return self._block(inputs, nodes, outputs)
        finally:
            self.depth -= 1

    def _block(self, inputs, nodes, outputs):
        out_nodes = []
        for n in nodes:
            kind = n.kind()
            if kind == "prim::Constant":
                self.constants[self.id(n.output())] = _constant(n.output())
                continue
            if kind == "prim::GetAttr" and self._get_attr(n, out_nodes):
                continue
            if kind == "prim::SetAttr" and self._set_attr(n, out_nodes):
                continue
            if kind == "prim::isinstance" and self._isinstance(n):
                continue
            outs = list(n.outputs())
            name = outs[0].debugName() if outs else kind
            blocks = [self.block(list(b.inputs()), list(b.nodes()), list(b.outputs())) for b in n.blocks()]
            if kind == "prim::PythonOp" and n.hasAttribute("Subgraph"):
                blocks = [self.subgraph(n.g("Subgraph"))]
            ins = [self.id(v) for v in n.inputs()]
            outs_pos = _out_positions(n)
            out_args = [ins[i] for i in outs_pos if i < len(ins)]
            ins = [x for i, x in enumerate(ins) if i not in outs_pos]
            out_nodes.append((kind, ins, [self.id(v) for v in outs], [_type_name(v) for v in outs], name,
                              _source(n), blocks, out_args))
        return ([self.id(v) for v in inputs], out_nodes, [self.id(v) for v in outputs])


def describe_graph(graph, has_self: bool, inputs, name: str = "model", self_obj=None, output_names=()):
    """inputs: [(name, kiln.Type, kiln.PartialShape)] for the graph's inputs after `self`;
    self_obj: the (frozen) module behind `self`, for attributes freezing did not inline;
    output_names: the names of the flattened outputs, when the capture knows them."""
    tracked = set()
    for _ in range(4):  # a walk that finds module attributes set inside bodies walks again
        w = _Walker()
        w.tracked = set(tracked)
        if has_self and self_obj is not None:
            w.objects[w.id(next(graph.inputs()))] = self_obj
            w.paths[w.id(next(graph.inputs()))] = ""
        graph_inputs = list(graph.inputs())[1 if has_self else 0:]
        if len(graph_inputs) != len(inputs):
            raise ValueError(f"the graph has {len(graph_inputs)} inputs, {len(inputs)} were described")
        desc_inputs = [(w.id(v), n, t, s) for v, (n, t, s) in zip(graph_inputs, inputs)]
        head = []
        if tracked:
            w.start_records(self_obj, head)
        body = w.block([], list(graph.nodes()), list(graph.outputs()))
        if w.nested_sets <= tracked:
            body = (body[0], head + body[1], body[2])
            return (name, desc_inputs, body, list(output_names), w.constants)
        tracked |= w.nested_sets
    raise ConversionError("module attributes set inside if/loop bodies: the decoder did not settle")
