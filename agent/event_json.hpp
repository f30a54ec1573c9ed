// SPDX-License-Identifier: Apache-2.0
// Topics and JSON payloads of milestone events (MQTT contract v1).
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "mto/event.hpp"

namespace mto {

// mto/v1/<factory>/events/<order_id>, or .../events/_invalid when the input had no usable order id.
std::string eventTopic(const std::string& factory, const std::string& orderId);

std::string eventPayload(const Event& e, const std::string& factory, const boost::json::object& data);

std::string topicPrefix(const std::string& factory);

} // namespace mto
