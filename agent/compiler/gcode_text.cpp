// SPDX-License-Identifier: Apache-2.0
// Number formatting shared by the G-code generators: locale-free, exact to the micrometre.
#include "compiler/gcode_text.hpp"

#include <charconv>
#include <system_error>

namespace mto::gcode {

std::string number(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    if (r.ec != std::errc()) r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

void appendMm(std::string& out, std::int64_t um) {
    if (um < 0) {
        out += '-';
        um = -um;
    }
    out += std::to_string(um / 1000);
    out += '.';
    const auto frac = static_cast<int>(um % 1000);
    out += static_cast<char>('0' + frac / 100);
    out += static_cast<char>('0' + frac / 10 % 10);
    out += static_cast<char>('0' + frac % 10);
}

} // namespace mto::gcode
