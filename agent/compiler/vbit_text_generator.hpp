// SPDX-License-Identifier: Apache-2.0
// Turns laid-out text strokes into a CNC V-bit engraving G-code job.
#pragma once

#include <vector>

#include "mto/job.hpp"

namespace mto {

struct VBitTool {
    double angleDeg = 60;      // included angle of the V
    double depth = 0;          // mm below the surface (Z0) at the bottom of the groove
    double stepDown = 0;       // mm, the most one depth pass removes
    double safeZ = 0;          // mm above the surface, clear of clamps, for every rapid XY move
    double plungeFeed = 0;     // mm/min
    double feed = 0;           // mm/min along the strokes
    double rpm = 0;
    // Dwell (G4) after M3: GRBL does not wait for the spindle, and plunging a still-slow V-bit snaps
    // its tip. 0 leaves the dwell out for machines whose profile does not allow G4.
    double spinUpSeconds = 2.0;
};

// Thread-safe: generate() is const and keeps no state between calls.
class VBitTextGenerator {
public:
    // Throws mto::Error unless the profile is a CNC with a positive work area.
    explicit VBitTextGenerator(MachineProfile profile);

    // Strokes in machine mm, surface at Z0. Each stroke is cut depth-first: plunge at its start, cut
    // along it, plunge further at its end and cut back, and so on through ceil(depth / stepDown) equal
    // steps, then retract to safeZ; the groove guides the deeper plunges, and the tool lifts once per
    // stroke instead of once per stroke and pass. Strokes are ordered greedily by the nearest entry
    // point. The machine is assumed to start at X0 Y0. Points and depths are rounded to 0.001 mm.
    // The program opens with the modal preamble (G21 G90 G17 G94) and ends with M5, G0 X0 Y0 and M2.
    // Fills everything but estimatedSeconds. Throws mto::Error for tool values outside the machine's
    // limits, strokes outside its envelope, nothing to cut, or a G/M word the profile does not allow.
    JobArtifact generate(const std::vector<Polyline>& strokes, const VBitTool& tool) const;

    // Width of the groove at the surface for a full-depth cut, to check that text stays legible.
    static double grooveWidth(const VBitTool& tool);

    const MachineProfile& profile() const { return profile_; }

private:
    MachineProfile profile_;
};

} // namespace mto
