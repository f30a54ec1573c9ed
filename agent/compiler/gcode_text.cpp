// SPDX-License-Identifier: Apache-2.0
// What the G-code generators share: locale-free number formatting and the checks of their machine profile.
#include "compiler/gcode_text.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

#include "mto/error.hpp"

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

bool positive(double v) {
    return std::isfinite(v) && v > 0;
}

void requireProfile(const MachineProfile& profile, std::string_view capability, std::string_view what) {
    if (profile.capability != capability) {
        throw Error("machine profile \"" + profile.name + "\" has capability \"" + profile.capability + "\"; " +
                    std::string(what) + " needs a profile with capability \"" + std::string(capability) + "\"");
    }
    if (!positive(profile.sizeX) || !positive(profile.sizeY) || profile.sizeX > kMaxSizeMm || profile.sizeY > kMaxSizeMm) {
        throw Error("machine profile \"" + profile.name + "\" needs a sizeX and sizeY (its work area) between 0 and " +
                    number(kMaxSizeMm) + " mm");
    }
}

} // namespace mto::gcode
