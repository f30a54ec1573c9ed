// SPDX-License-Identifier: Apache-2.0
// Event and status payloads: numbers HQ reads as plain decimals, never in exponent form or as non-JSON.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "util/clock.hpp"
#include "store/event_json.hpp"
#include "uplink/status_report.hpp"

namespace mto {
namespace {

namespace json = boost::json;

TEST(EventJson, DoublesAreWrittenAsPlainDecimalsRoundedToTheThousandth) {
    EXPECT_EQ(toPlainJson(json::value(151.0)), "151.0");
    EXPECT_EQ(toPlainJson(json::value(1889.8254791701515)), "1889.825");
    EXPECT_EQ(toPlainJson(json::value(0.04)), "0.04");
    EXPECT_EQ(toPlainJson(json::value(-12.5)), "-12.5");
    EXPECT_EQ(toPlainJson(json::value(1e-9)), "0.0");
    EXPECT_EQ(toPlainJson(json::value(-1e-9)), "0.0");
    EXPECT_EQ(toPlainJson(json::value(1e20)), "100000000000000000000.0");
}

TEST(EventJson, NonFiniteDoublesBecomeNullSoThePayloadStaysJson) {
    EXPECT_EQ(toPlainJson(json::value(std::numeric_limits<double>::infinity())), "null");
    EXPECT_EQ(toPlainJson(json::value(-std::numeric_limits<double>::infinity())), "null");
    EXPECT_EQ(toPlainJson(json::value(std::nan(""))), "null");
}

TEST(EventJson, EverythingButDoublesIsWrittenAsBoostWouldWriteIt) {
    json::value v = json::parse(R"({"s":"a\"b\u00e9\n","i":-3,"u":18446744073709551615,"b":true,"n":null,)"
                                R"("a":[1,{"k":[]}],"o":{}})");
    const std::string text = toPlainJson(v);
    EXPECT_EQ(json::parse(text), v);
    EXPECT_EQ(text, json::serialize(v));
}

TEST(EventJson, EventPayloadHasNoExponentInItsNumbers) {
    Event e;
    e.seq = 7;
    e.eventId = "e";
    e.orderId = "ORD-1";
    e.milestone = "accepted";
    const std::string payload =
        eventPayload(e, "f1", json::object{{"estimated_s", 151.0}, {"bbox_mm", json::array{0.5, 1234.5678, 1e-7}}});
    EXPECT_NE(payload.find(R"("estimated_s":151.0)"), std::string::npos) << payload;
    EXPECT_NE(payload.find(R"([0.5,1234.568,0.0])"), std::string::npos) << payload;
    EXPECT_EQ(payload.find("E"), std::string::npos) << payload;
}

TEST(StatusReport, QueuedHoursArePlainDecimalsAndADamagedEstimateDoesNotBreakTheMessage) {
    StatusInputs in;
    in.state = "online";
    in.factory = "f1";
    in.nowMs = 1795671000123;
    in.queuedWorkSeconds = {{"laser", 5443.2}, {"cnc", std::numeric_limits<double>::infinity()}};
    const std::string text = statusPayload(in);
    json::value v = json::parse(text);
    EXPECT_DOUBLE_EQ(v.at("queued_hours").at("laser").to_number<double>(), 1.51);
    EXPECT_NE(text.find(R"("laser":1.51)"), std::string::npos) << text;
    EXPECT_EQ(text.find("E"), std::string::npos) << text;
    EXPECT_EQ(text.find("Infinity"), std::string::npos) << text;
}

// Stored orders are hashed over text written with appendJsonString; it must stay what Boost writes.
TEST(EventJson, StringsAndScalarsAreWrittenByteForByteAsBoostWritesThem) {
    std::vector<std::string> samples{"", "plain", "a\"b\\c/d", "caf\u00e9 \u2605 \U0001F600", std::string("nul\0x", 5)};
    for (int c = 0; c < 256; ++c) samples.push_back(std::string("<") + static_cast<char>(c) + ">");
    for (const auto& s : samples) {
        std::string out = "x";
        appendJsonString(out, s);
        EXPECT_EQ(out, "x" + json::serialize(json::string(s))) << "byte string of size " << s.size();
    }
    for (const json::value& v : {json::value(nullptr), json::value(true), json::value(false), json::value(0),
                                 json::value(-9223372036854775807LL - 1), json::value(9223372036854775807LL),
                                 json::value(18446744073709551615ULL), json::value("s\n")}) {
        std::string out;
        appendJsonScalar(out, v);
        EXPECT_EQ(out, json::serialize(v));
    }
}

TEST(EventJson, EventPayloadIsTheContractObjectInItsFieldOrder) {
    Event e;
    e.seq = 42;
    e.eventId = "0f8c7d0e-3a1b-4c2d-9e8f-1a2b3c4d5e6f";
    e.orderId = "ORD-\"7\"";
    e.milestone = "received";
    e.atMs = 1764590400123;
    json::object data{{"revision", 2}, {"items", 1}, {"priority", "rush"}, {"duplicate", false}, {"x", 1.5}};
    json::object expected;
    expected["event_id"] = e.eventId;
    expected["seq"] = e.seq;
    expected["factory"] = "f1";
    expected["order_id"] = e.orderId;
    expected["item_id"] = nullptr;
    expected["milestone"] = e.milestone;
    expected["at"] = formatRfc3339Ms(e.atMs);
    expected["data"] = data;
    EXPECT_EQ(eventPayload(e, "f1", data), toPlainJson(expected));
    e.orderId.clear();
    e.itemId = "item-1";
    expected["order_id"] = nullptr;
    expected["item_id"] = "item-1";
    EXPECT_EQ(eventPayload(e, "f1", data), toPlainJson(expected));
}

} // namespace
} // namespace mto
