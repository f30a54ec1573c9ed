// SPDX-License-Identifier: Apache-2.0
// Number formatting shared by the G-code generators: locale-free, exact to the micrometre.
#pragma once

#include <cstdint>
#include <string>

namespace mto::gcode {

// Shortest plain decimal for program words (feeds, powers); the exponent form only when nothing else fits.
std::string number(double v);

// Appends micrometres as millimetres with exactly three decimals ("-12.345").
void appendMm(std::string& out, std::int64_t um);

} // namespace mto::gcode
