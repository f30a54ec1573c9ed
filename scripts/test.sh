#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up what is missing and runs the whole suite twice: a normal build and an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=$(nproc)
# The normal build's tests run two per core: they mostly wait on real peers (broker, agent, emulated machines),
# so a second test per core saves a fifth to nearly half of the wall time (docs/ci.md has the figures). The
# ASan+UBSan build's tests need several times the CPU and stay at one per core until they are measured at two.
# MTO_TEST_JOBS sets both.
test_jobs=${MTO_TEST_JOBS:-$((2 * jobs))}
asan_test_jobs=${MTO_TEST_JOBS:-$jobs}
export CTEST_OUTPUT_ON_FAILURE=1

# Both builds are unity builds (MTO_UNITY_BUILD): batches of files compile as one, which about halves the CPU of a
# clean build (docs/ci.md). MTO_UNITY_BUILD=OFF in the environment builds file by file, as developers do.
unity=${MTO_UNITY_BUILD:-ON}

configure() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DMTO_WERROR=ON -DMTO_UNITY_BUILD="$unity" "$@" >/dev/null
}

run_tests() {
  local dir=$1 n=$2
  echo "== test $dir (ctest -j $n)"
  # ctest starts the costliest tests first from its cost data; a fresh build directory has none, so it gets the
  # measured seconds of the slow tests (tests/ctest-costs.txt: name, runs, seconds) and the longest ones do not
  # start last and hold up the end of the run. ctest keeps the file up to date from then on.
  mkdir -p "$dir/Testing/Temporary"
  [ -e "$dir/Testing/Temporary/CTestCostData.txt" ] || cp tests/ctest-costs.txt "$dir/Testing/Temporary/CTestCostData.txt"
  (cd "$dir" && ctest -j "$n" --timeout 900)
}

echo "== build build (RelWithDebInfo)"
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"

# The normal build's tests mostly wait on their peers (broker, agent, emulated machines): the ASan+UBSan build
# compiles meanwhile in the background under the idle CPU policy, so it only takes processor time the tests
# leave unused. The benchmarks are not run by ctest; the normal build compiles them, so they are left out here.
echo "== build build-asan (Debug, ASan+UBSan), in the background while the normal build's tests run"
configure build-asan -DCMAKE_BUILD_TYPE=Debug -DMTO_SANITIZE=ON -DMTO_BUILD_BENCH=OFF
idle=(nice -n 19)
chrt --idle 0 true 2>/dev/null && idle=(chrt --idle 0)
setsid --wait "${idle[@]}" cmake --build build-asan -j "$jobs" >build-asan/build.log 2>&1 &
asan_build=$!
trap 'kill -- -"$asan_build" 2>/dev/null || true' EXIT
run_tests build "$test_jobs"
echo "== waiting for build-asan"
if ! wait "$asan_build"; then
  cat build-asan/build.log
  echo "test.sh: the ASan+UBSan build failed (its whole log is above and in build-asan/build.log)" >&2
  exit 1
fi
trap - EXIT
tail -n 1 build-asan/build.log

# Any sanitizer report aborts the process at hand, so it fails its test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
run_tests build-asan "$asan_test_jobs"
