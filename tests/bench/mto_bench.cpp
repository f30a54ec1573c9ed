// SPDX-License-Identifier: Apache-2.0
// mto_bench: runs the agent's benchmarks against the real binary and prints each figure beside its baseline.
#include <cstdio>
#include <functional>
#include <map>
#include <spdlog/spdlog.h>
#include <thread>

#include "bench_options.hpp"
#include "bench_report.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "commit_subscriber.hpp"
#include "test_env.hpp"

int main(int argc, char** argv) {
    using namespace mto::bench;
    // The ingest benchmark starts this binary again as its baseline C subscriber (a process of its own, as
    // the agent is, so it does not share Paho's delivery thread with the benchmark's publisher).
    if (argc > 1 && std::string(argv[1]) == "--commit-subscriber") return runCommitSubscriber(argc, argv);
    std::string error;
    auto options = parseBenchOptions(argc, argv, error);
    if (!options) {
        std::fputs(error.empty() ? "" : ("mto_bench: " + error + "\n").c_str(), stderr);
        std::fputs(benchUsage().c_str(), error.empty() ? stdout : stderr);
        return error.empty() ? 0 : 2;
    }
    const BenchOptions& o = *options;
    // The store code used to fill outboxes logs migrations; only the benchmark lines belong on stdout.
    spdlog::set_level(spdlog::level::warn);
    installInterruptHandlers();

    std::printf("mto_bench: agent %s; %u CPU(s)%s\n", mto::test::agentBinary().c_str(),
                std::thread::hardware_concurrency(), o.quick ? "; quick sizes" : "");
    std::printf("mto_bench: ingest %d orders, latency %d round trips + %d warm-up, drain %d events, memory %d events, "
                "window %d, agent log level %s\n",
                o.orders, o.roundTrips, o.warmup, o.events, o.memoryEvents, o.window, o.logLevel.c_str());
    std::fflush(stdout);

    const std::map<std::string, std::function<void(const BenchOptions&, BenchReport&)>> runners{
        {"ingest", runIngestBench}, {"latency", runLatencyBench}, {"drain", runDrainBench}, {"memory", runMemoryBench},
        {"compile", runCompileBench}, {"grbl", runGrblStreamBench}, {"marlin", runMarlinStreamBench},
        {"scheduler", runSchedulerBench}, {"scan", runScanBench}, {"jig", runJigBench}, {"idle", runIdleBench},
        {"media-latency", runMediaLatencyBench}, {"media-drain", runMediaDrainBench},
        {"camera-memory", runCameraMemoryBench}};
    BenchReport report;
    for (const auto& name : o.benchmarks) {
        auto started = Clock::now();
        try {
            runners.at(name)(o, report);
        } catch (const Interrupted&) {
            report.error(name, "interrupted; fixtures stopped");
            report.summary();
            return 130;
        } catch (const std::exception& e) {
            report.error(name, e.what());
        }
        report.figure(name, "wall time", fixed(secondsBetween(started, Clock::now()), 1) + " s");
    }
    if (!report.summary()) return 1;
    return o.strict && report.misses() > 0 ? 3 : 0;
}
