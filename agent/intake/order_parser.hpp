// SPDX-License-Identifier: Apache-2.0
// Parses and validates untrusted order and command payloads from HQ.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "catalog.hpp"
#include "mto/order.hpp"

namespace mto {

struct ParseLimits {
    std::size_t maxPayloadBytes = 256 * 1024;
    std::size_t maxItems = 1000;
    std::size_t maxDepth = 16;
    std::size_t maxTextBytes = 1024;
    std::int64_t maxQty = 100000;
};

// Thread-safe: holds only its limits.
class OrderParser {
public:
    explicit OrderParser(ParseLimits limits) : limits_(limits) {}

    std::variant<Order, Rejections> parseOrder(std::string_view payload, const Catalog& catalog) const;
    std::variant<Command, Rejections> parseCommand(std::string_view payload, const Catalog& catalog) const;

    // A valid id: 1..64 characters of [A-Za-z0-9._:-] (they appear in MQTT topics and file names).
    static bool isValidId(std::string_view id);

private:
    ParseLimits limits_;
};

} // namespace mto
