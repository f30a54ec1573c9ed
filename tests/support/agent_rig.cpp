// SPDX-License-Identifier: Apache-2.0
// One integration test's world: a temp dir, a real mosquitto, the real agent process and the test HQ.
#include "agent_rig.hpp"

#include <stdexcept>
#include <utility>

namespace mto::test {

AgentRig::AgentRig(AgentRigOptions options) : options_(std::move(options)), broker_(dir_.path() / "broker") {
    broker_.start();
    if (options_.faultProxySeed) proxy_ = std::make_unique<FaultProxy>(broker_.port(), *options_.faultProxySeed);
    agent_ = std::make_unique<AgentProcess>(dir_.path() / "agent", proxy_ ? proxy_->port() : broker_.port(),
                                            options_.agent);
    hq_ = std::make_unique<HqClient>(broker_.uri(), agent_->options().factory, options_.hqClientId);
    if (options_.hqBeforeAgent && options_.connectHq) hq_->connect();
    if (options_.startAgent) agent_->start();
    if (!options_.hqBeforeAgent && options_.connectHq) hq_->connect();
    if (options_.startAgent && options_.connectHq && options_.waitForOnline) waitForOnline();
}

FaultProxy& AgentRig::proxy() {
    if (!proxy_) throw std::logic_error("this rig has no fault proxy: set AgentRigOptions::faultProxySeed");
    return *proxy_;
}

void AgentRig::waitForOnline() { waitForOnline(options_.onlineTimeout); }

void AgentRig::waitForOnline(std::chrono::milliseconds timeout) {
    if (!hq_->waitForOnline(timeout))
        throw std::runtime_error("the agent did not say online within " + std::to_string(timeout.count()) +
                                 " ms; its log:\n" + agent_->log());
}

std::optional<SeenEvent> AgentRig::milestone(const std::string& orderId, const std::string& name) {
    for (const auto& e : hq_->events())
        if (e.orderId == orderId && e.milestone == name) return e;
    return std::nullopt;
}

bool AgentRig::waitForMilestone(const std::string& orderId, const std::string& name,
                                std::chrono::milliseconds timeout) {
    return waitUntil([&] { return milestone(orderId, name).has_value(); }, timeout);
}

std::int64_t AgentRig::scalar(const std::string& sql) const { return test::scalar(agent_->databasePath(), sql); }

int AgentRig::mtoctl(const std::vector<std::string>& args, std::string& output) const {
    std::vector<std::string> argv{mtoctlBinary(), "--config", agent_->configPath().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, output);
}

} // namespace mto::test
