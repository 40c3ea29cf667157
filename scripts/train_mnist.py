"""Trains tests/python/mnist_data.py's MnistCNN on the real MNIST training set (scripts/
fetch_mnist.sh gets it) and writes tests/data/mnist_cnn.pt (about 0.4 MB), the FP32 model that
tests/python/test_quantize_accuracy.py quantizes. Deterministic (seeded); a minute or two on 2 cores.

    .venv/bin/python scripts/train_mnist.py
"""
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "python"))
from mnist_data import WEIGHTS, MnistCNN, load  # noqa: E402


def main(epochs: int = 2, batch: int = 128):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, y = load("train")
    xt, yt = load("t10k")
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = MnistCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=epochs * (len(x) // batch + 1))
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
        print(f"epoch {ep + 1}: test accuracy {acc * 100:.2f}% ({time.perf_counter() - t0:.0f} s)")
    torch.save(model.state_dict(), WEIGHTS)
    print(f"wrote {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
