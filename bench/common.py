"""Shared pieces of kiln's benchmarks: the machine's description, round-robin timing, tables."""
import statistics
import time

import torch

from kiln.benchmark import FLAGS, cpu_info, pyplot  # noqa: F401  (one copy, in the package)


def measure_round_robin(fns: dict, runs: int, warmup: int = 3, settle: bool = False) -> dict:
    """Median ms per runtime, timed in turns (one call each per round) so that noise from a shared
    machine falls on every runtime alike. With `settle`, each turn first makes one untimed call:
    the previous runtime's threads (OpenVINO's TBB workers, kiln's OpenMP team) keep spinning for a
    while after it returns and would otherwise slow down whichever runtime comes next (measured:
    kiln INT8 BERT 24 ms right after OpenVINO, 20 ms after kiln; OpenVINO likewise)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            if settle:
                fn()
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


def throughput_queues(kiln_model, convert_openvino) -> dict:
    """AsyncInferQueues with PERFORMANCE_HINT=THROUGHPUT: kiln f32 and bf16 (where the CPU has it),
    OpenVINO's default and f32 (`convert_openvino(openvino)` gives its model; skipped if that fails)."""
    import kiln
    queues = {}
    for prec in ("f32", "bf16"):
        c = kiln.Core().compile_model(kiln_model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": prec})
        if prec == "f32" or c.inference_precision.name == "bf16":
            queues["kiln" + ("" if prec == "f32" else " bf16")] = kiln.AsyncInferQueue(c)
    try:
        import openvino as ov
        om = convert_openvino(ov)
        for prec in ("default", "f32"):
            cfg = {"PERFORMANCE_HINT": "THROUGHPUT"}
            if prec == "f32":
                cfg["INFERENCE_PRECISION_HINT"] = "f32"
            queues["OpenVINO" + (" f32" if prec == "f32" else " (default)")] = ov.AsyncInferQueue(
                ov.Core().compile_model(om, "CPU", cfg))
    except Exception as e:  # noqa: BLE001
        print(f"(OpenVINO failed: {e})")
    return queues


def measure_throughput(queues: dict, feed, batch: int, seconds: float = 8.0) -> dict:
    """Items per second of each async queue (kiln's or OpenVINO's AsyncInferQueue, both with
    start_async / wait_all / len) kept busy for seconds/2, in turns, twice: the best turn."""
    for q in queues.values():
        for _ in range(len(q)):
            q.start_async(feed)
        q.wait_all()
    rates = {}
    for _ in range(2):
        for label, q in queues.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 2:
                q.start_async(feed)
                n += 1
            q.wait_all()
            rates.setdefault(label, []).append(n * batch / (time.perf_counter() - t0))
    return {label: max(v) for label, v in rates.items()}


def print_throughput(title: str, queues: dict, rates: dict, unit: str):
    print(f"\n{title}, PERFORMANCE_HINT=THROUGHPUT, {unit} per second (best of 2 turns)\n")
    print(f"| runtime | infer requests | {unit}/s | / kiln f32 |")
    print("|---|---:|---:|---:|")
    k = rates["kiln"]
    for label, r in sorted(rates.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {len(queues[label])} | {r:.1f} | {r / k:.2f} |")


def plot_medians(results: dict, path: str, title: str, unit: str = "median ms"):
    """A grouped bar chart of {workload: {runtime: ms}}: each workload's bars scaled to its kiln
    bar (kiln = 1.0; lower is faster), the milliseconds written on the bars. Needs matplotlib (in
    requirements.txt); a benchmark run without it prints why the plot was skipped."""
    plt = pyplot(path, "bench")
    if plt is None:
        return None
    workloads = [w for w in results if results[w]]
    runtimes = []
    for w in workloads:
        runtimes += [r for r in results[w] if r not in runtimes]
    width = 0.8 / max(len(runtimes), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(workloads) + 2), 4.5))
    for i, r in enumerate(runtimes):
        xs, ys, labels = [], [], []
        for j, w in enumerate(workloads):
            if r not in results[w]:
                continue
            base = next((v for k, v in results[w].items() if k.startswith("kiln")), None) or results[w][r]
            xs.append(j + (i - (len(runtimes) - 1) / 2) * width)
            ys.append(results[w][r] / base)
            labels.append(f"{results[w][r]:.1f}")
        bars = ax.bar(xs, ys, width, label=r)
        ax.bar_label(bars, labels, fontsize=7, rotation=90, padding=2)
    ax.axhline(1.0, color="gray", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel(f"time / kiln time ({unit} on the bars)")
    ax.set_title(title, fontsize=9)
    ax.margins(y=0.25)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}")
    return path
