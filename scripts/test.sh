#!/usr/bin/env bash
# The whole test suite: C++ unit tests (ctest), the Python suite (pytest), then a bounded fuzz
# run of the IR reader (scripts/fuzz.sh, KILN_FUZZ_SECONDS, default 90).
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
echo "== IR reader fuzzing (libFuzzer) =="
fuzz_rc=0
bash scripts/fuzz.sh "${KILN_FUZZ_SECONDS:-90}" || fuzz_rc=$?
[ $rc -ne 0 ] && exit $rc
exit $fuzz_rc
