"""kiln demo: torchvision models straight from the model object to a CPU program.

Random weights (no model hub here), a seeded batch of random images; for each model: convert
(scripting, and tracing with an example input), compile, run at another batch and image size
than the example, and compare with torch: top-5 agreement, max error, and median latency.
"""
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


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "mobilenet_v3_large"])
