// SPDX-License-Identifier: Apache-2.0
// Cuts the byte stream of a serial scanner or the line input into scans, one per line.
#include "scan/line_splitter.hpp"

namespace mto {

std::vector<std::string> LineSplitter::feed(std::string_view bytes) {
    std::vector<std::string> lines;
    for (char c : bytes) {
        if (c == '\r' || c == '\n') {
            if (!line_.empty()) lines.push_back(std::move(line_));
            line_.clear();
            continue;
        }
        if (line_.size() >= kMaxLine) continue;
        const auto u = static_cast<unsigned char>(c);
        line_.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return lines;
}

} // namespace mto
