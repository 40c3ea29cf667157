"""resnet50, batch 1, 224x224: kiln beside torch eager, OpenVINO and ONNX Runtime, in one run.

Peers are optional imports (test/bench dependencies only). Prints median latency per runtime and
the ratio of each to kiln; a lone absolute time means little on a shared machine.

    .venv/bin/python bench/bench_resnet50.py [--model resnet50] [--runs 30] [--threads N]
"""
import argparse
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_info, measure_round_robin  # noqa: E402

import kiln  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(a.model).eval()
    x = torch.rand(a.batch, 3, a.size, a.size)
    xn = x.numpy()
    with torch.no_grad():
        ref = model(x).numpy()
    fns, errors = {}, {}

    km = kiln.convert_model(model, example_input=x)
    compiled = kiln.Core().compile_model(km, "CPU", {"INFERENCE_NUM_THREADS": threads})
    out = compiled.outputs[0]
    errors["kiln"] = np.abs(compiled(xn)[out] - ref).max() / np.abs(ref).max()
    fns["kiln"] = lambda: compiled(xn)

    def torch_eager():
        with torch.no_grad():
            model(x)
    fns["torch eager"], errors["torch eager"] = torch_eager, 0.0

    try:
        import openvino as ov
        ov_model = ov.convert_model(model, example_input=x)
        core = ov.Core()
        # OpenVINO's default on a CPU with AVX-512 BF16 is to compute in bf16 (its error column
        # shows it); the f32 row is the like-for-like comparison with kiln.
        for precision in ("default", "f32"):
            cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            if precision == "f32":
                cfg["INFERENCE_PRECISION_HINT"] = "f32"
            ov_compiled = core.compile_model(ov_model, "CPU", cfg)
            y = ov_compiled(xn)[ov_compiled.outputs[0]]
            name = f"OpenVINO {ov.__version__.split('-')[0]}" + (" f32" if precision == "f32" else "")
            fns[name] = (lambda c=ov_compiled: c(xn))
            errors[name] = np.abs(y - ref).max() / np.abs(ref).max()
    except ImportError:
        print("(openvino not installed: pip install openvino)")
    if "kiln" not in fns:
        raise SystemExit("kiln failed")

    try:
        import io

        import onnxruntime as ort
        buf = io.BytesIO()
        torch.onnx.export(model, x, buf, input_names=["x"], dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        # Idle worker threads must not spin between calls: the runtimes take turns on 2 cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        y = sess.run(None, {"x": xn})[0]
        name = f"ONNX Runtime {ort.__version__}"
        fns[name], errors[name] = (lambda: sess.run(None, {"x": xn})), np.abs(y - ref).max() / np.abs(ref).max()
    except ImportError:
        print("(onnxruntime not installed: pip install onnxruntime onnx)")

    med = measure_round_robin(fns, a.runs)
    k = med["kiln"]
    print(f"\n{cpu_info()}\n{a.model}, batch {a.batch}, {a.size}x{a.size}, {threads} threads, median of {a.runs} "
          f"round-robin runs, torch {torch.__version__}\n")
    print("| runtime | median ms | time / kiln time | max err / max |")
    print("|---|---:|---:|---:|")
    for name, ms in sorted(med.items(), key=lambda kv: kv[1]):
        print(f"| {name} | {ms:.1f} | {ms / k:.2f} | {errors[name]:.1e} |")


if __name__ == "__main__":
    main()
