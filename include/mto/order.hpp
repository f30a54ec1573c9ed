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

// What could be read from a payload that was rejected, so the rejection reaches the right topic.
struct PayloadProbe {
    std::string orderId;
    std::optional<std::int64_t> revision;
    std::string command;
    std::string commandId;
};

// All problems found in one payload; the first is the headline reason.
struct Rejections {
    std::vector<Rejection> list;
    PayloadProbe probe;
    const Rejection& first() const { return list.front(); }
};

// The names the MQTT contract and the store use for the model's enums.
inline const char* toString(Priority p) { return p == Priority::Rush ? "rush" : "standard"; }

inline const char* toString(CommandKind k) {
    switch (k) {
    case CommandKind::Cancel: return "cancel";
    case CommandKind::Hold: return "hold";
    case CommandKind::Resume: return "resume";
    case CommandKind::Change: return "change";
    case CommandKind::Resync: return "resync";
    }
    return "unknown";
}

} // namespace mto
