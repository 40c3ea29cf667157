"""Conversion time of kiln's three capture paths beside OpenVINO's, in one run.

For resnet50 (1x3x224x224) and BERT-base (random weights, sequence 128, the sequence dim
dynamic): kiln by tracing, by scripting and through torch.export (the export itself, kiln's
decode + translation, and whether the program had to be functionalized first), OpenVINO's
convert_model of the module (its TorchScript path) and of the same ExportedProgram. Each is
timed as the median of `--runs` conversions (a fresh call each time, the model built once).

    .venv/bin/python bench/bench_capture.py [--runs 3]
"""
import argparse
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402
import torchvision  # noqa: E402
import transformers  # noqa: E402
from torch.export import Dim  # noqa: E402

import kiln  # noqa: E402
from common import cpu_info, versions  # noqa: E402
from kiln.frontend.torch.fx_decoder import readable_as_is  # noqa: E402


def timed(fn, runs):
    out, ts = None, []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def workloads():
    torch.manual_seed(0)
    resnet = torchvision.models.resnet50().eval()
    x = torch.zeros(1, 3, 224, 224)
    yield "resnet50", resnet, (x,), {}, None, None
    cfg = transformers.BertConfig()
    bert = transformers.BertModel(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 128))
    mask = torch.ones(1, 128, dtype=torch.int64)
    seq = Dim("seq", min=1, max=512)
    yield ("BERT-base", bert, (), {"input_ids": ids, "attention_mask": mask},
           {"input_ids": {1: seq}, "attention_mask": {1: seq}}, {"input_ids": [1, -1], "attention_mask": [1, -1]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    import logging
    logging.disable(logging.WARNING)
    try:
        import openvino as ov
    except ImportError:
        ov = None
    print(f"{cpu_info()}\n{versions()}\n")
    print("| model | path | seconds | / kiln trace |")
    print("|---|---|---:|---:|")
    for name, model, args, kwargs, dyn, spec in workloads():
        example = kwargs if kwargs else args[0]
        rows = {}
        with torch.no_grad():
            rows["kiln trace"], _ = timed(lambda: kiln.convert_model(model, example_input=example, input=spec,
                                                                     capture="torchscript"), a.runs)
            try:
                rows["kiln script"], _ = timed(lambda: kiln.convert_model(model, input=spec), a.runs)
            except Exception as e:  # noqa: BLE001
                rows["kiln script"] = f"fails: {type(e).__name__}"
            rows["torch.export.export"], ep = timed(lambda: torch.export.export(model, args, kwargs,
                                                                                dynamic_shapes=dyn), a.runs)
            as_is = readable_as_is(ep)
            rows[f"kiln from the ExportedProgram ({'read as is' if as_is else 'functionalized first'})"], _ = \
                timed(lambda: kiln.convert_model(ep), a.runs)
            rows["kiln capture='export' (both)"], _ = timed(
                lambda: kiln.convert_model(model, example_input=example, input=spec, capture="export"), a.runs)
            if ov is not None:
                ov_in = [([1, -1], ov.Type.i64)] * 2 if spec else None
                rows["OpenVINO convert_model (TorchScript)"], _ = timed(
                    lambda: ov.convert_model(model, example_input=example, input=ov_in), a.runs)
                try:
                    rows["OpenVINO convert_model(ExportedProgram)"], _ = timed(lambda: ov.convert_model(ep), a.runs)
                except Exception as e:  # noqa: BLE001
                    rows["OpenVINO convert_model(ExportedProgram)"] = f"fails: {type(e).__name__}"
        base = rows["kiln trace"]
        for path, s in rows.items():
            if isinstance(s, str):
                print(f"| {name} | {path} | {s} | |")
            else:
                print(f"| {name} | {path} | {s:.2f} | {s / base:.2f} |")


if __name__ == "__main__":
    main()
