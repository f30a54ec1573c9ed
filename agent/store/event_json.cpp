// SPDX-License-Identifier: Apache-2.0
// Topics and JSON payloads of milestone events (MQTT contract v1).
#include "store/event_json.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "util/clock.hpp"

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

void writePlain(const boost::json::value& v, std::string& out);

void writePlainObject(const boost::json::object& obj, std::string& out) {
    out.push_back('{');
    bool first = true;
    for (const auto& kv : obj) {
        if (!first) out.push_back(',');
        first = false;
        appendJsonString(out, kv.key());
        out.push_back(':');
        writePlain(kv.value(), out);
    }
    out.push_back('}');
}

void writePlain(const boost::json::value& v, std::string& out) {
    if (const auto* obj = v.if_object()) {
        writePlainObject(*obj, out);
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
        appendJsonScalar(out, v);
    }
}

template <typename Int>
void appendInteger(std::string& out, Int n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, static_cast<std::size_t>(end - buf));
}

} // namespace

void appendJsonString(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t plain = 0;   // start of the run not yet copied
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + plain, i - plain);
        plain = i + 1;
        out.push_back('\\');
        switch (c) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '\b': out.push_back('b'); break;
        case '\t': out.push_back('t'); break;
        case '\n': out.push_back('n'); break;
        case '\f': out.push_back('f'); break;
        case '\r': out.push_back('r'); break;
        default:
            out.append("u00", 3);
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    out.append(s.data() + plain, s.size() - plain);
    out.push_back('"');
}

void appendJsonScalar(std::string& out, const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::string: appendJsonString(out, v.get_string()); break;
    case boost::json::kind::int64: appendInteger(out, v.get_int64()); break;
    case boost::json::kind::uint64: appendInteger(out, v.get_uint64()); break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::null: out += "null"; break;
    default: out += boost::json::serialize(v); break;
    }
}

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
    // Written field by field in the contract's order rather than through a json::object, which would
    // copy `data` and allocate every key and value once more before the same text came out.
    std::string out;
    out.reserve(256);
    out += "{\"event_id\":";
    appendJsonString(out, e.eventId);
    out += ",\"seq\":";
    appendInteger(out, e.seq);
    out += ",\"factory\":";
    appendJsonString(out, factory);
    out += ",\"order_id\":";
    if (e.orderId.empty())
        out += "null";
    else
        appendJsonString(out, e.orderId);
    out += ",\"item_id\":";
    if (e.itemId.empty())
        out += "null";
    else
        appendJsonString(out, e.itemId);
    out += ",\"milestone\":";
    appendJsonString(out, e.milestone);
    out += ",\"at\":";
    appendJsonString(out, formatRfc3339Ms(e.atMs));
    out += ",\"data\":";
    writePlainObject(data, out);
    out.push_back('}');
    return out;
}

} // namespace mto
