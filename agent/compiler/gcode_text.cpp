// SPDX-License-Identifier: Apache-2.0
// What the G-code generators share: locale-free number formatting, the checks of their machine profile
// and the frame of a GRBL program.
#include "compiler/gcode_text.hpp"

#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

#include "mto/error.hpp"
#include "util/sha256.hpp"

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

void requireGrblWords(const MachineProfile& profile, const std::vector<std::string_view>& words, std::string_view what) {
    if (profile.allowedWords.empty()) return;
    std::vector<std::string_view> all = words;
    all.insert(all.end(), kGrblFrameWords.begin(), kGrblFrameWords.end());
    std::string list;
    for (std::string_view w : all) list += (list.empty() ? "" : " ") + std::string(w);
    for (std::string_view w : all) {
        if (!profile.allowedWords.contains(std::string(w))) {
            throw Error("machine profile \"" + profile.name + "\" does not allow " + std::string(w) + ", which " +
                        std::string(what) + " needs (" + list + "); add it to allowedWords");
        }
    }
}

GrblProgramText::GrblProgramText() { line(kGrblPreamble); }

void GrblProgramText::line(std::string_view text) {
    text_ += text;
    text_ += '\n';
    ++lines_;
}

JobArtifact GrblProgramText::finish(std::string_view capability) && {
    line(kGrblProgramEnd);
    JobArtifact a;
    a.capability = std::string(capability);
    a.format = "gcode-grbl";
    a.sha256 = sha256Hex(text_);
    a.program = std::move(text_);
    a.lines = lines_;
    return a;
}

} // namespace mto::gcode
