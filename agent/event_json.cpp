// SPDX-License-Identifier: Apache-2.0
// Topics and JSON payloads of milestone events (MQTT contract v1).
#include "event_json.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "clock.hpp"

namespace mto {

namespace {

// Millimetres to the micrometre and seconds well below the 0.1 s estimates are rounded to.
constexpr int kDecimals = 3;

void writePlainDouble(double d, std::string& out) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    char buf[400];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed, kDecimals);
    if (ec != std::errc{}) {
        out += "null";
        return;
    }
    std::string_view text(buf, static_cast<std::size_t>(end - buf));
    // Trailing zeros say nothing, but one decimal stays, so the number still reads as a float.
    while (text.size() > 2 && text.back() == '0' && text[text.size() - 2] != '.') text.remove_suffix(1);
    if (text == "-0.0") text = "0.0";
    out += text;
}

void writePlain(const boost::json::value& v, std::string& out) {
    if (const auto* obj = v.if_object()) {
        out.push_back('{');
        bool first = true;
        for (const auto& kv : *obj) {
            if (!first) out.push_back(',');
            first = false;
            out += boost::json::serialize(boost::json::string(kv.key()));
            out.push_back(':');
            writePlain(kv.value(), out);
        }
        out.push_back('}');
    } else if (const auto* arr = v.if_array()) {
        out.push_back('[');
        for (std::size_t i = 0; i < arr->size(); ++i) {
            if (i) out.push_back(',');
            writePlain((*arr)[i], out);
        }
        out.push_back(']');
    } else if (v.is_double()) {
        writePlainDouble(v.get_double(), out);
    } else {
        out += boost::json::serialize(v);
    }
}

} // namespace

std::string toPlainJson(const boost::json::value& v) {
    std::string out;
    writePlain(v, out);
    return out;
}

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
    return toPlainJson(o);
}

} // namespace mto
