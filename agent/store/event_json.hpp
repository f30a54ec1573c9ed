// SPDX-License-Identifier: Apache-2.0
// Topics and JSON payloads of milestone events (MQTT contract v1).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "mto/event.hpp"

namespace mto {

// mto/v1/<factory>/events/<order_id>, or .../events/_invalid when the input had no usable order id.
std::string eventTopic(const std::string& factory, const std::string& orderId);

std::string eventPayload(const Event& e, const std::string& factory, const boost::json::object& data);

std::string topicPrefix(const std::string& factory);

// JSON text like boost::json::serialize, except that doubles are written as plain decimals rounded to
// 0.001 (boost writes 151.0 as 1.51E2, which HQ's people and some clients read badly) and a
// non-finite double, which JSON cannot spell, as null.
std::string toPlainJson(const boost::json::value& v);

// A JSON string, byte for byte as boost::json::serialize writes it (only `"`, `\\` and control characters
// escaped), appended without the temporary json::string and std::string that serialize() would need.
// Stored orders are hashed over this text, so it must never drift from what Boost writes.
void appendJsonString(std::string& out, std::string_view s);
// A string, integer, boolean or null as boost::json::serialize writes it; doubles go to the caller's rule.
void appendJsonScalar(std::string& out, const boost::json::value& v);

} // namespace mto
