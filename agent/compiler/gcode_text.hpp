// SPDX-License-Identifier: Apache-2.0
// What the G-code generators share: locale-free number formatting exact to the micrometre, the
// checks of the machine profile they write for, and the start and end every GRBL program has.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mto/job.hpp"

namespace mto::gcode {

// Shortest plain decimal for program words (feeds, powers); the exponent form only when nothing else fits.
std::string number(double v);

// Appends micrometres as millimetres with exactly three decimals ("-12.345").
void appendMm(std::string& out, std::int64_t um);

// Larger sizes are typos; the limit also keeps micrometre values far from integer overflow.
constexpr double kMaxSizeMm = 100'000;

// Finite and above 0.
bool positive(double v);

// Throws mto::Error unless the profile has the capability `capability` (what needs it: "laser text")
// and an envelope between 0 and kMaxSizeMm in X and Y.
void requireProfile(const MachineProfile& profile, std::string_view capability, std::string_view what);

// The first line of every GRBL program: the whole modal state the generators' moves rely on, so a
// program never runs in a mode a previous program or the operator left behind (inches, relative
// distances, another arc plane, inverse-time feed). Spindle and laser state are the generator's own
// next lines, set before anything cuts or burns.
inline constexpr std::string_view kGrblPreamble = "G21 G90 G17 G94";
// The last line: GRBL waits for the moves to finish, stops the spindle or laser and resets the modes
// of the next program (G1 G17 G90 G94 G54 M5 M9; units, F and S are kept, hence G21 in the preamble).
inline constexpr std::string_view kGrblProgramEnd = "M2";
// The words of those two lines, which a machine profile must allow.
inline constexpr std::array<std::string_view, 5> kGrblFrameWords = {"G17", "G21", "G90", "G94", "M2"};

// Throws mto::Error naming the first of `words`, and then of kGrblFrameWords, that the profile's
// allowedWords leave out (`what` needs it: "laser text"). An empty allowedWords allows everything.
void requireGrblWords(const MachineProfile& profile, const std::vector<std::string_view>& words, std::string_view what);

// The text of one GRBL program as a generator writes it, framed by kGrblPreamble and kGrblProgramEnd
// so no generator can leave either out. Not thread-safe; one per generate() call.
class GrblProgramText {
public:
    GrblProgramText();   // writes the preamble

    void line(std::string_view text);

    // Appends the program end; fills capability, format ("gcode-grbl"), program, sha256 and lines.
    JobArtifact finish(std::string_view capability) &&;

private:
    std::string text_;
    std::uint64_t lines_ = 0;
};

} // namespace mto::gcode
