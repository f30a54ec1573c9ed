// SPDX-License-Identifier: Apache-2.0
// A G-code program (GRBL and Marlin dialects) read into straight moves in machine millimetres.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mto {

// Millimetres, machine coordinates (see Point2 in mto/job.hpp).
struct Point3 {
    double x = 0;
    double y = 0;
    double z = 0;
};

// One straight motion; arcs arrive here already cut into chords.
struct Move {
    Point3 from, to;
    bool rapid = false;    // G0
    double feed = 0;       // mm/min in effect (0 when the program never set one)
    double power = 0;      // S in effect, in the machine's own units (GRBL $30 scale)
    bool toolOn = false;   // M3/M4 in effect and not cancelled by M5/M2/M30
    double e = 0;          // filament pushed during this move, mm (negative: retraction)
    int line = 0;          // 1-based source line
};

// A G4 pause, as written. GRBL reads P as seconds; Marlin reads P as milliseconds and S as seconds.
struct Dwell {
    std::size_t beforeMove = 0;   // index of the move that follows the pause (moves().size() at the end)
    double p = 0;                 // 0 when absent
    double s = 0;
    int line = 0;
};

struct GcodeParseError {
    int line = 0;          // 1-based; the line the reader stopped at
    std::string message;
};

struct GcodeParseLimits {
    std::size_t maxLines = 5'000'000;
    // Arcs multiply moves, and a move is ~100 bytes: this bounds memory at about 1 GB.
    std::size_t maxMoves = 10'000'000;
    // Largest gap between a flattened arc and the true circle; finer than any laser kerf or nozzle.
    double arcToleranceMm = 0.01;
};

// Immutable after parse(); safe to share read-only between threads.
//
// The model follows what the firmware would do, so the checker and estimator see the real tool path:
// - Positions start at the machine origin (0,0,0) with no work offset; G54..G59 offsets are unknown
//   here and taken as zero. G92 shifts the coordinates of later lines; G53 moves in machine coordinates.
// - G20 inches are converted on read (positions, arc centres, E and F); everything out is millimetres.
// - G90/G91 set XYZ and E together; M83/M82 make E relative/absolute on their own; E is relative when
//   either says so (Marlin's rule).
// - G28 is taken to bring the named axes (all if none) to machine 0 and clear their G92 shift, without
//   a move (true for Marlin homing to the front-left; a GRBL G28 goes to a stored position instead).
// - Parameters on a line with a command the model does not follow (M104 S200, M92 X80, G29, G4 P1 …)
//   belong to that command: they move nothing and change no feed or power. Such commands (G30, G38.x,
//   G5 …) therefore move nothing here either; a profile should allow only those that truly do not move.
// - M2/M30 (program end) reset what GRBL resets: G1, G17, G90 and the tool off (G94, G54, M9 are not
//   modelled). Units, feed and power are kept, as GRBL keeps them. The end takes no time of its own.
// - A letter without a number is a parse error except as such a command's flag ("G28 X", "M3 I").
//
// words() lists what the checker compares with a machine's allowedWords: every G, M and T code
// ("G1", "M106", "G38.2", "T0"; leading zeros dropped), GRBL system lines ("$H"), the state letters S,
// F and E when they set power, feed or extrusion, and any other letter left over (an "A" axis, a stray
// "P"). Geometry letters (X Y Z I J K R), line numbers and checksums are never listed: the envelope
// check covers them.
class GcodeProgram {
public:
    // Errors (malformed words, bad checksums, impossible arcs, limits) come back as a value: programs
    // come from files and a bad one is an expected outcome, not a fault.
    static std::variant<GcodeProgram, GcodeParseError> parse(std::string_view text, const GcodeParseLimits& limits = {});

    const std::vector<Move>& moves() const { return moves_; }
    // Word → every line it appears on, in order.
    const std::map<std::string, std::vector<int>>& words() const { return words_; }
    // Lines in the text; a final newline does not start another.
    std::uint64_t lineCount() const { return lineCount_; }
    // G4 pauses in program order; the machine stands still for each.
    const std::vector<Dwell>& dwells() const { return dwells_; }
    // The last line with any word on it (what the controller runs last); 0 for a program of only
    // comments and blank lines.
    int lastCommandLine() const { return lastCommandLine_; }

private:
    GcodeProgram(std::vector<Move> moves, std::map<std::string, std::vector<int>> words, std::uint64_t lineCount,
                 std::vector<Dwell> dwells, int lastCommandLine)
        : moves_(std::move(moves)), dwells_(std::move(dwells)), words_(std::move(words)), lineCount_(lineCount),
          lastCommandLine_(lastCommandLine) {}

    std::vector<Move> moves_;
    std::vector<Dwell> dwells_;
    std::map<std::string, std::vector<int>> words_;
    std::uint64_t lineCount_ = 0;
    int lastCommandLine_ = 0;
};

// Whether a move does the job (burns, cuts, extrudes) rather than travels, for a capability
// (laser | cnc | fdm): laser: a G1/G2/G3 with the beam on and power above 0; cnc: any feed move;
// fdm: a move that pushes filament. Unknown capabilities count feed moves with the tool on or extruding.
bool isWorkMove(const Move& move, std::string_view capability);

} // namespace mto
