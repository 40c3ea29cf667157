#!/usr/bin/env bash
# kiln's main job: convert torchvision models straight from the model object, run them on the
# CPU, and compare with torch (top-5 agreement and latency).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/demo.py "$@"
