"""torch.compile(backend="kiln") beside torch eager and torch.compile's default backend (inductor).

Workloads (random weights): resnet50 on 1x3x224x224, BERT-base (BertForSequenceClassification from
BertConfig(), as in bench_transformers.py) on batch 1, sequence 128. All under torch.no_grad(),
torch and kiln with the same thread count (default 2).

- first call: seconds of the first call of the compiled model (dynamo's capture plus the
  backend's compilation; for eager, the first call), each runtime in a fresh process, so that
  each pays its own one-time imports as a user does, with inductor's on-disk caches off
  (TORCHINDUCTOR_FORCE_DISABLE_CACHES=1: a cold compile, not a cache hit of an earlier run);
- steady state: median ms of interleaved calls (common.measure_round_robin with settle: kiln's
  and torch's OpenMP teams are different runtimes, and one's spinning threads would slow the
  other right after it), all three runtimes in one process.

    .venv/bin/python bench/bench_torch_compile.py [resnet50 bert] [--runs 20] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_info, measure_round_robin, rel_err, versions  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RUNTIMES = ("torch eager", "torch.compile (inductor)", "torch.compile (kiln)")


def workload(name):
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        return "resnet50, 1x3x224x224", torchvision.models.resnet50().eval(), (torch.rand(1, 3, 224, 224),), {}
    if name == "bert":
        from transformers import BertConfig, BertForSequenceClassification
        model = BertForSequenceClassification(BertConfig()).eval()
        ids = torch.randint(1000, 30000, (1, 128), generator=torch.Generator().manual_seed(0))
        kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
        return "BERT-base, batch 1, sequence 128", model, (), kwargs
    raise SystemExit(f"unknown workload {name!r}: resnet50 or bert")


def make(runtime, model, threads):
    if runtime == "torch eager":
        return model
    if runtime == "torch.compile (inductor)":
        return torch.compile(model)
    import kiln  # noqa: F401
    return torch.compile(model, backend="kiln", options={"threads": threads})


def first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    return out[0]


def first_call(name, runtime, threads):
    """Runs in a fresh process: seconds of the first call."""
    torch.set_num_threads(threads)
    _, model, args, kwargs = workload(name)
    fn = make(runtime, model, threads)
    with torch.no_grad():
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds}))


def measure_first_call(name, runtime, threads):
    env = {**os.environ, "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1", "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--first-call", name, runtime,
                        "--threads", str(threads)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
    return json.loads(r.stdout.strip().splitlines()[-1])["seconds"], None


def run(name, a):
    title, model, args, kwargs = workload(name)
    firsts = {rt: measure_first_call(name, rt, a.threads) for rt in RUNTIMES}
    torch.set_num_threads(a.threads)
    if "kiln" in sys.modules:
        from kiln.frontend.torch import compile_backend as cb
        cb.clear_reports()  # this workload's graphs only
    fns, failed, errors = {}, {}, {}
    with torch.no_grad():
        want = first_tensor(model(*args, **kwargs))
        for rt in RUNTIMES:
            try:
                fn = make(rt, model, a.threads)
                got = first_tensor(fn(*args, **kwargs))
                errors[rt] = rel_err(got.numpy(), want.numpy())
                fns[rt] = (lambda f=fn: f(*args, **kwargs))
            except Exception as e:  # noqa: BLE001
                failed[rt] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        med = measure_round_robin(fns, a.runs, warmup=3, settle=True)
    if "torch.compile (kiln)" in fns:
        from kiln.frontend.torch import compile_backend as cb
        reps = [r for r in cb.reports() if r.built]
        placed = "; ".join(f"graph {r.name}: {r.kiln_partitions} kiln partition(s), torch runs "
                           f"{', '.join(r.torch) or 'nothing'}" for r in reps)
    else:
        placed = ""
    k = med.get("torch.compile (kiln)")
    print(f"\n{title} ({a.threads} threads, median of {a.runs} interleaved runs)\n")
    print("| runtime | first call s | steady ms | steady / kiln | max err / max |")
    print("|---|---:|---:|---:|---:|")
    for rt in RUNTIMES:
        s, why = firsts[rt]
        first = f"{s:.2f}" if s is not None else f"failed: {why}"
        if rt in med:
            ratio = f"{med[rt] / k:.2f}" if k else "-"
            print(f"| {rt} | {first} | {med[rt]:.2f} | {ratio} | {errors[rt]:.1e} |")
        else:
            print(f"| {rt} | {first} | failed: {failed.get(rt, '?')} | | |")
    if placed:
        print(f"\nkiln: {placed}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workloads", nargs="*", default=["resnet50", "bert"])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--first-call", nargs=2, metavar=("WORKLOAD", "RUNTIME"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.first_call:
        first_call(*a.first_call, a.threads)
        return
    print(f"{cpu_info()}\n{versions()}")
    for name in a.workloads:
        run(name, a)


if __name__ == "__main__":
    main()
