"""CNNs and ViT: kiln beside torch eager, OpenVINO and ONNX Runtime, in one run, timed in turns.

Per model (torchvision, random weights): latency at batch 1 of kiln f32, kiln bf16 (the
INFERENCE_PRECISION_HINT, on CPUs with AVX512_BF16), OpenVINO's default (bf16 on such CPUs) and
f32, ONNX Runtime and torch; each one's error against torch; compile times of kiln and OpenVINO;
the fraction of the machine's measured f32 peak that kiln reaches (the model's FLOPs / time).
`--throughput` adds images per second at batch 8 with PERFORMANCE_HINT=THROUGHPUT (streams),
kiln's AsyncInferQueue beside OpenVINO's.

    .venv/bin/python bench/bench_cnn.py [--models resnet50,mobilenet_v3_large,efficientnet_b0,vit_b_16]
        [--runs 20] [--threads N] [--throughput]
"""
import argparse
import io
import os
import sys
import time
import warnings

import kiln  # noqa: E402
import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_info, measure_round_robin, measure_throughput, plot_medians, print_throughput, rel_err, throughput_queues, versions  # noqa: E402

warnings.filterwarnings("ignore")


def peak_gflops(threads: int) -> float:
    """The machine's f32 matrix-multiply rate, measured with kiln's own MatMul (oneDNN) on a
    large square product: the practical peak a model's FLOPs are compared with."""
    n = 2048
    lin = torch.nn.Linear(n, n, bias=False).eval()
    x = torch.randn(n, n)
    c = kiln.Core().compile_model(kiln.convert_model(lin, example_input=x, input=[[n, n]]), "CPU",
                                  {"INFERENCE_NUM_THREADS": threads})
    xn = x.numpy()
    c(xn)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        c(xn)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def model_gflop(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() / 1e9


def build(name):
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    # ViT's head starts at zero: every runtime would agree on zeros. Give it small weights.
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not m.weight.any():
            torch.nn.init.normal_(m.weight, std=0.02)
    return model


def latency(name, a, threads, peak):
    model = build(name)
    x = torch.rand(1, 3, 224, 224)
    xn = x.numpy()
    with torch.no_grad():
        ref = model(x).numpy()
    fns, errors, compile_s = {}, {}, {}
    km = kiln.convert_model(model, example_input=x, input=[[1, 3, 224, 224]])
    for prec in ("f32", "bf16"):
        t = time.perf_counter()
        c = kiln.Core().compile_model(km, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": prec})
        label = "kiln" if prec == "f32" else "kiln bf16"
        if prec == "bf16" and c.inference_precision.name != "bf16":
            continue
        compile_s[label] = time.perf_counter() - t
        errors[label] = rel_err(c(xn)[0], ref)
        fns[label] = (lambda c=c: c(xn))

    def eager():
        with torch.no_grad():
            model(x)
    fns["torch"], errors["torch"] = eager, 0.0
    try:
        import openvino as ov
        core = ov.Core()
        om = ov.convert_model(model, example_input=x)
        for prec in ("default", "f32"):
            cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            if prec == "f32":
                cfg["INFERENCE_PRECISION_HINT"] = "f32"
            t = time.perf_counter()
            oc = core.compile_model(om, "CPU", cfg)
            label = "OpenVINO" + (" f32" if prec == "f32" else f" default ({oc.get_property('INFERENCE_PRECISION_HINT').get_type_name()})")
            compile_s[label] = time.perf_counter() - t
            errors[label] = rel_err(oc(xn)[oc.outputs[0]], ref)
            fns[label] = (lambda oc=oc: oc(xn))
    except Exception as e:  # noqa: BLE001
        print(f"(OpenVINO failed on {name}: {type(e).__name__}: {str(e)[:120]})")
    try:
        import onnxruntime as ort
        buf = io.BytesIO()
        torch.onnx.export(model, x, buf, input_names=["x"], dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        errors["ONNX Runtime"] = rel_err(sess.run(None, {"x": xn})[0], ref)
        fns["ONNX Runtime"] = lambda: sess.run(None, {"x": xn})
    except Exception as e:  # noqa: BLE001
        print(f"(ONNX Runtime failed on {name}: {type(e).__name__}: {str(e)[:120]})")
    med = measure_round_robin(fns, a.runs)
    gflop = model_gflop(model, x)
    k = med["kiln"]
    peers = {n: v for n, v in med.items() if not n.startswith("kiln")}
    fastest = min(peers, key=peers.get)
    print(f"\n{name}, batch 1, 224x224, {threads} threads, median of {a.runs} round-robin runs; "
          f"{gflop:.2f} GFLOP, f32 bound {gflop / peak * 1e3:.2f} ms at {peak:.0f} GFLOP/s\n")
    print("| runtime | median ms | time / kiln f32 | max err / max | compile s | % of f32 peak |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, ms in sorted(med.items(), key=lambda kv: kv[1]):
        frac = f"{gflop / peak * 1e3 / ms * 100:.0f}%"
        cs = f"{compile_s[n]:.2f}" if n in compile_s else ""
        print(f"| {n} | {ms:.2f} | {ms / k:.2f} | {errors[n]:.1e} | {cs} | {frac} |")
    best_kiln = min(v for n, v in med.items() if n.startswith("kiln"))
    print(f"\nfastest peer: {fastest} {peers[fastest]:.2f} ms; kiln f32 / it = {k / peers[fastest]:.2f}, "
          f"best kiln / it = {best_kiln / peers[fastest]:.2f}")
    return med


def throughput(name, a, threads, seconds=8.0, batch=8):
    model = build(name)
    x = torch.rand(batch, 3, 224, 224)
    xn = x.numpy()
    km = kiln.convert_model(model, example_input=x, input=[[batch, 3, 224, 224]])
    queues = throughput_queues(km, lambda ov: ov.convert_model(model, example_input=x))
    rates = measure_throughput(queues, xn, batch, seconds)
    print_throughput(f"{name}, batch {batch}", queues, rates, "images")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,mobilenet_v3_large,efficientnet_b0,vit_b_16")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--throughput", action="store_true", help="also batch-8 throughput of resnet50")
    ap.add_argument("--plot", help="draw the latency table as a bar chart into this image")
    a = ap.parse_args()
    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)
    peak = peak_gflops(threads)
    print(f"{cpu_info()}\n{versions()}\nmeasured f32 peak (kiln MatMul 2048^3, {threads} threads): {peak:.0f} GFLOP/s")
    results = {name: latency(name, a, threads, peak) for name in a.models.split(",")}
    if a.plot:
        plot_medians(results, a.plot, f"CNNs, batch 1, {threads} threads\n{cpu_info().splitlines()[0]}")
    if a.throughput:
        throughput("resnet50", a, threads)


if __name__ == "__main__":
    main()
