// SPDX-License-Identifier: Apache-2.0
// Topics and JSON payloads of milestone events (MQTT contract v1).
#include "event_json.hpp"

#include <boost/json.hpp>

#include "clock.hpp"

namespace mto {

std::string topicPrefix(const std::string& factory) { return "mto/v1/" + factory; }

std::string eventTopic(const std::string& factory, const std::string& orderId) {
    return topicPrefix(factory) + "/events/" + (orderId.empty() ? std::string("_invalid") : orderId);
}

std::string eventPayload(const Event& e, const std::string& factory, const boost::json::object& data) {
    boost::json::object o;
    o["event_id"] = e.eventId;
    o["seq"] = e.seq;
    o["factory"] = factory;
    o["order_id"] = e.orderId.empty() ? boost::json::value(nullptr) : boost::json::value(e.orderId);
    o["item_id"] = e.itemId.empty() ? boost::json::value(nullptr) : boost::json::value(e.itemId);
    o["milestone"] = e.milestone;
    o["at"] = formatRfc3339Ms(e.atMs);
    o["data"] = data;
    return boost::json::serialize(o);
}

} // namespace mto
