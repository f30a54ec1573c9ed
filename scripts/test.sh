#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up what is missing and runs the whole suite twice: a normal build and an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=$(nproc)
# Tests run one per core (MTO_TEST_JOBS sets another number). They mostly wait on real peers, but two per core
# made timing-sensitive tests fail (see docs/ci.md).
test_jobs=${MTO_TEST_JOBS:-$jobs}
export CTEST_OUTPUT_ON_FAILURE=1

run_suite() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S . -B "$dir" -G Ninja -DMTO_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  # ctest starts the costliest tests first from its cost data; a fresh build directory has none, so it gets the
  # measured seconds of the slow tests (tests/ctest-costs.txt: name, runs, seconds) and the longest ones do not
  # start last and hold up the end of the run. ctest keeps the file up to date from then on.
  mkdir -p "$dir/Testing/Temporary"
  [ -e "$dir/Testing/Temporary/CTestCostData.txt" ] || cp tests/ctest-costs.txt "$dir/Testing/Temporary/CTestCostData.txt"
  (cd "$dir" && ctest -j "$test_jobs" --timeout 900)
}

run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Any sanitizer report aborts the process at hand, so it fails its test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
# The benchmarks are not run by ctest; the normal build compiles them, so they are left out here.
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMTO_SANITIZE=ON -DMTO_BUILD_BENCH=OFF
