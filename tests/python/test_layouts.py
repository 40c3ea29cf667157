"""Memory layouts in execution plans: convolutions, pools and the element-wise ops between them
run in the convolutions' own layout (nhwc with oneDNN's AVX-512 kernels, nChw8c / nChw16c
blocked with its AVX2 ones), with reorder steps only where a neighbour needs another layout.
Checked against torch, on this CPU's best path and, in a subprocess limited to AVX2
(DNNL_MAX_CPU_ISA), on the blocked path; the plans are asserted on, not timed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import kiln

HERE = os.path.dirname(os.path.abspath(__file__))


class SE(torch.nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Conv2d(c, r, 1), torch.nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class Net(torch.nn.Module):
    """The CNN patterns of the zoo in small: a stem, a depthwise-separable block with
    squeeze-excitation and hardswish, a residual with batch norm, padded channel counts (24,
    40), a channel concat, a max and an average pool, a broadcast per-channel scale, and a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 24, 3, 2, 1), torch.nn.BatchNorm2d(24), torch.nn.ReLU())
        self.dw = torch.nn.Conv2d(24, 24, 3, 1, 1, groups=24)
        self.se = SE(24, 8)
        self.pw = torch.nn.Conv2d(48, 40, 1)
        self.res = torch.nn.Sequential(torch.nn.Conv2d(40, 40, 3, 1, 1), torch.nn.BatchNorm2d(40))
        self.head = torch.nn.Linear(40, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.nn.functional.max_pool2d(x, 2)
        y = torch.nn.functional.hardswish(self.dw(x))
        y = self.se(y) + x
        y = self.pw(torch.cat([y, torch.relu(self.dw(y))], 1))
        y = torch.relu(self.res(y) + y) * 0.5 - torch.sigmoid(y)
        y = torch.nn.functional.avg_pool2d(y, 2)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(y, 1), 1))


def check(shape=(2, 3, 32, 32)):
    torch.manual_seed(0)
    model = Net().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(*shape)
    compiled = kiln.Core().compile_model(kiln.convert_model(model, example_input=x, input=[list(shape)]), "CPU")
    with torch.no_grad():
        ref = model(x).numpy()
    got = compiled(x.numpy())[0]
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    kinds = compiled.kernel_summary([list(shape)])
    layouts = compiled.layout_summary([list(shape)])
    return err, kinds, layouts


def summarize(kinds, layouts):
    conv_layouts = sorted({l for k, (_, l) in zip(kinds, layouts) if k[2] == "onednn_conv"})
    reorders = [k[1] for k in kinds if k[0] == "Reorder"]
    concat = [k[2] for k in kinds if k[0] == "Concat"]
    return {"conv_layouts": conv_layouts, "reorders": reorders, "concat": concat[0] if concat else None}


def test_cnn_patterns_match_torch_with_few_reorders():
    err, kinds, layouts = check()
    assert err <= 1e-5, err
    s = summarize(kinds, layouts)
    big = [l for l in s["conv_layouts"] if l != "nchw"]
    if big:
        # The input into the stem, and plain tensors where the pattern needs them (the pooled
        # [N, C, 1, 1] tensors share bytes with the conv layouts and need none): at most a few,
        # far fewer than the 2 per convolution a plan without layouts would make.
        assert len(s["reorders"]) <= 3, s
    # The element-wise ops between convolutions ran in their layout.
    elt = [l for k, (_, l) in zip(kinds, layouts) if k[2].endswith("_eltwise")]
    assert any(l in big for l in elt) or not big, (elt, big)
    if big:
        assert any(k[2] == "layout_concat" for k in kinds), kinds


AVX2_SCRIPT = r"""
import json, sys
sys.path.insert(0, {here!r})
from test_layouts import check, summarize
from kiln._kiln import _cpu_isa
err, kinds, layouts = check()
print(json.dumps(dict(err=err, isa=_cpu_isa(), kernels=sorted({{k[2] for k in kinds}}), **summarize(kinds, layouts))))
"""


