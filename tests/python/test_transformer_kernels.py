"""The transformer kernels: the fused attention kernel (runtime/cpu/kernels/attention.cpp, reached
through passes/fuse_attention.cpp), the fused layer norm (passes/fuse_layer_norm.cpp) and the bf16
paths (INFERENCE_PRECISION_HINT=bf16).

- torch.nn.functional.scaled_dot_product_attention in each form (masks of every broadcast shape,
  causal with L != S, explicit scale, grouped-query heads, odd sizes, L = 1, S = 1), converted with
  kiln.convert_model and compared with torch at rtol = atol = 1e-4, and checked to run on the
  fused kernel (kernel_summary), not on MatMul / Softmax;
- the bf16 hint against torch f32: MatMuls and the attention's two products round their inputs
  to bf16 (8 significant bits) and accumulate in f32, so the tolerance is relative to the
  output's scale, 2e-2 * max |torch| per op, 3e-2 per model (OpenVINO's own bf16 default reaches
  1.6e-2 on BERT-base);
- Hugging Face BERT, GPT-2 (with its cache) and Llama, from small configs: every attention of their
  plans runs on the fused kernel, and the model still matches torch.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kiln

ATTN_KERNELS = {"avx512_attention", "avx2_attention", "avx512_bf16_attention"}
# FusedScaledDotProductAttention: the op reading / writing [B, L, H, E] across head transposes.
ATTN_OPS = {"ScaledDotProductAttention", "FusedScaledDotProductAttention"}


class Sdpa(torch.nn.Module):
    def __init__(self, causal=False, scale=None, gqa=False):
        super().__init__()
        self.causal, self.scale, self.gqa = causal, scale, gqa

    def forward(self, q, k, v, mask=None):
        kw = {"enable_gqa": True} if self.gqa else {}
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal, scale=self.scale, **kw)


def bool_mask(shape, seed):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(shape, generator=g) > 0.3
    m[..., 0] = True  # no row fully masked (torch and kiln would both give NaN, not a test of much)
    return m


def float_mask(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 2


def has_bf16():
    flags = open("/proc/cpuinfo").read()
    return "avx512_bf16" in flags


def kernels_of(compiled, feed):
    return [(t, k) for t, _, k in compiled.kernel_summary([list(x.shape) for x in feed])]


def run_kiln(module, inputs, config=None):
    km = kiln.convert_model(module, example_input=tuple(inputs))
    compiled = kiln.Core().compile_model(km, "CPU", config or {})
    feed = [x.numpy() for x in inputs]
    return compiled(feed)[0], kernels_of(compiled, feed)


# (id, q shape, k shape, v shape, mask: None | ("bool"|"float", shape), module kwargs)
SDPA_CASES = [
    ("plain", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), None, {}),
    ("odd-dims", (1, 2, 9, 17), (1, 2, 33, 17), (1, 2, 33, 5), None, {}),
    ("L1", (1, 4, 1, 16), (1, 4, 19, 16), (1, 4, 19, 16), None, {}),
    ("S1", (1, 4, 6, 16), (1, 4, 1, 16), (1, 4, 1, 16), None, {}),
    ("long-S", (1, 2, 3, 16), (1, 2, 300, 16), (1, 2, 300, 16), None, {}),
    ("rank3", (3, 5, 8), (3, 7, 8), (3, 7, 8), None, {}),
    ("bool-LS", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("bool", (5, 7)), {}),
    ("bool-padding", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("bool", (2, 1, 1, 7)), {}),
    ("bool-full", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("bool", (2, 3, 5, 7)), {}),
    ("float-S", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("float", (1, 7)), {}),
    ("float-heads", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("float", (3, 5, 7)), {}),
    ("float-rows", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("float", (2, 1, 5, 1)), {}),
    ("causal", (1, 2, 6, 8), (1, 2, 6, 8), (1, 2, 6, 8), None, {"causal": True}),
    ("causal-L<S", (1, 2, 4, 8), (1, 2, 9, 8), (1, 2, 9, 8), None, {"causal": True}),
    ("causal-L>S", (1, 2, 9, 8), (1, 2, 4, 8), (1, 2, 4, 8), None, {"causal": True}),
    ("scale", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), ("float", (2, 1, 5, 7)), {"scale": 0.3}),
    ("scale-nomask", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), None, {"scale": 1.7}),
    ("gqa", (1, 8, 5, 16), (1, 2, 7, 16), (1, 2, 7, 16), None, {"gqa": True}),
    ("gqa-causal", (1, 6, 5, 16), (1, 3, 5, 16), (1, 3, 5, 16), None, {"gqa": True, "causal": True}),
    ("mqa-broadcast", (2, 4, 5, 16), (2, 1, 7, 16), (2, 1, 7, 16), ("bool", (2, 1, 1, 7)), {}),
    ("parallel", (2, 12, 70, 64), (2, 12, 70, 64), (2, 12, 70, 64), ("float", (2, 1, 1, 70)), {}),
]


@pytest.mark.parametrize("case", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
def test_sdpa_matches_torch_on_the_fused_kernel(case):
    _, qs, ks, vs, mask, kw = case
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(s, generator=g) for s in (qs, ks, vs))
    inputs = [q, k, v]
    if mask:
        inputs.append(bool_mask(mask[1], 1) if mask[0] == "bool" else float_mask(mask[1], 1))
    module = Sdpa(**kw).eval()
    want = module(*inputs).numpy()
    got, kernels = run_kiln(module, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # Grouped-query attention reads its key and value heads unrepeated (no Broadcast copies).
    want_op = "FusedScaledDotProductAttention" if kw.get("gqa") else "ScaledDotProductAttention"
    assert [t for t, k in kernels if k in ATTN_KERNELS] == [want_op], kernels
    assert not any(t in ("Softmax", "MatMul", "Broadcast") for t, _ in kernels), kernels


def test_sdpa_bf16_hint():
    """With the hint, Q K^T and P V take bf16 operands (f32 softmax and accumulation); a single
    query row (a decoding step) stays f32."""
    g = torch.Generator().manual_seed(0)
    for L in (9, 1):
        inputs = [torch.randn(1, 4, L, 16, generator=g)] + [torch.randn(1, 4, 9, 16, generator=g) for _ in range(2)]
        want = Sdpa()(*inputs).numpy()
        got, kernels = run_kiln(Sdpa().eval(), inputs, {"INFERENCE_PRECISION_HINT": "bf16"})
        assert np.abs(got - want).max() <= 2e-2 * np.abs(want).max()
        name = [k for t, k in kernels if t == "ScaledDotProductAttention"]
        if has_bf16():
            assert name == (["avx512_bf16_attention"] if L > 1 else ["avx512_attention"]), kernels


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(48, 130)
        self.b = torch.nn.Linear(130, 7, bias=False)

    def forward(self, x):
        return self.b(F.gelu(self.a(x))) + x[..., :7]


@pytest.mark.parametrize("shape", [(1, 48), (3, 48), (2, 33, 48)])
def test_bf16_matmul_against_torch(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    m = Mlp().eval()
    want = m(x).detach().numpy()
    got, kernels = run_kiln(m, [x], {"INFERENCE_PRECISION_HINT": "bf16"})
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 2e-2
    mm = {k for t, k in kernels if "MatMul" in t}
    if has_bf16():
        assert mm == {"onednn_matmul_packed_bf16"}, kernels
        assert err > 1e-6  # it did round (an f32 run would agree to ~1e-7)
    got32, kernels32 = run_kiln(m, [x])
    np.testing.assert_allclose(got32, want, rtol=1e-4, atol=1e-4)
    assert "onednn_matmul_packed_bf16" not in {k for _, k in kernels32}


# --- Hugging Face models: their attention reaches the fused kernel -------------------------------

def _hf(name):
    import transformers as T
    torch.manual_seed(0)
    if name == "bert":
        cfg = T.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                           vocab_size=99, max_position_embeddings=64)
        model = T.BertModel(cfg).eval()
        ids = torch.randint(0, 99, (2, 11), generator=torch.Generator().manual_seed(0))
        mask = torch.ones_like(ids)
        mask[1, 7:] = 0
        return model, {"input_ids": ids, "attention_mask": mask}, 2
    if name == "llama":
        cfg = T.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                            intermediate_size=37, vocab_size=99, max_position_embeddings=64)
        model = T.LlamaForCausalLM(cfg).eval()
        ids = torch.randint(0, 99, (1, 9), generator=torch.Generator().manual_seed(0))
        return model, {"input_ids": ids}, 2
    cfg = T.GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=99, n_positions=64)
    model = T.GPT2LMHeadModel(cfg).eval()
    g = torch.Generator().manual_seed(0)
    past = T.DynamicCache(ddp_cache_data=[(torch.randn(1, 4, 5, 8, generator=g), torch.randn(1, 4, 5, 8, generator=g))
                                          for _ in range(2)])
    return model, {"input_ids": torch.tensor([[7]]), "attention_mask": torch.ones(1, 6, dtype=torch.int64),
                   "past_key_values": past}, 2


def _fresh(inputs):
    from transformers import DynamicCache
    return {k: DynamicCache(ddp_cache_data=[(l.keys, l.values) for l in v.layers]) if isinstance(v, DynamicCache) else v
            for k, v in inputs.items()}


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
@pytest.mark.parametrize("precision", ["f32", "bf16"])
def test_hf_attention_runs_fused(name, precision):
    from kiln.frontend.torch.inputs import normalize_example
    model, inputs, layers = _hf(name)
    with torch.no_grad():
        out = model(**_fresh(inputs))
    want = (out.last_hidden_state if hasattr(out, "last_hidden_state") and out.last_hidden_state is not None
            else out.logits).numpy()
    km = kiln.convert_model(model, example_input=_fresh(inputs))
    config = {"INFERENCE_PRECISION_HINT": "bf16"} if precision == "bf16" else {}
    compiled = kiln.Core().compile_model(km, "CPU", config)
    flat = normalize_example(_fresh(inputs), None)
    feed = {n: t.numpy() for n, t in zip(flat.names, flat.tensors)}
    got = compiled(feed)[0]
    tol = 1e-3 if precision == "f32" else 3e-2
    assert np.abs(got - want).max() <= tol * np.abs(want).max()
    kernels = compiled.kernel_summary([list(v.shape) for v in feed.values()])
    fused = [k for t, _, k in kernels if t in ATTN_OPS]
    assert len(fused) == layers and set(fused) <= ATTN_KERNELS, kernels
    assert not any(t == "Softmax" for t, _, _ in kernels)
    if name == "bert":  # q, k and v read across their head transposes
        assert [t for t, _, _ in kernels].count("FusedScaledDotProductAttention") == layers, kernels
    if name == "bert":  # post-LN: MVN -> Multiply -> Add, every one fused
        assert [t for t, _, _ in kernels].count("FusedMVN") == 2 * layers + 1, kernels
        assert not any(t == "MVN" for t, _, _ in kernels)
    if name == "gpt2":  # gelu_new written as ops: one Gelu, taken into the MLP's MatMul as a post-op
        assert not any(t in ("Tanh", "Power", "Gelu") for t, _, _ in kernels), kernels
    if name == "llama":  # grouped-query attention (4 query heads, 2 key/value heads): no repeated copies
        assert not any(t == "Broadcast" for t, _, _ in kernels), kernels
        assert [t for t, _, _ in kernels].count("FusedScaledDotProductAttention") == layers, kernels
    if name == "llama":  # RMSNorm as HF writes it (pow, mean, rsqrt, multiplies): one kernel each
        rms = [k for t, _, k in kernels if t == "FusedRMSNorm"]
        assert len(rms) == 2 * layers + 1 and all(k.endswith("_rms_norm") for k in rms), kernels
        assert not any(t in ("ReduceMean", "Sqrt") for t, _, _ in kernels), kernels


@pytest.mark.parametrize("shape", [(2, 7, 64), (3, 1), (1, 4, 4096)])
def test_torch_rms_norm_runs_one_kernel(shape):
    # nn.RMSNorm (aten::rms_norm): converted, fused, and equal to torch.
    torch.manual_seed(0)
    m = torch.nn.RMSNorm(shape[-1], eps=1e-5).eval()
    with torch.no_grad():
        m.weight.copy_(torch.rand(shape[-1]) + 0.5)
    x = torch.randn(*shape) * 3 + 1
    compiled = kiln.Core().compile_model(kiln.convert_model(m, example_input=x), "CPU")
    np.testing.assert_allclose(compiled([x.numpy()])[0], m(x).detach().numpy(), rtol=2e-5, atol=2e-5)
    kernels = compiled.kernel_summary([list(shape)])
    assert [t for t, _, _ in kernels] == ["FusedRMSNorm"], kernels


def test_fused_forms_are_not_written(tmp_path):
    model, inputs, _ = _hf("bert")
    km = kiln.convert_model(model, example_input=inputs)
    runtime = kiln.Core().compile_model(km, "CPU").runtime_model()
    types = {op.type_name for op in runtime.get_ops()}
    assert {"FusedMVN", "FusedScaledDotProductAttention"} <= types
    with pytest.raises(kiln.IRError, match=r"cannot save \[Fused"):
        kiln.save_model(runtime, tmp_path / "m.xml")
