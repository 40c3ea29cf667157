"""The torch.export capture path: ExportedPrograms, .pt2 files, capture="export" and "auto", dynamic
dims with their bounds, checked against torch eager (and against the ExportedProgram's own module).
Models of every family through export are in test_zoo.py and test_transformers.py."""
import warnings

import numpy as np
import pytest
import torch
import torchvision
import transformers
from torch.export import Dim

import kiln

CORE = kiln.Core()


def run(model, inputs):
    compiled = CORE.compile_model(model, "CPU")
    return compiled, compiled(inputs)


def tiny_bert():
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                  vocab_size=99, max_position_embeddings=64)
    return transformers.BertModel(cfg).eval()


def bert_inputs(batch, seq, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[0, -2:] = 0
    return {"input_ids": torch.randint(3, 99, (batch, seq), generator=g), "attention_mask": mask}


def assert_matches(compiled, got, expected: dict, rel=1e-3):
    for port in compiled.outputs:
        r = expected[port.any_name].detach().numpy()
        g = got[port]
        assert g.shape == r.shape, f"{port.any_name}: {g.shape} != torch {r.shape}"
        err = float(np.abs(g - r).max())
        assert err <= rel * float(np.abs(r).max()), f"{port.any_name}: max |kiln - torch| {err:.3g}"


def assert_bert_matches(compiled, model, x):
    with torch.no_grad():
        ref = model(**x)
    assert_matches(compiled, compiled(x), {"last_hidden_state": ref.last_hidden_state,
                                           "pooler_output": ref.pooler_output})


def test_exported_program_with_bounded_dims():
    model = tiny_bert()
    seq = Dim("seq", min=3, max=64)
    ep = torch.export.export(model, (), bert_inputs(2, 7), dynamic_shapes={"input_ids": {1: seq}, "attention_mask": {1: seq}})
    km = kiln.convert_model(ep)
    assert [p.any_name for p in km.inputs] == ["input_ids", "attention_mask"]
    assert [p.any_name for p in km.outputs] == ["last_hidden_state", "pooler_output"]
    for p in km.inputs:
        shape = p.get_partial_shape()
        assert shape[0].get_length() == 2
        assert (shape[1].min_length, shape[1].max_length) == (3, 64), str(shape)
    compiled = CORE.compile_model(km, "CPU")
    for n in (5, 23):
        x = bert_inputs(2, n, seed=n)
        assert_bert_matches(compiled, model, x)
    # outside the bounds torch.export gave: kiln refuses, as the program's own module does
    with pytest.raises(Exception, match="input_ids|shape"):
        compiled(bert_inputs(2, 65))


def test_pt2_file(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 48, 48)
    batch = Dim("batch", min=1, max=8)
    ep = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    path = tmp_path / "resnet18.pt2"
    torch.export.save(ep, path)
    km = kiln.convert_model(path)
    # min=1: torch's program takes 0 and 1 for lower bounds up to 2, and so does kiln
    assert str(km.inputs[0].get_partial_shape()) == "[0..8,3,48,48]"
    compiled = CORE.compile_model(km, "CPU")
    for b in (1, 3):
        xb = torch.randn(b, 3, 48, 48)
        with torch.no_grad():
            ref = model(xb).numpy()
        got = compiled(xb.numpy())[compiled.outputs[0]]
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    km2 = kiln.convert_model(str(path))  # a str path too
    assert len(km2.get_ops()) == len(km.get_ops())


def test_pt2_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        kiln.convert_model(tmp_path / "missing.pt2")
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(kiln.ConversionError, match="torch.export.save"):
        kiln.convert_model(bad)


def test_capture_export_with_input_dims():
    model = tiny_bert()
    km = kiln.convert_model(model, example_input=bert_inputs(2, 7), capture="export",
                            input={"input_ids": [2, (3, 40)], "attention_mask": [2, (3, 40)]})
    for p in km.inputs:
        assert str(p.get_partial_shape()) == "[2,3..40]"
    assert [p.any_name for p in km.outputs] == ["last_hidden_state", "pooler_output"]
    compiled = CORE.compile_model(km, "CPU")
    x = bert_inputs(2, 11, seed=3)
    assert_bert_matches(compiled, model, x)


def test_capture_export_needs_an_example():
    with pytest.raises(kiln.ConversionError, match="example_input"):
        kiln.convert_model(torch.nn.ReLU(), capture="export")
    with pytest.raises(ValueError, match="capture="):
        kiln.convert_model(torch.nn.ReLU(), example_input=torch.zeros(2), capture="onnx")


def test_capture_export_dynamic_dim_export_cannot_keep():
    # input= asks for a dynamic dim the model fixes (a reshape to 3 x 4): export's own error
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x.reshape(3, 4) * 2

    with pytest.raises(kiln.ConversionError, match="torch.export failed"):
        kiln.convert_model(Fixed(), example_input=torch.zeros(12), input=[[-1]], capture="export")


def _no_torchscript(monkeypatch):
    def gone(*a, **k):
        raise RuntimeError("TorchScript is not available in this torch")
    monkeypatch.setattr(torch.jit, "trace", gone)
    monkeypatch.setattr(torch.jit, "script", gone)


def test_auto_uses_export_when_torchscript_is_gone(monkeypatch):
    model = tiny_bert()
    _no_torchscript(monkeypatch)
    km = kiln.convert_model(model, example_input=bert_inputs(2, 7))  # capture="auto"
    compiled = CORE.compile_model(km, "CPU")
    x = bert_inputs(3, 9, seed=1)
    assert_bert_matches(compiled, model, x)
    with pytest.raises(kiln.ConversionError, match="TorchScript is not available"):
        kiln.convert_model(model, example_input=bert_inputs(2, 7), capture="torchscript")


def test_auto_names_every_failure(monkeypatch):
    _no_torchscript(monkeypatch)

    def no_export(*a, **k):
        raise RuntimeError("export is broken too")
    monkeypatch.setattr(torch.export, "export", no_export)
    with pytest.raises(kiln.ConversionError) as e:
        kiln.convert_model(torch.nn.ReLU(), example_input=torch.zeros(2))
    text = str(e.value)
    assert "tracing failed" in text and "scripting failed" in text and "export is broken too" in text, text


def test_auto_keeps_torchscript_where_it_works(monkeypatch):
    calls = []
    real = torch.export.export
    monkeypatch.setattr(torch.export, "export", lambda *a, **k: calls.append(1) or real(*a, **k))
    kiln.convert_model(torch.nn.Linear(3, 4).eval(), example_input=torch.zeros(2, 3))
    assert calls == []


def test_parameters_are_shared_not_copied():
    # The constants of the converted model borrow the program's parameter memory: changing a
    # parameter in place after conversion shows in kiln's result (as on the TorchScript path).
    model = torch.nn.Linear(4, 3).eval()
    x = torch.randn(2, 4)
    ep = torch.export.export(model, (x,))
    km = kiln.convert_model(ep)
    compiled = CORE.compile_model(km, "CPU")
    before = compiled(x.numpy())[compiled.outputs[0]]
    np.testing.assert_allclose(before, model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    w = ep.state_dict["weight"]
    assert w.data_ptr() == model.weight.data_ptr()


def test_scalar_and_structured_inputs():
    class M(torch.nn.Module):
        def forward(self, pair, scale: float):
            a, b = pair
            return {"sum": a + b * scale, "prod": a * b}

    m = M()
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    ep = torch.export.export(m, ((a, b), 0.5))
    km = kiln.convert_model(ep)
    compiled = CORE.compile_model(km, "CPU")
    got = compiled([a.numpy(), b.numpy()])
    ref = m((a, b), 0.5)
    names = [p.any_name for p in compiled.outputs]
    assert names == ["sum", "prod"], names
    np.testing.assert_allclose(got[compiled.outputs[0]], ref["sum"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[compiled.outputs[1]], ref["prod"].numpy(), rtol=1e-6)


def test_exported_module_method_and_buffers():
    # buffers (persistent and not) and a lifted tensor constant reach kiln as constants
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.tensor([1.0, 2.0, 3.0]))
            self.register_buffer("shift", torch.tensor([0.5, 0.0, -0.5]), persistent=False)

        def forward(self, x):
            return x * self.scale + self.shift + torch.tensor([10.0, 20.0, 30.0])

    m = M().eval()
    x = torch.randn(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(m, (x,))
    compiled = CORE.compile_model(kiln.convert_model(ep), "CPU")
    np.testing.assert_allclose(compiled(x.numpy())[compiled.outputs[0]], m(x).numpy(), rtol=1e-6)


def test_buffer_and_input_mutations_warn():
    # kiln keeps no state: a program that writes a buffer or an input says so once at conversion,
    # and the converted model computes what torch's next call computes
    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", torch.zeros(()))

        def forward(self, x):
            self.count += 1
            return x * self.count

    class WritesInput(torch.nn.Module):
        def forward(self, x):
            x.add_(1)
            return x * 2

    module = Counting()
    ep = torch.export.export(module, (torch.randn(2, 3),))
    with pytest.warns(UserWarning, match="writes buffer 'count' in place.*keeps no state"):
        model = kiln.convert_model(ep)
    x = torch.randn(2, 3)
    _, got = run(model, [x.numpy()])
    np.testing.assert_allclose(got[0], module(x).numpy(), rtol=1e-6)  # torch's first call: count 1
    with pytest.warns(UserWarning, match="writes input 'x' in place"):
        kiln.convert_model(torch.export.export(WritesInput(), (torch.randn(2),)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kiln.convert_model(torch.export.export(torch.nn.Linear(2, 2), (torch.randn(1, 2),)))


def test_shared_dims_are_one_dimension_in_memory_and_in_ir_files(tmp_path):
    # input_ids and attention_mask share export's `seq`: unequal lengths are refused, naming both,
    # and the groups survive kiln.save_model / read_model (model-level rt_info OpenVINO ignores)
    model = tiny_bert()
    seq = Dim("seq", min=3, max=64)
    ep = torch.export.export(model, (), bert_inputs(2, 7), dynamic_shapes={"input_ids": {1: seq}, "attention_mask": {1: seq}})
    km = kiln.convert_model(ep)
    groups = [sorted(tuple(m) for m in g) for g in km.equal_input_dims]
    assert groups == [[(0, 1), (1, 1)]], km.equal_input_dims
    x = bert_inputs(2, 9)
    bad = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"][:, :8]}
    xml = tmp_path / "bert.xml"
    kiln.save_model(km, str(xml))
    read = CORE.read_model(str(xml))
    assert [sorted(tuple(m) for m in g) for g in read.equal_input_dims] == groups
    for m in (km, read):
        compiled = CORE.compile_model(m, "CPU")
        assert_bert_matches(compiled, model, x)
        with pytest.raises(ValueError, match="'attention_mask' dim 1 \\(8\\) and input 'input_ids' dim 1 \\(9\\)"
                                             ".*one dimension of the model"):
            compiled(bad)
    ov = pytest.importorskip("openvino")
    got = ov.Core().compile_model(ov.Core().read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(
        {k: v.numpy() for k, v in x.items()})
    want = CORE.compile_model(read, "CPU")(x)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)
    # a damaged group is an IR error naming the entry
    text = xml.read_text().replace('value="0:1,1:1"', 'value="0:1,7"')
    (tmp_path / "bad.xml").write_text(text)
    (tmp_path / "bad.bin").write_bytes((tmp_path / "bert.bin").read_bytes())
    with pytest.raises(Exception, match="kiln_equal_input_dims: '7' is not input:axis"):
        CORE.read_model(str(tmp_path / "bad.xml"))
