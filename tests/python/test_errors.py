"""Bad input and the many spellings of good input: kiln must answer every mistake with one clear
Python exception that names what was wrong (DESIGN.md, "What a user must never meet"), and must
read each documented spelling of input= / example_input= / inference inputs the same way."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import kiln

CORE = kiln.Core()


def convert(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kiln.convert_model(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# Conversion errors


class Unsupported(nn.Module):
    def forward(self, x):
        a = torch.poisson(x)
        b = torch.linalg.matrix_exp(x)
        c = torch.histogram(x)
        d = torch.linalg.lstsq(x, x).solution
        return a, b, c, d


UNSUPPORTED = {"aten::poisson": "torch.poisson(x)", "aten::linalg_matrix_exp": "torch.linalg.matrix_exp(x)",
               "aten::histogram": "torch.histogram(x)", "aten::linalg_lstsq": "torch.linalg.lstsq(x, x).solution"}


def _line_of(func, text) -> int:
    lines, start = inspect.getsourcelines(func)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _assert_lists_every_op(err: str):
    for kind, code in UNSUPPORTED.items():
        assert kind in err, f"{kind} missing from:\n{err}"
        where = f"{__file__}:{_line_of(Unsupported.forward, code)}"
        assert where in err, f"{kind}: source line {where} missing from:\n{err}"


def test_unsupported_ops_all_reported_with_source_lines_script():
    with pytest.raises(kiln.ConversionError) as e:
        convert(Unsupported())
    _assert_lists_every_op(str(e.value))


def test_unsupported_ops_all_reported_with_source_lines_trace():
    with pytest.raises(kiln.ConversionError) as e:
        convert(Unsupported(), example_input=torch.randn(3, 3))
    _assert_lists_every_op(str(e.value))


class UnsupportedExported(nn.Module):
    # torch.export cannot trace torch.histogram (no fake kernel): ops it can, that kiln lacks
    def forward(self, x):
        a = torch.special.airy_ai(x)
        b = torch.linalg.matrix_exp(x)
        c = torch.poisson(x.abs())
        d = torch.linalg.householder_product(x, x[:, 0])
        return a + 1, b, c, d


UNSUPPORTED_EXPORTED = {"aten::special_airy_ai": "torch.special.airy_ai(x)", "aten::linalg_matrix_exp": "torch.linalg.matrix_exp(x)",
                        "aten::poisson": "torch.poisson(x.abs())", "aten::linalg_householder_product": "torch.linalg.householder_product(x, x[:, 0])"}


@pytest.mark.parametrize("how", ["capture", "program"])
def test_unsupported_ops_all_reported_with_source_lines_export(how):
    """One ConversionError naming every op kind without a translator, each with the line of the
    model's source that the FX node's stack trace gives (fx_decoder.source_of)."""
    for kind in UNSUPPORTED_EXPORTED:
        assert not kiln._kiln._has_torch_translator(kind), f"kiln has {kind} now: pick another op"
    x = torch.randn(3, 3)
    with pytest.raises(kiln.ConversionError) as e:
        if how == "capture":
            convert(UnsupportedExported(), example_input=x, capture="export")
        else:
            convert(torch.export.export(UnsupportedExported(), (x,)))
    err = str(e.value)
    assert f"{len(UNSUPPORTED_EXPORTED)} operation kind(s) have no translator yet" in err, err
    for kind, code in UNSUPPORTED_EXPORTED.items():
        where = f"{kind}\n      at {__file__}:{_line_of(UnsupportedExported.forward, code)}: "
        assert where in err, f"'{where}' missing from:\n{err}"


class Uncapturable(nn.Module):
    """Tracing refuses a string output; TorchScript has no lambdas."""

    def forward(self, x):
        double = lambda t: t * 2  # noqa: E731
        return str(double(x).shape)


def test_trace_and_script_both_fail():
    with pytest.raises(kiln.ConversionError) as e:
        convert(Uncapturable(), example_input=torch.randn(2, 3))
    msg = str(e.value)
    assert "tracing failed" in msg and "scripting failed" in msg, msg


def test_convert_not_a_model():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        kiln.convert_model(42)


def test_compile_on_gpu_is_refused():
    model = convert(nn.ReLU(), input=[[2, 3]])
    with pytest.raises(ValueError, match="GPU"):
        CORE.compile_model(model, "GPU")


# ---------------------------------------------------------------------------------------------
# Errors at inference: each names the input, what was expected and what came.


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, image, bias):
        return self.conv(image).mean((2, 3)) + bias


@pytest.fixture(scope="module")
def two_inputs():
    torch.manual_seed(0)
    m = TwoInputs().eval()
    model = convert(m, input={"image": [-1, 3, -1, -1], "bias": ([1, 4], torch.float32)})
    return m, CORE.compile_model(model, "CPU")


def _image(*shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


BIAS = np.zeros((1, 4), np.float32)


def test_runs_when_inputs_are_right(two_inputs):
    m, compiled = two_inputs
    x = _image(2, 3, 8, 8)
    with torch.no_grad():
        expected = m(torch.from_numpy(x), torch.from_numpy(BIAS)).numpy()
    np.testing.assert_allclose(compiled({"image": x, "bias": BIAS})[0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("inputs,exc,parts", [
    pytest.param(lambda: {"image": _image(1, 3, 8, 8)}, ValueError, ["missing", "bias"], id="missing_name"),
    pytest.param(lambda: {"image": _image(1, 3, 8, 8), "bias": BIAS, "scale": BIAS}, ValueError,
                 ["scale", "image", "bias"], id="unknown_name"),
    pytest.param(lambda: [_image(3, 8, 8), BIAS], ValueError, ["image", "rank 4", "rank 3"], id="wrong_rank"),
    pytest.param(lambda: [_image(1, 4, 8, 8), BIAS], ValueError, ["image", "[?,3,?,?]", "[1,4,8,8]"],
                 id="wrong_channels"),
    pytest.param(lambda: [_image(1, 3, 2, 2), BIAS], ValueError, ["image", "[1,3,2,2]"], id="image_too_small"),
    pytest.param(lambda: [_image(1, 3, 8, 8), np.zeros((2, 4), np.float32)], ValueError,
                 ["bias", "[1,4]", "[2,4]"], id="wrong_static_dim"),
    pytest.param(lambda: [_image(1, 3, 8, 8, dtype=np.float64), BIAS], TypeError, ["image", "f32", "f64"],
                 id="float64_into_f32"),
    pytest.param(lambda: [_image(1, 3, 8, 8, dtype=np.int64), BIAS], TypeError, ["image", "f32", "i64"],
                 id="int64_into_f32"),
    pytest.param(lambda: [_image(1, 3, 8, 8)], ValueError, ["2 input", "got 1"], id="too_few_in_list"),
    pytest.param(lambda: _image(1, 3, 8, 8), ValueError, ["2 inputs", "list or a dict"], id="bare_array_for_two"),
    pytest.param(lambda: ["not an array", BIAS], TypeError, ["image", "str"], id="not_an_array"),
])
def test_bad_inputs_at_inference(two_inputs, inputs, exc, parts):
    _, compiled = two_inputs
    with pytest.raises(exc) as e:
        compiled(inputs())
    msg = str(e.value)
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    # The model still works after a refused call.
    assert compiled([_image(1, 3, 8, 8), BIAS])[0].shape == (1, 4)


def test_bad_set_tensor(two_inputs):
    _, compiled = two_inputs
    req = compiled.create_infer_request()
    with pytest.raises((ValueError, TypeError)) as e:
        req.set_tensor("image", _image(1, 3, 8, 8, dtype=np.float64))
        req.set_tensor("bias", BIAS)
        req.infer()
    assert "image" in str(e.value) and "f64" in str(e.value), str(e.value)


def test_unknown_config_key():
    model = convert(nn.ReLU(), input=[[2, 3]])
    with pytest.raises(ValueError, match="ENABLE_MAGIC"):  # (NUM_STREAMS, once unknown, is taken now)
        CORE.compile_model(model, "CPU", {"ENABLE_MAGIC": 2})


# ---------------------------------------------------------------------------------------------
# input= spellings: each must give the model inputs it describes, and the model must run.


class Pair(nn.Module):
    def forward(self, x, y):
        return x * 2 + y.sum()


def _pair_inputs(xdtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 4, 5, generator=g).to(xdtype), torch.randn(3, generator=g)


def _pshape(dims):
    return kiln.PartialShape([kiln.Dimension(*d) if isinstance(d, tuple) else kiln.Dimension(d) for d in dims])


def _check_ports(model, shapes, types):
    assert [p.partial_shape for p in model.inputs] == [_pshape(s) for s in shapes]
    assert [p.element_type for p in model.inputs] == list(types)


def _check_runs(model, m, xs):
    compiled = CORE.compile_model(model, "CPU")
    with torch.no_grad():
        expected = m(*xs).numpy()
    np.testing.assert_allclose(compiled([x.numpy() for x in xs])[0], expected, rtol=1e-4, atol=1e-4)


F32, I64 = kiln.Type.f32, kiln.Type.i64


@pytest.mark.parametrize("spec,shapes,types", [
    pytest.param([[2, 3, 4, 5], [3]], [[2, 3, 4, 5], [3]], [F32, F32], id="list_of_shapes"),
    pytest.param([(2, 3, 4, 5), (3,)], [[2, 3, 4, 5], [3]], [F32, F32], id="list_of_tuples"),
    pytest.param([torch.Size([2, 3, 4, 5]), torch.Size([3])], [[2, 3, 4, 5], [3]], [F32, F32], id="torch_size"),
    pytest.param([kiln.PartialShape([-1, 3, -1, -1]), kiln.PartialShape([-1])], [[-1, 3, -1, -1], [-1]],
                 [F32, F32], id="partial_shape"),
    pytest.param([("x", [2, 3, 4, 5], np.float32), ("y", [3], np.float32)], [[2, 3, 4, 5], [3]], [F32, F32],
                 id="name_shape_numpy_dtype"),
    pytest.param([("x", [-1, 3, 4, 5], torch.int64), ("y", [3], torch.float32)], [[-1, 3, 4, 5], [3]],
                 [I64, F32], id="name_shape_torch_dtype"),
    pytest.param([("x", [2, 3, -1, -1], kiln.Type.i64), ("y", [-1], kiln.Type.f32)], [[2, 3, -1, -1], [-1]],
                 [I64, F32], id="name_shape_kiln_dtype"),
    pytest.param([("y", [3], np.float32), ("x", [2, 3, 4, 5], np.int64)], [[2, 3, 4, 5], [3]], [I64, F32],
                 id="names_out_of_order"),
    pytest.param({"x": [2, 3, 4, 5], "y": [3]}, [[2, 3, 4, 5], [3]], [F32, F32], id="dict_shapes"),
    pytest.param({"x": ([-1, 3, 4, 5], torch.int64), "y": ([3], np.float32)}, [[-1, 3, 4, 5], [3]], [I64, F32],
                 id="dict_shape_dtype"),
    pytest.param([([2, 3, 4, 5], torch.int64), ([3], torch.float32)], [[2, 3, 4, 5], [3]], [I64, F32],
                 id="list_of_shape_dtype_pairs"),
    pytest.param([[2, 3, (2, 6), 5], [3]], [[2, 3, (2, 6), 5], [3]], [F32, F32], id="interval_dim"),
])
@pytest.mark.parametrize("keyword", ["input", "input_shape"])
def test_input_spellings(spec, shapes, types, keyword):
    m = Pair().eval()
    xs = _pair_inputs(torch.int64 if types[0] == I64 else torch.float32)
    model = convert(m, **{keyword: spec})
    _check_ports(model, shapes, types)
    _check_runs(model, m, xs)


def test_input_and_input_shape_together():
    with pytest.raises(ValueError, match="input_shape"):
        convert(Pair(), input=[[1]], input_shape=[[1]])


def test_input_unknown_name():
    with pytest.raises(ValueError) as e:
        convert(Pair(), input={"z": [3]})
    assert "'z'" in str(e.value) and "'x'" in str(e.value), str(e.value)


def test_input_too_many():
    with pytest.raises(ValueError, match="3 inputs described"):
        convert(Pair(), input=[[1], [2], [3]])


def test_input_unsupported_dtype():
    with pytest.raises(TypeError, match="complex"):
        convert(Pair(), input=[("x", [1], torch.complex64), ("y", [3], torch.float32)])


# ---------------------------------------------------------------------------------------------
# example_input spellings: tracing takes rank and dtype from the example, dims stay dynamic.


def _examples():
    x, y = _pair_inputs()
    return [
        pytest.param(lambda: (x, y), id="tuple_torch"),
        pytest.param(lambda: [x.numpy(), y.numpy()], id="list_numpy"),
        pytest.param(lambda: (kiln.Tensor(x.numpy()), kiln.Tensor(y.numpy())), id="tuple_kiln_tensor"),
        pytest.param(lambda: {"x": x, "y": y.numpy()}, id="dict_mixed"),
    ]


@pytest.mark.parametrize("make", _examples())
def test_example_input_spellings(make):
    m = Pair().eval()
    model = convert(m, example_input=make())
    _check_ports(model, [[-1, -1, -1, -1], [-1]], [F32, F32])
    _check_runs(model, m, _pair_inputs())


class Single(nn.Module):
    def forward(self, x):
        return torch.relu(x) - 1


@pytest.mark.parametrize("make", [
    pytest.param(lambda x: x, id="torch"),
    pytest.param(lambda x: x.numpy(), id="numpy"),
    pytest.param(lambda x: kiln.Tensor(x.numpy()), id="kiln_tensor"),
    pytest.param(lambda x: (x,), id="tuple"),
    pytest.param(lambda x: [x.numpy()], id="list"),
    pytest.param(lambda x: {"x": x}, id="dict"),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_example_input_single(make, dtype):
    m = Single().eval()
    x = (torch.randn(2, 5) * 4).to(dtype)
    model = convert(m, example_input=make(x))
    _check_ports(model, [[-1, -1]], [kiln.Type.f32 if dtype == torch.float32 else I64])
    compiled = CORE.compile_model(model, "CPU")
    for xi in (x, (torch.randn(3, 7) * 4).to(dtype)):
        np.testing.assert_allclose(compiled(xi.numpy())[0], m(xi).numpy(), rtol=1e-4, atol=1e-4)


def test_example_input_with_static_input():
    m = Pair().eval()
    xs = _pair_inputs()
    model = convert(m, example_input=xs, input=[[2, 3, 4, 5], [3]])
    _check_ports(model, [[2, 3, 4, 5], [3]], [F32, F32])
    _check_runs(model, m, xs)


def test_example_input_bad_type():
    with pytest.raises(TypeError, match="example_input"):
        convert(Single(), example_input="not a tensor")


# ---------------------------------------------------------------------------------------------
# Results and infer requests


class TwoOutputs(nn.Module):
    def forward(self, x):
        return x + 1, x * 3


@pytest.fixture(scope="module")
def two_outputs():
    model = convert(TwoOutputs(), input=[[2, 3]])
    return CORE.compile_model(model, "CPU")


def test_results_by_port_index_and_name(two_outputs):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = two_outputs(x)
    assert len(r) == 2
    for i, port in enumerate(two_outputs.outputs):
        expected = x + 1 if i == 0 else x * 3
        np.testing.assert_array_equal(r[port], expected)
        np.testing.assert_array_equal(r[i], expected)
        np.testing.assert_array_equal(r[port.any_name], expected)
        np.testing.assert_array_equal(r.to_dict()[port], expected)
    with pytest.raises(KeyError):
        r["no such output"]
    with pytest.raises(IndexError):
        r[5]


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda x: x, id="ndarray"),
    pytest.param(lambda x: torch.from_numpy(x), id="torch"),
    pytest.param(lambda x: kiln.Tensor(x), id="kiln_tensor"),
    pytest.param(lambda x: [x], id="list"),
    pytest.param(lambda x: (torch.from_numpy(x),), id="tuple"),
    pytest.param(lambda x: {"x": x}, id="dict_by_name"),
    pytest.param(lambda x: {0: x}, id="dict_by_index"),
])
def test_call_spellings(two_outputs, wrap):
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    if isinstance(wrap(x), dict) and "x" in wrap(x):
        port = two_outputs.inputs[0]
        assert "x" in port.names, f"input names are {port.names}"
    r = two_outputs(wrap(x))
    np.testing.assert_allclose(r[0], x + 1, rtol=1e-6)
    np.testing.assert_allclose(r[1], x * 3, rtol=1e-6)


def test_call_by_port(two_outputs):
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(two_outputs({two_outputs.inputs[0]: x})[1], x * 3)


@pytest.mark.parametrize("key", ["port", "index", "name"])
def test_infer_request(two_outputs, key):
    req = two_outputs.create_infer_request()
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    in_key = {"port": two_outputs.inputs[0], "index": 0, "name": two_outputs.inputs[0].any_name}[key]
    req.set_tensor(in_key, x)
    r = req.infer()
    np.testing.assert_allclose(r[0], x + 1, rtol=1e-6)
    for i, port in enumerate(two_outputs.outputs):
        out_key = {"port": port, "index": i, "name": port.any_name}[key]
        t = req.get_tensor(out_key)
        assert isinstance(t, kiln.Tensor)
        np.testing.assert_allclose(np.asarray(t.data), x + 1 if i == 0 else x * 3, rtol=1e-6)
    if key != "index":  # an int key to get_tensor names an output, so inputs go by Port or name
        np.testing.assert_array_equal(np.asarray(req.get_tensor(in_key).data), x)
    # A second call on the same request with a new input replaces the old result.
    r2 = req.infer({"x": x * 0})
    np.testing.assert_array_equal(r2[1], np.zeros((2, 3), np.float32))


def test_infer_requests_are_independent(two_outputs):
    a, b = two_outputs.create_infer_request(), two_outputs.create_infer_request()
    a.set_tensor(0, np.ones((2, 3), np.float32))
    b.set_tensor(0, np.full((2, 3), 5, np.float32))
    a.infer()
    b.infer()
    np.testing.assert_array_equal(np.asarray(a.get_tensor(1).data), np.full((2, 3), 3, np.float32))
    np.testing.assert_array_equal(np.asarray(b.get_tensor(1).data), np.full((2, 3), 15, np.float32))


# ---------------------------------------------------------------------------------------------
# Bad input to a converted transformer: named inputs, dtypes, lengths past the position table,
# token ids outside the vocabulary. Every one is an error naming the input; none reads out of
# bounds or returns garbage.


@pytest.fixture(scope="module", params=["bert", "gpt2"])
def text_model(request):
    from hf_models import build, make_inputs
    model = build(request.param)
    km = convert(model, example_input=make_inputs(request.param, 2, 7, pad=True))
    feed = {k: v.numpy() for k, v in make_inputs(request.param, 1, 10, pad=False).items()}
    return request.param, CORE.compile_model(km, "CPU"), feed


def test_text_int32_ids_where_int64_declared(text_model):
    _, compiled, feed = text_model
    with pytest.raises(TypeError, match=r"input 'input_ids': expected element type i64, got i32"):
        compiled({**feed, "input_ids": feed["input_ids"].astype(np.int32)})


def test_text_float_mask(text_model):
    _, compiled, feed = text_model
    with pytest.raises(TypeError, match=r"input 'attention_mask': expected element type i64, got f32"):
        compiled({**feed, "attention_mask": feed["attention_mask"].astype(np.float32)})


def test_text_missing_and_unknown_inputs(text_model):
    _, compiled, feed = text_model
    with pytest.raises(ValueError, match=r"missing input\(s\) \['attention_mask'\]"):
        compiled({k: v for k, v in feed.items() if k != "attention_mask"})
    with pytest.raises(ValueError, match=r"no input named 'labels'"):
        compiled({**feed, "labels": feed["input_ids"]})


@pytest.mark.parametrize("bad", [99, 1000, -1])
def test_text_token_id_out_of_vocabulary(text_model, bad):
    """The table has 99 rows; torch raises IndexError, kiln a ValueError naming the input."""
    name, compiled, feed = text_model
    ids = feed["input_ids"].copy()
    ids[0, 3] = bad
    with pytest.raises(ValueError) as e:
        compiled({**feed, "input_ids": ids})
    msg = str(e.value)
    assert f"the embedding indices of input 'input_ids': {bad} at flat position 3 is out of range [0, 99)" in msg, msg
    assert "self.word_embeddings(input_ids)" in msg or "self.wte(input_ids)" in msg, msg
    # The compiled model is still usable after the error.
    assert compiled(feed)[0].shape[:2] == (1, 10)


def test_text_sequence_longer_than_position_table(text_model):
    """max_position_embeddings is 64: 70 tokens do not fit."""
    name, compiled, feed = text_model
    long = {k: np.concatenate([v] * 7, axis=1) for k, v in feed.items()}
    with pytest.raises(ValueError) as e:
        compiled(long)
    msg = str(e.value)
    assert "input shapes {input_ids: [1,70]" in msg and "do not fit the model" in msg, msg
    assert ("position_embeddings" in msg) if name == "bert" else ("self.wpe(position_ids)" in msg and "[0, 64)" in msg), msg
