// SPDX-License-Identifier: Apache-2.0
// UTF-8 checks for untrusted input.
#pragma once

#include <string>
#include <string_view>

namespace mto {

// Offset of the first byte that is not well-formed UTF-8 (overlongs and surrogates included), or npos.
std::size_t findInvalidUtf8(std::string_view s);

// A copy safe to store and log: invalid bytes become U+FFFD, the result cut to at most maxBytes.
std::string sanitizeUtf8(std::string_view s, std::size_t maxBytes);

} // namespace mto
