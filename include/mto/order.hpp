// SPDX-License-Identifier: Apache-2.0
// The order model that HQ sends and the agent stores (MQTT contract v1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mto {

enum class Priority { Standard, Rush };

struct Item {
    std::string itemId;
    std::string sku;
    std::int64_t qty = 0;
    std::string personalizationJson;   // the item's personalization object, serialized
};

struct Order {
    std::string orderId;
    std::int64_t revision = 1;
    Priority priority = Priority::Standard;
    std::string dueBy;                 // RFC 3339, empty when HQ gave none
    std::vector<Item> items;
    std::string contentHash;           // sha256 of the canonical JSON: same hash = same content
    std::string canonicalJson;
};

enum class CommandKind { Cancel, Hold, Resume, Change, Resync };

struct Command {
    CommandKind kind = CommandKind::Cancel;
    std::string commandId;
    std::string orderId;               // empty for a resync of all open orders
    std::string reason;
    std::optional<Order> order;        // the new revision, for Change
};

// Why an input was refused: a machine-readable reason, the JSON path at fault and a sentence for people.
struct Rejection {
    std::string reason;
    std::string path;
    std::string message;
};

const char* toString(Priority p);
const char* toString(CommandKind k);

} // namespace mto
