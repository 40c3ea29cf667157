"""Decoders with a KV cache: a causal LM converted with `past_key_values` in its example takes the
cache as named inputs (past_key_values.<layer>.key/value) and returns the grown cache as named
outputs (present.<layer>.key/value). A greedy loop written against kiln (the README's) produces the
same 20 tokens as torch's own `generate` from the same prompt, the cache growing from length 0 to
the full length in one converted model.
"""
import warnings

import numpy as np
import pytest
import torch
import transformers as T
from transformers import DynamicCache

import kiln

SMALL = dict(vocab_size=99, bos_token_id=0, eos_token_id=98, pad_token_id=0, initializer_range=0.5)
MODELS = {
    "gpt2": (T.GPT2LMHeadModel, T.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, **SMALL)),
    "llama": (T.LlamaForCausalLM, T.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                 num_key_value_heads=2, intermediate_size=37,
                                                 max_position_embeddings=64, **SMALL)),
    "qwen2": (T.Qwen2ForCausalLM, T.Qwen2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                num_key_value_heads=2, intermediate_size=37,
                                                max_position_embeddings=64, **SMALL)),
}


def kv_shape(config, batch, length):
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return (batch, heads, length, config.hidden_size // config.num_attention_heads)


def convert_with_cache(model):
    """The example: 2 new tokens after a cache of 3, so every cache dim is seen as a variable."""
    cfg = model.config
    past = DynamicCache(ddp_cache_data=[(torch.randn(kv_shape(cfg, 1, 3)), torch.randn(kv_shape(cfg, 1, 3)))
                                        for _ in range(cfg.num_hidden_layers)])
    example = {"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.ones(1, 5, dtype=torch.int64),
               "past_key_values": past}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kiln.convert_model(model, example_input=example)


def greedy(compiled, prompt: np.ndarray, new_tokens: int, layers: int, empty_kv: tuple) -> list:
    """Greedy decoding against a kiln model with a KV cache (the loop shown in the README)."""
    feed = {"input_ids": prompt, "attention_mask": np.ones_like(prompt)}
    for i in range(layers):
        feed[f"past_key_values.{i}.key"] = np.zeros(empty_kv, np.float32)
        feed[f"past_key_values.{i}.value"] = np.zeros(empty_kv, np.float32)
    tokens = []
    for _ in range(new_tokens):
        out = compiled(feed)
        nxt = int(out["logits"][0, -1].argmax())
        tokens.append(nxt)
        feed["input_ids"] = np.array([[nxt]])
        feed["attention_mask"] = np.ones((1, feed["attention_mask"].shape[1] + 1), np.int64)
        for i in range(layers):
            feed[f"past_key_values.{i}.key"] = out[f"present.{i}.key"]
            feed[f"past_key_values.{i}.value"] = out[f"present.{i}.value"]
    return tokens


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", list(MODELS))
def test_greedy_generation_matches_torch(name, attn):
    cls, cfg = MODELS[name]
    cfg._attn_implementation = attn
    torch.manual_seed(0)
    model = cls(cfg).eval()
    km = convert_with_cache(model)
    layers = cfg.num_hidden_layers
    assert [p.any_name for p in km.inputs] == ["input_ids", "attention_mask"] + \
        [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    assert [p.any_name for p in km.outputs] == ["logits"] + \
        [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    compiled = kiln.Core().compile_model(km, "CPU")
    prompt = torch.randint(1, 98, (1, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20,
                             min_new_tokens=20, do_sample=False)[0, 6:].tolist()
    got = greedy(compiled, prompt.numpy(), 20, layers, kv_shape(cfg, 1, 0))
    assert got == ref
    assert len(set(ref)) > 3, "a test on a model that repeats one token would prove little"


def test_cache_step_logits_match_torch():
    """One decoding step at a cache of 9: logits and the grown cache against torch's."""
    cls, cfg = MODELS["llama"]
    torch.manual_seed(0)
    model = cls(cfg).eval()
    compiled = kiln.Core().compile_model(convert_with_cache(model), "CPU")
    kv = [(torch.randn(kv_shape(cfg, 2, 9)), torch.randn(kv_shape(cfg, 2, 9))) for _ in range(cfg.num_hidden_layers)]
    ids = torch.tensor([[7], [8]])
    mask = torch.ones(2, 10, dtype=torch.int64)
    mask[1, :3] = 0  # a left-padded row
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask, past_key_values=DynamicCache(ddp_cache_data=kv))
    feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    for i, (k, v) in enumerate(kv):
        feed[f"past_key_values.{i}.key"], feed[f"past_key_values.{i}.value"] = k.numpy(), v.numpy()
    got = compiled(feed)
    np.testing.assert_allclose(got["logits"], ref.logits.numpy(), rtol=1e-4, atol=1e-4)
    for i, layer in enumerate(ref.past_key_values.layers):
        np.testing.assert_allclose(got[f"present.{i}.key"], layer.keys.numpy(), rtol=1e-5, atol=1e-5)
        assert got[f"present.{i}.value"].shape == (2, 2, 10, 8)
