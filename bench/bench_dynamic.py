"""BERT-base (the seed's BertForSequenceClassification, random weights) with dynamic sequence
length: kiln's one `[1, ?]` model against a model converted statically for each length, and
OpenVINO's dynamic model beside OpenVINO's static ones; the first call of a new length (kiln
plans it then: what planning costs), and compile times of kiln and OpenVINO.

    .venv/bin/python bench/bench_dynamic.py [--lengths 20] [--runs 7] [--threads N]
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import kiln  # noqa: E402
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_info, versions  # noqa: E402

warnings.filterwarnings("ignore")
NAMES = ("input_ids", "attention_mask", "token_type_ids")


def feed(n):
    ids = torch.randint(1000, 30000, (1, n), generator=torch.Generator().manual_seed(n))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def median_ms(fn, runs):
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, default=20)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    threads = a.threads or os.cpu_count()
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig()).eval()
    lengths = [int(n) for n in np.linspace(16, 512, a.lengths).round()]
    cfg = {"INFERENCE_NUM_THREADS": threads}
    core = kiln.Core()
    dyn_model = kiln.convert_model(model, example_input=feed(8),
                                   input=[(n, kiln.PartialShape([1, -1]), np.int64) for n in NAMES])
    t = time.perf_counter()
    dyn = core.compile_model(dyn_model, "CPU", cfg)
    kiln_compile_dyn = time.perf_counter() - t
    try:
        import openvino as ov
        ocore = ov.Core()
        ov_dyn_model = ov.convert_model(model, example_input=feed(8),
                                        input=[(n, ov.PartialShape([1, -1]), ov.Type.i64) for n in NAMES])
        ocfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        ov_dyn = ocore.compile_model(ov_dyn_model, "CPU", ocfg)
    except ImportError:
        ov = None
    print(f"{cpu_info()}\n{versions()}\nBERT-base, batch 1, {threads} threads, median of {a.runs} runs per length, f32 "
          f"(OpenVINO told INFERENCE_PRECISION_HINT=f32)\n")
    print("| length | kiln first call ms | kiln dynamic ms | kiln static ms | dynamic / static |"
          + (" OpenVINO dynamic ms | OpenVINO static ms | OV dynamic / static |" if ov else ""))
    print("|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if ov else ""))
    ratios, ov_ratios, compiles = [], [], []
    for n in lengths:
        f = {k: v.numpy() for k, v in feed(n).items()}
        t = time.perf_counter()
        dyn(f)
        first = (time.perf_counter() - t) * 1e3
        static_model = kiln.convert_model(model, example_input=feed(n), input=[(k, [1, n], np.int64) for k in NAMES])
        t = time.perf_counter()
        st = core.compile_model(static_model, "CPU", cfg)
        compiles.append(("kiln", n, time.perf_counter() - t))
        st(f)
        d_ms, s_ms = median_ms(lambda: dyn(f), a.runs), median_ms(lambda: st(f), a.runs)
        # and once more in the other order, so that drift falls on both
        d_ms = min(d_ms, median_ms(lambda: dyn(f), a.runs))
        ratios.append(d_ms / s_ms)
        row = f"| {n} | {first:.0f} | {d_ms:.1f} | {s_ms:.1f} | {d_ms / s_ms:.2f} |"
        if ov:
            ov_dyn(list(f.values()))
            om = ov.convert_model(model, example_input=feed(n))
            t = time.perf_counter()
            ost = ocore.compile_model(om, "CPU", ocfg)
            compiles.append(("OpenVINO", n, time.perf_counter() - t))
            ost(list(f.values()))
            od = median_ms(lambda: ov_dyn(list(f.values())), a.runs)
            os_ = median_ms(lambda: ost(list(f.values())), a.runs)
            ov_ratios.append(od / os_)
            row += f" {od:.1f} | {os_:.1f} | {od / os_:.2f} |"
        print(row, flush=True)
    print(f"\nkiln dynamic / static: max {max(ratios):.2f}, median {statistics.median(ratios):.2f}"
          + (f"; OpenVINO dynamic / static: max {max(ov_ratios):.2f}, median {statistics.median(ov_ratios):.2f}" if ov else ""))
    kc = [c for r, _, c in compiles if r == "kiln"]
    oc = [c for r, _, c in compiles if r == "OpenVINO"]
    print(f"compile_model of a static BERT-base: kiln median {statistics.median(kc):.2f} s"
          + (f", OpenVINO median {statistics.median(oc):.2f} s" if oc else "")
          + f"; kiln's dynamic model compiles in {kiln_compile_dyn:.2f} s (its plans come at first calls)")


if __name__ == "__main__":
    main()
