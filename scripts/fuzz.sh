#!/usr/bin/env bash
# Fuzzes kiln's IR reader with libFuzzer (clang-14, AddressSanitizer) for a bounded time:
#   bash scripts/fuzz.sh [seconds=60] [extra libFuzzer flags...]
# Builds tests/fuzz into build/fuzz (a small build: core, ops, IR code), then mutates the corpus
# tests/fuzz/corpus (valid IR pairs; new inputs it finds go to build/fuzz/corpus, the repo's corpus
# is not changed). A crash, sanitizer report, non-IRError exception, allocation over 1 GiB or an
# input running over 10 s fails the run; the input is kept in build/fuzz/artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
shift || true
CXX=${KILN_FUZZ_CXX:-clang++-14}
command -v "$CXX" >/dev/null || { echo "[fuzz] $CXX not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
CMAKE=cmake
[ -x .venv/bin/cmake ] && CMAKE=.venv/bin/cmake
GEN=()
{ command -v ninja >/dev/null || [ -x .venv/bin/ninja ]; } && GEN=(-G Ninja)
export PATH="$PWD/.venv/bin:$PATH"
if [ ! -f build/fuzz/CMakeCache.txt ]; then
  "$CMAKE" -S tests/fuzz -B build/fuzz "${GEN[@]}" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
"$CMAKE" --build build/fuzz -j 2 >build/fuzz/build.log 2>&1 || { tail -30 build/fuzz/build.log >&2; exit 1; }
mkdir -p build/fuzz/corpus build/fuzz/artifacts
echo "[fuzz] fuzz_ir_reader for ${SECONDS_TO_RUN}s on $(ls tests/fuzz/corpus | wc -l) corpus pairs"
build/fuzz/fuzz_ir_reader build/fuzz/corpus tests/fuzz/corpus \
  -dict=tests/fuzz/ir.dict -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=3072 \
  -malloc_limit_mb=1024 -max_len=300000 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ "$@" \
  2>build/fuzz/last_run.log || { tail -60 build/fuzz/last_run.log >&2; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" build/fuzz/last_run.log || true
