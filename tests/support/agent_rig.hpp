// SPDX-License-Identifier: Apache-2.0
// One integration test's world: a temp dir, a real mosquitto, the real agent process and the test HQ.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fault_proxy.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {

// What the rig's constructor sets up. The defaults give the common case: the broker started, the agent
// started, HQ connected, and the agent's online status seen by HQ.
struct AgentRigOptions {
    AgentOptions agent = {};
    std::string hqClientId = "test-hq";
    // Off: the test starts the agent itself (after preparing its config, state dir or database).
    bool startAgent = true;
    // Off: the test connects HQ itself, or HQ is another program.
    bool connectHq = true;
    // HQ connects before the agent starts, so its persistent session holds every event from the first one.
    bool hqBeforeAgent = false;
    // Wait for the agent's online status (only when the constructor both starts the agent and connects HQ).
    bool waitForOnline = true;
    std::chrono::milliseconds onlineTimeout = std::chrono::seconds(20);
    // Set: the agent reaches the broker through a FaultProxy seeded with this.
    std::optional<std::uint64_t> faultProxySeed = {};
};

// Thread-bound (the test's thread). Pieces are built in the order broker, proxy, agent, HQ and torn down
// the other way round; the agent is left as the test leaves it (a running one is killed, not stopped, so
// the rig adds no assertion of its own). The agent may be stopped, killed and started again on the same
// state dir; a second AgentProcess can live beside it under dir().
class AgentRig {
public:
    // Throws std::runtime_error (with the agent's log) when the agent does not say online in time.
    explicit AgentRig(AgentRigOptions options = {});
    AgentRig(const AgentRig&) = delete;
    AgentRig& operator=(const AgentRig&) = delete;

    const std::filesystem::path& dir() const { return dir_.path(); }
    Broker& broker() { return broker_; }
    AgentProcess& agent() { return *agent_; }
    HqClient& hq() { return *hq_; }
    FaultProxy& proxy();

    // Waits until HQ holds a retained online status; throws std::runtime_error with the agent's log if not.
    void waitForOnline();
    void waitForOnline(std::chrono::milliseconds timeout);

    // The first event HQ saw with this milestone for this order.
    std::optional<SeenEvent> milestone(const std::string& orderId, const std::string& name);
    bool waitForMilestone(const std::string& orderId, const std::string& name, std::chrono::milliseconds timeout);

    // scalar() on the agent's database, through a read-only connection of its own.
    std::int64_t scalar(const std::string& sql) const;
    // Runs mtoctl with the agent's config; returns its exit code and fills `output` with stdout+stderr.
    int mtoctl(const std::vector<std::string>& args, std::string& output) const;

private:
    AgentRigOptions options_;
    TempDir dir_;
    Broker broker_;
    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<AgentProcess> agent_;
    std::unique_ptr<HqClient> hq_;
};

} // namespace mto::test
