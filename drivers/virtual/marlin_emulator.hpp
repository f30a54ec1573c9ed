// SPDX-License-Identifier: Apache-2.0
// An emulated Marlin 2.1 FDM printer speaking the firmware's serial protocol over a pseudo-terminal, with a
// temperature and motion-time model and fault injection, for the Marlin driver's tests, the benchmark and
// the demo.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mto::virt {

struct MarlinEmulatorOptions {
    std::string linkPath;            // symlink the pty slave is published at; re-pointed after reconnect()
    unsigned baud = 115200;
    bool pacing = false;             // bytes move at the line rate both ways (baud/10 bytes a second)
    double speedFactor = 1.0;        // motion, dwell, homing and heating time divided by this
    bool resetOnOpen = true;         // USB board: "start" and the boot lines when a host opens the port
    std::string firmwareName = "Marlin";   // FIRMWARE_NAME's first word (tests set another firmware)
    std::string version = "2.1.2";
    std::string machineType = "Prusa i3 MK3S (emulated)";
    bool autoReportTemp = true;      // Cap:AUTOREPORT_TEMP (M155)
    unsigned commandBuffer = 4;      // BUFSIZE: commands taken from the line before they run
    unsigned plannerBlocks = 16;     // moves queued ahead of the one running
    double hotendRate = 2.5;         // °C/s of machine time while heating (cooling at half of it)
    double bedRate = 0.8;
    double ambient = 25;
    double homingSeconds = 8;        // G28 (machine time)
    double probingSeconds = 30;      // G29 (machine time)
    unsigned busyIntervalMs = 2000;  // "busy: processing" while a command blocks (real time)
    double checksumErrorRate = 0;    // share of numbered lines that arrive with a bad checksum
    unsigned randomSeed = 1;
};

class MarlinMachine;

// Thread-bound: every call, including the fault injections, on the io_context's thread (or posted to it).
class MarlinEmulator {
public:
    // Creates the pty and publishes the symlink at once; throws mto::Error when it cannot.
    MarlinEmulator(boost::asio::io_context& io, MarlinEmulatorOptions options);
    ~MarlinEmulator();
    MarlinEmulator(const MarlinEmulator&) = delete;
    MarlinEmulator& operator=(const MarlinEmulator&) = delete;

    std::string devicePath() const;
    void setLogger(std::function<void(std::string_view)> logger);

    // Fault injection.
    void setChecksumErrorRate(double rate);
    void loseLine(std::uint64_t n);          // the n-th line received (1-based, see linesReceived) vanishes
    void thermalRunaway();                   // "Error:Thermal Runaway ..." then kill(): halted until reset
    void halt(const std::string& why = "Printer halted. kill() called!");   // kill() with these words
    void disconnectAfterLines(std::uint64_t n);   // unplug once n more numbered lines were taken
    void disconnect();                       // close the pty master, remove the symlink
    void reconnect();                        // a new pty at the same symlink, power-on state

    // Observation.
    const std::vector<std::string>& executed() const;   // every program line run, as sent (no N, no *cs)
    std::uint64_t linesReceived() const;
    std::uint64_t resendsRequested() const;
    double hotend() const;
    double bed() const;
    bool halted() const;
    bool hostConnected() const;
    std::uint64_t resets() const;

private:
    std::unique_ptr<MarlinMachine> machine_;
};

} // namespace mto::virt
