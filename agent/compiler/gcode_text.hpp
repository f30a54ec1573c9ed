// SPDX-License-Identifier: Apache-2.0
// What the G-code generators share: locale-free number formatting exact to the micrometre, and the
// checks of the machine profile they write for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

} // namespace mto::gcode
