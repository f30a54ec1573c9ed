// SPDX-License-Identifier: Apache-2.0
// Cuts the byte stream of a serial scanner or the line input into scans, one per line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mto {

// Thread-bound. A line ends at CR or LF (CR LF counts once: the empty line between is dropped). Bytes
// that are not printable ASCII become '?', so what is stored and sent to HQ is always valid text; a line
// longer than kMaxLine is cut there and the rest of it dropped.
class LineSplitter {
public:
    static constexpr std::size_t kMaxLine = 512;
    std::vector<std::string> feed(std::string_view bytes);
    void reset() { line_.clear(); }

private:
    std::string line_;
};

} // namespace mto
