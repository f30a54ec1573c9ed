// SPDX-License-Identifier: Apache-2.0
// Command-line options of mto_bench: which benchmarks to run and how big to make them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mto::bench {

struct BenchOptions {
    std::vector<std::string> benchmarks;   // in the order they run
    bool quick = false;
    bool strict = false;                   // a MISS fails the exit code too
    int orders = 5000;                     // ingest
    int roundTrips = 1000;                 // latency, measured
    int warmup = 50;                       // latency, not measured
    int events = 100000;                   // drain
    int memoryEvents = 100000;             // memory
    int window = 64;                       // the agent's mqtt.inflight_window, and the bare publisher's
    int idleStatusMs = 5000;               // idle: the machines' status_idle_ms
    std::string logLevel = "info";         // the agent's log level; info is what factories run
};

const std::vector<std::string>& allBenchmarks();

// Returns nullopt and fills `error` on bad input; `error` stays empty when --help was asked for.
std::optional<BenchOptions> parseBenchOptions(int argc, char** argv, std::string& error);
std::string benchUsage();

} // namespace mto::bench
