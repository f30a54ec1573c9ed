// SPDX-License-Identifier: Apache-2.0
// Machine jobs compiled from item specs: toolpath geometry, machine profiles and the job artifact.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mto {

// Millimetres, machine coordinates: X right, Y away from the operator, Z up; origin at the work area's front-left.
struct Point2 {
    double x = 0;
    double y = 0;
};

// One continuous stroke (the tool stays down from the first point to the last).
struct Polyline {
    std::vector<Point2> points;
};

struct BoundingBox {
    double minX = 0, minY = 0, minZ = 0;
    double maxX = 0, maxY = 0, maxZ = 0;
};

// What a machine accepts; the G-code checker refuses programs outside it.
struct MachineProfile {
    std::string name;                 // e.g. "grbl-laser-400x400"
    std::string capability;           // laser | cnc | fdm
    double sizeX = 0, sizeY = 0;      // envelope, mm, from 0
    double minZ = 0, maxZ = 0;        // envelope in Z, mm
    double maxFeed = 0;               // mm/min
    double acceleration = 0;          // mm/s², for estimates
    double maxPower = 1000;           // laser: GRBL $30 (S at full power)
    std::set<std::string> allowedWords;   // e.g. {"G0","G1","G21","G90","M4","M5","S","F"}
};

// A compiled job: the program, where it was checked to stay, and what it costs.
struct JobArtifact {
    std::string capability;           // laser | cnc | fdm
    std::string format;               // gcode-grbl | gcode-marlin
    std::string program;              // the program text
    std::string sha256;               // of program; artifacts are stored by it
    BoundingBox bbox;
    double travelMm = 0;              // tool up / laser off
    double workMm = 0;                // cutting / burning / extruding moves
    double estimatedSeconds = 0;
    std::uint64_t lines = 0;
};

} // namespace mto
