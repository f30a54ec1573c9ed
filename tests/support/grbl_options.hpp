// SPDX-License-Identifier: Apache-2.0
// GRBL driver settings for tests: a 400 x 400 mm laser, a 600 x 400 mm router with 50 mm of Z, timings short
// enough for a test to wait on, and the loop a test turns while it waits for the driver.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "grbl/grbl_driver.hpp"

namespace mto::test {

inline grbl::GrblDriverOptions laserDriverOptions(const std::string& machineId, const std::string& port) {
    using namespace std::chrono_literals;
    grbl::GrblDriverOptions o;
    o.machineId = machineId;
    o.port = port;
    o.profile.name = "laser-400";
    o.profile.capability = "laser";
    o.profile.sizeX = 400;
    o.profile.sizeY = 400;
    o.profile.maxPower = 1000;
    o.statusWhileRunning = 50ms;
    o.statusWhileIdle = 200ms;
    o.bannerWait = 300ms;
    o.silenceLimit = 1500ms;
    o.reconnectMin = 50ms;
    o.reconnectMax = 200ms;
    return o;
}

// The router of the catalog's cnc-600: 600 x 400 mm, Z from -20 to 30 mm, with the laser's test timings.
inline grbl::GrblDriverOptions cncDriverOptions(const std::string& machineId, const std::string& port) {
    grbl::GrblDriverOptions o = laserDriverOptions(machineId, port);
    o.profile.name = "cnc-600";
    o.profile.capability = "cnc";
    o.profile.sizeX = 600;
    o.profile.sizeY = 400;
    o.profile.minZ = -20;
    o.profile.maxZ = 30;
    return o;
}

// Runs the loop in short slices until `done` holds (true) or `limit` has passed (false).
inline bool runLoopUntil(boost::asio::io_context& io, const std::function<bool()>& done,
                         std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(5));
    }
    return true;
}

} // namespace mto::test
