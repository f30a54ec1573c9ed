#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a Release tree in build-bench/ and runs the benchmarks; arguments go to mto_bench (try --quick or --help).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
# Release, not the RelWithDebInfo of day-to-day builds: the figures should be those of what ships.
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMTO_BUILD_TESTS=ON >/dev/null
cmake --build build-bench --target mto_bench mto-agent mto-machine-sim
exec build-bench/mto_bench "$@"
