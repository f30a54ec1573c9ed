// SPDX-License-Identifier: Apache-2.0
// One benchmark's world: a temporary directory, a real mosquitto, the real agent process and the test HQ.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "bench_options.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::bench {

// The agent's factory id, and the one the bare baselines use: same length, so topics and payloads
// of both have the same size.
inline const std::string kAgentFactory = "bench-a";
inline const std::string kBareFactory = "bench-b";

// Thread-bound. Tears down in the safe order: HQ, agent (SIGTERM, then kill), broker, files.
class AgentRig {
public:
    // `extraConfig` is appended to the agent's config as it is (e.g. a [[scanners]] table). The agent runs with
    // its own default media rate unless `mediaRateKiBs` says otherwise (0: no limit).
    explicit AgentRig(const BenchOptions& options, const std::string& extraConfig = "", std::int64_t mediaRateKiBs = -1);
    ~AgentRig();
    AgentRig(const AgentRig&) = delete;
    AgentRig& operator=(const AgentRig&) = delete;

    test::Broker& broker() { return broker_; }
    test::AgentProcess& agent() { return agent_; }
    test::HqClient& hq();

    // Connects the test HQ (persistent session, subscribed to events and status).
    void connectHq();
    // Starts the agent and waits until HQ sees it say online.
    void startAgentOnline();
    // Waits until HQ holds `count` distinct events, failing early if the agent dies.
    void waitForHqEvents(std::size_t count, std::chrono::milliseconds timeout, std::chrono::milliseconds every);
    // SIGTERM and wait; returns the wait status, or -1 when the agent was not running.
    int stopAgent();
    std::string agentLogTail(std::size_t lines = 15) const;

private:
    test::TempDir dir_;
    test::Broker broker_;
    test::AgentProcess agent_;
    std::unique_ptr<test::HqClient> hq_;
};

// Stops an agent with SIGTERM (SIGKILL after 15 s) and returns its wait status; -1 when it was not running.
int stopAgentProcess(test::AgentProcess& agent);
// Empty for a clean exit (status 0), else what went wrong, for a note in the report.
std::string abnormalExit(int status);

} // namespace mto::bench
