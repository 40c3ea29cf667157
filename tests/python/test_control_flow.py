"""Data-dependent control flow in scripted models: `if` on tensor values becomes an If op, loops
whose trip count or condition is known only at run time become Loop ops, and the list and tuple
constructs TorchScript builds around them resolve, including split/chunk/unbind of dimensions
known only at run time. Every case is converted ONCE and run on inputs that take different
branches and trip counts (zero included), compared with torch eager at rtol = atol = 1e-4.

Modules live in this file: torch.jit.script reads their source.
"""
from __future__ import annotations

import inspect
import threading
import warnings
from typing import List, Tuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kiln
from kiln._kiln import _set_reference_kernels

RTOL = ATOL = 1e-4
CORE = kiln.Core()


def flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    items = []
    for o in out:
        items += flat(o)
    return items


def convert(module, example, static=False):
    """Scripts `module` with every dim of every input dynamic (ranks and dtypes from `example`)."""
    names = list(inspect.signature(module.forward).parameters)[:len(example)]
    spec = {n: ((tuple(x.shape) if static else kiln.PartialShape.dynamic(x.dim())), x.dtype)
            for n, x in zip(names, example)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kiln.convert_model(module.eval(), input=spec)


def op_types(model) -> list:
    return [op.type_name for op in model.get_ops()]


def check(module, runs, *, expect=(), absent=(), model=None):
    """Converts once, runs every input list in `runs`, compares with torch eager. `expect` /
    `absent`: op types that must / must not be in the converted model."""
    module = module.eval()
    model = model or convert(module, runs[0])
    types = op_types(model)
    for t in expect:
        assert t in types, f"no {t} op in the converted model: {types}"
    for t in absent:
        assert t not in types, f"a {t} op in the converted model: {types}"
    compiled = CORE.compile_model(model, "CPU")
    for xs in runs:
        with torch.no_grad():
            want = flat(module(*[x.clone() for x in xs]))
        got = compiled([x.numpy() for x in xs])
        assert len(got) == len(want), f"kiln gave {len(got)} outputs, torch {len(want)}"
        for k, (g, w) in enumerate(zip(got, want)):
            w = w.numpy()
            g = np.asarray(g)
            assert g.shape == w.shape, f"inputs {[tuple(x.shape) for x in xs]}: output {k} shape {g.shape} != {w.shape}"
            assert g.dtype == w.dtype, f"output {k}: dtype {g.dtype} != torch {w.dtype}"
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"output {k}")
    return model, compiled


def n(k):
    return torch.tensor(k, dtype=torch.int64)


g = torch.Generator().manual_seed(0)


def rand(*shape, lo=-1.0, hi=1.0):
    return torch.rand(shape, generator=g) * (hi - lo) + lo


# ---------------------------------------------------------------------------------------------
# if on tensor data


