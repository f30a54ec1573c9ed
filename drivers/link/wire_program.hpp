// SPDX-License-Identifier: Apache-2.0
// A program as a serial driver puts it on the wire: its non-empty lines in the firmware's wire form, each with
// its line number in the program (for progress, faults and resuming from a known line).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace mto::link {

struct WireProgram {
    std::vector<std::string> lines;
    std::vector<std::uint64_t> sourceLine;   // 1-based
};

// `wireForm` turns one program line into what the firmware is sent ("" for a line that sends nothing).
template <class WireForm>
WireProgram wireProgram(std::string_view text, WireForm&& wireForm) {
    WireProgram w;
    std::size_t start = 0;
    std::uint64_t lineNo = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        ++lineNo;
        auto wire = wireForm(text.substr(start, end - start));
        if (!wire.empty()) {
            w.lines.push_back(std::move(wire));
            w.sourceLine.push_back(lineNo);
        }
        start = end + 1;
    }
    return w;
}

// A number as a person reads it in a refusal ("400", "0.25").
inline std::string plainNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

} // namespace mto::link
