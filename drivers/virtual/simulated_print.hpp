// SPDX-License-Identifier: Apache-2.0
// The print a simulated print host runs: progress over (scaled) time, pause, cancel and injected failures.
#pragma once

#include <chrono>
#include <string>

namespace mto::virt {

struct SimulatedPrintOptions {
    double printSeconds = 60;   // machine time of every print
    double timeScale = 1;       // simulated seconds per real second
};

// Thread-bound. The state advances when it is read, from the clock: no timers.
class SimulatedPrint {
public:
    enum class State { Standby, Printing, Paused, Complete, Cancelled, Error };

    explicit SimulatedPrint(SimulatedPrintOptions o = {}) : options_(o) {}

    void start(const std::string& file);
    bool pause();
    bool resume();
    bool cancel();
    void fail(const std::string& message);                       // an error now (heater, thermal runaway, ...)
    void failAt(double fraction, const std::string& message);    // an error when the print reaches `fraction`
    void forget();                                               // a host that lost its state: standby, no file

    State state();
    double progress();           // 0..1
    double printDuration();      // simulated seconds printed
    const std::string& file() const { return file_; }
    const std::string& message() const { return message_; }
    bool busy() { auto s = state(); return s == State::Printing || s == State::Paused; }
    SimulatedPrintOptions& options() { return options_; }

private:
    void advance();

    SimulatedPrintOptions options_;
    State state_ = State::Standby;
    std::string file_;
    std::string message_;
    double done_ = 0;   // simulated seconds
    std::chrono::steady_clock::time_point since_{};
    double failAt_ = -1;
    std::string failMessage_;
};

const char* toString(SimulatedPrint::State s);

} // namespace mto::virt
