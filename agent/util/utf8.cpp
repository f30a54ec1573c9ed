// SPDX-License-Identifier: Apache-2.0
// UTF-8 checks for untrusted input (RFC 3629 well-formedness).
#include "util/utf8.hpp"

namespace mto {

namespace {

// Length of the well-formed sequence at s[i], or 0 when it is not well-formed.
std::size_t sequenceLength(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;   // overlong
        if (c == 0xED) hi = 0x9F;   // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;   // overlong
        if (c == 0xF4) hi = 0x8F;   // above U+10FFFF
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return len;
}

} // namespace

std::size_t findInvalidUtf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = sequenceLength(s, i);
        if (n == 0) return i;
        i += n;
    }
    return std::string_view::npos;
}

std::string sanitizeUtf8(std::string_view s, std::size_t maxBytes) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = sequenceLength(s, i);
        std::string_view piece = n ? s.substr(i, n) : std::string_view("\xEF\xBF\xBD");
        if (out.size() + piece.size() > maxBytes) break;
        out.append(piece);
        i += n ? n : 1;
    }
    return out;
}

} // namespace mto