class IfSum(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            y = x * 2
        else:
            y = x - 1
        return y


def test_if_on_tensor_value():
    pos, neg = rand(2, 3, lo=0.1), rand(2, 3, hi=-0.1)
    check(IfSum(), [[pos], [neg], [rand(4, 5, lo=0.1)], [rand(1, 7, hi=-0.1)]], expect=["If"], absent=["Choose"])


class IfShapes(nn.Module):
    # The branches give different shapes at one input shape: the If's output shape is known only
    # when it has run, and what follows it is planned then.
    def forward(self, x):
        if x.mean() > 0:
            y = torch.cat([x, x], 0)
        else:
            y = x * 3
        return y.sum(0) + 1, y


def test_if_branches_of_different_shapes():
    check(IfShapes(), [[rand(2, 3, lo=0.1)], [rand(2, 3, hi=-0.1)], [rand(3, 4, lo=0.1)]], expect=["If"])


class NestedIf(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            if x.max() > 2:
                y = x - 2
            else:
                y = x * 10
        else:
            if x.min() < -2:
                y = x + 2
            else:
                y = -x
        return y


def test_nested_ifs():
    base = rand(2, 3, lo=0.1, hi=0.5)
    runs = [[base], [base + torch.tensor([[3.0, 0, 0], [0, 0, 0]])], [-base],
            [-base - torch.tensor([[3.0, 0, 0], [0, 0, 0]])]]
    model, _ = check(NestedIf(), runs, expect=["If"])
    assert op_types(model).count("If") == 1  # the inner ones are in its bodies


class IfRebinds(nn.Module):
    # A branch assigns a list item and changes an outer tensor in place: both become outputs.
    def forward(self, x):
        l = [x, x + 1]
        y = x.clone()
        k = 1
        if x.sum() > 0:
            l[0] = x * 2
            y.add_(5.0)
            k = 3
        return l[0] + l[1] + y * k


def test_if_rebinds_outer_values():
    check(IfRebinds(), [[rand(2, 3, lo=0.1)], [rand(2, 3, hi=-0.1)]], expect=["If"])


class IfScalarInt(nn.Module):
    def forward(self, x, t):
        if bool(t > 0):
            s = x.size(0) * 2
        else:
            s = 1
        return x.reshape(s, -1) if s == 1 else x * s


def test_if_returning_ints():
    x = rand(2, 6)
    check(IfScalarInt(), [[x, n(1)], [x, n(-1)]], expect=["If"])


# ---------------------------------------------------------------------------------------------
# loops


class LoopN(nn.Module):
    def forward(self, x, steps):
        acc = x
        for i in range(int(steps)):
            acc = acc * 0.5 + i
        return acc


def test_loop_trip_count_is_an_input():
    x = rand(2, 3)
    model, compiled = check(LoopN(), [[x, n(0)], [x, n(1)], [x, n(5)], [rand(4, 1), n(3)], [x, n(-2)]],
                            expect=["Loop"])


class LoopSeveral(nn.Module):
    def forward(self, a, b, steps):
        k = 0
        for i in range(int(steps)):
            a, b = b, a + b * 0.5
            k = k + i
        return a, b, a * k


def test_loop_carries_several_tensors_and_an_int():
    a, b = rand(2, 3), rand(2, 3)
    check(LoopSeveral(), [[a, b, n(0)], [a, b, n(1)], [a, b, n(5)]], expect=["Loop"])


class WhileData(nn.Module):
    def forward(self, x):
        while x.sum() < 100:
            x = x * 2 + 1
        return x


def test_while_loop_on_data():
    # 0 iterations (already >= 100), a few, many.
    check(WhileData(), [[torch.full((2, 3), 20.0)], [rand(2, 3, lo=0, hi=1)], [rand(3, 3, lo=-0.99, hi=-0.98)]],
          expect=["Loop"])


class IfInLoop(nn.Module):
    def forward(self, x, steps):
        for i in range(int(steps)):
            if x.mean() > 0:
                x = x - 1.0
            else:
                x = x + 2.5
        return x


def test_if_inside_a_loop():
    x = rand(2, 3, lo=0.5, hi=2.0)
    check(IfInLoop(), [[x, n(0)], [x, n(1)], [x, n(5)], [-x, n(4)]], expect=["Loop"])


class LoopInPlace(nn.Module):
    # An in-place op on an outer tensor in the body: carried although torch declares no carry.
    def forward(self, x, steps):
        y = x.clone()
        for i in range(int(steps)):
            y.mul_(0.5)
            y.add_(float(i))
        return y


def test_loop_changing_an_outer_tensor_in_place():
    x = rand(2, 3)
    check(LoopInPlace(), [[x, n(0)], [x, n(1)], [x, n(5)]], expect=["Loop"])


class LoopGrows(nn.Module):
    # The carried value doubles every iteration: its shape is data-dependent.
    def forward(self, x, steps):
        for i in range(int(steps)):
            x = torch.cat([x, x * 0.5], 0)
        return x.sum(0), x


def test_loop_whose_carried_value_grows():
    x = rand(2, 3)
    check(LoopGrows(), [[x, n(0)], [x, n(1)], [x, n(3)]], expect=["Loop"])


class RangeStartStep(nn.Module):
    def forward(self, x, stop):
        for i in range(1, int(stop), 2):
            x = x * 0.5 + i
        return x


def test_range_with_start_and_step():
    x = rand(2, 3)
    check(RangeStartStep(), [[x, n(0)], [x, n(2)], [x, n(7)]], expect=["Loop"])


class NestedLoops(nn.Module):
    def forward(self, x, a, b):
        for i in range(int(a)):
            for j in range(int(b)):
                x = x + i * j + 1
        return x


def test_nested_loops():
    x = rand(2, 2)
    check(NestedLoops(), [[x, n(0), n(3)], [x, n(3), n(0)], [x, n(2), n(3)]], expect=["Loop"])


# ---------------------------------------------------------------------------------------------
# lists in loops


class AppendStack(nn.Module):
    def forward(self, x, steps):
        out: List[torch.Tensor] = []
        for i in range(int(steps)):
            out.append(x * i)
        return torch.stack(out, 1), torch.cat(out, 1), out[-1] + len(out)


def test_list_appended_in_a_loop():
    x = rand(2, 3)
    check(AppendStack(), [[x, n(1)], [x, n(4)], [rand(3, 2), n(2)]], expect=["Loop"])


class AppendRead(nn.Module):
    def forward(self, x, steps):
        out: List[torch.Tensor] = [x]
        for i in range(int(steps)):
            out.append(out[-1] * 2)
        return torch.stack(out, 0)


class AppendReadEmpty(nn.Module):
    def forward(self, x, steps):
        out: List[torch.Tensor] = []
        for i in range(int(steps)):
            out.append(x * len(out))
        return torch.stack(out, 0)


def test_list_appended_and_read_in_a_loop_is_a_clear_error():
    with pytest.raises(kiln.ConversionError) as e:
        convert(AppendRead(), [rand(2, 3), n(2)])
    msg = str(e.value)
    assert "a list changes its length inside the loop" in msg, msg
    assert "prim::Loop" in msg and f"{__file__}:" in msg, msg
    with pytest.raises(kiln.ConversionError) as e:
        convert(AppendReadEmpty(), [rand(2, 3), n(2)])
    assert "a list the loop appends to is also read inside the loop" in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# split / chunk / unbind whose sizes are known only at run time, indexing, len, unpacking


class Halves(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        c, d = x.split(x.size(1) // 2, 1)
        e, f, h = torch.split(x, [1, x.size(1) - 3, 2], 1)
        return a * b + c - d, e, f.sum(1, keepdim=True) + h


class SplitTwo(nn.Module):
    def forward(self, x):
        c, d = x.split(x.size(1) // 2, 1)
        return c + d


def test_split_and_chunk_of_a_dynamic_dim():
    check(Halves(), [[rand(2, 6, 3)], [rand(3, 4, 2)], [rand(1, 10, 1)]], absent=["If", "Loop"])
    # A size whose pieces do not unpack into two: torch raises, and so does kiln, naming the split.
    _, compiled = check(SplitTwo(), [[rand(2, 6, 3)]])
    x = rand(2, 5, 3)
    with pytest.raises(ValueError, match="too many values to unpack"):
        SplitTwo()(x)
    with pytest.raises(ValueError, match=r"\[VariadicSplit .*split_lengths \[2,2\] do not add up to dimension 5"):
        compiled([x.numpy()])


class UnbindLoop(nn.Module):
    def forward(self, x):
        xs = x.unbind(0)
        acc = xs[0] * 0
        for i in range(len(xs)):
            acc = acc + xs[i] * i
        for t in x.unbind(1):
            acc = acc + t.sum()
        for j, t in enumerate(x.unbind(0)):
            acc = acc - t * j
        a, b = x[:2].unbind(0)
        return acc + xs[-1] + a * b + len(xs)


def test_unbind_indexed_in_a_loop():
    check(UnbindLoop(), [[rand(4, 3)], [rand(2, 5)], [rand(7, 1)]], expect=["Loop"])


class Lengths(nn.Module):
    def forward(self, x):
        parts = x.split(2, 1)
        known = [x, x, x]
        return x * len(parts) + len(known) + parts[len(parts) - 1].sum()


def test_len_of_lists():
    check(Lengths(), [[rand(2, 5)], [rand(3, 8)], [rand(1, 1)]])


class Unpacking(nn.Module):
    def forward(self, x, steps):
        a, b = (x, x * 2)
        c, d = [b, a]
        t: Tuple[torch.Tensor, torch.Tensor] = (c, d)
        for i in range(int(steps)):
            t = (t[1], t[0] + t[1])
        p, q = t
        return p - q, t[0]


def test_tuple_and_list_unpacking():
    x = rand(2, 3)
    check(Unpacking(), [[x, n(0)], [x, n(1)], [x, n(4)]], expect=["Loop"])


# ---------------------------------------------------------------------------------------------
# shape conditions keep Choose; runtime behaviour


class PadToMultiple(nn.Module):
    def forward(self, x):
        w = x.size(-1)
        if w % 4 != 0:
            x = F.pad(x, [0, 4 - w % 4])
        else:
            x = x * 2.0
        return x


def test_shape_conditions_stay_choose_and_fold():
    model, compiled = check(PadToMultiple(), [[rand(2, 3, 5)], [rand(2, 3, 8)]], expect=["Choose"], absent=["If"])
    summary = compiled.kernel_summary([[2, 3, 5]])
    assert not any(s[0] in ("Choose", "If") for s in summary), summary


class IfConstCond(nn.Module):
    # A loop over a dim known at conversion is unrolled; the data conditions in it are Ifs.
    def forward(self, x):
        for t in x.unbind(0):
            if t.sum() > 0:
                x = x + 1
        return x


def test_loop_over_a_static_dim_unrolls_around_data_ifs():
    check(IfConstCond(), [[rand(3, 2)], [rand(3, 2, lo=0.1)]], expect=["If"], absent=["Loop"],
          model=convert(IfConstCond(), [rand(3, 2)], static=True))


def test_one_compiled_model_in_many_threads():
    module = LoopSeveral().eval()
    a, b = rand(2, 3), rand(2, 3)
    model = convert(module, [a, b, n(1)])
    compiled = CORE.compile_model(model, "CPU")
    errors = []

    def work(t):
        try:
            req = compiled.create_infer_request()
            for r in range(10):
                k = (t + r) % 6
                got = req.infer([a.numpy(), b.numpy(), n(k).numpy()])
                want = flat(module(a, b, n(k)))
                for gk, wk in zip(got, want):
                    np.testing.assert_allclose(np.asarray(gk), wk.numpy(), rtol=RTOL, atol=ATOL)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize("module,runs", [
    (IfShapes(), [[rand(2, 3, lo=0.1)], [rand(2, 3, hi=-0.1)]]),
    (LoopGrows(), [[rand(2, 3), n(0)], [rand(2, 3), n(2)]]),
    (AppendStack(), [[rand(2, 3), n(3)]]),
    (WhileData(), [[rand(2, 3, lo=0, hi=1)]]),
], ids=["if_shapes", "loop_grows", "append", "while"])
def test_reference_kernels_agree(module, runs):
    # KILN_REFERENCE_KERNELS: If/Loop run their bodies on the plain interpreter.
    _set_reference_kernels(True)
    try:
        check(module, runs)
    finally:
        _set_reference_kernels(False)


# ---------------------------------------------------------------------------------------------
# torch.export's control flow: torch.cond and while_loop, read as TorchScript's prim::If / Loop

def exported(module, example, dynamic_shapes=None):
    ep = torch.export.export(module.eval(), tuple(example), dynamic_shapes=dynamic_shapes)
    return kiln.convert_model(ep)


class CondData(nn.Module):
    # branches that use a parameter (lifted into the branch's operands) and differ in ops
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: self.lin(x).relu(), lambda x: x * 2 - 1, (x,))


def test_cond_on_data_becomes_an_if():
    batch = torch.export.Dim("batch", max=64)
    module = CondData()
    model = exported(module, [rand(2, 4)], ({0: batch},))
    check(module, [[rand(3, 4, lo=0.1)], [rand(5, 4, hi=-0.1)], [rand(1, 4, lo=0.1)]], expect=["If"], model=model)


class CondShape(nn.Module):
    # a condition on a dynamic size: both branches joined by Choose, resolved per plan
    def forward(self, x):
        return torch.cond(x.shape[0] > 4, lambda x: x.cos(), lambda x: x.sin() + 1, (x,))


def test_cond_on_a_size_folds_per_plan():
    batch = torch.export.Dim("batch", max=64)
    module = CondShape()
    model = exported(module, [rand(3, 2)], ({0: batch},))
    _, compiled = check(module, [[rand(2, 2)], [rand(7, 2)]], expect=["Choose"], absent=["If"], model=model)
    assert not any(s[0] in ("Choose", "If") for s in compiled.kernel_summary([[7, 2]]))


class CondNested(nn.Module):
    # two outputs, two operands, a cond inside a branch
    def forward(self, x, y):
        def inner_true(x, y):
            return x + y, x * y

        def inner_false(x, y):
            return x - y, y.abs()

        def outer_true(x, y):
            return torch.cond(y.mean() > 0, inner_true, inner_false, (x, y))

        def outer_false(x, y):
            return x.exp(), y.neg()

        return torch.cond(x.max() > 0.5, outer_true, outer_false, (x, y))


def test_nested_cond_with_two_outputs():
    module = CondNested()
    model = exported(module, [rand(2, 3), rand(2, 3)])
    high, low = torch.full((2, 3), 0.9), torch.full((2, 3), 0.1)
    check(module, [[high, rand(2, 3, lo=0.1)], [high, rand(2, 3, hi=-0.1)], [low, rand(2, 3)]],
          expect=["If"], model=model)


class WhileCounter(nn.Module):
    # a tensor counter and a tensor carried; the body uses a parameter (an additional input)
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, i, x):
        from torch._higher_order_ops.while_loop import while_loop
        return while_loop(lambda i, x: i < 5, lambda i, x: (i + 1, self.lin(x).tanh() + x), (i, x))


def test_while_loop_becomes_a_loop():
    # 0 iterations (i already 5 or more), one, five
    module = WhileCounter()
    model = exported(module, [n(0), rand(2, 3)])
    check(module, [[n(7), rand(2, 3)], [n(4), rand(2, 3)], [n(0), rand(2, 3)]], expect=["Loop"], model=model)


class WhileData2(nn.Module):
    def forward(self, x):
        from torch._higher_order_ops.while_loop import while_loop
        return while_loop(lambda x: x.sum() < 100, lambda x: (x * 2 + 1,), (x,))[0]


def test_while_loop_on_data_with_a_dynamic_dim():
    model = exported(WhileData2(), [rand(2, 3)], ({0: torch.export.Dim("rows", max=16)},))
    check(WhileData2(), [[torch.full((2, 3), 20.0)], [rand(4, 3, lo=0, hi=1)]], expect=["Loop"], model=model)


def test_capture_export_reads_cond():
    # convert_model(module, capture="export") on a model TorchScript would trace through one branch
    module = CondData().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = kiln.convert_model(module, example_input=rand(2, 4), capture="export")
    check(module, [[rand(2, 4, lo=0.1)], [rand(2, 4, hi=-0.1)]], expect=["If"], model=model)
