"""torch.compile(model, backend="kiln"): whole models and fallbacks against torch eager.

Each test compiles a tiny model with backend="kiln" and compares with the same model run by torch
eager (never kiln against itself); compile_backend.reports() shows where the nodes ran.
"""
import importlib.metadata
import os
import subprocess
import sys
import warnings

import pytest
import torch

import kiln  # noqa: F401  (registers the backend in this process)
from kiln.frontend.torch import compile_backend as cb
from model_check import assert_close

BOUND = 1e-3  # whole FP32 models (DESIGN.md): max |kiln - torch| <= 1e-3 * max |torch|


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    cb.clear_reports()
    yield
    torch._dynamo.reset()


def _fallback_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, cb.KilnFallbackWarning)]


def _tiny_bert():
    import transformers
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                  vocab_size=99, max_position_embeddings=64)
    return transformers.BertModel(cfg).eval()


def _bert_inputs(batch, seq):
    ids = torch.randint(1, 99, (batch, seq))
    mask = torch.ones_like(ids)
    mask[0, seq // 2:] = 0  # padding: the attention mask matters
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_resnet18():
    import torchvision
    model = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got = torch.compile(model, backend="kiln")(x)
        want = model(x)
    assert_close(got.numpy(), want.numpy(), BOUND, "resnet18 torch.compile(backend='kiln')")
    (rep,) = cb.reports()
    assert rep.kiln_partitions == 1 and rep.torch == {}, rep  # the whole graph runs in kiln
    assert rep.kiln[0].inputs == ["[1,3,64,64]"]  # weights are constants, not inputs


def test_bert():
    model = _tiny_bert()
    inputs = _bert_inputs(2, 16)
    with torch.no_grad():
        got = torch.compile(model, backend="kiln")(**inputs)
        want = model(**inputs)
    for key in ("last_hidden_state", "pooler_output"):
        assert_close(got[key].numpy(), want[key].numpy(), BOUND, f"tiny BERT {key}")
    (rep,) = cb.reports()
    assert rep.kiln_partitions == 1 and rep.torch == {}, rep
    ops = rep.kiln[0].ops
    assert ops.get("aten::scaled_dot_product_attention") == 2 and ops.get("aten::layer_norm") == 5, ops


# Ops kiln has no translator for today; the test takes the first that is still missing (a later
# translator moves it on to the next).
_MISSING = [("aten::special_airy_ai", lambda h: torch.special.airy_ai(h)),
            ("aten::special_chebyshev_polynomial_t", lambda h: torch.special.chebyshev_polynomial_t(h, 3)),
            ("aten::linalg_matrix_exp", lambda h: h * torch.linalg.matrix_exp(h[:, :4] @ h[:, :4].mT * 0.1)[:, :1]),
            ("aten::linalg_householder_product", lambda h: h * torch.linalg.householder_product(h.mT, h[0, :4]).sum())]


class _WithMissingOp(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.a = torch.nn.Linear(8, 16)
        self.b = torch.nn.Linear(16, 8)

    def forward(self, x):
        h = self.fn(torch.relu(self.a(x)))
        return self.b(h).softmax(-1)


def test_op_kiln_lacks_runs_in_torch():
    from kiln._kiln import _has_torch_translator
    missing = [(k, f) for k, f in _MISSING if not _has_torch_translator(k)]
    if not missing:
        pytest.skip("kiln translates every op of the list: add one it lacks")
    kind, fn = missing[0]
    model = _WithMissingOp(fn).eval()
    x = torch.randn(4, 8)
    with torch.no_grad(), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = torch.compile(model, backend="kiln")(x)
        want = model(x)
    assert_close(got.numpy(), want.numpy(), BOUND, f"a model with {kind}")
    (rep,) = cb.reports()
    assert rep.torch == {kind: cb._NO_TRANSLATOR}, rep.torch
    assert rep.kiln_partitions == 2, rep  # before and after the op
    assert any(kind in w for w in _fallback_warnings(record)), record


class _VolumeSample(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)

    def forward(self, x):
        h = torch.relu(self.a(x))
        grid = torch.tanh(h[:, :3]).reshape(1, 1, 1, 4, 3)
        # kiln: ConversionError (its GridSample is 2-D, as the opset's)
        v = torch.nn.functional.grid_sample(h.reshape(1, 1, 2, 2, 8), grid, align_corners=False)
        return self.b(h).softmax(-1) * v.sum()


def test_op_kiln_fails_to_convert_runs_in_torch():
    """An op kiln translates but cannot convert in this form (a volumetric grid_sample) runs in
    torch; the partition is made again without it and the rest runs in kiln."""
    model = _VolumeSample().eval()
    x = torch.randn(4, 8)
    with torch.inference_mode(), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = torch.compile(model, backend="kiln")(x)
        want = model(x)
    assert_close(got.numpy(), want.numpy(), BOUND, "a model with a volumetric grid_sample")
    (rep,) = cb.reports()
    assert list(rep.torch) == ["aten::grid_sampler"] and "only 4-D inputs" in rep.torch["aten::grid_sampler"], rep.torch
    assert rep.kiln_partitions == 2, rep  # the partition is made again without the op
    assert any("aten::grid_sampler" in w and "only 4-D inputs" in w for w in _fallback_warnings(record)), record


def test_partition_kiln_fails_on_runs_in_torch(monkeypatch):
    import kiln._kiln as native

    def refuse(desc):
        raise RuntimeError("an error that names no op")

    monkeypatch.setattr(native, "_translate_torch_graph", refuse)
    model = _VolumeSample().eval()
    x = torch.randn(4, 8)
    with torch.no_grad(), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = torch.compile(model, backend="kiln")(x)
        want = model(x)
    assert torch.equal(got, want) or torch.allclose(got, want, rtol=1e-6, atol=1e-6)
    (rep,) = cb.reports()
    assert rep.kiln_partitions == 0
    assert any("an error that names no op" in w for w in _fallback_warnings(record)), record


def test_small_partition_stays_in_torch():
    assert not kiln._kiln._has_torch_translator("aten::special_airy_ai"), "kiln has airy_ai now: pick another op"

    def fn(t):
        return torch.special.airy_ai(t)

    def f(x):
        return fn(fn(x).view(-1) + 1.0)  # a view and one add between two ops kiln lacks

    x = torch.rand(3, 4) + 0.5
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", cb.KilnFallbackWarning)
        got = torch.compile(f, backend="kiln")(x)
    assert torch.allclose(got, f(x), rtol=1e-6, atol=0)
    (rep,) = cb.reports()
    assert rep.kiln_partitions == 0 and "too small" in rep.torch["aten::add"], rep


@pytest.mark.parametrize("dynamic", [False, True])
def test_new_input_shapes(dynamic):
    model = _tiny_bert()
    compiled = torch.compile(model, backend="kiln", dynamic=dynamic)
    with torch.no_grad():
        for batch, seq in [(2, 16), (3, 9)]:
            inputs = _bert_inputs(batch, seq)
            got = compiled(**inputs).last_hidden_state
            want = model(**inputs).last_hidden_state
            assert_close(got.numpy(), want.numpy(), BOUND, f"tiny BERT dynamic={dynamic} [{batch}, {seq}]")
    reps = cb.reports()
    if dynamic:
        # one graph with symbolic sizes: one kiln model with dynamic dims (dynamo's bounds) re-plans
        assert len(reps) == 1, reps
        assert all("?" in s or ".." in s for s in reps[0].kiln[0].inputs), reps[0].kiln[0].inputs
    else:
        # each new shape is a recompile with static shapes (dynamo's convention)
        assert len(reps) == 2, reps
        assert [r.kiln[0].inputs for r in reps] == [["[2,16]"] * 3, ["[3,9]"] * 3], reps


def test_options():
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
    x = torch.randn(5, 8)
    with torch.no_grad():
        got = torch.compile(model, backend="kiln", options={"threads": 1, "precision": "f32"})(x)
        assert_close(got.numpy(), model(x).numpy(), BOUND, "threads=1")
        assert cb.compile_config({"threads": 1}) == {"INFERENCE_NUM_THREADS": 1}
        torch._dynamo.reset()
        with pytest.raises(Exception, match="unknown option 'thread'; kiln takes num_threads"):
            torch.compile(model, backend="kiln", options={"thread": 1})(x)
        torch._dynamo.reset()
        with pytest.raises(Exception, match="must be an int >= 0"):
            torch.compile(model, backend="kiln", options={"threads": -1})(x)


def test_weights_reach_kiln_without_a_copy():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert_close(torch.compile(model, backend="kiln")(x).numpy(), model(x).numpy(), BOUND, "conv-bn-relu")
    (part,) = [p for p in cb._live if p.compiled is not None and any(t is model[0].weight for t in p.const_pos.values())]
    shared = {t.data_ptr() for t in part._describe()[4].values() if isinstance(t, torch.Tensor)}
    weights = {t.data_ptr() for t in model.state_dict().values() if t.dtype.is_floating_point}
    assert weights <= shared  # the parameters and BN statistics themselves, not copies


def test_weights_changed_after_compile():
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)).eval()
    x = torch.randn(4, 8)
    compiled = torch.compile(model, backend="kiln")
    with torch.no_grad():
        compiled(x)
        model[0].weight.mul_(2)                                # in place: the version counter moves
        assert_close(compiled(x).numpy(), model(x).numpy(), BOUND, "after weight.mul_")
        model[2].weight = torch.nn.Parameter(torch.randn(8, 16))  # replaced
        assert_close(compiled(x).numpy(), model(x).numpy(), BOUND, "after a new weight")


