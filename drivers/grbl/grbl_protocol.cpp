// SPDX-License-Identifier: Apache-2.0
// GRBL 1.1 host protocol: reading what the firmware sends, and lines as the firmware counts them.
#include "grbl/grbl_protocol.hpp"

#include <cctype>

namespace mto::grbl {

std::string wireForm(std::string_view programLine) {
    std::string out;
    out.reserve(programLine.size());
    int parenDepth = 0;
    for (char c : programLine) {
        if (c == ';' && parenDepth == 0) break;   // the rest of the line is a comment
        if (c == '(') {
            ++parenDepth;
            continue;
        }
        if (c == ')' && parenDepth > 0) {
            --parenDepth;
            continue;
        }
        if (parenDepth > 0 || c == '\r' || c == '\n') continue;
        if (std::isspace(static_cast<unsigned char>(c))) continue;
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    return out;
}

} // namespace mto::grbl
