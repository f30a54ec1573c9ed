// SPDX-License-Identifier: Apache-2.0
// Command-line options of mto_bench: which benchmarks to run and how big to make them.
#include "bench_options.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace mto::bench {

const std::vector<std::string>& allBenchmarks() {
    static const std::vector<std::string> names{"ingest", "latency", "drain", "memory", "compile", "grbl", "marlin",
                                                "scheduler", "scan", "jig", "idle", "media-latency", "media-drain",
                                                "camera-memory"};
    return names;
}

std::string benchUsage() {
    return "usage: mto_bench [BENCHMARK...] [options]\n"
           "  BENCHMARK        ingest, latency, drain, memory, compile, grbl, marlin, scheduler, scan, jig, idle,\n"
           "                   media-latency, media-drain, camera-memory (default: all, in order)\n"
           "                   media-latency: receipt p99 while 2,000 snapshots of 1 MiB stream out vs none (trips: at\n"
           "                   most 400); media-drain: events (at most 20,000) + a 200 KiB snapshot per 20 vs a bare\n"
           "                   Paho publisher, first to last message at HQ, median of 5 alternating rounds (quick: 3);\n"
           "                   camera-memory: agent RSS with 4 open 720p MJPEG cameras at 10 fps vs none\n"
           "                   compile: laser items/s on one core, bulk orders of 1/100/10,000 items (quick: 1,000)\n"
           "                   through the item compiler and through the compile room, slice-cache hit vs miss\n"
           "                   grbl: serial-line use streaming a 20,000-segment laser job (quick: 2,000) to the GRBL\n"
           "                   emulator at 115200 baud, character counting vs send-and-wait\n"
           "                   marlin: a 10,000-move print (quick: 2,000) to the Marlin emulator pacing bytes at\n"
           "                   115200 baud, 4 commands in flight vs send-and-wait (in_flight = 1)\n"
           "                   scheduler: dispatch decisions over 10,000 queued jobs (quick: 2,000) and 20 machines\n"
           "                   jig: machine time of a 200-tag order on a 20-slot jig vs one job per tag (estimator,\n"
           "                   bed clear per job included)\n"
           "                   idle: the agent process with 3 connected idle GRBL machines (mto-machine-sim) over 60 s\n"
           "                   (quick: 10 s): CPU and wake-ups (context switches of all its threads) vs `sleep` and vs\n"
           "                   the wake-ups its configured timers explain\n"
           "  --quick          small sizes for a smoke test (under a minute); explicit sizes still win\n"
           "  --orders N       ingest: orders published pipelined (default 5000, quick 500)\n"
           "  --round-trips N  latency, scan: measured round trips (default 1000, quick 200)\n"
           "  --warmup N       latency, scan: round trips before measuring (default 50, quick 20)\n"
           "  --events N       drain: pending events to drain (default 100000, quick 10000)\n"
           "  --memory-events N  memory: pending events in the full database (default 100000, quick 10000)\n"
           "  --window N       the agent's mqtt.inflight_window and the bare publisher's window (default 64)\n"
           "  --idle-status-ms N  idle: the machines' status_idle_ms (default 5000, the agent's default; at least 100)\n"
           "  --log-level L    the agent's log level (default info)\n"
           "  --strict         exit 3 when a goal is missed (default: only failures set the exit code)\n"
           "Exit code: 0 all benchmarks produced their figures, 1 a benchmark failed, 2 bad usage,\n"
           "3 a goal was missed under --strict, 130 interrupted.\n";
}

std::optional<BenchOptions> parseBenchOptions(int argc, char** argv, std::string& error) {
    BenchOptions o;
    std::map<std::string, int*> sizes{{"--orders", &o.orders},         {"--round-trips", &o.roundTrips},
                                      {"--warmup", &o.warmup},         {"--events", &o.events},
                                      {"--memory-events", &o.memoryEvents}, {"--window", &o.window},
                                      {"--idle-status-ms", &o.idleStatusMs}};
    std::map<std::string, int> given;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        auto eq = arg.find('=');
        if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        auto needValue = [&]() -> bool {
            if (!value.empty()) return true;
            if (i + 1 >= argc) {
                error = arg + " needs a value";
                return false;
            }
            value = argv[++i];
            return true;
        };
        if (arg == "--help" || arg == "-h") {
            error.clear();
            return std::nullopt;
        } else if (arg == "--quick") {
            o.quick = true;
        } else if (arg == "--strict") {
            o.strict = true;
        } else if (arg == "--log-level") {
            if (!needValue()) return std::nullopt;
            o.logLevel = value;
        } else if (auto it = sizes.find(arg); it != sizes.end()) {
            if (!needValue()) return std::nullopt;
            int n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            bool zeroOk = arg == "--warmup";
            if (ec != std::errc() || end != value.data() + value.size() || n < (zeroOk ? 0 : 1)) {
                error = arg + " wants a " + (zeroOk ? "non-negative" : "positive") + " whole number, not '" + value + "'";
                return std::nullopt;
            }
            given[arg] = n;
        } else if (std::find(allBenchmarks().begin(), allBenchmarks().end(), arg) != allBenchmarks().end()) {
            if (std::find(o.benchmarks.begin(), o.benchmarks.end(), arg) == o.benchmarks.end())
                o.benchmarks.push_back(arg);
        } else {
            error = "unknown argument '" + arg + "'";
            return std::nullopt;
        }
    }
    if (o.quick) {
        o.orders = 500;
        o.roundTrips = 200;
        o.warmup = 20;
        o.events = 10000;
        o.memoryEvents = 10000;
    }
    for (const auto& [flag, n] : given) *sizes.at(flag) = n;
    if (o.window > 65535) {
        error = "--window must be at most 65535 (the agent's limit)";
        return std::nullopt;
    }
    if (o.idleStatusMs < 100 || o.idleStatusMs > 600000) {
        error = "--idle-status-ms must be from 100 to 600000 (the agent's limits on status_idle_ms)";
        return std::nullopt;
    }
    if (o.benchmarks.empty()) o.benchmarks = allBenchmarks();
    return o;
}

} // namespace mto::bench