def test_autograd_runs_in_torch():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh()).eval()
    x = torch.randn(2, 8)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = torch.compile(model, backend="kiln")(x)
    assert got.requires_grad and torch.allclose(got, model(x))
    assert any("inference only" in w for w in _fallback_warnings(record)), record


_SNIPPET = """
import sys, torch
f = torch.compile(lambda x: torch.nn.functional.gelu(x @ x.T).softmax(-1) * 2 + 1, backend="kiln")
with torch.no_grad():
    x = torch.randn(4, 4)
    ok = torch.allclose(f(x), torch.nn.functional.gelu(x @ x.T).softmax(-1) * 2 + 1, rtol=1e-4, atol=1e-5)
print(ok, "kiln" in sys.modules)
"""


def test_backend_found_without_importing_kiln():
    eps = importlib.metadata.entry_points(group="torch_dynamo_backends")
    assert "kiln" in eps.names, "the installed kiln declares no torch_dynamo_backends entry point (run build.sh)"
    r = subprocess.run([sys.executable, "-c", _SNIPPET], capture_output=True, text=True, timeout=240,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"}, cwd="/")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-2:] == ["True", "True"], r.stdout


def test_registered_by_import_kiln():
    # kiln imported before torch._dynamo: the registry has kiln as soon as torch loads it
    code = ("import kiln, sys; assert 'torch._dynamo' not in sys.modules; "
            "from torch._dynamo.backends import registry; print(registry._BACKENDS.get('kiln'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd="/")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "kiln.frontend.torch.compile_backend:kiln_backend" in r.stdout, r.stdout
