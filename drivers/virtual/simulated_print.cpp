// SPDX-License-Identifier: Apache-2.0
// The print a simulated print host runs: progress over (scaled) time, pause, cancel and injected failures.
#include "virtual/simulated_print.hpp"

#include <algorithm>

namespace mto::virt {

const char* toString(SimulatedPrint::State s) {
    switch (s) {
    case SimulatedPrint::State::Standby: return "standby";
    case SimulatedPrint::State::Printing: return "printing";
    case SimulatedPrint::State::Paused: return "paused";
    case SimulatedPrint::State::Complete: return "complete";
    case SimulatedPrint::State::Cancelled: return "cancelled";
    case SimulatedPrint::State::Error: return "error";
    }
    return "standby";
}

void SimulatedPrint::advance() {
    if (state_ != State::Printing) return;
    const auto now = std::chrono::steady_clock::now();
    done_ += std::chrono::duration<double>(now - since_).count() * options_.timeScale;
    since_ = now;
    if (failAt_ >= 0 && done_ >= failAt_ * options_.printSeconds) {
        done_ = failAt_ * options_.printSeconds;
        failAt_ = -1;
        state_ = State::Error;
        message_ = failMessage_;
        return;
    }
    if (done_ >= options_.printSeconds) {
        done_ = options_.printSeconds;
        state_ = State::Complete;
        message_.clear();
    }
}

void SimulatedPrint::start(const std::string& file) {
    file_ = file;
    message_.clear();
    done_ = 0;
    since_ = std::chrono::steady_clock::now();
    state_ = State::Printing;
}

bool SimulatedPrint::pause() {
    advance();
    if (state_ != State::Printing) return false;
    state_ = State::Paused;
    return true;
}

bool SimulatedPrint::resume() {
    advance();
    if (state_ != State::Paused) return false;
    since_ = std::chrono::steady_clock::now();
    state_ = State::Printing;
    return true;
}

bool SimulatedPrint::cancel() {
    advance();
    if (state_ != State::Printing && state_ != State::Paused) return false;
    state_ = State::Cancelled;
    return true;
}

void SimulatedPrint::fail(const std::string& message) {
    advance();
    if (state_ != State::Printing && state_ != State::Paused) return;
    state_ = State::Error;
    message_ = message;
}

void SimulatedPrint::failAt(double fraction, const std::string& message) {
    failAt_ = fraction;
    failMessage_ = message;
}

void SimulatedPrint::forget() {
    state_ = State::Standby;
    file_.clear();
    message_.clear();
    done_ = 0;
    failAt_ = -1;
}

SimulatedPrint::State SimulatedPrint::state() {
    advance();
    return state_;
}

double SimulatedPrint::progress() {
    advance();
    return options_.printSeconds > 0 ? std::clamp(done_ / options_.printSeconds, 0.0, 1.0) : 1.0;
}

double SimulatedPrint::printDuration() {
    advance();
    return done_;
}

} // namespace mto::virt
