// SPDX-License-Identifier: Apache-2.0
// Checks a parsed G-code program against what one machine accepts, listing every violation found.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "compiler/gcode_program.hpp"
#include "mto/job.hpp"

namespace mto {

// reason is one of:
//   outside_envelope     a move ends outside 0..sizeX, 0..sizeY, minZ..maxZ
//   laser_on_travel      a G0 while the laser is on with power above 0 (capability laser)
//   command_not_allowed  a word (see GcodeProgram::words()) missing from the profile's allowedWords
//   feed_too_high        a G1/G2/G3 feed above the profile's maxFeed
//   feed_missing         a G1/G2/G3 before any F: GRBL refuses it mid-job, leaving a half-made part
//   no_moves             the program moves nothing (line 0)
//   modes_not_set        a GRBL program (capability laser or cnc) moves before it sets its units (G21)
//                        and distance mode (G90): it would run in whatever a previous program or the
//                        operator left (line of the first move)
//   program_end_missing  a GRBL program has no M2/M30 (line 0), or runs more lines after it (the last
//                        one): its end must reset the controller's modes and stop the tool
struct Violation {
    std::string reason;
    int line = 0;          // 1-based; 0 when the violation is about the whole program
    std::string message;   // for the operator: what is wrong and the limit it broke
};

// Thread-safe: holds only the profile.
class GcodeChecker {
public:
    // A broken program can break a rule on millions of lines; after maxPerReason lines of one reason
    // a last violation of that reason stands for the rest ("... and N more lines").
    // Throws mto::Error when the profile cannot be checked against (no envelope, no maxFeed).
    explicit GcodeChecker(MachineProfile profile, std::size_t maxPerReason = 100);

    // Every violation, ordered by line (no_moves first); empty when the program may run.
    std::vector<Violation> check(const GcodeProgram& program) const;

private:
    MachineProfile profile_;
    std::size_t maxPerReason_;
};

} // namespace mto
