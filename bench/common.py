"""Shared pieces of kiln's benchmarks: the machine's description, round-robin timing, tables."""
import os
import platform
import statistics
import time

import torch

FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_info() -> str:
    """'AMD EPYC, 2 cores; avx2 fma avx512f ...' from /proc/cpuinfo (the flags that matter here)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    have = [f for f in FLAGS if f in flags]
    return f"{model}, {os.cpu_count()} cores; {' '.join(have) or 'no AVX2'}"


def measure_round_robin(fns: dict, runs: int, warmup: int = 3) -> dict:
    """Median ms per runtime, timed in turns (one call each per round) so that noise from a shared
    machine falls on every runtime alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def print_table(title: str, med: dict, errors: dict, failed: dict, unit: str = "median ms"):
    k = med.get("kiln")
    print(f"\n{title}\n")
    print(f"| runtime | {unit} | time / kiln time | max err / max |")
    print("|---|---:|---:|---:|")
    for name, ms in sorted(med.items(), key=lambda kv: kv[1]):
        ratio = f"{ms / k:.2f}" if k else "-"
        print(f"| {name} | {ms:.2f} | {ratio} | {errors.get(name, 0.0):.1e} |")
    for name, why in failed.items():
        print(f"| {name} | failed: {why} | | |")


def rel_err(got, ref) -> float:
    import numpy as np
    got, ref = np.asarray(got), np.asarray(ref)
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


def versions() -> str:
    parts = [f"torch {torch.__version__}"]
    for mod in ("transformers", "openvino", "onnxruntime"):
        try:
            m = __import__(mod)
            parts.append(f"{mod} {m.__version__.split('-')[0]}")
        except ImportError:
            pass
    return ", ".join(parts)
