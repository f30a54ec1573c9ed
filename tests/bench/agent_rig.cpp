// SPDX-License-Identifier: Apache-2.0
// One benchmark's world: a temporary directory, a real mosquitto, the real agent process and the test HQ.
#include "agent_rig.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cstring>

#include "bench_support.hpp"

namespace mto::bench {

namespace {

test::AgentOptions agentOptions(const BenchOptions& o, const std::string& extraConfig, std::int64_t mediaRateKiBs) {
    test::AgentOptions a;
    a.mediaRateKiBs = mediaRateKiBs;
    a.extraConfig = extraConfig;
    a.factory = kAgentFactory;
    a.inflightWindow = o.window;
    a.logLevel = o.logLevel;
    return a;
}

} // namespace

AgentRig::AgentRig(const BenchOptions& options, const std::string& extraConfig, std::int64_t mediaRateKiBs)
    : broker_(dir_.path() / "broker"),
      agent_(dir_.path() / "agent", broker_.port(), agentOptions(options, extraConfig, mediaRateKiBs)) {
    broker_.start();
}

AgentRig::~AgentRig() {
    try {
        hq_.reset();
        stopAgent();
        broker_.stop();
    } catch (...) {
        // Process and TempDir destructors still kill and remove what is left.
    }
}

test::HqClient& AgentRig::hq() {
    if (!hq_) throw BenchError("the test HQ is not connected");
    return *hq_;
}

void AgentRig::connectHq() {
    hq_ = std::make_unique<test::HqClient>(broker_.uri(), kAgentFactory, "bench-hq");
    hq_->connect();
}

void AgentRig::startAgentOnline() {
    if (!hq_) connectHq();
    agent_.start();
    // Sliced so Ctrl-C is noticed while we wait.
    waitFor([&] { return hq_->waitForOnline(std::chrono::milliseconds(100)) || !agent_.running(); },
            std::chrono::seconds(30), "the agent to come online");
    if (!agent_.running()) throw BenchError("the agent exited at start:\n" + agentLogTail());
}

void AgentRig::waitForHqEvents(std::size_t count, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds every) {
    bool exited = false;
    try {
        waitFor(
            [&] {
                if (hq_->eventCount() >= count) return true;
                exited = !agent_.running();
                return exited;
            },
            timeout, std::to_string(count) + " events at HQ", every);
    } catch (const BenchError& e) {
        throw BenchError(std::string(e.what()) + " (HQ has " + std::to_string(hq_->eventCount()) + "); agent log:\n" +
                         agentLogTail());
    }
    if (exited && hq_->eventCount() < count)
        throw BenchError("the agent exited with " + std::to_string(hq_->eventCount()) + " of " + std::to_string(count) +
                         " events at HQ; agent log:\n" + agentLogTail());
}

int AgentRig::stopAgent() { return stopAgentProcess(agent_); }

int stopAgentProcess(test::AgentProcess& agent) {
    if (!agent.running()) return -1;
    ::kill(agent.pid(), SIGTERM);
    int status = agent.waitExit(std::chrono::seconds(15));
    if (status == -1) {
        agent.kill9();
        return SIGKILL;   // as a wait status: killed by SIGKILL
    }
    return status;
}

std::string abnormalExit(int status) {
    if (status == -1 || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return {};
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
               ")" + (WTERMSIG(status) == SIGKILL ? ", after 15 s without exiting" : "");
    return "wait status " + std::to_string(status);
}

std::string AgentRig::agentLogTail(std::size_t lines) const { return tail(agent_.log(), lines); }

} // namespace mto::bench
