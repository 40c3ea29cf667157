#!/usr/bin/env bash
# The whole test suite: C++ unit tests (ctest), then the Python suite (pytest).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m large` for the largest zoo models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== C++ unit tests (ctest) =="
.venv/bin/ctest --test-dir build/py --output-on-failure -j 2
echo "== Python tests (pytest) =="
set +e
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
rc=$?
set -e
# pytest's 5 means no test ran: that is a failure, never a pass.
if [ $rc -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi
exit $rc
