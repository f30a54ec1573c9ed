// SPDX-License-Identifier: Apache-2.0
// Memory: the agent's resident size with an empty outbox against a large pending backlog, broker down.
#include "agent_rig.hpp"
#include "bench_support.hpp"
#include "benchmarks.hpp"
#include "outbox_filler.hpp"

namespace mto::bench {

namespace {

const std::string kMemoryBench = "memory";
constexpr auto kSettle = std::chrono::seconds(2);
constexpr double kKiBPerMiB = 1024.0;

struct Resident {
    std::int64_t rssKiB = -1;
    std::int64_t peakKiB = -1;
    double databaseMiB = 0;
    std::string exitProblem;   // empty when SIGTERM ended the agent cleanly
    std::string logTail;
};

double databaseMiB(const std::filesystem::path& stateDir) {
    double bytes = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(stateDir, ec))
        if (entry.is_regular_file(ec)) bytes += static_cast<double>(entry.file_size(ec));
    return bytes / (1024.0 * 1024.0);
}

// Starts an agent whose broker is absent, lets it settle and reads its resident size.
Resident measure(const std::filesystem::path& dir, int deadPort, const BenchOptions& o, int events) {
    test::AgentOptions a;
    a.factory = kAgentFactory;
    a.inflightWindow = o.window;
    a.logLevel = o.logLevel;
    test::AgentProcess agent(dir, deadPort, a);
    std::filesystem::create_directories(agent.stateDir());
    if (events > 0) fillOutbox(agent.databasePath(), kAgentFactory, events);
    agent.start();
    Resident r;
    try {
        // The uplink's first line means the database is open and the backlog counted.
        waitFor([&] { return agent.log().find("uplink: broker") != std::string::npos || !agent.running(); },
                std::chrono::seconds(30), "the agent to open its database");
        sleepFor(kSettle);
        if (!agent.running()) throw BenchError("the agent exited:\n" + tail(agent.log(), 15));
        r.rssKiB = residentKiB(agent.pid());
        r.peakKiB = peakResidentKiB(agent.pid());
        if (r.rssKiB < 0) throw BenchError("cannot read VmRSS of pid " + std::to_string(agent.pid()));
    } catch (...) {
        stopAgentProcess(agent);
        throw;
    }
    r.exitProblem = abnormalExit(stopAgentProcess(agent));
    r.logTail = tail(agent.log(), 3);
    r.databaseMiB = databaseMiB(agent.stateDir());
    return r;
}

} // namespace

void runMemoryBench(const BenchOptions& o, BenchReport& report) {
    test::TempDir dir;
    // A port nobody listens on: the agent keeps retrying and every event stays pending.
    const int deadPort = test::freeTcpPort();
    const Resident empty = measure(dir.path() / "empty", deadPort, o, 0);
    report.figure(kMemoryBench, "agent VmRSS, empty database, broker down",
                  fixed(empty.rssKiB / kKiBPerMiB, 1) + " MiB (peak " + fixed(empty.peakKiB / kKiBPerMiB, 1) +
                      " MiB) after " + std::to_string(kSettle.count()) + " s");
    const Resident full = measure(dir.path() / "full", deadPort, o, o.memoryEvents);
    report.figure(kMemoryBench, "agent VmRSS, " + formatCount(o.memoryEvents) + " pending events, broker down",
                  fixed(full.rssKiB / kKiBPerMiB, 1) + " MiB (peak " + fixed(full.peakKiB / kKiBPerMiB, 1) +
                      " MiB) after " + std::to_string(kSettle.count()) + " s; database " +
                      fixed(full.databaseMiB, 1) + " MiB on disk");
    for (const Resident* r : {&empty, &full})
        if (!r->exitProblem.empty())
            report.figure(kMemoryBench, "note",
                          "the agent (" + std::string(r == &empty ? "empty" : "full") +
                              " database, broker down) did not exit cleanly on SIGTERM: " + r->exitProblem + "\n" +
                              r->logTail);
    report.goal(kMemoryBench, "growth with " + formatCount(o.memoryEvents) + " pending events",
                (full.rssKiB - empty.rssKiB) / kKiBPerMiB, "MiB", 10.0, Better::Lower);
}

} // namespace mto::bench
