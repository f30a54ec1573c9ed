// SPDX-License-Identifier: Apache-2.0
// An emulated GRBL 1.1h controller speaking the firmware's serial protocol over a pseudo-terminal, with
// fault injection, for the GRBL driver's tests, the demo and factories trying the agent without machines.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mto::virt {

struct GrblEmulatorOptions {
    std::string linkPath;            // symlink the pty slave is published at; re-pointed after reconnect()
    unsigned baud = 115200;          // line rate both ways: a byte takes 10/baud s (start + 8 + stop)
    double speedFactor = 1.0;        // motion and dwell time divided by this (the demo uses e.g. 20)
    bool resetOnOpen = true;         // USB board: resets (banner) when a host opens the port; false = a
                                     // network bridge: the banner only after a 0x18
    bool laserMode = false;          // $32
    double maxSpindle = 1000, minSpindle = 0;     // $30, $31
    double maxTravel[3] = {400, 400, 50};         // $130..$132 (mm)
    double maxRate[3] = {6000, 6000, 1000};       // $110..$112 (mm/min)
    double acceleration[3] = {1000, 1000, 200};   // $120..$122 (mm/s^2)
    int statusMask = 1;              // $10: bit 0 MPos (else WPos), bit 1 Bf: buffer state
    std::string buildInfo;           // the text after the version in [VER:1.1h.20190830:...]
};

class GrblMachine;

// Thread-bound: every call, including the fault injections, on the io_context's thread (or posted to it).
// It owns the pty master and its symlink; no threads of its own, timers only while something is due.
class GrblEmulator {
public:
    // Creates the pty and publishes the symlink at once; throws mto::Error when it cannot.
    GrblEmulator(boost::asio::io_context& io, GrblEmulatorOptions options);
    ~GrblEmulator();
    GrblEmulator(const GrblEmulator&) = delete;
    GrblEmulator& operator=(const GrblEmulator&) = delete;

    // linkPath, or the /dev/pts/N path when no link was asked for ("" while disconnected without a link).
    std::string devicePath() const;
    // One line per connection, reset and alarm (the simulator binary sends these to stderr).
    void setLogger(std::function<void(std::string_view)> logger);

    // Fault injection.
    void injectAlarm(int code);                          // ALARM:1/2 are critical: "Reset to continue",
                                                         // nothing is read until 0x18; others: Alarm state
    void failLine(std::uint64_t lineNo, int errorCode);  // the lineNo-th line (1-based, see linesReceived)
                                                         // answers error:code and is not executed
    void loseOk(std::uint64_t lineNo);                   // that line is executed but its ok never sent
    void stall(bool on);                                 // stop reading and answering; bytes pile up unread
    void disconnect();                                   // close the pty master, remove the symlink
    void reconnect();                                    // a new pty at the same symlink, power-on state
    // Runs `action` when the n-th line of G-code (1-based, counted as gcodeLinesReceived counts) has been taken,
    // before it is executed or answered, so failLine(linesReceived(), …) and loseOk(linesReceived()) called from
    // it hit that very line. It runs inside the firmware's line handling: an action that unplugs, stalls or
    // alarms the board should post that to the io_context. Several actions at one line run in the order given.
    void atGcodeLine(std::uint64_t n, std::function<void()> action);

    // Observation.
    std::uint64_t linesReceived() const;   // lines GRBL answered or will answer (empty lines included, as
                                           // GRBL answers "ok" to them), counted since construction
    std::uint64_t gcodeLinesReceived() const;  // of them, the lines of G-code (not empty, not a $ command)
    std::uint64_t bytesLost() const;       // bytes dropped because the 128-byte RX buffer was full
    std::uint64_t statusQueries() const;   // realtime '?' bytes received since construction
    double lowestZ() const;                // the lowest machine Z a move ended at since construction (mm)
    double highestSpindle() const;         // the highest spindle speed / laser power M3/M4 set since construction
    std::string state() const;             // Idle, Run, Hold:0, Hold:1, Alarm, Check, Sleep
    std::array<double, 3> position() const;   // machine position (mm)
    double spindleOutput() const;          // the spindle/laser output now, as FS: reports it
    bool laserOnDuringRapid() const;       // output was above zero during a G0 move since the last reset
    bool hostConnected() const;            // a host has the slave open
    int plannerBlocks() const;             // blocks queued in the planner (0..15)
    std::uint64_t resets() const;          // banners sent (power-on, reset, host open)

private:
    std::unique_ptr<GrblMachine> machine_;
};

} // namespace mto::virt
