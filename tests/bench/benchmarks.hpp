// SPDX-License-Identifier: Apache-2.0
// The benchmarks mto_bench can run; each measures the agent and a baseline in the same run.
#pragma once

#include "bench_options.hpp"
#include "bench_report.hpp"

namespace mto::bench {

// Each throws BenchError when it cannot produce its figures, Interrupted on Ctrl-C.
void runIngestBench(const BenchOptions& options, BenchReport& report);
void runLatencyBench(const BenchOptions& options, BenchReport& report);
void runDrainBench(const BenchOptions& options, BenchReport& report);
void runMemoryBench(const BenchOptions& options, BenchReport& report);
void runCompileBench(const BenchOptions& options, BenchReport& report);
void runGrblStreamBench(const BenchOptions& options, BenchReport& report);
void runMarlinStreamBench(const BenchOptions& options, BenchReport& report);
void runSchedulerBench(const BenchOptions& options, BenchReport& report);
void runMediaLatencyBench(const BenchOptions& options, BenchReport& report);
void runMediaDrainBench(const BenchOptions& options, BenchReport& report);
void runCameraMemoryBench(const BenchOptions& options, BenchReport& report);
void runScanBench(const BenchOptions& options, BenchReport& report);
void runJigBench(const BenchOptions& options, BenchReport& report);
void runIdleBench(const BenchOptions& options, BenchReport& report);

} // namespace mto::bench