def check_in_subprocess(**env):
    """check() in a fresh process with these environment variables (read when kiln and oneDNN
    load), its summary as a dict."""
    r = subprocess.run([sys.executable, "-c", AVX2_SCRIPT.format(here=HERE)], env=dict(os.environ, **env),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_blocked_layouts_on_the_avx2_path():
    """oneDNN limited to AVX2 picks nChw8c: the same model in blocked layouts, padded to 8; kiln's
    own kernels follow the same cap (what a CPU with AVX2 only runs)."""
    # (DNNL_MAX_CPU_ISA, oneDNN's older name, which kiln reads too; ONEDNN_MAX_CPU_ISA in test_int8.py)
    out = check_in_subprocess(DNNL_MAX_CPU_ISA="AVX2")
    assert out["err"] <= 1e-5, out
    assert out["isa"].split(" ")[0] == "avx2", out
    assert "avx2_eltwise" in out["kernels"] and not any("avx512" in k for k in out["kernels"]), out
    assert "avx2_gemm" in out["kernels"], out  # the linear head: kiln's GEMM below AVX-512
    assert "nChw8c" in out["conv_layouts"], out
    assert out["concat"] == "layout_concat", out
    assert len(out["reorders"]) <= 4, out


def test_reference_kernels_agree():
    """KILN_REFERENCE_KERNELS=1 makes no layout choices: every tensor plain, same numbers."""
    out = check_in_subprocess(KILN_REFERENCE_KERNELS="1")
    assert out["err"] <= 1e-5 and out["reorders"] == [], out


@pytest.mark.skipif(not kiln.Core().compile_model(kiln.convert_model(torch.nn.Linear(2, 2), example_input=torch.randn(1, 2)),
                                                  "CPU", {"INFERENCE_PRECISION_HINT": "bf16"}).inference_precision.name == "bf16",
                    reason="this CPU has no AVX512_BF16: the bf16 hint falls back to f32")
def test_bf16_hint_convolutions():
    """INFERENCE_PRECISION_HINT=bf16: convolutions compute in bf16 (f32 accumulation and
    output); the error is bf16's (8 bits of mantissa), well below 5e-2 of the output scale."""
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(2, 3, 32, 32)
    km = kiln.convert_model(model, example_input=x, input=[[2, 3, 32, 32]])
    with torch.no_grad():
        ref = model(x).numpy()
    f32 = kiln.Core().compile_model(km, "CPU")(x.numpy())[0]
    bf16 = kiln.Core().compile_model(km, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})(x.numpy())[0]
    e32 = np.abs(f32 - ref).max() / np.abs(ref).max()
    e16 = np.abs(bf16 - ref).max() / np.abs(ref).max()
    assert e32 <= 1e-5 and e16 <= 5e-2, (e32, e16)
    assert e16 > e32  # it really ran in bf16


class Bottlenecks(torch.nn.Module):
    """resnet50's pattern in small: a stem conv and pool, then bottleneck blocks (1x1, 3x3, 1x1 with
    batch norm, ReLU and the residual), one with a downsampling branch, then a pool and a head."""

    def __init__(self):
        super().__init__()
        conv = lambda i, o, k, s=1: torch.nn.Sequential(torch.nn.Conv2d(i, o, k, s, k // 2, bias=False), torch.nn.BatchNorm2d(o))
        self.stem = conv(3, 16, 3, 2)
        self.b1 = torch.nn.ModuleList([conv(16, 8, 1), conv(8, 8, 3), conv(8, 32, 1)])
        self.down = conv(16, 32, 1)
        self.b2 = torch.nn.ModuleList([conv(32, 8, 1), conv(8, 8, 3), conv(8, 32, 1)])
        self.head = torch.nn.Linear(32, 5)

    @staticmethod
    def block(convs, x, shortcut):
        y = torch.relu(convs[0](x))
        y = torch.relu(convs[1](y))
        return torch.relu(convs[2](y) + shortcut)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.stem(x)), 2)
        x = self.block(self.b1, x, self.down(x))
        x = self.block(self.b2, x, x)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


@pytest.mark.skipif(not kiln.Core().compile_model(kiln.convert_model(torch.nn.Linear(2, 2), example_input=torch.randn(1, 2)),
                                                  "CPU", {"INFERENCE_PRECISION_HINT": "bf16"}).inference_precision.name == "bf16",
                    reason="this CPU has no AVX512_BF16: the bf16 hint falls back to f32")
def test_bf16_activations_stay_bf16_between_convolutions():
    """With bf16 precision, a tensor that only convolutions read is stored in bf16: the plan
    converts where f32 meets a convolution (the input, the stem's pooled output) and where a bf16
    residual meets the last convolution, whose output the final pool reads in f32; nowhere else
    (residuals between blocks stay bf16)."""
    torch.manual_seed(0)
    model = Bottlenecks().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 32, 32)
    km = kiln.convert_model(model, example_input=x, input=[[2, 3, 32, 32]])
    with torch.no_grad():
        ref = model(x).numpy()
    compiled = kiln.Core().compile_model(km, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    layouts = compiled.layout_summary([[2, 3, 32, 32]])
    kernels = {name: (t, k) for t, name, k in compiled.kernel_summary([[2, 3, 32, 32]])}
    reorders = [l for _, l in layouts if "->" in l]
    assert reorders == ["nchw->nhwc:bf16", "nhwc->nhwc:bf16", "nhwc:bf16->nhwc"], layouts
    conv_layouts = [l for name, l in layouts if kernels.get(name, ("", ""))[0] == "FusedConvolution"]
    assert len(conv_layouts) == 8 and conv_layouts.count("nhwc:bf16") == 6, layouts  # all but stem and last
    got = compiled(x.numpy())[0]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert 1e-5 < err <= 5e-2, err
