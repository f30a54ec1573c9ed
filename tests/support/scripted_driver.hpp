// SPDX-License-Identifier: Apache-2.0
// A machine driver with no machine behind it: the test or benchmark says when its job ends, and sees what it ran.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mto/driver.hpp"

namespace mto::test {

// Thread-bound to the loop that runs the scheduler it belongs to. It takes every job (check says yes), reports
// Running at once and stays there until finish().
class ScriptedDriver final : public MachineDriver {
public:
    explicit ScriptedDriver(DriverListener& listener) : listener_(listener) {}

    void start() override {}
    void stop(std::function<void()> done) override {
        if (done) done();
    }
    MachineState state() const override { return state_; }
    const MachineIdentity& identity() const override { return identity_; }
    DriverCapabilities capabilities() const override { return {}; }
    std::optional<MachineFault> check(const JobArtifact&) const override { return std::nullopt; }
    void submit(const std::string& jobId, const JobArtifact&, std::uint64_t) override {
        submitted_.push_back(jobId);
        state_ = MachineState::Running;
        listener_.machineState(state_, "");
    }
    void pause() override {}
    void resume() override {}
    void cancel() override {}
    void unlock() override {}

    // The running job ends: every line done, the machine idle again.
    void finish() {
        if (state_ != MachineState::Running || submitted_.empty()) return;
        state_ = MachineState::Idle;
        listener_.jobFinished(submitted_.back());
        listener_.machineState(state_, "");
    }
    // The job ids submitted, oldest first.
    const std::vector<std::string>& submitted() const { return submitted_; }

private:
    DriverListener& listener_;
    MachineState state_ = MachineState::Idle;
    MachineIdentity identity_{"scripted", "1", ""};
    std::vector<std::string> submitted_;
};

} // namespace mto::test
