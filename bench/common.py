"""Shared pieces of kiln's benchmarks: the machine's description, round-robin timing, tables."""
import statistics
import time

import torch

from kiln.benchmark import FLAGS, cpu_info  # noqa: F401  (one copy, in the package)


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
