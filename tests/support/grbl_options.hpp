// SPDX-License-Identifier: Apache-2.0
// GRBL driver settings for tests: a 400 x 400 mm laser and timings short enough for a test to wait on.
#pragma once

#include <chrono>
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

} // namespace mto::test
