#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: set-up, then build and
# ctest in the release preset and again under ASan+UBSan. Extra arguments go to ctest
# (e.g. `scripts/test.sh -L unit`). Exit status is ctest's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

bash scripts/setup.sh
presets=${CULVERT_TEST_PRESETS:-"release asan"}
jobs=$(nproc)
status=0
for preset in $presets; do
  echo "== culvert tests: preset $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs" --timeout 600 "$@" || status=1
done
exit $status
