// SPDX-License-Identifier: Apache-2.0
// Run time, distances and extent of a G-code program on one machine, and the job artifact's figures.
#pragma once

#include "compiler/gcode_program.hpp"
#include "mto/job.hpp"

namespace mto {

struct GcodeEstimate {
    double seconds = 0;
    double travelMm = 0;   // moves that are not work (see isWorkMove)
    double workMm = 0;
    BoundingBox bbox;      // of every move's end point; all zero for a program without moves
};

// Thread-safe: holds only the profile.
//
// Time model (an approximation of what GRBL's and Marlin's planners do, for quoting and scheduling):
// - each move runs at its F, capped at maxFeed; G0, and feed moves before any F, run at maxFeed;
// - speed changes at the profile's acceleration (trapezoid: accelerate, cruise, decelerate);
// - at a join the tool keeps min(speed before, speed after) when the direction turns by 45° or less
//   (flattened arcs and polylines flow through), and stops at sharper corners, at the start and end,
//   and around moves that only drive the extruder;
// - speeds are then lowered where a move is too short to reach them (forward and backward pass);
// - a G4 dwell stops the tool and adds its time: P in seconds on GRBL machines (laser, cnc), P in
//   milliseconds or S in seconds on Marlin printers (fdm).
// - M2/M30 (program end) take no time; the modes they reset are the parser's (see GcodeProgram).
// Not counted: homing, heating and tool changes.
class GcodeEstimator {
public:
    // Throws mto::Error when maxFeed or acceleration is not above 0.
    explicit GcodeEstimator(MachineProfile profile);

    GcodeEstimate estimate(const GcodeProgram& program) const;

    // Fills bbox, travelMm, workMm, estimatedSeconds and lines from artifact.program.
    // Throws mto::Error when the program does not parse or is for another capability than the machine's.
    static void annotate(JobArtifact& artifact, const MachineProfile& profile);
    // The same from an already parsed copy of artifact.program (saves parsing it twice).
    static void annotate(JobArtifact& artifact, const GcodeProgram& program, const MachineProfile& profile);

    // Seconds a G4 stands still on this kind of machine.
    static double dwellSeconds(const Dwell& dwell, const std::string& capability);

private:
    MachineProfile profile_;
};

} // namespace mto
