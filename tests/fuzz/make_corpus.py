"""Writes the fuzz corpus tests/fuzz/corpus: small valid IR pairs, each one file holding the XML,
the separator b"\\0KILN-BIN\\0" and the weights (the fuzz target's input format). Pairs come from
kiln's writer (convolutions, transformers with IndexCheck, If/Loop, fp16 weights) and from
OpenVINO's (op versions kiln reads). Run from the repo root:
    .venv/bin/python tests/fuzz/make_corpus.py
"""
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "python"))
warnings.simplefilter("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import kiln  # noqa: E402
import ir_cases  # noqa: E402

SEP = b"\0KILN-BIN\0"
OUT = HERE / "corpus"


def put(name, xml: Path):
    data = xml.read_bytes() + SEP + xml.with_suffix(".bin").read_bytes()
    (OUT / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, groups=4, stride=2)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = nn.functional.hardswish(self.bn(self.c2(torch.relu(self.c1(x)))))
        y = nn.functional.max_pool2d(y, 2, ceil_mode=True) * torch.sigmoid(y.mean((2, 3), keepdim=True))
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return torch.softmax(self.fc(y), -1), nn.functional.interpolate(y[:, :, None, None], scale_factor=2.0)


def kiln_pairs(d):
    torch.manual_seed(0)
    km = ir_cases.quiet_convert(Convs().eval(), example_input=torch.zeros(1, 3, 16, 16))
    kiln.save_model(km, d / "convs.xml")
    put("kiln_convs", d / "convs.xml")
    kiln.save_model(km, d / "convs16.xml", compress_to_fp16=True)
    put("kiln_convs_fp16", d / "convs16.xml")
    _, cf, _ = ir_cases.build_ifloop()
    kiln.save_model(cf, d / "cf.xml")
    put("kiln_if_loop_choose", d / "cf.xml")
    _, bert, _ = ir_cases.build_bert(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                                     vocab_size=20, max_position_embeddings=16)
    kiln.save_model(bert, d / "bert.xml")
    put("kiln_bert_tiny", d / "bert.xml")
    from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    g = GPT2LMHeadModel(GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=20, n_positions=16)).eval()
    past = DynamicCache(ddp_cache_data=[(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))])
    gk = ir_cases.quiet_convert(g, example_input={"input_ids": torch.tensor([[1, 2]]),
                                                  "attention_mask": torch.ones(1, 5, dtype=torch.int64), "past_key_values": past})
    kiln.save_model(gk, d / "gpt2.xml")
    put("kiln_gpt2_kv", d / "gpt2.xml")


class Shapes(nn.Module):
    def forward(self, x):
        b = x.shape[0]
        y = x.reshape(b, -1)[:, 1:5:2].unsqueeze(1).expand(b, 3, -1)
        parts = torch.split(y, [1, 2], 1)
        return torch.cat([parts[1], parts[0]], 1).transpose(1, 2), torch.topk(x.flatten(1), 2)[1]


class Gathers(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 3)

    def forward(self, ids, x):
        return self.emb(ids).sum(-1) + x[ids % 4], torch.cumsum(x, 0)


def small_pairs(d):
    # Small pairs: mutations of a small file reach deeper than those of a large one.
    torch.manual_seed(0)
    for name, module, example in [
        ("small_shapes", Shapes(), (torch.zeros(2, 3, 4),)),
        ("small_gathers", Gathers(), (torch.zeros(2, 3, dtype=torch.int64), torch.zeros(4))),
        ("small_conv", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), (torch.zeros(1, 1, 6, 6),)),
    ]:
        km = ir_cases.quiet_convert(module.eval(), example_input=example)
        kiln.save_model(km, d / f"{name}.xml")
        put(name, d / f"{name}.xml")
    m = ir_cases.quiet_convert(torch.jit.script(Loops()), input={"x": (kiln.PartialShape.dynamic(1), torch.float32),
                                                                 "n": ([], torch.int64)})
    kiln.save_model(m, d / "small_loop.xml")
    put("small_loop", d / "small_loop.xml")


