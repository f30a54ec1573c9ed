// SPDX-License-Identifier: Apache-2.0
// Turns laid-out text strokes into a GRBL laser-mode G-code job.
#pragma once

#include <string>
#include <vector>

#include "mto/job.hpp"

namespace mto {

// How one material is burnt; comes from the catalog.
struct LaserMaterial {
    std::string name;
    double power = 0;   // S value, 0 < power <= MachineProfile::maxPower (GRBL $30)
    double feed = 0;    // mm/min while burning
    int passes = 1;
};

// Thread-safe: generate() is const and keeps no state between calls.
//
// The program keeps M4 (dynamic power) on for the whole job and switches the beam with S0 / S<power>
// instead of M5 / M4 per stroke: in GRBL laser mode ($32=1) an S change is applied without emptying
// the planner, whereas every M4/M5 forces a buffer sync, stopping the head with the beam on the part
// and leaving burnt dots at stroke ends. Every travel between strokes carries S0 on its own line, so
// the beam is off even if that line were taken out of context. The program opens with the modal
// preamble (G21 G90 G17 G94) and "M4 S0"; "M5 S0" ends the burning, the head returns to X0 Y0, and M2
// ends the program.
class LaserTextGenerator {
public:
    // Throws mto::Error unless the profile is a laser with a positive work area and power range.
    explicit LaserTextGenerator(MachineProfile profile);

    // Strokes in machine mm. Points are rounded to 0.001 mm; strokes shorter than that are dropped.
    // Strokes are ordered greedily (nearest start or end next, reversing a stroke when its end is
    // nearer) and every further pass walks the order backwards, starting where the last pass ended.
    // The machine is assumed to start at X0 Y0. Fills everything but estimatedSeconds.
    // Throws mto::Error for a material outside the machine's limits, strokes outside its work area,
    // nothing to burn, or a G/M word the profile does not allow.
    JobArtifact generate(const std::vector<Polyline>& strokes, const LaserMaterial& material) const;

    const MachineProfile& profile() const { return profile_; }

private:
    MachineProfile profile_;
};

} // namespace mto