class Families(nn.Module):
    """The later op families in one small graph: recurrent, FakeQuantize, transposed convolution,
    scatter, NonMaxSuppression, FFT, and one of kiln's own ops (CumProd, version "kiln")."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(3, 2)
        self.up = nn.ConvTranspose2d(1, 1, 2, stride=2)

    def forward(self, x, boxes, scores):
        y = self.lstm(x)[0].sum() + self.gru(x)[0].sum()
        q = torch.fake_quantize_per_tensor_affine(x, 0.1, 3, 0, 255)
        u = self.up(x[:1, None])
        s = torch.zeros(4).scatter_add(0, torch.tensor([0, 1, 1, 3]), x.flatten()[:4])
        keep = torch.ops.torchvision.nms(boxes, scores, 0.5)
        f = torch.fft.rfft(x, dim=-1).abs()
        return y + q.sum(), u, s, keep, f, torch.cumprod(x, 1)


def families_pair(d):
    import torchvision  # noqa: F401  (registers torchvision::nms)

    torch.manual_seed(0)
    boxes = torch.tensor([[0.0, 0, 2, 2], [0.5, 0.5, 2, 2], [3, 3, 4, 4]])
    km = ir_cases.quiet_convert(Families().eval(), example_input=(torch.rand(2, 4, 3), boxes, torch.rand(3)))
    kiln.save_model(km, d / "families.xml")
    put("small_families", d / "families.xml")


class Loops(nn.Module):
    def forward(self, x, n):
        for i in range(int(n)):
            x = x + 1.0
        if x.sum() > 3:
            x = x * 2.0
        return x


def openvino_pairs(d):
    import openvino as ov
    o1, o3, o8, o13, o14 = ov.opset1, ov.opset3, ov.opset8, ov.opset13, ov.opset14
    x = o13.parameter([-1, 3, -1, -1], np.float32, name="x")
    q = o13.parameter([1, 2, -1, 4], np.float32, name="q")
    m = o13.parameter([1, 1, -1, -1], np.bool_, name="m")
    idx = o13.constant(np.array([[1, 0], [2, 1]], np.int64))
    outs = [
        o1.max_pool(x, [2, 2], [0, 1], [1, 0], [3, 3], rounding_type="ceil"),
        o8.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(1),
        o14.max_pool(x, [2, 2], [1, 1], [0, 0], [1, 1], [2, 2], rounding_type="ceil_torch").output(0),
        o14.avg_pool(x, [1, 1], [0, 0], [0, 0], [2, 2], True, rounding_type="ceil_torch"),
        o1.gather(x, idx, o13.constant(np.int64(1))),
        o3.broadcast(o13.constant(np.ones((3, 1), np.float32)), o3.shape_of(x), broadcast_spec="bidirectional"),
        o1.softmax(x, 1),
        o3.topk(x, o13.constant(np.int64(2)), 1, "max", "value").output(1),
        o13.scaled_dot_product_attention(q, q, q, m, causal=False),
        o13.scaled_dot_product_attention(q, q, q, causal=True),
        o13.bitwise_and(m, m),
    ]
    model = ov.Model([o13.result(o) for o in outs], [x, q, m], "versions")
    ov.save_model(model, str(d / "ov_versions.xml"), compress_to_fp16=False)
    put("openvino_op_versions", d / "ov_versions.xml")
    torch.manual_seed(0)
    om = ov.convert_model(Convs().eval(), example_input=torch.zeros(1, 3, 16, 16))
    ov.save_model(om, str(d / "ov_convs.xml"))
    put("openvino_convs_fp16", d / "ov_convs.xml")


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        kiln_pairs(Path(t))
        small_pairs(Path(t))
        families_pair(Path(t))
        openvino_pairs(Path(t))
